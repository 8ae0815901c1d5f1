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

/* Levels of 16 codes (bytes of @b) as floats; @lin, @k are constants. */
static inline __attribute__((always_inline)) __m512
levels16(__m128i b, const int lin, const uint32_t k, const __m512 *T, __m512 mid)
{
	__m512i idx;
	__m512 lo, hi, lo2, hi2;
	__mmask16 m5, m6;

	if (lin)
		return _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), mid);
	idx = _mm512_cvtepu8_epi32(b);
	if (k <= 4)
		return _mm512_permutexvar_ps(idx, T[0]);
	lo = _mm512_permutex2var_ps(T[0], idx, T[1]);
	if (k == 5)
		return lo;
	m5 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(32));
	hi = _mm512_permutex2var_ps(T[2], idx, T[3]);
	lo = _mm512_mask_blend_ps(m5, lo, hi);
	if (k == 6)
		return lo;
	lo2 = _mm512_permutex2var_ps(T[4], idx, T[5]);
	hi2 = _mm512_permutex2var_ps(T[6], idx, T[7]);
	hi = _mm512_mask_blend_ps(m5, lo2, hi2);
	m6 = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(64));
	return _mm512_mask_blend_ps(m6, lo, hi);
}

static inline float scale_at(const uint8_t *p)
{
	return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8)));
}

/*
 * One 16-column slice: weights = levels x group scale, then one FMA per
 * vector.  @m masks columns past the row's end (their x reads as 0).
 */
#define SLICE(J, M)							\
	do {								\
		__m512 w_;						\
		if (!left) {						\
			s = _mm512_set1_ps(scale_at(sc));		\
			sc += 2;					\
			left = gs16;					\
		}							\
		left--;							\
		w_ = _mm512_mul_ps(levels16(_mm512_extracti32x4_epi32(u, J), \
					    lin, kk, T, mid), s);	\
		for (vec = 0; vec < nv; vec++)				\
			acc[(J) * nv + vec] = _mm512_fmadd_ps(w_,	\
				_mm512_maskz_loadu_ps(M, a->x + vec * a->ldx + c + 16 * (J)), \
				acc[(J) * nv + vec]);			\
	} while (0)

static inline __attribute__((always_inline)) void
rows_f32(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
	 const struct gemv_args *a, const unsigned int nv, const int lin,
	 const uint32_t kk)
{
	const uint32_t cols = v->cols, gs16 = v->group_size / 16, k = v->k;
	__m512 T[8], mid = _mm512_set1_ps((float)v->mid);
	__m512i wt[8];
	uint32_t r, p, vec, i;

	for (i = 0; i < 8; i++)
		T[i] = _mm512_loadu_ps(v->lvf + 16 * i);
	for (p = 0; p < k; p++)
		wt[p] = _mm512_set1_epi8((char)(lin ? 0x80 >> p : 1 << (k - 1 - p)));

	for (r = 0; r < n_rows; r++) {
		uint64_t e0 = (uint64_t)(row0 + r) * cols;
		const uint8_t *sc = v->scales + (size_t)(row0 + r) * v->gpr * 2;
		/* One accumulator per slice and vector: four FMA chains per vector. */
		__m512 acc[4 * nv], s = _mm512_setzero_ps();	/* nv = 1: registers */
		uint32_t c, left = 0;	/* 16-column slices left in the group */

		for (vec = 0; vec < 4 * nv; vec++)
			acc[vec] = _mm512_setzero_ps();
		for (c = 0; c < cols; c += 64) {
			__m512i u = _mm512_setzero_si512();
			uint32_t n = cols - c < 64 ? cols - c : 64;

			for (p = 0; p < k; p++) {
				uint64_t w = gemv_bits64(v->planes + p * v->stride,
							 v->valid, e0 + c);

				u = _mm512_mask_add_epi8(u, _cvtu64_mask64(w), u, wt[p]);
			}
			if (n == 64) {
				SLICE(0, 0xffff);
				SLICE(1, 0xffff);
				SLICE(2, 0xffff);
				SLICE(3, 0xffff);
				continue;
			}
			/* The row's last, partial chunk. */
#define TAIL(J)	(n > 16 * (J) + 15 ? (__mmask16)0xffff : (__mmask16)((1u << (n - 16 * (J))) - 1))
			SLICE(0, TAIL(0));
			if (n > 16)
				SLICE(1, TAIL(1));
			if (n > 32)
				SLICE(2, TAIL(2));
			if (n > 48)
				SLICE(3, TAIL(3));
#undef TAIL
		}
		for (vec = 0; vec < nv; vec++)
			a->y[vec * a->ldy + r] = _mm512_reduce_add_ps(
				_mm512_add_ps(_mm512_add_ps(acc[vec], acc[nv + vec]),
					      _mm512_add_ps(acc[2 * nv + vec], acc[3 * nv + vec])));
	}
}

/* One instance per (vectors 1 or n, linear or the table's k range). */
#define INSTANCES(NV)							\
	do {								\
		if (v->linear)						\
			rows_f32(v, row0, n_rows, a, NV, 1, 8);		\
		else if (v->k <= 4)					\
			rows_f32(v, row0, n_rows, a, NV, 0, 4);		\
		else if (v->k == 5)					\
			rows_f32(v, row0, n_rows, a, NV, 0, 5);		\
		else if (v->k == 6)					\
			rows_f32(v, row0, n_rows, a, NV, 0, 6);		\
		else							\
			rows_f32(v, row0, n_rows, a, NV, 0, 7);		\
	} while (0)

static int int8_f32(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
		    const struct gemv_args *a)
{
	/* Slices start at a row's start; a short last group of a row is fine. */
	if (v->group_size % 16 || v->k > 8)
		return -EOPNOTSUPP;
	/* One vector: the accumulator lives in a register. */
	if (a->n_vec == 1)
		INSTANCES(1);
	else
		INSTANCES(a->n_vec);
	return 0;
}

/* --- Q8 activations -------------------------------------------------- */

/* s16 levels of 32 codes (bytes of @b): code units (linear) or Q8.8. */
static inline __attribute__((always_inline)) __m512i
levels32(__m256i b, const int lin, const uint32_t kk, const __m512i *W, __m512i mid)
{
	__m512i idx, lo, hi;

	if (lin)
		return _mm512_add_epi16(_mm512_cvtepi8_epi16(b), mid);
	idx = _mm512_cvtepu8_epi16(b);
	if (kk <= 5)
		return _mm512_permutexvar_epi16(idx, W[0]);
	lo = _mm512_permutex2var_epi16(W[0], idx, W[1]);
	if (kk == 6)
		return lo;
	hi = _mm512_permutex2var_epi16(W[2], idx, W[3]);
	return _mm512_mask_blend_epi16(_mm512_test_epi16_mask(idx, _mm512_set1_epi16(64)),
				       lo, hi);
}

/* 32 columns: integer dot of levels and int8 codes, then one FMA by step x scale. */
#define QSLICE(J)							\
	do {								\
		__m512i l_;						\
		uint32_t b_ = (c >> 5) + (J);				\
		if (!left) {						\
			s = scale_at(sc) * unit;			\
			sc += 2;					\
			left = gs32;					\
		}							\
		left--;							\
		l_ = levels32(_mm512_extracti64x4_epi64(u, J), lin, kk, W, mid); \
		for (vec = 0; vec < nv; vec++) {			\
			__m512i d_ = _mm512_madd_epi16(l_, _mm512_loadu_si512( \
				a->xq + vec * a->ldq + c + 32 * (J)));	\
			acc[(J) * nv + vec] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d_), \
				_mm512_set1_ps(a->dx[vec * nb + b_] * s),	\
				acc[(J) * nv + vec]);			\
		}							\
	} while (0)

static inline __attribute__((always_inline)) void
rows_q8(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
	const struct gemv_args *a, const unsigned int nv, const int lin,
	const uint32_t kk)
{
	const uint32_t cols = v->cols, gs32 = v->group_size / 32, k = v->k;
	const size_t nb = a->ldq / GEMV_Q8_BLOCK;
	/* Linear levels are in code units, table levels in Q8.8. */
	const float unit = lin ? 1.0f : 1.0f / 256.0f;
	__m512i W[4], wt[8], mid = _mm512_set1_epi16((short)v->mid);
	uint32_t r, p, vec, i;

	for (i = 0; i < 4; i++)
		W[i] = _mm512_loadu_si512(v->lvq + 32 * i);
	for (p = 0; p < k; p++)
		wt[p] = _mm512_set1_epi8((char)(lin ? 0x80 >> p : 1 << (k - 1 - p)));

	for (r = 0; r < n_rows; r++) {
		uint64_t e0 = (uint64_t)(row0 + r) * cols;
		const uint8_t *sc = v->scales + (size_t)(row0 + r) * v->gpr * 2;
		__m512 acc[2 * nv];
		float s = 0;
		uint32_t c, left = 0;	/* 32-column slices left in the group */

		for (vec = 0; vec < 2 * nv; vec++)
			acc[vec] = _mm512_setzero_ps();
		for (c = 0; c < cols; c += 64) {
			__m512i u = _mm512_setzero_si512();

			for (p = 0; p < k; p++) {
				uint64_t w = gemv_bits64(v->planes + p * v->stride,
							 v->valid, e0 + c);

				u = _mm512_mask_add_epi8(u, _cvtu64_mask64(w), u, wt[p]);
			}
			/* Codes past cols meet zero activations (xq is padded). */
			QSLICE(0);
			if (cols - c > 32)
				QSLICE(1);
		}
		for (vec = 0; vec < nv; vec++)
			a->y[vec * a->ldy + r] = _mm512_reduce_add_ps(
				_mm512_add_ps(acc[vec], acc[nv + vec]));
	}
}

#define QINSTANCES(NV)							\
	do {								\
		if (v->linear)						\
			rows_q8(v, row0, n_rows, a, NV, 1, 8);		\
		else if (v->k <= 5)					\
			rows_q8(v, row0, n_rows, a, NV, 0, 5);		\
		else if (v->k == 6)					\
			rows_q8(v, row0, n_rows, a, NV, 0, 6);		\
		else							\
			rows_q8(v, row0, n_rows, a, NV, 0, 7);		\
	} while (0)

static int int8_q8(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
		   const struct gemv_args *a)
{
	/* A 32-column activation block must lie in one scale group. */
	if (v->group_size % GEMV_Q8_BLOCK || v->k > 8)
		return -EOPNOTSUPP;
	if (a->n_vec == 1)
		QINSTANCES(1);
	else
		QINSTANCES(a->n_vec);
	return 0;
}

static const struct gemv_kernels kern = {
	.name = "avx512",
	.int8_f32 = int8_f32,
	.int8_q8 = int8_q8,
};

const struct gemv_kernels *cxlms_gemv_kernels_avx512(void)
{
	return &kern;
}
