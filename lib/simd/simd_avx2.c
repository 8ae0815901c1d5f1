// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * AVX2 kernels for CPUs without AVX-512 (Intel client parts, AMD Zen 2/3).
 *
 * Placement: vpmovmskb takes the top bit of 32 codes at a time (plane 0),
 * then the codes shift left by one.
 *
 * Fetch decodes half a block (32 bytes of each plane, 256 elements) in
 * registers, without GFNI's one-instruction 8x8 bit transpose:
 *  - the three delta swaps of an 8x8 bit transpose are done first, between
 *    whole plane registers (rows r and r + d, d = 1, 2, 4: 6 ops per pair,
 *    fewer where a row is still zero), since each only pairs bit c of one
 *    row with bit c +- d of another at the same byte position;
 *  - then a byte transpose (vpunpck 8/16/32 rounds, 24 ops) gathers byte B
 *    of the 8 rows into one qword: its byte c is element 8B + c.
 * That is ~100 ops per 256 elements at k = 8, against ~6 per plane per 32
 * elements when each plane's bits were spread with vpshufb and tested.
 * Plane p is row k - 1 - p for INT8 (the pattern u in the low bits) and
 * row 7 - p for 16-bit halves (the bits at the top of the byte).
 *
 * Outputs: INT, PACKED and F32/BF16 of INT8 at every k; of 16-bit formats
 * INT, F32/BF16 and PACKED at every k (9..15: 4k bits per qword, a lane's
 * two qwords joined by shifts).  PACKED at k = 1 is a copy of plane 0 and
 * at k = 2 a nibble spread of two planes (no decode); k = 4 joins nibble
 * pairs with vpmaddubsw + vpackuswb.  Levels and codes are looked up with
 * vpshufb on 16-entry tables, telescoped for k > 4 (see lut_apply()): 3
 * ops per extra chunk, which is what makes k = 5..7 slower than k = 4, 8.
 * Only PLANES (a memcpy) and Inf/NaN scales (the dispatcher) stay portable.
 *
 * Bit-exactness: INT8 F32/BF16 is one binary32 multiply of two exact
 * values (the Q8.8 level and scale / 256: no denormals, no overflow);
 * AVX2 has no embedded rounding, so MXCSR is saved, set to round to
 * nearest with all exceptions masked and no FTZ/DAZ, and restored
 * (status flags included) around the loop: the caller's MXCSR neither
 * changes the result nor is changed.  fp16 -> f32 is exact integer work
 * plus an exact multiply by 2^-24 for subnormals, independent of MXCSR.
 *
 * The short last block goes through zeroed bounce lines (reads stay inside
 * ceil(n/8) bytes per plane); outputs that would spill past the data go
 * through a bounce buffer, so no byte past data_len is written.
 */
#include <immintrin.h>
#include <string.h>

#include "simd_priv.h"

#define ALIGN64 __attribute__((aligned(64)))
/* The block helpers must melt into their loops: rows live in registers. */
#define HOT static inline __attribute__((always_inline))

/* How far ahead in each plane to prefetch, and where to (as simd_x512.h). */
#define PREFETCH_BYTES	4096
#define PREFETCH_HINT	_MM_HINT_T1

/* Elements per decoded half block: 32 bytes of each plane. */
#define HALF		(SIMD_BLOCK / 2)

static inline __m256i ld(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

static inline void st(void *p, __m256i v)
{
	_mm256_storeu_si256((__m256i *)p, v);
}

/* --- decode: k planes of half a block -> Q[8] -------------------------- */

/*
 * Swap bit c + d of row a with bit c of row b (c without bit d): one delta
 * swap of the 8x8 transpose, for 32 byte positions at once.  16-bit shifts
 * are fine: the mask drops what crosses a byte.
 */
HOT void bit_swap(__m256i *a, __m256i *b, const int d, const char mask)
{
	__m256i t = _mm256_and_si256(_mm256_xor_si256(_mm256_srli_epi16(*a, d), *b),
				     _mm256_set1_epi8(mask));

	*b = _mm256_xor_si256(*b, t);
	*a = _mm256_xor_si256(*a, _mm256_slli_epi16(t, d));
}

/* All pairs (r, r + d); rows still zero on both sides are skipped. */
HOT void swap_round(__m256i R[8], cxlms_u32 *live, const int d, const char mask)
{
	cxlms_u32 r;

#pragma GCC unroll 8
	for (r = 0; r < 8; r++) {
		if ((r & d) || !(((*live >> r) | (*live >> (r + d))) & 1))
			continue;
		if (!((*live >> (r + d)) & 1)) {
			/* b is zero: it takes a's moved bits, a keeps the rest. */
			R[r + d] = _mm256_and_si256(_mm256_srli_epi16(R[r], d),
						    _mm256_set1_epi8(mask));
			R[r] = _mm256_xor_si256(R[r], _mm256_slli_epi16(R[r + d], d));
		} else {
			bit_swap(&R[r], &R[r + d], d, mask);
		}
		*live |= 1u << r | 1u << (r + d);
	}
}

/*
 * Planes p < @cnt (32 bytes each at @stride) as rows @top - p.  Q[m] then
 * holds, per 128-bit lane l, plane bytes B = 16l + 2m and 16l + 2m + 1 as
 * qwords whose byte c is element 8B + c with row r in bit r: lane 0 is
 * elements 16m..16m+15 of the half, lane 1 elements 128 + 16m...
 */
HOT void decode_half(const cxlms_u8 *src, cxlms_u32 stride, const cxlms_u32 cnt,
		     const cxlms_u32 top, __m256i Q[8])
{
	__m256i R[8], S[8], T[8];
	cxlms_u32 live = 0, p, r, i, j;

#pragma GCC unroll 8
	for (r = 0; r < 8; r++)
		R[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
	for (p = 0; p < cnt; p++) {
		R[top - p] = ld(src + p * stride);
		live |= 1u << (top - p);
	}
	swap_round(R, &live, 1, 0x55);
	swap_round(R, &live, 2, 0x33);
	swap_round(R, &live, 4, 0x0f);
	/* S[2i], S[2i + 1]: rows 2i, 2i + 1 of bytes 0-7 and 8-15 (per lane). */
#pragma GCC unroll 4
	for (i = 0; i < 4; i++) {
		S[2 * i] = _mm256_unpacklo_epi8(R[2 * i], R[2 * i + 1]);
		S[2 * i + 1] = _mm256_unpackhi_epi8(R[2 * i], R[2 * i + 1]);
	}
	/* T[j]: rows 0-3 of bytes 4j..4j+3; T[4 + j]: rows 4-7. */
#pragma GCC unroll 2
	for (i = 0; i < 8; i += 4) {
		T[i + 0] = _mm256_unpacklo_epi16(S[i + 0], S[i + 2]);
		T[i + 1] = _mm256_unpackhi_epi16(S[i + 0], S[i + 2]);
		T[i + 2] = _mm256_unpacklo_epi16(S[i + 1], S[i + 3]);
		T[i + 3] = _mm256_unpackhi_epi16(S[i + 1], S[i + 3]);
	}
#pragma GCC unroll 4
	for (j = 0; j < 4; j++) {
		Q[2 * j] = _mm256_unpacklo_epi32(T[j], T[4 + j]);
		Q[2 * j + 1] = _mm256_unpackhi_epi32(T[j], T[4 + j]);
	}
}

/*
 * The last block of a tile: copy its valid plane bytes into zeroed lines
 * and clear the bits past n, so reads stay inside ceil(n/8) bytes per
 * plane and elements past n decode as zero (zero trailing PACKED bits).
 */
static const cxlms_u8 *bounce_planes(cxlms_u8 (*b)[64], const cxlms_u8 *planes,
				     cxlms_u32 stride, cxlms_u32 cnt, cxlms_u32 valid)
{
	cxlms_u32 nb = (valid + 7) / 8, p;

	for (p = 0; p < cnt; p++) {
		memset(b[p], 0, 64);
		memcpy(b[p], planes + p * stride, nb);
		if (valid % 8)
			b[p][nb - 1] &= (cxlms_u8)((1u << (valid % 8)) - 1);
	}
	return b[0];
}

/* Elements of block @blk0 that exist. */
static inline cxlms_u32 block_valid(const struct simd_fetch *f, cxlms_u32 blk0)
{
	return f->n - blk0 < SIMD_BLOCK ? f->n - blk0 : SIMD_BLOCK;
}

/* Block @blk0 of planes @first..: in place (prefetching ahead) or bounced. */
HOT const cxlms_u8 *block_src(const struct simd_fetch *f, cxlms_u8 (*bounce)[64],
			      cxlms_u32 blk0, cxlms_u32 valid, cxlms_u32 first,
			      const cxlms_u32 cnt, cxlms_u32 *sstride)
{
	const cxlms_u8 *src = f->tile + f->l->planes_off +
			      (cxlms_u64)first * f->l->plane_stride + blk0 / 8;

	if (valid == SIMD_BLOCK) {
		cxlms_u32 p;

		/* k runs 64 KiB apart: help the hardware prefetcher, within the fetch's bytes. */
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

/* Q[8] of byte elements to 256 bytes in element order. */
HOT void store_q8(cxlms_u8 *o, const __m256i Q[8])
{
	cxlms_u32 i;

#pragma GCC unroll 4
	for (i = 0; i < 4; i++) {
		st(o + 32 * i, _mm256_permute2x128_si256(Q[2 * i], Q[2 * i + 1], 0x20));
		st(o + HALF / 2 + 32 * i,
		   _mm256_permute2x128_si256(Q[2 * i], Q[2 * i + 1], 0x31));
	}
}

/* --- lookups ----------------------------------------------------------- */

/*
 * A 2^k-entry byte table as 16-entry vpshufb chunks, telescoped: t[0] is
 * chunk 0, t[c] chunk c XOR chunk c - 1.  Looking t[c] up with u - 16c
 * gives zero wherever u < 16c (the index is negative: bit 7 set), so the
 * XOR of all lookups is chunk u >> 4's entry.
 */
struct lut8 {
	__m256i t[8];
};

static void lut8_init(struct lut8 *L, const cxlms_u8 *tab, cxlms_u32 k)
{
	cxlms_u8 t[8][16];
	cxlms_u32 c, i, chunks = k > 4 ? 1u << (k - 4) : 1;

	for (c = 0; c < 8; c++)
		for (i = 0; i < 16; i++)
			t[c][i] = c < chunks && 16 * c + i < (1u << k) ? tab[16 * c + i] : 0;
	for (c = 0; c < 8; c++) {
		__m128i v = _mm_loadu_si128((const __m128i *)t[c]);

		if (c)
			v = _mm_xor_si128(v, _mm_loadu_si128((const __m128i *)t[c - 1]));
		L->t[c] = _mm256_broadcastsi128_si256(v);
	}
}

/* Entries of patterns u < 2^k (k < 8). */
HOT __m256i lut_apply(const struct lut8 *L, __m256i u, const cxlms_u32 k)
{
	const cxlms_u32 chunks = k > 4 ? 1u << (k - 4) : 1;
	__m256i r = _mm256_shuffle_epi8(L->t[0], u);
	cxlms_u32 c;

#pragma GCC unroll 8
	for (c = 1; c < chunks; c++) {
		u = _mm256_sub_epi8(u, _mm256_set1_epi8(16));
		r = _mm256_xor_si256(r, _mm256_shuffle_epi8(L->t[c], u));
	}
	return r;
}

/* Two tables sharing the index arithmetic (low and high bytes of levels). */
HOT void lut_apply2(const struct lut8 *La, const struct lut8 *Lb, __m256i u,
		    const cxlms_u32 k, __m256i *a, __m256i *b)
{
	const cxlms_u32 chunks = k > 4 ? 1u << (k - 4) : 1;
	cxlms_u32 c;

	*a = _mm256_shuffle_epi8(La->t[0], u);
	*b = _mm256_shuffle_epi8(Lb->t[0], u);
#pragma GCC unroll 8
	for (c = 1; c < chunks; c++) {
		u = _mm256_sub_epi8(u, _mm256_set1_epi8(16));
		*a = _mm256_xor_si256(*a, _mm256_shuffle_epi8(La->t[c], u));
		*b = _mm256_xor_si256(*b, _mm256_shuffle_epi8(Lb->t[c], u));
	}
}

/* Level rounded to the nearest code, half away from zero, clamped (codec). */
static inline cxlms_s8 level_to_s8(cxlms_s32 lv)
{
	cxlms_s32 r = lv >= 0 ? (lv + 128) >> 8 : -((-lv + 128) >> 8);

	return (cxlms_s8)(r > 127 ? 127 : r < -128 ? -128 : r);
}

/* --- placement ----------------------------------------------------------- */

static inline void encode_block(const __m256i C[16], cxlms_u8 *planes, cxlms_u32 stride)
{
	cxlms_u32 line[8][16] ALIGN64;
	cxlms_u32 j, p;

	for (j = 0; j < 16; j++) {
		__m256i c = C[j];

		for (p = 0; p < 8; p++) {
			line[p][j] = (cxlms_u32)_mm256_movemask_epi8(c);
			c = _mm256_add_epi8(c, c);
		}
	}
	for (p = 0; p < 8; p++) {
		_mm256_stream_si256((__m256i *)(planes + p * stride),
				    _mm256_load_si256((const __m256i *)line[p]));
		_mm256_stream_si256((__m256i *)(planes + p * stride + 32),
				    _mm256_load_si256((const __m256i *)(line[p] + 8)));
	}
}

static void place_int8_avx2(cxlms_u8 *planes, cxlms_u32 stride,
			    const cxlms_u8 *codes, cxlms_u32 nblk)
{
	__m256i C[16];
	cxlms_u32 b, j;

	for (b = 0; b < nblk; b++, codes += SIMD_BLOCK) {
		for (j = 0; j < 16; j++)
			C[j] = ld(codes + 32 * j);
		encode_block(C, planes + b * SIMD_BLOCK_BYTES, stride);
	}
	_mm_sfence();
}

static void place_16_avx2(cxlms_u8 *planes, cxlms_u32 stride,
			  const cxlms_u16 *vals, cxlms_u32 nblk, cxlms_u32 fmt)
{
	cxlms_u32 e_bits = fmt == CXLMS_FMT_BF16 ? 8 : 5, m_bits = 15 - e_bits;
	const __m256i exp_mask = _mm256_set1_epi16((short)(((1u << e_bits) - 1) << m_bits));
	const __m256i man_mask = _mm256_set1_epi16((short)((1u << m_bits) - 1));
	const __m256i qbit = _mm256_set1_epi16((short)(1u << (m_bits - 1)));
	const __m256i low = _mm256_set1_epi16(0xff);
	__m256i H[16], L[16], v[2];
	cxlms_u32 b, j, i;

	for (b = 0; b < nblk; b++, vals += SIMD_BLOCK) {
		for (j = 0; j < 16; j++) {
			for (i = 0; i < 2; i++) {
				__m256i x = ld(vals + 32 * j + 16 * i);
				__m256i no_man = _mm256_cmpeq_epi16(_mm256_and_si256(x, man_mask),
								    _mm256_setzero_si256());
				__m256i all_exp = _mm256_cmpeq_epi16(_mm256_and_si256(x, exp_mask),
								     exp_mask);
				__m256i nan = _mm256_andnot_si256(no_man, all_exp);

				v[i] = _mm256_or_si256(x, _mm256_and_si256(nan, qbit));
			}
			/* packus interleaves 128-bit lanes; permute4x64 restores order. */
			H[j] = _mm256_packus_epi16(_mm256_srli_epi16(v[0], 8),
						   _mm256_srli_epi16(v[1], 8));
			H[j] = _mm256_permute4x64_epi64(H[j], 0xd8);
			L[j] = _mm256_packus_epi16(_mm256_and_si256(v[0], low),
						   _mm256_and_si256(v[1], low));
			L[j] = _mm256_permute4x64_epi64(L[j], 0xd8);
		}
		encode_block(H, planes + b * SIMD_BLOCK_BYTES, stride);
		encode_block(L, planes + 8 * stride + b * SIMD_BLOCK_BYTES, stride);
	}
	_mm_sfence();
}

/* --- byte outputs: INT8 codes, PACKED at k <= 8 -------------------------- */

/* INT8 -> s8 codes through the LUT; at k = 8 the codes themselves (also PACKED). */
HOT void int8_int(const struct simd_fetch *f, const struct lut8 *L, const cxlms_u32 k)
{
	cxlms_u8 bounce[8][64] ALIGN64;
	cxlms_u8 obuf[SIMD_BLOCK] ALIGN64;
	cxlms_u32 blk0, h, m, ss;
	__m256i Q[8];

	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, k, &ss);
		cxlms_u8 *o = valid == SIMD_BLOCK ? f->dst + blk0 : obuf;

		for (h = 0; h < 2 && HALF * h < valid; h++) {
			decode_half(src + 32 * h, ss, k, k - 1, Q);
			if (k < 8)
#pragma GCC unroll 8
				for (m = 0; m < 8; m++)
					Q[m] = lut_apply(L, Q[m], k);
			store_q8(o + HALF * h, Q);
		}
		if (o == obuf)
			memcpy(f->dst + blk0, obuf, valid);
	}
}

/*
 * k-bit patterns (low bits of each byte, 1 < k < 8) -> 8k-bit runs at the
 * bottom of each qword.  Pairs, then pairs of pairs, by multiply-add; then
 * the qword's high dword joins at bit 4k (k = 6: 3-byte runs per dword).
 */
HOT __m256i pack_qwords(__m256i x, const cxlms_u32 k)
{
	__m256i keep;

	/* The factors as the unsigned operand: 2^7 does not fit a signed byte. */
	x = _mm256_maddubs_epi16(_mm256_set1_epi16((short)(1 | (1 << (8 + k)))), x);
	x = _mm256_madd_epi16(x, _mm256_set1_epi32((int)(1 | (1u << (16 + 2 * k)))));
	if (k == 6)
		return x;
	keep = _mm256_set1_epi64x((long long)((1ull << (4 * k)) - 1));
	return _mm256_or_si256(_mm256_and_si256(keep, x),
			       _mm256_andnot_si256(keep, _mm256_srli_epi64(x, 32 - 4 * k)));
}

/* vpshufb indices: each lane's two k-byte runs to its first 2k bytes. */
static __m256i pack_index(cxlms_u32 k)
{
	cxlms_u8 t[16];
	cxlms_u32 i;

	for (i = 0; i < 16; i++) {
		t[i] = (cxlms_u8)(i < 2 * k ? (i / k) * 8 + i % k : 0x80);
		if (k == 6)	/* 3-byte runs per dword */
			t[i] = (cxlms_u8)(i < 12 ? (i / 3) * 4 + i % 3 : 0x80);
	}
	return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
}

/*
 * PACKED at 1 < k < 8 (INT8, and the top byte of 16-bit formats): lane l
 * of Q[m] is 16 elements, 2k stream bytes.  16-byte stores in address
 * order, each one's tail overwritten by the next; the last two blocks
 * (whose tail nothing overwrites) go through a bounce buffer.
 */
HOT void packed_low(const struct simd_fetch *f, const cxlms_u32 k)
{
	const __m256i idx = pack_index(k);
	cxlms_u8 bounce[8][64] ALIGN64;
	cxlms_u8 obuf[SIMD_BLOCK + 16] ALIGN64;
	cxlms_u32 blk0, h, m, ss;
	__m256i Q[8];

	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, k, &ss);
		cxlms_u8 *d = f->dst + (cxlms_u64)blk0 * k / 8;
		int spill = blk0 + 2 * SIMD_BLOCK <= f->n;
		cxlms_u8 *o = spill ? d : obuf;

		for (h = 0; h < 2 && HALF * h < valid; h++) {
			cxlms_u8 *p = o + HALF / 8 * k * h;

			decode_half(src + 32 * h, ss, k, k - 1, Q);
			if (k == 4) {
				/*
				 * Nibble pairs are bytes: Y[m] lane 0 is stream bytes
				 * 16m..16m+15 of the half, lane 1 bytes 64 + 16m...
				 */
				const __m256i f4 = _mm256_set1_epi16(0x1001);
				__m256i Y[4];

#pragma GCC unroll 4
				for (m = 0; m < 4; m++)
					Y[m] = _mm256_packus_epi16(_mm256_maddubs_epi16(f4, Q[2 * m]),
								   _mm256_maddubs_epi16(f4, Q[2 * m + 1]));
				st(p, _mm256_permute2x128_si256(Y[0], Y[1], 0x20));
				st(p + 32, _mm256_permute2x128_si256(Y[2], Y[3], 0x20));
				st(p + 64, _mm256_permute2x128_si256(Y[0], Y[1], 0x31));
				st(p + 96, _mm256_permute2x128_si256(Y[2], Y[3], 0x31));
				continue;
			}
#pragma GCC unroll 8
			for (m = 0; m < 8; m++)
				Q[m] = _mm256_shuffle_epi8(pack_qwords(Q[m], k), idx);
#pragma GCC unroll 8
			for (m = 0; m < 8; m++)
				_mm_storeu_si128((__m128i *)(p + 2 * k * m),
						 _mm256_castsi256_si128(Q[m]));
#pragma GCC unroll 8
			for (m = 0; m < 8; m++)
				_mm_storeu_si128((__m128i *)(p + 16 * k + 2 * k * m),
						 _mm256_extracti128_si256(Q[m], 1));
		}
		if (!spill)
			memcpy(d, obuf, (valid * k + 7) / 8);
	}
}

/* PACKED at k = 1 is plane 0 itself, bits past n cleared. */
static void packed_plane0(const struct simd_fetch *f)
{
	const cxlms_u8 *src = f->tile + f->l->planes_off;
	cxlms_u32 nb = (f->n + 7) / 8, pf_nb = (f->pf_n + 7) / 8, o = 0;

	for (; o + 64 <= nb; o += 64) {
		if (o + PREFETCH_BYTES < pf_nb)
			_mm_prefetch((const char *)src + o + PREFETCH_BYTES, PREFETCH_HINT);
		st(f->dst + o, ld(src + o));
		st(f->dst + o + 32, ld(src + o + 32));
	}
	memcpy(f->dst + o, src + o, nb - o);
	if (f->n % 8)
		f->dst[nb - 1] &= (cxlms_u8)((1u << (f->n % 8)) - 1);
}

/*
 * PACKED at k = 2 interleaves the bits of plane 1 (even stream bits) and
 * plane 0 (odd): stream byte 2B + t holds plane byte B's nibble t of each,
 * spread over the even (odd) bits by a 16-entry vpshufb.  No decode.
 */
static void packed_k2(const struct simd_fetch *f)
{
	const __m256i even = _mm256_setr_epi8(0x00, 0x01, 0x04, 0x05, 0x10, 0x11, 0x14, 0x15,
					      0x40, 0x41, 0x44, 0x45, 0x50, 0x51, 0x54, 0x55,
					      0x00, 0x01, 0x04, 0x05, 0x10, 0x11, 0x14, 0x15,
					      0x40, 0x41, 0x44, 0x45, 0x50, 0x51, 0x54, 0x55);
	const __m256i odd = _mm256_slli_epi16(even, 1);
	const __m256i nib = _mm256_set1_epi8(0x0f);
	cxlms_u8 bounce[2][64] ALIGN64;
	cxlms_u8 obuf[SIMD_BLOCK / 4] ALIGN64;
	cxlms_u32 blk0, h, ss;

	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, 2, &ss);
		cxlms_u8 *d = f->dst + blk0 / 4;
		cxlms_u8 *o = valid == SIMD_BLOCK ? d : obuf;

		for (h = 0; h < 2; h++) {
			__m256i p0 = ld(src + 32 * h), p1 = ld(src + ss + 32 * h);
			__m256i lo = _mm256_or_si256(
				_mm256_shuffle_epi8(even, _mm256_and_si256(p1, nib)),
				_mm256_shuffle_epi8(odd, _mm256_and_si256(p0, nib)));
			__m256i hi = _mm256_or_si256(
				_mm256_shuffle_epi8(even, _mm256_and_si256(_mm256_srli_epi16(p1, 4), nib)),
				_mm256_shuffle_epi8(odd, _mm256_and_si256(_mm256_srli_epi16(p0, 4), nib)));
			__m256i a = _mm256_unpacklo_epi8(lo, hi);	/* bytes 0-15, 32-47 */
			__m256i b = _mm256_unpackhi_epi8(lo, hi);	/* 16-31, 48-63 */

			st(o + 64 * h, _mm256_permute2x128_si256(a, b, 0x20));
			st(o + 64 * h + 32, _mm256_permute2x128_si256(a, b, 0x31));
		}
		if (o == obuf)
			memcpy(d, obuf, (valid + 3) / 4);
	}
}

/* PACKED at k <= 8 of any format: the top k planes' patterns. */
static void packed_top(const struct simd_fetch *f)
{
	switch (f->k) {
	case 1: packed_plane0(f); break;
	case 2: packed_k2(f); break;
	case 3: packed_low(f, 3); break;
	case 4: packed_low(f, 4); break;
	case 5: packed_low(f, 5); break;
	case 6: packed_low(f, 6); break;
	case 7: packed_low(f, 7); break;
	default: int8_int(f, NULL, 8); break;	/* the top bytes themselves */
	}
}

/* --- INT8 -> F32 / BF16 ------------------------------------------------- */

/* f32 bits -> bf16, round to nearest even (no NaN can reach here). */
HOT __m256i f32_to_bf16_rne(__m256i f)
{
	__m256i lsb = _mm256_and_si256(_mm256_srli_epi32(f, 16), _mm256_set1_epi32(1));

	return _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(f, _mm256_set1_epi32(0x7fff)),
						  lsb), 16);
}

/* Two vectors of 8 bf16 (in u32) -> 16 bf16 in order. */
HOT __m256i pack_bf16(__m256i a, __m256i b)
{
	return _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
}

static inline float fp16_scale_q8(cxlms_u16 h)
{
	cxlms_u32 bits = cxlms_fp16_to_f32_bits(h);
	float s;

	memcpy(&s, &bits, sizeof(s));
	return s * 0x1p-8f;	/* exact: every finite fp16 / 256 is a normal f32 */
}

/* Scale / 256 of each element of block @blk0 (runs of a group), from sc[0]. */
static void block_scales(const struct simd_fetch *f, cxlms_u32 blk0, cxlms_u32 valid,
			 float *sc)
{
	const cxlms_u8 *scales = f->tile + f->l->scales_off;
	cxlms_u32 gpr = f->l->groups_per_row, e, end, sidx, i;

	for (e = blk0; e < blk0 + valid; e = end) {
		__m256 s;

		/* Scale groups count from the tile's first element. */
		end = simd_group_run(f->g, gpr, f->elem_base + e,
				     f->elem_base + blk0 + valid, &sidx) - f->elem_base;
		s = _mm256_set1_ps(fp16_scale_q8((cxlms_u16)(scales[2 * sidx] |
							    scales[2 * sidx + 1] << 8)));
		/* Up to 7 past the run: the next run (or the slack) takes them. */
		for (i = e - blk0; i < end - blk0; i += 8)
			_mm256_storeu_ps(sc + i, s);
	}
}

/* 8 Q8.8 levels (s16) times their scales / 256: one rounding (MXCSR set by the caller). */
HOT __m256 dequant8(__m128i lv, const float *sc)
{
	return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(lv)), _mm256_loadu_ps(sc));
}

HOT void int8_float(const struct simd_fetch *f, const struct lut8 *Llo,
		    const struct lut8 *Lhi, const cxlms_u32 k)
{
	const int f32 = f->out == CXLMS_OUT_F32;
	const cxlms_u32 osz = f32 ? 4 : 2;
	cxlms_u8 bounce[8][64] ALIGN64;
	cxlms_u8 obuf[4 * SIMD_BLOCK] ALIGN64;
	float sc[SIMD_BLOCK + 8] ALIGN64;
	cxlms_u32 blk0, h, m, ss;
	__m256i Q[8];

	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, k, &ss);
		cxlms_u8 *o = valid == SIMD_BLOCK ? f->dst + (cxlms_u64)osz * blk0 : obuf;

		if (valid < SIMD_BLOCK)
			memset(sc, 0, sizeof(sc));	/* lanes past n: defined, never stored */
		block_scales(f, blk0, valid, sc);
		for (h = 0; h < 2 && HALF * h < valid; h++) {
			decode_half(src + 32 * h, ss, k, k - 1, Q);
#pragma GCC unroll 8
			for (m = 0; m < 8; m++) {
				/* e0: elements of lane 0, e1 of lane 1 (see decode_half()). */
				cxlms_u32 e0 = HALF * h + 16 * m, e1 = e0 + HALF / 2;
				__m256i lo, hi, a, b;
				__m256 r0, r1, r2, r3;

				if (k == 8) {
					lo = _mm256_setzero_si256();	/* level = code * 256 */
					hi = Q[m];
				} else {
					lut_apply2(Llo, Lhi, Q[m], k, &lo, &hi);
				}
				a = _mm256_unpacklo_epi8(lo, hi);	/* e0.., e1.. */
				b = _mm256_unpackhi_epi8(lo, hi);	/* e0 + 8.., e1 + 8.. */
				r0 = dequant8(_mm256_castsi256_si128(a), sc + e0);
				r1 = dequant8(_mm256_castsi256_si128(b), sc + e0 + 8);
				r2 = dequant8(_mm256_extracti128_si256(a, 1), sc + e1);
				r3 = dequant8(_mm256_extracti128_si256(b, 1), sc + e1 + 8);
				if (f32) {
					_mm256_storeu_ps((float *)(o + 4 * e0), r0);
					_mm256_storeu_ps((float *)(o + 4 * e0 + 32), r1);
					_mm256_storeu_ps((float *)(o + 4 * e1), r2);
					_mm256_storeu_ps((float *)(o + 4 * e1 + 32), r3);
					continue;
				}
				st(o + 2 * e0, pack_bf16(f32_to_bf16_rne(_mm256_castps_si256(r0)),
							 f32_to_bf16_rne(_mm256_castps_si256(r1))));
				st(o + 2 * e1, pack_bf16(f32_to_bf16_rne(_mm256_castps_si256(r2)),
							 f32_to_bf16_rne(_mm256_castps_si256(r3))));
			}
		}
		if (o == obuf)
			memcpy(f->dst + (cxlms_u64)osz * blk0, obuf, (cxlms_u64)osz * valid);
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

/* MXCSR for the multiply: round to nearest even, all exceptions masked, no FTZ/DAZ. */
#define MXCSR_RNE_MASKED	0x1f80

struct int8_luts {
	struct lut8 L, Llo, Lhi;
};

/* One run over @f (a whole tile or one piece) with the tables of @arg. */
static void int8_run(const struct simd_fetch *f, const void *arg)
{
	const struct int8_luts *t = arg;
	cxlms_u32 k = f->k;
	unsigned int csr;

	switch (f->out) {
	case CXLMS_OUT_INT:
#define CALL_INT(K) int8_int(f, &t->L, K)
		K_SWITCH(k, CALL_INT);
		break;
	case CXLMS_OUT_PACKED:
		packed_top(f);
		break;
	default:
		/*
		 * The caller's MXCSR (rounding, FTZ/DAZ, unmasked traps) must not
		 * matter, and a piece's consumer runs under the caller's again.
		 */
		csr = _mm_getcsr();
		_mm_setcsr(MXCSR_RNE_MASKED);
#define CALL_FLOAT(K) int8_float(f, &t->Llo, &t->Lhi, K)
		K_SWITCH(k, CALL_FLOAT);
		_mm_setcsr(csr);	/* flags included: the inexact ones are ours */
		break;
	}
}

static int fetch_int8_avx2(const struct simd_fetch *f)
{
	cxlms_u8 code[128], lvlo[128], lvhi[128];
	struct int8_luts t;
	cxlms_u32 k = f->k, u;

	for (u = 0; u < 128; u++) {
		cxlms_u16 lv = u < (1u << k) && k < 8 ? (cxlms_u16)f->levels[u] : 0;

		code[u] = (cxlms_u8)level_to_s8((cxlms_s16)lv);
		lvlo[u] = (cxlms_u8)lv;
		lvhi[u] = (cxlms_u8)(lv >> 8);
	}
	if (f->out == CXLMS_OUT_INT)
		lut8_init(&t.L, code, k < 8 ? k : 7);
	if (f->out == CXLMS_OUT_F32 || f->out == CXLMS_OUT_BF16) {
		lut8_init(&t.Llo, lvlo, k < 8 ? k : 7);
		lut8_init(&t.Lhi, lvhi, k < 8 ? k : 7);
	}
	simd_for_each_piece(f, int8_run, &t);
	return 0;
}

/* --- 16-bit fetch -------------------------------------------------------- */

/* Exact fp16 -> f32 bits of 8 patterns (zero-extended to u32), like the codec. */
HOT __m256i fp16_to_f32(__m256i v)
{
	__m256i sign = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x8000)), 16);
	__m256i e = _mm256_and_si256(v, _mm256_set1_epi32(0x7c00));
	__m256i m = _mm256_and_si256(v, _mm256_set1_epi32(0x3ff));
	__m256i mag = _mm256_and_si256(v, _mm256_set1_epi32(0x7fff));
	__m256i normal = _mm256_add_epi32(_mm256_slli_epi32(mag, 13),
					  _mm256_set1_epi32(112 << 23));
	__m256i special = _mm256_or_si256(_mm256_set1_epi32(0x7f800000), _mm256_slli_epi32(m, 13));
	/*
	 * Subnormal m * 2^-24: m < 2^10 converts exactly and the product is a
	 * normal f32, so no rounding mode, FTZ or DAZ can touch it.
	 */
	__m256i sub = _mm256_castps_si256(_mm256_mul_ps(_mm256_cvtepi32_ps(m),
							_mm256_set1_ps(0x1p-24f)));
	__m256i is_sub = _mm256_cmpeq_epi32(e, _mm256_setzero_si256());
	__m256i is_spec = _mm256_cmpeq_epi32(e, _mm256_set1_epi32(0x7c00));
	__m256i r = _mm256_blendv_epi8(normal, sub, is_sub);

	r = _mm256_blendv_epi8(r, special, is_spec);
	return _mm256_or_si256(r, sign);
}

/* f32 bits -> bf16: NaN -> quiet NaN with its sign, else RNE (the codec's rule). */
HOT __m256i f32_to_bf16(__m256i fb)
{
	__m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(fb, _mm256_set1_epi32(0x7fffffff)),
					 _mm256_set1_epi32(0x7f800000));

	return _mm256_blendv_epi8(f32_to_bf16_rne(fb),
				  _mm256_or_si256(_mm256_srli_epi32(fb, 16), _mm256_set1_epi32(0x40)),
				  nan);
}

/*
 * 16 patterns v >> (16 - k), 8 < k < 16, to their 2k-byte LSB-first stream
 * as lane 0's first k bytes, lane 1's first k bytes: pairs into dwords,
 * pairs of pairs into qwords (4k bits), then a lane's two qwords joined
 * at bit 4k.
 */
HOT __m256i pack16(__m256i v, const cxlms_u32 k)
{
	__m256i x = _mm256_srli_epi16(v, (int)(16 - k)), keep, lo, hi;

	/* 2^15 does not fit vpmaddwd's signed factor: k = 15 shifts. */
	if (k < 15) {
		x = _mm256_madd_epi16(x, _mm256_set1_epi32((int)(1 | (1u << (16 + k)))));
	} else {
		keep = _mm256_set1_epi32((1 << k) - 1);
		x = _mm256_or_si256(_mm256_and_si256(keep, x),
				    _mm256_andnot_si256(keep, _mm256_srli_epi32(x, 16 - k)));
	}
	keep = _mm256_set1_epi64x((long long)((1ull << (2 * k)) - 1));
	x = _mm256_or_si256(_mm256_and_si256(keep, x),
			    _mm256_andnot_si256(keep, _mm256_srli_epi64(x, 32 - 2 * k)));
	/* Low qword: q0 | q1 << 4k; high qword: q1 >> (64 - 4k). */
	lo = _mm256_or_si256(x, _mm256_bsrli_epi128(_mm256_slli_epi64(x, 4 * k), 8));
	hi = _mm256_srli_epi64(x, 64 - 4 * k);
	return _mm256_blend_epi32(lo, hi, 0xcc);
}

HOT void fetch16_vals(const struct simd_fetch *f, const cxlms_u32 k)
{
	const cxlms_u32 khi = k < 8 ? k : 8, klo = k - khi, out = f->out;
	const cxlms_u32 osz = out == CXLMS_OUT_F32 ? 4 : 2;
	const int bf16 = f->g->fmt == CXLMS_FMT_BF16;
	const int packed = out == CXLMS_OUT_PACKED && k < 16;
	const cxlms_u32 e_bits = bf16 ? 8 : 5;
	const __m256i exp_mask = _mm256_set1_epi16((short)(((1u << e_bits) - 1) << (15 - e_bits)));
	const __m256i mid_bit = _mm256_set1_epi16((short)(k < 16 ? 1u << (15 - k) : 0));
	const int mid = f->recon == CXLMS_RECON_MIDPOINT && k < 16 && out != CXLMS_OUT_PACKED;
	cxlms_u8 bounce[8][64] ALIGN64, bounce_lo[8][64] ALIGN64;
	cxlms_u8 obuf[4 * SIMD_BLOCK + 16] ALIGN64;
	cxlms_u32 blk0, h, m, i, ss, ss_lo = 0;
	__m256i QH[8], QL[8];

	for (blk0 = 0; blk0 < f->n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = block_valid(f, blk0);
		const cxlms_u8 *src = block_src(f, bounce, blk0, valid, 0, khi, &ss);
		const cxlms_u8 *src_lo = klo ? block_src(f, bounce_lo, blk0, valid, 8, klo,
							 &ss_lo) : NULL;
		/* PACKED spills up to 16 - k bytes: only into a following full block. */
		int direct = packed ? blk0 + 2 * SIMD_BLOCK <= f->n : valid == SIMD_BLOCK;
		cxlms_u8 *d = f->dst + (packed ? (cxlms_u64)blk0 * k / 8 : (cxlms_u64)osz * blk0);
		cxlms_u8 *o = direct ? d : obuf;

		for (h = 0; h < 2 && HALF * h < valid; h++) {
			decode_half(src + 32 * h, ss, khi, 7, QH);
			if (klo)
				decode_half(src_lo + 32 * h, ss_lo, klo, 7, QL);
			if (packed) {
				/*
				 * Lane l of the pair of Q[m] is 16 patterns, 2k stream bytes
				 * at element HALF * h + 16m + 128l.  16-byte stores in address
				 * order (all of lane 0, then lane 1): each one's tail is
				 * overwritten by the next.
				 */
				cxlms_u8 *p = o + HALF / 8 * k * h;
				__m256i PA[8], PB[8];

#pragma GCC unroll 8
				for (m = 0; m < 8; m++) {
					__m256i l = klo ? QL[m] : _mm256_setzero_si256();

					PA[m] = pack16(_mm256_unpacklo_epi8(l, QH[m]), k);
					PB[m] = pack16(_mm256_unpackhi_epi8(l, QH[m]), k);
					_mm_storeu_si128((__m128i *)(p + 2 * k * m),
							 _mm256_castsi256_si128(PA[m]));
					_mm_storeu_si128((__m128i *)(p + 2 * k * m + k),
							 _mm256_castsi256_si128(PB[m]));
				}
#pragma GCC unroll 8
				for (m = 0; m < 8; m++) {
					_mm_storeu_si128((__m128i *)(p + 16 * k + 2 * k * m),
							 _mm256_extracti128_si256(PA[m], 1));
					_mm_storeu_si128((__m128i *)(p + 16 * k + 2 * k * m + k),
							 _mm256_extracti128_si256(PB[m], 1));
				}
				continue;
			}
#pragma GCC unroll 8
			for (m = 0; m < 8; m++) {
				__m256i l = klo ? QL[m] : _mm256_setzero_si256();
				__m256i a = _mm256_unpacklo_epi8(l, QH[m]);
				__m256i b = _mm256_unpackhi_epi8(l, QH[m]);
				__m256i v[2];
				cxlms_u32 e[2];

				e[0] = HALF * h + 16 * m;
				e[1] = e[0] + HALF / 2;
				v[0] = _mm256_permute2x128_si256(a, b, 0x20);
				v[1] = _mm256_permute2x128_si256(a, b, 0x31);
#pragma GCC unroll 2
				for (i = 0; i < 2; i++) {
					__m256i w = v[i], f0, f1;

					if (mid) {
						/* Zeros stay zeros, Inf/NaN keep dropped bits zero. */
						__m256i zero = _mm256_cmpeq_epi16(
							_mm256_and_si256(w, _mm256_set1_epi16(0x7fff)),
							_mm256_setzero_si256());
						__m256i spec = _mm256_cmpeq_epi16(
							_mm256_and_si256(w, exp_mask), exp_mask);

						w = _mm256_or_si256(w, _mm256_andnot_si256(
							_mm256_or_si256(zero, spec), mid_bit));
					}
					if (out == CXLMS_OUT_INT || out == CXLMS_OUT_PACKED) {
						st(o + 2 * e[i], w);
						continue;
					}
					if (bf16 && out == CXLMS_OUT_BF16) {
						/* bf16 -> f32 -> bf16 is the identity, but NaNs turn quiet. */
						__m256i nan = _mm256_cmpgt_epi16(
							_mm256_and_si256(w, _mm256_set1_epi16(0x7fff)),
							_mm256_set1_epi16(0x7f80));

						st(o + 2 * e[i], _mm256_or_si256(w, _mm256_and_si256(
							nan, _mm256_set1_epi16(0x40))));
						continue;
					}
					f0 = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(w));
					f1 = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(w, 1));
					if (bf16) {
						f0 = _mm256_slli_epi32(f0, 16);
						f1 = _mm256_slli_epi32(f1, 16);
					} else {
						f0 = fp16_to_f32(f0);
						f1 = fp16_to_f32(f1);
					}
					if (out == CXLMS_OUT_F32) {
						st(o + 4 * e[i], f0);
						st(o + 4 * e[i] + 32, f1);
					} else {
						st(o + 2 * e[i], pack_bf16(f32_to_bf16(f0),
									   f32_to_bf16(f1)));
					}
				}
			}
		}
		if (!direct)
			memcpy(d, obuf, packed ? ((cxlms_u64)valid * k + 7) / 8 :
					     (cxlms_u64)osz * valid);
	}
}

static void run_16(const struct simd_fetch *f, const void *arg)
{
	(void)arg;
	if (f->out == CXLMS_OUT_PACKED && f->k <= 8) {
		packed_top(f);
		return;
	}
	switch (f->k) {
#define CASE16(K) case K: fetch16_vals(f, K); break
	CASE16(6); CASE16(7); CASE16(8); CASE16(9); CASE16(10); CASE16(11);
	CASE16(12); CASE16(13); CASE16(14); CASE16(15);
	default:
		fetch16_vals(f, 16);
		break;
	}
}

static int fetch_16_avx2(const struct simd_fetch *f)
{
	if (!(f->out == CXLMS_OUT_PACKED && f->k <= 8) && f->k < 6)
		return SIMD_DECLINE;	/* no value output exists there (fetch_layout) */
	simd_for_each_piece(f, run_16, NULL);
	return 0;
}

static const struct simd_ops ops_avx2 = {
	.fetch_int8 = fetch_int8_avx2,
	.fetch_16 = fetch_16_avx2,
	.place_int8 = place_int8_avx2,
	.place_16 = place_16_avx2,
	.pieces = true,
};

const struct simd_ops *cxlms_simd_ops_avx2(void)
{
	return &ops_avx2;
}
