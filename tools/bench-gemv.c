// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench-gemv: cxlms_gemv() from one INT8 bit-plane store at k = 8..2
 * against llama.cpp's ggml kernels on copies quantized for each precision
 * (Q8_0, Q6_K, Q5_K, Q4_0, Q4_K, Q3_K, Q2_K; plain and in the repacked
 * layout llama.cpp uses), side by side in one interleaved run, on the same
 * f32 weights, 1 and 2 threads, weights cycled past the LLC.
 *
 * Per contender: median time of a GEMV, GB/s of its own weight bytes,
 * bits per weight, a read-only pass over the same bytes, the relative L2
 * error of y against an f32 (double-accumulated) GEMV on the original
 * weights with the activation quantization included on both sides, and
 * for cxlms time(k)/time(8) beside k/8.  Built twice: bench-gemv-ggml
 * links ggml (tools/ggml/peer.c, `make bench-gemv` fetches and builds it),
 * bench-gemv without (tools/ggml/peer-none.c: cxlms contenders only).
 * Not a test: numbers and the targets met or missed, no exit
 * status from them.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libcxlms.h"
#include "private.h"
#include "quant.h"
#include "simd/simd.h"
#include "writer.h"
#include "ggml/peer.h"

#define MAXR	31
#define MAXNT	24		/* store copies */
#define KMIN	2
#define NK	(8 - KMIN + 1)
#define MAXC	64

static unsigned int GROUP = 128;	/* int8 scale group (--group) */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static double unif(void)
{
	return ((rng() >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
	return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif());
}

/* Student-t with 6 degrees of freedom (kurtosis 6): chi2(6) = -2 ln(u1 u2 u3). */
static double student6(void)
{
	return gauss() / sqrt(-2 * log(unif() * unif() * unif()) / 6);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * Weights like the demo model's (tools/gen-model.c, docs/demo.md): heavy
 * tails, log-normal row and column gains, a few outlier input columns,
 * scale 0.5 / sqrt(cols) as trained weights shrink with fan-in.
 */
static void gen_weights(float *w, uint64_t rows, uint64_t cols)
{
	double *cg = malloc(cols * sizeof(*cg)), std = 0.5 / sqrt((double)cols);
	uint64_t r, c, i;

	if (!cg)
		abort();
	for (c = 0; c < cols; c++)
		cg[c] = exp(0.2 * gauss());
	for (i = 0; i < (cols + 1023) / 1024; i++)
		cg[rng() % cols] *= 20 * (0.2 + 0.8 * unif());
	for (r = 0; r < rows; r++) {
		double rg = exp(0.3 * gauss()) * std;

		for (c = 0; c < cols; c++)
			w[r * cols + c] = (float)(student6() * rg * cg[c]);
	}
	free(cg);
}

/* The INT8 store: @nt copies of the same quantized weights (cycled). */
static int write_store(const char *path, const float *wf, uint64_t rows, uint64_t cols,
		       unsigned int nt)
{
	struct cxlms_tensor_spec spec[MAXNT];
	char names[MAXNT][16];
	uint64_t gpr = (cols + GROUP - 1) / GROUP, bad;
	int8_t *codes = malloc(rows * cols);
	uint16_t *sc = malloc(rows * gpr * 2);
	struct cxlms_writer *w = NULL;
	unsigned int i, tile;
	int rc = -ENOMEM;

	if (!codes || !sc)
		goto out;
	rc = cxlms_quant_int8(wf, CXLMS_DTYPE_F32, rows, cols, GROUP, codes, sc, &bad);
	for (i = 0; !rc && i < nt; i++) {
		snprintf(names[i], sizeof(names[i]), "w%u", i);
		spec[i] = (struct cxlms_tensor_spec){ .name = names[i],
			.src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8, .ndim = 2,
			.shape = { rows, cols }, .group_size = GROUP };
	}
	if (!rc)
		rc = cxlms_writer_new(NULL, spec, nt, 0, &w);
	if (!rc)
		rc = cxlms_writer_create(w, path);
	for (i = 0; !rc && i < nt; i++) {
		const struct cxlms_dirent *d = cxlms_writer_dirent(w, i);
		struct cxlms_tile_geom g;

		cxlms_dirent_geom(d, &g);
		for (tile = 0; !rc && tile < d->n_tiles; tile++) {
			uint32_t ne = cxlms_dirent_tile_elems(d, tile);
			uint64_t r0 = (uint64_t)tile * d->tile_rows;
			void *mem = cxlms_writer_tile(w, i, tile);

			rc = cxlms_simd_place_int8(mem, &g, ne, 0, codes + r0 * cols, ne);
			if (!rc)
				rc = cxlms_place_scales(mem, &g, ne, sc + r0 * gpr,
							(uint32_t)(ne / cols * gpr));
			if (!rc)
				rc = cxlms_tile_finalize(mem, &g, ne);
		}
		if (!rc)
			rc = cxlms_writer_seal_tensor(w, i);
	}
	if (!rc)
		rc = cxlms_writer_commit(w);
out:
	cxlms_writer_free(w);
	free(codes);
	free(sc);
	return rc;
}

/* --- contenders --------------------------------------------------------- */

enum kind { K_CX, K_CXQ8, K_CXREAD, K_PEER, K_PEERREAD };

struct cont {
	enum kind kind;
	char name[32];
	unsigned int k;			/* cxlms planes */
	const char *type;		/* ggml type */
	int repack;
	struct peer *p;
	unsigned int copies;
	double bytes;			/* weight bytes one call reads */
	double bpw;
	double t[2][MAXR];
	double med[2], min[2];
	double err;			/* relative L2 of y vs the f32 reference */
	int read_of;			/* K_*READ: the contender it shadows */
};

struct bench {
	uint64_t rows, cols;
	struct cxlms_store *s;
	struct cxlms_tensor *t[MAXNT];
	unsigned int nt;
	const float *x;
	float *y;
	struct cont c[MAXC];
	unsigned int nc;
};

/* The same read loop for both sides: 32 bytes per step, XOR-folded. */
static uint64_t read_bytes(const void *p, size_t len)
{
	const uint64_t *q = p;
	uint64_t acc = 0;
	size_t i;

	for (i = 0; i + 4 <= len / 8; i += 4)
		acc += q[i] ^ q[i + 1] ^ q[i + 2] ^ q[i + 3];
	return acc;
}

struct rjob {
	struct bench *b;
	struct cxlms_tensor *t;
	unsigned int k;
	unsigned int part, parts;
	const uint8_t *p;		/* peer bytes */
	size_t len;
	uint64_t sink;
	pthread_t tid;
};

/* Planes 0..k-1 and the scales of a share of the tiles: what gemv reads. */
static void *rmain(void *arg)
{
	struct rjob *j = arg;
	uint64_t acc = 0;

	if (j->t) {
		struct cxlms_tensor *t = j->t;
		unsigned int nt = cxlms_tensor_get_tile_count(t), tile, p;

		for (tile = nt * j->part / j->parts; tile < nt * (j->part + 1) / j->parts; tile++) {
			const uint8_t *tp = j->b->s->ops->tile_map(j->b->s, t, tile);
			uint32_t n = cxlms_tensor_get_tile_elems(t, tile);
			struct cxlms_tile_layout l;

			/* A short last tile has a layout of its own. */
			if (cxlms_tile_layout_n(&t->geom, n, &l))
				abort();
			for (p = 0; p < j->k; p++)
				acc += read_bytes(tp + l.planes_off + p * l.plane_stride,
						  (n + 7) / 8);
			acc += read_bytes(tp + l.scales_off, l.scales_len);
		}
	} else {
		size_t a = j->len * j->part / j->parts & ~(size_t)63;
		size_t e = j->part + 1 == j->parts ? j->len : j->len * (j->part + 1) / j->parts & ~(size_t)63;

		acc = read_bytes(j->p + a, e - a);
	}
	j->sink = acc;
	return NULL;
}

static void read_pass(struct bench *b, struct cxlms_tensor *t, unsigned int k,
		      const void *p, size_t len, unsigned int threads)
{
	struct rjob j[2];
	unsigned int i;

	for (i = 0; i < threads; i++)
		j[i] = (struct rjob){ .b = b, .t = t, .k = k, .part = i, .parts = threads,
				      .p = p, .len = len };
	if (threads > 1)
		pthread_create(&j[1].tid, NULL, rmain, &j[1]);
	rmain(&j[0]);
	if (threads > 1)
		pthread_join(j[1].tid, NULL);
}

/* One timed call of contender @c on copy @copy. */
static double run(struct bench *b, struct cont *c, unsigned int copy, unsigned int threads)
{
	struct cxlms_gemv_opts o = { .size = sizeof(o), .threads = threads };
	struct cont *sh = c->kind == K_CXREAD || c->kind == K_PEERREAD ? &b->c[c->read_of] : c;
	double t0;

	if (c->kind == K_PEER)
		peer_resume(threads);
	t0 = now();
	switch (c->kind) {
	case K_CXQ8:
		o.flags = CXLMS_GEMV_Q8_ACT;
		/* fall through */
	case K_CX:
		if (cxlms_gemv(b->s, b->t[copy % b->nt], 0, b->rows, c->k, b->x, b->y, &o))
			abort();
		break;
	case K_CXREAD:
		read_pass(b, b->t[copy % b->nt], c->k, NULL, 0, threads);
		break;
	case K_PEER:
		if (peer_gemv(c->p, copy, threads))
			abort();
		break;
	case K_PEERREAD:
		read_pass(b, NULL, 0, peer_data(sh->p, copy), peer_bytes(sh->p), threads);
		break;
	}
	t0 = now() - t0;
	if (c->kind == K_PEER)
		peer_pause();
	return t0;
}

/*
 * Core clock from a chain of dependent adds (one per cycle), best of 5:
 * turns --hot's ns per weight into cycles (the VM has no PMU for perf).
 */
static double clock_ghz(void)
{
	double best = 0;
	int i;

	for (i = 0; i < 5; i++) {
		uint64_t x = 0, n = 200000000;
		double t0 = now(), t;

#if defined(__x86_64__)
		__asm__ volatile("1: add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
				 "sub $4, %1\n\tjnz 1b" : "+r"(x), "+r"(n));
#else
		return 0;
#endif
		t = now() - t0;
		if (200000000 / t / 1e9 > best)
			best = 200000000 / t / 1e9;
	}
	return best;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double rel_err(const float *y, const double *ref, uint64_t n)
{
	double num = 0, den = 0;
	uint64_t i;

	for (i = 0; i < n; i++) {
		num += (y[i] - ref[i]) * (y[i] - ref[i]);
		den += ref[i] * ref[i];
	}
	return sqrt(num / den);
}

/* ggml types in the order of the table, and whether llama.cpp repacks them here. */
static const struct {
	const char *type;
	unsigned int pair_k;	/* the cxlms k it is the target peer of */
} peer_types[] = {
	{ "Q8_0", 8 }, { "Q6_K", 6 }, { "Q5_K", 5 }, { "Q4_0", 4 },
	{ "Q4_K", 4 }, { "Q3_K", 3 }, { "Q2_K", 2 },
};

static struct cont *add(struct bench *b)
{
	struct cont *c = &b->c[b->nc++];

	memset(c, 0, sizeof(*c));
	c->read_of = -1;
	return c;
}

static unsigned int copies_for(double bytes, double target)
{
	unsigned int n = (unsigned int)ceil(target / bytes);

	if (!target)
		return 1;	/* --hot: one copy, kept in the caches */
	return n < 2 ? 2 : n > MAXNT ? MAXNT : n;
}

struct opts {
	unsigned int reps;
	double target;		/* bytes cycled per contender */
	int no_ggml;
	int hot;		/* each timed call right after an untimed one on the same copy */
	double ghz;		/* --hot: measured core clock */
	FILE *json;
	const char *dat;
	int first_json;
};

static void print_shape(struct bench *b, struct opts *op, unsigned int reps);

static int bench_shape(uint64_t rows, uint64_t cols, struct opts *op)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct bench *b = calloc(1, sizeof(*b));
	float *w = malloc(rows * cols * sizeof(float));
	float *x = malloc(cols * sizeof(float)), *y = malloc(rows * sizeof(float));
	double *ref = malloc(rows * sizeof(double));
	struct cxlms_ctx *ctx = NULL;
	unsigned int i, k, r, th;
	char path[4096];
	int rc;

	if (!b || !w || !x || !y || !ref) {
		fprintf(stderr, "bench-gemv: out of memory for %llu x %llu\n",
			(unsigned long long)rows, (unsigned long long)cols);
		return 1;
	}
	b->rows = rows;
	b->cols = cols;
	b->x = x;
	b->y = y;
	gen_weights(w, rows, cols);
	for (i = 0; i < cols; i++)
		x[i] = (float)gauss();
	for (r = 0; r < rows; r++) {
		double a = 0;

		for (i = 0; i < cols; i++)
			a += (double)w[r * cols + i] * x[i];
		ref[r] = a;
	}

	/* cxlms: one store holding enough copies that k = 2 cycles past the LLC. */
	b->nt = copies_for(rows * cols * KMIN / 8.0, op->target);
	snprintf(path, sizeof(path), "%s/bench-gemv-%d.cxlms", dir, (int)getpid());
	rc = write_store(path, w, rows, cols, b->nt);
	if (!rc)
		rc = cxlms_new(&ctx);
	if (!rc)
		rc = cxlms_open(ctx, path, 0, &b->s);
	unlink(path);
	if (rc) {
		fprintf(stderr, "bench-gemv: store in %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	for (i = 0; i < b->nt; i++) {
		char n[16];

		snprintf(n, sizeof(n), "w%u", i);
		if (cxlms_tensor_lookup(b->s, n, &b->t[i]))
			return 1;
	}
	for (k = 8; k >= KMIN; k--) {
		double bytes = rows * cols / 8.0 * k + rows * ((cols + GROUP - 1) / GROUP) * 2.0;
		struct cont *c = add(b);
		int at = (int)b->nc - 1;

		*c = (struct cont){ .kind = K_CX, .k = k, .bytes = bytes, .copies = b->nt,
				    .bpw = bytes * 8 / (rows * cols), .read_of = -1 };
		snprintf(c->name, sizeof(c->name), "cxlms k=%u f32-act", k);
		c = add(b);
		*c = b->c[at];
		c->kind = K_CXQ8;
		snprintf(c->name, sizeof(c->name), "cxlms k=%u q8-act", k);
		c = add(b);
		*c = b->c[at];
		c->kind = K_CXREAD;
		c->read_of = at;
		snprintf(c->name, sizeof(c->name), "read-only k=%u", k);
	}
	if (!op->no_ggml && peer_info()) {
		for (i = 0; i < sizeof(peer_types) / sizeof(peer_types[0]); i++) {
			int rp;

			for (rp = 0; rp < 2; rp++) {
				struct cont *c = add(b);
				struct peer *p;
				int at = (int)b->nc - 1;
				unsigned int copies;

				/* Copies sized by its own bytes, known after a probe. */
				rc = peer_new(peer_types[i].type, rp, rows, cols, w, x, 1, &p);
				if (rc) {
					b->nc--;
					if (rc != -EOPNOTSUPP) {
						fprintf(stderr, "bench-gemv: ggml %s: %s\n",
							peer_types[i].type, strerror(-rc));
						return 1;
					}
					continue;
				}
				copies = copies_for(peer_bytes(p), op->target);
				peer_free(p);
				if (peer_new(peer_types[i].type, rp, rows, cols, w, x, copies, &p))
					return 1;
				*c = (struct cont){ .kind = K_PEER, .type = peer_types[i].type,
						    .repack = rp, .p = p, .copies = copies,
						    .bytes = (double)peer_bytes(p), .read_of = -1 };
				c->bpw = c->bytes * 8 / (rows * cols);
				snprintf(c->name, sizeof(c->name), "ggml %s%s", c->type,
					 rp ? " repack" : "");
				c = add(b);
				*c = b->c[at];
				c->kind = K_PEERREAD;
				c->read_of = at;
				snprintf(c->name, sizeof(c->name), "read-only %s%s",
					 b->c[at].type, rp ? " repack" : "");
			}
		}
	}
	free(w);

	/* Errors, once: every contender's y against the f32 reference. */
	for (i = 0; i < b->nc; i++) {
		struct cont *c = &b->c[i];

		if (c->kind == K_CX || c->kind == K_CXQ8) {
			run(b, c, 0, 1);
			c->err = rel_err(y, ref, rows);
		} else if (c->kind == K_PEER) {
			run(b, c, 0, 1);
			peer_result(c->p, 0, y);
			c->err = rel_err(y, ref, rows);
		}
	}
	/* Rounds: every contender and thread count once per round, copies cycled. */
	for (r = 0; r < op->reps; r++)
		for (th = 0; th < 2; th++)
			for (i = 0; i < b->nc; i++) {
				if (op->hot)
					run(b, &b->c[i], 0, th + 1);
				b->c[i].t[th][r] = run(b, &b->c[i], r * 2 + th + i, th + 1);
			}
	for (i = 0; i < b->nc; i++)
		for (th = 0; th < 2; th++) {
			qsort(b->c[i].t[th], op->reps, sizeof(double), cmp);
			b->c[i].med[th] = b->c[i].t[th][op->reps / 2];
			b->c[i].min[th] = b->c[i].t[th][0];
		}
	print_shape(b, op, op->reps);

	for (i = 0; i < b->nc; i++)
		if (b->c[i].kind == K_PEER)
			peer_free(b->c[i].p);
	cxlms_store_unref(b->s);
	cxlms_unref(ctx);
	free(x);
	free(y);
	free(ref);
	free(b);
	return 0;
}

static const struct cont *find_cx(const struct bench *b, enum kind kind, unsigned int k)
{
	unsigned int i;

	for (i = 0; i < b->nc; i++)
		if (b->c[i].kind == kind && b->c[i].k == k)
			return &b->c[i];
	return NULL;
}

static const struct cont *find_peer(const struct bench *b, const char *type, int repack)
{
	unsigned int i;

	for (i = 0; i < b->nc; i++)
		if (b->c[i].kind == K_PEER && !strcmp(b->c[i].type, type) &&
		    b->c[i].repack == repack)
			return &b->c[i];
	return NULL;
}

/* What llama.cpp runs for @type here: the repacked layout where it has one. */
static const struct cont *llama_peer(const struct bench *b, const char *type)
{
	const struct cont *c = find_peer(b, type, 1);

	return c ? c : find_peer(b, type, 0);
}

/* The target peer of cxlms at @k on @th: the ggml type with the same or more bits. */
static const struct cont *pair_of(const struct bench *b, unsigned int k, unsigned int th)
{
	const struct cont *q40, *q4k;

	switch (k) {
	case 8: case 7: return llama_peer(b, "Q8_0");
	case 6: return llama_peer(b, "Q6_K");
	case 5: return llama_peer(b, "Q5_K");
	case 4:
		q40 = llama_peer(b, "Q4_0");
		q4k = llama_peer(b, "Q4_K");
		if (!q40 || !q4k)
			return q40 ? q40 : q4k;
		return q40->med[th] <= q4k->med[th] ? q40 : q4k;
	case 3: return llama_peer(b, "Q3_K");
	default: return llama_peer(b, "Q2_K");
	}
}

static void verdict(const char *what, int met, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void verdict(const char *what, int met, const char *fmt, ...)
{
	va_list ap;

	printf("%-7s %-52s ", met ? "MET" : "MISSED", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void print_shape(struct bench *b, struct opts *op, unsigned int reps)
{
	unsigned int i, th, k;

	if (op->hot)
		printf("\n== %llu x %llu, median of %u rounds, HOT: each call right after one on the same weights (in the caches); "
		       "core clock %.2f GHz (dependent adds): cycles per 64 weights = ns/w x 64 x %.2f ==\n",
		       (unsigned long long)b->rows, (unsigned long long)b->cols, reps, op->ghz, op->ghz);
	else
		printf("\n== %llu x %llu, median of %u rounds; cxlms store: %u copies, ggml: >= %.0f MiB of copies each ==\n",
		       (unsigned long long)b->rows, (unsigned long long)b->cols, reps, b->nt,
		       op->target / 1048576);
	for (th = 0; th < 2; th++) {
		const struct cont *c8 = find_cx(b, K_CX, 8), *q8 = find_cx(b, K_CXQ8, 8);

		printf("\nthreads %u\n", th + 1);
		printf("%-22s %6s %8s %9s %8s %7s %6s | %9s %7s %6s | %9s | %s\n", "contender", "bpw",
		       "MiB", "us", "min us", "GB/s", "ns/w", "read us", "GB/s", "rd/t", "rel.err",
		       "t(k)/t(8)  k/8");
		for (i = 0; i < b->nc; i++) {
			const struct cont *c = &b->c[i], *rd = NULL;
			unsigned int j;

			if (c->kind == K_CXREAD || c->kind == K_PEERREAD)
				continue;
			/* q8-act reads what f32-act reads: the entry before it. */
			for (j = 0; j < b->nc; j++)
				if (b->c[j].read_of == (int)(c->kind == K_CXQ8 ? i - 1 : i))
					rd = &b->c[j];
			printf("%-22s %6.3f %8.2f %9.0f %8.0f %7.2f %6.3f | %9.0f %7.2f %6.2f | %9.3e |",
			       c->name, c->bpw, c->bytes / 1048576, c->med[th] * 1e6, c->min[th] * 1e6,
			       c->bytes / c->med[th] / 1e9,
			       c->med[th] * 1e9 / ((double)b->rows * b->cols),
			       rd ? rd->med[th] * 1e6 : 0,
			       rd ? c->bytes / rd->med[th] / 1e9 : 0,
			       rd ? rd->med[th] / c->med[th] : 0, c->err);
			if (c->kind == K_CX && c8)
				printf(" %.3f    %.3f", c->med[th] / c8->med[th], c->k / 8.0);
			else if (c->kind == K_CXQ8 && q8)
				printf(" %.3f    %.3f", c->med[th] / q8->med[th], c->k / 8.0);
			printf("\n");
			if (op->json) {
				fprintf(op->json, "%s\n  {\"rows\": %llu, \"cols\": %llu, \"threads\": %u, "
					"\"contender\": \"%s\", \"kind\": \"%s\", \"k\": %u, "
					"\"ggml_type\": \"%s\", \"repack\": %s, \"bpw\": %.4f, "
					"\"bytes\": %.0f, \"us\": %.1f, \"us_min\": %.1f, \"gbs\": %.3f, \"read_us\": %.1f, "
					"\"rel_err\": %.4e, \"rounds\": %u}",
					op->first_json ? "" : ",", (unsigned long long)b->rows,
					(unsigned long long)b->cols, th + 1, c->name,
					c->kind == K_PEER ? "ggml" : c->kind == K_CX ? "cxlms-f32" : "cxlms-q8",
					c->k, c->type ? c->type : "", c->repack ? "true" : "false",
					c->bpw, c->bytes, c->med[th] * 1e6, c->min[th] * 1e6,
					c->bytes / c->med[th] / 1e9,
					rd ? rd->med[th] * 1e6 : 0, c->err, reps);
				op->first_json = 0;
			}
		}
		if (op->dat) {
			char fn[4096];
			FILE *f;

			snprintf(fn, sizeof(fn), "%s-%llux%llu-t%u.dat", op->dat,
				 (unsigned long long)b->rows, (unsigned long long)b->cols, th + 1);
			f = fopen(fn, "w");
			if (!f) {
				fprintf(stderr, "bench-gemv: %s: %s\n", fn, strerror(errno));
			} else {
				/* Blocks (gnuplot index): 0 cxlms f32-act, 1 q8-act, 2 ggml plain, 3 repacked. */
				static const enum kind ks[] = { K_CX, K_CXQ8, K_PEER, K_PEER };
				unsigned int blk;

				for (blk = 0; blk < 4; blk++) {
					fprintf(f, "# bpw us rel_err label\n");
					for (i = 0; i < b->nc; i++) {
						const struct cont *c = &b->c[i];

						if (c->kind != ks[blk] || (blk >= 2 && c->repack != (blk == 3)))
							continue;
						if (c->kind == K_PEER)
							fprintf(f, "%.4f %.1f %.4e \"%s\"\n", c->bpw,
								c->med[th] * 1e6, c->err, c->type);
						else
							fprintf(f, "%.4f %.1f %.4e \"k=%u\"\n", c->bpw,
								c->med[th] * 1e6, c->err, c->k);
					}
					fprintf(f, "\n\n");
				}
				fclose(f);
			}
		}
	}

	/* The targets, for this shape. */
	printf("\ntargets (%llu x %llu): cxlms q8-act, the like-for-like (ggml quantizes the activation too); f32-act in ()\n",
	       (unsigned long long)b->rows, (unsigned long long)b->cols);
	for (th = 0; th < 2; th++)
		for (k = 8; k >= KMIN; k--) {
			const struct cont *c = find_cx(b, K_CXQ8, k), *f = find_cx(b, K_CX, k);
			const struct cont *p = pair_of(b, k, th);
			char what[64];

			if (!p || !c)
				continue;
			snprintf(what, sizeof(what), "time k=%u <= %s, %u thread%s", k, p->name,
				 th + 1, th ? "s" : "");
			verdict(what, c->med[th] <= p->med[th], "%.3f (%.0f vs %.0f us; f32-act %.3f)",
				c->med[th] / p->med[th], c->med[th] * 1e6, p->med[th] * 1e6,
				f->med[th] / p->med[th]);
		}
	for (k = 8; k >= KMIN; k--) {
		const struct cont *c = find_cx(b, K_CXQ8, k), *f = find_cx(b, K_CX, k);
		const struct cont *p = pair_of(b, k, 0);
		char what[64];

		if (!p || !c)
			continue;
		snprintf(what, sizeof(what), "error k=%u (%.3f bpw) <= %s (%.3f bpw)", k, c->bpw,
			 p->type, p->bpw);
		verdict(what, c->err <= p->err, "%.3f (%.3e vs %.3e; f32-act %.3e)",
			c->err / p->err, c->err, p->err, f->err);
	}
	{
		const struct cont *c8 = find_cx(b, K_CXQ8, 8), *f8 = find_cx(b, K_CX, 8);
		double worst = 0, fworst = 0;
		unsigned int wk = 8;

		for (k = 3; k <= 8; k++) {
			double d = fabs(find_cx(b, K_CXQ8, k)->med[0] / c8->med[0] - k / 8.0);
			double fd = fabs(find_cx(b, K_CX, k)->med[0] / f8->med[0] - k / 8.0);

			if (d > worst) {
				worst = d;
				wk = k;
			}
			if (fd > fworst)
				fworst = fd;
		}
		verdict("|t(k)/t(8) - k/8| <= 0.15, k >= 3, 1 thread", worst <= 0.15,
			"%.3f (worst at k=%u; f32-act %.3f)", worst, wk, fworst);
	}
	{
		double worst = 1e9, fworst = 1e9;
		unsigned int wk = 8;

		for (k = 4; k <= 8; k++) {
			const struct cont *c = find_cx(b, K_CXQ8, k), *f = find_cx(b, K_CX, k);
			const struct cont *rd = find_cx(b, K_CXREAD, k);
			double v = rd->med[1] / c->med[1], fv = rd->med[1] / f->med[1];

			if (v < worst) {
				worst = v;
				wk = k;
			}
			if (fv < fworst)
				fworst = fv;
		}
		verdict("2 threads, k >= 4: >= 0.8 x read-only pass", worst >= 0.8,
			"%.3f (worst at k=%u; f32-act %.3f)", worst, wk, fworst);
	}
	fflush(stdout);
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [--quick | --hot] [-r REPS] [--group N] [--shape RxC]... [--json FILE] [--dat PREFIX]\n"
		"          [--no-ggml] [-l K,CALLS]\n"
		"  cxlms_gemv() at k = 8..%d against ggml's kernels (when linked: bench-gemv-ggml)\n"
		"  --quick       smoke test: one small shape, 3 rounds, small copies\n"
		"  -r REPS       rounds, median taken (1..%d; default 7)\n"
		"  --shape RxC   rows x cols (repeatable; default 8192x8192 4096x11008 11008x4096)\n"
		"  --json FILE   every row as JSON; --dat PREFIX: gnuplot data per shape and threads\n"
		"  --no-ggml     cxlms contenders only\n"
		"  --group N     int8 scale group of the store (default 128, as cxlms import)\n"
		"  --hot         compute alone: 1024x4096 (default), weights warm in the caches\n"
		"  -l K,CALLS    only CALLS gemv calls at k = K on 4096x4096 (for perf stat)\n",
		argv0, KMIN, MAXR);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' }, { "shape", required_argument, NULL, 's' },
		{ "json", required_argument, NULL, 'j' }, { "dat", required_argument, NULL, 'd' },
		{ "no-ggml", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
		{ "hot", no_argument, NULL, 'H' }, { "group", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 } };
	struct opts op = { .reps = 7, .target = 96.0 * 1048576, .first_json = 1 };
	uint64_t shapes[8][2];
	unsigned int ns = 0, i, loop_k = 0, loop_n = 0;
	const char *json = NULL;
	int opt, quick = 0, rc = 0;

	while ((opt = getopt_long(argc, argv, "r:l:h", lo, NULL)) != -1) {
		unsigned long long r, c;

		switch (opt) {
		case 'r':
			if (atoi(optarg) < 1 || atoi(optarg) > MAXR) {
				usage(stderr, argv[0]);
				return 2;
			}
			op.reps = (unsigned int)atoi(optarg);
			break;
		case 'l':
			if (sscanf(optarg, "%u,%u", &loop_k, &loop_n) != 2 || !loop_k || loop_k > 8) {
				usage(stderr, argv[0]);
				return 2;
			}
			break;
		case 'q':
			quick = 1;
			break;
		case 's':
			if (ns == 8 || sscanf(optarg, "%llux%llu", &r, &c) != 2 || !r || !c ||
			    c % 256 || r % 8 || r * c > (1ull << 28)) {
				fprintf(stderr, "bench-gemv: --shape %s: want RxC, cols a multiple of 256, rows of 8, at most 2^28 weights\n",
					optarg);
				return 2;
			}
			shapes[ns][0] = r;
			shapes[ns++][1] = c;
			break;
		case 'j':
			json = optarg;
			break;
		case 'd':
			op.dat = optarg;
			break;
		case 'n':
			op.no_ggml = 1;
			break;
		case 'H':
			op.hot = 1;
			break;
		case 'g':
			/* The store's scale group: what the error costs in bytes. */
			if (atoi(optarg) < 32 || atoi(optarg) > 4096 || atoi(optarg) % 32) {
				fprintf(stderr, "bench-gemv: --group %s: want a multiple of 32 in 32..4096\n",
					optarg);
				return 2;
			}
			GROUP = (unsigned int)atoi(optarg);
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr, argv[0]);
		return 2;
	}
	if (loop_k) {
		/* perf stat helper: only gemv calls (cxlms side), no ggml. */
		static const uint64_t R = 4096, C = 4096;
		struct cxlms_ctx *ctx;
		struct cxlms_store *s;
		struct cxlms_tensor *t[4];
		float *w = malloc(R * C * 4), *x = malloc(C * 4), *y = malloc(R * 4);
		char path[4096];

		if (!w || !x || !y)
			return 1;
		gen_weights(w, R, C);
		for (i = 0; i < C; i++)
			x[i] = (float)gauss();
		snprintf(path, sizeof(path), "%s/bench-gemv-%d.cxlms",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
		rc = write_store(path, w, R, C, 4);
		if (!rc)
			rc = cxlms_new(&ctx);
		if (!rc)
			rc = cxlms_open(ctx, path, 0, &s);
		unlink(path);
		for (i = 0; !rc && i < 4; i++) {
			char n[16];

			snprintf(n, sizeof(n), "w%u", i);
			rc = cxlms_tensor_lookup(s, n, &t[i]);
		}
		for (i = 0; !rc && i < loop_n; i++)
			rc = cxlms_gemv(s, t[i % 4], 0, R, loop_k, x, y, NULL);
		return rc ? 1 : 0;
	}
	if (quick) {
		op.reps = op.reps > 3 ? 3 : op.reps;
		op.target = 8.0 * 1048576;
		if (!ns) {
			shapes[0][0] = 512;
			shapes[0][1] = 1024;
			ns = 1;
		}
	}
	if (op.hot) {
		op.ghz = clock_ghz();
		/* Compute alone: one copy of a 4 M-weight matrix, warm in L2/L3. */
		op.target = 0;
		if (!ns) {
			shapes[0][0] = 1024;
			shapes[0][1] = 4096;
			ns = 1;
		}
	}
	if (!ns) {
		static const uint64_t def[3][2] = { { 8192, 8192 }, { 4096, 11008 }, { 11008, 4096 } };

		memcpy(shapes, def, sizeof(def));
		ns = 3;
	}
	if (json) {
		op.json = fopen(json, "w");
		if (!op.json) {
			fprintf(stderr, "bench-gemv: %s: %s\n", json, strerror(errno));
			return 1;
		}
		fprintf(op.json, "[");
	}
	if (!op.no_ggml && peer_info()) {
		rc = peer_open(2);
		if (rc) {
			fprintf(stderr, "bench-gemv: ggml CPU backend: %s\n", strerror(-rc));
			return 1;
		}
	}
	printf("cxlms bench-gemv: INT8 store, groups of %u, kernels %s; peer: %s\n", GROUP,
	       cxlms_simd_isa_name(),
	       op.no_ggml ? "none (--no-ggml)" : peer_info() ? peer_info() :
	       "none (built without ggml: `make bench-gemv` builds bench-gemv-ggml)");
	printf("weights: Student-t(6) x log-normal row/column gains, 1 outlier column in 1024 (x4..20);\n"
	       "x ~ N(0,1); rel.err = |y - y_ref| / |y_ref|, y_ref = double GEMV on the f32 weights.\n"
	       "us: median, min us: fastest round; GB/s = the contender's own weight bytes per second\n"
	       "(1e9, median); ns/w: ns per weight; rd/t = read-only time / time;\n"
	       "cxlms bytes: k planes + fp16 scales; ggml bytes: the tensor (ggml_nbytes).\n");
	fflush(stdout);
	for (i = 0; !rc && i < ns; i++)
		rc = bench_shape(shapes[i][0], shapes[i][1], &op);
	if (op.json) {
		fprintf(op.json, "\n]\n");
		fclose(op.json);
	}
	if (!op.no_ggml && peer_info())
		peer_close();
	return rc;
}
