/* SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later */
/*
 * View layouts: where the bytes of a tensor seen at k bits lie in a view
 * (docs/format.md, "Views").  One copy of the rule for the module's mmap
 * windows (driver/view.c) and the library's file-backend views
 * (lib/view.c), so both give the same bytes at the same offsets.
 *
 * A view is a run of sections, one per tensor, each starting and ending on
 * a CXLMS_VIEW_ALIGN boundary.  A section is cut into fill units: page
 * ranges decoded whole, at one k per tile, so a tile never holds bytes of
 * two precisions.  A unit holds whole tiles (a PACKED slot, or the pages a
 * run of INT tiles covers: tiles that share a page share a unit) and, for
 * the last unit of a section, the bits-independent rest (scales, padding).
 */
#ifndef CXLMS_VIEW_LAYOUT_H
#define CXLMS_VIEW_LAYOUT_H

#include "cxlms_compat.h"
#include "store_format.h"

/* Section alignment; also the page size views are served in. */
#define CXLMS_VIEW_ALIGN	4096u

/**
 * struct cxlms_view_sec - one tensor's section of a view
 * @off, @len: the section, view offsets, CXLMS_VIEW_ALIGN aligned
 * @tile_stride: PACKED: bytes between tile slots (tile t at @off + t *
 *	@tile_stride); INT layouts: 0
 * @data_off, @data_len: INT layouts: the elements, row-major (PACKED: @off
 *	and 0)
 * @scales_off, @scales_len: INT8 layout: every row's fp16 group scales
 * @out: the fetch output a tile is decoded with (CXLMS_OUT_PACKED, _INT)
 * @width: INT: bytes per element; PACKED: 0
 * @min_bits, @max_bits: the k range the layout serves for this tensor
 * @bits: the k the section was sized for (CXLMS_BITS_POLICY: @max_bits)
 */
struct cxlms_view_sec {
	cxlms_u64 off, len;
	cxlms_u64 tile_stride;
	cxlms_u64 data_off, data_len;
	cxlms_u64 scales_off, scales_len;
	cxlms_u32 out;
	cxlms_u32 width;
	cxlms_u32 min_bits, max_bits;
	cxlms_u32 bits;
	cxlms_u32 recon;
};

/**
 * struct cxlms_view_unit - a fill unit, view offsets
 * @lo, @hi: CXLMS_VIEW_ALIGN aligned, lo < hi
 * @t0, @t1: the tiles whose decoded bytes lie in it, [t0, t1) (t0 == t1:
 *	bits-independent bytes only)
 */
struct cxlms_view_unit {
	cxlms_u64 lo, hi;
	cxlms_u32 t0, t1;
};

/*
 * The section of tensor @d in @layout (CXLMS_VIEW_*) at @bits (1..planes or
 * CXLMS_BITS_POLICY) and @recon, starting at view offset @off (aligned).
 * 0, -EINVAL a layout the format does not have or an unaligned @off,
 * -EOPNOTSUPP bits the format cannot serve in the layout, -EOVERFLOW.
 */
int cxlms_view_sec_init(const struct cxlms_dirent *d, cxlms_u32 layout,
			cxlms_u32 bits, cxlms_u32 recon, cxlms_u64 off,
			struct cxlms_view_sec *sec);

/* The k a tile is decoded at when a policy asks for @bits: clamped to the layout. */
cxlms_u32 cxlms_view_clamp_bits(const struct cxlms_view_sec *sec, cxlms_u32 bits);

/*
 * The unit of @sec holding view offset @pos.  0, or -EINVAL if @pos is
 * outside the section.
 */
int cxlms_view_unit_at(const struct cxlms_dirent *d,
		       const struct cxlms_view_sec *sec, cxlms_u64 pos,
		       struct cxlms_view_unit *u);

/*
 * Where tile @tile's decoded bytes go: view offset @at, @len bytes (the
 * fetch output of the tile in @sec->out at its k for PACKED, which is at
 * most the slot; its elements for INT layouts).  0 or -EINVAL.
 */
int cxlms_view_tile_dst(const struct cxlms_dirent *d,
			const struct cxlms_view_sec *sec, cxlms_u32 tile,
			cxlms_u32 bits, cxlms_u64 *at, cxlms_u64 *len);

/*
 * INT8 layout: where tile @tile's scales go (view offset @at, @len bytes),
 * copied straight from the tile's scales (offset @tile_off in the tile).
 * @len is 0 for layouts without scales.  0 or -EINVAL.
 */
int cxlms_view_tile_scales(const struct cxlms_dirent *d,
			   const struct cxlms_view_sec *sec, cxlms_u32 tile,
			   cxlms_u64 *at, cxlms_u64 *len, cxlms_u64 *tile_off);

/*
 * Copy the bytes [@at, @at + @n) of a view from @src into the unit buffer
 * @dst, which holds view bytes [@u->lo, @u->hi); clipped to the unit.
 */
void cxlms_view_put(const struct cxlms_view_unit *u, void *dst, cxlms_u64 at,
		    const void *src, cxlms_u64 n);

#endif /* CXLMS_VIEW_LAYOUT_H */
