// SPDX-License-Identifier: GPL-2.0
/*
 * libcxlms' async API on the kernel backend (/dev/cxlms0): io_uring mode is
 * chosen; every fetch equals cxlms_fetch_tiles() (bytes and errors); a
 * mixed batch; back-pressure with requests really in flight (-EAGAIN at
 * once, never a wait); cancellation; the eventfd in a poll loop; free()
 * with requests in flight touches no buffer afterwards; $CXLMS_ASYNC=sync
 * falls back to the ioctl with the same results.
 * Exit 0 pass, 77 skip (reason printed), 1 fail.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "libcxlms.h"
#include "uring-util.h"

#define BUF_LEN		(256 * 1024)
#define BATCH		64

static struct ut_store st;
static struct cxlms_ctx *ctx;
static struct cxlms_store *store;
static struct cxlms_tensor *tens[UT_N_TENSORS];
static uint8_t *abuf[BATCH], *sbuf[BATCH];

static bool fd_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static int64_t sync_fetch(const struct cxlms_async_req *r, void *buf)
{
	return cxlms_fetch_tiles(store, r->tensor, r->first, r->count, r->bits,
				 r->out, r->recon, buf, r->len);
}

static int case_mode(void)
{
	struct cxlms_async *q;
	struct io_uring ring;
	int ret;

	UT_CHECK(!strcmp(cxlms_store_get_backend(store), "kernel"), "backend %s",
		 cxlms_store_get_backend(store));
	ret = ut_ring(&ring, 4, 0);
	UT_SKIP_IF(ret, "io_uring unavailable: %s", strerror(-ret));
	io_uring_queue_exit(&ring);
	UT_CHECK(!cxlms_async_new(store, 8, &q), "new");
	/* io_uring works and the module has uring_cmd: it must be used */
	UT_CHECK(!strcmp(cxlms_async_get_mode(q), "uring"), "mode %s",
		 cxlms_async_get_mode(q));
	cxlms_async_free(q);
	return UT_PASS;
}

/* Run @n requests of @plan through @q in batches; compare with sync. */
static int run_plan(struct cxlms_async *q, struct cxlms_async_req *plan,
		    unsigned int n, unsigned long *same, unsigned long *errs)
{
	struct cxlms_async_cqe cqe[BATCH];
	unsigned int done, len, i;
	int got;

	for (done = 0; done < n; done += len) {
		len = n - done < BATCH ? n - done : BATCH;
		for (i = 0; i < len; i++) {
			plan[done + i].buf = abuf[i];
			plan[done + i].user_data = done + i;
			memset(abuf[i], 0xa5, 64);
		}
		UT_CHECK(cxlms_async_submit(q, plan + done, len) == (int)len,
			 "submit");
		got = cxlms_async_reap(q, cqe, BATCH, len);
		UT_CHECK(got == (int)len, "reaped %d of %u", got, len);
		for (i = 0; i < len; i++) {
			struct cxlms_async_req *r;
			unsigned int slot;
			int64_t want;

			UT_CHECK(cqe[i].user_data >= done &&
				 cqe[i].user_data < done + len, "user_data");
			slot = (unsigned int)(cqe[i].user_data - done);
			r = &plan[cqe[i].user_data];
			want = sync_fetch(r, sbuf[slot]);
			UT_CHECK(cqe[i].result == want,
				 "%s tiles %u+%u k=%u out=%u recon=%u: async %lld, sync %lld",
				 cxlms_tensor_get_name(r->tensor), r->first,
				 r->count, r->bits, r->out, r->recon,
				 (long long)cqe[i].result, (long long)want);
			if (want < 0) {
				UT_CHECK(abuf[slot][0] == 0xa5, "refused but wrote");
				(*errs)++;
				continue;
			}
			UT_CHECK(!memcmp(abuf[slot], sbuf[slot], want), "bytes");
			(*same)++;
		}
	}
	return UT_PASS;
}

static unsigned int make_plan(struct cxlms_async_req *plan, unsigned int max)
{
	unsigned int k, first, span, bits, out, recon, n = 0;

	for (k = 0; k < UT_N_TENSORS; k++) {
		struct cxlms_tensor *t = tens[k];
		unsigned int nt = cxlms_tensor_get_tile_count(t);

		for (first = 0; first < nt; first++)
		for (span = 1; span <= 2; span++)
		for (bits = 0; bits <= cxlms_tensor_get_planes(t) + 1; bits++)
		for (out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16 + 1; out++)
		for (recon = CXLMS_RECON_DEFAULT; recon <= CXLMS_RECON_TABLE; recon++) {
			unsigned int count = span == 1 ? 1 : nt - first;

			if ((span == 2 && count == 1) || n == max)
				continue;
			plan[n++] = (struct cxlms_async_req){
				.tensor = t, .first = first, .count = count,
				.bits = bits, .out = out, .recon = recon,
				.len = BUF_LEN,
			};
		}
	}
	return n;
}

static int equals_sync(bool force_sync)
{
	struct cxlms_async_req *plan = calloc(100000, sizeof(*plan));
	unsigned long same = 0, errs = 0;
	struct cxlms_async *q;
	unsigned int n;
	int ret;

	UT_CHECK(plan, "no memory");
	n = make_plan(plan, 100000);
	UT_CHECK(n < 100000, "plan too long");
	if (force_sync)
		setenv("CXLMS_ASYNC", "sync", 1);
	ret = cxlms_async_new(store, BATCH, &q);
	unsetenv("CXLMS_ASYNC");
	UT_CHECK(!ret, "new: %s", strerror(-ret));
	if (force_sync)
		UT_CHECK(!strcmp(cxlms_async_get_mode(q), "sync"), "mode %s",
			 cxlms_async_get_mode(q));
	printf("# mode %s, %u requests\n", cxlms_async_get_mode(q), n);
	ret = run_plan(q, plan, n, &same, &errs);
	cxlms_async_free(q);
	free(plan);
	if (ret)
		return ret;
	printf("# %lu fetches equal to cxlms_fetch_tiles, %lu errors alike\n",
	       same, errs);
	UT_CHECK(same > 500 && errs > 500, "grid too small");
	return UT_PASS;
}

static int case_equals_sync(void)
{
	return equals_sync(false);
}

static int case_fallback(void)
{
	return equals_sync(true);
}

static int case_mixed_batch(void)
{
	struct cxlms_tensor *w = tens[0], *h = tens[2];
	struct cxlms_async_req r[6] = {
		{ .tensor = w, .count = 2, .bits = 3, .out = CXLMS_OUT_F32,
		  .len = BUF_LEN },
		{ .tensor = w, .first = cxlms_tensor_get_tile_count(w) - 1,
		  .count = 2, .bits = 3, .out = CXLMS_OUT_F32, .len = BUF_LEN },
		{ .tensor = tens[1], .count = 1, .bits = 4, .out = CXLMS_OUT_F32,
		  .len = BUF_LEN },
		{ .tensor = h, .count = 1, .bits = 16, .out = CXLMS_OUT_F32,
		  .len = 4 },
		{ .tensor = NULL, .count = 1, .bits = 3, .out = CXLMS_OUT_F32,
		  .len = BUF_LEN },
		{ .tensor = h, .count = 1, .bits = 12, .out = CXLMS_OUT_BF16,
		  .len = BUF_LEN },
	};
	const int64_t want_err[6] = { 0, -EINVAL, -EOPNOTSUPP, -ENOSPC, -EINVAL, 0 };
	struct cxlms_async_cqe cqe[6];
	struct cxlms_async *q;
	unsigned int i, seen = 0;
	int64_t want;

	UT_CHECK(!cxlms_async_new(store, 8, &q), "new");
	for (i = 0; i < 6; i++) {
		r[i].buf = abuf[i];
		r[i].user_data = i;
		memset(abuf[i], 0x5a, 64);
	}
	UT_CHECK(cxlms_async_submit(q, r, 6) == 6, "submit");
	UT_CHECK(cxlms_async_reap(q, cqe, 6, 6) == 6, "reap");
	for (i = 0; i < 6; i++) {
		unsigned int u = (unsigned int)cqe[i].user_data;

		UT_CHECK(u < 6 && !(seen & (1u << u)), "user_data %u", u);
		seen |= 1u << u;
		if (want_err[u]) {
			UT_CHECK(cqe[i].result == want_err[u], "request %u: %lld", u,
				 (long long)cqe[i].result);
			UT_CHECK(abuf[u][0] == 0x5a, "request %u wrote", u);
			continue;
		}
		want = sync_fetch(&r[u], sbuf[u]);
		UT_CHECK(want > 0 && cqe[i].result == want, "request %u: %lld vs %lld",
			 u, (long long)cqe[i].result, (long long)want);
		UT_CHECK(!memcmp(abuf[u], sbuf[u], want), "request %u bytes", u);
	}
	cxlms_async_free(q);
	return UT_PASS;
}

/* Requests that stay in flight for a while: the link model's stall. */
static void slow_reqs(struct cxlms_async_req *r, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		r[i] = (struct cxlms_async_req){
			.tensor = tens[0], .first = i % cxlms_tensor_get_tile_count(tens[0]),
			.count = 1, .bits = 2, .out = CXLMS_OUT_PLANES,
			.buf = abuf[i], .len = BUF_LEN, .user_data = i,
		};
}

static int case_queue_full(void)
{
	enum { DEPTH = 8, N = 20 };
	struct cxlms_async_req r[N];
	struct cxlms_async_cqe cqe[N];
	struct cxlms_async *q;
	unsigned int got = 0, queued, i;
	double t0, dt;
	int ret;

	UT_SKIP_IF(!ut_have_link_model(), "no debugfs link model");
	UT_CHECK(!cxlms_async_new(store, DEPTH, &q), "new");
	UT_SKIP_IF(strcmp(cxlms_async_get_mode(q), "uring"), "async mode %s",
		   cxlms_async_get_mode(q));
	slow_reqs(r, N);
	UT_CHECK(!ut_knob_set("link_latency_ns", 50 * 1000 * 1000), "knob");
	ret = cxlms_async_submit(q, r, N);
	UT_CHECK(ret == DEPTH, "first submit took %d", ret);
	queued = DEPTH;
	t0 = cxt_now();
	ret = cxlms_async_submit(q, r + queued, N - queued);
	dt = cxt_now() - t0;
	UT_CHECK(ret == -EAGAIN, "full queue: %d", ret);
	/* refused at once, not after waiting for room */
	UT_CHECK(dt < 0.025, "-EAGAIN took %.3fs", dt);
	while (got < N) {
		ret = cxlms_async_reap(q, cqe + got, N - got, 1);
		UT_CHECK(ret >= 1, "reap %d", ret);
		got += (unsigned int)ret;
		if (queued < N) {
			ret = cxlms_async_submit(q, r + queued, N - queued);
			UT_CHECK(ret > 0, "submit after reap: %d", ret);
			queued += (unsigned int)ret;
		}
	}
	ut_knob_set("link_latency_ns", 0);
	UT_CHECK(queued == N, "queued %u", queued);
	for (i = 0; i < N; i++) {
		unsigned int u = (unsigned int)cqe[i].user_data;
		int64_t want = sync_fetch(&r[u], sbuf[u]);

		UT_CHECK(want > 0 && cqe[i].result == want, "request %u", u);
		UT_CHECK(!memcmp(abuf[u], sbuf[u], want), "request %u bytes", u);
	}
	cxlms_async_free(q);
	return UT_PASS;
}

static int case_cancel(void)
{
	enum { N = 32, FIRST_CANCEL = 8 };
	struct cxlms_async_req r[N];
	struct cxlms_async_cqe cqe[N];
	int cres[N], ret;
	struct cxlms_async *q;
	unsigned int i, got = 0, cancelled = 0;

	UT_SKIP_IF(!ut_have_link_model(), "no debugfs link model");
	UT_CHECK(!cxlms_async_new(store, N, &q), "new");
	UT_SKIP_IF(strcmp(cxlms_async_get_mode(q), "uring"), "async mode %s",
		   cxlms_async_get_mode(q));
	slow_reqs(r, N);
	UT_CHECK(!ut_knob_set("link_latency_ns", 20 * 1000 * 1000), "knob");
	UT_CHECK(cxlms_async_submit(q, r, N) == N, "submit");
	for (i = FIRST_CANCEL; i < N; i++)
		cres[i] = cxlms_async_cancel(q, i);
	UT_CHECK(cxlms_async_cancel(q, 777) == -ENOENT, "unknown tag");
	while (got < N) {
		ret = cxlms_async_reap(q, cqe + got, N - got, N - got);
		UT_CHECK(ret > 0, "reap %d", ret);
		got += (unsigned int)ret;
	}
	ut_knob_set("link_latency_ns", 0);
	for (i = 0; i < N; i++) {
		unsigned int u = (unsigned int)cqe[i].user_data;
		int64_t want;

		if (u >= FIRST_CANCEL && cres[u] == 0) {
			UT_CHECK(cqe[i].result == -ECANCELED, "cancelled %u: %lld",
				 u, (long long)cqe[i].result);
			cancelled++;
			continue;
		}
		if (u >= FIRST_CANCEL)
			UT_CHECK(cres[u] == -EALREADY || cres[u] == -ENOENT,
				 "cancel %u: %d", u, cres[u]);
		want = sync_fetch(&r[u], sbuf[u]);
		UT_CHECK(want > 0 && cqe[i].result == want, "request %u", u);
		UT_CHECK(!memcmp(abuf[u], sbuf[u], want), "request %u bytes", u);
	}
	printf("# %u of %u cancellations took effect\n", cancelled, N - FIRST_CANCEL);
	UT_CHECK(cancelled > 0, "nothing was cancellable");
	/* everything reaped: nothing left to cancel */
	UT_CHECK(cxlms_async_cancel(q, 0) == -ENOENT, "cancel after reap");
	cxlms_async_free(q);
	return UT_PASS;
}

/* An engine's loop: poll the fd, reap what is there, until all are back. */
static int case_poll_fd(void)
{
	enum { N = 16 };
	struct cxlms_async_req r[N];
	struct cxlms_async_cqe cqe[N];
	struct cxlms_async *q;
	unsigned int got = 0, wakeups = 0;
	int fd, ret;

	UT_CHECK(!cxlms_async_new(store, N, &q), "new");
	fd = cxlms_async_get_fd(q);
	UT_CHECK(fd >= 0, "fd");
	UT_CHECK(!fd_readable(fd, 0), "readable before any submit");
	slow_reqs(r, N);
	if (ut_have_link_model())
		ut_knob_set("link_latency_ns", 10 * 1000 * 1000);
	UT_CHECK(cxlms_async_submit(q, r, N) == N, "submit");
	while (got < N) {
		UT_CHECK(fd_readable(fd, 5000), "no wakeup with %u of %u back",
			 got, N);
		wakeups++;
		ret = cxlms_async_reap(q, cqe + got, N - got, 0);
		UT_CHECK(ret >= 0, "reap %d", ret);
		got += (unsigned int)ret;
	}
	ut_knob_set("link_latency_ns", 0);
	UT_CHECK(!fd_readable(fd, 0), "readable with nothing to reap");
	printf("# %u completions in %u wakeups (%s)\n", got, wakeups,
	       cxlms_async_get_mode(q));
	cxlms_async_free(q);
	return UT_PASS;
}

/* After free() returns, no request may write to its buffer any more. */
static int case_free_in_flight(void)
{
	enum { N = 32 };
	struct cxlms_async_req r[N];
	struct cxlms_async *q;
	unsigned int i;
	double t0;

	UT_SKIP_IF(!ut_have_link_model(), "no debugfs link model");
	UT_CHECK(!cxlms_async_new(store, N, &q), "new");
	UT_SKIP_IF(strcmp(cxlms_async_get_mode(q), "uring"), "async mode %s",
		   cxlms_async_get_mode(q));
	slow_reqs(r, N);
	UT_CHECK(!ut_knob_set("link_latency_ns", 30 * 1000 * 1000), "knob");
	UT_CHECK(cxlms_async_submit(q, r, N) == N, "submit");
	t0 = cxt_now();
	cxlms_async_free(q);
	printf("# free with %u in flight returned after %.3fs\n", N, cxt_now() - t0);
	for (i = 0; i < N; i++)
		memset(abuf[i], 0x3c, 4096);
	usleep(200 * 1000);
	ut_knob_set("link_latency_ns", 0);
	for (i = 0; i < N; i++)
		UT_CHECK(abuf[i][0] == 0x3c && abuf[i][7] == 0x3c,
			 "buffer %u written after free", i);
	return UT_PASS;
}

/*
 * A kernel with io_uring unavailable (here: io_uring_setup() refused with
 * ENOSYS by a seccomp filter, as on kernels without it or containers that
 * block it): the queue must fall back to the ioctl on its own and serve
 * the same bytes.  Runs in a child, the filter cannot be removed.
 */
static int child_no_uring(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]), .filter = filter,
	};
	struct cxlms_async_req r = {
		.tensor = tens[0], .count = 2, .bits = 3, .out = CXLMS_OUT_F32,
		.buf = abuf[0], .len = BUF_LEN, .user_data = 5,
	};
	struct cxlms_async_cqe c;
	struct cxlms_async *q;
	struct io_uring ring;
	int64_t want;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return 3;
	/* the filter works: a ring cannot be made any more */
	if (ut_ring(&ring, 4, 0) != -ENOSYS)
		return 4;
	if (cxlms_async_new(store, 4, &q))
		return 5;
	if (strcmp(cxlms_async_get_mode(q), "sync"))
		return 6;
	want = sync_fetch(&r, sbuf[0]);
	if (want <= 0 || cxlms_async_submit(q, &r, 1) != 1 ||
	    cxlms_async_reap(q, &c, 1, 1) != 1)
		return 7;
	if (c.user_data != 5 || c.result != want || memcmp(abuf[0], sbuf[0], want))
		return 8;
	cxlms_async_free(q);
	return 0;
}

static int case_no_uring(void)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	UT_CHECK(pid >= 0, "fork");
	if (!pid)
		_exit(child_no_uring());
	UT_CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	UT_SKIP_IF(WIFEXITED(status) && WEXITSTATUS(status) == 3,
		   "seccomp unavailable");
	UT_CHECK(WIFEXITED(status) && !WEXITSTATUS(status),
		 "child step %d failed (4 filter, 5 new, 6 mode, 7 fetch, 8 result)",
		 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return UT_PASS;
}

int main(void)
{
	static const struct ut_case cases[] = {
		{ "kernel store: io_uring mode", case_mode },
		{ "every format, tile, k, out, recon equals cxlms_fetch_tiles", case_equals_sync },
		{ "CXLMS_ASYNC=sync falls back to the ioctl, same results", case_fallback },
		{ "io_uring unavailable (seccomp): falls back on its own", case_no_uring },
		{ "mixed valid and invalid requests in one batch", case_mixed_batch },
		{ "queue full: -EAGAIN at once, room after reap", case_queue_full },
		{ "cancel", case_cancel },
		{ "eventfd drives a poll loop", case_poll_fd },
		{ "free with requests in flight", case_free_in_flight },
	};
	char line[256] = "";
	unsigned int i;
	int ret;

	ret = ut_store_setup_tap(&st, 0x7a7a);
	if (ret)
		return ret;
	if (cxlms_new(&ctx) ||
	    (ret = cxlms_open(ctx, CXLMS_DEV_PATH, 0, &store))) {
		printf("Bail out! cxlms_open(" CXLMS_DEV_PATH "): %s\n",
		       strerror(-ret));
		ut_store_teardown(&st);
		return UT_FAIL;
	}
	for (i = 0; i < UT_N_TENSORS; i++) {
		if (cxlms_tensor_lookup(store, st.t[i].name, &tens[i])) {
			printf("Bail out! tensor %s not found\n", st.t[i].name);
			return UT_FAIL;
		}
	}
	for (i = 0; i < BATCH; i++) {
		abuf[i] = malloc(BUF_LEN);
		sbuf[i] = malloc(BUF_LEN);
		if (!abuf[i] || !sbuf[i])
			return UT_FAIL;
	}
	ret = ut_run("uring-lib", cases, sizeof(cases) / sizeof(cases[0]));
	cxlms_store_unref(store);
	cxlms_unref(ctx);
	ut_store_teardown(&st);
	if (cxt_dmesg_bad(line, sizeof(line))) {
		printf("# kernel log: %s\n", line);
		ret = UT_FAIL;
	}
	return ret;
}
