// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_fetch_rows() and cxlms_fetch_rows_pieces() on the file backend:
 * every row range boundary (first and last row, single rows, ranges that
 * cross tiles, the whole tensor, n = 0, out of range), every output format,
 * each block checked bit by bit against cxlms_fetch() of its tile (the
 * test's own bit reader, not the library's copy), pieces against the row
 * fetch, row-boundary pieces, scratch sizing and side data alignment.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib_testutil.h"
#include "simd/simd.h"
#include "writer.h"

#define N_T 3

struct fx {
	struct cxlms_ctx *ctx;
	char *dir, *path;
	struct cxlms_store *s;
	struct cxlms_tensor *t[N_T];
};

static struct logcap lc;

/*
 * a: INT8 300 x 1000, groups of 128, tiles of 40 rows (the last 20);
 * b: BF16 64 x 700, tiles of 32; c: FP16 101 x 333 (odd columns: rows
 * start inside bytes of a plane), tiles of 50 (the last 1 row).
 */
static int setup(void **state)
{
	static const struct cxlms_tensor_spec spec[N_T] = {
		{ .name = "a", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
		  .ndim = 2, .shape = { 300, 1000 }, .group_size = 128, .tile_rows = 40 },
		{ .name = "b", .src_dtype = CXLMS_DTYPE_BF16, .fmt = CXLMS_FMT_BF16,
		  .ndim = 2, .shape = { 64, 700 }, .tile_rows = 32 },
		{ .name = "c", .src_dtype = CXLMS_DTYPE_F16, .fmt = CXLMS_FMT_FP16,
		  .ndim = 2, .shape = { 101, 333 }, .tile_rows = 50 },
	};
	static const char *const names[N_T] = { "a", "b", "c" };
	struct fx *fx = calloc(1, sizeof(*fx));
	uint64_t seed = 11;
	unsigned int k;

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir)
		return -1;
	fx->path = tu_path(fx->dir, "r.cxlms");
	if (tu_write_random_store(fx->path, spec, N_T, &seed, 9) ||
	    cxlms_open(fx->ctx, fx->path, 0, &fx->s))
		return -1;
	for (k = 0; k < N_T; k++)
		if (cxlms_tensor_lookup(fx->s, names[k], &fx->t[k]))
			return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cxlms_store_unref(fx->s);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->path);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

static unsigned int bit_at(const uint8_t *p, uint64_t i)
{
	return (p[i / 8] >> (i % 8)) & 1;
}

static unsigned int out_width(struct cxlms_tensor *t, unsigned int bits,
			      unsigned int out)
{
	unsigned int planes = cxlms_tensor_get_planes(t);

	switch (out) {
	case CXLMS_OUT_PACKED:
		return bits;
	case CXLMS_OUT_INT:
		return planes;
	case CXLMS_OUT_F32:
		return 32;
	default:
		return 16;
	}
}

/* One block of a row fetch against cxlms_fetch() of its tile; NULL if equal. */
static const char *check_block(struct fx *fx, struct cxlms_tensor *t,
			       const struct cxlms_rows_block *b, unsigned int out,
			       const uint8_t *got)
{
	struct cxlms_fetch_info ti;
	uint64_t cols = cxlms_tensor_get_cols(t);
	uint64_t e0 = (uint64_t)b->tile_row * cols, ne = (uint64_t)b->rows * cols;
	uint64_t tn = cxlms_tensor_get_tile_elems(t, b->tile), i;
	unsigned int gpr = cxlms_tensor_get_groups_per_row(t), p;
	const char *bad = NULL;
	uint8_t *tile;

	if (cxlms_fetch_info(t, b->tile, b->bits, out, 0, &ti))
		return "fetch_info failed";
	tile = malloc(ti.total);
	if (!tile || cxlms_fetch(fx->s, t, b->tile, b->bits, out, 0, tile, ti.total) !=
	    (int64_t)ti.total) {
		free(tile);
		return "tile fetch failed";
	}
	if (out == CXLMS_OUT_PLANES) {
		if (b->info.data_len != b->bits * ((ne + 7) / 8))
			bad = "planes data_len";
		for (p = 0; p < b->bits && !bad; p++)
			for (i = 0; i < ne && !bad; i++)
				if (bit_at(got + p * ((ne + 7) / 8), i) !=
				    bit_at(tile + p * ((tn + 7) / 8), e0 + i))
					bad = "plane bit differs";
	} else {
		unsigned int w = out_width(t, b->bits, out);

		if (b->info.data_len != (ne * w + 7) / 8)
			bad = "data_len";
		for (i = 0; i < ne * w && !bad; i++)
			if (bit_at(got, i) != bit_at(tile, e0 * w + i))
				bad = "data bit differs";
		/* Trailing bits of the last byte are zero. */
		for (i = ne * w; i < b->info.data_len * 8 && !bad; i++)
			if (bit_at(got, i))
				bad = "trailing bit set";
	}
	if (!bad && b->info.scales_len &&
	    (b->info.scales_len != (uint64_t)b->rows * gpr * 2 ||
	     memcmp(got + b->info.scales_off,
		    tile + ti.scales_off + (uint64_t)b->tile_row * gpr * 2,
		    b->info.scales_len)))
		bad = "scales differ";
	if (!bad && b->info.levels_len &&
	    (b->info.levels_len != ti.levels_len ||
	     memcmp(got + b->info.levels_off, tile + ti.levels_off, ti.levels_len)))
		bad = "levels differ";
	if (!bad && b->info.bytes_read != ti.bytes_read)
		bad = "bytes_read is not the whole tile's";
	free(tile);
	return bad;
}

/* Rows [row0, row0 + n) in @out at @bits: blocks, sizes, bytes. */
static void check_range(struct fx *fx, struct cxlms_tensor *t, uint64_t row0,
			uint64_t n, unsigned int bits, unsigned int out)
{
	struct cxlms_rows_block blocks[16];
	struct cxlms_rows_opts o = { .size = sizeof(o) };
	int64_t size = cxlms_fetch_rows_size(t, row0, n, bits, out, 0);
	int64_t ss = cxlms_fetch_rows_scratch_size(t, bits, out, 0, NULL);
	int nb = cxlms_fetch_rows_blocks(t, row0, n, bits, out, 0, blocks, 16);
	uint64_t rows = 0, off = 0;
	uint8_t *buf;
	int i;

	assert_true(size > 0);
	assert_true(ss > 0);
	assert_in_range(nb, 1, 16);
	buf = malloc((size_t)size);
	o.scratch = malloc((size_t)ss);
	o.scratch_len = (size_t)ss;
	assert_non_null(buf);
	assert_non_null(o.scratch);
	/* One byte short of either: -ENOSPC. */
	assert_int_equal(cxlms_fetch_rows(fx->s, t, row0, n, bits, out, 0, buf,
					  (size_t)size - 1, &o), -ENOSPC);
	o.scratch_len--;
	assert_int_equal(cxlms_fetch_rows(fx->s, t, row0, n, bits, out, 0, buf,
					  (size_t)size, &o), -ENOSPC);
	o.scratch_len++;
	assert_int_equal(cxlms_fetch_rows(fx->s, t, row0, n, bits, out, 0, buf,
					  (size_t)size, &o), size);
	for (i = 0; i < nb; i++) {
		const char *bad;

		assert_int_equal(blocks[i].off, off);
		assert_int_equal(blocks[i].row_first, row0 + rows);
		assert_int_equal(blocks[i].tile_row,
				 blocks[i].row_first % cxlms_tensor_get_tile_rows(t));
		assert_int_equal(blocks[i].tile, blocks[i].row_first /
				 cxlms_tensor_get_tile_rows(t));
		bad = check_block(fx, t, &blocks[i], out, buf + off);
		if (bad)
			fail_msg("%s rows %llu+%llu bits %u out %u block %d: %s",
				 cxlms_tensor_get_name(t), (unsigned long long)row0,
				 (unsigned long long)n, bits, out, i, bad);
		off += blocks[i].info.total;
		rows += blocks[i].rows;
	}
	assert_int_equal(rows, n);
	assert_int_equal(off, (uint64_t)size);
	/* Without a scratch the library allocates: same bytes. */
	{
		uint8_t *again = malloc((size_t)size);

		assert_non_null(again);
		assert_int_equal(cxlms_fetch_rows(fx->s, t, row0, n, bits, out, 0,
						  again, (size_t)size, NULL), size);
		assert_memory_equal(again, buf, (size_t)size);
		free(again);
	}
	free(o.scratch);
	free(buf);
}

static void test_every_boundary_and_output(void **state)
{
	struct fx *fx = *state;
	unsigned int k, out, bits;

	for (k = 0; k < N_T; k++) {
		struct cxlms_tensor *t = fx->t[k];
		uint64_t rows = cxlms_tensor_get_rows(t);
		uint64_t tr = cxlms_tensor_get_tile_rows(t);
		const uint64_t ranges[][2] = {
			{ 0, 1 }, { rows - 1, 1 }, { 0, rows }, { tr - 1, 2 },
			{ tr, tr }, { 1, rows - 2 }, { tr + 3, 1 }, { rows - tr / 2, tr / 2 },
		};
		unsigned int planes = cxlms_tensor_get_planes(t);
		unsigned int bits_list[3] = { 1, planes / 2 + 1, planes };
		unsigned int r, bi;

		for (out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++)
		for (bi = 0; bi < 3; bi++)
		for (r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
			bits = bits_list[bi];
			if (cxlms_fetch_rows_size(t, 0, 1, bits, out, 0) == -EOPNOTSUPP)
				continue;	/* a float output below sign+exponent */
			check_range(fx, t, ranges[r][0], ranges[r][1], bits, out);
		}
	}
}

/* F32 rows are the tensor's rows: the same bytes as a whole-tensor fetch. */
static void test_f32_rows_are_tensor_rows(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *a = fx->t[0];
	uint64_t cols = cxlms_tensor_get_cols(a);
	unsigned int nt = cxlms_tensor_get_tile_count(a);
	int64_t all = cxlms_fetch_size(a, 0, nt, 5, CXLMS_OUT_F32, 0);
	uint8_t *whole = malloc((size_t)all), *rows = malloc((size_t)all);

	assert_non_null(whole);
	assert_non_null(rows);
	assert_int_equal(cxlms_fetch_tiles(fx->s, a, 0, nt, 5, CXLMS_OUT_F32, 0,
					   whole, (size_t)all), all);
	assert_int_equal(cxlms_fetch_rows(fx->s, a, 37, 150, 5, CXLMS_OUT_F32, 0,
					  rows, (size_t)all, NULL), 150 * cols * 4);
	assert_memory_equal(rows, whole + 37 * cols * 4, 150 * cols * 4);
	free(whole);
	free(rows);
}

static void test_range_errors(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *a = fx->t[0];
	uint64_t rows = cxlms_tensor_get_rows(a);
	struct cxlms_rows_opts bad = { .size = sizeof(bad), .flags = 1u << 30 };
	uint8_t buf[64];

	assert_int_equal(cxlms_fetch_rows(fx->s, a, 0, 0, 8, CXLMS_OUT_F32, 0, buf,
					  sizeof(buf), NULL), 0);
	assert_int_equal(cxlms_fetch_rows(fx->s, a, rows, 0, 8, CXLMS_OUT_F32, 0,
					  NULL, 0, NULL), 0);
	assert_int_equal(cxlms_fetch_rows_blocks(a, 5, 0, 8, CXLMS_OUT_F32, 0, NULL, 0), 0);
	assert_int_equal(cxlms_fetch_rows_size(a, 5, 0, 8, CXLMS_OUT_F32, 0), 0);
	assert_int_equal(cxlms_fetch_rows(fx->s, a, rows, 1, 8, CXLMS_OUT_F32, 0,
					  buf, sizeof(buf), NULL), -ERANGE);
	assert_int_equal(cxlms_fetch_rows(fx->s, a, 0, rows + 1, 8, CXLMS_OUT_F32, 0,
					  buf, sizeof(buf), NULL), -ERANGE);
	assert_int_equal(cxlms_fetch_rows(fx->s, a, UINT64_MAX, 2, 8, CXLMS_OUT_F32, 0,
					  buf, sizeof(buf), NULL), -ERANGE);
	assert_int_equal(cxlms_fetch_rows(fx->s, a, 1, UINT64_MAX, 8, CXLMS_OUT_F32, 0,
					  buf, sizeof(buf), NULL), -ERANGE);
	assert_int_equal(cxlms_fetch_rows_size(a, rows + 1, 0, 8, CXLMS_OUT_F32, 0),
			 -ERANGE);
	assert_int_equal(cxlms_fetch_rows(fx->s, a, 0, 1, 9, CXLMS_OUT_F32, 0, buf,
					  sizeof(buf), NULL), -EOPNOTSUPP);
	assert_int_equal(cxlms_fetch_rows(fx->s, a, 0, 1, 8, CXLMS_OUT_F32, 0, buf,
					  sizeof(buf), &bad), -EINVAL);
	assert_int_equal(cxlms_fetch_rows_pieces(fx->s, a, 0, 1, 8, CXLMS_OUT_PLANES,
						 0, (cxlms_piece_fn)NULL, NULL, NULL),
			 -EINVAL);
}

struct collect {
	struct cxlms_tensor *t;
	uint8_t *data;
	uint64_t len;
	unsigned int n, cur_tile, bits;
	uint64_t next_elem;
	unsigned int out;
	bool rows_only, misaligned, order_bad;
};

static int collect_piece(void *arg, const struct cxlms_piece *p)
{
	struct collect *c = arg;
	uint64_t cols = cxlms_tensor_get_cols(c->t);

	if (c->rows_only && (p->elem_first % cols || p->elem_count % cols))
		c->order_bad = true;
	if (p->tile == c->cur_tile && c->n && p->elem_first != c->next_elem)
		c->order_bad = true;
	c->cur_tile = p->tile;
	c->next_elem = p->elem_first + p->elem_count;
	if (p->side_len) {
		struct cxlms_fetch_info fi;

		/* The tile's own layout: the last tile's data_len differs. */
		if (cxlms_fetch_info(c->t, p->tile, p->bits, c->out, 0, &fi) ||
		    ((uintptr_t)p->side + fi.scales_off - fi.data_len) % 64 ||
		    (fi.levels_len &&
		     ((uintptr_t)p->side + fi.levels_off - fi.data_len) % 64))
			c->misaligned = true;
	}
	c->n++;
	c->bits = p->bits;
	return 0;
}

/*
 * Pieces of a row range: the data of the row fetch's blocks, in order;
 * with CXLMS_FETCH_ROW_PIECES whole rows; side data scales 64-byte
 * aligned; the caller's scratch, sized by the query, is enough.
 */
static void test_pieces(void **state)
{
	static const size_t sizes[] = { 0, 1, 3000, 100000 };
	struct fx *fx = *state;
	unsigned int k, out, si, flag;

	for (k = 0; k < N_T; k++) {
		struct cxlms_tensor *t = fx->t[k];
		uint64_t rows = cxlms_tensor_get_rows(t), tr = cxlms_tensor_get_tile_rows(t);
		unsigned int bits = cxlms_tensor_get_planes(t) - 1;

		for (out = CXLMS_OUT_PACKED; out <= CXLMS_OUT_BF16; out++)
		for (si = 0; si < 4; si++)
		for (flag = 0; flag < 2; flag++) {
			struct cxlms_rows_opts o = {
				.size = sizeof(o), .piece_bytes = sizes[si],
				.flags = flag ? CXLMS_FETCH_ROW_PIECES : 0,
			};
			struct collect c = { .t = t, .rows_only = flag, .out = out };
			int64_t ss = cxlms_fetch_rows_scratch_size(t, bits, out, 0, &o);
			uint64_t row0 = tr - 2, n = rows - tr + 1;
			int nb;

			assert_true(ss > 0);
			o.scratch = malloc((size_t)ss);
			o.scratch_len = (size_t)ss - 1;
			assert_int_equal(cxlms_fetch_rows_pieces(fx->s, t, row0, n, bits, out,
								 0, collect_piece, &c, &o),
					 -ENOSPC);
			assert_int_equal(c.n, 0);
			o.scratch_len = (size_t)ss;
			assert_int_equal(cxlms_fetch_rows_pieces(fx->s, t, row0, n, bits, out,
								 0, collect_piece, &c, &o), 0);
			nb = cxlms_fetch_rows_blocks(t, row0, n, bits, out, 0, NULL, 0);
			assert_true(c.n >= (unsigned int)nb);
			assert_false(c.order_bad);
			assert_false(c.misaligned);
			assert_int_equal(c.bits, bits);
			free(o.scratch);
		}
	}
}

struct cmp {
	const uint8_t *want;	/* the row fetch's data of the current block */
	struct cxlms_rows_block *blocks;
	unsigned int block;
	uint64_t done;		/* bits of the block compared */
	unsigned int w;
	bool bad;
	uint64_t elems;
};

static int cmp_piece(void *arg, const struct cxlms_piece *p)
{
	struct cmp *c = arg;
	struct cxlms_rows_block *b = &c->blocks[c->block];
	uint64_t i, nbits = p->elem_count * c->w;

	if (p->tile != b->tile) {
		c->block++;
		c->done = 0;
		b = &c->blocks[c->block];
	}
	for (i = 0; i < nbits; i++)
		if (bit_at(p->data, i) != bit_at(c->want + b->off, c->done + i))
			c->bad = true;
	c->done += nbits;
	c->elems += p->elem_count;
	return 0;
}

/* The pieces' bits are the row fetch's data bits, block by block. */
static void test_pieces_equal_rows(void **state)
{
	struct fx *fx = *state;
	unsigned int k, out;

	for (k = 0; k < N_T; k++)
	for (out = CXLMS_OUT_PACKED; out <= CXLMS_OUT_BF16; out++) {
		struct cxlms_tensor *t = fx->t[k];
		struct cxlms_rows_block blocks[16];
		uint64_t rows = cxlms_tensor_get_rows(t), row0 = 3, n = rows - 5;
		unsigned int bits = cxlms_tensor_get_planes(t);
		int64_t size = cxlms_fetch_rows_size(t, row0, n, bits, out, 0);
		uint8_t *buf = malloc((size_t)size);
		struct cmp c = { .want = buf, .blocks = blocks,
				 .w = out_width(t, bits, out) };
		struct cxlms_rows_opts o = { .size = sizeof(o), .piece_bytes = 777,
					     .flags = CXLMS_FETCH_ROW_PIECES };

		assert_int_equal(cxlms_fetch_rows_blocks(t, row0, n, bits, out, 0,
							 blocks, 16) <= 16, 1);
		assert_int_equal(cxlms_fetch_rows(fx->s, t, row0, n, bits, out, 0, buf,
						  (size_t)size, NULL), size);
		assert_int_equal(cxlms_fetch_rows_pieces(fx->s, t, row0, n, bits, out, 0,
							 cmp_piece, &c, &o), 0);
		assert_false(c.bad);
		assert_int_equal(c.elems, n * cxlms_tensor_get_cols(t));
		free(buf);
	}
}

/* A consumer's non-zero answer stops the fetch and comes back. */
static int stop_at_two(void *arg, const struct cxlms_piece *p)
{
	(void)p;
	return ++*(unsigned int *)arg == 2 ? 42 : 0;
}

static void test_pieces_stop(void **state)
{
	struct fx *fx = *state;
	struct cxlms_rows_opts o = { .size = sizeof(o), .piece_bytes = 1 };
	unsigned int calls = 0;

	assert_int_equal(cxlms_fetch_rows_pieces(fx->s, fx->t[0], 0, 300, 4,
						 CXLMS_OUT_PACKED, 0, stop_at_two,
						 &calls, &o), 42);
	assert_int_equal(calls, 2);
}

/*
 * Side data alignment of cxlms_fetch_pieces() for every k, under every
 * SIMD variant the CPU has and the portable path: the scales (fp16) and
 * levels (s16) inside @side are 64-byte aligned.
 */
struct align_check {
	uint64_t scales_rel, levels_rel;
	bool bad;
};

static int align_piece(void *arg, const struct cxlms_piece *p)
{
	struct align_check *a = arg;

	if (((uintptr_t)p->side + a->scales_rel) % 64 ||
	    ((uintptr_t)p->side + a->levels_rel) % 64)
		a->bad = true;
	return 0;
}

static void test_pieces_side_aligned(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *a = fx->t[0];
	unsigned int isa, bits;

	for (isa = 0; isa < CXLMS_ISA_COUNT; isa++) {
		if (!cxlms_simd_isa_supported(isa))
			continue;
		assert_int_equal(cxlms_simd_set_isa(isa), 0);
		for (bits = 1; bits <= 8; bits++) {
			struct cxlms_fetch_info fi;
			struct align_check ac = { 0 };

			assert_int_equal(cxlms_fetch_info(a, 0, bits, CXLMS_OUT_PACKED,
							  CXLMS_RECON_TABLE, &fi), 0);
			ac.scales_rel = fi.scales_off - fi.data_len;
			ac.levels_rel = fi.levels_off - fi.data_len;
			assert_int_equal(cxlms_fetch_pieces(fx->s, a, 0, bits,
							    CXLMS_OUT_PACKED,
							    CXLMS_RECON_TABLE, 4096,
							    align_piece, &ac), 0);
			if (ac.bad)
				fail_msg("%s: k=%u: side data misaligned",
					 cxlms_simd_isa_str(isa), bits);
		}
	}
}

static void test_decode_helpers(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(cxlms_tensor_get_groups_per_row(fx->t[0]), 8);
	assert_int_equal(cxlms_tensor_get_groups_per_row(fx->t[1]), 0);
	assert_true(cxlms_fp16_to_float(0x3c00) == 1.0f);
	assert_true(cxlms_fp16_to_float(0xc000) == -2.0f);
	assert_true(cxlms_fp16_to_float(0x0001) == 0x1p-24f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_boundary_and_output),
		cmocka_unit_test(test_f32_rows_are_tensor_rows),
		cmocka_unit_test(test_range_errors),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_pieces_equal_rows),
		cmocka_unit_test(test_pieces_stop),
		cmocka_unit_test(test_pieces_side_aligned),
		cmocka_unit_test(test_decode_helpers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
