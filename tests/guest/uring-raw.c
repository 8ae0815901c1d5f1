// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms uring_cmd through liburing directly (no libcxlms): FETCH and STATS
 * give what the ioctl gives, for every format, tile, k, output and recon,
 * errors included; one batch of mixed valid and invalid requests; rings
 * the driver must refuse; cancellation of requests punted to io-wq; and a
 * process that exits or is killed with requests in flight (the module's
 * file references come back, the kernel log stays clean); and a FETCH
 * punted to io-wq across a DETACH + ATTACH (-ESTALE, never the new store's
 * bytes read with the old request).
 * Exit 0 pass, 77 skip (reason printed), 1 fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>

#include "uring-util.h"

#define BUF_LEN		(256 * 1024)
#define BATCH		64

static struct ut_store st;
static uint8_t *ubuf[BATCH], *ibuf[BATCH];

static int ioctl_fetch(const struct cxlms_ioc_fetch *f, void *buf,
		       uint64_t *written, uint64_t *read)
{
	return cxt_fetch(st.fd, f->tensor, f->tile_first, f->tile_count,
			 f->bits, f->out, f->recon, buf, f->buf_len, written,
			 read);
}

/* Wait for @n CQEs; res and big_cqe[0] by user_data (< @n). */
static int wait_all(struct io_uring *ring, unsigned int n, int *res,
		    uint64_t *extra, bool cqe32)
{
	struct io_uring_cqe *cqe;
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret)
			return ret;
		if (cqe->user_data >= n)
			return -ERANGE;
		res[cqe->user_data] = cqe->res;
		if (extra)
			extra[cqe->user_data] = cqe32 ? cqe->big_cqe[0] : 0;
		io_uring_cqe_seen(ring, cqe);
	}
	return 0;
}

/* --- cases -------------------------------------------------------------- */

static int case_stats_probe(void)
{
	struct io_uring ring;
	struct cxlms_ioc_stats a = { .size = sizeof(a), .tensor = CXLMS_TENSOR_ALL };
	struct cxlms_ioc_stats b;
	struct cxlms_uring_indirect ind = { .size = sizeof(ind), .arg = (uintptr_t)&a };
	int res[1], ret;

	ret = ut_ring(&ring, 4, 0);
	UT_SKIP_IF(ret, "io_uring unavailable: %s", strerror(-ret));
	ut_prep_cmd(io_uring_get_sqe(&ring), st.fd, CXLMS_IOC_STATS, &ind,
		    sizeof(ind), 0);
	UT_CHECK(io_uring_submit(&ring) == 1, "submit");
	UT_CHECK(!wait_all(&ring, 1, res, NULL, false), "wait");
	UT_CHECK(res[0] == 0, "STATS res %d (%s)", res[0], strerror(-res[0]));
	UT_CHECK(!cxt_stats(st.fd, CXLMS_TENSOR_ALL, 0, &b), "ioctl STATS");
	/* nobody else fetches: the counters cannot have moved in between */
	UT_CHECK(a.fetches == b.fetches && a.out_bytes == b.out_bytes &&
		 !memcmp(a.plane_bytes, b.plane_bytes, sizeof(a.plane_bytes)),
		 "uring STATS %llu fetches, ioctl %llu",
		 (unsigned long long)a.fetches, (unsigned long long)b.fetches);
	io_uring_queue_exit(&ring);
	return UT_PASS;
}

/*
 * Every (tensor, tile range, bits, out, recon) — bits and out one past
 * their range too — through the ring in batches of 64 and through the
 * ioctl: same result or errno, same bytes, and (CQE32) the same
 * bytes_read.
 */
static int case_every_format_k(void)
{
	struct io_uring ring;
	struct cxlms_ioc_fetch *plan, *f;
	int res[BATCH], ires, ret;
	uint64_t extra[BATCH], iw, ir;
	unsigned long same = 0, errs = 0;
	unsigned int k, first, span, bits, out, recon, n = 0, done, i, len;

	ret = ut_ring(&ring, BATCH, IORING_SETUP_CQE32);
	UT_SKIP_IF(ret, "io_uring unavailable: %s", strerror(-ret));
	plan = calloc(100000, sizeof(*plan));
	UT_CHECK(plan, "no memory");
	for (k = 0; k < UT_N_TENSORS; k++) {
		struct cxt_tensor *t = &st.t[k];

		for (first = 0; first < t->n_tiles; first++)
		for (span = 1; span <= 2; span++)
		for (bits = 0; bits <= cxlms_fmt_planes(t->fmt) + 1; bits++)
		for (out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16 + 1; out++)
		for (recon = CXLMS_RECON_DEFAULT; recon <= CXLMS_RECON_TABLE; recon++) {
			/* span 2: the rest of the tensor */
			uint32_t count = span == 1 ? 1 : t->n_tiles - first;

			if (span == 2 && count == 1)
				continue;
			UT_CHECK(n < 100000, "plan too long");
			plan[n++] = ut_fetch(t->index, first, count, bits, out,
					     recon, NULL, BUF_LEN);
		}
	}
	for (done = 0; done < n; done += len) {
		len = n - done < BATCH ? n - done : BATCH;
		for (i = 0; i < len; i++) {
			f = &plan[done + i];
			f->buf = (uintptr_t)ubuf[i];
			memset(ubuf[i], 0xa5, 64);
			ut_prep_fetch(io_uring_get_sqe(&ring), st.fd, f, i);
		}
		UT_CHECK(io_uring_submit(&ring) == (int)len, "submit %u", len);
		UT_CHECK(!wait_all(&ring, len, res, extra, true), "wait");
		for (i = 0; i < len; i++) {
			f = &plan[done + i];
			ires = ioctl_fetch(f, ibuf[i], &iw, &ir);
			if (ires < 0) {
				UT_CHECK(res[i] == ires,
					 "t%u tiles %u+%u k=%u out=%u recon=%u: uring %d, ioctl %d",
					 f->tensor, f->tile_first, f->tile_count,
					 f->bits, f->out, f->recon, res[i], ires);
				/* refused before a byte was written */
				UT_CHECK(ubuf[i][0] == 0xa5, "refused but wrote");
				errs++;
				continue;
			}
			UT_CHECK(res[i] >= 0 && (uint64_t)res[i] == iw,
				 "t%u tiles %u+%u k=%u out=%u recon=%u: uring %d, ioctl wrote %llu",
				 f->tensor, f->tile_first, f->tile_count, f->bits,
				 f->out, f->recon, res[i], (unsigned long long)iw);
			UT_CHECK(!memcmp(ubuf[i], ibuf[i], iw),
				 "bytes differ: t%u tiles %u+%u k=%u out=%u",
				 f->tensor, f->tile_first, f->tile_count, f->bits,
				 f->out);
			UT_CHECK(extra[i] == ir, "bytes_read %llu vs %llu",
				 (unsigned long long)extra[i], (unsigned long long)ir);
			same++;
		}
	}
	free(plan);
	printf("# %lu fetches identical to the ioctl, %lu refused alike\n",
	       same, errs);
	UT_CHECK(same > 500 && errs > 500, "grid too small");
	io_uring_queue_exit(&ring);
	return UT_PASS;
}

/* One batch, each request judged on its own. */
static int case_mixed_batch(void)
{
	struct cxt_tensor *t = &st.t[0];
	struct cxlms_ioc_stats sbuf;
	struct {
		uint32_t cmd_op;
		uint8_t payload[CXLMS_URING_PAYLOAD];
		size_t len;
		int want;		/* 1: a valid fetch, compare with ioctl */
	} r[19];
	struct cxlms_uring_indirect ind;
	struct cxlms_ioc_fetch f;
	struct io_uring ring;
	int res[19], ret;
	uint64_t w, rd;
	unsigned int n = 0, i;

	ret = ut_ring(&ring, 32, 0);
	UT_SKIP_IF(ret, "io_uring unavailable: %s", strerror(-ret));
	memset(r, 0, sizeof(r));
#define ADD_FETCH(fx, w_)						\
	do {								\
		r[n].cmd_op = CXLMS_IOC_FETCH;				\
		memcpy(r[n].payload, &(fx), sizeof(fx));		\
		r[n].len = sizeof(fx);					\
		r[n].want = (w_);					\
		n++;							\
	} while (0)
	f = ut_fetch(t->index, 0, 2, 3, CXLMS_OUT_F32, 0, ubuf[0], BUF_LEN);
	ADD_FETCH(f, 1);
	f = ut_fetch(9999, 0, 1, 3, CXLMS_OUT_F32, 0, ubuf[1], BUF_LEN);
	ADD_FETCH(f, -ENOENT);
	f = ut_fetch(t->index, t->n_tiles - 1, 2, 3, CXLMS_OUT_F32, 0, ubuf[2], BUF_LEN);
	ADD_FETCH(f, -EINVAL);
	f = ut_fetch(t->index, 0, 1, 3, CXLMS_OUT_F32, 0, ubuf[3], BUF_LEN);
	f.flags = 1;
	ADD_FETCH(f, -EOPNOTSUPP);
	f = ut_fetch(t->index, 0, 1, 3, CXLMS_OUT_F32, 0, ubuf[4], BUF_LEN);
	f.size = 8;
	ADD_FETCH(f, -EINVAL);
	f = ut_fetch(t->index, 0, 1, 3, CXLMS_OUT_F32, 0, ubuf[5], BUF_LEN);
	f.size = CXLMS_URING_PAYLOAD + 8;
	ADD_FETCH(f, -E2BIG);
	/* a larger struct: fine if its tail is zero, -E2BIG if not */
	f = ut_fetch(t->index, 1, 1, 2, CXLMS_OUT_INT, 0, ubuf[6], BUF_LEN);
	f.size = CXLMS_URING_PAYLOAD;
	ADD_FETCH(f, 1);
	f = ut_fetch(t->index, 1, 1, 2, CXLMS_OUT_INT, 0, ubuf[7], BUF_LEN);
	f.size = CXLMS_URING_PAYLOAD;
	ADD_FETCH(f, -E2BIG);
	r[n - 1].payload[CXLMS_URING_PAYLOAD - 1] = 1;
	f = ut_fetch(t->index, 0, 1, 8, CXLMS_OUT_F32, 0, ubuf[8], 16);
	ADD_FETCH(f, -ENOSPC);
	f = ut_fetch(t->index, 0, 1, 8, CXLMS_OUT_F32, 0, (void *)16, BUF_LEN);
	ADD_FETCH(f, -EFAULT);
	/*
	 * A kernel address (the direct map's second page, mapped when the
	 * kernel's memory layout is not randomised, as in qemu/run.sh's
	 * guest): the nowait issue's copy must refuse it, not write there.
	 */
	f = ut_fetch(t->index, 0, 1, 8, CXLMS_OUT_F32, 0,
		     (void *)0xffff888000001000ull, BUF_LEN);
	ADD_FETCH(f, -EFAULT);
	f = ut_fetch(t->index, 0, 1, CXLMS_BITS_POLICY, CXLMS_OUT_F32, 0, ubuf[11], BUF_LEN);
	ADD_FETCH(f, -ENODATA);	/* no maps cover a tensor created here */
	f = ut_fetch(t->index, 0, 1, 3, CXLMS_OUT_F32, 0, ubuf[12], BUF_LEN);
	ADD_FETCH(f, -ENOTTY);
	r[n - 1].cmd_op = CXLMS_IOC_QUERY;
	ADD_FETCH(f, -ENOTTY);
	r[n - 1].cmd_op = 0x1234;
	/* STATS: a good one, a bad pointer, unknown flags, a short header */
	ind = (struct cxlms_uring_indirect){ .size = sizeof(ind), .arg = (uintptr_t)&sbuf };
	memset(&sbuf, 0, sizeof(sbuf));
	sbuf.size = sizeof(sbuf);
	sbuf.tensor = t->index;
	r[n].cmd_op = CXLMS_IOC_STATS;
	memcpy(r[n].payload, &ind, sizeof(ind));
	r[n].len = sizeof(ind);
	r[n++].want = 0;
	ind.arg = 8;
	r[n].cmd_op = CXLMS_IOC_STATS;
	memcpy(r[n].payload, &ind, sizeof(ind));
	r[n].len = sizeof(ind);
	r[n++].want = -EFAULT;
	ind.arg = (uintptr_t)&sbuf;
	ind.flags = 1;
	r[n].cmd_op = CXLMS_IOC_STATS;
	memcpy(r[n].payload, &ind, sizeof(ind));
	r[n].len = sizeof(ind);
	r[n++].want = -EOPNOTSUPP;
	ind.flags = 0;
	ind.size = 8;
	r[n].cmd_op = CXLMS_IOC_STATS;
	memcpy(r[n].payload, &ind, sizeof(ind));
	r[n].len = sizeof(ind);
	r[n++].want = -EINVAL;
	f = ut_fetch(st.t[2].index, 0, 1, 16, CXLMS_OUT_BF16, 0, ubuf[18], BUF_LEN);
	ADD_FETCH(f, 1);
#undef ADD_FETCH

	for (i = 0; i < n; i++) {
		memset(ubuf[i], 0x5a, 64);
		ut_prep_cmd(io_uring_get_sqe(&ring), st.fd, r[i].cmd_op,
			    r[i].payload, sizeof(r[i].payload), i);
	}
	UT_CHECK(io_uring_submit(&ring) == (int)n, "submit");
	UT_CHECK(!wait_all(&ring, n, res, NULL, false), "wait");
	for (i = 0; i < n; i++) {
		if (r[i].want != 1) {
			UT_CHECK(res[i] == r[i].want, "request %u: res %d, want %d",
				 i, res[i], r[i].want);
			if (r[i].cmd_op == CXLMS_IOC_FETCH)
				UT_CHECK(ubuf[i][0] == 0x5a, "request %u wrote", i);
			continue;
		}
		memcpy(&f, r[i].payload, sizeof(f));
		f.size = sizeof(f);
		UT_CHECK(!ioctl_fetch(&f, ibuf[i], &w, &rd), "ioctl %u", i);
		UT_CHECK(res[i] > 0 && (uint64_t)res[i] == w,
			 "request %u: res %d, ioctl %llu", i, res[i],
			 (unsigned long long)w);
		UT_CHECK(!memcmp(ubuf[i], ibuf[i], w), "request %u bytes", i);
	}
	/* the good STATS was filled in: the fetch before it counts */
	UT_CHECK(sbuf.fetches >= 2, "STATS via uring: %llu fetches",
		 (unsigned long long)sbuf.fetches);
	io_uring_queue_exit(&ring);
	return UT_PASS;
}

/* Rings the driver cannot serve refuse, per request. */
static int case_ring_refused(void)
{
	struct cxlms_ioc_fetch f = ut_fetch(st.t[2].index, 0, 1, 16,
					    CXLMS_OUT_INT, 0, ubuf[0], BUF_LEN);
	struct io_uring_params p = { 0 };
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	int res[1], ret;

	/* without SQE128 the payload does not fit: -EINVAL */
	ret = io_uring_queue_init_params(4, &ring, &p);
	UT_SKIP_IF(ret, "io_uring unavailable: %s", strerror(-ret));
	sqe = io_uring_get_sqe(&ring);
	UT_CHECK(sqe, "no SQE");
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = st.fd;
	sqe->cmd_op = CXLMS_IOC_FETCH;
	memcpy(sqe->cmd, &f, 16);	/* all a 64-byte SQE has room for */
	UT_CHECK(io_uring_submit(&ring) == 1, "submit");
	UT_CHECK(!wait_all(&ring, 1, res, NULL, false), "wait");
	UT_CHECK(res[0] == -EINVAL, "no SQE128: res %d", res[0]);
	io_uring_queue_exit(&ring);

	/* IOPOLL: the module has no uring_cmd_iopoll */
	ret = ut_ring(&ring, 4, IORING_SETUP_IOPOLL);
	UT_CHECK(!ret, "IOPOLL ring: %s", strerror(-ret));
	ut_prep_fetch(io_uring_get_sqe(&ring), st.fd, &f, 0);
	UT_CHECK(io_uring_submit_and_wait(&ring, 1) >= 0, "submit");
	UT_CHECK(!wait_all(&ring, 1, res, NULL, false), "wait");
	UT_CHECK(res[0] == -EOPNOTSUPP, "IOPOLL: res %d", res[0]);
	io_uring_queue_exit(&ring);
	return UT_PASS;
}

/*
 * With the link model on, fetches go to io-wq (they would sleep); the
 * ones no worker has started yet can be cancelled.  Every request
 * completes exactly once: -ECANCELED when its cancel said 0, its bytes
 * otherwise.
 */
static int case_cancel(void)
{
	enum { N = 32, FIRST_CANCEL = 8 };
	struct cxt_tensor *t = &st.t[0];
	struct cxlms_ioc_fetch f[N];
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	int res[N], cres[N], ret;
	unsigned int i, seen = 0, cancelled = 0;
	uint64_t w, rd;

	UT_SKIP_IF(!ut_have_link_model(), "no debugfs link model");
	ret = ut_ring(&ring, 2 * N, 0);
	UT_SKIP_IF(ret, "io_uring unavailable: %s", strerror(-ret));
	UT_CHECK(!ut_knob_set("link_latency_ns", 20 * 1000 * 1000), "knob");
	for (i = 0; i < N; i++) {
		f[i] = ut_fetch(t->index, i % t->n_tiles, 1, 2, CXLMS_OUT_PLANES,
				0, ubuf[i], BUF_LEN);
		ut_prep_fetch(io_uring_get_sqe(&ring), st.fd, &f[i], i);
		res[i] = cres[i] = 1;
	}
	for (i = FIRST_CANCEL; i < N; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		io_uring_prep_cancel64(sqe, i, 0);
		sqe->user_data = 1000 + i;
	}
	ret = io_uring_submit(&ring);
	UT_CHECK(ret == 2 * N - FIRST_CANCEL, "submit %d", ret);
	while (seen < 2 * N - FIRST_CANCEL) {
		UT_CHECK(!io_uring_wait_cqe(&ring, &cqe), "wait");
		if (cqe->user_data >= 1000) {
			cres[cqe->user_data - 1000] = cqe->res;
		} else {
			UT_CHECK(cqe->user_data < N && res[cqe->user_data] == 1,
				 "CQE %llu twice", (unsigned long long)cqe->user_data);
			res[cqe->user_data] = cqe->res;
		}
		io_uring_cqe_seen(&ring, cqe);
		seen++;
	}
	ut_knob_set("link_latency_ns", 0);
	for (i = 0; i < N; i++) {
		if (i >= FIRST_CANCEL && cres[i] == 0) {
			UT_CHECK(res[i] == -ECANCELED, "cancelled %u: res %d", i, res[i]);
			cancelled++;
			continue;
		}
		if (i >= FIRST_CANCEL)
			UT_CHECK(cres[i] == -EALREADY || cres[i] == -ENOENT,
				 "cancel %u: %d", i, cres[i]);
		UT_CHECK(!ioctl_fetch(&f[i], ibuf[i], &w, &rd), "ioctl");
		UT_CHECK(res[i] == (int)w && !memcmp(ubuf[i], ibuf[i], w),
			 "request %u: res %d, want %llu", i, res[i],
			 (unsigned long long)w);
	}
	printf("# %u of %u cancellations took effect\n", cancelled, N - FIRST_CANCEL);
	UT_CHECK(cancelled > 0, "no request was cancellable");
	io_uring_queue_exit(&ring);
	return UT_PASS;
}

static long module_refcnt(void)
{
	FILE *f = fopen("/sys/module/cxlms/refcnt", "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * A child submits @n slow fetches (link model) and then exits (@kill:
 * is SIGKILLed) with them in flight.  Its device fd must be released
 * (module refcount back where it was) and the kernel log must stay clean.
 */
static int exit_in_flight(bool kill_it)
{
	enum { N = 64 };
	long base = module_refcnt(), now = -1;
	int ready[2], status, i;
	char line[256] = "";
	double t0;
	pid_t pid;

	UT_SKIP_IF(!ut_have_link_model(), "no debugfs link model");
	UT_CHECK(base > 0, "/sys/module/cxlms/refcnt: %ld", base);
	UT_CHECK(!ut_knob_set("link_latency_ns", 30 * 1000 * 1000), "knob");
	UT_CHECK(!pipe(ready), "pipe");
	pid = fork();
	UT_CHECK(pid >= 0, "fork");
	if (!pid) {
		struct io_uring ring;
		int fd = cxt_open();
		uint8_t *buf = malloc((size_t)N * 4096);
		char c = 1;

		if (fd < 0 || !buf || ut_ring(&ring, N, 0))
			_exit(3);
		for (i = 0; i < N; i++) {
			struct cxlms_ioc_fetch f = ut_fetch(st.t[0].index, 0, 1, 1,
							    CXLMS_OUT_PLANES, 0,
							    buf + i * 4096, 4096);

			ut_prep_fetch(io_uring_get_sqe(&ring), fd, &f, i);
		}
		if (io_uring_submit(&ring) != N)
			_exit(4);
		if (write(ready[1], &c, 1) != 1)
			_exit(5);
		if (kill_it)
			pause();
		_exit(0);	/* ring, fd and requests left to the kernel */
	}
	close(ready[1]);
	{
		char c;

		UT_CHECK(read(ready[0], &c, 1) == 1, "child did not get going");
	}
	close(ready[0]);
	if (kill_it)
		kill(pid, SIGKILL);
	UT_CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	if (kill_it)
		UT_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			 "status %#x", status);
	else
		UT_CHECK(WIFEXITED(status) && !WEXITSTATUS(status),
			 "child exit %d", WEXITSTATUS(status));
	/* The ring is torn down asynchronously: give it a few seconds. */
	for (t0 = cxt_now(); cxt_now() - t0 < 20; usleep(20000)) {
		now = module_refcnt();
		if (now == base)
			break;
	}
	ut_knob_set("link_latency_ns", 0);
	printf("# module refcount %ld before, %ld after (%.2fs)\n", base, now,
	       cxt_now() - t0);
	UT_CHECK(now == base, "device fd of the dead process not released");
	UT_CHECK(cxt_dmesg_bad(line, sizeof(line)) == 0, "kernel log: %s", line);
	/* and the device still serves */
	{
		struct cxlms_ioc_fetch f = ut_fetch(st.t[0].index, 0, 1, 8,
						    CXLMS_OUT_INT, 0, ibuf[0],
						    BUF_LEN);
		uint64_t w, rd;

		UT_CHECK(!ioctl_fetch(&f, ibuf[0], &w, &rd) && w > 0, "fetch after");
	}
	return UT_PASS;
}

static int case_exit_in_flight(void)
{
	return exit_in_flight(false);
}

static int case_killed_in_flight(void)
{
	return exit_in_flight(true);
}

/* --- a FETCH punted across DETACH + ATTACH --------------------------------- */

struct stalled_ioctl {
	struct cxlms_ioc_fetch f;
	int ret;
};

static void *stalled_fetch(void *p)
{
	struct stalled_ioctl *si = p;

	si->ret = cxt_ioctl(st.fd, CXLMS_IOC_FETCH, &si->f);
	return NULL;
}

static void watchdog(int sig)
{
	static const char msg[] = "# watchdog: DETACH/ATTACH or the punted FETCH hung\n";

	ssize_t r;

	(void)sig;
	r = write(1, msg, sizeof(msg) - 1);
	(void)r;
	_exit(UT_FAIL);
}

/*
 * Deterministic, no timing: an ioctl FETCH into a userfaultfd page stalls
 * in its copy-out holding the fd's bounce buffer; a uring FETCH on the same
 * fd then finds the bounce lock taken at its non-blocking issue (-EAGAIN:
 * it is punted, with the store's attach generation recorded) and its io-wq
 * worker waits for the lock.  Meanwhile DETACH, and ATTACH of a new store
 * whose tensor 0 is another tensor.  When the page is served, both requests
 * must end with -ESTALE and the uring buffer must be untouched.  Runs last:
 * it replaces the store the other cases use.
 */
static int case_punted_across_reattach(void)
{
	const size_t plen = 1 << 20;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct stalled_ioctl si;
	struct cxt_tensor *t = &st.t[0], t2;
	struct cxlms_ioc_fetch f;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	struct uffd_msg msg;
	pthread_t th;
	void *page;
	int uffd, ret;
	size_t i;

	UT_SKIP_IF(!st.own, "a store attached by someone else cannot be detached here");
	uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC);
	UT_SKIP_IF(uffd < 0, "userfaultfd unavailable: %s", strerror(errno));
	page = mmap(NULL, plen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UT_CHECK(page != MAP_FAILED, "mmap");
	reg.range.start = (uintptr_t)page;
	reg.range.len = plen;
	UT_SKIP_IF(ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg),
		   "userfaultfd registration refused");
	ret = ut_ring(&ring, 8, 0);
	UT_SKIP_IF(ret, "io_uring unavailable: %s", strerror(-ret));
	signal(SIGALRM, watchdog);
	alarm(120);

	si.f = ut_fetch(t->index, 0, 1, 8, CXLMS_OUT_PLANES, 0, page, plen);
	UT_CHECK(!pthread_create(&th, NULL, stalled_fetch, &si), "thread");
	UT_CHECK(read(uffd, &msg, sizeof(msg)) == sizeof(msg) &&
		 msg.event == UFFD_EVENT_PAGEFAULT, "no fault from the stalled FETCH");

	memset(ubuf[0], 0xa5, BUF_LEN);
	f = ut_fetch(t->index, 0, 1, 8, CXLMS_OUT_PLANES, 0, ubuf[0], BUF_LEN);
	ut_prep_fetch(io_uring_get_sqe(&ring), st.fd, &f, 1);
	UT_CHECK(io_uring_submit(&ring) == 1, "submit");
	/* Not complete: its worker waits for the bounce buffer the ioctl holds. */
	UT_CHECK(io_uring_peek_cqe(&ring, &cqe) == -EAGAIN, "the punted FETCH completed early");

	UT_CHECK(!cxt_detach(st.fd), "DETACH while a FETCH is stalled and one punted");
	st.own = false;
	UT_CHECK(!cxt_attach_ram(st.fd, 16 << 20, 0), "ATTACH a new store");
	st.own = true;
	UT_CHECK(!cxt_tensor_gen(&t2, "uring.reattach", CXLMS_FMT_BF16, 1,
				 (const uint64_t[]){ 4096 }, 0, 0, 0, 9) &&
		 !cxt_tensor_upload(st.fd, &t2, true), "a tensor in the new store");
	UT_CHECK(t2.index == t->index, "the new tensor has index %u, not %u",
		 t2.index, t->index);

	{
		struct uffdio_zeropage z = { .range = { .start = (uintptr_t)page, .len = plen } };

		UT_CHECK(!ioctl(uffd, UFFDIO_ZEROPAGE, &z), "serve the page");
	}
	UT_CHECK(!pthread_join(th, NULL), "join");
	UT_CHECK(!io_uring_wait_cqe(&ring, &cqe), "wait");
	ret = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	alarm(0);
	printf("# stalled ioctl FETCH: %d, punted uring FETCH: %d\n", si.ret, ret);
	UT_CHECK(si.ret == -ESTALE, "stalled ioctl FETCH ended with %d, not -ESTALE", si.ret);
	UT_CHECK(ret == -ESTALE, "punted uring FETCH ended with %d, not -ESTALE", ret);
	for (i = 0; i < BUF_LEN; i++)
		UT_CHECK(ubuf[0][i] == 0xa5, "the punted FETCH wrote byte %zu", i);
	cxt_tensor_free(&t2);
	io_uring_queue_exit(&ring);
	munmap(page, plen);
	close(uffd);
	return UT_PASS;
}

int main(void)
{
	static const struct ut_case cases[] = {
		{ "uring STATS equals ioctl STATS", case_stats_probe },
		{ "every format, tile, k, out, recon equals the ioctl", case_every_format_k },
		{ "mixed valid and invalid requests in one batch", case_mixed_batch },
		{ "rings without SQE128, IOPOLL rings refused", case_ring_refused },
		{ "cancel requests punted to io-wq", case_cancel },
		{ "process exits with requests in flight", case_exit_in_flight },
		{ "process killed with requests in flight", case_killed_in_flight },
		/* Last: it replaces the store. */
		{ "FETCH punted across DETACH + ATTACH: -ESTALE", case_punted_across_reattach },
	};
	char line[256] = "";
	unsigned int i;
	int ret;

	ret = ut_store_setup_tap(&st, 0x5151);
	if (ret)
		return ret;
	for (i = 0; i < BATCH; i++) {
		ubuf[i] = malloc(BUF_LEN);
		ibuf[i] = malloc(BUF_LEN);
		if (!ubuf[i] || !ibuf[i])
			return UT_FAIL;
	}
	ret = ut_run("uring-raw", cases, sizeof(cases) / sizeof(cases[0]));
	ut_store_teardown(&st);
	if (cxt_dmesg_bad(line, sizeof(line))) {
		printf("# kernel log: %s\n", line);
		ret = UT_FAIL;
	}
	return ret;
}
