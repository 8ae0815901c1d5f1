// SPDX-License-Identifier: LGPL-2.1-or-later
/* GEMV kernels, avx2 variant (placeholder: the portable kernels run). */
#include "gemv_priv.h"

static const struct gemv_kernels kern = { .name = "avx2" };

const struct gemv_kernels *cxlms_gemv_kernels_avx2(void)
{
	return &kern;
}
