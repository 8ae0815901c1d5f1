/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fused GEMV/GEMM kernels over bit-planes (internal to libcxlms).
 *
 * A kernel gets one tile as a struct gemv_view (where the k planes, the
 * group scales and the 2^k levels are: in the mapped store or in a
 * PLANES fetch buffer) and a range of the tile's rows, and adds nothing
 * to memory but y: codes are decoded in registers and never stored.
 * The portable kernels in gemv.c are the reference; a SIMD kernel may
 * decline a view it does not handle (-EOPNOTSUPP) and the portable one
 * runs instead, so every request has an answer.
 */
#ifndef CXLMS_GEMV_PRIV_H
#define CXLMS_GEMV_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "bitplane.h"

/* Activations are quantized per this many columns in the Q8 mode. */
#define GEMV_Q8_BLOCK	32
/* Q8 vectors are padded to whole 64-byte loads (zero codes past cols). */
#define GEMV_Q8_LD	64
#define GEMV_MAX_VEC	16

/**
 * struct gemv_view - one tile as a kernel reads it
 * @planes: plane 0 (MSB); plane p at @planes + p * @stride
 * @valid: readable bytes of each plane (ceil(tile elements / 8)); bytes
 *	past it are never read (a short tile may end a mapping)
 * @scales: little-endian fp16 group scales, @gpr per row (INT8)
 * @fmt, @cols, @group_size, @gpr: the tensor's geometry
 * @k: planes used; @recon: resolved CXLMS_RECON_*
 * @linear: INT8 level = top-aligned code (s8) + @mid (floor, midpoint,
 *	and every recon at k = 8): kernels may skip the table
 * @lvf: level / 256 as float per k-bit pattern (exact), @lvq: Q8.8 s16
 */
struct gemv_view {
	const uint8_t *planes;
	size_t stride;
	size_t valid;
	const uint8_t *scales;
	uint32_t fmt, cols, group_size, gpr;
	uint32_t k, recon;
	int linear, mid;
	float lvf[256];
	int16_t lvq[256];
};

/**
 * struct gemv_args - the vectors of one call
 * @n_vec: 1..GEMV_MAX_VEC
 * @x, @ldx: activations, vector v at @x + v * @ldx, cols floats each
 * @y, @ldy: outputs; row i (of this kernel call) of vector v at
 *	@y[v * @ldy + i]; kernels store, never accumulate
 * @xq, @ldq, @dx: Q8 mode: int16 codes (|q| <= 127, zero past cols,
 *	@ldq entries per vector, a multiple of GEMV_Q8_LD) and one float
 *	step per block of GEMV_Q8_BLOCK columns (@ldq / 32 per vector)
 * @xq8, @dxl, @xcorr: the same codes as int8 (@ldq per vector), the step
 *	of each 4-column lane (@ldq / 4 per vector, 0 past cols), and per
 *	vector and scale group (@gpr per vector) sum of step x code over
 *	the group's columns: what the u8 x s8 dot kernels (VNNI) subtract
 *	after adding 128 to every level to make it unsigned
 */
struct gemv_args {
	unsigned int n_vec;
	const float *x;
	size_t ldx;
	float *y;
	size_t ldy;
	const int16_t *xq;
	size_t ldq;
	const float *dx;
	const int8_t *xq8;
	const float *dxl;
	const float *xcorr;
	uint32_t gpr;
};

typedef int (*gemv_kernel_fn)(const struct gemv_view *v, uint32_t row0,
			      uint32_t n_rows, const struct gemv_args *a);

struct gemv_kernels {
	const char *name;
	gemv_kernel_fn int8_f32;	/* NULL or -EOPNOTSUPP: portable */
	gemv_kernel_fn int8_q8;
};

/* The portable reference kernels (gemv.c). */
int cxlms_gemv_ref_int8_f32(const struct gemv_view *v, uint32_t row0,
			    uint32_t n_rows, const struct gemv_args *a);
int cxlms_gemv_ref_int8_q8(const struct gemv_view *v, uint32_t row0,
			   uint32_t n_rows, const struct gemv_args *a);
int cxlms_gemv_ref_16(const struct gemv_view *v, uint32_t row0,
		      uint32_t n_rows, const struct gemv_args *a);

/* 64 bits of a plane from bit @bit on, reading only bytes below @valid. */
static inline uint64_t gemv_bits64(const uint8_t *plane, size_t valid,
				   uint64_t bit)
{
	size_t byte = bit >> 3;
	unsigned int sh = bit & 7;
	uint64_t w = 0;

	if (byte + 9 <= valid) {
		__builtin_memcpy(&w, plane + byte, 8);
		if (sh)
			w = (w >> sh) | ((uint64_t)plane[byte + 8] << (64 - sh));
		return w;
	}
	{
		uint8_t b[9] = { 0 };
		size_t i;

		for (i = 0; i < 9 && byte + i < valid; i++)
			b[i] = plane[byte + i];
		__builtin_memcpy(&w, b, 8);
		if (sh)
			w = (w >> sh) | ((uint64_t)b[8] << (64 - sh));
		return w;
	}
}

static inline float gemv_fp16_to_float(const uint8_t *p)
{
	uint32_t f = cxlms_fp16_to_f32_bits((uint16_t)(p[0] | (p[1] << 8)));
	float r;

	__builtin_memcpy(&r, &f, 4);
	return r;
}

/* x86-64 variants (built there only, entered only if the CPU has them). */
const struct gemv_kernels *cxlms_gemv_kernels_avx2(void);
const struct gemv_kernels *cxlms_gemv_kernels_avx512(void);
const struct gemv_kernels *cxlms_gemv_kernels_vnni(void);

#endif /* CXLMS_GEMV_PRIV_H */
