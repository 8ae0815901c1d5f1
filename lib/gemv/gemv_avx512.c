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
 * For k <= 5 the (one or two) table registers are multiplied by the scale
 * once per group instead: the same single rounding, so the same weights.
 */
#define SLICE(J, M)							\
	do {								\
		__m512 w_;						\
		if (!left) {						\
			s = _mm512_set1_ps(scale_at(sc));		\
			sc += 2;					\
			left = gs16;					\
			if (fold) {					\
				TS[0] = _mm512_mul_ps(T[0], s);		\
				TS[1] = _mm512_mul_ps(T[1], s);		\
			}						\
		}							\
		left--;							\
		if (fold)						\
			w_ = levels16(_mm512_extracti32x4_epi32(u, J), 0, kk, TS, mid); \
		else							\
			w_ = _mm512_mul_ps(levels16(_mm512_extracti32x4_epi32(u, J), \
						    lin, kk, T, mid), s); \
		for (vec = 0; vec < nv; vec++)				\
			acc[(J) * nv + vec] = _mm512_fmadd_ps(w_,	\
				_mm512_maskz_loadu_ps(M, xv + vec * ldx + c + 16 * (J)), \
				acc[(J) * nv + vec]);			\
	} while (0)

#define NVCAP 1
#define ROWS_NAME rows_f32_1
#include "gemv_avx512_rows_f32.h"
#undef NVCAP
#undef ROWS_NAME
#define NVCAP GEMV_MAX_VEC
#define ROWS_NAME rows_f32_n
#include "gemv_avx512_rows_f32.h"
#undef NVCAP
#undef ROWS_NAME

/* One instance per (vectors 1 or n, linear or the table's k range). */
#define INSTANCES(NV)							\
	do {								\
		if (v->k <= 4)	/* any recon: lvf has every level */	\
			rows_f32_ ## NV(v, row0, n_rows, a, a->n_vec, 0, 4);		\
		else if (v->k == 5)					\
			rows_f32_ ## NV(v, row0, n_rows, a, a->n_vec, 0, 5);		\
		else if (v->linear)					\
			rows_f32_ ## NV(v, row0, n_rows, a, a->n_vec, 1, 8);		\
		else if (v->k == 6)					\
			rows_f32_ ## NV(v, row0, n_rows, a, a->n_vec, 0, 6);		\
		else							\
			rows_f32_ ## NV(v, row0, n_rows, a, a->n_vec, 0, 7);		\
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
		INSTANCES(n);
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

#define NVCAP 1
#define ROWS_NAME rows_q8_1
#include "gemv_avx512_rows_q8.h"
#undef NVCAP
#undef ROWS_NAME
#define NVCAP GEMV_MAX_VEC
#define ROWS_NAME rows_q8_n
#include "gemv_avx512_rows_q8.h"
#undef NVCAP
#undef ROWS_NAME

#define QINSTANCES(NV)							\
	do {								\
		if (v->linear)						\
			rows_q8_ ## NV(v, row0, n_rows, a, a->n_vec, 1, 8);		\
		else if (v->k <= 5)					\
			rows_q8_ ## NV(v, row0, n_rows, a, a->n_vec, 0, 5);		\
		else if (v->k == 6)					\
			rows_q8_ ## NV(v, row0, n_rows, a, a->n_vec, 0, 6);		\
		else							\
			rows_q8_ ## NV(v, row0, n_rows, a, a->n_vec, 0, 7);		\
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
		QINSTANCES(n);
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
