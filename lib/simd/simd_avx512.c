// SPDX-License-Identifier: LGPL-2.1-or-later
/* AVX-512 F+BW+VL kernels: plane bits through mask registers (vpmovb2m, kmov). */
#define X512_GFNI 0
#include "simd_x512.h"

const struct simd_ops *cxlms_simd_ops_avx512(void)
{
	return &ops_avx512;
}
