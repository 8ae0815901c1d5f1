/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rows_vnni() of gemv_vnni.c, included once per accumulator capacity
 * NVCAP (1: one vector, its accumulators in registers; GEMV_MAX_VEC).
 */
static inline __attribute__((always_inline)) void
ROWS_NAME(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
	  const struct gemv_args *a, const unsigned int nv_in, const int lin,
	  const uint32_t k, const struct vnni_tables *tb)
{
	const unsigned int nv = NVCAP == 1 ? 1 : nv_in;
	const uint8_t *const planes = v->planes;
	const size_t stride = v->stride, valid = v->valid;
	const size_t ldq = a->ldq, ldl = a->ldq / 4;
	const uint32_t cols = v->cols, gs64 = v->group_size / 64;
	/* Linear levels are in code units, table levels in Q8.8. */
	const float unit = lin ? 1.0f : 1.0f / 256.0f;
	/* Linear: every code byte starts at level + 128 of code 0 (see file top). */
	const __m512i start = lin ? _mm512_set1_epi8((char)(128 + v->mid)) :
				    _mm512_setzero_si512();
	const __m512i midv = _mm512_set1_epi8((char)v->mid);
	__m512i wt[8], cb[8];
	struct vnni_net net;
	uint32_t r, p, vec;

	if (VNNI_TRANSPOSE(k))
		net_init(&net);

#pragma GCC unroll 8
	for (p = 0; p < k; p++) {
		wt[p] = _mm512_set1_epi8((char)(lin ? 0x80 >> p : 1 << (k - 1 - p)));
		/* Keep them in registers: GCC would rebuild constants in the loop. */
		__asm__("" : "+v"(wt[p]));
	}

	for (r = 0; r < n_rows; r++) {
		uint64_t e0 = (uint64_t)(row0 + r) * cols;
		const int direct = !(e0 & 7) && (e0 + cols + 7) / 8 + 8 <= valid;
		const uint8_t *sc = v->scales + (size_t)(row0 + r) * v->gpr * 2;
		const float *xc = a->xcorr;
		/* Two group sums per vector, alternate chunks: two FMA chains. */
		__m512 accg[NVCAP], acc2[NVCAP], acc[NVCAP];
		float corr[NVCAP];
		uint32_t c, left = gs64;

		for (vec = 0; vec < nv; vec++) {
			accg[vec] = acc2[vec] = acc[vec] = _mm512_setzero_ps();
			corr[vec] = 0.0f;
		}
		for (c = 0; c < cols; c += 64) {
			__m512i u = start, lo = start, hi = start;

			if (!left) {
				VNNI_FLUSH();
				left = gs64;
			}
			left--;
			if (VNNI_TRANSPOSE(k) && direct) {
				/* 512 weights' codes at once (see codes512()), then one per chunk. */
				if (!(c & 511)) {
					uint32_t nb = (cols - c + 7) / 8;

					codes512(planes + (e0 + c) / 8, stride, nb < 64 ? nb : 64, k,
						 lin, &net, cb);
				}
				u = lin ? _mm512_add_epi8(cb[(c >> 6) & 7], midv) : cb[(c >> 6) & 7];
			} else if (direct) {
				const uint8_t *b = planes + (e0 + c) / 8;
				/* Two chains (even, odd planes): half the add latency. */
				__m512i u1 = _mm512_setzero_si512();

#pragma GCC unroll 8
				for (p = 0; p < k; p += 2) {
					u = _mm512_mask_add_epi8(u, plane_mask(b + p * stride), u, wt[p]);
					if (p + 1 < k)
						u1 = _mm512_mask_add_epi8(u1, plane_mask(b + (p + 1) * stride),
									  u1, wt[p + 1]);
				}
				u = _mm512_add_epi8(u, u1);
			} else {
#pragma GCC unroll 8
				for (p = 0; p < k; p++)
					u = _mm512_mask_add_epi8(u, _cvtu64_mask64(gemv_bits64(
						planes + p * stride, valid, e0 + c)), u, wt[p]);
			}
			if (!lin) {
				if (k <= 6) {
					lo = _mm512_permutexvar_epi8(u, tb->lo[0]);
					hi = _mm512_permutexvar_epi8(u, tb->hi[0]);
				} else {
					lo = _mm512_permutex2var_epi8(tb->lo[0], u, tb->lo[1]);
					hi = _mm512_permutex2var_epi8(tb->hi[0], u, tb->hi[1]);
				}
			}
			for (vec = 0; vec < nv; vec++) {
				const __m512i x8 = _mm512_loadu_si512(a->xq8 + vec * ldq + c);
				const __m512 dl = _mm512_loadu_ps(a->dxl + vec * ldl + c / 4);
				__m512i d;

				if (lin)
					d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, x8);
				else
					d = _mm512_add_epi32(
						_mm512_slli_epi32(_mm512_dpbusd_epi32(
							_mm512_setzero_si512(), hi, x8), 8),
						_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, x8));
				if (c & 64)
					acc2[vec] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), dl, acc2[vec]);
				else
					accg[vec] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), dl, accg[vec]);
			}
		}
		VNNI_FLUSH();
		for (vec = 0; vec < nv; vec++)
			a->y[vec * a->ldy + r] = _mm512_reduce_add_ps(acc[vec]) - 128.0f * corr[vec];
	}
}
