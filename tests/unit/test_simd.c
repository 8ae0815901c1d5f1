// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Every SIMD variant the CPU has against the portable codec: placement and
 * fetch must give byte-identical memory for every int8 value and every
 * 16-bit pattern, every k, output and recon, odd lengths, short last
 * tiles, misaligned sources and destinations, arbitrary tile bytes, and
 * the same errors.  Variants the CPU lacks are skipped with the reason.
 * Each comparison also checks, through cxlms_simd_portable_calls(), that
 * the variant really ran instead of quietly handing the call back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "simd/simd.h"

#define JUNK	0x5a
#define MARGIN	128
#define SIMD_BLOCK	512	/* elements per kernel block (lib/simd/simd_priv.h) */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) / 64 * 64);

	assert_non_null(p);
	memset(p, JUNK, (n + 63) / 64 * 64);
	return p;
}

static void expect_same(const void *got, const void *want, size_t len,
			const char *what, unsigned int a, unsigned int b,
			unsigned int c)
{
	const uint8_t *g = got, *w = want;
	size_t i;

	for (i = 0; i < len; i++)
		if (g[i] != w[i]) {
			print_error("%s (%u/%u/%u): byte %zu of %zu: simd 0x%02x, portable 0x%02x\n",
				    what, a, b, c, i, len, g[i], w[i]);
			fail();
		}
}

/* --- which variant, and did it run ----------------------------------- */

static int use_isa(void **state)
{
	enum cxlms_simd_isa isa = (enum cxlms_simd_isa)(uintptr_t)*state;

	if (!cxlms_simd_isa_supported(isa)) {
		print_message("# skipping %s: this CPU lacks it\n", cxlms_simd_isa_str(isa));
		skip();
	}
	assert_int_equal(cxlms_simd_set_isa(isa), 0);
	assert_string_equal(cxlms_simd_isa_name(), cxlms_simd_isa_str(isa));
	return (int)isa;
}

/* Which valid fetches a variant handles itself (the rest must be portable). */
static int simd_handles_fetch(int isa, unsigned int fmt, unsigned int out,
			      unsigned int k, int special_scales)
{
	if (out == CXLMS_OUT_PLANES)
		return 0;
	/* Inf/NaN scales: the dispatcher keeps F32/BF16 with the codec. */
	if (fmt == CXLMS_FMT_INT8)
		return !(special_scales && (out == CXLMS_OUT_F32 || out == CXLMS_OUT_BF16));
	/*
	 * Odd-width streams above 8 bits: vpermb (GFNI) or shifts joining a
	 * lane's qwords (AVX2); the AVX-512 F+BW variant leaves them to the codec.
	 */
	return isa != CXLMS_ISA_AVX512 || !(out == CXLMS_OUT_PACKED && k > 8 && k < 16);
}

/* --- fetch comparison --------------------------------------------------- */

/*
 * Fetch with both paths into junk-filled buffers (SIMD one at @mis bytes
 * past a 64-byte boundary) and compare return values and every byte,
 * including the margin behind the output.
 */
static void compare_fetch(int isa, const uint8_t *tile, const struct cxlms_tile_geom *g,
			  uint32_t n, uint32_t k, uint32_t out, uint32_t recon,
			  size_t mis, int special_scales)
{
	struct cxlms_fetch_layout fl;
	int64_t want, got;
	size_t len;
	uint8_t *a, *b;
	unsigned long before;
	int valid = !cxlms_fetch_layout(g, n, k, out, recon, &fl);

	len = valid ? fl.total : 64;
	a = xalloc(len + MARGIN);
	b = xalloc(len + MARGIN + mis);
	want = cxlms_fetch_tile(tile, g, n, k, out, recon, a, len);
	before = cxlms_simd_portable_calls();
	got = cxlms_simd_fetch_tile(tile, g, n, k, out, recon, b + mis, len);
	if (got != want) {
		print_error("fetch fmt %u n %u k %u out %u recon %u: simd %lld, portable %lld\n",
			    g->fmt, n, k, out, recon, (long long)got, (long long)want);
		fail();
	}
	expect_same(b + mis, a, len + MARGIN, "fetch k/out/recon", k, out, recon);
	if (valid) {
		int ran = cxlms_simd_portable_calls() == before;

		if (ran != simd_handles_fetch(isa, g->fmt, out, k, special_scales)) {
			print_error("fetch fmt %u k %u out %u recon %u: %s ran, expected the other\n",
				    g->fmt, k, out, recon, ran ? "simd" : "portable");
			fail();
		}
	}
	free(a);
	free(b);
}

static void fetch_all(int isa, const uint8_t *tile, const struct cxlms_tile_geom *g,
		      uint32_t n, int special_scales)
{
	uint32_t planes = g->fmt == CXLMS_FMT_INT8 ? 8 : 16, k, out, recon;

	for (k = 1; k <= planes; k++)
		for (out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++)
			for (recon = CXLMS_RECON_DEFAULT; recon <= CXLMS_RECON_TABLE; recon++)
				compare_fetch(isa, tile, g, n, k, out, recon,
					      (k + out + recon) % 5 == 0 ? 0 : (k * 7 + out) % 61,
					      special_scales);
}

/* --- INT8 --------------------------------------------------------------- */

struct geom_case {
	uint32_t cols, group, tile_rows, rows;
};

/* n not a multiple of 8/64/512, group tails, short last tiles, big tiles. */
static const struct geom_case int8_cases[] = {
	{ 1, 128, 1, 1 }, { 7, 128, 1, 1 }, { 9, 4, 1, 1 }, { 63, 16, 1, 1 },
	{ 65, 64, 1, 1 }, { 511, 128, 1, 1 }, { 512, 128, 1, 1 }, { 513, 7, 1, 1 },
	{ 125, 32, 8, 8 }, { 1000, 1000, 3, 3 }, { 13, 5, 40, 39 }, { 257, 1, 9, 9 },
	{ 4096, 128, 4, 4 }, { 3000, 300, 7, 5 }, { 2048, 5000, 16, 16 },
	{ 700, 16, 64, 63 },
};

static uint16_t pick_scale(void)
{
	uint64_t r = rnd() % 16;

	if (r == 0)
		return (uint16_t)(rnd() & 0x8000);		/* +-0 */
	if (r == 1)
		return (uint16_t)((rnd() & 0x8000) | (1 + rnd() % 0x3ff));	/* subnormal */
	return (uint16_t)((rnd() & 0x8000) | ((1 + rnd() % 30) << 10) | (rnd() % 1024));
}

/* A placed and finalised INT8 tile holding every code value. */
static uint8_t *int8_tile(const struct cxlms_tile_geom *g, uint32_t n, size_t mis,
			  uint8_t **base)
{
	struct cxlms_tile_layout l;
	uint32_t gpr, ns, i;
	int8_t *codes;
	uint16_t *scales;
	uint8_t *tile;

	assert_int_equal(cxlms_tile_layout(g, &l), 0);
	*base = xalloc(l.tile_bytes + mis + 64);
	tile = *base + mis;
	memset(tile, 0, l.tile_bytes);
	gpr = l.groups_per_row;
	ns = n / g->cols * gpr;
	codes = malloc(n);
	scales = malloc(2 * ns + 2);
	assert_non_null(codes);
	assert_non_null(scales);
	for (i = 0; i < n; i++)
		codes[i] = (int8_t)(i < 256 ? i * 37 + 11 : rnd());
	for (i = 0; i < ns; i++)
		scales[i] = pick_scale();
	assert_int_equal(cxlms_place_int8(tile, g, n, 0, codes, n), 0);
	assert_int_equal(cxlms_place_scales(tile, g, n, scales, ns), 0);
	assert_int_equal(cxlms_tile_finalize(tile, g, n), 0);
	free(codes);
	free(scales);
	return tile;
}

static void test_fetch_int8(void **state)
{
	int isa = use_isa(state);
	size_t c;

	for (c = 0; c < sizeof(int8_cases) / sizeof(int8_cases[0]); c++) {
		const struct geom_case *gc = &int8_cases[c];
		struct cxlms_tile_geom g = { CXLMS_FMT_INT8, gc->cols, gc->group, gc->tile_rows, 0 };
		uint32_t n = gc->rows * gc->cols;
		uint8_t *base, *tile = int8_tile(&g, n, c % 3 ? 64 * c + c : 0, &base);

		fetch_all(isa, tile, &g, n, 0);
		free(base);
	}
}

/*
 * Arbitrary tile bytes: random planes (junk past n in the last byte),
 * random tables, and scales with Inf/NaN in them (F32/BF16 must then be
 * the codec's, the rest still SIMD) or sanitised (all SIMD).
 */
static void test_fetch_int8_random_bytes(void **state)
{
	int isa = use_isa(state);
	static const struct geom_case gcs[] = {
		{ 77, 10, 13, 13 }, { 1024, 128, 8, 5 }, { 3, 3, 171, 171 },
	};
	size_t c, i;
	int special;

	for (c = 0; c < 3; c++) {
		struct cxlms_tile_geom g = { CXLMS_FMT_INT8, gcs[c].cols, gcs[c].group,
					     gcs[c].tile_rows, 0 };
		struct cxlms_tile_layout l;
		uint32_t n = gcs[c].rows * gcs[c].cols;
		uint8_t *tile;

		assert_int_equal(cxlms_tile_layout(&g, &l), 0);
		tile = xalloc(l.tile_bytes);
		for (special = 1; special >= 0; special--) {
			for (i = 0; i < l.tile_bytes; i++)
				tile[i] = (uint8_t)rnd();
			for (i = 0; i < l.scales_len; i += 2) {
				if (special && i == 2)
					tile[i + 1] = (uint8_t)(0x7c | (rnd() & 0x83));
				else if (!special && (tile[i + 1] & 0x7c) == 0x7c)
					tile[i + 1] &= 0xbf;
			}
			fetch_all(isa, tile, &g, n, special);
		}
		free(tile);
	}
}

static void test_place_int8(void **state)
{
	int isa = use_isa(state);
	size_t c, mis;

	(void)isa;
	for (c = 0; c < sizeof(int8_cases) / sizeof(int8_cases[0]); c++) {
		const struct geom_case *gc = &int8_cases[c];
		struct cxlms_tile_geom g = { CXLMS_FMT_INT8, gc->cols, gc->group, gc->tile_rows, 0 };
		struct cxlms_tile_layout l;
		uint32_t n = gc->rows * gc->cols, i, split;
		int8_t *codes = xalloc(n + 64);

		assert_int_equal(cxlms_tile_layout(&g, &l), 0);
		for (i = 0; i < n + 64; i++)
			codes[i] = (int8_t)(i < 256 ? i * 73 : rnd());
		for (mis = 0; mis < 3; mis++) {
			size_t tmis = mis * 21, smis = mis * 5 + 1;
			size_t len = l.tile_bytes + MARGIN;
			uint8_t *a = xalloc(len), *b = xalloc(len + tmis);
			unsigned long before = cxlms_simd_portable_calls();

			/* Whole range; a big aligned one must not fall back. */
			assert_int_equal(cxlms_simd_place_int8(b + tmis, &g, n, 0,
							       codes + smis, n),
					 cxlms_place_int8(a, &g, n, 0, codes + smis, n));
			if (n >= 2 * SIMD_BLOCK)
				assert_int_equal(cxlms_simd_portable_calls(), before);
			expect_same(b + tmis, a, len, "place_int8 whole", n, (unsigned)mis, 0);

			/* Split at multiples of 8: the same bytes. */
			memset(a, JUNK, len);
			memset(b + tmis, JUNK, len);
			split = (n / 3) & ~7u;
			assert_int_equal(cxlms_simd_place_int8(b + tmis, &g, n, 0, codes, split), 0);
			assert_int_equal(cxlms_simd_place_int8(b + tmis, &g, n, split,
							       codes + split, n - split), 0);
			assert_int_equal(cxlms_place_int8(a, &g, n, 0, codes, n), 0);
			expect_same(b + tmis, a, len, "place_int8 split", n, split, 0);
			free(a);
			free(b);
		}
		free(codes);
	}
}

/* --- 16-bit ------------------------------------------------------------- */

static void test_place_16(void **state)
{
	static const uint32_t fmts[] = { CXLMS_FMT_BF16, CXLMS_FMT_FP16 };
	/* 256x256: every pattern once; odd sizes; short last tile. */
	static const struct geom_case gcs[] = {
		{ 256, 0, 256, 256 }, { 1, 0, 1, 1 }, { 9, 0, 7, 7 }, { 513, 0, 3, 3 },
		{ 1000, 0, 9, 4 },
	};
	int isa = use_isa(state);
	size_t f, c, mis;

	(void)isa;
	for (f = 0; f < 2; f++)
		for (c = 0; c < sizeof(gcs) / sizeof(gcs[0]); c++) {
			struct cxlms_tile_geom g = { fmts[f], gcs[c].cols, 0, gcs[c].tile_rows, 0 };
			struct cxlms_tile_layout l;
			uint32_t n = gcs[c].rows * gcs[c].cols, i;
			uint16_t *vals = xalloc(2 * n + 64);

			assert_int_equal(cxlms_tile_layout(&g, &l), 0);
			for (i = 0; i < n + 32; i++)
				vals[i] = (uint16_t)(n >= 65536 ? i * 40503u : rnd());
			for (mis = 0; mis < 2; mis++) {
				size_t len = l.tile_bytes + MARGIN, tmis = 40 * mis;
				uint8_t *a = xalloc(len), *b = xalloc(len + tmis);
				const uint16_t *src = vals + mis * 3;
				unsigned long before = cxlms_simd_portable_calls();

				assert_int_equal(cxlms_simd_place_16(b + tmis, &g, n, 0, src, n),
						 cxlms_place_16(a, &g, n, 0, src, n));
				if (n >= 2 * SIMD_BLOCK)
					assert_int_equal(cxlms_simd_portable_calls(), before);
				expect_same(b + tmis, a, len, "place_16", fmts[f], n, (unsigned)mis);
				free(a);
				free(b);
			}
			free(vals);
		}
}

static void test_fetch_16(void **state)
{
	static const uint32_t fmts[] = { CXLMS_FMT_BF16, CXLMS_FMT_FP16 };
	static const struct geom_case gcs[] = {
		{ 256, 0, 256, 256 }, { 1, 0, 1, 1 }, { 65, 0, 1, 1 }, { 17, 0, 31, 30 },
		{ 600, 0, 3, 3 },
	};
	int isa = use_isa(state);
	size_t f, c, i;

	for (f = 0; f < 2; f++)
		for (c = 0; c < sizeof(gcs) / sizeof(gcs[0]); c++) {
			struct cxlms_tile_geom g = { fmts[f], gcs[c].cols, 0, gcs[c].tile_rows, 0 };
			struct cxlms_tile_layout l;
			uint32_t n = gcs[c].rows * gcs[c].cols;
			uint16_t *vals = xalloc(2 * n);
			uint8_t *tile;

			assert_int_equal(cxlms_tile_layout(&g, &l), 0);
			tile = xalloc(l.tile_bytes + 64) + (c % 2 ? 8 : 0);
			memset(tile, 0, l.tile_bytes);
			/* Every 16-bit pattern (odd multiplier: a permutation). */
			for (i = 0; i < n; i++)
				vals[i] = (uint16_t)(n >= 65536 ? i * 40503u : rnd());
			assert_int_equal(cxlms_place_16(tile, &g, n, 0, vals, n), 0);
			fetch_all(isa, tile, &g, n, 0);
			/* Raw bytes: unquieted sNaNs, junk past n in the last byte. */
			for (i = 0; i < l.tile_bytes; i++)
				tile[i] = (uint8_t)rnd();
			fetch_all(isa, tile, &g, n, 0);
			free(tile - (c % 2 ? 8 : 0));
			free(vals);
		}
}

/* --- the caller's floating-point environment ------------------------------ */

#if defined(__x86_64__)
/*
 * F32/BF16 results must not depend on the caller's MXCSR, and the call must
 * leave it as it was: round toward zero, FTZ and DAZ would change inexact
 * products and the unmasked inexact exception would trap (SIGFPE) if a
 * kernel multiplied under the caller's MXCSR; a left-over inexact flag or
 * mode change shows in MXCSR after the call.
 */
static void test_fetch_mxcsr(void **state)
{
	/* Round toward zero (RC = 11), FTZ, DAZ, precision (inexact) exception unmasked. */
	const unsigned int hostile = (0x1f80 & ~0x1000u) | 0x6000 | 0x8000 | 0x0040;
	struct cxlms_tile_geom gi = { CXLMS_FMT_INT8, 700, 16, 64, 0 };
	struct cxlms_tile_geom gh = { CXLMS_FMT_FP16, 256, 0, 256, 0 };
	const struct cxlms_tile_geom *gs[2] = { &gi, &gh };
	uint32_t ns[2] = { 63 * 700, 256 * 256 };
	int isa = use_isa(state);
	uint8_t *base = NULL, *tile;
	size_t g, i;

	for (g = 0; g < 2; g++) {
		struct cxlms_tile_layout l;
		uint32_t n = ns[g], k, out, planes = g ? 16 : 8;

		assert_int_equal(cxlms_tile_layout(gs[g], &l), 0);
		if (g == 0) {
			tile = int8_tile(gs[g], n, 0, &base);
		} else {
			uint16_t *vals = xalloc(2 * n);

			base = tile = xalloc(l.tile_bytes);
			memset(tile, 0, l.tile_bytes);
			for (i = 0; i < n; i++)
				vals[i] = (uint16_t)(i * 40503u);	/* every pattern */
			assert_int_equal(cxlms_place_16(tile, gs[g], n, 0, vals, n), 0);
			free(vals);
		}
		for (k = g ? 6 : 1; k <= planes; k++)
			for (out = CXLMS_OUT_F32; out <= CXLMS_OUT_BF16; out++) {
				struct cxlms_fetch_layout fl;
				unsigned long before;
				uint8_t *a, *b;
				unsigned int csr, after;

				if (cxlms_fetch_layout(gs[g], n, k, out, 0, &fl))
					continue;
				a = xalloc(fl.total);
				b = xalloc(fl.total);
				assert_int_equal(cxlms_fetch_tile(tile, gs[g], n, k, out, 0, a,
								  fl.total), (int64_t)fl.total);
				before = cxlms_simd_portable_calls();
				csr = _mm_getcsr();
				_mm_setcsr(hostile);
				{
					int64_t got = cxlms_simd_fetch_tile(tile, gs[g], n, k, out, 0,
									    b, fl.total);

					after = _mm_getcsr();
					_mm_setcsr(csr);
					assert_int_equal(got, (int64_t)fl.total);
				}
				assert_int_equal(after, hostile);
				assert_int_equal(cxlms_simd_portable_calls(), before);
				expect_same(b, a, fl.total, "fetch under hostile MXCSR", k, out,
					    (unsigned int)isa);
				free(a);
				free(b);
			}
		free(base);
	}
}
#endif

/* --- errors --------------------------------------------------------------- */

static void test_errors(void **state)
{
	struct cxlms_tile_geom gi = { CXLMS_FMT_INT8, 100, 32, 8, 0 };
	struct cxlms_tile_geom gb = { CXLMS_FMT_BF16, 100, 0, 8, 0 };
	struct cxlms_tile_geom gh = { CXLMS_FMT_FP16, 100, 0, 8, 0 };
	struct cxlms_tile_geom bad = { 9, 100, 0, 8, 0 };
	struct cxlms_fetch_layout fl;
	struct cxlms_tile_layout l;
	int isa = use_isa(state);
	uint8_t *tile, *a, *b;
	int8_t codes[1024] = { 0 };
	uint16_t vals[1024] = { 0 };
	struct { const struct cxlms_tile_geom *g; uint32_t n, k, out, recon; } fc[] = {
		{ &gi, 800, 0, CXLMS_OUT_INT, 0 }, { &gi, 800, 9, CXLMS_OUT_INT, 0 },
		{ &gi, 800, 4, 0, 0 }, { &gi, 800, 4, 6, 0 }, { &gi, 800, 4, CXLMS_OUT_INT, 7 },
		{ &gb, 800, 17, CXLMS_OUT_INT, 0 }, { &gb, 800, 8, CXLMS_OUT_F32, 0 },
		{ &gh, 800, 5, CXLMS_OUT_BF16, 0 }, { &gb, 800, 12, CXLMS_OUT_INT, CXLMS_RECON_TABLE },
		{ &gi, 801, 4, CXLMS_OUT_INT, 0 }, { &gi, 900, 4, CXLMS_OUT_INT, 0 },
		{ &gi, 0, 4, CXLMS_OUT_INT, 0 }, { &bad, 800, 4, CXLMS_OUT_INT, 0 },
	};
	struct { uint32_t n, off, count; } pc[] = {
		{ 800, 4, 8 }, { 800, 0, 801 }, { 800, 8, 0xfffffff8u }, { 800, 0, 13 },
		{ 801, 0, 8 }, { 900, 0, 8 },
	};
	size_t i;

	(void)isa;
	assert_int_equal(cxlms_tile_layout(&gh, &l), 0);	/* the biggest of the three */
	tile = xalloc(l.tile_bytes);
	a = xalloc(4096 + MARGIN);
	b = xalloc(4096 + MARGIN);
	for (i = 0; i < sizeof(fc) / sizeof(fc[0]); i++) {
		int64_t want = cxlms_fetch_tile(tile, fc[i].g, fc[i].n, fc[i].k, fc[i].out,
						fc[i].recon, a, 4096);
		int64_t got = cxlms_simd_fetch_tile(tile, fc[i].g, fc[i].n, fc[i].k, fc[i].out,
						    fc[i].recon, b, 4096);

		assert_true(want < 0);
		assert_int_equal(got, want);
		expect_same(b, a, 4096 + MARGIN, "fetch error case", (unsigned)i, 0, 0);
	}
	/* Too small a buffer: -ENOSPC and not a byte written. */
	assert_int_equal(cxlms_fetch_layout(&gi, 800, 4, CXLMS_OUT_INT, 0, &fl), 0);
	assert_int_equal(cxlms_simd_fetch_tile(tile, &gi, 800, 4, CXLMS_OUT_INT, 0, b,
					       fl.total - 1), -ENOSPC);
	expect_same(b, a, 4096 + MARGIN, "fetch -ENOSPC", 0, 0, 0);

	for (i = 0; i < sizeof(pc) / sizeof(pc[0]); i++) {
		assert_int_equal(cxlms_simd_place_int8(tile, &gi, pc[i].n, pc[i].off, codes, pc[i].count),
				 cxlms_place_int8(tile, &gi, pc[i].n, pc[i].off, codes, pc[i].count));
		assert_true(cxlms_place_int8(tile, &gi, pc[i].n, pc[i].off, codes, pc[i].count) < 0);
		assert_int_equal(cxlms_simd_place_16(tile, &gb, pc[i].n, pc[i].off, vals, pc[i].count),
				 cxlms_place_16(tile, &gb, pc[i].n, pc[i].off, vals, pc[i].count));
		assert_true(cxlms_place_16(tile, &gb, pc[i].n, pc[i].off, vals, pc[i].count) < 0);
	}
	/* Wrong format for the call. */
	assert_int_equal(cxlms_simd_place_int8(tile, &gb, 800, 0, codes, 800), -EINVAL);
	assert_int_equal(cxlms_simd_place_16(tile, &gi, 800, 0, vals, 800), -EINVAL);
	for (i = 0; i < l.tile_bytes; i++)
		if (tile[i] != JUNK)
			fail_msg("a rejected placement wrote tile byte %zu", i);
	free(tile);
	free(a);
	free(b);
}

/* --- CXLMS_FORCE_ISA (in a child: the choice is made once per process) --- */

static int child_isa(const char *force, char *name, size_t nlen, int *noted)
{
	int fds[2], status;
	pid_t pid;
	char buf[64] = "";
	ssize_t r;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *note;

		close(fds[0]);
		setenv("CXLMS_FORCE_ISA", force, 1);
		note = cxlms_simd_isa_note();
		dprintf(fds[1], "%s %d", cxlms_simd_isa_name(), note != NULL);
		_exit(0);
	}
	close(fds[1]);
	r = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	waitpid(pid, &status, 0);
	assert_true(r > 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return sscanf(buf, "%15s %d", name, noted) == 2 && nlen > 0 ? 0 : -1;
}

static void test_force_isa(void **state)
{
	const char *best = NULL;
	char name[16];
	int isa, noted;

	(void)state;
	for (isa = CXLMS_ISA_COUNT - 1; isa >= 0 && !best; isa--)
		if (cxlms_simd_isa_supported((enum cxlms_simd_isa)isa))
			best = cxlms_simd_isa_str((enum cxlms_simd_isa)isa);
	assert_non_null(best);
	for (isa = 0; isa < CXLMS_ISA_COUNT; isa++) {
		const char *s = cxlms_simd_isa_str((enum cxlms_simd_isa)isa);
		int ok = cxlms_simd_isa_supported((enum cxlms_simd_isa)isa);

		assert_int_equal(child_isa(s, name, sizeof(name), &noted), 0);
		assert_string_equal(name, ok ? s : best);
		assert_int_equal(noted, !ok);
	}
	assert_int_equal(child_isa("sse9", name, sizeof(name), &noted), 0);
	assert_string_equal(name, best);
	assert_int_equal(noted, 1);
	assert_int_equal(child_isa("", name, sizeof(name), &noted), 0);
	assert_string_equal(name, best);
	assert_int_equal(noted, 0);
}

#define PER_ISA(fn)							\
	{ "avx2_" #fn, fn, NULL, NULL, (void *)(uintptr_t)CXLMS_ISA_AVX2 },	\
	{ "avx512_" #fn, fn, NULL, NULL, (void *)(uintptr_t)CXLMS_ISA_AVX512 },	\
	{ "gfni_" #fn, fn, NULL, NULL, (void *)(uintptr_t)CXLMS_ISA_GFNI }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_force_isa),
		PER_ISA(test_place_int8),
		PER_ISA(test_place_16),
		PER_ISA(test_fetch_int8),
		PER_ISA(test_fetch_int8_random_bytes),
		PER_ISA(test_fetch_16),
#if defined(__x86_64__)
		PER_ISA(test_fetch_mxcsr),
#endif
		PER_ISA(test_errors),
	};
	int isa;

	for (isa = CXLMS_ISA_AVX2; isa < CXLMS_ISA_COUNT; isa++)
		printf("# simd: %s %s\n", cxlms_simd_isa_str((enum cxlms_simd_isa)isa),
		       cxlms_simd_isa_supported((enum cxlms_simd_isa)isa) ?
		       "tested" : "SKIPPED (CPU lacks it)");
	return cmocka_run_group_tests_name("simd", tests, NULL, NULL);
}
