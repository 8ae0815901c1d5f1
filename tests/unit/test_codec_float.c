// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * BF16/FP16 bit-plane codec: every 16-bit pattern at every k, output and
 * recon against the independent reference, plus the properties an engine
 * relies on stated directly: NaN stays NaN, Inf stays Inf, zeros stay
 * zeros, k = 16 is lossless (signalling NaNs come back quiet).
 */
#include <math.h>
#include "codec_test_util.h"
#include "bitplane.h"
#include "ref/ref_codec.h"

struct ftile {
	unsigned fmt, e_bits;
	struct cxlms_tile_geom g;
	struct ref_layout rl;
	size_t n;
	uint16_t *vals;
	uint8_t *tile;
};

static void ftile_init(struct ftile *t, unsigned fmt, unsigned cols,
		       unsigned tile_rows, unsigned rows)
{
	t->fmt = fmt;
	t->e_bits = fmt == CXLMS_FMT_BF16 ? 8 : 5;
	t->g = (struct cxlms_tile_geom){ fmt, cols, 0, tile_rows, 0 };
	assert_int_equal(ref_layout(fmt, cols, 0, tile_rows, &t->rl), 0);
	t->n = (size_t)cols * rows;
	t->vals = xcalloc(2 * t->n);
	t->tile = xcalloc(t->rl.tile_bytes);
}

static void ftile_free(struct ftile *t)
{
	free(t->vals);
	free(t->tile);
}

static void ftile_place(struct ftile *t)
{
	uint8_t *ref = xcalloc(t->rl.tile_bytes);

	memset(t->tile, 0, t->rl.tile_bytes);
	assert_int_equal(cxlms_place_16(t->tile, &t->g, t->n, 0, t->vals, t->n), 0);
	ref_place_16(ref, &t->rl, t->fmt, t->vals, t->n);
	assert_bytes_equal(t->tile, ref, t->rl.tile_bytes, "16-bit planes");
	free(ref);
}

/* Every k, output and recon of one tile against the reference, bytewise. */
static void check_all_fetches(const struct ftile *t)
{
	size_t len = 4 * t->n + 64;
	uint8_t *got = xcalloc(len), *want = xcalloc(len);
	static const unsigned recons[] = {
		CXLMS_RECON_FLOOR, CXLMS_RECON_MIDPOINT, CXLMS_RECON_DEFAULT,
	};

	for (unsigned k = 1; k <= 16; k++) {
		for (unsigned out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++) {
			int value_out = out >= CXLMS_OUT_INT;

			for (unsigned r = 0; r < 3; r++) {
				unsigned recon = recons[r];
				unsigned rres = recon == CXLMS_RECON_DEFAULT ?
						CXLMS_RECON_MIDPOINT : recon;
				struct cxlms_fetch_layout fl;
				long total;
				int64_t ret;
				char what[80];

				/* recon does not change raw bits: one pass is enough */
				if (!value_out && r)
					continue;
				total = ref_fetch(t->tile, &t->rl, t->fmt, t->g.cols, 0, t->n,
						  k, out, rres, want);
				ret = cxlms_fetch_tile(t->tile, &t->g, t->n, k, out, recon,
						       got, len);
				if (value_out && k < 1 + t->e_bits) {
					/* sign and whole exponent are needed for values */
					assert_int_equal(total, -1);
					assert_int_equal(ret, -EOPNOTSUPP);
					assert_int_equal(cxlms_fetch_layout(&t->g, t->n, k, out,
									    recon, &fl),
							 -EOPNOTSUPP);
					continue;
				}
				assert_true(total > 0);
				assert_int_equal(ret, total);
				assert_int_equal(cxlms_fetch_layout(&t->g, t->n, k, out, recon,
								    &fl), 0);
				assert_int_equal(fl.total, total);
				assert_int_equal(fl.data_len, total);	/* no side data */
				assert_int_equal(fl.read_side, 0);
				assert_int_equal(fl.read_planes, (t->n + 7) / 8);
				snprintf(what, sizeof(what), "fmt=%u n=%zu k=%u out=%u recon=%u",
					 t->fmt, t->n, k, out, recon);
				assert_bytes_equal(got, want, total, what);
			}
			/* TABLE is an INT8 mode */
			assert_int_equal(cxlms_fetch_tile(t->tile, &t->g, t->n, k, out,
							  CXLMS_RECON_TABLE, got, len),
					 -EOPNOTSUPP);
		}
	}
	free(got);
	free(want);
}

static void all_patterns(unsigned fmt)
{
	struct ftile t;

	ftile_init(&t, fmt, 256, 256, 256);
	for (size_t i = 0; i < t.n; i++)
		t.vals[i] = (uint16_t)i;
	ftile_place(&t);
	check_all_fetches(&t);
	ftile_free(&t);
}

static void test_bf16_all_patterns(void **state)
{
	(void)state;
	all_patterns(CXLMS_FMT_BF16);
}

static void test_fp16_all_patterns(void **state)
{
	(void)state;
	all_patterns(CXLMS_FMT_FP16);
}

/* Odd sizes and a short last tile with random patterns. */
static void test_odd_sizes(void **state)
{
	static const unsigned shapes[][3] = {	/* cols, tile_rows, rows */
		{ 1, 1, 1 }, { 7, 1, 1 }, { 9, 1, 1 }, { 13, 1, 1 }, { 9, 10, 7 },
		{ 65, 3, 3 }, { 1000, 2, 1 },
	};
	uint64_t rng = 11;

	(void)state;
	for (unsigned f = CXLMS_FMT_BF16; f <= CXLMS_FMT_FP16; f++) {
		for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
			struct ftile t;

			ftile_init(&t, f, shapes[s][0], shapes[s][1], shapes[s][2]);
			for (size_t i = 0; i < t.n; i++)
				t.vals[i] = (uint16_t)rng_next(&rng);
			ftile_place(&t);
			check_all_fetches(&t);
			ftile_free(&t);
		}
	}
}

static int is_nan16(unsigned e_bits, uint16_t v)
{
	uint16_t exp = ((1u << e_bits) - 1) << (15 - e_bits);

	return (v & exp) == exp && (v & ((1u << (15 - e_bits)) - 1));
}

static int is_inf16(unsigned e_bits, uint16_t v)
{
	uint16_t exp = ((1u << e_bits) - 1) << (15 - e_bits);

	return (v & 0x7fff) == exp;
}

/* Properties stated directly, not through the reference. */
static void special_values(unsigned fmt)
{
	struct ftile t;
	size_t len = 4 * 65536;
	uint8_t *buf = xcalloc(len), *ibuf = xcalloc(len);
	static const unsigned recons[] = { CXLMS_RECON_FLOOR, CXLMS_RECON_MIDPOINT };

	ftile_init(&t, fmt, 256, 256, 256);
	for (size_t i = 0; i < t.n; i++)
		t.vals[i] = (uint16_t)i;
	ftile_place(&t);
	for (unsigned k = 1 + t.e_bits; k <= 16; k++) {
		for (unsigned r = 0; r < 2; r++) {
			assert_int_equal(cxlms_fetch_tile(t.tile, &t.g, t.n, k, CXLMS_OUT_F32,
							  recons[r], buf, len), 4 * t.n);
			assert_int_equal(cxlms_fetch_tile(t.tile, &t.g, t.n, k, CXLMS_OUT_INT,
							  recons[r], ibuf, len), 2 * t.n);
			for (uint32_t v = 0; v < 65536; v++) {
				uint32_t fb;
				uint16_t ib;
				float f;

				memcpy(&fb, buf + 4 * v, 4);
				memcpy(&f, &fb, 4);
				memcpy(&ib, ibuf + 2 * v, 2);
				if (is_nan16(t.e_bits, v)) {
					/* k = 1 + E keeps no mantissa: NaN reads as Inf */
					if (k == 1 + t.e_bits)
						assert_true(isinf(f) && !!signbit(f) == !!(v & 0x8000));
					else
						assert_true(isnan(f) && is_nan16(t.e_bits, ib));
				} else if (is_inf16(t.e_bits, v)) {
					assert_true(isinf(f) && !!signbit(f) == !!(v & 0x8000));
					assert_int_equal(ib, v);
				} else if (!(v & 0x7fff)) {
					assert_int_equal(fb, (uint32_t)v << 16);	/* +-0.0f */
					assert_int_equal(ib, v);
				} else {
					assert_true(isfinite(f));
				}
			}
		}
	}
	/* k = 16 is lossless; signalling NaNs come back quiet, payload kept. */
	assert_int_equal(cxlms_fetch_tile(t.tile, &t.g, t.n, 16, CXLMS_OUT_INT, 0, ibuf, len),
			 2 * t.n);
	for (uint32_t v = 0; v < 65536; v++) {
		uint16_t ib, quiet = 1u << (14 - t.e_bits);

		memcpy(&ib, ibuf + 2 * v, 2);
		if (is_nan16(t.e_bits, v) && !(v & quiet))
			assert_int_equal(ib, v | quiet);
		else
			assert_int_equal(ib, v);
	}
	free(buf);
	free(ibuf);
	ftile_free(&t);
}

static void test_bf16_special_values(void **state)
{
	(void)state;
	special_values(CXLMS_FMT_BF16);
}

static void test_fp16_special_values(void **state)
{
	(void)state;
	special_values(CXLMS_FMT_FP16);
}

/* cxlms_fp16_to_f32_bits for every pattern, and against the compiler's. */
static void test_fp16_to_f32(void **state)
{
	(void)state;
	for (uint32_t h = 0; h < 65536; h++) {
		uint32_t got = cxlms_fp16_to_f32_bits((uint16_t)h);

		assert_int_equal(got, ref_fp16_to_f32((uint16_t)h));
#if defined(__FLT16_MAX__)
		if ((h & 0x7c00) != 0x7c00 || !(h & 0x3ff)) {
			_Float16 x;
			float f;
			uint32_t fb;
			uint16_t hh = (uint16_t)h;

			memcpy(&x, &hh, 2);
			f = (float)x;
			memcpy(&fb, &f, 4);
			assert_int_equal(got, fb);
		}
#endif
	}
}

/* cxlms_f32_bits_to_bf16: round to nearest even, NaN quiet, over all exponents. */
static void test_f32_to_bf16(void **state)
{
	static const uint32_t lows[] = { 0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, 0x4000, 0xc000 };
	uint64_t rng = 17;

	(void)state;
	for (uint32_t hi = 0; hi < 65536; hi++) {
		for (size_t j = 0; j < sizeof(lows) / sizeof(lows[0]) + 2; j++) {
			uint32_t lo = j < sizeof(lows) / sizeof(lows[0]) ? lows[j] :
				      (uint32_t)rng_next(&rng) & 0xffff;
			uint32_t f = hi << 16 | lo;
			uint16_t got = cxlms_f32_bits_to_bf16(f);

			if (got != ref_f32_to_bf16(f)) {
				print_error("f32 0x%08x: 0x%04x want 0x%04x\n", f, got,
					    ref_f32_to_bf16(f));
				fail();
			}
		}
	}
	/* NaN keeps its sign and stays NaN even when only low payload bits are set */
	assert_int_equal(cxlms_f32_bits_to_bf16(0xff800001u), 0xffc0);
	assert_int_equal(cxlms_f32_bits_to_bf16(0x7f800001u), 0x7fc0);
	/* the largest finite f32 rounds to Inf, as RNE says */
	assert_int_equal(cxlms_f32_bits_to_bf16(0x7f7fffffu), 0x7f80);
}

static void test_split_placement_16(void **state)
{
	struct ftile t;
	uint8_t *once;
	uint64_t rng = 23;

	(void)state;
	ftile_init(&t, CXLMS_FMT_FP16, 37, 5, 5);	/* n = 185 */
	for (size_t i = 0; i < t.n; i++)
		t.vals[i] = (uint16_t)rng_next(&rng);
	assert_int_equal(cxlms_place_16(t.tile, &t.g, t.n, 0, t.vals, t.n), 0);
	once = xcalloc(t.rl.tile_bytes);
	memcpy(once, t.tile, t.rl.tile_bytes);
	memset(t.tile, 0, t.rl.tile_bytes);
	for (size_t off = (t.n - 1) / 8 * 8; ; off -= 8) {
		size_t end = off + 8 < t.n ? off + 8 : t.n;

		assert_int_equal(cxlms_place_16(t.tile, &t.g, t.n, off, t.vals + off,
						end - off), 0);
		if (!off)
			break;
	}
	assert_bytes_equal(t.tile, once, t.rl.tile_bytes, "split 16-bit placement");
	/* range errors */
	assert_int_equal(cxlms_place_16(t.tile, &t.g, t.n, 4, t.vals, 8), -EINVAL);
	assert_int_equal(cxlms_place_16(t.tile, &t.g, t.n, 0, t.vals, 7), -EINVAL);
	assert_int_equal(cxlms_place_16(t.tile, &t.g, t.n, 184, t.vals, 8), -EINVAL);
	free(once);
	ftile_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bf16_all_patterns),
		cmocka_unit_test(test_fp16_all_patterns),
		cmocka_unit_test(test_odd_sizes),
		cmocka_unit_test(test_bf16_special_values),
		cmocka_unit_test(test_fp16_special_values),
		cmocka_unit_test(test_fp16_to_f32),
		cmocka_unit_test(test_f32_to_bf16),
		cmocka_unit_test(test_split_placement_16),
	};

	return cmocka_run_group_tests_name("codec_float", tests, NULL, NULL);
}
