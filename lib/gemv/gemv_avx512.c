// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * GEMV kernels, AVX-512 (F+BW+VL) variant, f32 activations.
 *
 * Per 64 weights of a row: each of the k plane words becomes a mask
 * register and a masked byte add puts its bit into the 64 codes of a zmm
 * (k operations: the decode cost falls with k).  Each 16 codes then give
 * 16 float levels -- the signed top-aligned code itself for the linear
 * reconstructions, a vpermps lookup of the tile's table otherwise (chains
 * of two-source permutes for k = 5..7) -- times the group scale: exactly
 * the binary32 weights of an F32 fetch, in a register, multiplied into
 * one accumulator per vector.  Groups must be a multiple of 16 columns
 * (a 16-lane slice never straddles two scales); others go to the
 * portable kernel.
 */
#include <errno.h>
#include <immintrin.h>

#include "gemv_priv.h"

/* Levels of 16 codes (bytes of @b) as floats. */
static inline __attribute__((always_inline)) __m512
levels16(__m128i b, const struct gemv_view *v, const __m512 *T, __m512 mid)
{
	__m512i idx;
	__m512 lo, hi, lo2, hi2;
	__mmask16 m5, m6;

	if (v->linear)
		return _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), mid);
	idx = _mm512_cvtepu8_epi32(b);
	if (v->k <= 4)
		return _mm512_permutexvar_ps(idx, T[0]);
	lo = _mm512_permutex2var_ps(T[0], idx, T[1]);
	if (v->k == 5)
		return lo;
	m5 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(32));
	hi = _mm512_permutex2var_ps(T[2], idx, T[3]);
	lo = _mm512_mask_blend_ps(m5, lo, hi);
	if (v->k == 6)
		return lo;
	lo2 = _mm512_permutex2var_ps(T[4], idx, T[5]);
	hi2 = _mm512_permutex2var_ps(T[6], idx, T[7]);
	hi = _mm512_mask_blend_ps(m5, lo2, hi2);
	m6 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(64));
	return _mm512_mask_blend_ps(m6, lo, hi);
}

static inline __attribute__((always_inline)) void
rows_f32(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
	 const struct gemv_args *a, const unsigned int nv)
{
	const uint32_t cols = v->cols, gs16 = v->group_size / 16, k = v->k;
	__m512 T[8], mid = _mm512_set1_ps((float)v->mid);
	__m512i wt[8];
	uint32_t r, p, vec, i;

	for (i = 0; i < 8; i++)
		T[i] = _mm512_loadu_ps(v->lvf + 16 * i);
	for (p = 0; p < k; p++)
		wt[p] = _mm512_set1_epi8((char)(v->linear ? 0x80 >> p : 1 << (k - 1 - p)));

	for (r = 0; r < n_rows; r++) {
		uint64_t e0 = (uint64_t)(row0 + r) * cols;
		const uint8_t *sc = v->scales + (size_t)(row0 + r) * v->gpr * 2;
		__m512 acc[GEMV_MAX_VEC], s = _mm512_setzero_ps();
		uint32_t c, left = 0;	/* 16-column slices left in the group */

		for (vec = 0; vec < nv; vec++)
			acc[vec] = _mm512_setzero_ps();
		for (c = 0; c < cols; c += 64) {
			__m512i u = _mm512_setzero_si512();
			uint32_t n = cols - c < 64 ? cols - c : 64, j;
			__m128i q[4];

			for (p = 0; p < k; p++) {
				uint64_t w = gemv_bits64(v->planes + p * v->stride,
							 v->valid, e0 + c);

				u = _mm512_mask_add_epi8(u, _cvtu64_mask64(w), u, wt[p]);
			}
			q[0] = _mm512_extracti32x4_epi32(u, 0);
			q[1] = _mm512_extracti32x4_epi32(u, 1);
			q[2] = _mm512_extracti32x4_epi32(u, 2);
			q[3] = _mm512_extracti32x4_epi32(u, 3);
			for (j = 0; j * 16 < n; j++) {
				uint32_t col = c + 16 * j, cnt = n - 16 * j;
				__mmask16 m = cnt >= 16 ? 0xffff : (__mmask16)((1u << cnt) - 1);
				__m512 w;

				if (!left) {
					s = _mm512_set1_ps(gemv_fp16_to_float(sc));
					sc += 2;
					left = gs16;
				}
				left--;
				w = _mm512_mul_ps(levels16(q[j], v, T, mid), s);
				for (vec = 0; vec < nv; vec++)
					acc[vec] = _mm512_fmadd_ps(w,
						_mm512_maskz_loadu_ps(m, a->x + vec * a->ldx + col),
						acc[vec]);
			}
		}
		for (vec = 0; vec < nv; vec++)
			a->y[vec * a->ldy + r] = _mm512_reduce_add_ps(acc[vec]);
	}
}

static int int8_f32(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
		    const struct gemv_args *a)
{
	/* Slices start at a row's start; a short last group of a row is fine. */
	if (v->group_size % 16 || v->k > 8)
		return -EOPNOTSUPP;
	/* One vector: accumulators in registers. */
	if (a->n_vec == 1)
		rows_f32(v, row0, n_rows, a, 1);
	else
		rows_f32(v, row0, n_rows, a, a->n_vec);
	return 0;
}

static const struct gemv_kernels kern = {
	.name = "avx512",
	.int8_f32 = int8_f32,
};

const struct gemv_kernels *cxlms_gemv_kernels_avx512(void)
{
	return &kern;
}
