/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rows_f32() of gemv_avx512.c, included once per accumulator capacity
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
	const uint32_t cols = v->cols, gs16 = v->group_size / 16, k = v->k;
	__m512 T[8], TS[2], mid = _mm512_set1_ps((float)v->mid);
	const int fold = !lin && kk <= 5;	/* scale folded into the table */
	__m512i wt[8];
	uint32_t r, p, vec, i;

	for (i = 0; i < 8; i++)
		T[i] = _mm512_loadu_ps(v->lvf + 16 * i);
	TS[0] = TS[1] = _mm512_setzero_ps();
	for (p = 0; p < k; p++)
		wt[p] = _mm512_set1_epi8((char)(lin ? 0x80 >> p : 1 << (k - 1 - p)));

	for (r = 0; r < n_rows; r++) {
		uint64_t e0 = (uint64_t)(row0 + r) * cols;
		/* Row on a byte boundary, 8 bytes of slack past its end: plain loads. */
		const int direct = !(e0 & 7) && (e0 + cols + 7) / 8 + 8 <= valid;
		const uint8_t *sc = v->scales + (size_t)(row0 + r) * v->gpr * 2;
		/* One accumulator per slice and vector: four FMA chains per vector. */
		__m512 acc[4 * NVCAP], s = _mm512_setzero_ps();
		uint32_t c, left = 0;	/* 16-column slices left in the group */

		for (vec = 0; vec < 4 * nv; vec++)
			acc[vec] = _mm512_setzero_ps();
		for (c = 0; c < cols; c += 64) {
			__m512i u = _mm512_setzero_si512();
			uint32_t n = cols - c < 64 ? cols - c : 64;

			for (p = 0; p < k; p++) {
				uint64_t w;

				if (direct)
					__builtin_memcpy(&w, planes + p * stride + (e0 + c) / 8, 8);
				else
					w = gemv_bits64(planes + p * stride, valid, e0 + c);

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
