// SPDX-License-Identifier: GPL-2.0
/*
 * verify-intr: a VERIFY of a multi-GiB tensor on a RAM store stays
 * interruptible and does not starve the CPU (the guest has one CPU, so
 * only the module's cond_resched() lets another task run meanwhile).
 *
 * One BF16 tensor of --bytes bytes (default 2 GiB) is created, written
 * tile by tile from one reused buffer and sealed; a complete VERIFY is
 * timed; then, for SIGTERM (default action) and SIGKILL, a child starts a
 * VERIFY and the parent, while it runs: sleeps in 50 ms steps (oversleep
 * measured), QUERYs and FETCHes a tile on its own fd, and then kills it.
 * Checks: the child dies of the signal well before a VERIFY could finish,
 * the parent's sleeps and calls were served while VERIFY ran, DETACH is
 * not blocked afterwards, and the kernel log of this boot is clean.
 * Prints TAP; exit 0 pass, 1 fail, 4 skip (reason printed).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "cxlms_util.h"

#define KSFT_SKIP	4
#define COLS		4096u
#define KILL_BOUND	1.0	/* s from the signal to the child's death */
#define SLEEP_BOUND	0.5	/* s a 50 ms sleep may overrun during VERIFY */

static struct cxt_tap ts;


static int verify(int fd, uint32_t tensor, struct cxlms_ioc_verify *v)
{
	memset(v, 0, sizeof(*v));
	return cxt_verify(fd, tensor, v);
}

/* CREATE the tensor, TILE_WRITE every tile, SEAL: 0 or -errno. */
static int build_tensor(int fd, uint64_t rows, uint32_t *index, uint32_t *n_tiles)
{
	struct cxlms_ioc_tensor_create c = {
		.size = sizeof(c),
		.fmt = CXLMS_FMT_BF16,
		.src_dtype = CXLMS_DTYPE_BF16,
		.ndim = 2,
		.shape = { rows, COLS },
	};
	struct cxlms_ioc_tile_write w = { .size = sizeof(w) };
	uint16_t *buf;
	uint64_t i, row0 = 0;
	uint32_t tile;
	double t0;
	int ret;

	snprintf(c.name, sizeof(c.name), "verify-intr.big");
	ret = cxt_ioctl(fd, CXLMS_IOC_TENSOR_CREATE, &c);
	if (ret)
		return ret;
	buf = malloc(c.tile_elems * sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	/* bf16 values of modest size with every mantissa bit in use. */
	for (i = 0; i < c.tile_elems; i++)
		buf[i] = (uint16_t)(0x3c00 + (i * 2654435761u >> 7) % 0x0400) ^
			 (i & 1 ? 0x8000 : 0);
	t0 = cxt_now();
	w.tensor = c.index;
	for (tile = 0; tile < c.n_tiles && !ret; tile++) {
		uint64_t n = rows - row0 < c.tile_elems / COLS ?
			     (rows - row0) * COLS : c.tile_elems;

		buf[0] = (uint16_t)tile;	/* no two tiles alike */
		w.tile = tile;
		w.data = (uintptr_t)buf;
		w.data_len = n * sizeof(*buf);
		ret = cxt_ioctl(fd, CXLMS_IOC_TILE_WRITE, &w);
		row0 += n / COLS;
	}
	free(buf);
	if (ret)
		return ret;
	printf("# wrote %u tiles of %u elements in %.1f s\n", c.n_tiles,
	       c.tile_elems, cxt_now() - t0);
	t0 = cxt_now();
	ret = cxt_seal(fd, c.index);
	printf("# SEAL %.1f s\n", cxt_now() - t0);
	*index = c.index;
	*n_tiles = c.n_tiles;
	return ret;
}

/*
 * A child VERIFYs @tensor; the parent checks it is served meanwhile, then
 * sends @sig.  @full: seconds a complete VERIFY took.
 */
static void interrupt_case(int fd, uint32_t tensor, int sig, double full)
{
	const char *name = sig == SIGKILL ? "SIGKILL" : "SIGTERM";
	struct cxlms_ioc_verify v;
	struct cxlms_ioc_query q;
	double t0, t1, over = 0, kill_lat, fetch_s;
	int p[2], status, ret, qret, fret, fd2, i;
	static uint8_t tilebuf[4 << 20];
	pid_t pid;
	char c;

	if (pipe(p)) {
		cxt_tap(&ts, false, "%s: pipe: %s", name, strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (write(p[1], "v", 1) != 1)
			_exit(2);
		ret = verify(fd, tensor, &v);
		/* Reached only if the signal did not end the VERIFY. */
		_exit(ret ? 3 : 0);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1) {
		cxt_tap(&ts, false, "%s: child did not start", name);
		return;
	}
	close(p[0]);
	t0 = cxt_now();
	for (i = 0; i < 6; i++) {	/* 300 ms into the VERIFY */
		double s = cxt_now();

		usleep(50000);
		if (cxt_now() - s - 0.05 > over)
			over = cxt_now() - s - 0.05;
	}
	fd2 = cxt_open();
	qret = fd2 < 0 ? fd2 : cxt_query(fd2, &q);
	fetch_s = cxt_now();
	fret = fd2 < 0 ? fd2 : cxt_fetch(fd2, tensor, 0, 1, 4, CXLMS_OUT_PLANES, 0,
					 tilebuf, sizeof(tilebuf), NULL, NULL);
	fetch_s = cxt_now() - fetch_s;
	if (fd2 >= 0)
		close(fd2);
	t1 = cxt_now();
	kill(pid, sig);
	waitpid(pid, &status, 0);
	kill_lat = cxt_now() - t1;
	printf("# %s: max oversleep of a 50 ms sleep %.3f s, QUERY %d, FETCH %d "
	       "in %.3f s, death %.3f s after the signal (%.2f s into VERIFY; "
	       "a whole VERIFY takes %.1f s)\n", name, over, qret, fret, fetch_s,
	       kill_lat, t1 - t0, full);
	cxt_tap(&ts, WIFSIGNALED(status) && WTERMSIG(status) == sig,
	    "%s ends a running VERIFY (child %s %d)", name,
	    WIFSIGNALED(status) ? "killed by signal" : "exited with",
	    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	cxt_tap(&ts, kill_lat < KILL_BOUND, "%s: the VERIFY stopped %.3f s after the signal (bound %.1f s)",
	    name, kill_lat, KILL_BOUND);
	cxt_tap(&ts, over < SLEEP_BOUND && qret == 0 && fret >= 0,
	    "%s: other tasks ran during VERIFY (oversleep %.3f s, bound %.1f s; "
	    "QUERY %d, FETCH %d)", name, over, SLEEP_BOUND, qret, fret);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: verify-intr [--bytes N[M|G]]\n"
		   "A VERIFY of one big BF16 tensor on a RAM store is killable and\n"
		   "lets other tasks run.  Needs /dev/cxlms0 with nothing attached.\n"
		   "  --bytes N  tensor size (default 2G; the store needs N + 64M of\n"
		   "             QUERY's ram_max_bytes)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bytes", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	uint64_t bytes = 2ull << 30, rows;
	struct cxlms_ioc_verify v;
	struct cxlms_ioc_query q;
	uint32_t index = 0, n_tiles = 0;
	char line[512], *end;
	double t0, full;
	int fd, ret, o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'b':
			bytes = strtoull(optarg, &end, 0);
			if (*end == 'G')
				bytes <<= 30;
			else if (*end == 'M')
				bytes <<= 20;
			else if (*end)
				bytes = 0;
			if (!bytes) {
				fprintf(stderr, "verify-intr: bad --bytes '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	printf("TAP version 13\n");
	fd = cxt_open();
	if (fd < 0) {
		printf("1..0 # SKIP no /dev/cxlms0: %s\n", strerror(-fd));
		return KSFT_SKIP;
	}
	ret = cxt_query(fd, &q);
	if (ret || q.ram_max_bytes < bytes + (64ull << 20)) {
		printf("1..0 # SKIP a %llu MiB RAM store needs more guest memory "
		       "(ram_max_bytes %llu MiB, QUERY %d)\n",
		       (unsigned long long)(bytes >> 20) + 64,
		       (unsigned long long)q.ram_max_bytes >> 20, ret);
		return KSFT_SKIP;
	}
	printf("1..10\n");
	rows = bytes / (COLS * 2);
	t0 = cxt_now();
	ret = cxt_attach_ram(fd, bytes + (64ull << 20), 4);
	printf("# ATTACH of a %llu MiB RAM store %.1f s\n",
	       (unsigned long long)(bytes >> 20) + 64, cxt_now() - t0);
	cxt_tap(&ts, !ret, "ATTACH a %llu MiB RAM store: %d", (unsigned long long)(bytes >> 20) + 64, ret);
	if (ret)
		return 1;
	ret = build_tensor(fd, rows, &index, &n_tiles);
	cxt_tap(&ts, !ret, "a %llu MiB BF16 tensor [%llu, %u] written and sealed: %d",
	    (unsigned long long)(bytes >> 20), (unsigned long long)rows, COLS, ret);
	if (ret)
		return 1;

	t0 = cxt_now();
	ret = verify(fd, index, &v);
	full = cxt_now() - t0;
	printf("# a whole VERIFY of %u tiles: %.1f s\n", n_tiles, full);
	/* Shorter than 3 bounds and a kill could not be told from the end. */
	cxt_tap(&ts, !ret && v.checked == 1 && full > 3 * KILL_BOUND,
	    "a whole VERIFY passes and takes %.1f s (> %.0f s, so a kill is measurable): %d",
	    full, 3 * KILL_BOUND, ret);

	interrupt_case(fd, index, SIGTERM, full);
	interrupt_case(fd, index, SIGKILL, full);

	/* A killed VERIFY leaves no lock held: DETACH (a writer) gets through. */
	ret = cxt_detach(fd);
	ret = ret ?: cxt_dmesg_bad(line, sizeof(line));
	cxt_tap(&ts, !ret, "DETACH; no WARNING/BUG/Oops/lockup in this boot's kernel log%s%s",
	    ret > 0 ? ": " : "", ret > 0 ? line : "");
	close(fd);
	printf("# verify-intr: %u passed, %u failed\n", ts.n - ts.fail, ts.fail);
	return ts.fail ? 1 : 0;
}
