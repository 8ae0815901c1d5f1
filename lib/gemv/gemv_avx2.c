// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * GEMV kernels, AVX2 + FMA variant, f32 activations.
 *
 * Per 32 weights of a row: each plane's 32-bit word is spread to one
 * byte per weight (shuffle, compare against the bit masks) and its bit
 * added into the codes (k x 4 operations).  Each 8 codes give 8 float
 * levels (the signed top-aligned code for the linear reconstructions, a
 * vpermps of the table for k <= 3, a gather from it above), times the
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
	__m256 T0, __m256 mid)
{
	__m256i idx;

	if (lin)
		return _mm256_add_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b8)), mid);
	idx = _mm256_cvtepu8_epi32(b8);
	if (kk <= 3)
		return _mm256_permutevar8x32_ps(T0, idx);
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
		w_ = _mm256_mul_ps(levels8(b8_, lin, kk, v->lvf, T0, mid), s); \
		for (vec = 0; vec < nv; vec++) {			\
			const float *xp_ = a->x + vec * a->ldx + c + 8 * (J); \
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

static inline __attribute__((always_inline)) void
rows_f32(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
	 const struct gemv_args *a, const unsigned int nv, const int lin,
	 const uint32_t kk)
{
	const uint32_t cols = v->cols, gs8 = v->group_size / 8, k = v->k;
	const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
						2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bitsel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	__m256 T0 = _mm256_loadu_ps(v->lvf), mid = _mm256_set1_ps((float)v->mid);
	__m256i wt[8];
	uint32_t r, p, vec;

	for (p = 0; p < k; p++)
		wt[p] = _mm256_set1_epi8((char)(lin ? 0x80 >> p : 1 << (k - 1 - p)));

	for (r = 0; r < n_rows; r++) {
		uint64_t e0 = (uint64_t)(row0 + r) * cols;
		const uint8_t *sc = v->scales + (size_t)(row0 + r) * v->gpr * 2;
		__m256 acc[4 * nv], s = _mm256_setzero_ps();	/* nv = 1: registers */
		uint32_t c, j, left = 0;	/* 8-column slices left in the group */

		for (vec = 0; vec < 4 * nv; vec++)
			acc[vec] = _mm256_setzero_ps();
		for (c = 0; c < cols; c += 32) {
			__m256i u = _mm256_setzero_si256();
			uint32_t n = cols - c < 32 ? cols - c : 32;

			for (p = 0; p < k; p++) {
				uint32_t w = (uint32_t)gemv_bits64(v->planes + p * v->stride,
								   v->valid, e0 + c);
				__m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)w), spread);

				b = _mm256_cmpeq_epi8(_mm256_and_si256(b, bitsel), bitsel);
				u = _mm256_add_epi8(u, _mm256_and_si256(b, wt[p]));
			}
			if (n == 32) {	/* constant slices: accumulators stay in registers */
				SLICE8(0, 8);
				SLICE8(1, 8);
				SLICE8(2, 8);
				SLICE8(3, 8);
				continue;
			}
			for (j = 0; j * 8 < n; j++)
				SLICE8(j, n - 8 * j);
		}
		for (vec = 0; vec < nv; vec++) {
			__m256 t = _mm256_add_ps(_mm256_add_ps(acc[vec], acc[nv + vec]),
						 _mm256_add_ps(acc[2 * nv + vec], acc[3 * nv + vec]));
			__m128 h = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));

			h = _mm_add_ps(h, _mm_movehl_ps(h, h));
			h = _mm_add_ss(h, _mm_movehdup_ps(h));
			a->y[vec * a->ldy + r] = _mm_cvtss_f32(h);
		}
	}
}

#define INSTANCES(NV)							\
	do {								\
		if (v->linear)						\
			rows_f32(v, row0, n_rows, a, NV, 1, 8);		\
		else if (v->k <= 3)					\
			rows_f32(v, row0, n_rows, a, NV, 0, 3);		\
		else							\
			rows_f32(v, row0, n_rows, a, NV, 0, 7);		\
	} while (0)

static int int8_f32(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
		    const struct gemv_args *a)
{
	if (v->group_size % 8 || v->k > 8)
		return -EOPNOTSUPP;
	if (a->n_vec == 1)
		INSTANCES(1);
	else
		INSTANCES(a->n_vec);
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
