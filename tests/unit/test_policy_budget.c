// SPDX-License-Identifier: GPL-2.0
/*
 * The map engine (daemon/engine.c): fixed rules (first match, tile ranges,
 * format clamps), and the budget allocator's properties on random
 * instances: the element-weighted average never exceeds the budget,
 * bounds hold, raising one tile's importance never lowers its bits; the
 * rate-distortion model (4x importance = one more bit); pressure levels.
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

#include <libcxlms.h>
#include "cxlmsd.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* A model of @n tensors with the given names, tiles and formats. */
struct tmodel {
	struct cxlmsd_model m;
	char *names[16];
	uint8_t planes[16], min_bits[16];
	uint32_t base[17];
	uint64_t elems[256];
	double imp[256];
};

static void tm_init(struct tmodel *t, unsigned int n, const char *const *names,
		    const unsigned int *tiles, const uint8_t *planes)
{
	unsigned int i, k, g = 0;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < n; i++) {
		t->names[i] = (char *)names[i];
		t->planes[i] = planes ? planes[i] : 8;
		t->min_bits[i] = t->planes[i] == 16 ? 9 : 1;
		t->base[i] = g;
		for (k = 0; k < tiles[i]; k++, g++) {
			t->elems[g] = 4096;
			t->imp[g] = 1.0;
		}
	}
	t->base[n] = g;
	t->m = (struct cxlmsd_model){
		.n_tensors = n, .names = t->names, .planes = t->planes,
		.min_bits = t->min_bits, .tile_base = t->base, .n_tiles = g,
		.tile_elems = t->elems, .importance = t->imp,
	};
}

static struct cxlmsd_rule rule(const char *pat, unsigned int bits)
{
	return (struct cxlmsd_rule){ .pattern = (char *)pat, .tile_hi = UINT32_MAX,
				     .bits = bits, .importance = -1.0 };
}

static struct cxlmsd_context ctx_fixed(unsigned int def, struct cxlmsd_rule *r,
				       unsigned int n)
{
	return (struct cxlmsd_context){
		.name = "t", .mode = CXLMSD_MODE_FIXED, .default_bits = def,
		.min_bits = 1, .max_bits = 16, .rules = r, .n_rules = n,
		.pressure_step_x100 = 50,
	};
}

static void test_fixed_first_match(void **state)
{
	static const char *const names[] = {
		"layers.0.attn.q", "layers.0.mlp.up", "layers.5.mlp.up", "lm_head",
	};
	static const unsigned int tiles[] = { 1, 1, 1, 4 };
	struct cxlmsd_rule r[3] = {
		rule("*.attn.*", 2), rule("layers.0-1.*", 6), rule("lm_head", 3),
	};
	struct cxlmsd_context c = ctx_fixed(4, r, 3);
	struct cxlmsd_ctx_state st = { 0 };
	struct tmodel t;
	uint8_t map[7];
	char why[128];

	r[2].tile_lo = 1;
	r[2].tile_hi = 2;
	tm_init(&t, 4, names, tiles, NULL);
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
	assert_int_equal(map[0], 2);	/* attn rule first, though layers.0-1 matches */
	assert_int_equal(map[1], 6);
	assert_int_equal(map[2], 4);	/* layer 5: default */
	assert_int_equal(map[3], 4);	/* lm_head tile 0: outside tiles=1-2 */
	assert_int_equal(map[4], 3);
	assert_int_equal(map[5], 3);
	assert_int_equal(map[6], 4);
	/* avg = (2 + 6 + 4 + 4 + 3 + 3 + 4) / 7 = 3.714 */
	assert_int_equal(st.avg_x100, 371);
}

static void test_fixed_format_clamps(void **state)
{
	static const char *const names[] = { "i8", "bf16", "fp16" };
	static const unsigned int tiles[] = { 1, 1, 1 };
	static const uint8_t planes[] = { 8, 16, 16 };
	struct cxlmsd_context c = ctx_fixed(CXLMSD_BITS_FULL, NULL, 0);
	struct cxlmsd_ctx_state st = { 0 };
	struct tmodel t;
	uint8_t map[3];
	char why[128];

	tm_init(&t, 3, names, tiles, planes);
	t.min_bits[2] = 6;	/* fp16 */
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
	assert_int_equal(map[0], 8);	/* full = the tensor's planes */
	assert_int_equal(map[1], 16);
	c.default_bits = 4;
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
	assert_int_equal(map[0], 4);
	assert_int_equal(map[1], 9);	/* bf16 needs sign + 8 exponent bits */
	assert_int_equal(map[2], 6);	/* fp16: sign + 5 */
}

static void test_fixed_min_max(void **state)
{
	static const char *const names[] = { "a", "b" };
	static const unsigned int tiles[] = { 1, 1 };
	struct cxlmsd_rule r[1] = { rule("b", 0) };
	struct cxlmsd_context c = ctx_fixed(8, r, 1);
	struct cxlmsd_ctx_state st = { 0 };
	struct tmodel t;
	uint8_t map[2];
	char why[128];

	r[0].max = 3;
	c.max_bits = 6;
	tm_init(&t, 2, names, tiles, NULL);
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
	assert_int_equal(map[0], 6);	/* context max_bits */
	assert_int_equal(map[1], 3);	/* rule max */
}

/* Two equal tiles, importance 1 and 4, 4.5 bits average: 4 and 5 bits. */
static void test_budget_water_filling(void **state)
{
	uint64_t elems[2] = { 1000, 1000 };
	uint8_t lo[2] = { 1, 1 }, hi[2] = { 8, 8 }, bits[2];
	double imp[2] = { 1.0, 4.0 };

	assert_int_equal(cxlmsd_allocate(2, elems, lo, hi, imp, 9000, bits), 0);
	assert_int_equal(bits[0], 4);
	assert_int_equal(bits[1], 5);
	/* 16x importance: two bits more. */
	imp[1] = 16.0;
	assert_int_equal(cxlmsd_allocate(2, elems, lo, hi, imp, 8000, bits), 0);
	assert_int_equal(bits[0], 3);
	assert_int_equal(bits[1], 5);
}

static void test_budget_below_minimum(void **state)
{
	static const char *const names[] = { "a" };
	static const unsigned int tiles[] = { 2 };
	struct cxlmsd_context c = ctx_fixed(8, NULL, 0);
	struct cxlmsd_ctx_state st = { 0 };
	struct tmodel t;
	uint8_t map[2];
	char why[256] = "";

	c.mode = CXLMSD_MODE_BUDGET;
	c.min_bits = 4;
	c.budget_x100 = 350;
	tm_init(&t, 1, names, tiles, NULL);
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), -ERANGE);
	assert_non_null(strstr(why, "budget_bits 3.50 is below the 4.00 bits"));
	c.budget_x100 = 400;
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
	assert_int_equal(map[0], 4);
	assert_int_equal(map[1], 4);
}

struct inst {
	unsigned int n;
	uint64_t elems[64];
	uint8_t lo[64], hi[64], bits[64];
	double imp[64];
	uint64_t budget;
};

static void random_inst(struct inst *in)
{
	uint64_t min_eb = 0, max_eb = 0;
	unsigned int i;

	in->n = 1 + (unsigned int)(rng() % 64);
	for (i = 0; i < in->n; i++) {
		in->elems[i] = 1 + rng() % 100000;
		in->lo[i] = (uint8_t)(1 + rng() % 4);
		in->hi[i] = (uint8_t)(in->lo[i] + rng() % (17 - in->lo[i]));
		in->imp[i] = (rng() % 8 == 0) ? 0.0 : (double)(rng() % 10000) / 100.0;
		min_eb += in->elems[i] * in->lo[i];
		max_eb += in->elems[i] * in->hi[i];
	}
	in->budget = min_eb + rng() % (max_eb - min_eb + 1);
}

static void test_budget_properties(void **state)
{
	unsigned int trial, i;

	for (trial = 0; trial < 3000; trial++) {
		struct inst in;
		uint64_t used = 0;

		random_inst(&in);
		assert_int_equal(cxlmsd_allocate(in.n, in.elems, in.lo, in.hi, in.imp,
						  in.budget, in.bits), 0);
		for (i = 0; i < in.n; i++) {
			assert_true(in.bits[i] >= in.lo[i]);
			assert_true(in.bits[i] <= in.hi[i]);
			used += in.elems[i] * in.bits[i];
		}
		/* Never above the budget. */
		assert_true(used <= in.budget);
	}
}

static void test_budget_importance_monotone(void **state)
{
	unsigned int trial, t;

	for (trial = 0; trial < 3000; trial++) {
		struct inst in;
		uint8_t before[64];

		random_inst(&in);
		assert_int_equal(cxlmsd_allocate(in.n, in.elems, in.lo, in.hi, in.imp,
						  in.budget, in.bits), 0);
		memcpy(before, in.bits, in.n);
		t = (unsigned int)(rng() % in.n);
		in.imp[t] = in.imp[t] * (1.0 + (double)(rng() % 1000) / 100.0) +
			    (double)(rng() % 3);
		assert_int_equal(cxlmsd_allocate(in.n, in.elems, in.lo, in.hi, in.imp,
						  in.budget, in.bits), 0);
		if (in.bits[t] < before[t]) {
			print_error("trial %u: tile %u dropped %u -> %u after importance up\n",
				    trial, t, before[t], in.bits[t]);
			fail();
		}
	}
}

static void test_budget_context_rules(void **state)
{
	static const char *const names[] = { "embed", "layers.0.attn", "layers.1.attn", "head" };
	static const unsigned int tiles[] = { 4, 2, 2, 4 };
	struct cxlmsd_rule r[3] = { rule("head", 8), rule("embed", 0), rule("*", 0) };
	struct cxlmsd_context c = ctx_fixed(8, r, 3);
	struct cxlmsd_ctx_state st = { 0 };
	struct tmodel t;
	uint8_t map[12];
	char why[128];
	unsigned int i;

	r[1].max = 3;
	r[2].importance = 2.0;
	c.mode = CXLMSD_MODE_BUDGET;
	c.budget_x100 = 500;
	c.min_bits = 2;
	tm_init(&t, 4, names, tiles, NULL);
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
	assert_true(st.avg_x100 <= 500);
	for (i = 0; i < 4; i++)
		assert_true(map[i] >= 2 && map[i] <= 3);	/* embed: max=3 */
	for (i = 8; i < 12; i++)
		assert_int_equal(map[i], 8);			/* head pinned */
	/* Reported importance raises a tile relative to its twin. */
	t.imp[4] = 64.0;
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
	assert_true(map[4] > map[5]);
	assert_true(st.avg_x100 <= 500);
}

/* objective = mse weighs tiles by their error power; relative does not. */
static void test_budget_objective(void **state)
{
	static const char *const names[] = { "a", "b" };
	static const unsigned int tiles[] = { 1, 1 };
	struct cxlmsd_context c = ctx_fixed(8, NULL, 0);
	struct cxlmsd_ctx_state st = { 0 };
	double energy[2] = { 1.0, 16.0 };
	struct tmodel t;
	uint8_t map[2];
	char why[128];

	c.mode = CXLMSD_MODE_BUDGET;
	c.budget_x100 = 400;
	tm_init(&t, 2, names, tiles, NULL);
	t.m.energy = energy;
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
	assert_int_equal(map[0], 3);	/* 16x the error power: two bits more */
	assert_int_equal(map[1], 5);
	c.relative = true;
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
	assert_int_equal(map[0], 4);
	assert_int_equal(map[1], 4);
}

static void test_pressure_levels(void **state)
{
	static const char *const names[] = { "a", "b", "c", "d" };
	static const unsigned int tiles[] = { 2, 2, 2, 2 };
	struct cxlmsd_context c = ctx_fixed(6, NULL, 0);
	struct cxlmsd_ctx_state st = { 0 };
	struct tmodel t;
	uint8_t fixed[8], map[8];
	uint32_t prev;
	char why[128];
	unsigned int i, lvl;

	c.mode = CXLMSD_MODE_PRESSURE;
	c.min_bits = 2;
	c.pressure_step_x100 = 100;
	c.pressure_high = 2;
	c.pressure_low = 1;
	tm_init(&t, 4, names, tiles, NULL);
	for (i = 0; i < 8; i++)
		t.imp[i] = (double)(i + 1);	/* tile 0 least important */
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, fixed, why, sizeof(why)), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(fixed[i], 6);	/* level 0 = the fixed map */
	assert_int_equal(st.max_level, 4);	/* 6 -> 2 in steps of 1 bit */
	prev = st.avg_x100;
	for (lvl = 1; lvl <= st.max_level; lvl++) {
		st.level = lvl;
		assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
		assert_true(st.avg_x100 <= 600 - 100 * lvl);
		assert_true(st.avg_x100 < prev);
		prev = st.avg_x100;
		for (i = 0; i < 8; i++) {
			assert_true(map[i] <= fixed[i] && map[i] >= 2);
			if (i)	/* least important tiles step down first */
				assert_true(map[i - 1] <= map[i]);
		}
	}
	assert_int_equal(st.avg_x100, 200);
	/* A level past the floor is clamped. */
	st.level = 99;
	assert_int_equal(cxlmsd_engine_map(&c, &t.m, &st, map, why, sizeof(why)), 0);
	assert_int_equal(st.level, st.max_level);
}

/* A two-tensor safetensors file: "big" ~ +-1, "small" ~ +-0.01, 8 x 128 f32. */
static void write_st(const char *path)
{
	static const char hdr[] =
		"{\"big\":{\"dtype\":\"F32\",\"shape\":[8,128],\"data_offsets\":[0,4096]},"
		"\"small\":{\"dtype\":\"F32\",\"shape\":[8,128],\"data_offsets\":[4096,8192]}}";
	char pad[sizeof(hdr) + 8];
	uint64_t hlen = (sizeof(hdr) - 1 + 7) / 8 * 8;
	float v[2048];
	FILE *f = fopen(path, "wb");
	int i;

	assert_non_null(f);
	memset(pad, ' ', sizeof(pad));
	memcpy(pad, hdr, sizeof(hdr) - 1);
	for (i = 0; i < 2048; i++)
		v[i] = (float)((int)(rng() % 2001) - 1000) / (i < 1024 ? 1000.0f : 100000.0f);
	fwrite(&hlen, 8, 1, f);
	fwrite(pad, 1, hlen, f);
	fwrite(v, sizeof(v), 1, f);
	fclose(f);
}

static void test_model_energy(void **state)
{
	static const unsigned int fmts[] = { CXLMS_FMT_INT8, CXLMS_FMT_BF16, CXLMS_FMT_FP16 };
	char dir[] = "/tmp/cxlmsd-energy-XXXXXX", st[64], store[64], cmd[96];
	struct cxlms_ctx *ctx;
	unsigned int i;

	assert_non_null(mkdtemp(dir));
	snprintf(st, sizeof(st), "%s/m.safetensors", dir);
	snprintf(store, sizeof(store), "%s/m.cxlms", dir);
	write_st(st);
	assert_int_equal(cxlms_new(&ctx), 0);
	for (i = 0; i < 3; i++) {
		struct cxlms_import_opts o = { .format = fmts[i] };
		struct cxlms_store *s;
		struct cxlmsd_model m;
		double ratio;

		assert_int_equal(cxlms_import_safetensors(ctx, st, store, &o), 0);
		assert_int_equal(cxlms_open(ctx, store, 0, &s), 0);
		assert_int_equal(cxlmsd_model_from_store(s, &m), 0);
		assert_int_equal(cxlmsd_model_energy(s, &m), 0);
		assert_int_equal(m.n_tiles, 2);
		/* 100x the amplitude: about 10^4 x the error power. */
		ratio = m.energy[0] / m.energy[1];
		print_message("# format %u: energy big/small = %.0f\n", fmts[i], ratio);
		assert_true(ratio > 5e3 && ratio < 2e4);
		cxlmsd_model_free(&m);
		cxlms_store_unref(s);
	}
	cxlms_unref(ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_first_match),
		cmocka_unit_test(test_fixed_format_clamps),
		cmocka_unit_test(test_fixed_min_max),
		cmocka_unit_test(test_budget_water_filling),
		cmocka_unit_test(test_budget_below_minimum),
		cmocka_unit_test(test_budget_properties),
		cmocka_unit_test(test_budget_importance_monotone),
		cmocka_unit_test(test_budget_context_rules),
		cmocka_unit_test(test_budget_objective),
		cmocka_unit_test(test_pressure_levels),
		cmocka_unit_test(test_model_energy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
