// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench-gemv: cxlms_gemv() at k = 8, 4, 2 side by side, in one
 * interleaved run, with a read-only pass over the same k-plane bytes and
 * with cxlms_fetch(F32) of each tile + a naive GEMV, on 1 and 2 threads.
 *
 * Weights: NT tensors of ROWS x COLS INT8 (heavy-tailed codes, groups of
 * 128), cycled so that every timed call reads from DRAM, not the LLC.
 * Prints medians of --reps rounds and the ratios time(k)/time(8) beside
 * k/8.  Not a test: no verdicts, numbers only.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libcxlms.h"
#include "private.h"
#include "simd/simd.h"
#include "writer.h"

#define NT	6	/* 6 x 16 MiB of int8 planes: past a 32 MiB L3 */
#define MAXR	31

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static double gauss(void)
{
	double u = ((rng() >> 11) + 0.5) / 9007199254740992.0;
	double v = ((rng() >> 11) + 0.5) / 9007199254740992.0;

	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int write_store(const char *path, unsigned int rows, unsigned int cols)
{
	struct cxlms_tensor_spec spec[NT];
	char names[NT][8];
	struct cxlms_writer *w;
	unsigned int i, tile, e;
	int rc;

	for (i = 0; i < NT; i++) {
		snprintf(names[i], sizeof(names[i]), "w%u", i);
		spec[i] = (struct cxlms_tensor_spec){ .name = names[i],
			.src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8, .ndim = 2,
			.shape = { rows, cols }, .group_size = 128 };
	}
	rc = cxlms_writer_new(NULL, spec, NT, 0, &w);
	if (!rc)
		rc = cxlms_writer_create(w, path);
	for (i = 0; !rc && i < NT; i++) {
		const struct cxlms_dirent *d = cxlms_writer_dirent(w, i);
		struct cxlms_tile_geom g;

		cxlms_dirent_geom(d, &g);
		for (tile = 0; !rc && tile < d->n_tiles; tile++) {
			uint32_t ne = cxlms_dirent_tile_elems(d, tile);
			uint32_t ns = ne / cols * ((cols + 127) / 128);
			int8_t *codes = malloc(ne);
			uint16_t *sc = malloc(ns * 2);

			if (!codes || !sc) {
				rc = -ENOMEM;
				break;
			}
			/* Heavy tails: a Gaussian with every 50th weight 6x larger. */
			for (e = 0; e < ne; e++) {
				double x = gauss() * (e % 50 == 7 ? 6 : 1) * 18;

				codes[e] = (int8_t)fmax(-127, fmin(127, x));
			}
			for (e = 0; e < ns; e++)
				sc[e] = (uint16_t)(0x2000 + rng() % 0x1000);
			rc = cxlms_place_int8(cxlms_writer_tile(w, i, tile), &g, ne, 0,
					      codes, ne);
			if (!rc)
				rc = cxlms_place_scales(cxlms_writer_tile(w, i, tile), &g,
							ne, sc, ns);
			if (!rc)
				rc = cxlms_tile_finalize(cxlms_writer_tile(w, i, tile), &g, ne);
			free(codes);
			free(sc);
		}
		if (!rc)
			rc = cxlms_writer_seal_tensor(w, i);
	}
	if (!rc)
		rc = cxlms_writer_commit(w);
	cxlms_writer_free(w);
	return rc;
}

/* --- contenders --------------------------------------------------------- */

struct job {
	struct cxlms_store *s;
	struct cxlms_tensor *t;
	unsigned int k, tile0, tile1;
	const float *x;
	float *y;
	float *wbuf;
	uint64_t sink;
};

/* Read every byte gemv at k reads: planes 0..k-1 and the scales of each tile. */
static void readonly_part(struct job *j)
{
	struct cxlms_tensor *t = j->t;
	uint64_t acc = 0;
	unsigned int tile, p;

	for (tile = j->tile0; tile < j->tile1; tile++) {
		const uint8_t *tp = j->s->ops->tile_map(j->s, t, tile);
		uint32_t n = cxlms_tensor_get_tile_elems(t, tile);
		size_t len = (n + 7) / 8, i;

		for (p = 0; p < j->k; p++) {
			const uint64_t *q = (const uint64_t *)(tp + t->layout.planes_off +
							       p * t->layout.plane_stride);

			for (i = 0; i < len / 8; i += 4)
				acc += q[i] ^ q[i + 1] ^ q[i + 2] ^ q[i + 3];
		}
		for (i = 0; i < t->layout.scales_len / 8; i++)
			acc += ((const uint64_t *)(tp + t->layout.scales_off))[i];
	}
	j->sink = acc;
}

/* cxlms_fetch(F32) of each tile, then a plain loop GEMV over it. */
static void fetch_naive_part(struct job *j)
{
	struct cxlms_tensor *t = j->t;
	uint64_t cols = cxlms_tensor_get_cols(t);
	unsigned int tile, tr = cxlms_tensor_get_tile_rows(t);

	for (tile = j->tile0; tile < j->tile1; tile++) {
		uint32_t n = cxlms_tensor_get_tile_elems(t, tile), r;
		uint64_t c;

		if (cxlms_fetch(j->s, t, tile, j->k, CXLMS_OUT_F32, 0, j->wbuf,
				(size_t)n * 4) < 0)
			abort();
		for (r = 0; r < n / cols; r++) {
			float acc = 0;

			for (c = 0; c < cols; c++)
				acc += j->wbuf[r * cols + c] * j->x[c];
			j->y[(uint64_t)tile * tr + r] = acc;
		}
	}
}

enum { C_GEMV, C_Q8, C_READ, C_FETCH, C_N };
static const char *const cname[C_N] = { "gemv f32", "gemv q8", "read-only", "fetch+naive" };

struct pjob {
	struct job j;
	int c;
	pthread_t tid;
};

static void run_one(struct job *j, int c, unsigned int threads)
{
	struct cxlms_gemv_opts o = { .size = sizeof(o), .threads = threads };
	uint64_t rows = cxlms_tensor_get_rows(j->t);

	if (c == C_Q8)
		o.flags = CXLMS_GEMV_Q8_ACT;
	if (c == C_GEMV || c == C_Q8) {
		if (cxlms_gemv(j->s, j->t, 0, rows, j->k, j->x, j->y, &o))
			abort();
	} else if (c == C_READ) {
		readonly_part(j);
	} else {
		fetch_naive_part(j);
	}
}

static void *pmain(void *arg)
{
	struct pjob *p = arg;

	run_one(&p->j, p->c, 1);
	return NULL;
}

/* Read-only and fetch+naive split by tiles over @threads; gemv by its own threads. */
static double timed(struct job *base, int c, unsigned int threads)
{
	struct pjob pj[2];
	unsigned int nt = cxlms_tensor_get_tile_count(base->t), i;
	double t0 = now();

	if (c == C_GEMV || c == C_Q8 || threads == 1) {
		base->tile0 = 0;
		base->tile1 = nt;
		run_one(base, c, threads);
		return now() - t0;
	}
	for (i = 0; i < 2; i++) {
		pj[i].j = *base;
		pj[i].j.tile0 = nt * i / 2;
		pj[i].j.tile1 = nt * (i + 1) / 2;
		pj[i].j.wbuf = base->wbuf + (size_t)i * cxlms_tensor_get_tile_rows(base->t) *
			       cxlms_tensor_get_cols(base->t);
		pj[i].c = c;
	}
	pthread_create(&pj[1].tid, NULL, pmain, &pj[1]);
	pmain(&pj[0]);
	pthread_join(pj[1].tid, NULL);
	return now() - t0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const unsigned int ks[] = { 8, 4, 2 };
	unsigned int rows = 4096, cols = 4096, reps = 9, th, ki, r, c, i;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[4096];
	struct cxlms_ctx *ctx;
	struct cxlms_store *s;
	struct cxlms_tensor *t[NT];
	double tm[2][3][C_N][MAXR];
	float *x, *y, *wbuf;
	unsigned int loop_k = 0, loop_n = 0;
	int opt, rc;

	while ((opt = getopt(argc, argv, "r:l:")) != -1) {
		if (opt == 'r' && atoi(optarg) > 0 && atoi(optarg) <= MAXR) {
			reps = (unsigned int)atoi(optarg);
		} else if (opt == 'l') {
			/* -l K,N: only N gemv calls at k = K (for perf stat). */
			if (sscanf(optarg, "%u,%u", &loop_k, &loop_n) != 2)
				loop_k = 0;
		} else {
			fprintf(stderr, "usage: %s [-r REPS (1..%d)] [-l K,CALLS]\n",
				argv[0], MAXR);
			return 2;
		}
	}
	snprintf(path, sizeof(path), "%s/bench-gemv-%d.cxlms", dir, (int)getpid());
	rc = write_store(path, rows, cols);
	if (!rc)
		rc = cxlms_new(&ctx);
	if (!rc)
		rc = cxlms_open(ctx, path, 0, &s);
	unlink(path);
	if (rc) {
		fprintf(stderr, "bench-gemv: store in %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	for (i = 0; i < NT; i++) {
		char n[8];

		snprintf(n, sizeof(n), "w%u", i);
		if (cxlms_tensor_lookup(s, n, &t[i]))
			return 1;
	}
	x = malloc(cols * sizeof(float));
	y = malloc(rows * sizeof(float));
	wbuf = malloc(2 * (size_t)cxlms_tensor_get_tile_rows(t[0]) * cols * sizeof(float));
	if (!x || !y || !wbuf)
		return 1;
	for (i = 0; i < cols; i++)
		x[i] = (float)gauss();

	if (loop_k) {
		for (r = 0; r < loop_n; r++)
			if (cxlms_gemv(s, t[r % NT], 0, rows, loop_k, x, y, NULL))
				return 1;
		return 0;
	}
	/* Rounds interleave every contender, k and thread count. */
	for (r = 0; r < reps; r++)
		for (th = 0; th < 2; th++)
			for (ki = 0; ki < 3; ki++)
				for (c = 0; c < C_N; c++) {
					struct job j = { .s = s, .t = t[(r * 12 + th * 6 + ki * 4 + c) % NT],
							 .k = ks[ki], .x = x, .y = y, .wbuf = wbuf };

					tm[th][ki][c][r] = timed(&j, c, th + 1);
				}

	printf("cxlms bench-gemv: %u x %u INT8, groups of 128, %d tensors cycled, "
	       "kernels %s, median of %u\n", rows, cols, NT, cxlms_simd_isa_name(), reps);
	printf("GB/s: k-plane + scale bytes read per second; int8-eq: rows*cols bytes per second\n");
	for (th = 0; th < 2; th++) {
		double med[3][C_N];

		for (ki = 0; ki < 3; ki++)
			for (c = 0; c < C_N; c++) {
				qsort(tm[th][ki][c], reps, sizeof(double), cmp);
				med[ki][c] = tm[th][ki][c][reps / 2];
			}
		printf("\nthreads %u\n", th + 1);
		printf("%2s %9s | %-22s | %-22s | %-16s | %-12s | %s\n", "k", "MiB read",
		       "gemv f32 us GB/s int8eq", "gemv q8 us GB/s", "read-only us GB/s",
		       "fetch+naive", "t(k)/t(8) f32  q8  read  vs k/8");
		for (ki = 0; ki < 3; ki++) {
			double bytes = (double)rows * cols / 8 * ks[ki] +
				       (double)rows * (cols / 128) * 2;

			printf("%2u %9.2f | %7.0f %5.1f %6.1f   | %7.0f %5.1f        | %7.0f %6.1f  | %7.0f us   | %.3f %.3f %.3f  %.3f\n",
			       ks[ki], bytes / 1048576,
			       med[ki][C_GEMV] * 1e6, bytes / med[ki][C_GEMV] / 1e9,
			       (double)rows * cols / med[ki][C_GEMV] / 1e9,
			       med[ki][C_Q8] * 1e6, bytes / med[ki][C_Q8] / 1e9,
			       med[ki][C_READ] * 1e6, bytes / med[ki][C_READ] / 1e9,
			       med[ki][C_FETCH] * 1e6,
			       med[ki][C_GEMV] / med[0][C_GEMV], med[ki][C_Q8] / med[0][C_Q8],
			       med[ki][C_READ] / med[0][C_READ], ks[ki] / 8.0);
		}
	}
	/* What Q8 activations cost in accuracy: relative L2 of y against f32. */
	{
		struct cxlms_gemv_opts q = { .size = sizeof(q), .flags = CXLMS_GEMV_Q8_ACT };
		float *yq = malloc(rows * sizeof(float));

		printf("\nQ8 activations, relative L2 error of y against f32 activations:");
		for (ki = 0; yq && ki < 3; ki++) {
			double num = 0, den = 0;

			if (cxlms_gemv(s, t[0], 0, rows, ks[ki], x, y, NULL) ||
			    cxlms_gemv(s, t[0], 0, rows, ks[ki], x, yq, &q))
				return 1;
			for (i = 0; i < rows; i++) {
				num += ((double)yq[i] - y[i]) * ((double)yq[i] - y[i]);
				den += (double)y[i] * y[i];
			}
			printf("  k=%u %.2e", ks[ki], sqrt(num / den));
		}
		printf("\n");
		free(yq);
	}
	(void)cname;
	cxlms_store_unref(s);
	cxlms_unref(ctx);
	free(x);
	free(y);
	free(wbuf);
	return 0;
}
