/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The bit-plane codec: how one tile of a tensor is laid out as bit-planes,
 * how weights are placed into it and how the top k planes are turned back
 * into an output.  Portable reference implementation, integer only; the
 * same source is built into cxlms.ko (driver/) and libcxlms (lib/).
 *
 * Tile memory (offsets from the tile start, see docs/format.md):
 *
 *   scales_off  fp16 group scales, row-major (INT8 only)
 *   table_off   centroid levels for k = 1..7, s16 Q8.8 (INT8 only)
 *   planes_off  plane 0 (most significant bit) ... plane n_planes-1,
 *               each plane_len valid bytes at a stride of plane_stride
 *
 * A fetch at k reads scales (INT8), the k-level table if recon is TABLE,
 * and planes 0..k-1: one contiguous range from the tile start.
 */
#ifndef CXLMS_BITPLANE_H
#define CXLMS_BITPLANE_H

#include "cxlms_compat.h"
#include <linux/cxlms.h>

/* Tiles hold at most this many elements (bounds the table arithmetic). */
#define CXLMS_TILE_MAX_ELEMS	(1u << 24)
/* Default tile size: plane runs of 64 KiB (short runs waste DRAM bandwidth). */
#define CXLMS_TILE_TARGET_ELEMS	(1u << 19)
#define CXLMS_GROUP_DEFAULT	128
#define CXLMS_ALIGN		64
/* Levels of k = 1..7 (2 + 4 + ... + 128 = 254 s16 entries) padded to 512 bytes. */
#define CXLMS_TABLE_BYTES	512

/**
 * struct cxlms_tile_geom - geometry shared by every tile of one tensor
 * @fmt: CXLMS_FMT_*
 * @cols: elements per row; INT8 groups never straddle rows
 * @group_size: elements per scale group along a row (INT8; 0 otherwise)
 * @tile_rows: rows in a full tile (the last tile of a tensor may have fewer)
 * @flags: CXLMS_GEOM_SHORT_TAIL or 0
 */
struct cxlms_tile_geom {
	cxlms_u32 fmt;
	cxlms_u32 cols;
	cxlms_u32 group_size;
	cxlms_u32 tile_rows;
	cxlms_u32 flags;
};

/*
 * A tile of fewer than tile_rows rows is laid out for its own rows (planes
 * of its real elements only), not padded to a full tile.
 */
#define CXLMS_GEOM_SHORT_TAIL	(1u << 0)

/**
 * struct cxlms_tile_layout - byte layout of a full tile, derived from the geom
 * @n_planes: 8 for INT8, 16 for BF16/FP16
 * @elems: elements in a full tile (tile_rows * cols)
 * @groups_per_row: ceil(cols / group_size) (INT8; 0 otherwise)
 * @scales_off, @scales_len: fp16 scales of a full tile (0 length unless INT8)
 * @table_off, @table_len: centroid levels (CXLMS_TABLE_BYTES for INT8, else 0)
 * @planes_off: first plane, 64-byte aligned
 * @plane_len: ceil(elems / 8) bytes per plane in a full tile
 * @plane_stride: 64-byte aligned, never a multiple of 4096
 * @tile_bytes: stride between tiles in the store, a multiple of 64
 */
struct cxlms_tile_layout {
	cxlms_u32 n_planes;
	cxlms_u32 elems;
	cxlms_u32 groups_per_row;
	cxlms_u32 scales_off;
	cxlms_u32 scales_len;
	cxlms_u32 table_off;
	cxlms_u32 table_len;
	cxlms_u32 planes_off;
	cxlms_u32 plane_len;
	cxlms_u32 plane_stride;
	cxlms_u64 tile_bytes;
};

/*
 * Validate @g and derive the layout of a full tile.  Returns 0, or -EINVAL
 * for an unknown format, zero sizes, a group size on a 16-bit format, or
 * more than CXLMS_TILE_MAX_ELEMS elements per tile.
 */
int cxlms_tile_layout(const struct cxlms_tile_geom *g,
		      struct cxlms_tile_layout *l);
/*
 * Layout of a tile of @n_elems elements (whole rows, at most a full tile):
 * the full tile's, or with CXLMS_GEOM_SHORT_TAIL that of a tile of
 * n_elems / cols rows.  Every placement and fetch uses this.
 */
int cxlms_tile_layout_n(const struct cxlms_tile_geom *g, cxlms_u32 n_elems,
			struct cxlms_tile_layout *l);

/* Number of planes of a stored format, 0 if unknown. */
cxlms_u32 cxlms_fmt_planes(cxlms_u32 fmt);

/* Effective reconstruction for (fmt, recon): resolves CXLMS_RECON_DEFAULT. */
int cxlms_recon_resolve(cxlms_u32 fmt, cxlms_u32 recon);

/*
 * Placement.  @tile points at tile_bytes of tile memory; @n_elems is the
 * number of elements of this tile (tile_rows * cols, fewer for the last
 * tile).  Placement can be split in ranges (the kernel copies user data in
 * chunks): @elem_off must be a multiple of 8.  Bytes of a plane beyond
 * ceil(n_elems/8) and padding are left as the caller prepared them (zero).
 *
 * INT8: place codes, then scales, then cxlms_tile_finalize() to compute the
 * centroid tables from the placed codes and scales.
 */
/*
 * The checks every placement makes (after its format check): 0 and the
 * tile layout in @l, or -EINVAL for a bad geometry, tile size or range.
 */
int cxlms_place_check(const struct cxlms_tile_geom *g, cxlms_u32 n_elems,
		      cxlms_u32 elem_off, cxlms_u32 count,
		      struct cxlms_tile_layout *l);
int cxlms_place_int8(void *tile, const struct cxlms_tile_geom *g,
		     cxlms_u32 n_elems, cxlms_u32 elem_off,
		     const cxlms_s8 *codes, cxlms_u32 count);
int cxlms_place_scales(void *tile, const struct cxlms_tile_geom *g,
		       cxlms_u32 n_elems, const cxlms_u16 *scales_fp16,
		       cxlms_u32 n_scales);
int cxlms_tile_finalize(void *tile, const struct cxlms_tile_geom *g,
			cxlms_u32 n_elems);
/* BF16/FP16: @vals are the 16-bit patterns; signalling NaNs are stored quiet. */
int cxlms_place_16(void *tile, const struct cxlms_tile_geom *g,
		   cxlms_u32 n_elems, cxlms_u32 elem_off,
		   const cxlms_u16 *vals, cxlms_u32 count);

/**
 * struct cxlms_fetch_layout - where a fetch of one tile puts what
 * @data_off, @data_len: the elements in the output format (data_off is 0)
 * @scales_off, @scales_len: fp16 group scales (INT8 with PLANES/PACKED/INT)
 * @levels_off, @levels_len: 2^k s16 Q8.8 levels indexed by the unsigned
 *	k-bit pattern, for the chosen recon (INT8 with PLANES/PACKED)
 * @total: bytes the caller's buffer needs; a multiple of 64 when there is
 *	side data, exactly @data_len otherwise
 * @read_planes: bytes read from each plane (ceil(n_elems/8))
 * @read_side: bytes read besides planes (scales, table levels)
 */
struct cxlms_fetch_layout {
	cxlms_u64 data_off;
	cxlms_u64 data_len;
	cxlms_u64 scales_off;
	cxlms_u64 scales_len;
	cxlms_u64 levels_off;
	cxlms_u64 levels_len;
	cxlms_u64 total;
	cxlms_u64 read_planes;
	cxlms_u64 read_side;
};

/*
 * Output layout of fetching @bits planes of a tile of @n_elems elements.
 * Returns 0, -EINVAL for a bad output format or recon, -EOPNOTSUPP for a
 * precision the (format, output) pair does not support: bits outside
 * 1..n_planes, or a dequantized/INT output of BF16 below 9 or FP16 below 6
 * bits (sign and exponent must be whole), or TABLE on a 16-bit format.
 */
/*
 * Output bits per element of @out at @bits planes of a format of
 * @n_planes (PLANES and PACKED: @bits; INT: the stored word; F32: 32;
 * BF16: 16).  Data of n elements is ceil(n * that / 8) bytes, except
 * PLANES, where each plane is padded to a byte.
 */
cxlms_u32 cxlms_out_elem_bits(cxlms_u32 n_planes, cxlms_u32 bits, cxlms_u32 out);
int cxlms_fetch_layout(const struct cxlms_tile_geom *g, cxlms_u32 n_elems,
		       cxlms_u32 bits, cxlms_u32 out, cxlms_u32 recon,
		       struct cxlms_fetch_layout *fl);

/*
 * Fetch the top @bits planes of one tile into @dst (@dst_len bytes, at least
 * fetch_layout.total).  Reads nothing of the tile beyond the planes, scales
 * and table entries fetch_layout accounts for.  Returns bytes written
 * (fetch_layout.total) or -errno (-ENOSPC if @dst_len is too small).
 */
cxlms_s64 cxlms_fetch_tile(const void *tile, const struct cxlms_tile_geom *g,
			   cxlms_u32 n_elems, cxlms_u32 bits, cxlms_u32 out,
			   cxlms_u32 recon, void *dst, cxlms_u64 dst_len);

/* Integer-only number conversions the codec and its users share. */
cxlms_u32 cxlms_fp16_to_f32_bits(cxlms_u16 h);
cxlms_u16 cxlms_f32_bits_to_bf16(cxlms_u32 f);	/* round to nearest even */
/* level_q8 / 256 * scale, correctly rounded to binary32 (what a float multiply gives). */
cxlms_u32 cxlms_dequant_f32_bits(cxlms_s32 level_q8, cxlms_u16 scale_fp16);

#endif /* CXLMS_BITPLANE_H */
