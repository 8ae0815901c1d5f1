// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Row ranges of a tensor and verified fetches (libcxlms.h, LIBCXLMS_1.2).
 *
 * A row range is cut by tile into blocks.  Each covering tile is fetched
 * whole, at its bits, into the caller's scratch through cxlms_fetch_tiles()
 * (so the backends, the policy, the counters and verify are the tile
 * fetch's own), and the block's rows are copied out of it: the data bits
 * of those rows, the scales of those rows, the tile's levels.  A plane is
 * one contiguous bit string per tile, so there is nothing smaller to read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"
#include "policy.h"

#define PIECE_BYTES_DEFAULT	8192
#define PIECE_ALIGN		512
#define SCRATCH_ALIGN		64

static __thread char last_error[256];

const char *cxlms_fetch_last_error(void)
{
	return last_error;
}

int cxlms_store_set_verify(struct cxlms_store *store, int on)
{
	int old;

	if (!store)
		return -EINVAL;
	old = __atomic_exchange_n(&store->verify, !!on, __ATOMIC_RELAXED);
	return old;
}

int cxlms_fetch_verify(struct cxlms_store *s, struct cxlms_tensor *t,
		       unsigned int first, unsigned int count, unsigned int flags)
{
	char why[sizeof(last_error)];
	int rc;

	if (!(flags & CXLMS_FETCH_VERIFY) &&
	    !__atomic_load_n(&s->verify, __ATOMIC_RELAXED))
		return 0;
	if (!s->ops->verify_tiles)
		return -EOPNOTSUPP;
	why[0] = '\0';
	rc = s->ops->verify_tiles(s, t, first, count, why, sizeof(why));
	if (rc) {
		snprintf(last_error, sizeof(last_error), "%s",
			 why[0] ? why : "tile checksum mismatch");
		cxlms_err(s->ctx, "%s: %s", s->path, last_error);
	}
	return rc;
}

unsigned int cxlms_tensor_get_groups_per_row(struct cxlms_tensor *t)
{
	return t ? t->layout.groups_per_row : 0;
}

float cxlms_fp16_to_float(uint16_t h)
{
	uint32_t b = cxlms_fp16_to_f32_bits(h);
	float f;

	memcpy(&f, &b, sizeof(f));
	return f;
}

/* --- blocks --------------------------------------------------------------- */

static int resolve_bits(struct cxlms_tensor *t, unsigned int tile,
			unsigned int bits, unsigned int *kb)
{
	uint8_t b8;
	int rc;

	if (bits != CXLMS_BITS_POLICY) {
		*kb = bits;
		return 0;
	}
	rc = cxlms_policy_get_bits(t, tile, 1, &b8, NULL);
	if (rc)
		return rc;
	*kb = b8;
	return 0;
}

static void info_from_layout(struct cxlms_fetch_info *info,
			     const struct cxlms_fetch_layout *fl,
			     const struct cxlms_fetch_layout *tile_fl,
			     unsigned int bits)
{
	info->data_off = fl->data_off;
	info->data_len = fl->data_len;
	info->scales_off = fl->scales_off;
	info->scales_len = fl->scales_len;
	info->levels_off = fl->levels_off;
	info->levels_len = fl->levels_len;
	info->total = fl->total;
	/* The whole tile is read: see the file comment. */
	info->bytes_read = tile_fl->read_planes * bits + tile_fl->read_side;
}

static int check_range(struct cxlms_tensor *t, uint64_t row0, uint64_t n)
{
	if (!t)
		return -EINVAL;
	if (row0 > t->d.rows || n > t->d.rows - row0)
		return -ERANGE;
	return 0;
}

/* Block @b of the range starting at @row with @left rows to go. */
static int block_at(struct cxlms_tensor *t, uint64_t row, uint64_t left,
		    unsigned int bits, unsigned int out, unsigned int recon,
		    struct cxlms_rows_block *b, struct cxlms_fetch_layout *tile_fl)
{
	struct cxlms_fetch_layout fl;
	uint32_t tile_row, in_tile;
	unsigned int tile = cxlms_row_tile(t, row, &tile_row);
	int rc;

	in_tile = cxlms_tile_row_count(t, tile, NULL) - tile_row;
	b->tile = tile;
	b->row_first = row;
	b->tile_row = tile_row;
	b->rows = left < in_tile ? (uint32_t)left : in_tile;
	rc = resolve_bits(t, tile, bits, &b->bits);
	if (rc)
		return rc;
	rc = cxlms_fetch_layout(&t->geom, cxlms_dirent_tile_elems(&t->d, tile),
				b->bits, out, recon, tile_fl);
	if (!rc)
		rc = cxlms_fetch_layout(&t->geom, b->rows * (uint32_t)t->d.cols,
					b->bits, out, recon, &fl);
	if (rc)
		return rc;
	info_from_layout(&b->info, &fl, tile_fl, b->bits);
	return 0;
}

int cxlms_fetch_rows_blocks(struct cxlms_tensor *t, uint64_t row0, uint64_t n,
			    unsigned int bits, unsigned int out,
			    unsigned int recon, struct cxlms_rows_block *blocks,
			    unsigned int max)
{
	struct cxlms_fetch_layout tfl;
	struct cxlms_rows_block b;
	uint64_t row = row0, off = 0;
	unsigned int i = 0;
	int rc = check_range(t, row0, n);

	if (rc)
		return rc;
	while (row < row0 + n) {
		rc = block_at(t, row, row0 + n - row, bits, out, recon, &b, &tfl);
		if (rc)
			return rc;
		b.off = off;
		if (i < max && blocks)
			blocks[i] = b;
		off += b.info.total;
		row += b.rows;
		i++;
	}
	return (int)i;
}

int64_t cxlms_fetch_rows_size(struct cxlms_tensor *t, uint64_t row0,
			      uint64_t n, unsigned int bits, unsigned int out,
			      unsigned int recon)
{
	struct cxlms_fetch_layout tfl;
	struct cxlms_rows_block b;
	uint64_t row = row0, total = 0;
	int rc = check_range(t, row0, n);

	if (rc)
		return rc;
	while (row < row0 + n) {
		rc = block_at(t, row, row0 + n - row, bits, out, recon, &b, &tfl);
		if (rc)
			return rc;
		total += b.info.total;
		row += b.rows;
	}
	return (int64_t)total;
}

/* --- scratch -------------------------------------------------------------- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Elements per piece for output of @w bits per element. */
static uint64_t piece_elems(const struct cxlms_tensor *t, unsigned int w,
			    const struct cxlms_rows_opts *o)
{
	uint64_t want = o && o->piece_bytes ? o->piece_bytes : PIECE_BYTES_DEFAULT;
	uint64_t tile_elems = (uint64_t)t->d.tile_rows * t->d.cols;
	uint64_t e = want * 8 / w;

	if (e > tile_elems)
		e = tile_elems;
	if (o && (o->flags & CXLMS_FETCH_ROW_PIECES)) {
		e = e / t->d.cols * t->d.cols;
		return e ? e : t->d.cols;
	}
	e = e / PIECE_ALIGN * PIECE_ALIGN;
	return e ? e : PIECE_ALIGN;
}

/* Tile buffer at offset 0, then the piece buffer; both 64-byte aligned. */
struct scratch_plan {
	uint64_t tile_bytes, piece_off, bytes;
};

static int plan_scratch(struct cxlms_tensor *t, unsigned int bits,
			unsigned int out, unsigned int recon,
			const struct cxlms_rows_opts *o, struct scratch_plan *p)
{
	struct cxlms_fetch_layout fl;
	unsigned int k, lo = bits, hi = bits;
	uint64_t piece = 0;
	int rc = 0;

	if (bits == CXLMS_BITS_POLICY) {
		lo = 1;
		hi = t->layout.n_planes;
	}
	p->tile_bytes = 0;
	/* Tile 0 is a full tile: the largest. */
	for (k = lo; k <= hi; k++) {
		rc = cxlms_fetch_layout(&t->geom, cxlms_dirent_tile_elems(&t->d, 0),
					k, out, recon, &fl);
		if (rc)
			continue;	/* a precision this output cannot have */
		if (fl.total > p->tile_bytes)
			p->tile_bytes = fl.total;
		/* The sync fetch does not use the piece buffer: one size anyway. */
		if (out != CXLMS_OUT_PLANES) {
			unsigned int w = cxlms_out_elem_bits(t->layout.n_planes, k, out);
			uint64_t b = (piece_elems(t, w, o) * w + 7) / 8;

			if (b > piece)
				piece = b;
		}
	}
	if (!p->tile_bytes)
		return rc ? rc : -EOPNOTSUPP;
	p->piece_off = align_up(p->tile_bytes, SCRATCH_ALIGN);
	p->bytes = p->piece_off + align_up(piece, SCRATCH_ALIGN) + SCRATCH_ALIGN;
	return 0;
}

int64_t cxlms_fetch_rows_scratch_size(struct cxlms_tensor *t,
				      unsigned int bits, unsigned int out,
				      unsigned int recon,
				      const struct cxlms_rows_opts *opts)
{
	struct scratch_plan p;
	int rc;

	if (!t)
		return -EINVAL;
	rc = plan_scratch(t, bits, out, recon, opts, &p);
	return rc ? rc : (int64_t)p.bytes;
}

/* A caller's opts struct of any size, read as zero beyond its @size. */
static int read_opts(const struct cxlms_rows_opts *in, struct cxlms_rows_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (!in)
		return 0;
	if (in->size < sizeof(uint32_t) * 2)
		return -EINVAL;
	memcpy(o, in, in->size < sizeof(*o) ? in->size : sizeof(*o));
	if (o->flags & ~(CXLMS_FETCH_VERIFY | CXLMS_FETCH_ROW_PIECES))
		return -EINVAL;
	return 0;
}

/* Aligned scratch from the caller, or ours (*@own to free). */
static int get_scratch(const struct cxlms_rows_opts *o, uint64_t need,
		       uint8_t **scratch, void **own)
{
	uintptr_t p;

	*own = NULL;
	if (o->scratch) {
		if (o->scratch_len < need)
			return -ENOSPC;
		p = (uintptr_t)o->scratch;
	} else {
		*own = malloc(need);
		if (!*own)
			return -ENOMEM;
		p = (uintptr_t)*own;
	}
	*scratch = (uint8_t *)align_up(p, SCRATCH_ALIGN);
	return 0;
}

/* --- copying rows out of a tile ------------------------------------------- */

/* @nbits LSB-first bits of @src from bit @sbit to @dst from bit 0, rest zero. */
static void bitcopy(uint8_t *dst, const uint8_t *src, uint64_t sbit,
		    uint64_t nbits)
{
	uint64_t nbytes = (nbits + 7) / 8, i;
	const uint8_t *s = src + sbit / 8;
	unsigned int sh = sbit % 8;

	if (!nbits)
		return;
	if (!sh) {
		memcpy(dst, s, nbytes);
	} else {
		/* Source bytes that hold the bits: never read past the last. */
		uint64_t src_bytes = (sh + nbits + 7) / 8;

		for (i = 0; i < nbytes; i++) {
			unsigned int v = s[i] >> sh;

			if (i + 1 < src_bytes)
				v |= (unsigned int)s[i + 1] << (8 - sh);
			dst[i] = (uint8_t)v;
		}
	}
	if (nbits % 8)
		dst[nbytes - 1] &= (uint8_t)((1u << (nbits % 8)) - 1);
}

/* Block @b out of the whole-tile fetch @tile (layout @tfl) into @dst. */
static void slice_block(struct cxlms_tensor *t, const struct cxlms_rows_block *b,
			unsigned int out, const uint8_t *tile,
			const struct cxlms_fetch_layout *tfl, uint8_t *dst)
{
	const struct cxlms_fetch_info *bi = &b->info;
	uint64_t cols = t->d.cols, e0 = b->tile_row * cols, ne = b->rows * cols;
	unsigned int gpr = t->layout.groups_per_row, p;

	memset(dst + bi->data_len, 0, bi->total - bi->data_len);
	if (out == CXLMS_OUT_PLANES) {
		uint64_t tn = cxlms_dirent_tile_elems(&t->d, b->tile);

		for (p = 0; p < b->bits; p++)
			bitcopy(dst + p * ((ne + 7) / 8), tile + p * ((tn + 7) / 8),
				e0, ne);
	} else {
		unsigned int w = cxlms_out_elem_bits(t->layout.n_planes, b->bits, out);

		bitcopy(dst, tile, e0 * w, ne * w);
	}
	if (bi->scales_len)
		memcpy(dst + bi->scales_off,
		       tile + tfl->scales_off + (uint64_t)b->tile_row * gpr * 2,
		       bi->scales_len);
	if (bi->levels_len)
		memcpy(dst + bi->levels_off, tile + tfl->levels_off, bi->levels_len);
}

/* Tile of block @b fetched whole into @tile, verified first if asked. */
static int fetch_whole(struct cxlms_store *s, struct cxlms_tensor *t,
		       const struct cxlms_rows_block *b, unsigned int out,
		       unsigned int recon, unsigned int flags, uint8_t *tile,
		       uint64_t tile_len)
{
	int64_t got;
	int rc;

	/* The store-wide setting is checked inside cxlms_fetch_tiles(). */
	if ((flags & CXLMS_FETCH_VERIFY) &&
	    !__atomic_load_n(&s->verify, __ATOMIC_RELAXED)) {
		rc = cxlms_fetch_verify(s, t, b->tile, 1, flags);
		if (rc)
			return rc;
	}
	got = cxlms_fetch_tiles(s, t, b->tile, 1, b->bits, out, recon, tile,
				tile_len);
	return got < 0 ? (int)got : 0;
}

struct rows_call {
	struct cxlms_store *s;
	struct cxlms_tensor *t;
	uint64_t row0, n;
	unsigned int bits, out, recon;
	struct cxlms_rows_opts o;
	struct scratch_plan plan;
	uint8_t *scratch;
	void *own;
};

/* One scratch size for both calls: what the query says is what is checked. */
static int rows_begin(struct rows_call *c, const struct cxlms_rows_opts *opts)
{
	int rc;

	if (!c->s || !c->t || c->t->store != c->s)
		return -EINVAL;
	rc = read_opts(opts, &c->o);
	if (!rc)
		rc = check_range(c->t, c->row0, c->n);
	if (!rc)
		rc = plan_scratch(c->t, c->bits, c->out, c->recon, &c->o, &c->plan);
	if (rc)
		return rc;
	if (!c->n)
		return 0;
	return get_scratch(&c->o, c->plan.bytes, &c->scratch, &c->own);
}

int64_t cxlms_fetch_rows(struct cxlms_store *store, struct cxlms_tensor *t,
			 uint64_t row0, uint64_t n, unsigned int bits,
			 unsigned int out, unsigned int recon, void *buf,
			 size_t len, const struct cxlms_rows_opts *opts)
{
	struct rows_call c = { .s = store, .t = t, .row0 = row0, .n = n,
			       .bits = bits, .out = out, .recon = recon };
	struct cxlms_fetch_layout tfl;
	struct cxlms_rows_block b;
	uint64_t row, off = 0;
	int64_t size;
	int rc;

	rc = rows_begin(&c, opts);
	if (rc || !n)
		return rc;
	/* Sized up front so that -ENOSPC comes before any byte is written. */
	size = cxlms_fetch_rows_size(t, row0, n, bits, out, recon);
	if (size < 0) {
		rc = (int)size;
		goto out;
	}
	if (len < (uint64_t)size) {
		rc = -ENOSPC;
		goto out;
	}
	if (!buf) {
		rc = -EINVAL;
		goto out;
	}
	for (row = row0; row < row0 + n; row += b.rows) {
		rc = block_at(t, row, row0 + n - row, bits, out, recon, &b, &tfl);
		/* A policy change between sizing and here must not overrun. */
		if (!rc && off + b.info.total > (uint64_t)size)
			rc = -EAGAIN;
		if (!rc)
			rc = fetch_whole(store, t, &b, out, recon, c.o.flags,
					 c.scratch, c.plan.tile_bytes);
		if (rc)
			goto out;
		slice_block(t, &b, out, c.scratch, &tfl, (uint8_t *)buf + off);
		off += b.info.total;
	}
	free(c.own);
	return (int64_t)off;
out:
	free(c.own);
	return rc;
}

int cxlms_fetch_rows_pieces(struct cxlms_store *store, struct cxlms_tensor *t,
			    uint64_t row0, uint64_t n, unsigned int bits,
			    unsigned int out, unsigned int recon,
			    cxlms_piece_fn fn, void *arg,
			    const struct cxlms_rows_opts *opts)
{
	struct rows_call c = { .s = store, .t = t, .row0 = row0, .n = n,
			       .bits = bits, .out = out, .recon = recon };
	struct cxlms_fetch_layout tfl;
	struct cxlms_rows_block b;
	struct cxlms_piece p;
	uint64_t row;
	int rc;

	if (!fn || out == CXLMS_OUT_PLANES)
		return -EINVAL;
	rc = rows_begin(&c, opts);
	if (rc || !n)
		return rc;
	for (row = row0; row < row0 + n && !rc; row += b.rows) {
		uint8_t *piece = c.scratch + c.plan.piece_off;
		uint64_t cols = t->d.cols, e0, end, e, step;
		unsigned int w;

		rc = block_at(t, row, row0 + n - row, bits, out, recon, &b, &tfl);
		if (!rc)
			rc = fetch_whole(store, t, &b, out, recon, c.o.flags,
					 c.scratch, c.plan.tile_bytes);
		if (rc)
			break;
		w = cxlms_out_elem_bits(t->layout.n_planes, b.bits, out);
		step = piece_elems(t, w, &c.o);
		e0 = b.tile_row * cols;
		end = e0 + (uint64_t)b.rows * cols;
		memset(&p, 0, sizeof(p));
		p.tile = b.tile;
		p.bits = b.bits;
		/* The tile's side data where the fetch put it: aligned offsets. */
		p.side = c.scratch + tfl.data_len;
		p.side_len = tfl.total - tfl.data_len;
		for (e = e0; e < end && !rc; e += step) {
			uint64_t cnt = end - e < step ? end - e : step;

			bitcopy(piece, c.scratch, e * w, cnt * w);
			p.elem_first = e;
			p.elem_count = cnt;
			p.data = piece;
			p.data_len = (cnt * w + 7) / 8;
			rc = fn(arg, &p);
		}
	}
	free(c.own);
	return rc;
}
