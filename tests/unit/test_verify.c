// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Verified fetches on the file backend: a store whose directory is sound
 * but one byte of one plane of one tile is flipped opens, fetches without
 * verify as before, and fails with -EBADMSG naming the tensor and tile
 * with CXLMS_FETCH_VERIFY or cxlms_store_set_verify() on, through every
 * fetch entry point (tile, tiles, pieces, rows, row pieces, async).  The
 * tiles around it and a clean store verify fine.
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
#include "store_format.h"
#include "bitplane.h"
#include "writer.h"
#include "simd/simd.h"

#define BAD_TILE 2

struct fx {
	struct cxlms_ctx *ctx;
	char *dir, *clean, *bad;
	struct cxlms_store *s, *sb;	/* clean, corrupt */
	struct cxlms_tensor *t, *tb;
};

static struct logcap lc;

/* Flip one byte of plane 0 of tile BAD_TILE of the first tensor in @img. */
static void corrupt(uint8_t *img)
{
	const struct cxlms_sb *sb = (const void *)img;
	const struct cxlms_dirent *d = (const void *)(img + sb->dir_off);
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout l;

	cxlms_dirent_geom(d, &g);
	assert_int_equal(cxlms_tile_layout(&g, &l), 0);
	img[d->tile_off + (uint64_t)BAD_TILE * l.tile_bytes + l.planes_off + 5] ^= 0x10;
}

static int setup(void **state)
{
	static const struct cxlms_tensor_spec spec[] = {
		{ .name = "w", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
		  .ndim = 2, .shape = { 210, 512 }, .group_size = 128, .tile_rows = 40 },
		/* 5 full tiles and a short last one of 10 rows */
	};
	struct fx *fx = calloc(1, sizeof(*fx));
	uint64_t seed = 3;
	uint8_t *img;
	size_t len;

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir)
		return -1;
	fx->clean = tu_path(fx->dir, "clean.cxlms");
	fx->bad = tu_path(fx->dir, "bad.cxlms");
	if (tu_write_random_store(fx->clean, spec, 1, &seed, 9))
		return -1;
	img = tu_read_file(fx->clean, &len);
	if (!img)
		return -1;
	corrupt(img);
	if (tu_write_file(fx->bad, img, len))
		return -1;
	free(img);
	if (cxlms_open(fx->ctx, fx->clean, 0, &fx->s) ||
	    cxlms_open(fx->ctx, fx->bad, 0, &fx->sb) ||
	    cxlms_tensor_lookup(fx->s, "w", &fx->t) ||
	    cxlms_tensor_lookup(fx->sb, "w", &fx->tb))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cxlms_store_unref(fx->s);
	cxlms_store_unref(fx->sb);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->clean);
	free(fx->bad);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

static uint8_t buf[1 << 20], ref[1 << 20];

static int any_piece(void *arg, const struct cxlms_piece *p)
{
	(void)p;
	++*(unsigned int *)arg;
	return 0;
}

#define EXPECT_NAMED()							\
	assert_string_equal(cxlms_fetch_last_error(),			\
			    "tensor 'w': tile 2 checksum mismatch")

/* Verify off: the corrupt tile is fetched as before, its bytes changed. */
static void test_flag_off_old_behaviour(void **state)
{
	struct fx *fx = *state;
	int64_t n = cxlms_fetch(fx->s, fx->t, BAD_TILE, 8, CXLMS_OUT_INT, 0, ref,
				sizeof(ref));

	assert_true(n > 0);
	assert_int_equal(cxlms_fetch(fx->sb, fx->tb, BAD_TILE, 8, CXLMS_OUT_INT, 0,
				     buf, sizeof(buf)), n);
	assert_memory_not_equal(buf, ref, (size_t)n);
	assert_int_equal(cxlms_fetch_rows(fx->sb, fx->tb, 0, 200, 8, CXLMS_OUT_F32, 0,
					  buf, sizeof(buf), NULL), 200 * 512 * 4);
}

/* The per-call flag: rows covering the bad tile fail, others do not. */
static void test_rows_flag(void **state)
{
	struct fx *fx = *state;
	struct cxlms_rows_opts o = { .size = sizeof(o), .flags = CXLMS_FETCH_VERIFY };
	unsigned int calls = 0;

	assert_int_equal(cxlms_fetch_rows(fx->sb, fx->tb, 0, 80, 4, CXLMS_OUT_PACKED, 0,
					  buf, sizeof(buf), &o) > 0, 1);
	assert_int_equal(cxlms_fetch_rows(fx->sb, fx->tb, 79, 2, 4, CXLMS_OUT_PACKED, 0,
					  buf, sizeof(buf), &o), -EBADMSG);
	EXPECT_NAMED();
	assert_int_equal(cxlms_fetch_rows(fx->sb, fx->tb, 120, 80, 4, CXLMS_OUT_PACKED,
					  0, buf, sizeof(buf), &o) > 0, 1);
	assert_int_equal(cxlms_fetch_rows_pieces(fx->sb, fx->tb, 100, 10, 4,
						 CXLMS_OUT_F32, 0, any_piece, &calls,
						 &o), -EBADMSG);
	assert_int_equal(calls, 0);
	assert_logged(&lc, "tile 2 checksum mismatch");
	/* The clean store passes every tile, the short last one included. */
	assert_int_equal(cxlms_fetch_rows(fx->s, fx->t, 0, 210, 3, CXLMS_OUT_F32, 0,
					  buf, sizeof(buf), &o), 210 * 512 * 4);
	assert_int_equal(cxlms_tensor_get_tile_count(fx->t), 6);
	assert_int_equal(cxlms_fetch_rows(fx->sb, fx->tb, 200, 10, 8, CXLMS_OUT_F32, 0,
					  buf, sizeof(buf), &o), 10 * 512 * 4);
}

/* The store setting: every entry point checks. */
static void test_store_setting(void **state)
{
	struct fx *fx = *state;
	struct cxlms_async *q;
	struct cxlms_async_req req = {
		.tensor = fx->tb, .first = 1, .count = 2, .bits = 8,
		.out = CXLMS_OUT_INT, .buf = buf, .len = sizeof(buf), .user_data = 9,
	};
	struct cxlms_async_cqe cqe;
	unsigned int calls = 0;

	assert_int_equal(cxlms_store_set_verify(fx->sb, 1), 0);
	assert_int_equal(cxlms_store_set_verify(fx->sb, 1), 1);
	assert_true(cxlms_fetch(fx->sb, fx->tb, 1, 8, CXLMS_OUT_INT, 0, buf,
				sizeof(buf)) > 0);
	assert_int_equal(cxlms_fetch(fx->sb, fx->tb, BAD_TILE, 8, CXLMS_OUT_INT, 0,
				     buf, sizeof(buf)), -EBADMSG);
	EXPECT_NAMED();
	assert_int_equal(cxlms_fetch_tiles(fx->sb, fx->tb, 0, 5, 2, CXLMS_OUT_PACKED,
					   0, buf, sizeof(buf)), -EBADMSG);
	assert_int_equal(cxlms_fetch_pieces(fx->sb, fx->tb, BAD_TILE, 2,
					    CXLMS_OUT_PACKED, 0, 0, any_piece,
					    &calls), -EBADMSG);
	assert_int_equal(calls, 0);
	assert_int_equal(cxlms_fetch_rows(fx->sb, fx->tb, 90, 1, 8, CXLMS_OUT_F32, 0,
					  buf, sizeof(buf), NULL), -EBADMSG);
	assert_int_equal(cxlms_async_new(fx->sb, 4, &q), 0);
	assert_int_equal(cxlms_async_submit(q, &req, 1), 1);
	assert_int_equal(cxlms_async_reap(q, &cqe, 1, 1), 1);
	assert_int_equal(cqe.user_data, 9);
	assert_int_equal(cqe.result, -EBADMSG);
	cxlms_async_free(q);
	/* Off again: the old behaviour. */
	assert_int_equal(cxlms_store_set_verify(fx->sb, 0), 1);
	assert_true(cxlms_fetch(fx->sb, fx->tb, BAD_TILE, 8, CXLMS_OUT_INT, 0, buf,
				sizeof(buf)) > 0);
	assert_int_equal(cxlms_store_set_verify(NULL, 1), -EINVAL);
}

/* The SSE4.2 CRC verify uses is the codec's CRC32C, at every alignment. */
static void test_crc_hw_equals_codec(void **state)
{
	static uint8_t data[4096 + 64];
	uint64_t seed = 77;
	unsigned int off, len;

	(void)state;
	for (off = 0; off < sizeof(data); off++)
		data[off] = (uint8_t)tu_rng(&seed);
	assert_int_equal(cxlms_simd_crc32c(0, "123456789", 9), 0xe3069283);
	for (off = 0; off < 16; off++)
		for (len = 0; len < 4096; len += 1 + len / 3)
			assert_int_equal(cxlms_simd_crc32c(0x1234 * off, data + off, len),
					 cxlms_crc32c(0x1234 * off, data + off, len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_hw_equals_codec),
		cmocka_unit_test(test_flag_off_old_behaviour),
		cmocka_unit_test(test_rows_flag),
		cmocka_unit_test(test_store_setting),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
