// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * GEMV kernels, AVX2 + FMA variant, f32 activations.
 *
 * Per 32 weights of a row: each plane's 32-bit word is spread to one
 * byte per weight (shuffle, compare against the bit masks) and its bit
 * added into the codes (k x 4 operations).  Each 8 codes give 8 float
 * levels (the signed top-aligned code for the linear reconstructions, a
 * vpermps of the table for k <= 4 (two and a blend at k = 4), a gather
 * from it above), times the
 * group scale: the binary32 weights of an F32 fetch, in a register.
 * Groups must be a multiple of 8 columns; others and the Q8 mode go to
 * the portable kernels.
 */
#include <errno.h>
#include <immintrin.h>

#include "gemv_priv.h"

static inline float scale_at(const uint8_t *p)
{
	return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8)));
}

static inline __attribute__((always_inline)) __m256
levels8(__m128i b8, const int lin, const uint32_t kk, const float *lvf,
	__m256 T0, __m256 T1, __m256 mid)
{
	__m256i idx;

	if (lin)
		return _mm256_add_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b8)), mid);
	idx = _mm256_cvtepu8_epi32(b8);
	if (kk <= 3)
		return _mm256_permutevar8x32_ps(T0, idx);
	if (kk == 4)	/* 16 levels: two 8-entry permutes, bit 3 picks */
		return _mm256_blendv_ps(_mm256_permutevar8x32_ps(T0, idx),
					_mm256_permutevar8x32_ps(T1, idx),
					_mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
	return _mm256_i32gather_ps(lvf, idx, 4);
}

/*
 * 8 columns: weights = levels x group scale, one FMA per vector; @CNT < 8
 * columns left in the row: the rest read as 0.
 */
#define SLICE8(J, CNT)							\
	do {								\
		uint32_t cnt_ = (CNT);					\
		__m128i half_ = (J) < 2 ? _mm256_castsi256_si128(u) :	\
				  _mm256_extracti128_si256(u, 1);	\
		__m128i b8_ = ((J) & 1) ? _mm_srli_si128(half_, 8) : half_; \
		__m256 w_;						\
		if (!left) {						\
			s = _mm256_set1_ps(scale_at(sc));		\
			sc += 2;					\
			left = gs8;					\
		}							\
		left--;							\
		w_ = _mm256_mul_ps(levels8(b8_, lin, kk, v->lvf, T0, T1, mid), s); \
		for (vec = 0; vec < nv; vec++) {			\
			const float *xp_ = xv + vec * ldx + c + 8 * (J); \
			__m256 x_;					\
			if (cnt_ >= 8)					\
				x_ = _mm256_loadu_ps(xp_);		\
			else						\
				x_ = _mm256_maskload_ps(xp_, _mm256_cmpgt_epi32( \
					_mm256_set1_epi32((int)cnt_),	\
					_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))); \
			acc[(J) * nv + vec] = _mm256_fmadd_ps(w_, x_, acc[(J) * nv + vec]); \
		}							\
	} while (0)

#define NVCAP 1
#define ROWS_NAME rows_f32_1
#include "gemv_avx2_rows_f32.h"
#undef NVCAP
#undef ROWS_NAME
#define NVCAP GEMV_MAX_VEC
#define ROWS_NAME rows_f32_n
#include "gemv_avx2_rows_f32.h"
#undef NVCAP
#undef ROWS_NAME

#define INSTANCES(NV)							\
	do {								\
		if (v->linear)						\
			rows_f32_ ## NV(v, row0, n_rows, a, a->n_vec, 1, 8);		\
		else if (v->k <= 3)					\
			rows_f32_ ## NV(v, row0, n_rows, a, a->n_vec, 0, 3);		\
		else if (v->k == 4)					\
			rows_f32_ ## NV(v, row0, n_rows, a, a->n_vec, 0, 4);		\
		else							\
			rows_f32_ ## NV(v, row0, n_rows, a, a->n_vec, 0, 7);		\
	} while (0)

static int int8_f32(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
		    const struct gemv_args *a)
{
	if (v->group_size % 8 || v->k > 8)
		return -EOPNOTSUPP;
	if (a->n_vec == 1)
		INSTANCES(1);
	else
		INSTANCES(n);
	return 0;
}

static const struct gemv_kernels kern = {
	.name = "avx2",
	.int8_f32 = int8_f32,
};

const struct gemv_kernels *cxlms_gemv_kernels_avx2(void)
{
	return &kern;
}
