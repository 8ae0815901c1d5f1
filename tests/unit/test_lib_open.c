// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_open() on good and bad stores: each corruption class gives its own
 * error code and a log message; odd paths (directory, device, FIFO,
 * missing) fail cleanly.  Also the context: refcounts, $CXLMS_LOG, names.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "lib_testutil.h"
#include "store_format.h"

static struct logcap lc;

struct fx {
	struct cxlms_ctx *ctx;
	char *dir, *st, *good, *bad;
	uint8_t *img;		/* the good store's bytes */
	size_t len;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	float a[6 * 300], b[40];
	struct tu_st_tensor t[2] = {
		{ .name = "a", .dtype = "F32", .ndim = 2, .shape = { 6, 300 },
		  .data = a, .len = sizeof(a) },
		{ .name = "b", .dtype = "F32", .ndim = 1, .shape = { 40 },
		  .data = b, .len = sizeof(b) },
	};
	struct cxlms_import_opts o = { .tile_rows = 2 };
	unsigned int i;

	if (!fx)
		return -1;
	for (i = 0; i < 6 * 300; i++)
		a[i] = (float)i / 100 - 9;
	for (i = 0; i < 40; i++)
		b[i] = (float)i;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir)
		return -1;
	fx->st = tu_path(fx->dir, "m.safetensors");
	fx->good = tu_path(fx->dir, "good.cxlms");
	fx->bad = tu_path(fx->dir, "bad.cxlms");
	if (tu_st_write(fx->st, t, 2) ||
	    cxlms_import_safetensors(fx->ctx, fx->st, fx->good, &o))
		return -1;
	fx->img = tu_read_file(fx->good, &fx->len);
	if (!fx->img)
		return -1;
	tu_log_clear(&lc);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->st);
	free(fx->good);
	free(fx->bad);
	free(fx->img);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

static struct cxlms_sb *sb_of(uint8_t *img)
{
	return (struct cxlms_sb *)img;
}

static struct cxlms_dirent *dirent_of(uint8_t *img, unsigned int i)
{
	return (struct cxlms_dirent *)(img + sb_of(img)->dir_off) + i;
}

/* After editing entries: fix the directory CRC and reseal the superblock. */
static void reseal_dir(uint8_t *img)
{
	struct cxlms_sb *sb = sb_of(img);

	sb->dir_crc = cxlms_dir_crc(dirent_of(img, 0), sb->dir_count);
	cxlms_sb_seal(sb);
}

/* Write @len bytes of @img as the bad store and open it: expect @err. */
static void expect_open(struct fx *fx, const void *img, size_t len, int err,
			const char *msg)
{
	struct cxlms_store *s = NULL;
	int rc;

	assert_int_equal(tu_write_file(fx->bad, img, len), 0);
	tu_log_clear(&lc);
	rc = cxlms_open(fx->ctx, fx->bad, 0, &s);
	if (rc != err) {
		print_error("%zu bytes: got %d, want %d; log:\n%s\n", len, rc, err, lc.buf);
		fail();
	}
	assert_null(s);
	assert_true(lc.count >= 1);
	if (msg)
		assert_logged(&lc, msg);
}

static void test_open_good(void **state)
{
	struct fx *fx = *state;
	struct cxlms_store *s = NULL;
	struct cxlms_tensor *t;

	assert_int_equal(cxlms_open(fx->ctx, fx->good, 0, &s), 0);
	assert_non_null(s);
	assert_string_equal(cxlms_store_get_backend(s), "file");
	assert_string_equal(cxlms_store_get_path(s), fx->good);
	assert_ptr_equal(cxlms_store_get_ctx(s), fx->ctx);
	assert_int_equal(cxlms_store_get_size(s), fx->len);
	assert_int_equal(cxlms_store_get_tensor_count(s), 2);
	assert_int_equal(cxlms_tensor_lookup(s, "b", &t), 0);
	assert_int_equal(cxlms_tensor_get_index(t), 1);
	assert_int_equal(cxlms_tensor_lookup(s, "nope", &t), -ENOENT);
	assert_int_equal(cxlms_store_verify(s), 0);
	assert_int_equal(lc.count, 0);

	assert_ptr_equal(cxlms_store_ref(s), s);
	assert_ptr_equal(cxlms_store_unref(s), s);
	assert_null(cxlms_store_unref(s));

	/* the store keeps its context alive (ASan sees a leak or a UAF) */
	{
		struct cxlms_ctx *c = NULL;

		assert_int_equal(cxlms_new(&c), 0);
		assert_int_equal(cxlms_open(c, fx->good, 0, &s), 0);
		assert_ptr_equal(cxlms_unref(c), c);
		assert_ptr_equal(cxlms_store_get_ctx(s), c);
		assert_int_equal(cxlms_tensor_lookup(s, "a", &t), 0);
		assert_null(cxlms_store_unref(s));
	}

	/* read-write open maps the same store */
	assert_int_equal(cxlms_open(fx->ctx, fx->good, CXLMS_OPEN_RDWR, &s), 0);
	assert_int_equal(cxlms_store_get_tensor_count(s), 2);
	cxlms_store_unref(s);
}

static void test_bad_args(void **state)
{
	struct fx *fx = *state;
	struct cxlms_store *s = NULL;

	assert_int_equal(cxlms_open(NULL, fx->good, 0, &s), -EINVAL);
	assert_int_equal(cxlms_open(fx->ctx, NULL, 0, &s), -EINVAL);
	assert_int_equal(cxlms_open(fx->ctx, fx->good, 0, NULL), -EINVAL);
	tu_log_clear(&lc);
	assert_int_equal(cxlms_open(fx->ctx, fx->good, 0x80, &s), -EINVAL);
	assert_logged(&lc, "unknown open flags 0x80");
	assert_null(s);
}

static void test_empty_file(void **state)
{
	struct fx *fx = *state;

	expect_open(fx, "", 0, -EMEDIUMTYPE, "empty file");
}

static void test_truncated(void **state)
{
	struct fx *fx = *state;
	struct cxlms_sb *sb = sb_of(fx->img);
	struct cxlms_dirent *d = dirent_of(fx->img, 1);
	const size_t cuts[] = {
		8,			/* just the magic (4 bytes of it: foreign) */
		100,			/* inside the superblock struct */
		sizeof(*sb),		/* the struct, not its 4 KiB area */
		CXLMS_SB_BYTES,
		sb->dir_off + 100,	/* inside the directory */
		sb->policy_off + 1,	/* inside the policy area */
		sb->data_off,		/* no tiles at all */
		d->tile_off + 1,	/* inside the last tensor's tiles */
		fx->len - 1,
	};
	size_t i;

	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		assert_true(cuts[i] < fx->len);
		expect_open(fx, fx->img, cuts[i], -ENODATA, "truncated");
	}
}

static void test_foreign(void **state)
{
	struct fx *fx = *state;
	size_t len;
	void *st = tu_read_file(fx->st, &len);
	char text[8192];

	assert_non_null(st);
	expect_open(fx, st, len, -EMEDIUMTYPE, "not a cxlms store");
	free(st);
	memset(text, 'x', sizeof(text));
	expect_open(fx, text, sizeof(text), -EMEDIUMTYPE, "not a cxlms store");
	/* Fewer bytes than the magic is foreign (docs/format.md), even a prefix. */
	expect_open(fx, "CXL", 3, -EMEDIUMTYPE, "not a cxlms store");
	expect_open(fx, "CXLM", 4, -EMEDIUMTYPE, "not a cxlms store");
	/* The whole magic and no more: a store cut short. */
	expect_open(fx, "CXLMSTOR", 8, -ENODATA, "truncated");
	expect_open(fx, "CXLX", 4, -EMEDIUMTYPE, "not a cxlms store");
}

static void test_sb_checksum(void **state)
{
	struct fx *fx = *state;

	sb_of(fx->img)->generation ^= 1;
	expect_open(fx, fx->img, fx->len, -EBADMSG, "superblock checksum");
}

static void test_dir_checksum(void **state)
{
	struct fx *fx = *state;

	dirent_of(fx->img, 0)->reserved[3] ^= 0x100;
	expect_open(fx, fx->img, fx->len, -EBADMSG, "directory checksum");
}

static void test_entry_checksum(void **state)
{
	struct fx *fx = *state;

	dirent_of(fx->img, 1)->shape[0] = 41;	/* entry CRC now stale */
	reseal_dir(fx->img);
	expect_open(fx, fx->img, fx->len, -EBADMSG, "entry checksum");
	assert_logged(&lc, "tensor 'b'");
}

static void test_bad_version(void **state)
{
	struct fx *fx = *state;

	sb_of(fx->img)->version = CXLMS_STORE_VERSION + 1;
	cxlms_sb_seal(sb_of(fx->img));
	expect_open(fx, fx->img, fx->len, -EPROTONOSUPPORT, "version");
}

static void test_unknown_incompat_feature(void **state)
{
	struct fx *fx = *state;

	sb_of(fx->img)->feature_incompat |= 1ull << 40;
	cxlms_sb_seal(sb_of(fx->img));
	expect_open(fx, fx->img, fx->len, -EPROTONOSUPPORT, "incompatible features");
}

static void test_impossible_entry(void **state)
{
	struct fx *fx = *state;
	struct cxlms_dirent *d = dirent_of(fx->img, 0);

	d->rows += 1;		/* no longer the product of the shape */
	cxlms_dirent_seal(d);
	reseal_dir(fx->img);
	expect_open(fx, fx->img, fx->len, -EUCLEAN, "rows/cols");
	assert_logged(&lc, "tensor 'a'");
}

static void test_impossible_sb(void **state)
{
	struct fx *fx = *state;

	sb_of(fx->img)->data_off += 1;	/* misaligned data area */
	cxlms_sb_seal(sb_of(fx->img));
	expect_open(fx, fx->img, fx->len, -EUCLEAN, "data area");
}

static void test_tile_checksum(void **state)
{
	struct fx *fx = *state;
	struct cxlms_dirent *d = dirent_of(fx->img, 0);
	struct cxlms_store *s = NULL;
	struct cxlms_tensor *t;
	uint64_t tile_bytes;

	assert_int_equal(cxlms_open(fx->ctx, fx->good, 0, &s), 0);
	assert_int_equal(cxlms_tensor_lookup(s, "a", &t), 0);
	tile_bytes = cxlms_tensor_get_stored_bytes(t) / cxlms_tensor_get_tile_count(t);
	cxlms_store_unref(s);
	fx->img[d->tile_off + tile_bytes / 2] ^= 0x10;	/* inside tile 0 of 'a' */
	assert_int_equal(tu_write_file(fx->bad, fx->img, fx->len), 0);
	/* open checks metadata only; verify reads every tile */
	assert_int_equal(cxlms_open(fx->ctx, fx->bad, 0, &s), 0);
	tu_log_clear(&lc);
	assert_int_equal(cxlms_store_verify(s), -EBADMSG);
	assert_logged(&lc, "tensor 'a'");
	assert_logged(&lc, "tile 0 checksum mismatch");
	cxlms_store_unref(s);
}

static void test_odd_paths(void **state)
{
	struct fx *fx = *state;
	struct cxlms_store *s = NULL;
	char *fifo = tu_path(fx->dir, "fifo");

	tu_log_clear(&lc);
	assert_int_equal(cxlms_open(fx->ctx, fx->dir, 0, &s), -EISDIR);
	assert_logged(&lc, "is a directory");

	tu_log_clear(&lc);
	assert_int_equal(cxlms_open(fx->ctx, "/nonexistent/store.cxlms", 0, &s), -ENOENT);
	assert_logged(&lc, "/nonexistent/store.cxlms");

	/* a character device that is not /dev/cxlmsN: no ioctl is sent to it */
	tu_log_clear(&lc);
	assert_int_equal(cxlms_open(fx->ctx, "/dev/null", 0, &s), -ENOTTY);
	assert_logged(&lc, "not a cxlms device");
	assert_null(s);

	/* a FIFO with no writer must not block */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	tu_log_clear(&lc);
	assert_int_equal(cxlms_open(fx->ctx, fifo, 0, &s), -EINVAL);
	assert_logged(&lc, "not a regular file");
	assert_null(s);
	free(fifo);
}

static void test_log_priority_env(void **state)
{
	struct fx *fx = *state;
	static const struct { const char *v; int prio; } cases[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "err", LOG_ERR },
		{ "6", LOG_INFO }, { "bogus", LOG_ERR },
	};
	struct cxlms_ctx *c;
	struct cxlms_store *s;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setenv("CXLMS_LOG", cases[i].v, 1);
		assert_int_equal(cxlms_new(&c), 0);
		assert_int_equal(cxlms_get_log_priority(c), cases[i].prio);
		cxlms_unref(c);
	}
	unsetenv("CXLMS_LOG");
	assert_int_equal(cxlms_new(&c), 0);
	assert_int_equal(cxlms_get_log_priority(c), LOG_ERR);
	cxlms_unref(c);

	/* at debug level a successful open says so; at err level it is quiet */
	cxlms_set_log_priority(fx->ctx, LOG_DEBUG);
	tu_log_clear(&lc);
	assert_int_equal(cxlms_open(fx->ctx, fx->good, 0, &s), 0);
	assert_logged(&lc, "opened (file backend, 2 tensors");
	cxlms_store_unref(s);
	cxlms_set_log_priority(fx->ctx, LOG_ERR);
	tu_log_clear(&lc);
	assert_int_equal(cxlms_open(fx->ctx, fx->good, 0, &s), 0);
	assert_int_equal(lc.count, 0);
	cxlms_store_unref(s);

	/* no log function: errors are still returned, nothing is printed */
	cxlms_set_log_fn(fx->ctx, NULL);
	assert_int_equal(cxlms_open(fx->ctx, fx->dir, 0, &s), -EISDIR);
	assert_int_equal(lc.count, 0);
}

static void test_names(void **state)
{
	static const char *fmts[] = { "int8", "bf16", "fp16" };
	static const char *outs[] = { "planes", "packed", "int", "f32", "bf16" };
	static const char *recons[] = { "default", "floor", "midpoint", "table" };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(cxlms_format_parse(fmts[i]), (int)i + CXLMS_FMT_INT8);
		assert_string_equal(cxlms_format_name(i + CXLMS_FMT_INT8), fmts[i]);
	}
	for (i = 0; i < 5; i++) {
		assert_int_equal(cxlms_out_parse(outs[i]), (int)i + CXLMS_OUT_PLANES);
		assert_string_equal(cxlms_out_name(i + CXLMS_OUT_PLANES), outs[i]);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(cxlms_recon_parse(recons[i]), (int)i);
		assert_string_equal(cxlms_recon_name(i), recons[i]);
	}
	assert_string_equal(cxlms_dtype_name(CXLMS_DTYPE_BF16), "bf16");
	assert_int_equal(cxlms_format_parse("INT8"), CXLMS_FMT_INT8);
	assert_int_equal(cxlms_format_parse("int4"), -EINVAL);
	assert_int_equal(cxlms_out_parse(""), -EINVAL);
	assert_int_equal(cxlms_recon_parse(NULL), -EINVAL);
	assert_null(cxlms_format_name(0));
	assert_null(cxlms_format_name(4));
	assert_null(cxlms_out_name(99));
	assert_null(cxlms_recon_name(4));
	assert_null(cxlms_dtype_name(5));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_good),
		T(test_bad_args),
		T(test_empty_file),
		T(test_truncated),
		T(test_foreign),
		T(test_sb_checksum),
		T(test_dir_checksum),
		T(test_entry_checksum),
		T(test_bad_version),
		T(test_unknown_incompat_feature),
		T(test_impossible_entry),
		T(test_impossible_sb),
		T(test_tile_checksum),
		T(test_odd_paths),
		T(test_log_priority_env),
		T(test_names),
	};

	unsetenv("CXLMS_LOG");
	return cmocka_run_group_tests_name("lib_open", tests, NULL, NULL);
}
