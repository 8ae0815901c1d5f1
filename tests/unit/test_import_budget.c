// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * No padding waste: for every 2-D tensor of at least 64 Ki elements the
 * bytes a store spends on it (its tiles plus the alignment gap before it)
 * are at most 1.04 x (the plane bytes of its real elements + its scales
 * and centroid tables).  Planned by the library's store writer, so the
 * figure is the one every import gets.
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
#include "writer.h"

struct shape {
	uint64_t rows, cols;
};

/* Real shapes (and scaled ones) whose last tile is short or tiny. */
static const struct shape shapes[] = {
	{ 1408, 512 }, { 3000, 200 }, { 4096, 1100 }, { 1100, 4096 },
	{ 512, 512 }, { 256, 256 }, { 257, 256 }, { 300, 300 },
	{ 1025, 1024 }, { 11008, 409 }, { 409, 11008 }, { 65536, 1 },
	{ 32768, 3 }, { 1, 65536 }, { 2, 40000 }, { 4097, 17 },
	{ 5000, 77 }, { 1000, 1000 }, { 32000, 288 }, { 768, 3072 },
};

/* Plane bytes of the real elements plus real side data (scales, tables). */
static double real_bytes(const struct cxlms_dirent *d)
{
	double planes = (double)d->rows * d->cols * cxlms_fmt_planes(d->fmt) / 8;
	double side = 0;

	if (d->fmt == CXLMS_FMT_INT8) {
		uint64_t gpr = (d->cols + d->group_size - 1) / d->group_size;

		side = (double)d->rows * gpr * 2 + (double)d->n_tiles * CXLMS_TABLE_BYTES;
	}
	return planes + side;
}

static void check_budget(unsigned int fmt, unsigned int group)
{
	unsigned int i;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		/* A small odd tensor first, so the second one's alignment counts. */
		struct cxlms_tensor_spec s[2] = {
			{ .name = "pad", .src_dtype = CXLMS_DTYPE_F32, .fmt = fmt,
			  .ndim = 2, .shape = { 3, 7 }, .group_size = group },
			{ .name = "w", .src_dtype = CXLMS_DTYPE_F32, .fmt = fmt,
			  .ndim = 2, .shape = { shapes[i].rows, shapes[i].cols },
			  .group_size = group },
		};
		const struct cxlms_dirent *a, *b;
		struct cxlms_writer *w;
		double spent, real;

		assert_int_equal(cxlms_writer_new(NULL, s, 2, 128, &w), 0);
		a = cxlms_writer_dirent(w, 0);
		b = cxlms_writer_dirent(w, 1);
		spent = (double)(b->tile_off + cxlms_dirent_tiles_bytes(b) -
				 (a->tile_off + cxlms_dirent_tiles_bytes(a)));
		real = real_bytes(b);
		print_message("# %s g%-3u %6llu x %-6llu tiles %u: %.0f bytes for %.0f (%.4f)\n",
			      cxlms_format_name(fmt), group,
			      (unsigned long long)shapes[i].rows,
			      (unsigned long long)shapes[i].cols, b->n_tiles,
			      spent, real, spent / real);
		if (shapes[i].rows * shapes[i].cols >= 65536 && spent > 1.04 * real)
			fail_msg("%llu x %llu %s: %.0f bytes stored > 1.04 x %.0f",
				 (unsigned long long)shapes[i].rows,
				 (unsigned long long)shapes[i].cols,
				 cxlms_format_name(fmt), spent, real);
		cxlms_writer_free(w);
	}
}

static void test_budget_int8_g128(void **state)
{
	check_budget(CXLMS_FMT_INT8, 128);
}

static void test_budget_int8_g64(void **state)
{
	check_budget(CXLMS_FMT_INT8, 64);
}

static void test_budget_int8_g32(void **state)
{
	check_budget(CXLMS_FMT_INT8, 32);
}

static void test_budget_bf16(void **state)
{
	check_budget(CXLMS_FMT_BF16, 0);
}

static void test_budget_fp16(void **state)
{
	check_budget(CXLMS_FMT_FP16, 0);
}

/* The last tile holds only its rows: smaller than a full tile, flagged. */
static void test_short_tail_planned(void **state)
{
	struct cxlms_tensor_spec s = {
		.name = "w", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
		.ndim = 2, .shape = { 1408, 512 }, .group_size = 128,
	};
	struct cxlms_tile_span first, last;
	const struct cxlms_dirent *d;
	struct cxlms_writer *w;

	assert_int_equal(cxlms_writer_new(NULL, &s, 1, 128, &w), 0);
	d = cxlms_writer_dirent(w, 0);
	assert_int_equal(d->n_tiles, 2);
	assert_true(d->flags & CXLMS_DIRENT_SHORT_TAIL);
	assert_int_equal(cxlms_dirent_tile(d, 0, &first, NULL), 0);
	assert_int_equal(cxlms_dirent_tile(d, 1, &last, NULL), 0);
	assert_int_equal(first.rows, 1024);
	assert_int_equal(last.rows, 384);
	assert_int_equal(last.first_row, 1024);
	assert_int_equal(last.off, first.off + first.bytes);
	assert_true(last.bytes < first.bytes / 2);
	assert_int_equal(cxlms_dirent_tiles_bytes(d), first.bytes + last.bytes);
	assert_int_equal(cxlms_dirent_tile(d, 2, &last, NULL), -EINVAL);
	cxlms_writer_free(w);
}

/* A store with short tails passes validation and every tile CRC. */
static void test_short_tail_store_valid(void **state)
{
	struct cxlms_tensor_spec s[3] = {
		{ .name = "a", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
		  .ndim = 2, .shape = { 3000, 200 }, .group_size = 64 },
		{ .name = "b", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_BF16,
		  .ndim = 2, .shape = { 1408, 512 } },
		{ .name = "c", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_FP16,
		  .ndim = 1, .shape = { 77 } },
	};
	char *dir = tu_mkdtemp(), *path;
	struct cxlms_store *st;
	struct cxlms_ctx *ctx;
	uint64_t seed = 7;

	assert_non_null(dir);
	path = tu_path(dir, "s.cxlms");
	assert_int_equal(tu_write_random_store(path, s, 3, &seed, 1000), 0);
	assert_int_equal(cxlms_new(&ctx), 0);
	assert_int_equal(cxlms_open(ctx, path, 0, &st), 0);
	assert_int_equal(cxlms_store_verify(st), 0);
	cxlms_store_unref(st);
	cxlms_unref(ctx);
	tu_rmtree(dir);
	free(path);
	free(dir);
}

/*
 * The feature bits gate the new entry fields: a store that uses one
 * without its bit is refused, as an old reader refuses the bit itself.
 */
struct img {
	char *dir, *path;
	uint8_t *buf;
	size_t len;
	struct cxlms_sb *sb;
	struct cxlms_dirent *d;	/* the first entry: 3000 x 200, short tail */
};

static void img_make_shape(struct img *im, uint64_t rows);

static void img_make(struct img *im)
{
	img_make_shape(im, 3000);
	assert_true(im->d->flags & CXLMS_DIRENT_SHORT_TAIL);
}

static void img_make_shape(struct img *im, uint64_t rows)
{
	struct cxlms_tensor_spec s[2] = {
		{ .name = "a", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
		  .ndim = 2, .shape = { rows, 200 }, .group_size = 64 },
		{ .name = "b", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
		  .ndim = 3, .shape = { 2, 3, 64 }, .group_size = 64 },
	};
	uint64_t seed = 3;

	im->dir = tu_mkdtemp();
	assert_non_null(im->dir);
	im->path = tu_path(im->dir, "s.cxlms");
	assert_int_equal(tu_write_random_store(im->path, s, 2, &seed, 1000), 0);
	im->buf = tu_read_file(im->path, &im->len);
	assert_non_null(im->buf);
	im->sb = (struct cxlms_sb *)im->buf;
	im->d = (struct cxlms_dirent *)(im->buf + im->sb->dir_off);
	assert_true(im->sb->feature_incompat & CXLMS_FEAT_INCOMPAT_TIGHT);
}

/* Re-seal what was changed and expect open to fail with @err naming @why. */
static void img_expect(struct img *im, int err, const char *why)
{
	struct logcap lc;
	struct cxlms_ctx *ctx = tu_ctx(&lc);
	struct cxlms_store *st = NULL;

	cxlms_dirent_seal(&im->d[0]);
	cxlms_dirent_seal(&im->d[1]);
	im->sb->dir_crc = cxlms_dir_crc(im->d, im->sb->dir_count);
	cxlms_sb_seal(im->sb);
	assert_int_equal(tu_write_file(im->path, im->buf, im->len), 0);
	assert_int_equal(cxlms_open(ctx, im->path, 0, &st), err);
	if (why)
		assert_logged(&lc, why);
	if (st)
		cxlms_store_unref(st);
	cxlms_unref(ctx);
	tu_rmtree(im->dir);
	free(im->dir);
	free(im->path);
	free(im->buf);
}

static void test_short_tail_needs_bit(void **state)
{
	struct img im;

	img_make(&im);
	im.sb->feature_incompat &= ~CXLMS_FEAT_INCOMPAT_TIGHT;
	img_expect(&im, -EUCLEAN, "short last tile in a store without the feature bit");
}

static void test_unknown_incompat_refused(void **state)
{
	struct img im;

	img_make(&im);
	im.sb->feature_incompat |= 1ull << 9;
	img_expect(&im, -EPROTONOSUPPORT, "unknown incompatible features");
}

static void test_row_dims_needs_bit(void **state)
{
	struct img im;

	img_make(&im);
	/* b [2, 3, 64] stored as 2 rows of 192: consistent, but no FOLD bit */
	im.d[1].row_dims = 1;
	im.d[1].rows = 2;
	im.d[1].cols = 192;
	img_expect(&im, -EUCLEAN, "row_dims set in a store without the feature bit");
}

static void test_row_dims_below_ndim(void **state)
{
	struct img im;

	img_make(&im);
	im.sb->feature_incompat |= CXLMS_FEAT_INCOMPAT_FOLD;
	im.d[1].row_dims = 3;
	img_expect(&im, -EUCLEAN, "row_dims not below ndim");
}

static void test_row_dims_rows_mismatch(void **state)
{
	struct img im;

	img_make(&im);
	im.sb->feature_incompat |= CXLMS_FEAT_INCOMPAT_FOLD;
	im.d[1].row_dims = 1;	/* rows stay 6: the shape says 2 */
	img_expect(&im, -EUCLEAN, "rows/cols do not match the shape");
}

/* Without TIGHT, tensors start on a page: the small second one does not. */
static void test_tile_off_alignment(void **state)
{
	struct img im;

	img_make_shape(&im, 2622);	/* ceil(2^19 / 200) rows: one exact tile */
	assert_false(im.d[0].flags & CXLMS_DIRENT_SHORT_TAIL);
	assert_true(im.d[1].tile_off % 4096 != 0);
	im.sb->feature_incompat &= ~CXLMS_FEAT_INCOMPAT_TIGHT;
	img_expect(&im, -EUCLEAN, "tile offset misaligned");
}

/* A flipped byte in the short last tile is found by its CRC. */
static void test_short_tail_crc(void **state)
{
	struct img im;
	struct cxlms_tile_span sp;
	struct logcap lc;
	struct cxlms_ctx *ctx;
	struct cxlms_store *st;

	img_make(&im);
	assert_int_equal(cxlms_dirent_tile(im.d, im.d->n_tiles - 1, &sp, NULL), 0);
	im.buf[sp.off + sp.bytes - 1] ^= 0x80;	/* last byte of the last plane's stride */
	assert_int_equal(tu_write_file(im.path, im.buf, im.len), 0);
	ctx = tu_ctx(&lc);
	assert_int_equal(cxlms_open(ctx, im.path, 0, &st), 0);
	assert_int_equal(cxlms_store_verify(st), -EBADMSG);
	cxlms_store_unref(st);
	cxlms_unref(ctx);
	tu_rmtree(im.dir);
	free(im.dir);
	free(im.path);
	free(im.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_int8_g128),
		cmocka_unit_test(test_budget_int8_g64),
		cmocka_unit_test(test_budget_int8_g32),
		cmocka_unit_test(test_budget_bf16),
		cmocka_unit_test(test_budget_fp16),
		cmocka_unit_test(test_short_tail_planned),
		cmocka_unit_test(test_short_tail_store_valid),
		cmocka_unit_test(test_short_tail_needs_bit),
		cmocka_unit_test(test_unknown_incompat_refused),
		cmocka_unit_test(test_row_dims_needs_bit),
		cmocka_unit_test(test_row_dims_below_ndim),
		cmocka_unit_test(test_row_dims_rows_mismatch),
		cmocka_unit_test(test_tile_off_alignment),
		cmocka_unit_test(test_short_tail_crc),
	};

	return cmocka_run_group_tests_name("import_budget", tests, NULL, NULL);
}
