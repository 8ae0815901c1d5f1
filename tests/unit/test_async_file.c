// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The async API on the file backend: every (tile range, bits, out, recon)
 * gives the bytes and the result cxlms_fetch_tiles() gives, errors
 * included; bad requests in a batch do not disturb the good ones; the
 * queue bounds what is outstanding (-EAGAIN, never a hang); cancel; the
 * eventfd is readable exactly while completions wait.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib_testutil.h"
#include "store_format.h"
#include "writer.h"

static struct logcap lc;

#define N_T 3
static const char *const names[N_T] = { "w", "v", "h" };
#define BUF_LEN	(64 * 1024)

struct fx {
	struct cxlms_ctx *ctx;
	char *dir, *path, *path2;
	struct cxlms_store *s, *s2;
	struct cxlms_tensor *t[N_T];
};

/* INT8 40 x 96 in tiles of 7 rows, BF16 18 x 30 in tiles of 5, FP16 [29]. */
static int write_store(const char *path, uint64_t seed)
{
	static const struct cxlms_tensor_spec spec[N_T] = {
		{ .name = "w", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
		  .ndim = 2, .shape = { 40, 96 }, .group_size = 32, .tile_rows = 7 },
		{ .name = "v", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_BF16,
		  .ndim = 2, .shape = { 18, 30 }, .tile_rows = 5 },
		{ .name = "h", .src_dtype = CXLMS_DTYPE_F16, .fmt = CXLMS_FMT_FP16,
		  .ndim = 1, .shape = { 29 } },
	};

	return tu_write_random_store(path, spec, N_T, &seed, 5);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	unsigned int k;

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir)
		return -1;
	fx->path = tu_path(fx->dir, "a.cxlms");
	fx->path2 = tu_path(fx->dir, "b.cxlms");
	if (write_store(fx->path, 5) || write_store(fx->path2, 6))
		return -1;
	if (cxlms_open(fx->ctx, fx->path, 0, &fx->s) ||
	    cxlms_open(fx->ctx, fx->path2, 0, &fx->s2))
		return -1;
	for (k = 0; k < N_T; k++)
		if (cxlms_tensor_lookup(fx->s, names[k], &fx->t[k]))
			return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cxlms_store_unref(fx->s);
	cxlms_store_unref(fx->s2);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->path);
	free(fx->path2);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

static bool fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Reap everything queued; returns the count. */
static unsigned int reap_all(struct cxlms_async *q, struct cxlms_async_cqe *c,
			     unsigned int max)
{
	int n = cxlms_async_reap(q, c, max, max);

	assert_true(n >= 0);
	return (unsigned int)n;
}

enum { BATCH = 32 };
static uint8_t got[BATCH][BUF_LEN], expect[BATCH][BUF_LEN];

struct grid {
	struct cxlms_async *q;
	struct cxlms_async_req req[BATCH];
	int64_t want_res[BATCH];
	unsigned int n;
	unsigned long compared, errors;
};

/* Submit the batch collected in @g and check each completion. */
static void grid_flush(struct grid *g)
{
	struct cxlms_async_cqe cqe[BATCH];
	unsigned int i;

	if (!g->n)
		return;
	assert_int_equal(cxlms_async_submit(g->q, g->req, g->n), g->n);
	assert_int_equal(cxlms_async_reap(g->q, cqe, BATCH, g->n), g->n);
	/* inline completions come back in submission order */
	for (i = 0; i < g->n; i++) {
		assert_int_equal(cqe[i].user_data, 1000 + i);
		assert_int_equal(cqe[i].result, g->want_res[i]);
		if (g->want_res[i] < 0) {
			g->errors++;
			/* a refused request writes nothing */
			assert_int_equal(got[i][0], 0xa5);
			continue;
		}
		assert_memory_equal(got[i], expect[i], g->want_res[i]);
		/* nothing past the result was touched */
		assert_int_equal(got[i][g->want_res[i]], 0xa5);
		g->compared++;
	}
	g->n = 0;
}

/*
 * Every combination (single tiles, tile pairs that may run past the end,
 * the rest of the tensor; bits and out one past the valid range), in
 * batches of 32, against the sync call.  The async side writes into
 * buffers that start with a poison pattern.
 */
static void test_equals_sync(void **state)
{
	struct fx *fx = *state;
	struct grid g = { .n = 0 };
	unsigned int k, first, span, bits, out, recon;

	assert_int_equal(cxlms_async_new(fx->s, BATCH, &g.q), 0);
	assert_string_equal(cxlms_async_get_mode(g.q), "sync");

	for (k = 0; k < N_T; k++) {
		struct cxlms_tensor *t = fx->t[k];
		unsigned int nt = cxlms_tensor_get_tile_count(t);

		for (first = 0; first < nt; first++)
		for (span = 1; span <= 3; span++)
		for (bits = 0; bits <= cxlms_tensor_get_planes(t) + 1; bits++)
		for (out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16 + 1; out++)
		for (recon = CXLMS_RECON_DEFAULT; recon <= CXLMS_RECON_TABLE; recon++) {
			unsigned int count = span == 3 ? nt - first : span;
			unsigned int n = g.n;

			memset(got[n], 0xa5, BUF_LEN);
			g.want_res[n] = cxlms_fetch_tiles(fx->s, t, first, count,
							  bits, out, recon,
							  expect[n], BUF_LEN);
			g.req[n] = (struct cxlms_async_req){
				.tensor = t, .first = first, .count = count,
				.bits = bits, .out = out, .recon = recon,
				.buf = got[n], .len = BUF_LEN,
				.user_data = 1000 + n,
			};
			if (++g.n == BATCH)
				grid_flush(&g);
		}
	}
	grid_flush(&g);
	print_message("# %lu fetches equal to the sync path, %lu errors alike\n",
		      g.compared, g.errors);
	/* the grid must exercise both sides */
	assert_true(g.compared > 1000);
	assert_true(g.errors > 1000);
	cxlms_async_free(g.q);
}

/* A batch of good and bad requests: each gets its own result. */
static void test_mixed_batch(void **state)
{
	struct fx *fx = *state;
	static uint8_t buf[6][BUF_LEN], ref[BUF_LEN];
	struct cxlms_tensor *w = fx->t[0], *h = fx->t[2], *other;
	struct cxlms_async_req req[6] = {
		{ .tensor = w, .first = 0, .count = 1, .bits = 3,
		  .out = CXLMS_OUT_F32, .buf = buf[0], .len = BUF_LEN, .user_data = 0 },
		/* tile range past the end */
		{ .tensor = w, .first = 5, .count = 2, .bits = 3,
		  .out = CXLMS_OUT_F32, .buf = buf[1], .len = BUF_LEN, .user_data = 1 },
		/* BF16 values below 9 bits: not servable */
		{ .tensor = fx->t[1], .first = 0, .count = 1, .bits = 4,
		  .out = CXLMS_OUT_F32, .buf = buf[2], .len = BUF_LEN, .user_data = 2 },
		/* buffer too small */
		{ .tensor = h, .first = 0, .count = 1, .bits = 16,
		  .out = CXLMS_OUT_F32, .buf = buf[3], .len = 4, .user_data = 3 },
		/* a tensor of another store */
		{ .tensor = NULL, .first = 0, .count = 1, .bits = 3,
		  .out = CXLMS_OUT_F32, .buf = buf[4], .len = BUF_LEN, .user_data = 4 },
		{ .tensor = h, .first = 0, .count = 1, .bits = 12,
		  .out = CXLMS_OUT_BF16, .buf = buf[5], .len = BUF_LEN, .user_data = 5 },
	};
	const int64_t want[6] = { 0, -EINVAL, -EOPNOTSUPP, -ENOSPC, -EINVAL, 0 };
	struct cxlms_async_cqe cqe[6];
	struct cxlms_async *q;
	int64_t r;
	unsigned int i;

	assert_int_equal(cxlms_tensor_lookup(fx->s2, "w", &other), 0);
	req[4].tensor = other;
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(cxlms_async_new(fx->s, 8, &q), 0);
	assert_int_equal(cxlms_async_submit(q, req, 6), 6);
	assert_int_equal(cxlms_async_reap(q, cqe, 6, 6), 6);
	for (i = 0; i < 6; i++) {
		assert_int_equal(cqe[i].user_data, i);
		if (want[i] < 0) {
			assert_int_equal(cqe[i].result, want[i]);
			/* a refused request writes nothing */
			assert_int_equal(buf[i][0], 0x5a);
			continue;
		}
		r = cxlms_fetch_tiles(fx->s, req[i].tensor, req[i].first,
				      req[i].count, req[i].bits, req[i].out,
				      req[i].recon, ref, BUF_LEN);
		assert_true(r > 0);
		assert_int_equal(cqe[i].result, r);
		assert_memory_equal(buf[i], ref, r);
	}
	cxlms_async_free(q);
}

/* depth bounds submitted-but-unreaped requests; -EAGAIN, never a wait. */
static void test_queue_full(void **state)
{
	struct fx *fx = *state;
	static uint8_t buf[10][4096];
	struct cxlms_async_req req[10];
	struct cxlms_async_cqe cqe[10];
	struct cxlms_async *q;
	unsigned int i, seen = 0;
	int n;

	for (i = 0; i < 10; i++)
		req[i] = (struct cxlms_async_req){
			.tensor = fx->t[2], .first = 0, .count = 1, .bits = 16,
			.out = CXLMS_OUT_INT, .buf = buf[i], .len = 4096,
			.user_data = i,
		};
	assert_int_equal(cxlms_async_new(fx->s, 4, &q), 0);
	assert_int_equal(cxlms_async_submit(q, req, 10), 4);
	assert_int_equal(cxlms_async_submit(q, req + 4, 6), -EAGAIN);
	assert_int_equal(cxlms_async_submit(q, req + 4, 0), 0);
	/* reaping two makes room for exactly two */
	assert_int_equal(cxlms_async_reap(q, cqe, 2, 0), 2);
	assert_int_equal(cqe[0].user_data, 0);
	assert_int_equal(cqe[1].user_data, 1);
	assert_int_equal(cxlms_async_submit(q, req + 4, 6), 2);
	assert_int_equal(cxlms_async_submit(q, req + 6, 4), -EAGAIN);
	/* min_wait beyond what is queued returns what there is */
	n = cxlms_async_reap(q, cqe, 10, 10);
	assert_int_equal(n, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(cqe[i].user_data, 2 + i);
		assert_int_equal(cqe[i].result, 29 * 2);
		seen++;
	}
	/* an empty queue: reap returns 0 at once, even asked to wait */
	assert_int_equal(cxlms_async_reap(q, cqe, 10, 1), 0);
	assert_int_equal(cxlms_async_submit(q, req + 6, 4), 4);
	assert_int_equal(reap_all(q, cqe, 10), 4);
	assert_int_equal(seen + 4 + 2, 10);
	cxlms_async_free(q);
}

/* Inline completion: nothing is ever in flight, and cancel says so. */
static void test_cancel(void **state)
{
	struct fx *fx = *state;
	static uint8_t buf[2][4096];
	struct cxlms_async_req req[2] = {
		{ .tensor = fx->t[2], .count = 1, .bits = 16, .out = CXLMS_OUT_INT,
		  .buf = buf[0], .len = 4096, .user_data = 7 },
		{ .tensor = fx->t[2], .count = 1, .bits = 8, .out = CXLMS_OUT_PLANES,
		  .buf = buf[1], .len = 4096, .user_data = 8 },
	};
	struct cxlms_async_cqe cqe[2];
	struct cxlms_async *q;

	assert_int_equal(cxlms_async_new(fx->s, 4, &q), 0);
	assert_int_equal(cxlms_async_cancel(q, 7), -ENOENT);
	assert_int_equal(cxlms_async_submit(q, req, 2), 2);
	/* completed, not reaped: cannot be cancelled any more */
	assert_int_equal(cxlms_async_cancel(q, 7), -ENOENT);
	assert_int_equal(cxlms_async_cancel(q, 12345), -ENOENT);
	/* and the completion is still delivered intact */
	assert_int_equal(cxlms_async_reap(q, cqe, 2, 2), 2);
	assert_int_equal(cqe[0].user_data, 7);
	assert_int_equal(cqe[0].result, 29 * 2);
	assert_int_equal(cqe[1].user_data, 8);
	assert_int_equal(cqe[1].result, 8 * 4);
	assert_int_equal(cxlms_async_cancel(NULL, 7), -EINVAL);
	cxlms_async_free(q);
}

/* The eventfd is readable exactly while completions wait to be reaped. */
static void test_poll_fd(void **state)
{
	struct fx *fx = *state;
	static uint8_t buf[3][4096];
	struct cxlms_async_req req[3];
	struct cxlms_async_cqe cqe[3];
	struct cxlms_async *q;
	unsigned int i;
	int fd;

	for (i = 0; i < 3; i++)
		req[i] = (struct cxlms_async_req){
			.tensor = fx->t[2], .count = 1, .bits = 16,
			.out = CXLMS_OUT_INT, .buf = buf[i], .len = 4096,
			.user_data = i,
		};
	assert_int_equal(cxlms_async_new(fx->s, 4, &q), 0);
	fd = cxlms_async_get_fd(q);
	assert_true(fd >= 0);
	assert_false(fd_readable(fd));
	assert_int_equal(cxlms_async_submit(q, req, 3), 3);
	assert_true(fd_readable(fd));
	/* a partial reap leaves it readable */
	assert_int_equal(cxlms_async_reap(q, cqe, 1, 0), 1);
	assert_true(fd_readable(fd));
	assert_int_equal(cxlms_async_reap(q, cqe, 2, 0), 2);
	assert_false(fd_readable(fd));
	/* a refused request completes too, and wakes the loop like any other */
	req[0].bits = 0;
	assert_int_equal(cxlms_async_submit(q, req, 1), 1);
	assert_true(fd_readable(fd));
	assert_int_equal(cxlms_async_reap(q, cqe, 3, 1), 1);
	assert_int_equal(cqe[0].result, -EOPNOTSUPP);
	assert_false(fd_readable(fd));
	assert_int_equal(cxlms_async_get_fd(NULL), -EINVAL);
	cxlms_async_free(q);
}

static void test_bad_args(void **state)
{
	struct fx *fx = *state;
	struct cxlms_async_cqe cqe[1];
	struct cxlms_async *q = NULL;

	assert_int_equal(cxlms_async_new(NULL, 4, &q), -EINVAL);
	assert_int_equal(cxlms_async_new(fx->s, 0, &q), -EINVAL);
	assert_int_equal(cxlms_async_new(fx->s, 4097, &q), -EINVAL);
	assert_int_equal(cxlms_async_new(fx->s, 4, NULL), -EINVAL);
	assert_null(q);
	assert_int_equal(cxlms_async_new(fx->s, 4096, &q), 0);
	assert_int_equal(cxlms_async_submit(NULL, NULL, 0), -EINVAL);
	assert_int_equal(cxlms_async_submit(q, NULL, 1), -EINVAL);
	assert_int_equal(cxlms_async_reap(NULL, cqe, 1, 0), -EINVAL);
	assert_int_equal(cxlms_async_reap(q, NULL, 1, 0), -EINVAL);
	assert_int_equal(cxlms_async_reap(q, NULL, 0, 0), 0);
	assert_null(cxlms_async_get_mode(NULL));
	cxlms_async_free(q);
	cxlms_async_free(NULL);
}

/* The queue keeps its store alive: the engine may drop its own reference. */
static void test_holds_store(void **state)
{
	struct fx *fx = *state;
	static uint8_t buf[4096], ref[4096];
	struct cxlms_async_req req = {
		.count = 1, .bits = 16, .out = CXLMS_OUT_INT, .buf = buf,
		.len = sizeof(buf), .user_data = 1,
	};
	struct cxlms_async_cqe cqe;
	struct cxlms_store *s;
	struct cxlms_async *q;
	int64_t r;

	assert_int_equal(cxlms_open(fx->ctx, fx->path, 0, &s), 0);
	assert_int_equal(cxlms_tensor_lookup(s, "h", &req.tensor), 0);
	r = cxlms_fetch_tiles(s, req.tensor, 0, 1, 16, CXLMS_OUT_INT, 0, ref,
			      sizeof(ref));
	assert_true(r > 0);
	assert_int_equal(cxlms_async_new(s, 2, &q), 0);
	/* the queue's reference keeps it alive */
	assert_ptr_equal(cxlms_store_unref(s), s);
	assert_int_equal(cxlms_async_submit(q, &req, 1), 1);
	assert_int_equal(cxlms_async_reap(q, &cqe, 1, 1), 1);
	assert_int_equal(cqe.result, r);
	assert_memory_equal(buf, ref, r);
	cxlms_async_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equals_sync),
		cmocka_unit_test(test_mixed_batch),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_poll_fd),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_holds_store),
	};

	return cmocka_run_group_tests_name("async_file", tests, setup, teardown);
}
