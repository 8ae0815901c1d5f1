// SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later
/*
 * View layouts (view_layout.h, docs/format.md "Views"): pure arithmetic on
 * a validated directory entry, no state, the same in the module and the
 * library.
 */
#include "view_layout.h"

static cxlms_u64 align_up(cxlms_u64 v)
{
	return (v + CXLMS_VIEW_ALIGN - 1) & ~(cxlms_u64)(CXLMS_VIEW_ALIGN - 1);
}

/* Fetch output bytes of tile @tile at @bits, or -errno (the codec's rule). */
static cxlms_s64 tile_out(const struct cxlms_dirent *d, cxlms_u32 tile,
			  cxlms_u32 bits, cxlms_u32 out, cxlms_u32 recon)
{
	struct cxlms_tile_geom g;
	struct cxlms_fetch_layout fl;
	int rc;

	cxlms_dirent_geom(d, &g);
	rc = cxlms_fetch_layout(&g, cxlms_dirent_tile_elems(d, tile), bits, out,
				recon, &fl);
	return rc ? rc : (cxlms_s64)fl.total;
}

int cxlms_view_sec_init(const struct cxlms_dirent *d, cxlms_u32 layout,
			cxlms_u32 bits, cxlms_u32 recon, cxlms_u64 off,
			struct cxlms_view_sec *sec)
{
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout l;
	cxlms_u32 planes = cxlms_fmt_planes(d->fmt), k;
	cxlms_u64 elems;
	cxlms_s64 n;

	memset(sec, 0, sizeof(*sec));
	if (off & (CXLMS_VIEW_ALIGN - 1) || !planes || !d->n_tiles)
		return -EINVAL;
	cxlms_dirent_geom(d, &g);
	if (cxlms_tile_layout(&g, &l))
		return -EINVAL;
	switch (layout) {
	case CXLMS_VIEW_PACKED:
		sec->out = CXLMS_OUT_PACKED;
		break;
	case CXLMS_VIEW_INT8:
		if (d->fmt != CXLMS_FMT_INT8)
			return -EINVAL;
		sec->out = CXLMS_OUT_INT;
		sec->width = 1;
		break;
	case CXLMS_VIEW_INT16:
		if (d->fmt != CXLMS_FMT_BF16 && d->fmt != CXLMS_FMT_FP16)
			return -EINVAL;
		sec->out = CXLMS_OUT_INT;
		sec->width = 2;
		break;
	default:
		return -EINVAL;
	}
	/* The fetch rule decides which k the layout serves, not a copy of it. */
	for (k = 1; k <= planes && !sec->min_bits; k++)
		if (tile_out(d, 0, k, sec->out, recon) >= 0)
			sec->min_bits = k;
	if (!sec->min_bits)
		return -EOPNOTSUPP;
	sec->max_bits = planes;
	if (bits != CXLMS_BITS_POLICY &&
	    (bits < sec->min_bits || bits > planes))
		return -EOPNOTSUPP;
	sec->bits = bits == CXLMS_BITS_POLICY ? planes : bits;
	sec->recon = recon;
	sec->off = off;
	sec->data_off = off;
	if (sec->out == CXLMS_OUT_PACKED) {
		/* Tile 0 is a full tile (or the only one): the largest slot. */
		n = tile_out(d, 0, sec->bits, sec->out, recon);
		if (n < 0)
			return (int)n;
		sec->tile_stride = align_up((cxlms_u64)n);
		if (sec->tile_stride && d->n_tiles > ~(cxlms_u64)0 / sec->tile_stride)
			return -EOVERFLOW;
		sec->len = sec->tile_stride * d->n_tiles;
		return 0;
	}
	elems = d->rows * d->cols;
	if (d->cols && elems / d->cols != d->rows)
		return -EOVERFLOW;
	sec->data_len = elems * sec->width;
	sec->len = align_up(sec->data_len);
	if (d->fmt == CXLMS_FMT_INT8) {
		sec->scales_off = off + sec->len;
		sec->scales_len = d->rows * l.groups_per_row * 2ull;
		sec->len = align_up(sec->len + sec->scales_len);
	}
	return 0;
}

cxlms_u32 cxlms_view_clamp_bits(const struct cxlms_view_sec *sec, cxlms_u32 bits)
{
	if (bits < sec->min_bits)
		return sec->min_bits;
	if (bits > sec->max_bits)
		return sec->max_bits;
	return bits;
}

static cxlms_u64 gcd_u64(cxlms_u64 a, cxlms_u64 b)
{
	while (b) {
		cxlms_u64 r = a % b;

		a = b;
		b = r;
	}
	return a;
}

int cxlms_view_unit_at(const struct cxlms_dirent *d,
		       const struct cxlms_view_sec *sec, cxlms_u64 pos,
		       struct cxlms_view_unit *u)
{
	cxlms_u64 rel, tb, m, data_end, t0, t1, tile;

	if (pos < sec->off || pos - sec->off >= sec->len)
		return -EINVAL;
	rel = pos - sec->off;
	if (sec->out == CXLMS_OUT_PACKED) {
		/* Slots are whole pages: one tile per unit. */
		tile = rel / sec->tile_stride;
		u->lo = sec->off + tile * sec->tile_stride;
		u->hi = u->lo + sec->tile_stride;
		u->t0 = (cxlms_u32)tile;
		u->t1 = (cxlms_u32)tile + 1;
		return 0;
	}
	data_end = sec->data_off + sec->data_len;
	/* Past the elements' last page: scales and padding only. */
	if (pos >= align_up(data_end)) {
		u->lo = align_up(data_end);
		u->hi = sec->off + sec->len;
		u->t0 = u->t1 = 0;
		return 0;
	}
	/*
	 * Tiles share a unit unless the boundary between them falls on a
	 * page: every full tile is tb bytes, so boundaries on a page are the
	 * multiples of m tiles.
	 */
	tb = (cxlms_u64)d->tile_rows * d->cols * sec->width;
	m = CXLMS_VIEW_ALIGN / gcd_u64(tb, CXLMS_VIEW_ALIGN);
	tile = (pos - sec->data_off) / tb;
	if (tile >= d->n_tiles)
		tile = d->n_tiles - 1;
	t0 = tile / m * m;
	t1 = t0 + m < d->n_tiles ? t0 + m : d->n_tiles;
	u->lo = sec->data_off + t0 * tb;
	if (t1 < d->n_tiles)
		u->hi = sec->data_off + t1 * tb;
	else if (data_end == align_up(data_end))
		u->hi = data_end;
	else
		u->hi = sec->off + sec->len;	/* the last page holds scales too */
	u->t0 = (cxlms_u32)t0;
	u->t1 = (cxlms_u32)t1;
	return 0;
}

int cxlms_view_tile_dst(const struct cxlms_dirent *d,
			const struct cxlms_view_sec *sec, cxlms_u32 tile,
			cxlms_u32 bits, cxlms_u64 *at, cxlms_u64 *len)
{
	cxlms_s64 n;

	if (tile >= d->n_tiles)
		return -EINVAL;
	if (sec->out == CXLMS_OUT_PACKED) {
		n = tile_out(d, tile, bits, sec->out, sec->recon);
		if (n < 0)
			return (int)n;
		if ((cxlms_u64)n > sec->tile_stride)
			return -EINVAL;
		*at = sec->off + (cxlms_u64)tile * sec->tile_stride;
		*len = (cxlms_u64)n;
		return 0;
	}
	*at = sec->data_off +
	      (cxlms_u64)tile * d->tile_rows * d->cols * sec->width;
	*len = (cxlms_u64)cxlms_dirent_tile_elems(d, tile) * sec->width;
	return 0;
}

int cxlms_view_tile_scales(const struct cxlms_dirent *d,
			   const struct cxlms_view_sec *sec, cxlms_u32 tile,
			   cxlms_u64 *at, cxlms_u64 *len, cxlms_u64 *tile_off)
{
	struct cxlms_tile_span sp;
	struct cxlms_tile_layout l;

	*at = *len = *tile_off = 0;
	if (tile >= d->n_tiles || cxlms_dirent_tile(d, tile, &sp, &l))
		return -EINVAL;
	if (!sec->scales_len)
		return 0;
	*at = sec->scales_off + sp.first_row * l.groups_per_row * 2ull;
	*len = (cxlms_u64)sp.rows * l.groups_per_row * 2ull;
	*tile_off = l.scales_off;
	return 0;
}

void cxlms_view_put(const struct cxlms_view_unit *u, void *dst, cxlms_u64 at,
		    const void *src, cxlms_u64 n)
{
	cxlms_u64 lo = at > u->lo ? at : u->lo;
	cxlms_u64 hi = at + n < u->hi ? at + n : u->hi;

	if (lo < hi)
		memcpy((cxlms_u8 *)dst + (lo - u->lo),
		       (const cxlms_u8 *)src + (lo - at), hi - lo);
}
