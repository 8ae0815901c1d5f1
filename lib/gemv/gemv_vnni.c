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

/*
 * Codes by transposition (k >= VNNI_TRANSPOSE_MIN planes), 512 weights at
 * a time: for each plane p one 64-byte load Z_p (byte b, bit j: weight
 * 8b + j); three rounds of vpermt2b gather, for each byte index b, the k
 * plane bytes Z_p[b] into one qword (so that output register m holds the
 * qwords of weights 64m .. 64m + 63, in order); then one vgf2p8affineqb
 * per register transposes each qword as an 8 x 8 bit matrix: with the
 * data as the matrix and x = bytes 1, 2, 4 .. 128, byte j of the result
 * collects bit j of the 8 plane bytes, plane at qword byte 7 - i landing
 * on bit i.  Plane p sits at qword byte p (top-aligned codes, linear) or
 * 8 - k + p (right-aligned, table indices); imm8 0x80 flips the top bit,
 * the +128 of linear levels.  3 permutes and an affine per 64 weights at
 * any k, where the masked adds take 2k operations.
 */
/* Measured here (Zen 4): faster than the masked adds from k = 7 on. */
#define VNNI_TRANSPOSE_MIN	7
#define VNNI_TRANSPOSE(k)	((k) >= VNNI_TRANSPOSE_MIN)

struct vnni_net {
	__m512i i1[2], i2[2], i3[2], x;
};

static void net_init(struct vnni_net *n)
{
	uint8_t b[64];
	unsigned int h, t, e, r, j;

	for (h = 0; h < 2; h++) {
		/* Round 1: bytes of two planes interleaved (half h of the bytes). */
		for (t = 0; t < 32; t++)
			for (e = 0; e < 2; e++)
				b[2 * t + e] = (uint8_t)(e * 64 + 32 * h + t);
		n->i1[h] = _mm512_loadu_si512(b);
		/* Round 2: pairs of pairs, quarter h of each round-1 register. */
		for (t = 0; t < 16; t++)
			for (e = 0; e < 2; e++)
				for (r = 0; r < 2; r++)
					b[4 * t + 2 * e + r] = (uint8_t)(e * 64 + 2 * (16 * h + t) + r);
		n->i2[h] = _mm512_loadu_si512(b);
		/* Round 3: planes 0-3 and 4-7 of 8 byte indices per qword. */
		for (t = 0; t < 8; t++)
			for (j = 0; j < 2; j++)
				for (r = 0; r < 4; r++)
					b[8 * t + 4 * j + r] = (uint8_t)(j * 64 + 4 * (8 * h + t) + r);
		n->i3[h] = _mm512_loadu_si512(b);
	}
	n->x = _mm512_set1_epi64(0x8040201008040201ll);
}

/* Plane (I - off) of the chunk, or zero: I is a constant after inlining. */
#define ZP(I)	((I) >= off && (I) - off < k ?					\
		 _mm512_maskz_loadu_epi8(m, b + ((I) - off) * stride) :	\
		 _mm512_setzero_si512())
#define P2(A, IDX, B)	_mm512_permutex2var_epi8(A, IDX, B)

/* Named registers, no arrays: GCC keeps arrays of vectors in memory. */
static inline __attribute__((always_inline)) void
codes512(const uint8_t *b, size_t stride, uint32_t nbytes, const uint32_t k,
	 const int lin, const struct vnni_net *n, __m512i out[8])
{
	const __mmask64 m = nbytes >= 64 ? ~0ull : (1ull << nbytes) - 1;
	const unsigned int off = lin ? 0 : 8 - k;
	const __m512i z0 = ZP(0), z1 = ZP(1), z2 = ZP(2), z3 = ZP(3);
	const __m512i z4 = ZP(4), z5 = ZP(5), z6 = ZP(6), z7 = ZP(7);
	const __m512i a00 = P2(z0, n->i1[0], z1), a01 = P2(z0, n->i1[1], z1);
	const __m512i a10 = P2(z2, n->i1[0], z3), a11 = P2(z2, n->i1[1], z3);
	const __m512i a20 = P2(z4, n->i1[0], z5), a21 = P2(z4, n->i1[1], z5);
	const __m512i a30 = P2(z6, n->i1[0], z7), a31 = P2(z6, n->i1[1], z7);
	const __m512i q000 = P2(a00, n->i2[0], a10), q001 = P2(a00, n->i2[1], a10);
	const __m512i q010 = P2(a01, n->i2[0], a11), q011 = P2(a01, n->i2[1], a11);
	const __m512i q100 = P2(a20, n->i2[0], a30), q101 = P2(a20, n->i2[1], a30);
	const __m512i q110 = P2(a21, n->i2[0], a31), q111 = P2(a21, n->i2[1], a31);

/* The immediate must be a literal (clang): two calls, one folds away. */
#define OUT(M, Q0, Q1, F)						\
	out[M] = lin ? _mm512_gf2p8affine_epi64_epi8(n->x, P2(Q0, n->i3[F], Q1), 0x80) : \
		       _mm512_gf2p8affine_epi64_epi8(n->x, P2(Q0, n->i3[F], Q1), 0)
	OUT(0, q000, q100, 0);
	OUT(1, q000, q100, 1);
	OUT(2, q001, q101, 0);
	OUT(3, q001, q101, 1);
	OUT(4, q010, q110, 0);
	OUT(5, q010, q110, 1);
	OUT(6, q011, q111, 0);
	OUT(7, q011, q111, 1);
#undef OUT
}
#undef ZP
#undef P2

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
