// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * INT8 bit-plane codec against the independent reference in ref/:
 * every int8 code at every k, every output and every recon, odd sizes and
 * group tails, centroid tables, zero and outlier groups, split placement
 * and the error paths of placement and fetch.
 */
#include <math.h>
#include "codec_test_util.h"
#include "bitplane.h"
#include "ref/ref_codec.h"

struct geom_case {
	unsigned cols, group, tile_rows, rows;	/* rows: rows in this tile */
};

/* n = rows * cols: 1, 7, 8, 9, 63, 64, 65, 1000, group tails, short tiles. */
static const struct geom_case cases[] = {
	{ 1, 128, 1, 1 },	/* n = 1, group larger than a row */
	{ 7, 128, 1, 1 },	/* n = 7 */
	{ 8, 3, 1, 1 },		/* n = 8, groups 3+3+2 */
	{ 9, 4, 1, 1 },		/* n = 9 */
	{ 3, 2, 3, 3 },		/* n = 9 as 3x3 */
	{ 9, 4, 7, 7 },		/* n = 63, tail group of 1 */
	{ 8, 3, 8, 8 },		/* n = 64 */
	{ 13, 5, 5, 5 },	/* n = 65 */
	{ 125, 32, 8, 8 },	/* n = 1000, tail group of 29 */
	{ 300, 128, 3, 3 },	/* n = 900, tail group of 44 */
	{ 13, 5, 10, 3 },	/* short last tile: 3 of 10 rows */
	{ 1000, 1000, 1, 1 },	/* one group per row, exactly */
};

/* A mix of scales: normal over a wide range, subnormal, some zero. */
static uint16_t pick_scale(uint64_t *rng)
{
	uint64_t r = rng_next(rng) % 16;

	if (r == 0)
		return 0;				/* all-zero group */
	if (r == 1)
		return 1 + rng_next(rng) % 0x3ff;	/* subnormal */
	/* exponents 1..25 (up to 1024), random mantissa */
	return (uint16_t)(((1 + rng_next(rng) % 25) << 10) | (rng_next(rng) % 1024));
}

struct tile_data {
	struct cxlms_tile_geom g;
	struct ref_layout rl;
	size_t n, n_scales;
	int8_t *codes;
	uint16_t *scales;
	uint8_t *tile;
};

/* Codes of zero-scale groups are zero, as the importer writes them. */
static void zero_codes_of_zero_groups(struct tile_data *t)
{
	for (size_t i = 0; i < t->n; i++) {
		size_t sidx = i / t->g.cols * t->rl.gpr + (i % t->g.cols) / t->g.group_size;

		if (!t->scales[sidx])
			t->codes[i] = 0;
	}
}

static void tile_setup(struct tile_data *t, const struct geom_case *c)
{
	struct cxlms_tile_layout l;

	t->g = (struct cxlms_tile_geom){ CXLMS_FMT_INT8, c->cols, c->group, c->tile_rows, 0 };
	assert_int_equal(ref_layout(CXLMS_FMT_INT8, c->cols, c->group, c->tile_rows, &t->rl), 0);
	assert_int_equal(cxlms_tile_layout(&t->g, &l), 0);
	t->n = (size_t)c->rows * c->cols;
	t->n_scales = (size_t)c->rows * t->rl.gpr;
	t->codes = xcalloc(t->n);
	t->scales = xcalloc(2 * t->n_scales);
	t->tile = xcalloc(t->rl.tile_bytes);
}

static void tile_free(struct tile_data *t)
{
	free(t->codes);
	free(t->scales);
	free(t->tile);
}

static void tile_place(struct tile_data *t)
{
	memset(t->tile, 0, t->rl.tile_bytes);
	assert_int_equal(cxlms_place_int8(t->tile, &t->g, t->n, 0, t->codes, t->n), 0);
	assert_int_equal(cxlms_place_scales(t->tile, &t->g, t->n, t->scales, t->n_scales), 0);
	assert_int_equal(cxlms_tile_finalize(t->tile, &t->g, t->n), 0);
}

/* Planes (incl. stride padding) equal the bit-by-bit reference placement. */
static void check_planes(const struct tile_data *t)
{
	uint8_t *ref = xcalloc(t->rl.tile_bytes);

	ref_place_int8(ref, &t->rl, t->codes, t->n);
	assert_bytes_equal(t->tile + t->rl.planes_off, ref + t->rl.planes_off,
			   t->rl.tile_bytes - t->rl.planes_off, "planes");
	assert_bytes_equal(t->tile + t->rl.scales_off, t->scales, 2 * t->n_scales, "scales");
	free(ref);
}

/* Table entries against the double-precision centroid, within its tolerance. */
static void check_table(const struct tile_data *t)
{
	const uint8_t *tab = t->tile + t->rl.table_off;

	for (unsigned k = 1; k < 8; k++) {
		for (unsigned u = 0; u < (1u << k); u++) {
			unsigned idx = (1u << k) - 2 + u;
			int16_t got = (int16_t)(tab[2 * idx] | (tab[2 * idx + 1] << 8));
			double tol, want = ref_centroid_q8(t->codes, t->scales, t->n,
							   t->g.cols, t->g.group_size,
							   k, u, &tol);

			if (fabs(got - want) > tol) {
				print_error("table k=%u u=%u: got %d, want %.3f +- %.3f (n=%zu)\n",
					    k, u, got, want, tol, t->n);
				fail();
			}
		}
	}
	/* 254 entries; the padding up to 512 bytes is zero. */
	for (unsigned i = 508; i < 512; i++)
		assert_int_equal(tab[i], 0);
}

static const unsigned recons[] = {
	CXLMS_RECON_FLOOR, CXLMS_RECON_MIDPOINT, CXLMS_RECON_TABLE, CXLMS_RECON_DEFAULT,
};

/* Every k, output and recon: the codec's bytes equal the reference's. */
static void check_fetches(const struct tile_data *t, uint8_t *got, uint8_t *want,
			  size_t buf_len)
{
	for (unsigned k = 1; k <= 8; k++) {
		for (unsigned out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++) {
			for (unsigned r = 0; r < 4; r++) {
				unsigned recon = recons[r];
				unsigned rres = recon == CXLMS_RECON_DEFAULT ? CXLMS_RECON_TABLE : recon;
				struct cxlms_fetch_layout fl;
				long ref_total;
				int64_t ret;
				char what[96];

				ref_total = ref_fetch(t->tile, &t->rl, CXLMS_FMT_INT8, t->g.cols,
						      t->g.group_size, t->n, k, out, rres, want);
				assert_true(ref_total > 0 && (size_t)ref_total + 64 <= buf_len);
				assert_int_equal(cxlms_fetch_layout(&t->g, t->n, k, out, recon, &fl), 0);
				assert_int_equal(fl.total, ref_total);
				assert_int_equal(fl.read_planes, (t->n + 7) / 8);
				assert_int_equal(fl.read_side, 2 * t->n_scales +
						 (rres == CXLMS_RECON_TABLE && k < 8 ? 2u << k : 0));

				memset(got, 0xa5, buf_len);
				ret = cxlms_fetch_tile(t->tile, &t->g, t->n, k, out, recon, got,
						       buf_len);
				assert_int_equal(ret, ref_total);
				snprintf(what, sizeof(what), "n=%zu k=%u out=%u recon=%u",
					 t->n, k, out, recon);
				assert_bytes_equal(got, want, ref_total, what);
				for (size_t i = ref_total; i < buf_len; i++)
					assert_int_equal(got[i], 0xa5);	/* nothing past total */
			}
		}
	}
}

static void test_exhaustive_roundtrip(void **state)
{
	uint64_t rng = 0x1234567;

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct tile_data t;
		size_t buf_len;
		uint8_t *got, *want;

		tile_setup(&t, &cases[c]);
		buf_len = 4 * t.n + 2 * t.n_scales + 2048;
		got = xcalloc(buf_len);
		want = xcalloc(buf_len);
		/* Consecutive codes step by 37 (odd): any 256 of them are all codes. */
		for (unsigned base = 0; base < 256; base += t.n) {
			for (size_t i = 0; i < t.n; i++)
				t.codes[i] = (int8_t)(uint8_t)(base + 37 * i);
			for (size_t s = 0; s < t.n_scales; s++)
				t.scales[s] = pick_scale(&rng);
			zero_codes_of_zero_groups(&t);
			tile_place(&t);
			check_planes(&t);
			check_table(&t);
			check_fetches(&t, got, want, buf_len);
		}
		free(got);
		free(want);
		tile_free(&t);
	}
}

/* Random codes with heavy-tailed magnitudes on a larger tile. */
static void test_random_tiles(void **state)
{
	const struct geom_case c = { 777, 128, 12, 11 };
	uint64_t rng = 42;
	struct tile_data t;
	size_t buf_len;
	uint8_t *got, *want;

	(void)state;
	tile_setup(&t, &c);
	buf_len = 4 * t.n + 2 * t.n_scales + 2048;
	got = xcalloc(buf_len);
	want = xcalloc(buf_len);
	for (int rep = 0; rep < 3; rep++) {
		for (size_t i = 0; i < t.n; i++) {
			int64_t v = (int64_t)(rng_next(&rng) % 9) - 4;

			if (rng_next(&rng) % 50 == 0)
				v = (int64_t)(rng_next(&rng) % 256) - 128;
			t.codes[i] = (int8_t)v;
		}
		for (size_t s = 0; s < t.n_scales; s++)
			t.scales[s] = pick_scale(&rng);
		zero_codes_of_zero_groups(&t);
		tile_place(&t);
		check_planes(&t);
		check_table(&t);
		check_fetches(&t, got, want, buf_len);
	}
	free(got);
	free(want);
	tile_free(&t);
}

/* Scale 0 gives exact zeros in F32/BF16 at every k and recon. */
static void test_zero_groups(void **state)
{
	const struct geom_case c = { 300, 128, 4, 4 };	/* 3 groups per row */
	uint64_t rng = 7;
	struct tile_data t;
	size_t len = 4 * 1200 + 4096;
	uint8_t *buf = xcalloc(len);

	(void)state;
	for (int all_zero = 0; all_zero < 2; all_zero++) {
		tile_setup(&t, &c);
		for (size_t i = 0; i < t.n; i++)
			t.codes[i] = (int8_t)(rng_next(&rng) % 256);
		for (size_t s = 0; s < t.n_scales; s++)
			t.scales[s] = (all_zero || s % 3 == 1) ? 0 : 0x2000 + s;
		zero_codes_of_zero_groups(&t);
		tile_place(&t);
		for (unsigned k = 1; k <= 8; k++) {
			for (unsigned r = 0; r < 4; r++) {
				uint32_t f;
				uint16_t b;

				assert_true(cxlms_fetch_tile(t.tile, &t.g, t.n, k, CXLMS_OUT_F32,
							     recons[r], buf, len) > 0);
				for (size_t i = 0; i < t.n; i++) {
					if (t.scales[i / 300 * 3 + (i % 300) / 128])
						continue;
					memcpy(&f, buf + 4 * i, 4);
					if (f & 0x7fffffff) {
						print_error("k=%u recon=%u elem %zu: 0x%08x not zero\n",
							    k, recons[r], i, f);
						fail();
					}
				}
				assert_true(cxlms_fetch_tile(t.tile, &t.g, t.n, k, CXLMS_OUT_BF16,
							     recons[r], buf, len) > 0);
				for (size_t i = 0; i < t.n; i++) {
					if (t.scales[i / 300 * 3 + (i % 300) / 128])
						continue;
					memcpy(&b, buf + 2 * i, 2);
					assert_int_equal(b & 0x7fff, 0);
				}
			}
		}
		if (all_zero) {
			/* No weight anywhere: every table level is the bucket midpoint. */
			const uint8_t *tab = t.tile + t.rl.table_off;

			for (unsigned k = 1; k < 8; k++)
				for (unsigned u = 0; u < (1u << k); u++) {
					unsigned idx = (1u << k) - 2 + u;

					assert_int_equal((int16_t)(tab[2 * idx] | tab[2 * idx + 1] << 8),
							 ref_level_q8(k, u, CXLMS_RECON_MIDPOINT));
				}
		}
		tile_free(&t);
	}
	free(buf);
}

/* Weighted squared error of an F32 fetch against code * scale. */
static double fetch_sse(const struct tile_data *t, unsigned k, unsigned recon,
			uint8_t *buf, size_t len)
{
	double sse = 0;

	assert_true(cxlms_fetch_tile(t->tile, &t->g, t->n, k, CXLMS_OUT_F32, recon,
				     buf, len) > 0);
	for (size_t i = 0; i < t->n; i++) {
		size_t sidx = i / t->g.cols * t->rl.gpr + (i % t->g.cols) / t->g.group_size;
		double want = t->codes[i] * ref_fp16_value(t->scales[sidx]);
		float got;

		memcpy(&got, buf + 4 * i, 4);
		sse += (got - want) * (got - want);
	}
	return sse;
}

/*
 * Groups of near-zero codes with one outlier (what trained weights look
 * like).  The centroid table minimises the scale-weighted squared error
 * per bucket, so it must not lose to midpoint or floor; the slack allows
 * the Q8.8 rounding of each level (half a unit of 1/256 code per element)
 * and the float rounding of the output.
 */
static void test_outlier_groups(void **state)
{
	const struct geom_case c = { 512, 128, 8, 8 };
	uint64_t rng = 99;
	struct tile_data t;
	size_t len = 4 * 4096 + 4096;
	uint8_t *buf = xcalloc(len);

	(void)state;
	tile_setup(&t, &c);
	for (size_t i = 0; i < t.n; i++)
		t.codes[i] = (int8_t)((int)(rng_next(&rng) % 7) - 3);
	for (size_t s = 0; s < t.n_scales; s++) {
		/*
		 * One outlier per group; scales within a factor 4, so the
		 * integer weights keep >= 18 bits and their truncation moves
		 * a centroid by < 2^-11 codes (see ref_centroid_q8).
		 */
		t.codes[s * 128 + rng_next(&rng) % 128] = rng_next(&rng) & 1 ? 127 : -127;
		t.scales[s] = (uint16_t)((14 + s % 2) << 10 | (rng_next(&rng) % 1024));
	}
	tile_place(&t);
	for (unsigned k = 1; k < 8; k++) {
		double slack = 0, table, mid, flo;

		for (size_t s = 0; s < t.n_scales; s++) {
			double sc = ref_fp16_value(t.scales[s]);

			/* per element: (sc * (1/512 rounding + 1/2048 truncation))^2 */
			slack += 128 * (sc / 400) * (sc / 400);
		}
		table = fetch_sse(&t, k, CXLMS_RECON_TABLE, buf, len);
		mid = fetch_sse(&t, k, CXLMS_RECON_MIDPOINT, buf, len);
		flo = fetch_sse(&t, k, CXLMS_RECON_FLOOR, buf, len);
		if (table > mid + slack || table > flo + slack) {
			print_error("k=%u: table sse %g, midpoint %g, floor %g\n", k, table, mid, flo);
			fail();
		}
		/* Zeros come back as +-half a step with midpoint: the table must win clearly. */
		if (k <= 5)
			assert_true(table < 0.5 * mid);
	}
	free(buf);
	tile_free(&t);
}

/* Placement in any split of 8-aligned ranges gives the same bytes. */
static void test_split_placement(void **state)
{
	const struct geom_case c = { 101, 16, 9, 9 };	/* n = 909, tail byte */
	uint64_t rng = 5;
	struct tile_data t;
	uint8_t *once;

	(void)state;
	tile_setup(&t, &c);
	for (size_t i = 0; i < t.n; i++)
		t.codes[i] = (int8_t)rng_next(&rng);
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, t.n, 0, t.codes, t.n), 0);
	once = xcalloc(t.rl.tile_bytes);
	memcpy(once, t.tile, t.rl.tile_bytes);
	for (int rep = 0; rep < 50; rep++) {
		size_t cuts[8], nc = 1 + rng_next(&rng) % 6;

		memset(t.tile, 0, t.rl.tile_bytes);
		cuts[0] = 0;
		for (size_t j = 1; j <= nc; j++)
			cuts[j] = (rng_next(&rng) % (t.n / 8 + 1)) * 8;
		cuts[nc + 1] = t.n;
		/* sort the cuts (insertion sort, tiny) */
		for (size_t a = 1; a < nc + 2; a++)
			for (size_t b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
				size_t x = cuts[b];

				cuts[b] = cuts[b - 1];
				cuts[b - 1] = x;
			}
		/* place the ranges back to front, to show order does not matter */
		for (size_t j = nc + 1; j > 0; j--)
			assert_int_equal(cxlms_place_int8(t.tile, &t.g, t.n, cuts[j - 1],
							  t.codes + cuts[j - 1],
							  cuts[j] - cuts[j - 1]), 0);
		assert_bytes_equal(t.tile, once, t.rl.tile_bytes, "split placement");
	}
	/* Placement writes whole bytes: garbage under a range is overwritten. */
	memset(t.tile, 0, t.rl.tile_bytes);
	memset(t.tile + t.rl.planes_off, 0xff, t.rl.plane_len);
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, t.n, 0, t.codes, t.n), 0);
	assert_bytes_equal(t.tile, once, t.rl.tile_bytes, "overwrite");
	free(once);
	tile_free(&t);
}

static void test_place_errors(void **state)
{
	const struct geom_case c = { 20, 8, 4, 4 };
	struct tile_data t;
	uint8_t *copy;
	uint16_t bad[12];

	(void)state;
	tile_setup(&t, &c);
	copy = xcalloc(t.rl.tile_bytes);
	/* elem_off not a multiple of 8 */
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, 80, 4, t.codes, 8), -EINVAL);
	/* range past n_elems */
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, 80, 72, t.codes, 16), -EINVAL);
	/* offset + count overflows */
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, 80, 0xfffffff8u, t.codes, 16), -EINVAL);
	/* range ends inside a plane byte before n_elems */
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, 80, 0, t.codes, 13), -EINVAL);
	/* n_elems not whole rows, zero, or more than a tile */
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, 70, 0, t.codes, 8), -EINVAL);
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, 0, 0, t.codes, 0), -EINVAL);
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, 100, 0, t.codes, 8), -EINVAL);
	/* wrong stored format for the call */
	t.g.fmt = CXLMS_FMT_BF16;
	t.g.group_size = 0;
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, 80, 0, t.codes, 8), -EINVAL);
	assert_int_equal(cxlms_place_scales(t.tile, &t.g, 80, bad, 12), -EINVAL);
	assert_int_equal(cxlms_tile_finalize(t.tile, &t.g, 80), -EINVAL);
	t.g.fmt = CXLMS_FMT_INT8;
	t.g.group_size = 8;
	assert_int_equal(cxlms_place_16(t.tile, &t.g, 80, 0, (uint16_t *)t.scales, 8), -EINVAL);
	/* a short range at the very end is fine */
	assert_int_equal(cxlms_place_int8(t.tile, &t.g, 60, 56, t.codes, 4), 0);

	/* scales: count must be rows * groups_per_row (3 * 4 rows = 12) */
	for (int i = 0; i < 12; i++)
		bad[i] = 0x3c00;
	assert_int_equal(cxlms_place_scales(t.tile, &t.g, 80, bad, 11), -EINVAL);
	assert_int_equal(cxlms_place_scales(t.tile, &t.g, 80, bad, 13), -EINVAL);
	/* Inf and NaN scales are refused and nothing is written */
	memcpy(copy, t.tile, t.rl.tile_bytes);
	bad[5] = 0x7c00;
	assert_int_equal(cxlms_place_scales(t.tile, &t.g, 80, bad, 12), -EINVAL);
	bad[5] = 0xfe01;
	assert_int_equal(cxlms_place_scales(t.tile, &t.g, 80, bad, 12), -EINVAL);
	assert_bytes_equal(t.tile, copy, t.rl.tile_bytes, "tile after refused scales");
	/* finalize refuses an Inf scale found in tile memory */
	bad[5] = 0x3c00;
	assert_int_equal(cxlms_place_scales(t.tile, &t.g, 80, bad, 12), 0);
	assert_int_equal(cxlms_tile_finalize(t.tile, &t.g, 80), 0);
	t.tile[t.rl.scales_off + 2 * 3 + 1] = 0x7c;
	t.tile[t.rl.scales_off + 2 * 3] = 0;
	assert_int_equal(cxlms_tile_finalize(t.tile, &t.g, 80), -EINVAL);
	free(copy);
	tile_free(&t);
}

static void test_fetch_errors(void **state)
{
	struct cxlms_tile_geom g = { CXLMS_FMT_INT8, 20, 8, 4, 0 };
	struct cxlms_fetch_layout fl;
	struct ref_layout rl;
	uint8_t *tile, buf[1024];

	(void)state;
	assert_int_equal(ref_layout(g.fmt, g.cols, g.group_size, g.tile_rows, &rl), 0);
	tile = xcalloc(rl.tile_bytes);
	assert_int_equal(cxlms_fetch_layout(&g, 80, 0, CXLMS_OUT_INT, 0, &fl), -EOPNOTSUPP);
	assert_int_equal(cxlms_fetch_layout(&g, 80, 9, CXLMS_OUT_INT, 0, &fl), -EOPNOTSUPP);
	assert_int_equal(cxlms_fetch_layout(&g, 80, 4, 0, 0, &fl), -EINVAL);
	assert_int_equal(cxlms_fetch_layout(&g, 80, 4, CXLMS_OUT_BF16 + 1, 0, &fl), -EINVAL);
	assert_int_equal(cxlms_fetch_layout(&g, 80, 4, CXLMS_OUT_INT, 4, &fl), -EINVAL);
	assert_int_equal(cxlms_fetch_layout(&g, 70, 4, CXLMS_OUT_INT, 0, &fl), -EINVAL);
	assert_int_equal(cxlms_fetch_layout(&g, 100, 4, CXLMS_OUT_INT, 0, &fl), -EINVAL);
	assert_int_equal(cxlms_fetch_tile(tile, &g, 80, 9, CXLMS_OUT_INT, 0, buf, sizeof(buf)),
			 -EOPNOTSUPP);
	assert_int_equal(cxlms_fetch_tile(tile, &g, 80, 4, CXLMS_OUT_INT, 7, buf, sizeof(buf)),
			 -EINVAL);
	/* a buffer one byte short: -ENOSPC and nothing written */
	for (unsigned out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++) {
		assert_int_equal(cxlms_fetch_layout(&g, 80, 3, out, 0, &fl), 0);
		memset(buf, 0x5a, sizeof(buf));
		assert_int_equal(cxlms_fetch_tile(tile, &g, 80, 3, out, 0, buf, fl.total - 1),
				 -ENOSPC);
		for (size_t i = 0; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0x5a);
		assert_int_equal(cxlms_fetch_tile(tile, &g, 80, 3, out, 0, buf, fl.total),
				 (int64_t)fl.total);
	}
	free(tile);
}

/* cxlms_dequant_f32_bits is the correctly rounded product, for every level. */
static void test_dequant(void **state)
{
	static const uint16_t scales[] = {
		0x0000, 0x8000, 0x0001, 0x8001, 0x0155, 0x03ff, 0x0400, 0x0401,
		0x1234, 0x2e66, 0x3555, 0x3c00, 0xbc00, 0x3c01, 0x4d2f, 0x5bff,
		0x7000, 0x7bff, 0xfbff, 0x07ff,
	};
	uint64_t rng = 3;

	(void)state;
	for (size_t s = 0; s < sizeof(scales) / sizeof(scales[0]); s++)
		for (int32_t lv = -32768; lv <= 32767; lv++)
			if (cxlms_dequant_f32_bits(lv, scales[s]) != ref_dequant(lv, scales[s])) {
				print_error("level %d scale 0x%04x: 0x%08x want 0x%08x\n", lv,
					    scales[s], cxlms_dequant_f32_bits(lv, scales[s]),
					    ref_dequant(lv, scales[s]));
				fail();
			}
	/* every finite scale with random levels */
	for (uint32_t h = 0; h < 0x10000; h++) {
		if ((h & 0x7c00) == 0x7c00)
			continue;
		for (int r = 0; r < 8; r++) {
			int32_t lv = (int32_t)(rng_next(&rng) % 65536) - 32768;

			assert_int_equal(cxlms_dequant_f32_bits(lv, (uint16_t)h),
					 ref_dequant(lv, (uint16_t)h));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exhaustive_roundtrip),
		cmocka_unit_test(test_random_tiles),
		cmocka_unit_test(test_zero_groups),
		cmocka_unit_test(test_outlier_groups),
		cmocka_unit_test(test_split_placement),
		cmocka_unit_test(test_place_errors),
		cmocka_unit_test(test_fetch_errors),
		cmocka_unit_test(test_dequant),
	};

	return cmocka_run_group_tests_name("codec_int8", tests, NULL, NULL);
}
