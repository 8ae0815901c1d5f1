// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The bit-plane codec: placement of weights into bit-planes, centroid
 * tables, and fetch of the top k planes into every output format.
 *
 * Freestanding and integer only: this file is built unchanged into
 * libcxlms and into cxlms.ko.  docs/format.md describes every byte.
 *
 * The hot loops work on 8 elements at a time: 8 code bytes (or 8 high /
 * 8 low bytes of 16-bit values) form an 8x8 bit matrix in a u64, and one
 * transpose turns it into 8 plane bytes, or back.
 */
#include "bitplane.h"

/* --- small helpers -------------------------------------------------- */

static inline cxlms_u16 get_le16(const cxlms_u8 *p)
{
	return (cxlms_u16)(p[0] | (p[1] << 8));
}

static inline void put_le16(cxlms_u8 *p, cxlms_u16 v)
{
	p[0] = (cxlms_u8)v;
	p[1] = (cxlms_u8)(v >> 8);
}

static inline void put_le32(cxlms_u8 *p, cxlms_u32 v)
{
	/* The store and all outputs are little-endian (see cxlms_compat.h). */
	memcpy(p, &v, sizeof(v));
}

/*
 * Transpose an 8x8 bit matrix held row-per-byte: bit c of byte r moves to
 * bit r of byte c.  Its own inverse.  Three rounds of swapping blocks of
 * 1x1, 2x2 and 4x4 bits across the diagonal.
 */
static inline cxlms_u64 transpose8(cxlms_u64 x)
{
	cxlms_u64 t;

	t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
	x = x ^ t ^ (t << 7);
	t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
	x = x ^ t ^ (t << 14);
	t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
	x = x ^ t ^ (t << 28);
	return x;
}

/* Float format parameters: exponent bits of a 16-bit stored format. */
static cxlms_u32 fmt_exp_bits(cxlms_u32 fmt)
{
	return fmt == CXLMS_FMT_BF16 ? 8 : 5;
}

cxlms_u32 cxlms_fmt_planes(cxlms_u32 fmt)
{
	switch (fmt) {
	case CXLMS_FMT_INT8:
		return 8;
	case CXLMS_FMT_BF16:
	case CXLMS_FMT_FP16:
		return 16;
	default:
		return 0;
	}
}

int cxlms_recon_resolve(cxlms_u32 fmt, cxlms_u32 recon)
{
	if (!cxlms_fmt_planes(fmt))
		return -EINVAL;
	switch (recon) {
	case CXLMS_RECON_DEFAULT:
		return fmt == CXLMS_FMT_INT8 ? CXLMS_RECON_TABLE : CXLMS_RECON_MIDPOINT;
	case CXLMS_RECON_FLOOR:
	case CXLMS_RECON_MIDPOINT:
		return (int)recon;
	case CXLMS_RECON_TABLE:
		return fmt == CXLMS_FMT_INT8 ? CXLMS_RECON_TABLE : -EOPNOTSUPP;
	default:
		return -EINVAL;
	}
}

/* --- layout --------------------------------------------------------- */

int cxlms_tile_layout(const struct cxlms_tile_geom *g,
		      struct cxlms_tile_layout *l)
{
	cxlms_u32 n_planes = cxlms_fmt_planes(g->fmt);
	cxlms_u32 elems, gpr = 0, scales_len = 0, table_off = 0, table_len = 0;
	cxlms_u32 planes_off = 0, plane_len, stride;

	if (!n_planes || !g->cols || !g->tile_rows ||
	    (g->flags & ~CXLMS_GEOM_SHORT_TAIL))
		return -EINVAL;
	if (__builtin_mul_overflow(g->tile_rows, g->cols, &elems) ||
	    elems > CXLMS_TILE_MAX_ELEMS)
		return -EINVAL;
	if (g->fmt == CXLMS_FMT_INT8) {
		if (!g->group_size)
			return -EINVAL;
		/* A group larger than a row is one group per row. */
		gpr = CXLMS_DIV_UP((cxlms_u64)g->cols, g->group_size);
		/* gpr <= cols and tile_rows * cols <= 2^24: no overflow below. */
		scales_len = g->tile_rows * gpr * 2;
		table_off = CXLMS_ALIGN_UP(scales_len, CXLMS_ALIGN);
		table_len = CXLMS_TABLE_BYTES;
		planes_off = CXLMS_ALIGN_UP(table_off + table_len, CXLMS_ALIGN);
	} else if (g->group_size) {
		return -EINVAL;
	}
	plane_len = CXLMS_DIV_UP(elems, 8);
	stride = CXLMS_ALIGN_UP(plane_len, CXLMS_ALIGN);
	/* Strides of a multiple of 4 KiB put every plane in the same cache sets. */
	if (stride % 4096 == 0)
		stride += CXLMS_ALIGN;

	l->n_planes = n_planes;
	l->elems = elems;
	l->groups_per_row = gpr;
	l->scales_off = 0;
	l->scales_len = scales_len;
	l->table_off = table_off;
	l->table_len = table_len;
	l->planes_off = planes_off;
	l->plane_len = plane_len;
	l->plane_stride = stride;
	l->tile_bytes = planes_off + (cxlms_u64)n_planes * stride;
	return 0;
}

int cxlms_tile_layout_n(const struct cxlms_tile_geom *g, cxlms_u32 n_elems,
			struct cxlms_tile_layout *l)
{
	struct cxlms_tile_geom s;
	int ret = cxlms_tile_layout(g, l);

	if (ret)
		return ret;
	if (!n_elems || n_elems > l->elems || n_elems % g->cols)
		return -EINVAL;
	if (!(g->flags & CXLMS_GEOM_SHORT_TAIL) || n_elems == l->elems)
		return 0;
	s = *g;
	s.tile_rows = n_elems / g->cols;
	return cxlms_tile_layout(&s, l);
}

int cxlms_place_check(const struct cxlms_tile_geom *g, cxlms_u32 n_elems,
		      cxlms_u32 elem_off, cxlms_u32 count,
		      struct cxlms_tile_layout *l)
{
	cxlms_u32 end;
	int ret = cxlms_tile_layout_n(g, n_elems, l);

	if (ret)
		return ret;
	if (elem_off % 8 || __builtin_add_overflow(elem_off, count, &end) ||
	    end > n_elems)
		return -EINVAL;
	/* Only the last range of a tile may end inside a plane byte. */
	if (end % 8 && end != n_elems)
		return -EINVAL;
	return 0;
}

/* --- placement ------------------------------------------------------ */

int cxlms_place_int8(void *tile, const struct cxlms_tile_geom *g,
		     cxlms_u32 n_elems, cxlms_u32 elem_off,
		     const cxlms_s8 *codes, cxlms_u32 count)
{
	struct cxlms_tile_layout l;
	cxlms_u8 *planes;
	const cxlms_u8 *src = (const cxlms_u8 *)codes;
	cxlms_u32 byte, i, p;
	int ret;

	if (g->fmt != CXLMS_FMT_INT8)
		return -EINVAL;
	ret = cxlms_place_check(g, n_elems, elem_off, count, &l);
	if (ret)
		return ret;

	planes = (cxlms_u8 *)tile + l.planes_off;
	byte = elem_off / 8;
	for (i = 0; i < count; i += 8, byte++) {
		cxlms_u64 x = 0, t;
		cxlms_u32 left = count - i;

		if (left >= 8) {
			memcpy(&x, src + i, 8);
		} else {
			/* Tail: elements past n_elems are zero bits. */
			cxlms_u32 j;

			for (j = 0; j < left; j++)
				x |= (cxlms_u64)src[i + j] << (8 * j);
		}
		t = transpose8(x);
		/* Byte b of t holds bit b of each code; plane p is bit 7 - p. */
		for (p = 0; p < 8; p++)
			planes[p * l.plane_stride + byte] = (cxlms_u8)(t >> (8 * (7 - p)));
	}
	return 0;
}

/* Quiet a signalling NaN: set the top mantissa bit, keep the payload. */
static cxlms_u16 quiet_snan(cxlms_u32 fmt, cxlms_u16 v)
{
	cxlms_u32 e_bits = fmt_exp_bits(fmt), m_bits = 15 - e_bits;
	cxlms_u16 exp_mask = (cxlms_u16)(((1u << e_bits) - 1) << m_bits);
	cxlms_u16 man_mask = (cxlms_u16)((1u << m_bits) - 1);

	if ((v & exp_mask) == exp_mask && (v & man_mask))
		v |= (cxlms_u16)(1u << (m_bits - 1));
	return v;
}

int cxlms_place_16(void *tile, const struct cxlms_tile_geom *g,
		   cxlms_u32 n_elems, cxlms_u32 elem_off,
		   const cxlms_u16 *vals, cxlms_u32 count)
{
	struct cxlms_tile_layout l;
	cxlms_u8 *planes;
	cxlms_u32 byte, i, j, p;
	int ret;

	if (g->fmt != CXLMS_FMT_BF16 && g->fmt != CXLMS_FMT_FP16)
		return -EINVAL;
	ret = cxlms_place_check(g, n_elems, elem_off, count, &l);
	if (ret)
		return ret;

	planes = (cxlms_u8 *)tile + l.planes_off;
	byte = elem_off / 8;
	for (i = 0; i < count; i += 8, byte++) {
		cxlms_u64 hi = 0, lo = 0;
		cxlms_u32 left = count - i < 8 ? count - i : 8;

		for (j = 0; j < left; j++) {
			cxlms_u16 v = quiet_snan(g->fmt, vals[i + j]);

			lo |= (cxlms_u64)(v & 0xff) << (8 * j);
			hi |= (cxlms_u64)(v >> 8) << (8 * j);
		}
		hi = transpose8(hi);
		lo = transpose8(lo);
		/* Plane p holds bit 15 - p: planes 0..7 from hi, 8..15 from lo. */
		for (p = 0; p < 8; p++) {
			planes[p * l.plane_stride + byte] = (cxlms_u8)(hi >> (8 * (7 - p)));
			planes[(p + 8) * l.plane_stride + byte] =
				(cxlms_u8)(lo >> (8 * (7 - p)));
		}
	}
	return 0;
}

/* An fp16 scale as significand and exponent: |s| = m * 2^(e - 25). */
struct fp16_parts {
	cxlms_u32 m;	/* 11-bit significand incl. hidden bit, 0 for zero */
	cxlms_u32 e;	/* biased exponent, 1 for subnormals and zero */
	cxlms_u32 neg;
	cxlms_u32 special;	/* Inf or NaN */
};

static inline struct fp16_parts fp16_split(cxlms_u16 h)
{
	struct fp16_parts s;
	cxlms_u32 e = (h >> 10) & 0x1f, man = h & 0x3ff;

	s.neg = h >> 15;
	s.special = e == 0x1f;
	if (e == 0) {
		s.m = man;
		s.e = 1;
	} else {
		s.m = man | 0x400;
		s.e = e;
	}
	return s;
}

int cxlms_place_scales(void *tile, const struct cxlms_tile_geom *g,
		       cxlms_u32 n_elems, const cxlms_u16 *scales_fp16,
		       cxlms_u32 n_scales)
{
	struct cxlms_tile_layout l;
	cxlms_u8 *dst;
	cxlms_u32 i;
	int ret;

	if (g->fmt != CXLMS_FMT_INT8)
		return -EINVAL;
	ret = cxlms_tile_layout_n(g, n_elems, &l);
	if (ret)
		return ret;
	if (n_scales != n_elems / g->cols * l.groups_per_row)
		return -EINVAL;
	/* Check everything first: an error leaves the tile untouched. */
	for (i = 0; i < n_scales; i++)
		if ((scales_fp16[i] & 0x7c00) == 0x7c00)
			return -EINVAL;
	dst = (cxlms_u8 *)tile + l.scales_off;
	for (i = 0; i < n_scales; i++)
		put_le16(dst + 2 * i, scales_fp16[i]);
	return 0;
}

/*
 * Walks the elements of a tile in row-major order and tracks which scale
 * group each one belongs to, without a division per element.
 */
struct group_iter {
	cxlms_u32 cols, group_size, gpr;
	cxlms_u32 col, gcol;	/* column, column inside the group */
	cxlms_u32 sidx;		/* scale index of the current element */
	cxlms_u32 row_base;	/* scale index of the row's first group */
};

static inline void group_iter_init(struct group_iter *it,
				   const struct cxlms_tile_geom *g,
				   cxlms_u32 gpr)
{
	it->cols = g->cols;
	it->group_size = g->group_size;
	it->gpr = gpr;
	it->col = 0;
	it->gcol = 0;
	it->sidx = 0;
	it->row_base = 0;
}

/* Advance one element; returns true when the group changed. */
static inline int group_iter_next(struct group_iter *it)
{
	if (++it->col == it->cols) {
		it->col = 0;
		it->gcol = 0;
		it->row_base += it->gpr;
		it->sidx = it->row_base;
		return 1;
	}
	if (++it->gcol == it->group_size) {
		it->gcol = 0;
		it->sidx++;
		return 1;
	}
	return 0;
}

/* Weight of a group, (m*m) >> 2*(emax - e): the squared scale, relative. */
static inline cxlms_u64 scale_weight(cxlms_u16 h, cxlms_u32 emax)
{
	struct fp16_parts s = fp16_split(h);
	cxlms_u32 shift;

	if (!s.m)
		return 0;
	shift = 2 * (emax - s.e);
	if (shift >= 64)
		return 0;
	return ((cxlms_u64)s.m * s.m) >> shift;
}

/* Q8.8 level of the floor and the midpoint of bucket u at k bits (k < 8). */
static inline cxlms_s32 level_floor(cxlms_u32 k, cxlms_u32 u)
{
	/* Sign-extend the k-bit pattern, then scale back to a code. */
	cxlms_s32 s = (cxlms_s32)(u << (32 - k)) >> (32 - k);

	return s * (1 << (8 - k)) * 256;
}

static inline cxlms_s32 level_mid(cxlms_u32 k, cxlms_u32 u)
{
	return level_floor(k, u) + (k < 8 ? (1 << (7 - k)) * 256 : 0);
}

/* Table entry index of bucket u at k bits: levels of k = 1..7 back to back. */
static inline cxlms_u32 table_index(cxlms_u32 k, cxlms_u32 u)
{
	return (1u << k) - 2 + u;
}

/*
 * Accumulate the weighted histogram of one sign half of the codes:
 * half 0 = codes 0..127 (bytes 0..127), half 1 = codes -128..-1 (bytes
 * 128..255).  Every bucket of every k lies inside one half, so the table
 * can be built half by half with a 1 KiB histogram (kernel stack).
 */
static void hist_half(const cxlms_u8 *tile, const struct cxlms_tile_geom *g,
		      const struct cxlms_tile_layout *l, cxlms_u32 n_elems,
		      cxlms_u32 emax, cxlms_u32 half, cxlms_u64 *W)
{
	const cxlms_u8 *planes = tile + l->planes_off;
	const cxlms_u8 *scales = tile + l->scales_off;
	struct group_iter it;
	cxlms_u64 w;
	cxlms_u32 i, j, p, byte;

	group_iter_init(&it, g, l->groups_per_row);
	w = scale_weight(get_le16(scales), emax);
	for (i = 0, byte = 0; i < n_elems; i += 8, byte++) {
		cxlms_u64 t = 0, x;
		cxlms_u32 n = n_elems - i < 8 ? n_elems - i : 8;

		for (p = 0; p < 8; p++)
			t |= (cxlms_u64)planes[p * l->plane_stride + byte] << (8 * (7 - p));
		x = transpose8(t);
		for (j = 0; j < n; j++) {
			cxlms_u32 b = (cxlms_u8)(x >> (8 * j));

			if ((b >> 7) == half)
				W[b & 0x7f] += w;
			if (group_iter_next(&it) && i + j + 1 < n_elems)
				w = scale_weight(get_le16(scales + 2 * it.sidx), emax);
		}
	}
}

int cxlms_tile_finalize(void *tile, const struct cxlms_tile_geom *g,
			cxlms_u32 n_elems)
{
	struct cxlms_tile_layout l;
	cxlms_u8 *t8 = tile;
	cxlms_u8 *table;
	cxlms_u64 W[128];
	cxlms_u32 n_scales, i, emax = 0, half, k, u;
	int ret;

	if (g->fmt != CXLMS_FMT_INT8)
		return -EINVAL;
	ret = cxlms_tile_layout_n(g, n_elems, &l);
	if (ret)
		return ret;
	n_scales = n_elems / g->cols * l.groups_per_row;
	for (i = 0; i < n_scales; i++) {
		cxlms_u16 h = get_le16(t8 + l.scales_off + 2 * i);
		struct fp16_parts s = fp16_split(h);

		if (s.special)
			return -EINVAL;
		if (s.m && s.e > emax)
			emax = s.e;
	}

	table = t8 + l.table_off;
	memset(table, 0, l.table_len);
	for (half = 0; half < 2; half++) {
		memset(W, 0, sizeof(W));
		hist_half(t8, g, &l, n_elems, emax, half, W);
		for (k = 1; k < 8; k++) {
			cxlms_u32 width = 1u << (8 - k);	/* codes per bucket */
			cxlms_u32 nb = 1u << (k - 1);		/* buckets per half */

			for (u = 0; u < nb; u++) {
				cxlms_u32 bu = half * nb + u;	/* bucket pattern */
				cxlms_s64 s0 = 0, s1 = 0, num, q;
				cxlms_u32 c;

				/*
				 * Bounds: w = m*m >> ... < 2^22 and at most 2^24
				 * elements, so s0 < 2^46; |code| <= 128 gives
				 * |s1| < 2^53 and |256 * s1| < 2^61; the rounding
				 * below doubles that: < 2^62 + 2^46, fits s64.
				 */
				for (c = u * width; c < (u + 1) * width; c++) {
					cxlms_s64 code = half ? (cxlms_s64)c - 128 : (cxlms_s64)c;

					s0 += (cxlms_s64)W[c];
					s1 += code * (cxlms_s64)W[c];
				}
				if (!s0) {
					q = level_mid(k, bu);
				} else {
					/* round(256 * s1 / s0), half away from zero */
					num = 256 * s1;
					if (num >= 0)
						q = cxlms_div_s64(2 * num + s0, 2 * s0);
					else
						q = -cxlms_div_s64(-2 * num + s0, 2 * s0);
				}
				put_le16(table + 2 * table_index(k, bu),
					 (cxlms_u16)(cxlms_s16)q);
			}
		}
	}
	return 0;
}

/* --- number conversions --------------------------------------------- */

cxlms_u32 cxlms_fp16_to_f32_bits(cxlms_u16 h)
{
	cxlms_u32 sign = (cxlms_u32)(h & 0x8000) << 16;
	cxlms_u32 e = (h >> 10) & 0x1f, m = h & 0x3ff, len;

	if (e == 0x1f)
		return sign | 0x7f800000 | (m << 13);
	if (e)
		return sign | ((e + 112) << 23) | (m << 13);
	if (!m)
		return sign;
	/* Subnormal m * 2^-24: normalise so the leading bit is the hidden one. */
	len = 32 - __builtin_clz(m);
	return sign | ((len + 102) << 23) | ((m << (24 - len)) & 0x7fffff);
}

cxlms_u16 cxlms_f32_bits_to_bf16(cxlms_u32 f)
{
	if ((f & 0x7fffffff) > 0x7f800000)
		return (cxlms_u16)((f >> 16) | 0x40);	/* quiet NaN, sign kept */
	/* Round to nearest, ties to even; a carry into the exponent is right. */
	return (cxlms_u16)((f + 0x7fff + ((f >> 16) & 1)) >> 16);
}

/*
 * level_q8 / 256 * scale = P * 2^(e - 33) with P = level_q8 * m, exact in
 * 27 bits; |P| >= 1 and e in 1..30 keep the result a normal binary32, so
 * only the significand needs rounding (to nearest, ties to even).
 */
static inline cxlms_u32 dequant_parts(cxlms_s32 level_q8, struct fp16_parts s)
{
	cxlms_u32 sign = ((level_q8 < 0) ^ s.neg) ? 0x80000000u : 0;
	cxlms_u32 mag, len, exp, q;

	if (s.special) {
		/* Invalid input (placement refuses it); behave like IEEE. */
		if (s.m & 0x3ff)	/* NaN scale: the NaN, quieted */
			return (s.neg << 31) | 0x7fc00000 | ((s.m & 0x3ff) << 13);
		return level_q8 ? sign | 0x7f800000 : 0x7fc00000;
	}
	mag = (cxlms_u32)(level_q8 < 0 ? -level_q8 : level_q8) * s.m;
	if (!mag)
		return sign;
	len = 32 - __builtin_clz(mag);
	exp = len + s.e + 93;	/* (len - 1) + (e - 33) + 127 */
	if (len <= 24) {
		q = mag << (24 - len);
	} else {
		cxlms_u32 sh = len - 24, rem = mag & ((1u << sh) - 1);
		cxlms_u32 halfway = 1u << (sh - 1);

		q = mag >> sh;
		if (rem > halfway || (rem == halfway && (q & 1)))
			q++;
		if (q >> 24) {
			q >>= 1;
			exp++;
		}
	}
	return sign | (exp << 23) | (q & 0x7fffff);
}

cxlms_u32 cxlms_dequant_f32_bits(cxlms_s32 level_q8, cxlms_u16 scale_fp16)
{
	return dequant_parts(level_q8, fp16_split(scale_fp16));
}

/* --- fetch ---------------------------------------------------------- */

static int out_needs_value(cxlms_u32 out)
{
	return out == CXLMS_OUT_INT || out == CXLMS_OUT_F32 || out == CXLMS_OUT_BF16;
}

cxlms_u32 cxlms_out_elem_bits(cxlms_u32 n_planes, cxlms_u32 bits, cxlms_u32 out)
{
	switch (out) {
	case CXLMS_OUT_PLANES:
	case CXLMS_OUT_PACKED:
		return bits;
	case CXLMS_OUT_INT:
		return n_planes;
	case CXLMS_OUT_F32:
		return 32;
	default:
		return 16;
	}
}

int cxlms_fetch_layout(const struct cxlms_tile_geom *g, cxlms_u32 n_elems,
		       cxlms_u32 bits, cxlms_u32 out, cxlms_u32 recon,
		       struct cxlms_fetch_layout *fl)
{
	struct cxlms_tile_layout l;
	cxlms_u64 n = n_elems, nb = CXLMS_DIV_UP(n, 8), end;
	int rc, ret = cxlms_tile_layout_n(g, n_elems, &l);

	if (ret)
		return ret;
	if (out < CXLMS_OUT_PLANES || out > CXLMS_OUT_BF16)
		return -EINVAL;
	rc = cxlms_recon_resolve(g->fmt, recon);
	if (rc < 0)
		return rc;
	if (!bits || bits > l.n_planes)
		return -EOPNOTSUPP;
	/* Values of a float format need its sign and whole exponent. */
	if (g->fmt != CXLMS_FMT_INT8 && out_needs_value(out) &&
	    bits < 1 + fmt_exp_bits(g->fmt))
		return -EOPNOTSUPP;

	memset(fl, 0, sizeof(*fl));
	if (out == CXLMS_OUT_PLANES)
		fl->data_len = bits * nb;	/* each plane padded to a byte */
	else
		fl->data_len = CXLMS_DIV_UP(n * cxlms_out_elem_bits(l.n_planes, bits, out), 8);
	fl->total = fl->data_len;
	fl->read_planes = nb;
	if (g->fmt == CXLMS_FMT_INT8) {
		cxlms_u64 scales_len = n / g->cols * l.groups_per_row * 2;

		fl->read_side = scales_len;
		if (rc == CXLMS_RECON_TABLE && bits < 8)
			fl->read_side += (1u << bits) * 2;
		end = fl->data_len;
		if (out != CXLMS_OUT_F32 && out != CXLMS_OUT_BF16) {
			fl->scales_off = CXLMS_ALIGN_UP(end, CXLMS_ALIGN);
			fl->scales_len = scales_len;
			end = fl->scales_off + scales_len;
		}
		if (out == CXLMS_OUT_PLANES || out == CXLMS_OUT_PACKED) {
			fl->levels_off = CXLMS_ALIGN_UP(end, CXLMS_ALIGN);
			fl->levels_len = (1u << bits) * 2;
			end = fl->levels_off + fl->levels_len;
		}
		if (end != fl->data_len)
			fl->total = CXLMS_ALIGN_UP(end, CXLMS_ALIGN);
	}
	return 0;
}

/* Gather the byte @byte of planes first..first+cnt-1 as rows 7, 6, ... of a matrix. */
static inline cxlms_u64 gather_planes(const cxlms_u8 *planes, cxlms_u32 stride,
				      cxlms_u32 first, cxlms_u32 cnt,
				      cxlms_u32 byte)
{
	cxlms_u64 t = 0;
	cxlms_u32 p;

	for (p = 0; p < cnt; p++)
		t |= (cxlms_u64)planes[(first + p) * stride + byte] << (8 * (7 - p));
	return t;
}

/* Levels (Q8.8) of the 2^k buckets for a resolved recon mode. */
static void int8_levels(const cxlms_u8 *tile, const struct cxlms_tile_layout *l,
			cxlms_u32 k, int recon, cxlms_s16 *lv)
{
	cxlms_u32 u;

	for (u = 0; u < (1u << k); u++) {
		if (k == 8)
			lv[u] = (cxlms_s16)((cxlms_s32)(cxlms_s8)u * 256);
		else if (recon == CXLMS_RECON_FLOOR)
			lv[u] = (cxlms_s16)level_floor(k, u);
		else if (recon == CXLMS_RECON_MIDPOINT)
			lv[u] = (cxlms_s16)level_mid(k, u);
		else
			lv[u] = (cxlms_s16)get_le16(tile + l->table_off +
						    2 * table_index(k, u));
	}
}

/* Level rounded to the nearest code, half away from zero, clamped. */
static inline cxlms_s8 level_to_s8(cxlms_s32 lv)
{
	cxlms_s32 r = lv >= 0 ? (lv + 128) >> 8 : -((-lv + 128) >> 8);

	if (r > 127)
		r = 127;
	if (r < -128)
		r = -128;
	return (cxlms_s8)r;
}

/* Emit k-bit patterns LSB-first into a byte stream. */
struct bit_writer {
	cxlms_u8 *dst;
	cxlms_u64 acc;
	cxlms_u32 nbits;
};

static inline void bw_put(struct bit_writer *bw, cxlms_u32 v, cxlms_u32 k)
{
	bw->acc |= (cxlms_u64)v << bw->nbits;
	bw->nbits += k;
	while (bw->nbits >= 8) {
		*bw->dst++ = (cxlms_u8)bw->acc;
		bw->acc >>= 8;
		bw->nbits -= 8;
	}
}

static inline void bw_flush(struct bit_writer *bw)
{
	if (bw->nbits)
		*bw->dst++ = (cxlms_u8)bw->acc;	/* trailing bits are zero */
}

/* Copy k planes back to back, clearing bits of the last byte past n. */
static void fetch_planes(const cxlms_u8 *planes, const struct cxlms_tile_layout *l,
			 cxlms_u32 n, cxlms_u32 k, cxlms_u8 *dst)
{
	cxlms_u32 nb = CXLMS_DIV_UP(n, 8), p;

	for (p = 0; p < k; p++) {
		memcpy(dst + p * nb, planes + p * l->plane_stride, nb);
		if (n % 8)
			dst[p * nb + nb - 1] &= (cxlms_u8)((1u << (n % 8)) - 1);
	}
}

static void fetch_int8(const cxlms_u8 *tile, const struct cxlms_tile_geom *g,
		       const struct cxlms_tile_layout *l, cxlms_u32 n,
		       cxlms_u32 k, cxlms_u32 out, int recon,
		       const struct cxlms_fetch_layout *fl, cxlms_u8 *dst)
{
	const cxlms_u8 *planes = tile + l->planes_off;
	const cxlms_u8 *scales = tile + l->scales_off;
	cxlms_s16 lv[256];
	cxlms_s8 lut8[256];
	struct group_iter it;
	struct bit_writer bw = { .dst = dst };
	struct fp16_parts sp;
	cxlms_u32 i, j, byte, sh = 8 - k;

	if (out == CXLMS_OUT_PLANES) {
		fetch_planes(planes, l, n, k, dst);
	} else {
		int8_levels(tile, l, k, recon, lv);
		if (out == CXLMS_OUT_INT)
			for (j = 0; j < (1u << k); j++)
				lut8[j] = level_to_s8(lv[j]);
		group_iter_init(&it, g, l->groups_per_row);
		sp = fp16_split(get_le16(scales));
		for (i = 0, byte = 0; i < n; i += 8, byte++) {
			cxlms_u64 x = transpose8(gather_planes(planes, l->plane_stride,
							       0, k, byte));
			cxlms_u32 cnt = n - i < 8 ? n - i : 8;

			switch (out) {
			case CXLMS_OUT_PACKED:
				if (k == 8 && cnt == 8) {
					memcpy(bw.dst, &x, 8);
					bw.dst += 8;
					break;
				}
				for (j = 0; j < cnt; j++)
					bw_put(&bw, (cxlms_u8)(x >> (8 * j)) >> sh, k);
				break;
			case CXLMS_OUT_INT:
				for (j = 0; j < cnt; j++)
					dst[i + j] = (cxlms_u8)lut8[(cxlms_u8)(x >> (8 * j)) >> sh];
				break;
			default:	/* F32, BF16 */
				for (j = 0; j < cnt; j++) {
					cxlms_u32 u = (cxlms_u8)(x >> (8 * j)) >> sh;
					cxlms_u32 f = dequant_parts(lv[u], sp);

					if (out == CXLMS_OUT_F32)
						put_le32(dst + 4 * (i + j), f);
					else
						put_le16(dst + 2 * (i + j),
							 cxlms_f32_bits_to_bf16(f));
					if (group_iter_next(&it) && i + j + 1 < n)
						sp = fp16_split(get_le16(scales + 2 * it.sidx));
				}
				break;
			}
		}
		if (out == CXLMS_OUT_PACKED)
			bw_flush(&bw);
	}

	/* Side data; alignment gaps are zeroed so no stale bytes leak out. */
	if (fl->scales_len) {
		memset(dst + fl->data_len, 0, fl->scales_off - fl->data_len);
		memcpy(dst + fl->scales_off, scales, fl->scales_len);
	}
	if (fl->levels_len) {
		cxlms_u64 end = fl->scales_off + fl->scales_len;

		if (out == CXLMS_OUT_PLANES)
			int8_levels(tile, l, k, recon, lv);
		memset(dst + end, 0, fl->levels_off - end);
		for (j = 0; j < (1u << k); j++)
			put_le16(dst + fl->levels_off + 2 * j, (cxlms_u16)lv[j]);
	}
	if (fl->total > fl->data_len) {
		cxlms_u64 end = fl->levels_len ? fl->levels_off + fl->levels_len :
				fl->scales_off + fl->scales_len;

		memset(dst + end, 0, fl->total - end);
	}
}

/* Fill the d = 16 - k dropped bits of a float pattern per the recon mode. */
static inline cxlms_u16 recon16(cxlms_u16 v, cxlms_u32 d, cxlms_u16 exp_mask,
				int recon)
{
	if (!d || recon != CXLMS_RECON_MIDPOINT)
		return v;
	/* Zeros stay zeros, Inf stays Inf, a NaN keeps its kept payload. */
	if (!(v & 0x7fff) || (v & exp_mask) == exp_mask)
		return v;
	return v | (cxlms_u16)(1u << (d - 1));
}

static void fetch_16(const cxlms_u8 *tile, const struct cxlms_tile_geom *g,
		     const struct cxlms_tile_layout *l, cxlms_u32 n,
		     cxlms_u32 k, cxlms_u32 out, int recon, cxlms_u8 *dst)
{
	const cxlms_u8 *planes = tile + l->planes_off;
	cxlms_u32 e_bits = fmt_exp_bits(g->fmt);
	cxlms_u16 exp_mask = (cxlms_u16)(((1u << e_bits) - 1) << (15 - e_bits));
	cxlms_u32 khi = k < 8 ? k : 8, klo = k - khi, d = 16 - k;
	struct bit_writer bw = { .dst = dst };
	cxlms_u32 i, j, byte;

	if (out == CXLMS_OUT_PLANES) {
		fetch_planes(planes, l, n, k, dst);
		return;
	}
	for (i = 0, byte = 0; i < n; i += 8, byte++) {
		cxlms_u64 hi = transpose8(gather_planes(planes, l->plane_stride, 0, khi, byte));
		cxlms_u64 lo = klo ? transpose8(gather_planes(planes, l->plane_stride,
							      8, klo, byte)) : 0;
		cxlms_u32 cnt = n - i < 8 ? n - i : 8;

		for (j = 0; j < cnt; j++) {
			cxlms_u16 v = (cxlms_u16)(((cxlms_u8)(hi >> (8 * j)) << 8) |
						  (cxlms_u8)(lo >> (8 * j)));
			cxlms_u32 f;

			switch (out) {
			case CXLMS_OUT_PACKED:
				bw_put(&bw, v >> d, k);
				break;
			case CXLMS_OUT_INT:
				put_le16(dst + 2 * (i + j), recon16(v, d, exp_mask, recon));
				break;
			default:
				v = recon16(v, d, exp_mask, recon);
				f = g->fmt == CXLMS_FMT_BF16 ? (cxlms_u32)v << 16 :
				    cxlms_fp16_to_f32_bits(v);
				if (out == CXLMS_OUT_F32)
					put_le32(dst + 4 * (i + j), f);
				else
					put_le16(dst + 2 * (i + j), cxlms_f32_bits_to_bf16(f));
				break;
			}
		}
	}
	if (out == CXLMS_OUT_PACKED)
		bw_flush(&bw);
}

cxlms_s64 cxlms_fetch_tile(const void *tile, const struct cxlms_tile_geom *g,
			   cxlms_u32 n_elems, cxlms_u32 bits, cxlms_u32 out,
			   cxlms_u32 recon, void *dst, cxlms_u64 dst_len)
{
	struct cxlms_fetch_layout fl;
	struct cxlms_tile_layout l;
	int ret = cxlms_fetch_layout(g, n_elems, bits, out, recon, &fl);

	if (ret)
		return ret;
	if (dst_len < fl.total)
		return -ENOSPC;
	cxlms_tile_layout_n(g, n_elems, &l);	/* cannot fail after fetch_layout */
	recon = (cxlms_u32)cxlms_recon_resolve(g->fmt, recon);
	if (g->fmt == CXLMS_FMT_INT8)
		fetch_int8(tile, g, &l, n_elems, bits, out, (int)recon, &fl, dst);
	else
		fetch_16(tile, g, &l, n_elems, bits, out, (int)recon, dst);
	return (cxlms_s64)fl.total;
}
