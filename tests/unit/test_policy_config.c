// SPDX-License-Identifier: GPL-2.0
/*
 * cxlmsd config parser (daemon/config.c): one test per error class, each
 * asserting the exact file:line in the message; drop-ins in name order with
 * the later file winning (scalars and rule priority); values.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "cxlmsd.h"

struct fx {
	char dir[64];
	char main[128];
	char dropin[128];
	struct cxlmsd_config cfg;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cxlmsd-conf-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->main, sizeof(f->main), "%s/cxlmsd.conf", f->dir);
	snprintf(f->dropin, sizeof(f->dropin), "%s/cxlmsd.conf.d", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];

	cxlmsd_config_free(&f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void write_dropin(struct fx *f, const char *name, const char *text)
{
	char path[256];

	mkdir(f->dropin, 0755);
	snprintf(path, sizeof(path), "%s/%s", f->dropin, name);
	write_file(path, text);
}

#define HEAD "[store]\npath = /srv/model.cxlms\n"	/* lines 1-2 */

static int load(struct fx *f, const char *text)
{
	write_file(f->main, text);
	return cxlmsd_config_load(&f->cfg, f->main, NULL);
}

/* Some error is exactly "<file>:<line>: ...<needle>...". */
static void assert_error_at(struct fx *f, const char *file, int line,
			    const char *needle)
{
	char prefix[300];
	unsigned int i;

	snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	for (i = 0; i < f->cfg.n_errors; i++)
		if (!strncmp(f->cfg.errors[i], prefix, strlen(prefix)) &&
		    strstr(f->cfg.errors[i], needle))
			return;
	print_error("no error '%s...%s'; got %u:\n", prefix, needle, f->cfg.n_errors);
	for (i = 0; i < f->cfg.n_errors; i++)
		print_error("  %s\n", f->cfg.errors[i]);
	fail();
}

static void test_valid_config(void **state)
{
	struct fx *f = *state;
	struct cxlmsd_context *c;

	assert_int_equal(load(f, HEAD
		"default_context = short\n"
		"[daemon]\nsocket = /run/x.sock\nsocket_mode = 0600\ninterval_ms = 250\n"
		"[context quality]\ndefault_bits = full\n"
		"[context short]\nmode = budget\nbudget_bits = 3.25\nmin_bits = 2\n"
		"max_bits = 6\nobjective = relative\n"
		"rule = model.layers.0-3.* tiles=0-7 min=4 importance=2.5\n"
		"rule = lm_head.weight bits=8 ; pinned\n"
		"[context busy]\nmode = pressure\npressure_high = 2G\npressure_low = 500M\n"
		"pressure_step = 0.5\n"), 0);
	assert_int_equal(f->cfg.n_errors, 0);
	assert_string_equal(f->cfg.store_path, "/srv/model.cxlms");
	assert_string_equal(f->cfg.socket_path, "/run/x.sock");
	assert_int_equal(f->cfg.socket_mode, 0600);
	assert_int_equal(f->cfg.interval_ms, 250);
	assert_string_equal(f->cfg.default_context, "short");
	assert_int_equal(f->cfg.n_contexts, 3);
	c = cxlmsd_config_find(&f->cfg, "short");
	assert_non_null(c);
	assert_int_equal(c->mode, CXLMSD_MODE_BUDGET);
	assert_int_equal(c->budget_x100, 325);
	assert_int_equal(c->min_bits, 2);
	assert_int_equal(c->max_bits, 6);
	assert_int_equal(c->n_rules, 2);
	assert_string_equal(c->rules[0].pattern, "model.layers.0-3.*");
	assert_int_equal(c->rules[0].tile_lo, 0);
	assert_int_equal(c->rules[0].tile_hi, 7);
	assert_int_equal(c->rules[0].min, 4);
	assert_true(c->rules[0].importance == 2.5);
	assert_int_equal(c->rules[0].line, 16);
	assert_true(c->relative);
	assert_int_equal(c->rules[1].bits, 8);
	c = cxlmsd_config_find(&f->cfg, "busy");
	assert_int_equal(c->pressure_high, 2ull << 30);
	assert_int_equal(c->pressure_low, 500ull << 20);
	assert_int_equal(c->pressure_step_x100, 50);
	c = cxlmsd_config_find(&f->cfg, "quality");
	assert_int_equal(c->default_bits, CXLMSD_BITS_FULL);
	assert_int_equal(c->mode, CXLMSD_MODE_FIXED);
	assert_false(c->relative);	/* objective = mse by default */
}

static void test_err_bad_objective(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nobjective = snr\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "objective = snr: must be mse or relative");
}

static void test_err_syntax(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nthis line has no equals sign\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "syntax error");
}

static void test_err_unknown_section(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\n[contexts b]\nx = 1\n"), -EINVAL);
	assert_error_at(f, f->main, 5, "unknown section [contexts b]");
}

static void test_err_key_outside_section(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "bits = 3\n" HEAD "[context a]\n"), -EINVAL);
	assert_error_at(f, f->main, 1, "outside any section");
}

static void test_err_unknown_key(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\ndefault_bit = 3\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "unknown key 'default_bit'");
}

static void test_err_unknown_store_key(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "device = /dev/cxlms0\n[context a]\n"), -EINVAL);
	assert_error_at(f, f->main, 3, "unknown key 'device' in [store]");
}

static void test_err_bad_bits(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\ndefault_bits = 17\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "bits must be 1..16");
}

static void test_err_bits_not_number(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nmin_bits = three\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "min_bits = three");
}

static void test_err_bad_mode(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nmode = adaptive\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "must be fixed, budget or pressure");
}

static void test_err_bad_budget(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nmode = budget\nbudget_bits = 3.125\n"),
			 -EINVAL);
	assert_error_at(f, f->main, 5, "budget_bits = 3.125");
}

static void test_err_budget_missing(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "\n[context a]\nmode = budget\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "mode = budget needs budget_bits");
}

static void test_err_budget_without_mode(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nbudget_bits = 4\n"), -EINVAL);
	assert_error_at(f, f->main, 3, "budget_bits needs mode = budget");
}

static void test_err_pressure_missing(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nmode = pressure\npressure_high = 1G\n"),
			 -EINVAL);
	assert_error_at(f, f->main, 3, "needs pressure_high and pressure_low");
}

static void test_err_pressure_no_hysteresis(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nmode = pressure\npressure_high = 1G\n"
			      "pressure_low = 1G\n"), -EINVAL);
	assert_error_at(f, f->main, 3, "pressure_low must be below pressure_high");
}

static void test_err_bad_rate(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nmode = pressure\npressure_high = 1X\n"),
			 -EINVAL);
	assert_error_at(f, f->main, 5, "pressure_high = 1X");
}

static void test_err_min_above_max(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nmin_bits = 6\nmax_bits = 4\n"), -EINVAL);
	assert_error_at(f, f->main, 3, "min_bits 6 above max_bits 4");
}

static void test_err_rule_no_pattern(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nrule = bits=4\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "rule needs a tensor pattern first");
}

static void test_err_rule_unknown_option(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nrule = *.attn.* precision=4\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "unknown rule option 'precision'");
}

static void test_err_rule_not_key_value(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nrule = *.attn.* 4\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "rule option '4' is not key=value");
}

static void test_err_rule_bad_bits(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nrule = *.attn.* bits=0\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "rule bits=0");
}

static void test_err_rule_bad_tiles(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nrule = * tiles=5-2 bits=3\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "tiles=");
}

static void test_err_rule_bad_range(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\n\nrule = layers.9-3.* bits=3\n"), -EINVAL);
	assert_error_at(f, f->main, 5, "N > M");
}

static void test_err_rule_bad_importance(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nrule = * importance=-1\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "importance=-1");
}

static void test_err_rule_min_above_max(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nrule = * min=6 max=3\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "rule min=6 above max=3");
}

static void test_err_rule_bits_and_bounds(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a]\nrule = * bits=4 min=2\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "bits pins the tile");
}

static void test_err_bad_context_name(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[context a/b]\ndefault_bits = 3\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "[context a/b]");
}

static void test_err_relative_store(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[store]\npath = model.cxlms\n[context a]\n"), -EINVAL);
	assert_error_at(f, f->main, 2, "must be an absolute path");
}

static void test_err_relative_socket(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[daemon]\nsocket = run/x.sock\n[context a]\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "must be an absolute path");
}

static void test_err_bad_socket_mode(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "[daemon]\nsocket_mode = 0999\n[context a]\n"), -EINVAL);
	assert_error_at(f, f->main, 4, "socket_mode");
}

static void test_err_unknown_default_context(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, HEAD "default_context = fast\n[context a]\n"), -EINVAL);
	assert_error_at(f, f->main, 3, "default_context = fast: no such [context]");
}

static void test_err_line_too_long(void **state)
{
	struct fx *f = *state;
	char text[2048];

	snprintf(text, sizeof(text), HEAD "[context a]\nrule = %0900d bits=3\n", 7);
	assert_int_equal(load(f, text), -EINVAL);
	assert_error_at(f, f->main, 4, "line longer than");
}

static void test_err_no_store(void **state)
{
	struct fx *f = *state;

	char want[256];
	unsigned int i;
	bool found = false;

	assert_int_equal(load(f, "[context a]\n"), -EINVAL);
	/* A whole-file error: "file: message", no line. */
	snprintf(want, sizeof(want), "%s: no [store] path", f->main);
	for (i = 0; i < f->cfg.n_errors; i++)
		found |= !strncmp(f->cfg.errors[i], want, strlen(want));
	assert_true(found);
}

static void test_err_no_contexts(void **state)
{
	struct fx *f = *state;
	unsigned int i;
	bool found = false;

	assert_int_equal(load(f, HEAD), -EINVAL);
	for (i = 0; i < f->cfg.n_errors; i++)
		found |= strstr(f->cfg.errors[i], "no [context NAME] section") != NULL;
	assert_true(found);
}

static void test_err_missing_file(void **state)
{
	struct fx *f = *state;
	unsigned int i;
	bool found = false;

	assert_int_equal(cxlmsd_config_load(&f->cfg, "/nonexistent/cxlmsd.conf", NULL),
			 -EINVAL);
	for (i = 0; i < f->cfg.n_errors; i++)
		found |= !strncmp(f->cfg.errors[i], "/nonexistent/cxlmsd.conf: cannot open", 37);
	assert_true(found);
}

/* An error in a drop-in names the drop-in and its own line. */
static void test_err_in_dropin(void **state)
{
	struct fx *f = *state;
	char path[256];

	write_dropin(f, "10-bad.conf", "[context a]\n\nmode = sometimes\n");
	assert_int_equal(load(f, HEAD "[context a]\n"), -EINVAL);
	snprintf(path, sizeof(path), "%s/10-bad.conf", f->dropin);
	assert_error_at(f, path, 3, "mode = sometimes");
}

static void test_dropins_later_wins(void **state)
{
	struct fx *f = *state;
	struct cxlmsd_context *c;

	write_dropin(f, "20-b.conf", "[context a]\ndefault_bits = 5\nrule = y.* bits=5\n");
	write_dropin(f, "10-a.conf", "[context a]\ndefault_bits = 4\nrule = x.* bits=4\n");
	write_dropin(f, "30-c.conf.disabled", "[context a]\ndefault_bits = 9\n");
	write_dropin(f, ".hidden.conf", "[context a]\ndefault_bits = 10\n");
	write_dropin(f, "05-new.conf", "[context b]\ndefault_bits = 2\n");
	assert_int_equal(load(f, HEAD "[context a]\ndefault_bits = 3\nrule = m.* bits=3\n"
			      "rule = n.* bits=3\n"), 0);
	c = cxlmsd_config_find(&f->cfg, "a");
	/* Scalars: the last file in name order wins (only *.conf, no dotfiles). */
	assert_int_equal(c->default_bits, 5);
	/* Rules: later files first (first match wins), in-file order kept. */
	assert_int_equal(c->n_rules, 4);
	assert_string_equal(c->rules[0].pattern, "y.*");
	assert_string_equal(c->rules[1].pattern, "x.*");
	assert_string_equal(c->rules[2].pattern, "m.*");
	assert_string_equal(c->rules[3].pattern, "n.*");
	assert_non_null(cxlmsd_config_find(&f->cfg, "b"));
}

static void test_parse_helpers(void **state)
{
	unsigned int b;
	uint32_t x;
	uint64_t r;

	assert_true(cxlmsd_parse_bits("full", &b));
	assert_int_equal(b, 16);
	assert_false(cxlmsd_parse_bits("+3", &b));
	assert_false(cxlmsd_parse_bits("", &b));
	assert_true(cxlmsd_parse_x100("3.5", 100, 1600, &x));
	assert_int_equal(x, 350);
	assert_true(cxlmsd_parse_x100("12", 100, 1600, &x));
	assert_int_equal(x, 1200);
	assert_false(cxlmsd_parse_x100("0.5", 100, 1600, &x));
	assert_false(cxlmsd_parse_x100("3.", 100, 1600, &x));
	assert_false(cxlmsd_parse_x100(".5", 100, 1600, &x));
	assert_true(cxlmsd_parse_rate("1024", &r));
	assert_int_equal(r, 1024);
	assert_true(cxlmsd_parse_rate("3K", &r));
	assert_int_equal(r, 3072);
	assert_false(cxlmsd_parse_rate("0", &r));
	assert_false(cxlmsd_parse_rate("99999999999999999999", &r));
	assert_false(cxlmsd_parse_rate("20000000000000T", &r));
}

/* The shipped, annotated examples parse (tests run from the repo root). */
static void test_examples_parse(void **state)
{
	struct fx *f = *state;
	char cmd[512];
	struct cxlmsd_context *c;

	mkdir(f->dropin, 0755);
	snprintf(cmd, sizeof(cmd), "cp docs/examples/50-local.conf '%s'/", f->dropin);
	if (system(cmd)) {
		print_message("# docs/examples not found from %s\n", getcwd(cmd, sizeof(cmd)));
		skip();
	}
	assert_int_equal(cxlmsd_config_load(&f->cfg, "docs/examples/cxlmsd.conf",
					    f->dropin), 0);
	c = cxlmsd_config_find(&f->cfg, "balanced");
	assert_non_null(c);
	assert_int_equal(c->budget_x100, 375);		/* the drop-in won */
	c = cxlmsd_config_find(&f->cfg, "short");
	assert_string_equal(c->rules[0].file + strlen(c->rules[0].file) - 13,
			    "50-local.conf");
	assert_non_null(cxlmsd_config_find(&f->cfg, "draft"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_valid_config),
		T(test_err_syntax),
		T(test_err_unknown_section),
		T(test_err_key_outside_section),
		T(test_err_unknown_key),
		T(test_err_unknown_store_key),
		T(test_err_bad_bits),
		T(test_err_bits_not_number),
		T(test_err_bad_mode),
		T(test_err_bad_objective),
		T(test_err_bad_budget),
		T(test_err_budget_missing),
		T(test_err_budget_without_mode),
		T(test_err_pressure_missing),
		T(test_err_pressure_no_hysteresis),
		T(test_err_bad_rate),
		T(test_err_min_above_max),
		T(test_err_rule_no_pattern),
		T(test_err_rule_unknown_option),
		T(test_err_rule_not_key_value),
		T(test_err_rule_bad_bits),
		T(test_err_rule_bad_tiles),
		T(test_err_rule_bad_range),
		T(test_err_rule_bad_importance),
		T(test_err_rule_min_above_max),
		T(test_err_rule_bits_and_bounds),
		T(test_err_bad_context_name),
		T(test_err_relative_store),
		T(test_err_relative_socket),
		T(test_err_bad_socket_mode),
		T(test_err_unknown_default_context),
		T(test_err_line_too_long),
		T(test_err_no_store),
		T(test_err_no_contexts),
		T(test_err_missing_file),
		T(test_err_in_dropin),
		T(test_dropins_later_wins),
		T(test_parse_helpers),
		T(test_examples_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
