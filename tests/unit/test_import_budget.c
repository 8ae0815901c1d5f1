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
	};

	return cmocka_run_group_tests_name("import_budget", tests, NULL, NULL);
}
