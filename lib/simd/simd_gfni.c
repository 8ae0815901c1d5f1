// SPDX-License-Identifier: LGPL-2.1-or-later
/* AVX-512 BW+VBMI+GFNI kernels: gf2p8affineqb 8x8 bit transposes, vpermb shuffles. */
#define X512_GFNI 1
#include "simd_x512.h"

const struct simd_ops *cxlms_simd_ops_gfni(void)
{
	return &ops_gfni;
}
