// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The view column of the benchmark: a scan (every byte loaded, summed as
 * 64-bit words) of a k-bit view of an INT8 tensor in a store file, mapped
 * with cxlms_view_map() (file backend), beside
 *   - fetch: cxlms_fetch() of every tile at the same bits and output into
 *     one reused buffer, and the same scan of it;
 *   - copy: the same scan of a dedicated k-bit copy, the view's bytes in
 *     plain anonymous memory (what keeping one copy per precision costs in
 *     memory, and reads at);
 * in one run, ratios side by side.  "cold" is the first scan of a fresh
 * mapping (faults fill it: userfaultfd), "warm" a second scan, "eager" a
 * CXLMS_VIEW_EAGER map (decode all) plus one scan.  Faults per MiB are the
 * scanning thread's minor faults during the cold scan.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "libcxlms.h"
#include "bitplane.h"
#include "writer.h"
#include "bench.h"

#define N_K	3
#define N_LAYOUT 2
#define MAX_REPS 31

struct vrow {
	unsigned int layout, k;
	uint64_t bytes;			/* view bytes scanned */
	double cold, warm, eager, fetch, copy;	/* seconds, medians */
	double faults_per_mib;
};

static struct {
	int ran;
	char mode[16];
	uint64_t elems;
	unsigned int tiles;
	struct vrow rows[N_LAYOUT * N_K];
	unsigned int n_rows;
	char why[160];
} vr;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile uint64_t vsink;

/* One load of every byte, 8 at a time: the same scan for every contender. */
static uint64_t scan(const void *p, size_t len)
{
	const uint64_t *w = p;
	uint64_t a = 0, b = 0, c = 0, d = 0;
	size_t i, n = len / 8;

	for (i = 0; i + 4 <= n; i += 4) {
		a += w[i];
		b ^= w[i + 1];
		c += w[i + 2];
		d ^= w[i + 3];
	}
	for (; i < n; i++)
		a += w[i];
	return a ^ b ^ c ^ d;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* An INT8 tensor of about @mib MiB of codes, bell-shaped, in a store file. */
static int build_store(const char *path, size_t mib)
{
	struct cxlms_tensor_spec spec = {
		.name = "w", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
		.ndim = 2, .shape = { (mib << 20) / 4096, 4096 }, .group_size = 128,
	};
	struct cxlms_writer *w;
	int8_t *codes = NULL;
	uint16_t *scales = NULL;
	unsigned int tile;
	int rc;

	rc = cxlms_writer_new(NULL, &spec, 1, 0, &w);
	if (rc)
		return rc;
	rc = cxlms_writer_create(w, path);
	for (tile = 0; !rc && tile < cxlms_writer_dirent(w, 0)->n_tiles; tile++) {
		const struct cxlms_dirent *d = cxlms_writer_dirent(w, 0);
		uint32_t ne = cxlms_dirent_tile_elems(d, tile), i, ns;
		struct cxlms_tile_geom g;
		void *mem = cxlms_writer_tile(w, 0, tile);

		cxlms_dirent_geom(d, &g);
		ns = ne / g.cols * ((g.cols + g.group_size - 1) / g.group_size);
		if (!codes) {
			codes = malloc(ne);
			scales = malloc(ns * sizeof(*scales));
			if (!codes || !scales) {
				rc = -ENOMEM;
				break;
			}
		}
		for (i = 0; i < ne; i++) {
			uint64_t r = rnd();
			int v = (int)(r & 63) + (int)((r >> 8) & 63) +
				(int)((r >> 16) & 63) + (int)((r >> 24) & 63) - 126;

			codes[i] = (int8_t)v;
		}
		for (i = 0; i < ns; i++)
			scales[i] = (uint16_t)(0x2000 + rnd() % 0x1000);
		rc = cxlms_place_int8(mem, &g, ne, 0, codes, ne);
		if (!rc)
			rc = cxlms_place_scales(mem, &g, ne, scales, ns);
		if (!rc)
			rc = cxlms_tile_finalize(mem, &g, ne);
	}
	if (!rc)
		rc = cxlms_writer_seal_tensor(w, 0);
	if (!rc)
		rc = cxlms_writer_commit(w);
	cxlms_writer_free(w);
	free(codes);
	free(scales);
	return rc;
}

static int map(struct cxlms_store *s, struct cxlms_tensor *t, unsigned int layout,
	       unsigned int k, unsigned int flags, struct cxlms_view **v)
{
	struct cxlms_view_opts o = { .size = sizeof(o), .flags = flags,
				     .layout = layout, .bits = k };

	return cxlms_view_map(s, t, &o, v);
}

static int measure(struct cxlms_store *s, struct cxlms_tensor *t, struct vrow *r,
		   unsigned int reps, uint8_t *tbuf, size_t tbuf_len)
{
	double cold[MAX_REPS], warm[MAX_REPS], eager[MAX_REPS], fetch[MAX_REPS],
	       copy[MAX_REPS];
	unsigned int out = r->layout == CXLMS_VIEW_PACKED ? CXLMS_OUT_PACKED : CXLMS_OUT_INT;
	unsigned int tiles = cxlms_tensor_get_tile_count(t), i, tile;
	uint8_t *dup = NULL;
	long faults = 0;
	int rc;

	for (i = 0; i < reps; i++) {
		struct cxlms_view *v;
		double t0;
		long f0;

		/* cold: a fresh view, filled by the loads of the scan */
		t0 = now();
		rc = map(s, t, r->layout, r->k, 0, &v);
		if (rc)
			return rc;
		f0 = minflt();
		vsink ^= scan(cxlms_view_get_addr(v), cxlms_view_get_size(v));
		faults += minflt() - f0;
		cold[i] = now() - t0;
		r->bytes = cxlms_view_get_size(v);
		if (i == 0)
			snprintf(vr.mode, sizeof(vr.mode), "%s", cxlms_view_get_mode(v));
		t0 = now();
		vsink ^= scan(cxlms_view_get_addr(v), cxlms_view_get_size(v));
		warm[i] = now() - t0;
		if (!dup) {
			dup = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (dup == MAP_FAILED) {
				cxlms_view_unmap(v);
				return -ENOMEM;
			}
			memcpy(dup, cxlms_view_get_addr(v), r->bytes);
		}
		cxlms_view_unmap(v);

		t0 = now();
		rc = map(s, t, r->layout, r->k, CXLMS_VIEW_EAGER, &v);
		if (rc)
			return rc;
		vsink ^= scan(cxlms_view_get_addr(v), cxlms_view_get_size(v));
		eager[i] = now() - t0;
		cxlms_view_unmap(v);

		t0 = now();
		for (tile = 0; tile < tiles; tile++) {
			int64_t n = cxlms_fetch(s, t, tile, r->k, out, 0, tbuf, tbuf_len);

			if (n < 0)
				return (int)n;
			vsink ^= scan(tbuf, (size_t)n);
		}
		fetch[i] = now() - t0;

		t0 = now();
		vsink ^= scan(dup, r->bytes);
		copy[i] = now() - t0;
	}
	munmap(dup, r->bytes);
	r->cold = median(cold, reps);
	r->warm = median(warm, reps);
	r->eager = median(eager, reps);
	r->fetch = median(fetch, reps);
	r->copy = median(copy, reps);
	r->faults_per_mib = (double)faults / reps / (r->bytes / 1048576.0);
	return 0;
}

int cxlms_bench_view_run(size_t mib, unsigned int reps)
{
	static const unsigned int ks[N_K] = { 2, 4, 8 };
	static const unsigned int layouts[N_LAYOUT] = { CXLMS_VIEW_INT8, CXLMS_VIEW_PACKED };
	const char *dir = getenv("TMPDIR");
	struct cxlms_ctx *ctx = NULL;
	struct cxlms_store *s = NULL;
	struct cxlms_tensor *t;
	char path[4096];
	uint8_t *tbuf = NULL;
	size_t tbuf_len;
	unsigned int li, ki;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/cxlms-bench-view.XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		snprintf(vr.why, sizeof(vr.why), "temporary store file: %s", strerror(errno));
		return -errno;
	}
	close(fd);
	rc = build_store(path, mib);
	if (!rc)
		rc = cxlms_new(&ctx);
	if (!rc)
		rc = cxlms_open(ctx, path, 0, &s);
	unlink(path);		/* the open store keeps it mapped */
	if (!rc)
		rc = cxlms_tensor_lookup(s, "w", &t);
	if (rc) {
		snprintf(vr.why, sizeof(vr.why), "store: %s", cxlms_strerror(rc));
		goto out;
	}
	vr.elems = cxlms_tensor_get_elems(t);
	vr.tiles = cxlms_tensor_get_tile_count(t);
	tbuf_len = (size_t)cxlms_fetch_size(t, 0, 1, 8, CXLMS_OUT_PACKED, 0) +
		   (size_t)cxlms_fetch_size(t, 0, 1, 8, CXLMS_OUT_INT, 0);
	tbuf = malloc(tbuf_len);
	if (!tbuf) {
		rc = -ENOMEM;
		goto out;
	}
	for (li = 0; li < N_LAYOUT; li++) {
		for (ki = 0; ki < N_K; ki++) {
			struct vrow *r = &vr.rows[vr.n_rows];

			r->layout = layouts[li];
			r->k = ks[ki];
			rc = measure(s, t, r, reps, tbuf, tbuf_len);
			if (rc) {
				snprintf(vr.why, sizeof(vr.why), "view %u k=%u: %s", r->layout,
					 r->k, cxlms_strerror(rc));
				goto out;
			}
			vr.n_rows++;
		}
	}
	vr.ran = 1;
out:
	free(tbuf);
	cxlms_store_unref(s);
	cxlms_unref(ctx);
	return rc;
}

static const char *lname(unsigned int layout)
{
	return layout == CXLMS_VIEW_PACKED ? "packed" : "int8";
}

static double gbs(uint64_t bytes, double s)
{
	return s > 0 ? bytes / s / 1e9 : 0;
}

void cxlms_bench_view_text(FILE *f)
{
	unsigned int i;

	if (!vr.ran) {
		fprintf(f, "\n== views: not measured (%s) ==\n", vr.why[0] ? vr.why : "not run with --only");
		return;
	}
	fprintf(f, "\n== views (file backend, %s): INT8 tensor of %.0f MiB elements, %u tiles; "
		"one scan of the view's bytes ==\n", vr.mode, vr.elems / 1048576.0, vr.tiles);
	fprintf(f, "layout  k | MiB  | cold  warm  eager fetch copy  GB/s | cold/  cold/  warm/  eager/ | faults\n");
	fprintf(f, "          |      |                                   | fetch  copy   copy   copy   | per MiB\n");
	for (i = 0; i < vr.n_rows; i++) {
		const struct vrow *r = &vr.rows[i];

		fprintf(f, "%-6s %2u | %4.0f | %5.2f %5.2f %5.2f %5.2f %5.2f      | %5.2f  %5.2f  %5.2f  %5.2f  | %6.2f\n",
			lname(r->layout), r->k, r->bytes / 1048576.0, gbs(r->bytes, r->cold),
			gbs(r->bytes, r->warm), gbs(r->bytes, r->eager), gbs(r->bytes, r->fetch),
			gbs(r->bytes, r->copy), r->cold / r->fetch, r->cold / r->copy,
			r->warm / r->copy, r->eager / r->copy, r->faults_per_mib);
	}
	fprintf(f, "(time ratios: < 1 is faster than the peer; cold = map + first scan, the fills on fault)\n");
}

void cxlms_bench_view_json(FILE *f)
{
	unsigned int i;

	fprintf(f, ",\n  \"views\": {\"measured\": %s, \"mode\": \"%s\", \"elems\": %llu, "
		"\"tiles\": %u, \"rows\": [", vr.ran ? "true" : "false", vr.ran ? vr.mode : "",
		(unsigned long long)vr.elems, vr.tiles);
	for (i = 0; vr.ran && i < vr.n_rows; i++) {
		const struct vrow *r = &vr.rows[i];

		fprintf(f, "%s\n    {\"layout\": \"%s\", \"k\": %u, \"bytes\": %llu, \"cold_s\": %.6f, "
			"\"warm_s\": %.6f, \"eager_s\": %.6f, \"fetch_s\": %.6f, \"copy_s\": %.6f, "
			"\"faults_per_mib\": %.3f}", i ? "," : "", lname(r->layout), r->k,
			(unsigned long long)r->bytes, r->cold, r->warm, r->eager, r->fetch,
			r->copy, r->faults_per_mib);
	}
	fprintf(f, "]}");
}
