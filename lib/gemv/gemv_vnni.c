// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * GEMV kernels, AVX-512 VNNI + VBMI variant (the codec's GFNI level: Ice
 * Lake, Zen 4 and later), Q8 activations.  The f32 mode is the AVX-512
 * variant's.
 *
 * Per 64 weights of a row, as in gemv_avx512.c, the k plane words become
 * k masked byte adds that build the 64 codes in a zmm.  Then one u8 x s8
 * dot (vpdpbusd) multiplies them with the int8 activations, 4 columns per
 * 32-bit lane, where the AVX-512 variant widens to 16 bits and needs two
 * madds, conversions and table permutes per 32 weights.  vpdpbusd wants
 * unsigned weights, so every level gets +128:
 *   linear (floor, midpoint, k = 8): level + 128 = (top-aligned code ^
 *	0x80) + mid, built by the adds themselves from a start of 128 + mid
 *	(plane 0's 0x80 wraps to 0: the XOR);
 *   table: the Q8.8 level is hi * 256 + lo, hi + 128 and lo (both u8)
 *	looked up from the code with vpermb (k <= 6) or vpermi2b (k = 7),
 *	two dots, combined exactly in 32 bits.
 * The +128 is taken back once per scale group: 128 x sum(step x code)
 * over the group's columns, precomputed per call (gemv_args.xcorr).
 * Each lane's dot is exact; lanes are scaled by their block's step
 * (gemv_args.dxl) and summed in binary32 per group, then times the group
 * scale: the same sum as the portable Q8 kernel up to float rounding.
 * Needs groups that are a multiple of 64 columns (a chunk never straddles
 * two scales); others run the AVX-512 Q8 kernel.
 */
#include <errno.h>
#include <immintrin.h>

#include "gemv_priv.h"

/* Table levels split for the u8 dots: (level >> 8) + 128 and level & 255. */
struct vnni_tables {
	__m512i hi[2], lo[2];
};

static void split_levels(const struct gemv_view *v, struct vnni_tables *tb)
{
	uint8_t hi[128], lo[128];
	unsigned int u;

	for (u = 0; u < 128; u++) {
		int32_t l = v->lvq[u];

		hi[u] = (uint8_t)((l >> 8) + 128);
		lo[u] = (uint8_t)(l & 255);
	}
	tb->hi[0] = _mm512_loadu_si512(hi);
	tb->hi[1] = _mm512_loadu_si512(hi + 64);
	tb->lo[0] = _mm512_loadu_si512(lo);
	tb->lo[1] = _mm512_loadu_si512(lo + 64);
}

/* 64 plane bits at any byte address (a kmovq from memory once compiled). */
static inline __mmask64 plane_mask(const uint8_t *p)
{
	uint64_t w;

	__builtin_memcpy(&w, p, 8);
	return _cvtu64_mask64(w);
}

static inline float scale_at(const uint8_t *p)
{
	return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8)));
}

/* End of a scale group: its sum times the scale, its +128 taken back. */
#define VNNI_FLUSH()							\
	do {								\
		const float s_ = scale_at(sc);				\
		const __m512 su_ = _mm512_set1_ps(s_ * unit);		\
		for (vec = 0; vec < nv; vec++) {			\
			acc[vec] = _mm512_fmadd_ps(_mm512_add_ps(accg[vec], acc2[vec]), \
						   su_, acc[vec]);	\
			accg[vec] = acc2[vec] = _mm512_setzero_ps();	\
			corr[vec] += s_ * xc[vec * a->gpr];		\
		}							\
		sc += 2;						\
		xc++;							\
	} while (0)

#define NVCAP 1
#define ROWS_NAME rows_vnni_1
#include "gemv_vnni_rows.h"
#undef NVCAP
#undef ROWS_NAME
#define NVCAP GEMV_MAX_VEC
#define ROWS_NAME rows_vnni_n
#include "gemv_vnni_rows.h"
#undef NVCAP
#undef ROWS_NAME

/* One instance per k and level kind: the plane loop unrolls, wt[] stays in registers. */
#define VCASE(NV, K)							\
	case K:								\
		if (v->linear)						\
			rows_vnni_ ## NV(v, row0, n_rows, a, a->n_vec, 1, K, &tb);	\
		else							\
			rows_vnni_ ## NV(v, row0, n_rows, a, a->n_vec, 0, K, &tb);	\
		break
#define VINSTANCES(NV)							\
	do {								\
		switch (v->k) {						\
		VCASE(NV, 1); VCASE(NV, 2); VCASE(NV, 3); VCASE(NV, 4);	\
		VCASE(NV, 5); VCASE(NV, 6); VCASE(NV, 7);		\
		case 8:							\
			rows_vnni_ ## NV(v, row0, n_rows, a, a->n_vec, 1, 8, &tb);	\
			break;						\
		}							\
	} while (0)

static int int8_q8(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
		   const struct gemv_args *a)
{
	struct vnni_tables tb;

	if (v->group_size % 64 || v->k > 8 || !a->xq8)
		return cxlms_gemv_kernels_avx512()->int8_q8(v, row0, n_rows, a);
	split_levels(v, &tb);	/* 256 bytes once per tile: not worth a branch */
	if (a->n_vec == 1)
		VINSTANCES(1);
	else
		VINSTANCES(n);
	return 0;
}

static int int8_f32(const struct gemv_view *v, uint32_t row0, uint32_t n_rows,
		    const struct gemv_args *a)
{
	return cxlms_gemv_kernels_avx512()->int8_f32(v, row0, n_rows, a);
}

static const struct gemv_kernels kern = {
	.name = "vnni",
	.int8_f32 = int8_f32,
	.int8_q8 = int8_q8,
};

const struct gemv_kernels *cxlms_gemv_kernels_vnni(void)
{
	return &kern;
}
