// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * AVX2 kernels for CPUs without AVX-512.  Placement: vpmovmskb takes the
 * top bit of 32 codes at a time (plane 0), then the codes shift left by
 * one.  Fetch: each plane's 4 bytes for 32 elements are broadcast, spread
 * to one byte per element by vpshufb and tested against the bit masks.
 * Handles INT outputs and byte-wide PACKED; the rest stays portable.
 */
#include <immintrin.h>
#include <string.h>

#include "simd_priv.h"

#define ALIGN64 __attribute__((aligned(64)))

static inline cxlms_u32 load_u32(const cxlms_u8 *p)
{
	cxlms_u32 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline __m256i ld(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

/* 0xff in byte i where bit i of @bits is set. */
static inline __m256i expand_bits(cxlms_u32 bits)
{
	const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
						2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bit = _mm256_set1_epi64x(0x8040201008040201ll);
	__m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);

	return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* 16 groups of 32 elements: plane p sets bit @top - p. */
static inline void decode_block(const cxlms_u8 *planes, cxlms_u32 stride,
				cxlms_u32 cnt, cxlms_u32 top, __m256i U[16])
{
	cxlms_u32 j, p;

	for (j = 0; j < 16; j++) {
		__m256i acc = _mm256_setzero_si256();

		for (p = 0; p < cnt; p++)
			acc = _mm256_or_si256(acc, _mm256_and_si256(
				expand_bits(load_u32(planes + p * stride + 4 * j)),
				_mm256_set1_epi8((char)(1u << (top - p)))));
		U[j] = acc;
	}
}

/* Last block: valid plane bytes into zeroed lines, bits past n cleared. */
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

static inline cxlms_s8 level_to_s8(cxlms_s32 lv)
{
	cxlms_s32 r = lv >= 0 ? (lv + 128) >> 8 : -((-lv + 128) >> 8);

	return (cxlms_s8)(r > 127 ? 127 : r < -128 ? -128 : r);
}

/* s8 lookup of patterns u < 2^k (k < 8): vpshufb per 16-entry chunk. */
static inline __m256i lut_apply(const __m256i *tab, __m256i u, cxlms_u32 k)
{
	__m256i hi, r;
	cxlms_u32 c;

	if (k <= 4)
		return _mm256_shuffle_epi8(tab[0], u);
	hi = _mm256_and_si256(_mm256_srli_epi16(u, 4), _mm256_set1_epi8(0x0f));
	r = _mm256_setzero_si256();
	for (c = 0; c < (1u << (k - 4)); c++)
		r = _mm256_blendv_epi8(r, _mm256_shuffle_epi8(tab[c], u),
				       _mm256_cmpeq_epi8(hi, _mm256_set1_epi8((char)c)));
	return r;
}

static int fetch_int8_avx2(const struct simd_fetch *f)
{
	const cxlms_u8 *planes = f->tile + f->l->planes_off;
	cxlms_u32 stride = f->l->plane_stride, k = f->k, n = f->n;
	cxlms_u8 bounce[8][64] ALIGN64;
	cxlms_u8 obuf[SIMD_BLOCK] ALIGN64;
	cxlms_s8 lut[128];
	__m256i tab[8], U[16];
	cxlms_u32 blk0, j, u;

	if (f->out != CXLMS_OUT_INT && !(f->out == CXLMS_OUT_PACKED && k == 8))
		return SIMD_DECLINE;
	for (u = 0; u < 128; u++)
		lut[u] = u < (1u << k) && k < 8 ? level_to_s8(f->levels[u]) : 0;
	for (j = 0; j < 8; j++)
		tab[j] = _mm256_broadcastsi128_si256(
			_mm_loadu_si128((const __m128i *)(lut + 16 * j)));

	for (blk0 = 0; blk0 < n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = n - blk0 < SIMD_BLOCK ? n - blk0 : SIMD_BLOCK;
		const cxlms_u8 *src = planes + blk0 / 8;
		cxlms_u8 *o = f->dst + blk0;	/* INT and 8-bit PACKED: one byte each */
		cxlms_u32 sstride = stride;

		if (valid < SIMD_BLOCK) {
			src = bounce_planes(bounce, src, stride, k, valid);
			sstride = 64;
			o = obuf;
		}
		decode_block(src, sstride, k, k - 1, U);
		for (j = 0; j < 16; j++)
			_mm256_storeu_si256((__m256i *)(o + 32 * j),
					    k == 8 ? U[j] : lut_apply(tab, U[j], k));
		if (o == obuf)
			memcpy(f->dst + blk0, obuf, valid);
	}
	return 0;
}

static int fetch_16_avx2(const struct simd_fetch *f)
{
	const cxlms_u8 *planes = f->tile + f->l->planes_off;
	cxlms_u32 stride = f->l->plane_stride, k = f->k, n = f->n;
	cxlms_u32 khi = k < 8 ? k : 8, klo = k - khi, d = 16 - k;
	cxlms_u32 e_bits = f->g->fmt == CXLMS_FMT_BF16 ? 8 : 5;
	const __m256i exp_mask = _mm256_set1_epi16((short)(((1u << e_bits) - 1) << (15 - e_bits)));
	const __m256i mid_bit = _mm256_set1_epi16((short)(d ? 1u << (d - 1) : 0));
	int mid = f->recon == CXLMS_RECON_MIDPOINT && d;
	cxlms_u8 bounce[16][64] ALIGN64;
	cxlms_u8 obuf[2 * SIMD_BLOCK] ALIGN64;
	__m256i H[16], L[16];
	cxlms_u32 blk0, j, i;

	/* INT, or PACKED at k = 16, which is the same patterns without recon. */
	if (f->out != CXLMS_OUT_INT && !(f->out == CXLMS_OUT_PACKED && k == 16))
		return SIMD_DECLINE;
	for (blk0 = 0; blk0 < n; blk0 += SIMD_BLOCK) {
		cxlms_u32 valid = n - blk0 < SIMD_BLOCK ? n - blk0 : SIMD_BLOCK;
		const cxlms_u8 *src = planes + blk0 / 8;
		cxlms_u8 *o = f->dst + 2 * (cxlms_u64)blk0;
		cxlms_u32 sstride = stride;

		if (valid < SIMD_BLOCK) {
			src = bounce_planes(bounce, src, stride, k, valid);
			sstride = 64;
			o = obuf;
		}
		decode_block(src, sstride, khi, 7, H);
		if (klo)
			decode_block(src + 8 * sstride, sstride, klo, 7, L);
		for (j = 0; j < 16; j++) {
			__m256i lo = klo ? L[j] : _mm256_setzero_si256();
			__m256i a = _mm256_unpacklo_epi8(lo, H[j]);	/* 0-7, 16-23 */
			__m256i b = _mm256_unpackhi_epi8(lo, H[j]);	/* 8-15, 24-31 */
			__m256i v[2];

			v[0] = _mm256_permute2x128_si256(a, b, 0x20);
			v[1] = _mm256_permute2x128_si256(a, b, 0x31);
			for (i = 0; i < 2; i++) {
				if (mid) {
					__m256i zero = _mm256_cmpeq_epi16(
						_mm256_and_si256(v[i], _mm256_set1_epi16(0x7fff)),
						_mm256_setzero_si256());
					__m256i spec = _mm256_cmpeq_epi16(
						_mm256_and_si256(v[i], exp_mask), exp_mask);
					__m256i keep = _mm256_or_si256(zero, spec);

					v[i] = _mm256_or_si256(v[i],
							       _mm256_andnot_si256(keep, mid_bit));
				}
				_mm256_storeu_si256((__m256i *)(o + 64 * j + 32 * i), v[i]);
			}
		}
		if (o == obuf)
			memcpy(f->dst + 2 * (cxlms_u64)blk0, obuf, 2 * valid);
	}
	return 0;
}

static const struct simd_ops ops_avx2 = {
	.fetch_int8 = fetch_int8_avx2,
	.fetch_16 = fetch_16_avx2,
	.place_int8 = place_int8_avx2,
	.place_16 = place_16_avx2,
};

const struct simd_ops *cxlms_simd_ops_avx2(void)
{
	return &ops_avx2;
}
