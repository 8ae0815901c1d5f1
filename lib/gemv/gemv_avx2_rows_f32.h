/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rows_f32() of gemv_avx2.c, included once per accumulator capacity
 * NVCAP (1: one vector, its accumulators in registers; GEMV_MAX_VEC):
 * the arrays must have a constant size for the compiler to keep them
 * in registers.
 */
static inline __attribute__((always_inline)) void
ROWS_NAME(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
	 const struct gemv_args *a, const unsigned int nv_in, const int lin,
	 const uint32_t kk)
{
	/* A constant for the one-vector instance: loops over vectors vanish. */
	const unsigned int nv = NVCAP == 1 ? 1 : nv_in;
	/* Locals: with -fno-strict-aliasing every store would reload them. */
	const uint8_t *const planes = v->planes;
	const size_t stride = v->stride, valid = v->valid, ldx = a->ldx;
	const float *const xv = a->x;
	const uint32_t cols = v->cols, gs8 = v->group_size / 8, k = v->k;
	const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
						2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bitsel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	__m256 T0 = _mm256_loadu_ps(v->lvf), T1 = _mm256_loadu_ps(v->lvf + 8), mid = _mm256_set1_ps((float)v->mid);
	__m256i wt[8];
	uint32_t r, p, vec;

	for (p = 0; p < k; p++)
		wt[p] = _mm256_set1_epi8((char)(lin ? 0x80 >> p : 1 << (k - 1 - p)));

	for (r = 0; r < n_rows; r++) {
		uint64_t e0 = (uint64_t)(row0 + r) * cols;
		/* Row on a byte boundary, 8 bytes of slack past its end: plain loads. */
		const int direct = !(e0 & 7) && (e0 + cols + 7) / 8 + 8 <= valid;
		const uint8_t *sc = v->scales + (size_t)(row0 + r) * v->gpr * 2;
		__m256 acc[4 * NVCAP], s = _mm256_setzero_ps();
		uint32_t c, j, left = 0;	/* 8-column slices left in the group */

		for (vec = 0; vec < 4 * nv; vec++)
			acc[vec] = _mm256_setzero_ps();
		for (c = 0; c < cols; c += 32) {
			__m256i u = _mm256_setzero_si256();
			uint32_t n = cols - c < 32 ? cols - c : 32;

			for (p = 0; p < k; p++) {
				uint32_t w;

				if (direct)
					__builtin_memcpy(&w, planes + p * stride + (e0 + c) / 8, 4);
				else
					w = (uint32_t)gemv_bits64(planes + p * stride, valid, e0 + c);
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
