// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel-backend calls without a device: argument and option checks
 * that must refuse before anything is opened, nodes that are not
 * /dev/cxlmsN (no ioctl is sent to them), and libcxl's region lookup on a
 * machine without (or with) a CXL bus.  The calls against a real
 * /dev/cxlms0 run in the QEMU guest (tests/guest/lib-kernel.sh).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib_testutil.h"

static struct logcap lc;

struct fx {
	struct cxlms_ctx *ctx;
	char *dir, *file;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir)
		return -1;
	fx->file = tu_path(fx->dir, "plain");
	if (tu_write_file(fx->file, "x", 1))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->file);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

static const struct cxlms_attach_opts ram_ok = {
	.bytes = 16u << 20,
	.flags = CXLMS_ATTACH_OPT_FORMAT,
};

/* Each refused before the device is opened: a bogus path must not matter. */
static void test_attach_bad_opts(void **state)
{
	struct fx *fx = *state;
	struct cxlms_attach_opts o;
	const char *dev = "/nonexistent/cxlms0";

	assert_int_equal(cxlms_attach(NULL, dev, &ram_ok), -EINVAL);
	assert_int_equal(cxlms_attach(fx->ctx, NULL, &ram_ok), -EINVAL);
	assert_int_equal(cxlms_attach(fx->ctx, dev, NULL), -EINVAL);

	o = ram_ok;
	o.flags |= 1u << 7;
	tu_log_clear(&lc);
	assert_int_equal(cxlms_attach(fx->ctx, dev, &o), -EINVAL);
	assert_logged(&lc, "unknown attach flags");

	o = ram_ok;
	o.flags = 0;			/* fresh RAM holds no store */
	tu_log_clear(&lc);
	assert_int_equal(cxlms_attach(fx->ctx, dev, &o), -EINVAL);
	assert_logged(&lc, "RAM store needs");

	o = ram_ok;
	o.bytes = 0;
	assert_int_equal(cxlms_attach(fx->ctx, dev, &o), -EINVAL);

	o = ram_ok;
	o.offset = 4096;		/* offsets are for regions */
	assert_int_equal(cxlms_attach(fx->ctx, dev, &o), -EINVAL);

	o = ram_ok;
	o.flags = 0;
	o.region = "region0";
	o.dir_capacity = 8;		/* layout options only when formatting */
	tu_log_clear(&lc);
	assert_int_equal(cxlms_attach(fx->ctx, dev, &o), -EINVAL);
	assert_logged(&lc, "only apply when formatting");

	o = ram_ok;
	o.flags = 0;
	o.region = "region0";
	o.default_group = 64;
	assert_int_equal(cxlms_attach(fx->ctx, dev, &o), -EINVAL);

	/* valid options reach the device: it does not exist */
	tu_log_clear(&lc);
	assert_int_equal(cxlms_attach(fx->ctx, dev, &ram_ok), -ENOENT);
	assert_logged(&lc, "/nonexistent/cxlms0");
}

/* Nothing but a cxlms device node gets our ioctls. */
static void test_not_a_cxlms_device(void **state)
{
	struct fx *fx = *state;
	struct cxlms_device_info di;
	struct cxlms_store *s = NULL;

	tu_log_clear(&lc);
	assert_int_equal(cxlms_attach(fx->ctx, "/dev/null", &ram_ok), -ENOTTY);
	assert_logged(&lc, "not a cxlms device");
	tu_log_clear(&lc);
	assert_int_equal(cxlms_attach(fx->ctx, fx->file, &ram_ok), -ENOTTY);
	assert_logged(&lc, "not a device node");

	assert_int_equal(cxlms_detach(fx->ctx, "/dev/null"), -ENOTTY);
	assert_int_equal(cxlms_detach(fx->ctx, fx->file), -ENOTTY);
	assert_int_equal(cxlms_detach(NULL, "/dev/null"), -EINVAL);
	assert_int_equal(cxlms_detach(fx->ctx, NULL), -EINVAL);

	assert_int_equal(cxlms_device_get_info(fx->ctx, "/dev/null", &di), -ENOTTY);
	assert_int_equal(cxlms_device_get_info(fx->ctx, "/nonexistent/cxlms0", &di),
			 -ENOENT);
	assert_int_equal(cxlms_device_get_info(fx->ctx, "/dev/null", NULL), -EINVAL);

	assert_int_equal(cxlms_open(fx->ctx, "/dev/zero", 0, &s), -ENOTTY);
	assert_null(s);
}

static void test_copy_bad_args(void **state)
{
	struct fx *fx = *state;
	struct cxlms_store *src;
	char *st = tu_path(fx->dir, "a.safetensors"), *out = tu_path(fx->dir, "a.cxlms");
	int8_t data[8] = { 1, -2, 3, -4, 5, -6, 7, -8 };
	struct tu_st_tensor in = { .name = "w", .dtype = "I8", .ndim = 1,
				   .shape = { 8 }, .data = data, .len = 8 };

	assert_int_equal(tu_st_write(st, &in, 1), 0);
	assert_int_equal(cxlms_import_safetensors(fx->ctx, st, out, NULL), 0);
	assert_int_equal(cxlms_open(fx->ctx, out, 0, &src), 0);

	assert_int_equal(cxlms_copy_store(NULL, src, "/dev/null", NULL, NULL), -EINVAL);
	assert_int_equal(cxlms_copy_store(fx->ctx, NULL, "/dev/null", NULL, NULL), -EINVAL);
	assert_int_equal(cxlms_copy_store(fx->ctx, src, NULL, NULL, NULL), -EINVAL);
	tu_log_clear(&lc);
	assert_int_equal(cxlms_copy_store(fx->ctx, src, "/dev/null", NULL, NULL), -ENOTTY);
	assert_logged(&lc, "not a cxlms device");
	/* a store file is not a device to copy into */
	assert_int_equal(cxlms_copy_store(fx->ctx, src, out, NULL, NULL), -ENOTTY);

	cxlms_store_unref(src);
	free(st);
	free(out);
}

static void test_region_lookup(void **state)
{
	struct fx *fx = *state;
	uint64_t start = 1, size = 1;
	int rc;

	assert_int_equal(cxlms_region_lookup(NULL, "region0", &start, &size), -EINVAL);
	assert_int_equal(cxlms_region_lookup(fx->ctx, NULL, &start, &size), -EINVAL);
	assert_int_equal(cxlms_region_lookup(fx->ctx, "", &start, &size), -EINVAL);
	assert_int_equal(cxlms_region_lookup(fx->ctx, "region0", NULL, &size), -EINVAL);
	assert_int_equal(cxlms_region_lookup(fx->ctx, "region0", &start, NULL), -EINVAL);

	/* No machine has this region: no CXL bus at all, or no such region. */
	tu_log_clear(&lc);
	rc = cxlms_region_lookup(fx->ctx, "region-cxlms-test", &start, &size);
	assert_true(rc == -ENODEV || rc == -ENOENT);
	assert_logged(&lc, rc == -ENODEV ? "no CXL bus" : "no such CXL region");
	assert_int_equal(start, 1);	/* outputs untouched on failure */
	assert_int_equal(size, 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_attach_bad_opts),
		T(test_not_a_cxlms_device),
		T(test_copy_bad_args),
		T(test_region_lookup),
	};

	return cmocka_run_group_tests_name("lib_kernel", tests, NULL, NULL);
}
