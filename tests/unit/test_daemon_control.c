// SPDX-License-Identifier: GPL-2.0
/*
 * cxlmsd's control protocol (daemon/control.c): each request reaches its
 * action with the right arguments; every malformed request gets an err
 * reply and reaches no action.
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

#include "cxlmsd.h"

struct calls {
	unsigned int show, set, report, load, sync;
	char name[64];
	char tensor[256];
	long tile;
	double imp;
	uint64_t bytes;
	int ret;		/* what the actions return */
};

static void m_show(void *arg, FILE *out)
{
	((struct calls *)arg)->show++;
	fputs("generation 7\n", out);
}

static int m_set(void *arg, const char *name)
{
	struct calls *c = arg;

	c->set++;
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c->ret;
}

static int m_report(void *arg, const char *tensor, long tile, double imp)
{
	struct calls *c = arg;

	c->report++;
	snprintf(c->tensor, sizeof(c->tensor), "%s", tensor);
	c->tile = tile;
	c->imp = imp;
	return c->ret;
}

static int m_load(void *arg, uint64_t bytes)
{
	struct calls *c = arg;

	c->load++;
	c->bytes = bytes;
	return c->ret;
}

static int m_sync(void *arg, uint64_t *gen)
{
	struct calls *c = arg;

	c->sync++;
	*gen = 42;
	return c->ret;
}

static struct calls calls;
static const struct cxlmsd_ops ops = {
	.arg = &calls, .show = m_show, .set_context = m_set, .report = m_report,
	.load = m_load, .sync = m_sync,
};

static char reply[4096];

static int run(const char *line)
{
	FILE *out = fmemopen(reply, sizeof(reply), "w");
	int rc;

	assert_non_null(out);
	rc = cxlmsd_control_line(&ops, line, out);
	fclose(out);
	return rc;
}

static int setup(void **state)
{
	memset(&calls, 0, sizeof(calls));
	memset(reply, 0, sizeof(reply));
	return 0;
}

static unsigned int total_calls(void)
{
	return calls.show + calls.set + calls.report + calls.load + calls.sync;
}

static void test_show(void **state)
{
	assert_int_equal(run("show"), 0);
	assert_int_equal(calls.show, 1);
	assert_string_equal(reply, "generation 7\nok\n");
}

static void test_set_context(void **state)
{
	assert_int_equal(run("set-context short"), 0);
	assert_int_equal(calls.set, 1);
	assert_string_equal(calls.name, "short");
	assert_string_equal(reply, "ok\n");
}

static void test_set_context_unknown(void **state)
{
	calls.ret = -ENOENT;
	assert_int_equal(run("set-context nope"), -ENOENT);
	assert_string_equal(reply, "err ENOENT no such context\n");
}

static void test_report_tile(void **state)
{
	assert_int_equal(run("report model.layers.3.mlp.up_proj.weight 2 4.5"), 0);
	assert_int_equal(calls.report, 1);
	assert_string_equal(calls.tensor, "model.layers.3.mlp.up_proj.weight");
	assert_int_equal(calls.tile, 2);
	assert_true(calls.imp == 4.5);
}

static void test_report_all_tiles(void **state)
{
	assert_int_equal(run("report lm_head.weight * 0"), 0);
	assert_int_equal(calls.tile, -1);
	assert_true(calls.imp == 0.0);
}

static void test_report_out_of_range(void **state)
{
	calls.ret = -ERANGE;
	assert_int_equal(run("report x 99 1"), -ERANGE);
	assert_string_equal(reply, "err ERANGE tile out of range\n");
}

static void test_load_and_sync(void **state)
{
	assert_int_equal(run("load 123456789"), 0);
	assert_int_equal(calls.bytes, 123456789);
	assert_int_equal(run("sync"), 0);
	assert_string_equal(reply, "ok generation 42\n");
}

/* Malformed: an err reply, no action called. */
static void bad(const char *line, const char *want_prefix)
{
	int rc = run(line);

	assert_true(rc < 0);
	if (strncmp(reply, want_prefix, strlen(want_prefix))) {
		print_error("'%s': reply '%s', want '%s...'\n", line, reply, want_prefix);
		fail();
	}
	assert_int_equal(total_calls(), 0);
}

/* One test per malformed request. */
#define BAD(name, line, want)					\
	static void name(void **state)				\
	{							\
		bad(line, want);				\
	}

BAD(test_bad_empty, "", "err EINVAL empty")
BAD(test_bad_blank, "   \t ", "err EINVAL empty")
BAD(test_bad_unknown, "reboot", "err EINVAL unknown command")
BAD(test_bad_show_args, "show all", "err EINVAL usage: show")
BAD(test_bad_set_no_name, "set-context", "err EINVAL usage")
BAD(test_bad_set_two_names, "set-context a b", "err EINVAL usage")
BAD(test_bad_set_name, "set-context a/b", "err EINVAL invalid context name")
BAD(test_bad_report_args, "report x 1", "err EINVAL usage: report")
BAD(test_bad_report_tile, "report x -1 1", "err EINVAL TILE")
BAD(test_bad_report_tile_big, "report x 4294967296 1", "err EINVAL TILE")
BAD(test_bad_report_imp, "report x 1 lots", "err EINVAL IMPORTANCE")
BAD(test_bad_report_imp_neg, "report x 1 -2", "err EINVAL IMPORTANCE")
BAD(test_bad_report_imp_nan, "report x 1 nan", "err EINVAL IMPORTANCE")
BAD(test_bad_report_imp_inf, "report x 1 inf", "err EINVAL IMPORTANCE")
BAD(test_bad_load, "load -5", "err EINVAL usage: load")
BAD(test_bad_load_huge, "load 99999999999999999999", "err EINVAL usage: load")
BAD(test_bad_sync_args, "sync now", "err EINVAL usage: sync")
BAD(test_bad_control_char, "show\x1b[2J", "err EINVAL control character")
BAD(test_bad_non_ascii, "set-context caf\xc3\xa9", "err EINVAL non-ASCII")
BAD(test_bad_too_many, "report a b c d e f g", "err EINVAL too many")

static void test_bad_too_long(void **state)
{
	char line[CXLMSD_LINE_MAX + 10];

	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	bad(line, "err E2BIG");
}

#define T(fn) cmocka_unit_test_setup(fn, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_show), T(test_set_context), T(test_set_context_unknown),
		T(test_report_tile), T(test_report_all_tiles), T(test_report_out_of_range),
		T(test_load_and_sync),
		T(test_bad_empty), T(test_bad_blank), T(test_bad_unknown),
		T(test_bad_show_args), T(test_bad_set_no_name), T(test_bad_set_two_names),
		T(test_bad_set_name), T(test_bad_report_args), T(test_bad_report_tile),
		T(test_bad_report_tile_big), T(test_bad_report_imp),
		T(test_bad_report_imp_neg), T(test_bad_report_imp_nan),
		T(test_bad_report_imp_inf), T(test_bad_load), T(test_bad_load_huge),
		T(test_bad_sync_args), T(test_bad_control_char), T(test_bad_non_ascii),
		T(test_bad_too_many), T(test_bad_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
