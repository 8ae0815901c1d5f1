// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Tile layout rules: against the reference layout over a sweep of sizes,
 * alignment and the 4 KiB stride rule, default tile rows, and rejection of
 * invalid or overflowing geometry.
 */
#include "codec_test_util.h"
#include "store_format.h"
#include "ref/ref_codec.h"

static void check_geom(unsigned fmt, unsigned cols, unsigned group, unsigned tile_rows)
{
	struct cxlms_tile_geom g = { fmt, cols, group, tile_rows, 0 };
	struct cxlms_tile_layout l;
	struct ref_layout r;

	assert_int_equal(ref_layout(fmt, cols, group, tile_rows, &r), 0);
	assert_int_equal(cxlms_tile_layout(&g, &l), 0);
	assert_int_equal(l.n_planes, r.n_planes);
	assert_int_equal(l.elems, r.elems);
	assert_int_equal(l.groups_per_row, r.gpr);
	assert_int_equal(l.scales_off, r.scales_off);
	assert_int_equal(l.scales_len, r.scales_len);
	assert_int_equal(l.table_off, r.table_off);
	assert_int_equal(l.table_len, r.table_len);
	assert_int_equal(l.planes_off, r.planes_off);
	assert_int_equal(l.plane_len, r.plane_len);
	assert_int_equal(l.plane_stride, r.plane_stride);
	assert_int_equal(l.tile_bytes, r.tile_bytes);
	/* the invariants themselves, stated directly */
	assert_int_equal(l.plane_stride % 64, 0);
	assert_int_not_equal(l.plane_stride % 4096, 0);
	assert_true(l.plane_stride >= l.plane_len);
	assert_int_equal(l.planes_off % 64, 0);
	assert_int_equal(l.table_off % 64, 0);
	assert_int_equal(l.tile_bytes % 64, 0);
	if (fmt == CXLMS_FMT_INT8)
		assert_true(l.table_off >= l.scales_off + l.scales_len &&
			    l.planes_off >= l.table_off + l.table_len);
}

static void test_sweep(void **state)
{
	(void)state;
	/* every elems count 1..5000 as one row, for each format */
	for (unsigned cols = 1; cols <= 5000; cols++) {
		check_geom(CXLMS_FMT_INT8, cols, 128, 1);
		check_geom(CXLMS_FMT_INT8, cols, 7, 1);
		check_geom(CXLMS_FMT_BF16, cols, 0, 1);
		check_geom(CXLMS_FMT_FP16, cols, 0, 1);
	}
	/* sizes around every multiple of 4096 bytes per plane, up to the max */
	for (unsigned m = 1; m <= 512; m++) {
		unsigned elems = m * 4096 * 8;

		for (int d = -64 * 8; d <= 64 * 8; d += 8 * 8) {
			unsigned e = elems + d;

			if (e > CXLMS_TILE_MAX_ELEMS)
				continue;
			check_geom(CXLMS_FMT_INT8, e, 128, 1);
			check_geom(CXLMS_FMT_FP16, e, 0, 1);
			if (e % 64 == 0)
				check_geom(CXLMS_FMT_INT8, e / 64, 100, 64);
		}
	}
	check_geom(CXLMS_FMT_INT8, CXLMS_TILE_MAX_ELEMS, 128, 1);
	check_geom(CXLMS_FMT_INT8, 1, 128, CXLMS_TILE_MAX_ELEMS);
}

static void test_stride_not_4k(void **state)
{
	struct cxlms_tile_geom g = { CXLMS_FMT_INT8, 4096 * 8, 128, 1, 0 };	/* 4096 B planes */
	struct cxlms_tile_layout l;

	(void)state;
	assert_int_equal(cxlms_tile_layout(&g, &l), 0);
	assert_int_equal(l.plane_len, 4096);
	assert_int_equal(l.plane_stride, 4096 + 64);
}

static void test_default_tile_rows(void **state)
{
	static const uint64_t big[][2] = {
		{ 4096, 4096 }, { 11008, 4096 }, { 4096, 11008 }, { 32000, 4096 },
		{ 151936, 896 }, { 1 << 20, 1 }, { 3, 1 << 23 }, { 1000000, 3 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		uint64_t rows = big[i][0], cols = big[i][1];
		uint32_t tr = cxlms_default_tile_rows(rows, cols);
		struct cxlms_tile_geom g = { CXLMS_FMT_INT8, (uint32_t)cols, 128, tr, 0 };
		struct cxlms_tile_layout l;

		assert_true(tr >= 1 && tr <= rows);
		assert_int_equal(cxlms_tile_layout(&g, &l), 0);
		/* long plane runs: at least 64 KiB, never more than the max */
		assert_true(l.plane_len >= 64 * 1024);
		assert_true((uint64_t)tr * cols <= CXLMS_TILE_MAX_ELEMS);
		/* and not more rows than needed for the target */
		assert_true((uint64_t)(tr - 1) * cols < CXLMS_TILE_TARGET_ELEMS);
	}
	/* small tensors: one tile of all rows */
	assert_int_equal(cxlms_default_tile_rows(3, 10), 3);
	assert_int_equal(cxlms_default_tile_rows(1, 1), 1);
	/* a row at the maximum is one row per tile; larger rows cannot be stored */
	assert_int_equal(cxlms_default_tile_rows(5, CXLMS_TILE_MAX_ELEMS), 1);
	assert_int_equal(cxlms_default_tile_rows(5, CXLMS_TILE_MAX_ELEMS + 1ull), 0);
	assert_int_equal(cxlms_default_tile_rows(5, 1ull << 40), 0);
	assert_int_equal(cxlms_default_tile_rows(0, 10), 0);
	assert_int_equal(cxlms_default_tile_rows(10, 0), 0);
	/* cols just under the target: rounding up must respect the max */
	assert_true((uint64_t)cxlms_default_tile_rows(1ull << 40, CXLMS_TILE_TARGET_ELEMS - 1) *
		    (CXLMS_TILE_TARGET_ELEMS - 1) <= CXLMS_TILE_MAX_ELEMS);
}

static int layout_of(unsigned fmt, unsigned cols, unsigned group, unsigned tile_rows)
{
	struct cxlms_tile_geom g = { fmt, cols, group, tile_rows, 0 };
	struct cxlms_tile_layout l;

	return cxlms_tile_layout(&g, &l);
}

static void test_rejections(void **state)
{
	(void)state;
	assert_int_equal(layout_of(0, 8, 0, 1), -EINVAL);
	assert_int_equal(layout_of(4, 8, 0, 1), -EINVAL);
	assert_int_equal(layout_of(CXLMS_FMT_INT8, 0, 128, 1), -EINVAL);
	assert_int_equal(layout_of(CXLMS_FMT_INT8, 8, 128, 0), -EINVAL);
	assert_int_equal(layout_of(CXLMS_FMT_INT8, 8, 0, 1), -EINVAL);
	assert_int_equal(layout_of(CXLMS_FMT_FP16, 8, 1, 1), -EINVAL);
	assert_int_equal(layout_of(CXLMS_FMT_BF16, 8, 128, 1), -EINVAL);
	/* too many elements, and a product that wraps 32 bits */
	assert_int_equal(layout_of(CXLMS_FMT_INT8, CXLMS_TILE_MAX_ELEMS + 1, 128, 1), -EINVAL);
	assert_int_equal(layout_of(CXLMS_FMT_INT8, 1 << 12, 128, (1 << 12) + 1), -EINVAL);
	assert_int_equal(layout_of(CXLMS_FMT_INT8, 0x10000, 128, 0x10000), -EINVAL);
	assert_int_equal(layout_of(CXLMS_FMT_FP16, 0x80000000u, 0, 2), -EINVAL);
	assert_int_equal(layout_of(CXLMS_FMT_FP16, 0xffffffffu, 0, 0xffffffffu), -EINVAL);
	/* limits that are fine: group larger than a row, max elements */
	assert_int_equal(layout_of(CXLMS_FMT_INT8, 5, 128, 1), 0);
	assert_int_equal(layout_of(CXLMS_FMT_INT8, 5, 0xffffffffu, 1), 0);
	assert_int_equal(layout_of(CXLMS_FMT_FP16, CXLMS_TILE_MAX_ELEMS, 0, 1), 0);
}

static void test_fmt_and_recon(void **state)
{
	(void)state;
	assert_int_equal(cxlms_fmt_planes(CXLMS_FMT_INT8), 8);
	assert_int_equal(cxlms_fmt_planes(CXLMS_FMT_BF16), 16);
	assert_int_equal(cxlms_fmt_planes(CXLMS_FMT_FP16), 16);
	assert_int_equal(cxlms_fmt_planes(0), 0);
	assert_int_equal(cxlms_fmt_planes(4), 0);
	assert_int_equal(cxlms_recon_resolve(CXLMS_FMT_INT8, CXLMS_RECON_DEFAULT),
			 CXLMS_RECON_TABLE);
	assert_int_equal(cxlms_recon_resolve(CXLMS_FMT_BF16, CXLMS_RECON_DEFAULT),
			 CXLMS_RECON_MIDPOINT);
	assert_int_equal(cxlms_recon_resolve(CXLMS_FMT_FP16, CXLMS_RECON_FLOOR),
			 CXLMS_RECON_FLOOR);
	assert_int_equal(cxlms_recon_resolve(CXLMS_FMT_FP16, CXLMS_RECON_TABLE), -EOPNOTSUPP);
	assert_int_equal(cxlms_recon_resolve(CXLMS_FMT_INT8, 4), -EINVAL);
	assert_int_equal(cxlms_recon_resolve(9, CXLMS_RECON_FLOOR), -EINVAL);
}

/* Side data offsets of an INT8 fetch are 64-byte aligned, totals too. */
static void test_fetch_layout_alignment(void **state)
{
	struct cxlms_tile_geom g = { CXLMS_FMT_INT8, 33, 10, 3, 0 };
	struct cxlms_fetch_layout fl;

	(void)state;
	for (unsigned k = 1; k <= 8; k++) {
		for (unsigned out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++) {
			assert_int_equal(cxlms_fetch_layout(&g, 99, k, out, 0, &fl), 0);
			assert_int_equal(fl.data_off, 0);
			if (out <= CXLMS_OUT_INT) {
				assert_int_equal(fl.scales_off % 64, 0);
				assert_true(fl.scales_off >= fl.data_len);
				assert_int_equal(fl.scales_len, 3 * 4 * 2);
				assert_int_equal(fl.total % 64, 0);
			} else {
				assert_int_equal(fl.scales_len, 0);
				assert_int_equal(fl.total, fl.data_len);
			}
			if (out <= CXLMS_OUT_PACKED) {
				assert_int_equal(fl.levels_off % 64, 0);
				assert_true(fl.levels_off >= fl.scales_off + fl.scales_len);
				assert_int_equal(fl.levels_len, 2u << k);
				assert_true(fl.total >= fl.levels_off + fl.levels_len);
			} else {
				assert_int_equal(fl.levels_len, 0);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_stride_not_4k),
		cmocka_unit_test(test_default_tile_rows),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_fmt_and_recon),
		cmocka_unit_test(test_fetch_layout_alignment),
	};

	return cmocka_run_group_tests_name("codec_layout", tests, NULL, NULL);
}
