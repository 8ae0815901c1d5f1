/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AVX-512 kernels, built twice: simd_avx512.c (F+BW+VL: plane bits move
 * through mask registers, vpmovb2m/kmov) and simd_gfni.c (adds VBMI and
 * GFNI: gf2p8affineqb transposes 8x8 bit matrices, vpermb/vpermt2b move
 * bytes).  X512_GFNI selects; everything else is shared.
 *
 * A block is 512 elements: one 64-byte line of each plane.  Its decoded
 * form is U[8], 64 bytes each, byte e of U[j] holding the bits of element
 * 64j + e: the pattern u in the low k bits (INT8) or the plane bits at
 * the top of the byte (16-bit halves).  U lives in registers; the f32
 * levels of a block (2 KiB) are the only scratch and stay in L1.
 *
 * Bit-exactness: F32 results are one binary32 multiply of two exact
 * values with embedded round-to-nearest-even (MXCSR is not consulted);
 * every other output is integer arithmetic.
 */
#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#include "simd_priv.h"

#if X512_GFNI
#define X(name) name##_gfni
#else
#define X(name) name##_avx512
#endif

#define ALIGN64 __attribute__((aligned(64)))
/* The block helpers must melt into their loops: U[] lives in registers. */
#define HOT static inline __attribute__((always_inline))

#define DIRECT_MAX	5	/* widest k packed_direct() does */

/* Byte-index tables, filled once (never at load time: this is AVX-512 code). */
static struct {
	cxlms_u8 pack[8][64];		/* compress 8k-bit qwords to bytes, per k */
#if X512_GFNI
	cxlms_u8 pack16[8][64];		/* 16-bit PACKED, k = 9..15 at [k - 8] */
	cxlms_u8 pack16b[8][64];	/* odd k: the byte shared by two qwords */
	cxlms_u8 zip8_lo[64], zip8_hi[64], even8[64], odd8[64];
	cxlms_u16 zip16_lo[32], zip16_hi[32], even16[32], odd16[32];
	cxlms_u32 zip32_lo[16], zip32_hi[16], even32[16], odd32[16];
	/* packed_direct(), k = 3..DIRECT_MAX: see there. */
	cxlms_u8 dir_idx[DIRECT_MAX + 1][DIRECT_MAX][3][64];
	cxlms_u64 dir_mat[DIRECT_MAX + 1][DIRECT_MAX][DIRECT_MAX];
	cxlms_u64 dir_sel[DIRECT_MAX + 1][DIRECT_MAX][3];
#endif
} ALIGN64 X(tab);
static pthread_once_t X(tab_once) = PTHREAD_ONCE_INIT;

static void X(tab_init)(void)
{
	cxlms_u32 k, t;

	for (k = 1; k < 8; k++)
		for (t = 0; t < 64; t++) {
#if X512_GFNI
			/* Output byte t of the k-byte runs: byte t % k of qword t / k. */
			X(tab).pack[k][t] = (cxlms_u8)(t < 8 * k ? (t / k) * 8 + t % k : 0);
			/* k = 6: 3-byte runs per dword (pack_qwords() stops there). */
			if (k == 6)
				X(tab).pack[k][t] = (cxlms_u8)(t < 48 ? (t / 3) * 4 + t % 3 : 0);
#else
			/* Per 16-byte lane (two qwords): 2k bytes, rest zeroed. */
			cxlms_u32 l = t % 16;

			X(tab).pack[k][t] = (cxlms_u8)(l < 2 * k ? (l / k) * 8 + l % k : 0x80);
			if (k == 6)	/* 3-byte runs per dword */
				X(tab).pack[k][t] = (cxlms_u8)(l < 12 ? (l / 3) * 4 + l % 3 : 0x80);
#endif
		}
#if X512_GFNI
	/* Per 128-bit lane k bytes of run: byte t % k of lane t / k. */
	for (k = 9; k < 16; k++)
		for (t = 0; t < 64; t++) {
			cxlms_u32 in = t % k;	/* byte of lane t / k's run */

			X(tab).pack16[k - 8][t] = (cxlms_u8)(t < 4 * k ? (t / k) * 16 + in : 0);
			/* Even k (see pack16()): k / 2 bytes from each qword of the lane. */
			if (k % 2 == 0 && t < 4 * k)
				X(tab).pack16[k - 8][t] = (cxlms_u8)((t / k) * 16 +
					(in / (k / 2)) * 8 + in % (k / 2));
			/* Odd k = 2m + 1: bytes 0..m of q0, then 1..m of q1 << 4. */
			if (k % 2 && t < 4 * k)
				X(tab).pack16[k - 8][t] = (cxlms_u8)((t / k) * 16 +
					(in <= k / 2 ? in : 8 + in - k / 2));
			/* ... and byte 0 of q1 << 4 for the shared byte m. */
			X(tab).pack16b[k - 8][t] = X(tab).pack16[k - 8][t];
			if (k % 2 && t < 4 * k && in == k / 2)
				X(tab).pack16b[k - 8][t] = (cxlms_u8)((t / k) * 16 + 8);
		}
	/*
	 * zip: interleave the low (high) halves of a and b; with a second
	 * source the index gains bit log2(N).  unzip: even/odd elements of
	 * the concatenation a:b.
	 */
	for (t = 0; t < 64; t++) {
		X(tab).zip8_lo[t] = (cxlms_u8)(t / 2 + (t % 2) * 64);
		X(tab).zip8_hi[t] = (cxlms_u8)(t / 2 + 32 + (t % 2) * 64);
		X(tab).even8[t] = (cxlms_u8)(2 * t);
		X(tab).odd8[t] = (cxlms_u8)(2 * t + 1);
	}
	for (t = 0; t < 32; t++) {
		X(tab).zip16_lo[t] = (cxlms_u16)(t / 2 + (t % 2) * 32);
		X(tab).zip16_hi[t] = (cxlms_u16)(t / 2 + 16 + (t % 2) * 32);
		X(tab).even16[t] = (cxlms_u16)(2 * t);
		X(tab).odd16[t] = (cxlms_u16)(2 * t + 1);
	}
	/*
	 * packed_direct(): plane p's byte B, bit i (element 8B + i) is pattern
	 * bit k - 1 - p, stream bit k(8B + i) + k - 1 - p: bit j = that - 8t of
	 * stream byte kB + t.  gf2p8affineqb with matrix [p][t] moves it there
	 * (result bit j = parity(matrix byte 7 - j & input byte)).  Output
	 * register r, byte s is stream byte S = 64r + s: phase t = S % k, taken
	 * as byte S / k of phase register t, phases paired for vpermt2b.
	 */
	for (k = 3; k <= DIRECT_MAX; k++) {
		cxlms_u32 p, i, r;

		for (p = 0; p < k; p++)
			for (t = 0; t < k; t++) {
				cxlms_u64 m = 0;

				for (i = 0; i < 8; i++) {
					int j = (int)(k * i + k - 1 - p) - 8 * (int)t;

					if (j >= 0 && j < 8)
						m |= 1ull << (8 * (7 - j) + i);
				}
				X(tab).dir_mat[k][p][t] = m;
			}
		for (r = 0; r < k; r++)
			for (i = 0; i < 64; i++) {
				cxlms_u32 S = 64 * r + i, ph = S % k;

				X(tab).dir_idx[k][r][ph / 2][i] = (cxlms_u8)(S / k + 64 * (ph % 2));
				X(tab).dir_sel[k][r][ph / 2] |= 1ull << i;
			}
	}
	for (t = 0; t < 16; t++) {
		X(tab).zip32_lo[t] = t / 2 + (t % 2) * 16;
		X(tab).zip32_hi[t] = t / 2 + 8 + (t % 2) * 16;
		X(tab).even32[t] = 2 * t;
		X(tab).odd32[t] = 2 * t + 1;
	}
#endif
}

static inline __m512i ld(const void *p)
{
	return _mm512_loadu_si512(p);
}

static inline cxlms_u64 load_u64(const cxlms_u8 *p)
{
	cxlms_u64 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline __mmask64 bytes_mask(cxlms_u32 n)
{
	return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

/* --- decode: k planes of one block -> U[8] ---------------------------- */

/*
 * Mask-register decode: a plane's 8 bytes for 64 elements are a k-mask,
 * one masked add per plane sets bit @top - p of those bytes.  Best when
 * few planes are read (no transpose to amortise).
 */
HOT void decode_mask(const cxlms_u8 *planes, cxlms_u32 stride,
		     cxlms_u32 cnt, cxlms_u32 top, __m512i U[8])
{
	cxlms_u32 j, p;

#pragma GCC unroll 8
	for (j = 0; j < 8; j++) {
		__m512i acc = _mm512_setzero_si512();

#pragma GCC unroll 8
		for (p = 0; p < cnt; p++) {
			__mmask64 m = _cvtu64_mask64(load_u64(planes + p * stride + 8 * j));

			acc = _mm512_mask_add_epi8(acc, m, acc,
						   _mm512_set1_epi8((char)(1u << (top - p))));
		}
		U[j] = acc;
	}
}

#if X512_GFNI
/* Rows r of qwords -> bit 7 - r of bytes: the 8x8 transpose (x = unit bytes). */
#define GF_UNIT _mm512_set1_epi64(0x8040201008040201ll)

#define PERM8(a, t, b)	_mm512_permutex2var_epi8(a, ld(X(tab).t), b)
#define PERM16(a, t, b)	_mm512_permutex2var_epi16(a, ld(X(tab).t), b)
#define PERM32(a, t, b)	_mm512_permutex2var_epi32(a, ld(X(tab).t), b)

/*
 * Transpose decode: plane p is row @row0 + p.  Three rounds of interleaving
 * (bytes, words, dwords) gather byte B of every row into one qword, in
 * element order; gf2p8affineqb then turns each qword's rows into bits.
 */
HOT void decode_gfni(const cxlms_u8 *planes, cxlms_u32 stride,
		     cxlms_u32 cnt, cxlms_u32 row0, __m512i U[8])
{
	__m512i R[8], S[8], T[8];
	cxlms_u32 i, q;

#pragma GCC unroll 8
	for (i = 0; i < 8; i++)
		R[i] = _mm512_setzero_si512();
#pragma GCC unroll 8
	for (i = 0; i < cnt; i++)
		R[row0 + i] = ld(planes + i * stride);
#pragma GCC unroll 8
	for (i = 0; i < 8; i += 2) {
		/* Rows outside [row0, row0 + cnt) are zero: skip what only moves zeros. */
		if (i + 1 < row0 || i >= row0 + cnt) {
			S[i] = S[i + 1] = _mm512_setzero_si512();
			continue;
		}
		S[i] = PERM8(R[i], zip8_lo, R[i + 1]);
		S[i + 1] = PERM8(R[i], zip8_hi, R[i + 1]);
	}
	/* T[0..3]: rows 0-3 for B in 16q..16q+15; T[4..7]: rows 4-7. */
#pragma GCC unroll 8
	for (i = 0; i < 8; i += 4) {
		if (i + 3 < row0 || i >= row0 + cnt) {
			T[i] = T[i + 1] = T[i + 2] = T[i + 3] = _mm512_setzero_si512();
			continue;
		}
		T[i + 0] = PERM16(S[i + 0], zip16_lo, S[i + 2]);
		T[i + 1] = PERM16(S[i + 0], zip16_hi, S[i + 2]);
		T[i + 2] = PERM16(S[i + 1], zip16_lo, S[i + 3]);
		T[i + 3] = PERM16(S[i + 1], zip16_hi, S[i + 3]);
	}
#pragma GCC unroll 8
	for (q = 0; q < 4; q++) {
		__m512i lo = PERM32(T[q], zip32_lo, T[q + 4]);
		__m512i hi = PERM32(T[q], zip32_hi, T[q + 4]);

		U[2 * q] = _mm512_gf2p8affine_epi64_epi8(GF_UNIT, lo, 0);
		U[2 * q + 1] = _mm512_gf2p8affine_epi64_epi8(GF_UNIT, hi, 0);
	}
}
#endif

/* Decode @cnt planes (64 bytes each at @stride) with plane p at bit 7 - row0 - p. */
HOT void decode_block(const cxlms_u8 *planes, cxlms_u32 stride,
		      cxlms_u32 cnt, cxlms_u32 row0, __m512i U[8])
{
#if X512_GFNI
	if (cnt > 2) {
		decode_gfni(planes, stride, cnt, row0, U);
		return;
	}
#endif
	decode_mask(planes, stride, cnt, 7 - row0, U);
}

/*
 * The last block of a tile: copy its valid plane bytes into zeroed lines
 * and clear the bits past n, so reads stay inside ceil(n/8) bytes per
 * plane and elements past n decode as zero (zero trailing PACKED bits).
 */
static const cxlms_u8 *bounce_planes(cxlms_u8 (*b)[64], const cxlms_u8 *planes,
				     cxlms_u32 stride, cxlms_u32 cnt,
				     cxlms_u32 valid)
{
	cxlms_u32 nb = (valid + 7) / 8, p;

#pragma GCC unroll 8
	for (p = 0; p < cnt; p++) {
		memset(b[p], 0, 64);
		memcpy(b[p], planes + p * stride, nb);
		if (valid % 8)
			b[p][nb - 1] &= (cxlms_u8)((1u << (valid % 8)) - 1);
	}
	return b[0];
}

/* --- encode: U[8] (codes, element order) -> 8 plane lines ------------- */

HOT void encode_block(__m512i C[8], cxlms_u8 *planes, cxlms_u32 stride)
{
#if X512_GFNI
	/* Reverse each qword's bytes so the transpose lands element e on bit e. */
	const __m512i rev = _mm512_set_epi8(8, 9, 10, 11, 12, 13, 14, 15,
					    0, 1, 2, 3, 4, 5, 6, 7,
					    8, 9, 10, 11, 12, 13, 14, 15,
					    0, 1, 2, 3, 4, 5, 6, 7,
					    8, 9, 10, 11, 12, 13, 14, 15,
					    0, 1, 2, 3, 4, 5, 6, 7,
					    8, 9, 10, 11, 12, 13, 14, 15,
					    0, 1, 2, 3, 4, 5, 6, 7);
	__m512i Q[8], T[8], S[8], R[8];
	cxlms_u32 i, q, p;

	/* Q[j] qword q, byte r: bit 7 - r of the 8 codes of plane byte 8j + q. */
#pragma GCC unroll 8
	for (i = 0; i < 8; i++)
		Q[i] = _mm512_gf2p8affine_epi64_epi8(GF_UNIT,
						     _mm512_shuffle_epi8(C[i], rev), 0);
	/* Undo decode_gfni's interleaving: even/odd dwords, words, bytes. */
#pragma GCC unroll 8
	for (q = 0; q < 4; q++) {
		T[q] = PERM32(Q[2 * q], even32, Q[2 * q + 1]);
		T[q + 4] = PERM32(Q[2 * q], odd32, Q[2 * q + 1]);
	}
#pragma GCC unroll 8
	for (i = 0; i < 8; i += 4) {
		S[i + 0] = PERM16(T[i + 0], even16, T[i + 1]);
		S[i + 2] = PERM16(T[i + 0], odd16, T[i + 1]);
		S[i + 1] = PERM16(T[i + 2], even16, T[i + 3]);
		S[i + 3] = PERM16(T[i + 2], odd16, T[i + 3]);
	}
#pragma GCC unroll 8
	for (i = 0; i < 8; i += 2) {
		R[i] = PERM8(S[i], even8, S[i + 1]);
		R[i + 1] = PERM8(S[i], odd8, S[i + 1]);
	}
	/* Row r is bit 7 - r, i.e. plane r... reversed: plane p = row 7 - p. */
#pragma GCC unroll 8
	for (p = 0; p < 8; p++)
		_mm512_stream_si512((void *)(planes + p * stride), R[7 - p]);
#else
	/* vpmovb2m takes the top bit of each byte: plane 0 first, then shift. */
	cxlms_u64 line[8][8] ALIGN64;
	cxlms_u32 j, p;

#pragma GCC unroll 8
	for (j = 0; j < 8; j++) {
		__m512i c = C[j];

#pragma GCC unroll 8
		for (p = 0; p < 8; p++) {
			line[p][j] = _cvtmask64_u64(_mm512_movepi8_mask(c));
			c = _mm512_add_epi8(c, c);
		}
	}
#pragma GCC unroll 8
	for (p = 0; p < 8; p++)
		_mm512_stream_si512((void *)(planes + p * stride), _mm512_load_si512(line[p]));
#endif
}

/* --- placement ---------------------------------------------------------- */

static void X(place_int8)(cxlms_u8 *planes, cxlms_u32 stride,
			  const cxlms_u8 *codes, cxlms_u32 nblk)
{
	__m512i C[8];
	cxlms_u32 b, j;

	pthread_once(&X(tab_once), X(tab_init));
	for (b = 0; b < nblk; b++, codes += SIMD_BLOCK) {
#pragma GCC unroll 8
		for (j = 0; j < 8; j++)
			C[j] = ld(codes + 64 * j);
		encode_block(C, planes + b * SIMD_BLOCK_BYTES, stride);
	}
	_mm_sfence();	/* streaming stores are weakly ordered */
}

/* Signalling NaNs stored quiet: top mantissa bit set, payload kept. */
HOT __m512i quiet_snan(__m512i v, cxlms_u16 exp_mask, cxlms_u16 man_mask,
		       cxlms_u16 qbit)
{
	const __m512i e = _mm512_set1_epi16((short)exp_mask);
	__mmask32 nan = _mm512_cmpeq_epi16_mask(_mm512_and_si512(v, e), e) &
			_mm512_test_epi16_mask(v, _mm512_set1_epi16((short)man_mask));

	return _mm512_mask_blend_epi16(nan, v, _mm512_or_si512(v, _mm512_set1_epi16((short)qbit)));
}

static void X(place_16)(cxlms_u8 *planes, cxlms_u32 stride,
			const cxlms_u16 *vals, cxlms_u32 nblk, cxlms_u32 fmt)
{
	cxlms_u32 e_bits = fmt == CXLMS_FMT_BF16 ? 8 : 5, m_bits = 15 - e_bits;
	cxlms_u16 exp_mask = (cxlms_u16)(((1u << e_bits) - 1) << m_bits);
	cxlms_u16 man_mask = (cxlms_u16)((1u << m_bits) - 1);
	cxlms_u16 qbit = (cxlms_u16)(1u << (m_bits - 1));
	__m512i H[8], L[8];
	cxlms_u32 b, j;

	pthread_once(&X(tab_once), X(tab_init));
	for (b = 0; b < nblk; b++, vals += SIMD_BLOCK) {
#pragma GCC unroll 8
		for (j = 0; j < 8; j++) {
			__m512i a = quiet_snan(ld(vals + 64 * j), exp_mask, man_mask, qbit);
			__m512i c = quiet_snan(ld(vals + 64 * j + 32), exp_mask, man_mask, qbit);

			H[j] = _mm512_inserti64x4(_mm512_castsi256_si512(
					_mm512_cvtepi16_epi8(_mm512_srli_epi16(a, 8))),
					_mm512_cvtepi16_epi8(_mm512_srli_epi16(c, 8)), 1);
			L[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(a)),
						  _mm512_cvtepi16_epi8(c), 1);
		}
		encode_block(H, planes + b * SIMD_BLOCK_BYTES, stride);
		encode_block(L, planes + 8 * stride + b * SIMD_BLOCK_BYTES, stride);
	}
	_mm_sfence();
}

/* --- output stages ------------------------------------------------------ */

/* Bitwise select: @m ? @a : @b (vpternlog 0xca). */
#define SEL64(m, a, b)	_mm512_ternarylogic_epi64(m, a, b, 0xca)
#define SEL32(m, a, b)	_mm512_ternarylogic_epi32(m, a, b, 0xca)

/*
 * k-bit patterns (low bits of each byte, k < 8) -> 8k-bit runs per qword.
 * Each merge puts field 1 next to field 0: x >> (w - s) brings field 1
 * (at bit w) to bit s, and its copy of field 0 lands below bit s, where
 * the select keeps x instead.  Two ops, or one multiply-add where the
 * factor fits.
 */
HOT __m512i pack_qwords(__m512i x, cxlms_u32 k)
{
	/* The factors as the unsigned operand: 2^7 does not fit a signed byte. */
	x = _mm512_maddubs_epi16(_mm512_set1_epi16((short)(1 | (1 << (8 + k)))), x);
	x = _mm512_madd_epi16(x, _mm512_set1_epi32((int)(1 | (1u << (16 + 2 * k)))));
	if (k == 6)
		return x;	/* 24-bit runs per dword: whole bytes already */
	return SEL64(_mm512_set1_epi64((long long)((1ull << (4 * k)) - 1)), x,
		     _mm512_srli_epi64(x, 32 - 4 * k));
}

#if X512_GFNI
/* The k-byte runs of 64 patterns, in qwords (k = 6: 3-byte runs in dwords). */
HOT __m512i packed_runs(__m512i u, cxlms_u32 k)
{
	if (k == 7) {
		/*
		 * Stream byte t of a qword is bits 9t.. of u (pattern t's bits
		 * t..6) below bit 7 - t, and bits 9t + 1.. (pattern t + 1's
		 * low bits, past pattern t's zero bit 7) from there up: two
		 * vpmultishiftqb windows and a select.
		 */
		const __m512i lo = _mm512_set1_epi64(0x3f362d241b120900ll);
		const __m512i hi = _mm512_set1_epi64(0x00372e251c130a01ll);

		return SEL64(_mm512_set1_epi64(0x000103070f1f3f7fll),
			     _mm512_multishift_epi64_epi8(lo, u),
			     _mm512_multishift_epi64_epi8(hi, u));
	}
	return pack_qwords(u, k);
}
#endif

/*
 * Store the 8k-byte LSB-first stream of 64 patterns: all of it and up to
 * 64 bytes of garbage after it when @spill (the caller overwrites those
 * next), else exactly the first @nbytes (masked: slow on Zen 4).
 */
HOT void store_packed(cxlms_u8 *dst, __m512i u, cxlms_u32 k, cxlms_u32 nbytes, int spill)
{
	__m512i x;

	if (k == 8) {
		if (spill)
			_mm512_storeu_si512(dst, u);
		else
			_mm512_mask_storeu_epi8(dst, bytes_mask(nbytes), u);
		return;
	}
	if (k == 4 || k == 2) {
		/* Pairs by multiply-add (u_even + u_odd << k), then narrow. */
		__m512i w = _mm512_maddubs_epi16(u, _mm512_set1_epi16((short)(1 | (1 << (8 + k)))));

		if (k == 4) {
			__m256i b = _mm512_cvtepi16_epi8(w);

			if (nbytes >= 32)
				_mm256_storeu_si256((__m256i *)dst, b);
			else
				_mm256_mask_storeu_epi8(dst, (__mmask32)bytes_mask(nbytes), b);
		} else {
			__m512i d = _mm512_madd_epi16(w, _mm512_set1_epi32(0x00100001));
			__m128i b = _mm512_cvtepi32_epi8(d);

			if (nbytes >= 16)
				_mm_storeu_si128((__m128i *)dst, b);
			else
				_mm_mask_storeu_epi8(dst, (__mmask16)bytes_mask(nbytes), b);
		}
		return;
	}
#if X512_GFNI
	x = _mm512_permutexvar_epi8(ld(X(tab).pack[k]), packed_runs(u, k));
	if (spill)
		_mm512_storeu_si512(dst, x);
	else
		_mm512_mask_storeu_epi8(dst, bytes_mask(nbytes), x);
#else
	{
		cxlms_u32 l;

		x = _mm512_shuffle_epi8(pack_qwords(u, k), ld(X(tab).pack[k]));
		if (spill) {
			/* Lane l's 2k bytes at 2k*l; each store's tail is overwritten next. */
			_mm_storeu_si128((__m128i *)dst, _mm512_extracti32x4_epi32(x, 0));
			_mm_storeu_si128((__m128i *)(dst + 2 * k), _mm512_extracti32x4_epi32(x, 1));
			_mm_storeu_si128((__m128i *)(dst + 4 * k), _mm512_extracti32x4_epi32(x, 2));
			_mm_storeu_si128((__m128i *)(dst + 6 * k), _mm512_extracti32x4_epi32(x, 3));
			return;
		}
#pragma GCC unroll 8
		for (l = 0; l < 4; l++) if (nbytes > 2 * k * l) {
			cxlms_u32 left = nbytes - 2 * k * l;
			__m128i lane = _mm512_extracti32x4_epi32(x, 0);

			/* extracti32x4 needs an immediate lane number */
			if (l == 1)
				lane = _mm512_extracti32x4_epi32(x, 1);
			else if (l == 2)
				lane = _mm512_extracti32x4_epi32(x, 2);
			else if (l == 3)
				lane = _mm512_extracti32x4_epi32(x, 3);
			_mm_mask_storeu_epi8(dst + 2 * k * l,
					     (__mmask16)bytes_mask(left < 2 * k ? left : 2 * k),
					     lane);
		}
	}
#endif
}

/* s8 lookup of the k-bit patterns (k < 8). */
struct lut8 {
	__m512i t[8];
};

static inline void lut8_init(struct lut8 *L, const cxlms_s8 *lut, cxlms_u32 k)
{
#if X512_GFNI
	L->t[0] = ld(lut);
	L->t[1] = ld(lut + 64);
	(void)k;
#else
	cxlms_u32 c;

#pragma GCC unroll 8
	for (c = 0; c < 8; c++)
		L->t[c] = _mm512_broadcast_i32x4(_mm_loadu_si128((const void *)(lut + 16 * c)));
	(void)k;
#endif
}

HOT __m512i lut8_apply(const struct lut8 *L, __m512i u, cxlms_u32 k)
{
#if X512_GFNI
	if (k <= 6)
		return _mm512_permutexvar_epi8(u, L->t[0]);
	return _mm512_permutex2var_epi8(L->t[0], u, L->t[1]);
#else
	/* 16-entry vpshufb per chunk of u >> 4. */
	__m512i hi, r;
	cxlms_u32 c;

	if (k <= 4)
		return _mm512_shuffle_epi8(L->t[0], u);
	hi = _mm512_and_si512(_mm512_srli_epi16(u, 4), _mm512_set1_epi8(0x0f));
	r = _mm512_setzero_si512();
	for (c = 0; c < (1u << (k - 4)); c++)
		r = _mm512_mask_shuffle_epi8(r,
					     _mm512_cmpeq_epi8_mask(hi, _mm512_set1_epi8((char)c)),
					     L->t[c], u);
	return r;
#endif
}

/* Level rounded to the nearest code, half away from zero, clamped (codec). */
static inline cxlms_s8 level_to_s8(cxlms_s32 lv)
{
	cxlms_s32 r = lv >= 0 ? (lv + 128) >> 8 : -((-lv + 128) >> 8);

	return (cxlms_s8)(r > 127 ? 127 : r < -128 ? -128 : r);
}

/* Q8.8 levels of 32 patterns (zero-extended u16) as s16, k <= 8. */
HOT __m512i levels_w(const cxlms_s16 *lv, __m512i uw, cxlms_u32 k)
{
	if (k <= 5)
		return _mm512_permutexvar_epi16(uw, ld(lv));
	if (k == 6)
		return _mm512_permutex2var_epi16(ld(lv), uw, ld(lv + 32));
	if (k == 7) {
		__m512i a = _mm512_permutex2var_epi16(ld(lv), uw, ld(lv + 32));
		__m512i b = _mm512_permutex2var_epi16(ld(lv + 64), uw, ld(lv + 96));

		return _mm512_mask_blend_epi16(_mm512_test_epi16_mask(uw, _mm512_set1_epi16(64)),
					       a, b);
	}
	/* k = 8: the code itself, as a sign-extended byte times 256. */
	return _mm512_slli_epi16(_mm512_srai_epi16(_mm512_slli_epi16(uw, 8), 8), 8);
}

/* f32 bits -> bf16, round to nearest even (callers rule out NaN or handle it). */
HOT __m512i f32_to_bf16_rne(__m512i f)
{
	__m512i lsb = _mm512_and_si512(_mm512_srli_epi32(f, 16), _mm512_set1_epi32(1));

	return _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(f, _mm512_set1_epi32(0x7fff)),
						  lsb), 16);
}

static inline float fp16_scale_q8(cxlms_u16 h)
{
	cxlms_u32 bits = cxlms_fp16_to_f32_bits(h);
	float s;

	memcpy(&s, &bits, sizeof(s));
	return s * 0x1p-8f;	/* exact: every finite fp16 / 256 is a normal f32 */
}

/* --- fetch drivers ------------------------------------------------------ */

/* How far ahead in each plane to prefetch: covers DRAM latency at ~30 GB/s. */
#define PREFETCH_BYTES	4096
/* Into L2: L1 has too few miss buffers for 8 planes at this distance. */
#define PREFETCH_HINT	_MM_HINT_T1

/*
 * The first PREFETCH_BYTES of @cnt runs at once: no earlier block
 * prefetched them, and the hardware prefetcher starts every run cold.
 * (Only packed_plane0() uses it: in the block loops it cost more than it
 * saved, measured.)
 */
static __attribute__((noinline)) void prefetch_head(const cxlms_u8 *src, cxlms_u32 stride,
						    cxlms_u32 cnt, cxlms_u32 len)
{
	cxlms_u32 p, o;

	if (len > PREFETCH_BYTES)
		len = PREFETCH_BYTES;
	for (o = 64; o < len; o += 64)
		for (p = 0; p < cnt; p++)
			_mm_prefetch((const char *)src + p * stride + o, PREFETCH_HINT);
}

/* Block @blk0's planes; the short last block goes through zeroed bounce lines. */
HOT const cxlms_u8 *block_src(const struct simd_fetch *f, cxlms_u8 (*bounce)[64],
			      cxlms_u32 blk0, cxlms_u32 valid, cxlms_u32 first,
			      cxlms_u32 cnt, cxlms_u32 *sstride)
{
	const cxlms_u8 *src = f->tile + f->l->planes_off +
			      (cxlms_u64)first * f->l->plane_stride + blk0 / 8;

	if (valid == SIMD_BLOCK) {
		cxlms_u32 p;

		/*
		 * k runs at a 64 KiB stride plus the output: more streams than
		 * the hardware prefetcher follows well from DRAM.  Stay inside
		 * the plane bytes the fetch may read.
		 */
		if (blk0 + (PREFETCH_BYTES / SIMD_BLOCK_BYTES + 1) * SIMD_BLOCK <= f->pf_n)
#pragma GCC unroll 8
			for (p = 0; p < cnt; p++)
				_mm_prefetch((const char *)src + p * f->l->plane_stride +
					     PREFETCH_BYTES, PREFETCH_HINT);
		*sstride = f->l->plane_stride;
		return src;
	}
	*sstride = 64;
	return bounce_planes(bounce, src, f->l->plane_stride, cnt, valid);
}

/* 64 bytes; masked (slow on Zen 4) only when fewer are wanted. */
HOT void store64(cxlms_u8 *dst, __m512i v, cxlms_u32 n)
{
	if (n >= 64)
		_mm512_storeu_si512(dst, v);
	else
		_mm512_mask_storeu_epi8(dst, bytes_mask(n), v);
}

/* Elements of block @blk0 that exist. */
static inline cxlms_u32 block_valid(const struct simd_fetch *f, cxlms_u32 blk0)
{
	return f->n - blk0 < SIMD_BLOCK ? f->n - blk0 : SIMD_BLOCK;
}

/* INT8 -> s8 codes through the level LUT (k = 8: the codes themselves). */
HOT void int8_int(const struct simd_fetch *f, const struct lut8 *L, const cxlms_u32 k)
{
	cxlms_u8 bounce[8][64] ALIGN64;
	cxlms_u32 blk0, j, ss;
	__m512i U[8];

	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, k, &ss);

		decode_block(src, ss, k, 8 - k, U);
#pragma GCC unroll 8
		for (j = 0; j < 8; j++) if (64 * j < valid)
			store64(f->dst + blk0 + 64 * j, k == 8 ? U[j] : lut8_apply(L, U[j], k),
				valid - 64 * j);
	}
}

/*
 * PACKED at k <= 8 (INT8, and the top byte of 16-bit formats): block b's
 * stream starts at byte 64k*b, 8k bytes per 64 patterns.  A full store
 * runs past a group into bytes written right after it, so only blocks
 * not followed by a full one store masked.
 */
HOT void packed_low(const struct simd_fetch *f, const cxlms_u32 k)
{
	cxlms_u8 bounce[8][64] ALIGN64;
	cxlms_u32 blk0, j, ss;
	__m512i U[8];

	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, k, &ss);
		cxlms_u8 *d = f->dst + (cxlms_u64)blk0 * k / 8;
		/* Spill only into a following full block, which overwrites it all. */
		int last = blk0 + 2 * SIMD_BLOCK > f->n;

		decode_block(src, ss, k, 8 - k, U);
#pragma GCC unroll 8
		for (j = 0; j < 8; j++) if (64 * j < valid) {
			cxlms_u32 v = valid - 64 * j < 64 ? valid - 64 * j : 64;

			store_packed(d + 8 * k * j, U[j], k, (v * k + 7) / 8, !last);
		}
	}
}

#if X512_GFNI
/*
 * PACKED at k = 2 interleaves the bits of planes 1 (even stream bits) and
 * 0 (odd): gf2p8affineqb spreads each nibble of a plane byte over the even
 * or odd bits of a byte, vpermt2b interleaves the low- and high-nibble
 * bytes.  No per-element decode at all.
 */
HOT void packed_k2(const struct simd_fetch *f)
{
	/* Matrices (row 7 - i gives output bit i): nibble bit t -> bit 2t or 2t + 1. */
	const __m512i even_lo = _mm512_set1_epi64(0x0100020004000800ll);
	const __m512i odd_lo = _mm512_set1_epi64(0x0001000200040008ll);
	const __m512i even_hi = _mm512_set1_epi64(0x1000200040008000ll);
	const __m512i odd_hi = _mm512_set1_epi64(0x0010002000400080ll);
	cxlms_u8 bounce[8][64] ALIGN64;
	cxlms_u32 blk0, ss;

	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, 2, &ss);
		__m512i p0 = ld(src), p1 = ld(src + ss);
		__m512i lo = _mm512_or_si512(_mm512_gf2p8affine_epi64_epi8(p1, even_lo, 0),
					     _mm512_gf2p8affine_epi64_epi8(p0, odd_lo, 0));
		__m512i hi = _mm512_or_si512(_mm512_gf2p8affine_epi64_epi8(p1, even_hi, 0),
					     _mm512_gf2p8affine_epi64_epi8(p0, odd_hi, 0));
		cxlms_u8 *d = f->dst + (cxlms_u64)blk0 / 4;
		cxlms_u32 nbytes = (valid + 3) / 4;

		store64(d, PERM8(lo, zip8_lo, hi), nbytes);
		if (nbytes > 64)
			store64(d + 64, PERM8(lo, zip8_hi, hi), nbytes - 64);
	}
}
#endif

#if X512_GFNI
/*
 * PACKED at k = 3, 4 and 5 without decoding: each stream byte kB + t is a
 * bit spread (one gf2p8affineqb per plane) of byte B of the k planes,
 * OR-ed; vpermt2b then interleaves the k phase registers into stream
 * order.  k^2 + ~3k operations per block instead of a transpose plus a
 * pack per 64 elements.
 */
HOT void packed_direct(const struct simd_fetch *f, const cxlms_u32 k)
{
	cxlms_u8 bounce[8][64] ALIGN64;
	cxlms_u32 blk0, ss, p, t, r, q;

	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, k, &ss);
		cxlms_u8 *d = f->dst + (cxlms_u64)blk0 * k / 8;
		cxlms_u32 nbytes = (valid * k + 7) / 8;
		__m512i P[DIRECT_MAX], O[DIRECT_MAX];

#pragma GCC unroll 8
		for (p = 0; p < k; p++)
			P[p] = ld(src + p * ss);
#pragma GCC unroll 8
		for (t = 0; t < k; t++) {
			__m512i o = _mm512_gf2p8affine_epi64_epi8(P[0],
					_mm512_set1_epi64((long long)X(tab).dir_mat[k][0][t]), 0);

#pragma GCC unroll 8
			for (p = 1; p < k; p++)
				o = _mm512_or_si512(o, _mm512_gf2p8affine_epi64_epi8(P[p],
					_mm512_set1_epi64((long long)X(tab).dir_mat[k][p][t]), 0));
			O[t] = o;
		}
#pragma GCC unroll 8
		for (r = 0; r < k; r++) if (64 * r < nbytes) {
			__m512i R = _mm512_permutex2var_epi8(O[0], ld(X(tab).dir_idx[k][r][0]), O[1]);

#pragma GCC unroll 4
			for (q = 1; 2 * q < k; q++) {
				__mmask64 m = _cvtu64_mask64(X(tab).dir_sel[k][r][q]);
				__m512i idx = ld(X(tab).dir_idx[k][r][q]);

				if (2 * q + 1 < k)
					R = _mm512_mask_blend_epi8(m, R, _mm512_permutex2var_epi8(
						O[2 * q], idx, O[2 * q + 1]));
				else
					R = _mm512_mask_permutexvar_epi8(R, m, idx, O[2 * q]);
			}
			store64(d + 64 * r, R, nbytes - 64 * r);
		}
	}
}
#endif

/*
 * PACKED at k = 1 is plane 0 itself, bits past n cleared: a copy, with
 * the plane's head requested at once and the rest prefetched ahead (a
 * tile's run starts cold for the hardware prefetcher).
 */
static void packed_plane0(const struct simd_fetch *f)
{
	const cxlms_u8 *src = f->tile + f->l->planes_off;
	cxlms_u32 nb = (f->n + 7) / 8, pf_nb = (f->pf_n + 7) / 8, o = 0;

	prefetch_head(src, 0, 1, nb);
	for (; o + 64 <= nb; o += 64) {
		if (o + PREFETCH_BYTES < pf_nb)
			_mm_prefetch((const char *)src + o + PREFETCH_BYTES, PREFETCH_HINT);
		_mm512_storeu_si512(f->dst + o, ld(src + o));
	}
	memcpy(f->dst + o, src + o, nb - o);
	if (f->n % 8)
		f->dst[nb - 1] &= (cxlms_u8)((1u << (f->n % 8)) - 1);
}

/* INT8 -> f32 or bf16: level(u) * scale, one rounding, per scale-group run. */
HOT void int8_float(const struct simd_fetch *f, const cxlms_s16 *lvw, const cxlms_u32 k)
{
	const cxlms_u8 *scales = f->tile + f->l->scales_off;
	cxlms_u32 gpr = f->l->groups_per_row, blk0, j, i, e, end, sidx, ss;
	cxlms_u8 bounce[8][64] ALIGN64;
	float lvf[SIMD_BLOCK] ALIGN64;
	int f32 = f->out == CXLMS_OUT_F32;
	__m512i U[8];

	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, k, &ss);

		decode_block(src, ss, k, 8 - k, U);
		/* Levels as exact floats for the block: 2 KiB of L1 scratch. */
#pragma GCC unroll 8
		for (j = 0; j < 8; j++) if (64 * j < valid)
#pragma GCC unroll 8
			for (i = 0; i < 2; i++) {
				__m256i h = i ? _mm512_extracti64x4_epi64(U[j], 1) :
					    _mm512_castsi512_si256(U[j]);
				__m512i w = levels_w(lvw, _mm512_cvtepu8_epi16(h), k);
				float *o = lvf + 64 * j + 32 * i;

				_mm512_store_ps(o, _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(
						_mm512_castsi512_si256(w))));
				_mm512_store_ps(o + 16, _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(
						_mm512_extracti64x4_epi64(w, 1))));
			}
		for (e = blk0; e < blk0 + valid; e = end) {
			__m512 s;

			/* Scale groups count from the tile's first element. */
			end = simd_group_run(f->g, gpr, f->elem_base + e,
					     f->elem_base + blk0 + valid, &sidx) - f->elem_base;
			s = _mm512_set1_ps(fp16_scale_q8((cxlms_u16)(scales[2 * sidx] |
								    scales[2 * sidx + 1] << 8)));
			for (i = e; i < end; i += 16) {
				cxlms_u32 c = end - i < 16 ? end - i : 16;
				__mmask16 m = (__mmask16)bytes_mask(c);
				__m512 l = c == 16 ? _mm512_loadu_ps(lvf + (i - blk0)) :
					   _mm512_maskz_loadu_ps(m, lvf + (i - blk0));
				__m512 r = _mm512_mul_round_ps(l, s, _MM_FROUND_TO_NEAREST_INT |
								     _MM_FROUND_NO_EXC);
				__m256i b;

				if (f32) {
					if (c == 16)
						_mm512_storeu_ps(f->dst + 4 * (cxlms_u64)i, r);
					else
						_mm512_mask_storeu_ps(f->dst + 4 * (cxlms_u64)i,
								      m, r);
					continue;
				}
				b = _mm512_cvtepi32_epi16(f32_to_bf16_rne(_mm512_castps_si512(r)));
				if (c == 16)
					_mm256_storeu_si256((__m256i *)(f->dst +
									2 * (cxlms_u64)i), b);
				else
					_mm256_mask_storeu_epi16(f->dst + 2 * (cxlms_u64)i, m, b);
			}
		}
	}
}

/* Instantiate a block loop for each k so plane loops unroll. */
#define K_SWITCH(k, call_k)						\
	switch (k) {							\
	case 1: call_k(1); break;					\
	case 2: call_k(2); break;					\
	case 3: call_k(3); break;					\
	case 4: call_k(4); break;					\
	case 5: call_k(5); break;					\
	case 6: call_k(6); break;					\
	case 7: call_k(7); break;					\
	default: call_k(8); break;					\
	}

/* PACKED at k <= 8 of any format: the stream of the top k planes' patterns. */
static void packed_top(const struct simd_fetch *f)
{
	const cxlms_u32 k = f->k;

#define CALL_PACKED(K) packed_low(f, K)
	if (k == 1)
		packed_plane0(f);
#if X512_GFNI
	else if (k == 2)
		packed_k2(f);
	else if (k == 3)
		packed_direct(f, 3);	/* constant k: loops unroll */
	else if (k == 4)
		packed_direct(f, 4);
	else if (k == 5)
		packed_direct(f, 5);
#endif
	else
		K_SWITCH(k, CALL_PACKED);
}

struct int8_luts {
	struct lut8 L;
	cxlms_s16 lvw[128] ALIGN64;
};

static void int8_run(const struct simd_fetch *f, const void *arg)
{
	const struct int8_luts *t = arg;
	cxlms_u32 k = f->k;

	switch (f->out) {
	case CXLMS_OUT_INT:
#define CALL_INT(K) int8_int(f, &t->L, K)
		K_SWITCH(k, CALL_INT);
		break;
	case CXLMS_OUT_PACKED:
		packed_top(f);
		break;
	default:
#define CALL_FLOAT(K) int8_float(f, t->lvw, K)
		K_SWITCH(k, CALL_FLOAT);
		break;
	}
}

static int X(fetch_int8)(const struct simd_fetch *f)
{
	cxlms_s8 lut[128] ALIGN64;
	struct int8_luts t;
	cxlms_u32 k = f->k, u;

	pthread_once(&X(tab_once), X(tab_init));
	for (u = 0; u < 128; u++) {
		int used = k < 8 && u < (1u << k);

		lut[u] = used ? level_to_s8(f->levels[u]) : 0;
		t.lvw[u] = used ? f->levels[u] : 0;
	}
	lut8_init(&t.L, lut, k);
	simd_for_each_piece(f, int8_run, &t);
	return 0;
}

/* --- 16-bit fetch ------------------------------------------------------ */

/* Exact fp16 -> f32 bits of 16 patterns (zero-extended to u32), like the codec. */
HOT __m512i fp16_to_f32(__m512i v)
{
	__m512i sign = _mm512_slli_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0x8000)), 16);
	__m512i e = _mm512_and_si512(v, _mm512_set1_epi32(0x7c00));
	__m512i m = _mm512_and_si512(v, _mm512_set1_epi32(0x3ff));
	__m512i mag = _mm512_and_si512(v, _mm512_set1_epi32(0x7fff));
	__m512i normal = _mm512_add_epi32(_mm512_slli_epi32(mag, 13),
					  _mm512_set1_epi32(112 << 23));
	__m512i special = _mm512_or_si512(_mm512_set1_epi32(0x7f800000), _mm512_slli_epi32(m, 13));
	/* Subnormal m * 2^-24: exact in binary32 (m < 2^10, result normal). */
	__m512i sub = _mm512_castps_si512(_mm512_mul_round_ps(_mm512_cvtepi32_ps(m),
							      _mm512_set1_ps(0x1p-24f),
							      _MM_FROUND_TO_NEAREST_INT |
							      _MM_FROUND_NO_EXC));
	__mmask16 is_sub = _mm512_cmpeq_epi32_mask(e, _mm512_setzero_si512());
	__mmask16 is_spec = _mm512_cmpeq_epi32_mask(e, _mm512_set1_epi32(0x7c00));
	__m512i r = _mm512_mask_blend_epi32(is_sub, normal, sub);

	r = _mm512_mask_blend_epi32(is_spec, r, special);
	return _mm512_or_si512(r, sign);
}

#if X512_GFNI
/*
 * 32 patterns v >> d (k = 9..15 bits) to the LSB-first stream: pairs into
 * dwords, into qwords (4k bits), then each 128-bit lane's qword pair into
 * its k-byte run, compressed to 4k bytes by vpermb.
 */
HOT __m512i pack16(__m512i v, cxlms_u32 k)
{
	__m512i x = _mm512_srl_epi16(v, _mm_cvtsi32_si128((int)(16 - k)));

	/* Pairs, then pairs of pairs (see pack_qwords()); 2^15 does not fit vpmaddwd. */
	if (k < 15)
		x = _mm512_madd_epi16(x, _mm512_set1_epi32((int)(1 | (1u << (16 + k)))));
	else
		x = SEL32(_mm512_set1_epi32((1 << k) - 1), x, _mm512_srli_epi32(x, 16 - k));
	x = SEL64(_mm512_set1_epi64((long long)((1ull << (2 * k)) - 1)), x,
		  _mm512_srli_epi64(x, 32 - 2 * k));
	/* Even k: each qword's 4k bits are k / 2 whole bytes already. */
	if (k % 2 == 0)
		return _mm512_permutexvar_epi8(ld(X(tab).pack16[k - 8]), x);
	/*
	 * Odd k: 4k = 8m + 4 bits per qword, so a lane's run is q0's m bytes,
	 * a byte of q0's last nibble and q1's first, then q1's m bytes.  With
	 * q1 moved up a nibble every byte of the run is one byte of x, except
	 * that shared one: two vpermb, OR-ed (elsewhere both pick the same).
	 */
	x = _mm512_sllv_epi64(x, _mm512_set_epi64(4, 0, 4, 0, 4, 0, 4, 0));
	return _mm512_or_si512(_mm512_permutexvar_epi8(ld(X(tab).pack16[k - 8]), x),
			       _mm512_permutexvar_epi8(ld(X(tab).pack16b[k - 8]), x));
}
#endif

/* MIDPOINT: set the top dropped bit, except zeros and Inf/NaN (codec rules). */
HOT __m512i recon16_mid(__m512i v, __m512i exp_mask, __m512i mid_bit)
{
	__mmask32 fill = _mm512_mask_cmplt_epu16_mask(
				_mm512_test_epi16_mask(v, _mm512_set1_epi16(0x7fff)),
				_mm512_and_si512(v, exp_mask), exp_mask);

	/* The dropped bits are zero: adding the bit sets it. */
	return _mm512_mask_add_epi16(v, fill, v, mid_bit);
}

/*
 * The output stage of one 16-bit block, from the decoded top and low
 * bytes in L1 scratch.  Not specialised per k: one compact loop keeps the
 * code in the instruction cache (sixteen unrolled copies did not fit).
 */
static __attribute__((noinline)) void fetch16_out(const struct simd_fetch *f,
						  const cxlms_u8 *hi, const cxlms_u8 *lo,
						  cxlms_u32 blk0, cxlms_u32 valid, int last)
{
	const cxlms_u32 k = f->k, d = 16 - k, out = f->out;
	int bf16 = f->g->fmt == CXLMS_FMT_BF16;
	cxlms_u32 e_bits = bf16 ? 8 : 5, c, h;
	const __m512i exp_mask = _mm512_set1_epi16((short)(((1u << e_bits) - 1) << (15 - e_bits)));
	const __m512i mid_bit = _mm512_set1_epi16((short)(d ? 1u << (d - 1) : 0));
	int mid = f->recon == CXLMS_RECON_MIDPOINT && d && out != CXLMS_OUT_PACKED;

	(void)last;
	for (c = 0; c < valid; c += 32) {
		cxlms_u32 e0 = blk0 + c, cnt = valid - c < 32 ? valid - c : 32;
#if X512_GFNI
		/* One vpermt2b interleaves 32 low and 32 top bytes into patterns. */
		__m512i v = _mm512_permutex2var_epi8(
			_mm512_castsi256_si512(_mm256_load_si256((const __m256i *)(lo + c))),
			ld(X(tab).zip8_lo),
			_mm512_castsi256_si512(_mm256_load_si256((const __m256i *)(hi + c))));
#else
		__m512i h16 = _mm512_cvtepu8_epi16(_mm256_load_si256((const __m256i *)(hi + c)));
		__m512i v = _mm512_or_si512(_mm512_slli_epi16(h16, 8),
			_mm512_cvtepu8_epi16(_mm256_load_si256((const __m256i *)(lo + c))));
#endif

#if X512_GFNI
		if (out == CXLMS_OUT_PACKED && k > 8 && k < 16) {
			cxlms_u8 *dd = f->dst + (cxlms_u64)e0 * k / 8;

			if (!last)
				_mm512_storeu_si512(dd, pack16(v, k));
			else
				_mm512_mask_storeu_epi8(dd, bytes_mask((cnt * k + 7) / 8),
							pack16(v, k));
			continue;
		}
#endif
		if (mid) {
			/* Zeros stay zeros, Inf/NaN keep their dropped bits zero. */
			v = recon16_mid(v, exp_mask, mid_bit);
		}
		if (out == CXLMS_OUT_INT || out == CXLMS_OUT_PACKED) {
			/* PACKED at k = 16 is the patterns themselves. */
			if (cnt == 32)
				_mm512_storeu_si512(f->dst + 2 * (cxlms_u64)e0, v);
			else
				_mm512_mask_storeu_epi16(f->dst + 2 * (cxlms_u64)e0,
							 (__mmask32)bytes_mask(cnt), v);
			continue;
		}
		for (h = 0; h < 2 && 16 * h < cnt; h++) {
			__m256i vh = h ? _mm512_extracti64x4_epi64(v, 1) :
				     _mm512_castsi512_si256(v);
			__m512i w = _mm512_cvtepu16_epi32(vh);
			__m512i fb = bf16 ? _mm512_slli_epi32(w, 16) : fp16_to_f32(w);
			cxlms_u32 c16 = cnt - 16 * h < 16 ? cnt - 16 * h : 16;
			__mmask16 m16 = (__mmask16)bytes_mask(c16);
			cxlms_u64 e = e0 + 16 * h;
			__mmask16 nan;
			__m256i r;

			if (out == CXLMS_OUT_F32) {
				if (c16 == 16)
					_mm512_storeu_si512(f->dst + 4 * e, fb);
				else
					_mm512_mask_storeu_epi32(f->dst + 4 * e, m16, fb);
				continue;
			}
			/* NaN -> quiet NaN with its sign, else RNE. */
			nan = _mm512_cmpgt_epu32_mask(
				_mm512_and_si512(fb, _mm512_set1_epi32(0x7fffffff)),
				_mm512_set1_epi32(0x7f800000));
			r = _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, f32_to_bf16_rne(fb),
				_mm512_or_si512(_mm512_srli_epi32(fb, 16),
						_mm512_set1_epi32(0x40))));
			if (c16 == 16)
				_mm256_storeu_si256((__m256i *)(f->dst + 2 * e), r);
			else
				_mm256_mask_storeu_epi16(f->dst + 2 * e, m16, r);
		}
	}
}

/* 16-bit values: per block, the top byte (k <= 8 planes) and the low byte decoded to L1. */
HOT void fetch16_vals(const struct simd_fetch *f, const cxlms_u32 k)
{
	const cxlms_u32 khi = k < 8 ? k : 8, klo = k - khi;
	cxlms_u8 bounce[8][64] ALIGN64, bounce_lo[8][64] ALIGN64;
	cxlms_u8 hi[SIMD_BLOCK] ALIGN64, lo[SIMD_BLOCK] ALIGN64;
	cxlms_u32 blk0, j, ss, ss_lo;
	__m512i H[8], Lo[8];
	/* INT, and PACKED at k = 16: the (reconstructed) patterns themselves. */
	int patterns = f->out == CXLMS_OUT_INT || (f->out == CXLMS_OUT_PACKED && k == 16);
	int packed = f->out == CXLMS_OUT_PACKED && k > 8 && k < 16;
	cxlms_u32 e_bits = f->g->fmt == CXLMS_FMT_BF16 ? 8 : 5;
	const __m512i exp_mask = _mm512_set1_epi16((short)(((1u << e_bits) - 1) << (15 - e_bits)));
	const __m512i mid_bit = _mm512_set1_epi16((short)(k < 16 ? 1u << (15 - k) : 0));
	int mid = f->recon == CXLMS_RECON_MIDPOINT && k < 16 && f->out == CXLMS_OUT_INT;

	(void)patterns;
	(void)packed;
	(void)exp_mask;
	(void)mid_bit;
	(void)mid;
	if (!klo)
		memset(lo, 0, sizeof(lo));
	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, khi, &ss);

		decode_block(src, ss, khi, 0, H);
		if (klo) {
			src = block_src(f, bounce_lo, blk0, valid, 8, klo, &ss_lo);
			decode_block(src, ss_lo, klo, 0, Lo);
		}
#if X512_GFNI
		if (patterns && valid == SIMD_BLOCK) {
			/* The patterns straight from registers: interleave, recon, store. */
#pragma GCC unroll 8
			for (j = 0; j < 8; j++) {
				__m512i l = klo ? Lo[j] : _mm512_setzero_si512();
				__m512i v0 = PERM8(l, zip8_lo, H[j]), v1 = PERM8(l, zip8_hi, H[j]);
				cxlms_u8 *d = f->dst + 2 * ((cxlms_u64)blk0 + 64 * j);

				if (mid) {
					v0 = recon16_mid(v0, exp_mask, mid_bit);
					v1 = recon16_mid(v1, exp_mask, mid_bit);
				}
				_mm512_storeu_si512(d, v0);
				_mm512_storeu_si512(d + 64, v1);
			}
			continue;
		}
		if (packed && blk0 + 2 * SIMD_BLOCK <= f->n) {
			/* k = 9..15 bits: 4k bytes per 32 patterns, spilling into the next. */
			cxlms_u8 *d = f->dst + (cxlms_u64)blk0 * k / 8;

#pragma GCC unroll 8
			for (j = 0; j < 8; j++) {
				__m512i v0 = PERM8(Lo[j], zip8_lo, H[j]);
				__m512i v1 = PERM8(Lo[j], zip8_hi, H[j]);

				_mm512_storeu_si512(d + 8 * k * j, pack16(v0, k));
				_mm512_storeu_si512(d + 8 * k * j + 4 * k, pack16(v1, k));
			}
			continue;
		}
#endif
#pragma GCC unroll 8
		for (j = 0; j < 8; j++)
			_mm512_store_si512(hi + 64 * j, H[j]);
		if (klo)
#pragma GCC unroll 8
			for (j = 0; j < 8; j++)
				_mm512_store_si512(lo + 64 * j, Lo[j]);
		/* Spill only into a following full block (see packed_low()). */
		fetch16_out(f, hi, lo, blk0, valid, blk0 + 2 * SIMD_BLOCK > f->n);
	}
}

static void run_16(const struct simd_fetch *f, const void *arg)
{
	cxlms_u32 k = f->k;

	if (f->out == CXLMS_OUT_PACKED && k <= 8) {
		packed_top(f);
		return;
	}
	switch (k) {
#define CASE16(K) case K: fetch16_vals(f, K); break
	CASE16(1); CASE16(2); CASE16(3); CASE16(4); CASE16(5); CASE16(6);
	CASE16(7); CASE16(8); CASE16(9); CASE16(10); CASE16(11); CASE16(12);
	CASE16(13); CASE16(14); CASE16(15);
	default:
		fetch16_vals(f, 16);
		break;
	}
}

static int X(fetch_16)(const struct simd_fetch *f)
{
#if !X512_GFNI
	/* Odd-width packed streams above 8 bits need vpermb: the codec does them. */
	if (f->out == CXLMS_OUT_PACKED && f->k > 8 && f->k < 16)
		return SIMD_DECLINE;
#endif
	pthread_once(&X(tab_once), X(tab_init));
	simd_for_each_piece(f, run_16, NULL);
	return 0;
}

static const struct simd_ops X(ops) = {
	.fetch_int8 = X(fetch_int8),
	.fetch_16 = X(fetch_16),
	.place_int8 = X(place_int8),
	.place_16 = X(place_16),
	.pieces = true,
};
