/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Between the dispatcher (simd.c) and the per-ISA kernel objects.
 *
 * The dispatcher validates everything with the portable codec's own
 * functions, so a kernel only ever sees a valid request; it answers 0
 * (done) or SIMD_DECLINE (the portable codec does it instead).  Kernels
 * work on blocks of 512 elements: 64 bytes, one cache line, of each plane.
 */
#ifndef CXLMS_SIMD_PRIV_H
#define CXLMS_SIMD_PRIV_H

#include <stdbool.h>

#include "simd.h"

#define SIMD_BLOCK	512	/* elements per block */
#define SIMD_BLOCK_BYTES (SIMD_BLOCK / 8)
#define SIMD_DECLINE	1

/**
 * struct simd_fetch - one validated fetch
 * @tile, @g, @l: the tile, its geometry and full-tile layout
 * @n: elements in this tile, @k: planes read
 * @out: CXLMS_OUT_*, never PLANES (that is a memcpy the codec does)
 * @recon: resolved (never DEFAULT)
 * @levels: INT8: the 2^k Q8.8 levels of @recon, indexed by the pattern u
 * @dst: output data (side data is written by the dispatcher)
 * @elem_base: tile element of the first of the @n (scale groups count from
 *	the tile's start); 0 except in a piece view
 * @pf_n: elements from the first of the @n up to which plane bytes may be
 *	prefetched: @n, or in a piece view the rest of the tile
 * @piece_fn: if set (only for ops with @pieces), the data goes to @dst
 *	@piece_elems elements at a time (a multiple of SIMD_BLOCK), and
 *	@piece_fn(@piece_arg, first, count) is called after each piece; a
 *	non-zero answer stops the fetch
 */
struct simd_fetch {
	const cxlms_u8 *tile;
	const struct cxlms_tile_geom *g;
	const struct cxlms_tile_layout *l;
	cxlms_u32 n, k, out;
	int recon;
	const cxlms_s16 *levels;
	cxlms_u8 *dst;
	cxlms_u32 elem_base, pf_n;
	cxlms_u32 piece_elems;
	int (*piece_fn)(void *arg, cxlms_u32 first, cxlms_u32 count);
	void *piece_arg;
};

/**
 * struct simd_ops - one ISA's kernels (NULL members: always portable)
 * @fetch_int8, @fetch_16: the data part of a fetch; 0 or SIMD_DECLINE
 * @place_int8: @nblk whole blocks of codes into plane bytes @planes,
 *	@planes + @stride, ...; @planes is 64-byte aligned (streaming stores)
 * @place_16: the same for 16-bit patterns of format @fmt (quiets sNaNs)
 * @pieces: the fetch kernels honour simd_fetch.piece_fn
 */
struct simd_ops {
	int (*fetch_int8)(const struct simd_fetch *f);
	int (*fetch_16)(const struct simd_fetch *f);
	void (*place_int8)(cxlms_u8 *planes, cxlms_u32 stride,
			   const cxlms_u8 *codes, cxlms_u32 nblk);
	void (*place_16)(cxlms_u8 *planes, cxlms_u32 stride,
			 const cxlms_u16 *vals, cxlms_u32 nblk, cxlms_u32 fmt);
	bool pieces;
};

/* Each returns its table; call only when the CPU has the ISA. */
const struct simd_ops *cxlms_simd_ops_avx2(void);
const struct simd_ops *cxlms_simd_ops_avx512(void);
const struct simd_ops *cxlms_simd_ops_gfni(void);

/*
 * Scale group runs: elements [e, end) of a tile all use scale @sidx.
 * Groups never straddle rows, so a run ends at a group or row end.
 */
static inline cxlms_u32 simd_group_run(const struct cxlms_tile_geom *g,
				       cxlms_u32 gpr, cxlms_u32 e,
				       cxlms_u32 limit, cxlms_u32 *sidx)
{
	cxlms_u32 row = e / g->cols, col = e % g->cols;
	cxlms_u32 grp = col / g->group_size;
	cxlms_u64 end = (cxlms_u64)row * g->cols +
			(cxlms_u64)(grp + 1) * g->group_size;
	cxlms_u64 row_end = (cxlms_u64)(row + 1) * g->cols;

	*sidx = row * gpr + grp;
	if (end > row_end)
		end = row_end;
	return end < limit ? (cxlms_u32)end : limit;
}

/*
 * Run @run over @f, or with simd_fetch.piece_fn over one view of @f per
 * piece: the piece's plane bytes, its tile element for scale groups,
 * prefetch on to the tile's end, output into the same (cache-resident)
 * piece buffer, handed to the consumer before the next piece overwrites it.
 * Shared by the variants with simd_ops.pieces; plain C, no ISA.
 */
static inline void simd_for_each_piece(const struct simd_fetch *f,
				       void (*run)(const struct simd_fetch *f,
						   const void *arg),
				       const void *arg)
{
	struct cxlms_tile_layout vl;
	struct simd_fetch v;
	cxlms_u32 e;

	if (!f->piece_fn) {
		run(f, arg);
		return;
	}
	v = *f;
	vl = *f->l;
	v.l = &vl;
	for (e = 0; e < f->n; e += f->piece_elems) {
		v.n = f->n - e < f->piece_elems ? f->n - e : f->piece_elems;
		v.elem_base = f->elem_base + e;
		v.pf_n = f->pf_n - e;
		vl.planes_off = f->l->planes_off + e / 8;
		run(&v, arg);
		if (f->piece_fn(f->piece_arg, e, v.n))
			return;
	}
}

#endif /* CXLMS_SIMD_PRIV_H */
