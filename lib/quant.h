/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Import-time number conversion: source elements (f32/f16/bf16/i8, any
 * alignment, little-endian) to the stored formats.  Floating point is used
 * here, in the library, never in codec/.
 */
#ifndef LIBCXLMS_QUANT_H
#define LIBCXLMS_QUANT_H

#include <stdint.h>

/* Bytes per element of a CXLMS_DTYPE_*, 0 if unknown. */
unsigned int cxlms_dtype_size(unsigned int dtype);

/* binary64 -> binary16, round to nearest even; NaN stays NaN. */
uint16_t cxlms_f64_to_fp16(double v);
/* binary32 bits -> binary16, round to nearest even; NaN stays (quiet) NaN. */
uint16_t cxlms_f32_bits_to_fp16(uint32_t f);

/*
 * INT8: quantize @rows x @cols elements of @src (row-major, dtype @dtype)
 * with symmetric per-group scales, groups of @group along each row:
 * @codes gets rows * cols codes, @scales rows * ceil(cols / group) fp16
 * scales.  Float input: s = fp16(amax / 127), q = clamp(rne(x / s), +-127);
 * an all-zero group gets scale 0; i8 input keeps its codes with scale 1.0.
 * Returns 0, -EINVAL for a NaN/Inf element, -ERANGE for a group whose scale
 * overflows fp16; *@bad is then the offending element's index in @src.
 */
int cxlms_quant_int8(const void *src, unsigned int dtype, uint64_t rows,
		     uint64_t cols, unsigned int group, int8_t *codes,
		     uint16_t *scales, uint64_t *bad);

/*
 * BF16/FP16 (@fmt CXLMS_FMT_*): convert @n elements with round to nearest
 * even; Inf and NaN stay what they are.  Returns 0, or -ERANGE when a
 * finite element overflows the format (*@bad is its index).
 */
int cxlms_convert_16(const void *src, unsigned int dtype, unsigned int fmt,
		     uint64_t n, uint16_t *dst, uint64_t *bad);

#endif /* LIBCXLMS_QUANT_H */
