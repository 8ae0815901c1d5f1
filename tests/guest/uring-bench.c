// SPDX-License-Identifier: GPL-2.0
/*
 * Per-call overhead of tile fetches: one ioctl per tile against io_uring
 * batches of 1, 8, 64 and 256 (raw uring_cmd, and libcxlms' async API),
 * the same tiles at the same k.  Small tiles (64 elements) at k = 1..2
 * keep the decode small, so what is measured is the cost of getting a
 * request to the module and back.
 *
 * Usage: uring-bench [fetches per measurement, default 4096]
 *                    [elements per tile, default 64, at most 128]
 *                    [int8 (default) | fp16]
 * Exit 0 (numbers printed), 77 no device, 1 error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "libcxlms.h"
#include "uring-util.h"

#define MAX_BATCH	256
#define TILE_BUF	512

static struct ut_store st;
static struct cxt_tensor bt;
static uint8_t *bufs;

static double bench_ioctl(unsigned int n, unsigned int bits)
{
	uint64_t w, r;
	unsigned int i;
	double t0 = cxt_now();

	for (i = 0; i < n; i++)
		if (cxt_fetch(st.fd, bt.index, i % bt.n_tiles, 1, bits,
			      CXLMS_OUT_PLANES, 0, bufs + (i % MAX_BATCH) * TILE_BUF,
			      TILE_BUF, &w, &r))
			return -1;
	return n / (cxt_now() - t0);
}

static double bench_uring(struct io_uring *ring, unsigned int n,
			  unsigned int batch, unsigned int bits)
{
	struct io_uring_cqe *cqe;
	unsigned int done, i, head, seen;
	double t0 = cxt_now();

	for (done = 0; done < n; done += batch) {
		for (i = 0; i < batch; i++) {
			struct cxlms_ioc_fetch f = ut_fetch(bt.index,
							    (done + i) % bt.n_tiles,
							    1, bits, CXLMS_OUT_PLANES,
							    0, bufs + i * TILE_BUF,
							    TILE_BUF);

			ut_prep_fetch(io_uring_get_sqe(ring), st.fd, &f, i);
		}
		if (io_uring_submit_and_wait(ring, batch) != (int)batch)
			return -1;
		for (seen = 0; seen < batch;) {
			if (io_uring_wait_cqe(ring, &cqe))
				return -1;
			i = 0;
			io_uring_for_each_cqe(ring, head, cqe) {
				if (cqe->res <= 0)
					return -1;
				i++;
			}
			io_uring_cq_advance(ring, i);
			seen += i;
		}
	}
	return n / (cxt_now() - t0);
}

static double bench_lib(struct cxlms_store *s, struct cxlms_tensor *t,
			unsigned int n, unsigned int batch, unsigned int bits,
			const char **mode)
{
	struct cxlms_async_req r[MAX_BATCH];
	struct cxlms_async_cqe c[MAX_BATCH];
	struct cxlms_async *q;
	unsigned int done, i;
	double t0, rate = -1;

	if (cxlms_async_new(s, batch, &q))
		return -1;
	*mode = cxlms_async_get_mode(q);
	t0 = cxt_now();
	for (done = 0; done < n; done += batch) {
		for (i = 0; i < batch; i++)
			r[i] = (struct cxlms_async_req){
				.tensor = t, .first = (done + i) % bt.n_tiles,
				.count = 1, .bits = bits, .out = CXLMS_OUT_PLANES,
				.buf = bufs + i * TILE_BUF, .len = TILE_BUF,
				.user_data = i,
			};
		if (cxlms_async_submit(q, r, batch) != (int)batch ||
		    cxlms_async_reap(q, c, batch, batch) != (int)batch)
			goto out;
		for (i = 0; i < batch; i++)
			if (c[i].result <= 0)
				goto out;
	}
	rate = n / (cxt_now() - t0);
out:
	cxlms_async_free(q);
	return rate;
}

/*
 * What bounds the ratio: the cost of an empty system call, of an empty
 * io_uring request (NOP), and of a FETCH the module refuses at once
 * (unknown tensor: the whole call path, no tile work) both ways.
 */
static double ns_null_syscall(unsigned int n)
{
	unsigned int i;
	double t0 = cxt_now();

	for (i = 0; i < n; i++)
		syscall(SYS_getppid);
	return (cxt_now() - t0) * 1e9 / n;
}

static double ns_uring_nop(struct io_uring *ring, unsigned int n)
{
	struct io_uring_cqe *cqe;
	unsigned int done, i, head, seen;
	double t0 = cxt_now();

	for (done = 0; done < n; done += MAX_BATCH) {
		for (i = 0; i < MAX_BATCH; i++)
			io_uring_prep_nop(io_uring_get_sqe(ring));
		if (io_uring_submit_and_wait(ring, MAX_BATCH) != MAX_BATCH)
			return -1;
		for (seen = 0; seen < MAX_BATCH;) {
			if (io_uring_wait_cqe(ring, &cqe))
				return -1;
			i = 0;
			io_uring_for_each_cqe(ring, head, cqe)
				i++;
			io_uring_cq_advance(ring, i);
			seen += i;
		}
	}
	return (cxt_now() - t0) * 1e9 / n;
}

static double ns_refused(struct io_uring *ring, unsigned int n, bool uring)
{
	struct cxlms_ioc_fetch f = ut_fetch(0xfffffff0u, 0, 1, 1, CXLMS_OUT_PLANES,
					    0, bufs, TILE_BUF);
	struct io_uring_cqe *cqe;
	unsigned int done, i, head, seen;
	double t0 = cxt_now();

	for (done = 0; done < n; done += MAX_BATCH) {
		if (!uring) {
			for (i = 0; i < MAX_BATCH; i++)
				if (cxt_ioctl(st.fd, CXLMS_IOC_FETCH, &f) != -ENOENT)
					return -1;
			continue;
		}
		for (i = 0; i < MAX_BATCH; i++)
			ut_prep_fetch(io_uring_get_sqe(ring), st.fd, &f, i);
		if (io_uring_submit_and_wait(ring, MAX_BATCH) != MAX_BATCH)
			return -1;
		for (seen = 0; seen < MAX_BATCH;) {
			if (io_uring_wait_cqe(ring, &cqe))
				return -1;
			i = 0;
			io_uring_for_each_cqe(ring, head, cqe) {
				if (cqe->res != -ENOENT)
					return -1;
				i++;
			}
			io_uring_cq_advance(ring, i);
			seen += i;
		}
	}
	return (cxt_now() - t0) * 1e9 / n;
}

static void print_vuln(const char *name)
{
	char path[128], line[128] = "?";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/vulnerabilities/%s", name);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			strcpy(line, "?");
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	printf("# guest %s: %s\n", name, line);
}

int main(int argc, char **argv)
{
	static const unsigned int batches[] = { 1, 8, 64, 256 };
	unsigned int n = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 0) : 4096;
	/* elements per tile (one row): small keeps the decode out of the way */
	uint64_t shape[2] = { 4096, argc > 2 ? strtoull(argv[2], NULL, 0) : 64 };
	/* FP16 PLANES output has no side data: k bits of each element only */
	unsigned int fmt = argc > 3 && !strcmp(argv[3], "fp16") ? CXLMS_FMT_FP16 :
			   CXLMS_FMT_INT8;
	struct cxlms_ctx *ctx = NULL;
	struct cxlms_store *s = NULL;
	struct cxlms_tensor *t = NULL;
	struct io_uring ring;
	const char *mode = "-";
	double r64[3] = { 0 };
	unsigned int bi, bits;
	char name[64];
	int ret;

	n = (n + MAX_BATCH - 1) / MAX_BATCH * MAX_BATCH;
	if (!n || shape[1] < 1 || shape[1] > 128) {
		printf("# usage: uring-bench [fetches] [elements per tile, 1..128]\n");
		return UT_FAIL;
	}
	ret = ut_store_setup(&st, 0xbe);
	if (ret == -ENOENT || ret == -ENXIO) {
		printf("# SKIP " CXLMS_NO_DEV_REASON "\n");
		return UT_SKIP;
	}
	cxt_name(name, sizeof(name), "bench.i8");
	if (!ret)
		ret = cxt_tensor_gen(&bt, name, fmt, 2, shape,
				     fmt != CXLMS_FMT_INT8 ? 0 :
				     shape[1] < 32 ? (uint32_t)shape[1] : 32, 0, 1, 3);
	if (!ret)
		ret = cxt_tensor_upload(st.fd, &bt, true);
	bufs = malloc((size_t)MAX_BATCH * TILE_BUF);
	if (ret || !bufs) {
		printf("# store setup: %s\n", strerror(-ret));
		return UT_FAIL;
	}
	ret = ut_ring(&ring, MAX_BATCH, 0);
	if (ret) {
		printf("# SKIP io_uring unavailable: %s\n", strerror(-ret));
		ut_store_teardown(&st);
		return UT_SKIP;
	}
	if (cxlms_new(&ctx) || cxlms_open(ctx, CXLMS_DEV_PATH, 0, &s) ||
	    cxlms_tensor_lookup(s, name, &t))
		printf("# libcxlms kernel backend unavailable: lib column skipped\n");

	printf("# uring-bench: %u fetches of one %u-element %s tile each, PLANES output\n",
	       n, (unsigned int)shape[1], fmt == CXLMS_FMT_INT8 ? "INT8" : "FP16");
	printf("# TCG: only the ratio means anything (absolute rates are emulation speed)\n");
	printf("# %5s %2s %14s %14s %7s %14s %7s\n", "batch", "k", "ioctl tiles/s",
	       "uring tiles/s", "ratio", "lib tiles/s", "ratio");
	for (bits = 1; bits <= 2; bits++) {
		for (bi = 0; bi < sizeof(batches) / sizeof(batches[0]); bi++) {
			unsigned int b = batches[bi], rep;
			double io = 0, ur = 0, lb = 0, v;

			/* best of 3, interleaved: the host is shared and noisy */
			for (rep = 0; rep < 3; rep++) {
				v = bench_ioctl(n, bits);
				io = v > io || v < 0 ? v : io;
				v = bench_uring(&ring, n, b, bits);
				ur = v > ur || v < 0 ? v : ur;
				v = t ? bench_lib(s, t, n, b, bits, &mode) : 0;
				lb = v > lb || v < 0 ? v : lb;
				if (io < 0 || ur < 0 || lb < 0)
					break;
			}
			if (io <= 0 || ur <= 0 || (t && lb <= 0)) {
				printf("# fetch failed (batch %u, k %u)\n", b, bits);
				return UT_FAIL;
			}
			printf("# %5u %2u %14.0f %14.0f %6.1fx %14.0f %6.1fx\n", b,
			       bits, io, ur, ur / io, lb, lb / io);
			if (b == 64 && bits == 1) {
				r64[0] = io;
				r64[1] = ur;
				r64[2] = lb;
			}
		}
	}
	printf("# uring-bench: batch 64, k=1: io_uring %.1fx one ioctl per tile (lib %s: %.1fx)\n",
	       r64[1] / r64[0], mode, r64[2] / r64[0]);
	/* What limits it: per-call cost against per-tile work. */
	{
		double sys = 1e30, nop = 1e30, ri = 1e30, ru = 1e30, v;
		unsigned int rep;

		for (rep = 0; rep < 3; rep++) {
			v = ns_null_syscall(n);
			sys = v < sys ? v : sys;
			v = ns_uring_nop(&ring, n);
			nop = v < nop ? v : nop;
			v = ns_refused(&ring, n, false);
			ri = v < ri ? v : ri;
			v = ns_refused(&ring, n, true);
			ru = v < ru ? v : ru;
		}
		if (nop < 0 || ri < 0 || ru < 0) {
			printf("# overhead probes failed\n");
			return UT_FAIL;
		}

		print_vuln("meltdown");
		print_vuln("spectre_v2");
		printf("# per call: null syscall %.0f ns, io_uring NOP %.0f ns/request (batch %u)\n",
		       sys, nop, MAX_BATCH);
		printf("# refused FETCH (call path only): ioctl %.0f ns, io_uring %.0f ns/request: %.1fx\n",
		       ri, ru, ri / ru);
		printf("# one-tile FETCH: ioctl %.0f ns, io_uring %.0f ns/request (batch 64, k=1): tile work ~%.0f ns\n",
		       1e9 / r64[0], 1e9 / r64[1], 1e9 / r64[0] - ri);
	}
	io_uring_queue_exit(&ring);
	cxlms_store_unref(s);
	cxlms_unref(ctx);
	cxt_tensor_free(&bt);
	ut_store_teardown(&st);
	return UT_PASS;
}
