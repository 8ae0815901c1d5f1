// SPDX-License-Identifier: GPL-2.0
/*
 * cxlmsd rule matching (daemon/match.c): globs agree with fnmatch(3) (no
 * flags) wherever no range segment is involved, range segments match
 * whole numeric segments, and invalid patterns are refused.
 */
#include <fnmatch.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cxlmsd.h"

static void test_literal_and_star(void **state)
{
	assert_true(cxlmsd_match("lm_head.weight", "lm_head.weight"));
	assert_false(cxlmsd_match("lm_head.weight", "lm_head.weights"));
	assert_true(cxlmsd_match("*", "anything.at.all"));
	/* '*' crosses dots, as layers.*.attn.* needs. */
	assert_true(cxlmsd_match("layers.*.attn.*", "layers.12.attn.q.weight"));
	assert_false(cxlmsd_match("layers.*.attn.*", "layers.12.mlp.up.weight"));
	assert_true(cxlmsd_match("*norm*", "model.layers.0.input_layernorm.weight"));
	assert_true(cxlmsd_match("a?c", "abc"));
	assert_false(cxlmsd_match("a?c", "ac"));
}

static void test_classes_and_escapes(void **state)
{
	assert_true(cxlmsd_match("[qkv]_proj", "k_proj"));
	assert_false(cxlmsd_match("[qkv]_proj", "o_proj"));
	assert_true(cxlmsd_match("[!qkv]_proj", "o_proj"));
	assert_true(cxlmsd_match("x[a-c]", "xb"));
	assert_false(cxlmsd_match("x[a-c]", "xd"));
	assert_true(cxlmsd_match("a\\*b", "a*b"));
	assert_false(cxlmsd_match("a\\*b", "axb"));
}

static void test_layer_ranges(void **state)
{
	const char *p = "model.layers.0-3.*";
	char name[64];
	int i;

	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "model.layers.%d.mlp.up_proj.weight", i);
		assert_int_equal(cxlmsd_match(p, name), i <= 3);
	}
	/* A whole segment: 10 is not "1" followed by "0". */
	assert_false(cxlmsd_match("layers.1-1.x", "layers.10.x"));
	assert_true(cxlmsd_match("layers.10-20.x", "layers.15.x"));
	assert_false(cxlmsd_match("layers.10-20.x", "layers.21.x"));
	/* Not numeric: no match. */
	assert_false(cxlmsd_match("layers.0-3.x", "layers.a.x"));
	/* Ranges after a star, and at the end. */
	assert_true(cxlmsd_match("*.h.2-5", "transformer.h.4"));
	assert_false(cxlmsd_match("*.h.2-5", "transformer.h.6"));
	assert_true(cxlmsd_match("*.2-5.*", "blocks.3.attn"));
	/* "0-3" inside a segment is literal text, not a range. */
	assert_true(cxlmsd_match("v0-3x", "v0-3x"));
	assert_false(cxlmsd_match("v0-3x", "v2x"));
}

/* Property: on patterns without ranges we agree with fnmatch(3). */
static void test_agrees_with_fnmatch(void **state)
{
	static const char *const pats[] = {
		"*", "*.weight", "model.*", "*attn*", "a*b*c", "?", "??*", "[ab]*",
		"[!a]*", "*[0-9]*", "model.layers.?.mlp.*", "*.*.*", "\\*", "x",
		"*_proj.weight", "*[a-c]", "*[!.]", "**.weight", "[]]x", "[a-]x",
	};
	static const char *const names[] = {
		"", "a", "b", "ab", "abc", "a.b.c", "model.layers.3.mlp.up_proj.weight",
		"model.norm.weight", "lm_head.weight", "x", "*", "]x", "-x", "ax",
		"model.layers.10.self_attn.q_proj.weight", "abcabc", "c.",
	};
	size_t i, j;

	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
		for (j = 0; j < sizeof(names) / sizeof(names[0]); j++) {
			bool want = fnmatch(pats[i], names[j], 0) == 0;

			if (cxlmsd_match(pats[i], names[j]) != want) {
				print_error("pattern '%s' name '%s': fnmatch says %d\n",
					    pats[i], names[j], want);
				fail();
			}
		}
}

/*
 * The fuzzer's pattern: 12 "*?" pairs took 34.6 s for one name with the
 * recursive matcher (exponential in the stars).  Count the matcher's steps
 * instead of timing it: the iterative matcher is bounded by (pattern + 1)
 * x (name + 1), here about 1000; the recursive one needed billions.
 */
static void test_many_stars_bounded(void **state)
{
	const char *pat = "*?*?*?*?*?*?*?*?*?*?*?*?x";
	const char *name = "model.layers.31.self_attn.q_proj.weight";
	unsigned long steps, bound;
	char longname[CXLMS_NAME_MAX];

	assert_true(cxlmsd_pattern_valid(pat, &(const char *){ NULL }));
	assert_false(cxlmsd_match_steps(pat, name, &steps));
	bound = (strlen(pat) + 1) * (strlen(name) + 1);
	assert_true(steps <= bound);
	/* Still right when it does match. */
	assert_true(cxlmsd_match_steps("*?*?*?*?*?*?*?*?*?*?*?*?t", name, &steps));
	assert_true(steps <= bound);

	/* The longest name a rule ever meets, against a pattern of all stars. */
	memset(longname, 'a', sizeof(longname) - 2);
	longname[sizeof(longname) - 2] = 'b';
	longname[sizeof(longname) - 1] = '\0';
	assert_false(cxlmsd_match_steps("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c",
					longname, &steps));
	assert_true(steps <= 35ul * sizeof(longname));
}

/* Ranges behind stars: the retry from the last star must re-check them. */
static void test_ranges_after_stars(void **state)
{
	assert_true(cxlmsd_match("*.0-3.*", "model.layers.2.mlp.weight"));
	assert_false(cxlmsd_match("*.0-3.*", "model.layers.12.mlp.weight"));
	assert_true(cxlmsd_match("*.10-19.*", "a.5.b.12.c"));
	assert_false(cxlmsd_match("*.10-19", "a.12.b"));
	assert_true(cxlmsd_match("*.10-19", "a.12.b.15"));
	/* A range must be a whole name segment: "12x" is not a number. */
	assert_false(cxlmsd_match("*.10-19.*", "a.12x.b"));
	assert_true(cxlmsd_match("*?.1-2.*", "ab.1.c"));
}

static void test_pattern_valid(void **state)
{
	const char *why = NULL;

	assert_true(cxlmsd_pattern_valid("model.layers.0-3.*", &why));
	assert_false(cxlmsd_pattern_valid("", &why));
	assert_false(cxlmsd_pattern_valid("layers.5-2.*", &why));
	assert_non_null(strstr(why, "N > M"));
	assert_false(cxlmsd_pattern_valid("layers.[0-3", &why));
	assert_non_null(strstr(why, "unterminated"));
	assert_false(cxlmsd_pattern_valid("a\x01", &why));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_and_star),
		cmocka_unit_test(test_classes_and_escapes),
		cmocka_unit_test(test_layer_ranges),
		cmocka_unit_test(test_agrees_with_fnmatch),
		cmocka_unit_test(test_many_stars_bounded),
		cmocka_unit_test(test_ranges_after_stars),
		cmocka_unit_test(test_pattern_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
