/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rows_q8() of gemv_avx512.c, included once per accumulator capacity
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
	const size_t stride = v->stride, valid = v->valid;
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
		/* Row on a byte boundary, 8 bytes of slack past its end: plain loads. */
		const int direct = !(e0 & 7) && (e0 + cols + 7) / 8 + 8 <= valid;
		const uint8_t *sc = v->scales + (size_t)(row0 + r) * v->gpr * 2;
		__m512 acc[2 * NVCAP];
		float s = 0;
		uint32_t c, left = 0;	/* 32-column slices left in the group */

		for (vec = 0; vec < 2 * nv; vec++)
			acc[vec] = _mm512_setzero_ps();
		for (c = 0; c < cols; c += 64) {
			__m512i u = _mm512_setzero_si512();

			for (p = 0; p < k; p++) {
				uint64_t w;

				if (direct)
					__builtin_memcpy(&w, planes + p * stride + (e0 + c) / 8, 8);
				else
					w = gemv_bits64(planes + p * stride, valid, e0 + c);

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
