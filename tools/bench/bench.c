// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The bit-plane store benchmark behind `make bench` (tools/bench/cxlms-bench)
 * and `cxlms bench`: is the store worth it?  One run, single thread,
 * on synthetic stores larger than the last-level cache, side by side:
 *
 *  fetch     cxlms_simd_fetch_tile() of every tile at k planes, each tile
 *            into the same tile-sized output buffer (an engine's staging
 *            buffer; it stays in L2, so DRAM traffic is the reads).
 *  pieces    cxlms_simd_fetch_pieces() (cxlms_fetch_pieces()) of every
 *            tile: 8 KiB pieces decoded into one L1-resident buffer, each
 *            read by a consumer (an XOR over it) before the next: an
 *            engine that uses the weights at once.
 *  read      a read-only pass over exactly the bytes the fetch reads
 *            (k plane runs per tile plus the side data the codec accounts).
 *  memcpy    memcpy of those same bytes into the same output buffer.
 *  packed    a dedicated packed k-bit copy of the same elements (what a
 *            user would keep instead: one copy per precision): contiguous
 *            n*k/8 bytes per tile plus the same side data; read-only pass
 *            and memcpy into the output buffer.  Compared with out=PACKED,
 *            which produces those very bytes from the planes.
 *  place     cxlms_simd_place_*() of every tile vs a non-temporal copy of
 *            the same input bytes (DRAM to DRAM).
 *  dram memcpy: glibc memcpy of a whole buffer, DRAM to DRAM.
 *
 * Every figure is the median of --reps timed passes after one untimed one.
 * Two cores are shared with other jobs here: expect a few percent of noise.
 *
 * --threads N runs every contender on N threads, each taking a contiguous
 * share of the tiles (copies: of the bytes) with its own output buffer, so
 * fetch and its baselines stay compared like with like.
 */
#include <errno.h>
#include <pthread.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "simd/simd.h"
#include "store_format.h"
#include "bench.h"

#define MiB (1024.0 * 1024.0)
#define MAX_REPS 31
#define MAX_THREADS 16
#define MAX_TARGETS 32	/* judge() adds up to 17 */

struct store {
	const char *name;
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout l;
	uint32_t n;		/* elements per tile */
	uint32_t n_tiles;
	uint8_t *mem;
	uint8_t *input;		/* codes or 16-bit patterns, n_tiles * n elements */
	size_t input_bytes;
};

static struct {
	unsigned int reps;
	size_t mib;
	int json, all_isa;
	const char *dat;
	const char *only;
	const char *json_out;
	unsigned int threads;
	unsigned int piece_kib;
	int views;
} opt = { 5, 512, 0, 1, NULL, NULL, NULL, 1, 8, 1 };

static uint8_t *out_bufs[MAX_THREADS];	/* one tile's output per thread, reused */
static size_t out_len;
static uint8_t *packed_buf;	/* the dedicated packed copy */
static uint8_t *big_dst;	/* DRAM destination for copies */
static uint64_t sink;

/* Keep a pass's result alive; threads may finish at the same time. */
static void consume(uint64_t x)
{
	__atomic_fetch_xor(&sink, x, __ATOMIC_RELAXED);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *big_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "cxlms-bench: cannot map %zu MiB: %s\n", len >> 20,
			strerror(errno));
		exit(1);
	}
	madvise(p, len, MADV_HUGEPAGE);	/* fewer TLB misses; a hint only */
	memset(p, 0, len);		/* fault every page in before timing */
	return p;
}

/* --- baselines ------------------------------------------------------------ */

__attribute__((target("avx2")))
static uint64_t read_avx2(const uint8_t *p, size_t len)
{
	__m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
	uint64_t r[4], x = 0;
	size_t i = 0;

	for (; i + 128 <= len; i += 128) {
		a = _mm256_xor_si256(a, _mm256_loadu_si256((const __m256i *)(p + i)));
		b = _mm256_xor_si256(b, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
		c = _mm256_xor_si256(c, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
		d = _mm256_xor_si256(d, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
	}
	for (; i < len; i++)
		x ^= p[i];
	a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
	_mm256_storeu_si256((__m256i *)r, a);
	return x ^ r[0] ^ r[1] ^ r[2] ^ r[3];
}

static uint64_t read_plain(const uint8_t *p, size_t len)
{
	uint64_t x = 0, v;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&v, p + i, 8);
		x ^= v;
	}
	for (; i < len; i++)
		x ^= p[i];
	return x;
}

static int have_avx2;

static uint64_t read_bytes(const uint8_t *p, size_t len)
{
	return have_avx2 ? read_avx2(p, len) : read_plain(p, len);
}

/* Non-temporal copy: the placement baseline (@d 32-byte aligned). */
__attribute__((target("avx2")))
static void nt_copy_avx2(uint8_t *d, const uint8_t *s, size_t len)
{
	size_t i = 0;

	for (; i + 128 <= len; i += 128) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(s + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(s + i + 32));
		__m256i c = _mm256_loadu_si256((const __m256i *)(s + i + 64));
		__m256i e = _mm256_loadu_si256((const __m256i *)(s + i + 96));

		_mm256_stream_si256((__m256i *)(d + i), a);
		_mm256_stream_si256((__m256i *)(d + i + 32), b);
		_mm256_stream_si256((__m256i *)(d + i + 64), c);
		_mm256_stream_si256((__m256i *)(d + i + 96), e);
	}
	_mm_sfence();
	memcpy(d + i, s + i, len - i);
}

/* 64-byte streaming stores: one whole line per store, the best case for WC buffers. */
__attribute__((target("avx512f")))
static void nt_copy_avx512(uint8_t *d, const uint8_t *s, size_t len)
{
	size_t i = 0;

	for (; i + 256 <= len; i += 256) {
		__m512i a = _mm512_loadu_si512(s + i);
		__m512i b = _mm512_loadu_si512(s + i + 64);
		__m512i c = _mm512_loadu_si512(s + i + 128);
		__m512i e = _mm512_loadu_si512(s + i + 192);

		_mm512_stream_si512((void *)(d + i), a);
		_mm512_stream_si512((void *)(d + i + 64), b);
		_mm512_stream_si512((void *)(d + i + 128), c);
		_mm512_stream_si512((void *)(d + i + 192), e);
	}
	_mm_sfence();
	memcpy(d + i, s + i, len - i);
}

static int have_avx512;

static void nt_copy(uint8_t *d, const uint8_t *s, size_t len)
{
	if (have_avx512)
		nt_copy_avx512(d, s, len);
	else if (have_avx2)
		nt_copy_avx2(d, s, len);
	else
		memcpy(d, s, len);
}

/* --- what is timed -------------------------------------------------------- */

struct job {
	struct store *s;
	uint32_t k, out;
	enum cxlms_simd_isa isa;
	/* Set per thread by run_split(): this thread's share. */
	uint32_t t0, t1;	/* tiles [t0, t1) */
	size_t b0, b1;		/* bytes [b0, b1) of whole-buffer copies */
	uint8_t *out_buf;
};

static const uint8_t *tile_at(const struct store *s, uint32_t t)
{
	return s->mem + (size_t)t * s->l.tile_bytes;
}

/* Side bytes a fetch reads besides planes: scales, the k-level table slice. */
static void side_range(const struct store *s, uint32_t k, uint32_t *scales_len,
		       uint32_t *table_off, uint32_t *table_len)
{
	*scales_len = s->l.scales_len;
	*table_off = s->l.table_off + 2 * ((1u << (k < 8 ? k : 1)) - 2);
	*table_len = s->g.fmt == CXLMS_FMT_INT8 && k < 8 ? 2u << k : 0;
}

static size_t plane_bytes(const struct store *s, uint32_t k)
{
	return (size_t)s->n_tiles * k * s->l.plane_len;
}

static size_t side_bytes(const struct store *s, uint32_t k)
{
	uint32_t sl, to, tl;

	side_range(s, k, &sl, &to, &tl);
	return (size_t)s->n_tiles * (sl + tl);
}

static void fetch_tiles(const struct job *j, int use)
{
	const struct store *s = j->s;
	uint64_t x = 0;
	uint32_t t;

	for (t = j->t0; t < j->t1; t++) {
		cxlms_s64 n = cxlms_simd_fetch_tile(tile_at(s, t), &s->g, s->n, j->k, j->out,
						    CXLMS_RECON_DEFAULT, j->out_buf, out_len);

		if (n < 0) {
			fprintf(stderr, "cxlms-bench: %s fetch k=%u out=%u failed\n", s->name, j->k, j->out);
			exit(1);
		}
		/* The engine then reads the staged tile, as a pieces consumer does. */
		if (use)
			x ^= read_bytes(j->out_buf, (size_t)n);
	}
	consume(x);
}

static void run_fetch(const struct job *j)
{
	fetch_tiles(j, 0);
}

static void run_fetch_use(const struct job *j)
{
	fetch_tiles(j, 1);
}

/*
 * A verified fetch (CXLMS_FETCH_VERIFY): the CRC32C of the whole tile,
 * the check libcxlms makes, then the same fetch.
 */
static void run_fetch_verify(const struct job *j)
{
	const struct store *s = j->s;
	uint64_t x = 0;
	uint32_t t;

	for (t = j->t0; t < j->t1; t++) {
		x ^= cxlms_simd_crc32c(0, tile_at(s, t), s->l.tile_bytes);
		if (cxlms_simd_fetch_tile(tile_at(s, t), &s->g, s->n, j->k, j->out,
					  CXLMS_RECON_DEFAULT, j->out_buf, out_len) < 0) {
			fprintf(stderr, "cxlms-bench: %s fetch k=%u out=%u failed\n",
				s->name, j->k, j->out);
			exit(1);
		}
	}
	consume(x);
}

/* The consumer of a piece: reads every byte, as an engine would. */
static int consume_piece(void *arg, cxlms_u32 first, cxlms_u32 count,
			 const void *data, cxlms_u64 len)
{
	(void)first;
	(void)count;
	*(uint64_t *)arg ^= read_bytes(data, len);
	return 0;
}

/* Elements per piece for --piece bytes of output (whole blocks). */
static uint32_t piece_elems(const struct store *s, uint32_t k, uint32_t out)
{
	uint32_t bits = out == CXLMS_OUT_PACKED ? k : s->l.n_planes;
	uint64_t e = (uint64_t)opt.piece_kib * 1024 * 8 / bits / 512 * 512;

	return e ? (uint32_t)e : 512;
}

/* 0, or -EOPNOTSUPP when the variant in use has no in-cache pieces. */
static int fetch_pieces_tiles(const struct job *j)
{
	const struct store *s = j->s;
	uint32_t t, pe = piece_elems(s, j->k, j->out);
	uint64_t x = 0;
	int rc = 0;

	/* Piece buffer at the start of the thread's buffer, side data 1 MiB on. */
	for (t = j->t0; t < j->t1 && !rc; t++)
		rc = cxlms_simd_fetch_pieces(tile_at(s, t), &s->g, s->n, j->k, j->out,
					     CXLMS_RECON_DEFAULT, pe, j->out_buf, 1u << 20,
					     j->out_buf + (1u << 20), out_len - (1u << 20),
					     consume_piece, &x);
	consume(x);
	return rc;
}

static void run_pieces(const struct job *j)
{
	if (fetch_pieces_tiles(j)) {
		fprintf(stderr, "cxlms-bench: %s pieces k=%u out=%u failed\n", j->s->name,
			j->k, j->out);
		exit(1);
	}
}

static void run_read(const struct job *j)
{
	const struct store *s = j->s;
	uint32_t t, p, sl, to, tl;
	uint64_t x = 0;

	side_range(s, j->k, &sl, &to, &tl);
	for (t = j->t0; t < j->t1; t++) {
		const uint8_t *tile = tile_at(s, t);

		x ^= read_bytes(tile, sl) ^ read_bytes(tile + to, tl);
		for (p = 0; p < j->k; p++)
			x ^= read_bytes(tile + s->l.planes_off + (size_t)p * s->l.plane_stride,
					s->l.plane_len);
	}
	consume(x);
}

/*
 * Diagnostic: the same bytes read the way a fetch reads them, one line of
 * each plane in turn (k concurrent streams), instead of plane after plane.
 */
__attribute__((target("avx2")))
static void run_read_interleaved(const struct job *j)
{
	const struct store *s = j->s;
	uint32_t t, p, sl, to, tl;
	size_t off;
	__m256i x = _mm256_setzero_si256();
	uint64_t r[4];

	side_range(s, j->k, &sl, &to, &tl);
	for (t = j->t0; t < j->t1; t++) {
		const uint8_t *tile = tile_at(s, t);
		const uint8_t *planes = tile + s->l.planes_off;

		x = _mm256_xor_si256(x, _mm256_set1_epi64x((long long)(read_bytes(tile, sl) ^
								      read_bytes(tile + to, tl))));
		for (off = 0; off + 64 <= s->l.plane_len; off += 64)
			for (p = 0; p < j->k; p++) {
				const uint8_t *q = planes + (size_t)p * s->l.plane_stride + off;

				x = _mm256_xor_si256(x, _mm256_xor_si256(
					_mm256_loadu_si256((const __m256i *)q),
					_mm256_loadu_si256((const __m256i *)(q + 32))));
			}
	}
	_mm256_storeu_si256((__m256i *)r, x);
	consume(r[0] ^ r[1] ^ r[2] ^ r[3]);
}

static void run_memcpy(const struct job *j)
{
	const struct store *s = j->s;
	uint32_t t, p, sl, to, tl;

	side_range(s, j->k, &sl, &to, &tl);
	for (t = j->t0; t < j->t1; t++) {
		const uint8_t *tile = tile_at(s, t);
		uint8_t *o = j->out_buf;

		memcpy(o, tile, sl);
		memcpy(o + sl, tile + to, tl);
		o += sl + tl;
		for (p = 0; p < j->k; p++, o += s->l.plane_len)
			memcpy(o, tile + s->l.planes_off + (size_t)p * s->l.plane_stride,
			       s->l.plane_len);
	}
	consume(j->out_buf[0]);
}

/* The packed copy: per tile n*k/8 bytes + the same side bytes, back to back. */
static size_t packed_chunk(const struct store *s, uint32_t k)
{
	uint32_t sl, to, tl;

	side_range(s, k, &sl, &to, &tl);
	return ((size_t)s->n * k / 8 + sl + tl + 63) & ~(size_t)63;
}

static void run_packed_read(const struct job *j)
{
	size_t c = packed_chunk(j->s, j->k);
	uint64_t x = 0;
	uint32_t t;

	for (t = j->t0; t < j->t1; t++)
		x ^= read_bytes(packed_buf + t * c, c);
	consume(x);
}

static void run_packed_memcpy(const struct job *j)
{
	size_t c = packed_chunk(j->s, j->k);
	uint32_t t;

	for (t = j->t0; t < j->t1; t++)
		memcpy(j->out_buf, packed_buf + t * c, c);
	consume(j->out_buf[0]);
}

static void run_place(const struct job *j)
{
	const struct store *s = j->s;
	uint32_t t;
	int ret = 0;

	for (t = j->t0; t < j->t1 && !ret; t++) {
		uint8_t *tile = s->mem + (size_t)t * s->l.tile_bytes;

		if (s->g.fmt == CXLMS_FMT_INT8)
			ret = cxlms_simd_place_int8(tile, &s->g, s->n, 0,
						    (const int8_t *)s->input + (size_t)t * s->n, s->n);
		else
			ret = cxlms_simd_place_16(tile, &s->g, s->n, 0,
						  (const uint16_t *)s->input + (size_t)t * s->n, s->n);
	}
	if (ret) {
		fprintf(stderr, "cxlms-bench: placement failed: %d\n", ret);
		exit(1);
	}
}

static void run_nt_copy(const struct job *j)
{
	nt_copy(big_dst + j->b0, j->s->input + j->b0, j->b1 - j->b0);
}

static void run_dram_memcpy(const struct job *j)
{
	memcpy(big_dst + j->b0, j->s->input + j->b0, j->b1 - j->b0);
}

struct split_arg {
	void (*fn)(const struct job *);
	struct job j;
};

static void *split_thread(void *p)
{
	struct split_arg *a = p;

	a->fn(&a->j);
	return NULL;
}

/*
 * @fn over the whole store on opt.threads threads: thread i takes tiles
 * (and copy bytes, in 64-byte units) [i/N, (i+1)/N) and its own output
 * buffer; the calling thread is thread 0.  One thread: a plain call.
 */
static void run_split(void (*fn)(const struct job *), const struct job *j)
{
	struct split_arg a[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	unsigned int n = opt.threads, i;
	size_t lines = j->s->input_bytes / 64;

	for (i = 0; i < n; i++) {
		a[i].fn = fn;
		a[i].j = *j;
		a[i].j.t0 = (uint32_t)((uint64_t)j->s->n_tiles * i / n);
		a[i].j.t1 = (uint32_t)((uint64_t)j->s->n_tiles * (i + 1) / n);
		a[i].j.b0 = lines * i / n * 64;
		a[i].j.b1 = i + 1 == n ? j->s->input_bytes : lines * (i + 1) / n * 64;
		a[i].j.out_buf = out_bufs[i];
	}
	for (i = 1; i < n; i++)
		if (pthread_create(&th[i], NULL, split_thread, &a[i])) {
			fprintf(stderr, "cxlms-bench: cannot start thread %u\n", i);
			exit(1);
		}
	fn(&a[0].j);
	for (i = 1; i < n; i++)
		pthread_join(th[i], NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median seconds of opt.reps timed runs after one warm-up. */
static double timed(void (*fn)(const struct job *), const struct job *j, unsigned int reps)
{
	double t[MAX_REPS];
	unsigned int r;

	if (cxlms_simd_set_isa(j->isa)) {
		fprintf(stderr, "cxlms-bench: ISA %s unavailable\n", cxlms_simd_isa_str(j->isa));
		exit(1);
	}
	run_split(fn, j);
	for (r = 0; r < reps; r++) {
		double t0 = now();

		run_split(fn, j);
		t[r] = now() - t0;
	}
	qsort(t, reps, sizeof(t[0]), cmp_double);
	return t[reps / 2];
}

struct paired {
	void (*fn)(const struct job *);	/* NULL: not measured, sec stays 0 */
	const struct job *j;
	double sec;			/* median */
};

/* Median seconds of each of @n contenders, run in turn @reps times after a warm-up. */
static void timed_paired(struct paired *pr, unsigned int n, unsigned int reps)
{
	double t[12][MAX_REPS];
	unsigned int r, i;

	for (r = 0; r <= reps; r++)
		for (i = 0; i < n; i++) {
			double t0;

			if (!pr[i].fn)
				continue;
			if (cxlms_simd_set_isa(pr[i].j->isa))
				exit(1);
			t0 = now();
			run_split(pr[i].fn, pr[i].j);
			if (r)	/* the first round warms up */
				t[i][r - 1] = now() - t0;
		}
	for (i = 0; i < n; i++) {
		pr[i].sec = 0;
		if (!pr[i].fn)
			continue;
		qsort(t[i], reps, sizeof(double), cmp_double);
		pr[i].sec = t[i][reps / 2];
	}
}

/* --- stores ------------------------------------------------------------- */

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void store_build(struct store *s, const char *name, uint32_t fmt, size_t mib)
{
	uint32_t t, i;

	s->name = name;
	/* 4096 x 128 = 2^19 elements per tile: 64 KiB planes (the codec default). */
	s->g = (struct cxlms_tile_geom){ fmt, 4096, fmt == CXLMS_FMT_INT8 ? 128 : 0, 128, 0 };
	if (cxlms_tile_layout(&s->g, &s->l))
		exit(1);
	s->n = s->l.elems;
	s->n_tiles = (uint32_t)(mib * 1024 * 1024 / ((size_t)s->l.n_planes * s->l.plane_len));
	s->mem = big_alloc((size_t)s->n_tiles * s->l.tile_bytes);
	s->input_bytes = (size_t)s->n_tiles * s->n * (s->l.n_planes / 8);
	s->input = big_alloc(s->input_bytes);
	for (i = 0; i < s->input_bytes; i += 8) {
		uint64_t r = rnd();

		memcpy(s->input + i, &r, 8);
	}
	if (fmt == CXLMS_FMT_INT8) {
		/* Codes -127..127 like the importer; a Gaussian-ish spread is irrelevant here. */
		for (i = 0; i < s->input_bytes; i++)
			if (s->input[i] == 0x80)
				s->input[i] = 0x81;
	} else {
		/* Finite values (no Inf/NaN), like weights. */
		for (i = 0; i < s->input_bytes; i += 2)
			s->input[i + 1] &= 0xbf;
	}
	cxlms_simd_set_isa(CXLMS_ISA_PORTABLE);
	for (t = 0; t < s->n_tiles; t++) {
		uint8_t *tile = s->mem + (size_t)t * s->l.tile_bytes;

		if (fmt == CXLMS_FMT_INT8) {
			uint32_t ns = s->n / s->g.cols * s->l.groups_per_row;
			uint16_t *sc = malloc(ns * 2);

			for (i = 0; i < ns; i++)
				sc[i] = (uint16_t)(0x2000 + rnd() % 0x1000);	/* ~0.01..0.03 */
			cxlms_place_int8(tile, &s->g, s->n, 0,
					 (const int8_t *)s->input + (size_t)t * s->n, s->n);
			cxlms_place_scales(tile, &s->g, s->n, sc, ns);
			cxlms_tile_finalize(tile, &s->g, s->n);
			free(sc);
		} else {
			cxlms_place_16(tile, &s->g, s->n, 0,
				       (const uint16_t *)s->input + (size_t)t * s->n, s->n);
		}
	}
}

/* --- report ------------------------------------------------------------- */

struct row {
	uint32_t k;
	double read, copy, fetch_int, fetch_packed, packed_read, packed_copy, read_ilv;
	double pieces_int, pieces_packed;	/* 0: not measured */
	double use_int, use_packed;		/* whole fetch, then the tile read */
	double verify_packed;			/* CRC of the tile, then fetch PACKED */
	double isa_int[CXLMS_ISA_COUNT];
	size_t bytes, out_int_bytes;
};

struct result {
	struct store *s;
	struct row rows[16];
	uint32_t n_rows;
	double place, place_portable, nt_copy, dram_memcpy;
};

static double gbs(size_t bytes, double sec)
{
	return bytes / sec / 1e9;
}

static int int_valid(const struct store *s, uint32_t k)
{
	struct cxlms_fetch_layout fl;

	return !cxlms_fetch_layout(&s->g, s->n, k, CXLMS_OUT_INT, CXLMS_RECON_DEFAULT, &fl);
}

static void bench_store(struct store *s, enum cxlms_simd_isa best, struct result *res)
{
	struct job j = { .s = s, .isa = best };
	uint32_t k, planes = s->l.n_planes;
	int isa;

	res->s = s;
	res->n_rows = planes;
	res->place = timed(run_place, &j, opt.reps);
	j.isa = CXLMS_ISA_PORTABLE;
	res->place_portable = timed(run_place, &j, opt.reps < 3 ? opt.reps : 3);
	j.isa = best;
	/* Placement rewrote the tiles with identical bytes; tables stay valid. */
	res->nt_copy = timed(run_nt_copy, &j, opt.reps);
	res->dram_memcpy = timed(run_dram_memcpy, &j, opt.reps);

	for (k = 1; k <= planes; k++) {
		struct row *r = &res->rows[k - 1];
		struct job ji, jp;
		struct paired pr[12];
		int pieces;

		j.k = k;
		r->k = k;
		r->bytes = plane_bytes(s, k) + side_bytes(s, k);
		r->out_int_bytes = (size_t)s->n_tiles * s->n * (planes / 8);
		ji = j;
		ji.out = CXLMS_OUT_INT;
		jp = j;
		jp.out = CXLMS_OUT_PACKED;
		/*
		 * The contenders of one k take turns within each repetition, so
		 * a noisy moment hits them all rather than one column.
		 */
		pr[0] = (struct paired){ run_read, &j, 0 };
		pr[1] = (struct paired){ run_memcpy, &j, 0 };
		pr[2] = (struct paired){ run_packed_read, &j, 0 };
		pr[3] = (struct paired){ run_packed_memcpy, &j, 0 };
		/* INT of a float format needs sign and whole exponent (FP16: k >= 6). */
		pr[4] = (struct paired){ int_valid(s, k) ? run_fetch : NULL, &ji, 0 };
		pr[5] = (struct paired){ run_fetch, &jp, 0 };
		pr[6] = (struct paired){ have_avx2 ? run_read_interleaved : NULL, &j, 0 };
		/* In-cache pieces: only variants that have them (AVX-512). */
		cxlms_simd_set_isa(best);
		pieces = !fetch_pieces_tiles(&(struct job){ .s = s, .k = k, .out = jp.out,
							    .t0 = 0, .t1 = 1,
							    .out_buf = out_bufs[0] });
		pr[7] = (struct paired){ pieces && int_valid(s, k) ? run_pieces : NULL, &ji, 0 };
		pr[8] = (struct paired){ pieces ? run_pieces : NULL, &jp, 0 };
		/* What pieces save: the whole tile staged, then read by the engine. */
		pr[9] = (struct paired){ pieces && int_valid(s, k) ? run_fetch_use : NULL, &ji, 0 };
		pr[10] = (struct paired){ pieces ? run_fetch_use : NULL, &jp, 0 };
		pr[11] = (struct paired){ run_fetch_verify, &jp, 0 };
		timed_paired(pr, 12, opt.reps);
		r->verify_packed = pr[11].sec;
		r->use_int = pr[9].sec;
		r->use_packed = pr[10].sec;
		r->pieces_int = pr[7].sec;
		r->pieces_packed = pr[8].sec;
		r->read_ilv = pr[6].sec;
		r->read = pr[0].sec;
		r->copy = pr[1].sec;
		r->packed_read = pr[2].sec;
		r->packed_copy = pr[3].sec;
		r->fetch_int = pr[4].sec;
		r->fetch_packed = pr[5].sec;
		for (isa = 0; isa < CXLMS_ISA_COUNT; isa++) {
			struct job jx = j;

			r->isa_int[isa] = 0;
			if (!opt.all_isa || !r->fetch_int ||
			    !cxlms_simd_isa_supported((enum cxlms_simd_isa)isa))
				continue;
			if (isa == (int)best) {
				r->isa_int[isa] = r->fetch_int;
				continue;
			}
			jx.out = CXLMS_OUT_INT;
			jx.isa = (enum cxlms_simd_isa)isa;
			r->isa_int[isa] = timed(run_fetch, &jx, isa == CXLMS_ISA_PORTABLE ? 1 : 3);
		}
		cxlms_simd_set_isa(best);
	}
}

/* Last-level cache bytes from sysfs (sysconf() misreports it in some VMs). */
static long llc_bytes(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
	long kib = 0;

	if (f) {
		if (fscanf(f, "%ldK", &kib) != 1)
			kib = 0;
		fclose(f);
	}
	return kib ? kib * 1024 : sysconf(_SC_LEVEL3_CACHE_SIZE);
}

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256], fam[32] = "?", model[32] = "?";

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ':');

		if (!v)
			continue;
		v += 2;
		v[strcspn(v, "\n")] = 0;
		if (!strncmp(line, "model name", 10))
			snprintf(buf, len, "%s", v);
		else if (!strncmp(line, "cpu family", 10))
			snprintf(fam, sizeof(fam), "%s", v);
		else if (!strncmp(line, "model\t", 6))
			snprintf(model, sizeof(model), "%s", v);
		if (!strncmp(line, "flags", 5))
			break;
	}
	fclose(f);
	snprintf(buf + strlen(buf), len - strlen(buf), " (family %s model %s)", fam, model);
}

/* Targets of issue 5, with the figure each was judged on. */
struct target {
	const char *what;
	double value, threshold;
	int higher_better, met;
	char where[64];
};

/* Ratios per k, 0 where a contender was not measured. */
static double int_read(const struct row *w)
{
	return w->fetch_int ? w->read / w->fetch_int : 0;
}

static double packed_copy(const struct row *w)
{
	return w->fetch_packed / w->packed_copy;
}

static double packed_read(const struct row *w)
{
	return w->fetch_packed / w->packed_read;
}

static double pieces_int_read(const struct row *w)
{
	return w->pieces_int ? w->read / w->pieces_int : 0;
}

static double pieces_packed_read(const struct row *w)
{
	return w->pieces_packed ? w->pieces_packed / w->packed_read : 0;
}

/*
 * A target judged on the worst of @ratio over k = @kmin..planes (lowest if
 * higher is better); not added when no k was measured.
 */
static void judge_over_k(const struct result *r, uint32_t kmin,
			 double (*ratio)(const struct row *), const char *what,
			 double threshold, int higher_better, struct target *tg,
			 unsigned int *n)
{
	double worst = higher_better ? 1e9 : 0;
	uint32_t k, wk = 0;

	for (k = kmin; k <= r->n_rows; k++) {
		double v = ratio(&r->rows[k - 1]);

		if (v && (higher_better ? v < worst : v > worst)) {
			worst = v;
			wk = k;
		}
	}
	if (!wk)
		return;
	tg[*n] = (struct target){ what, worst, threshold, higher_better, 0, "" };
	snprintf(tg[*n].where, sizeof(tg[*n].where), "worst at k=%u", wk);
	(*n)++;
}

static unsigned int judge(struct result *r8, struct result *r16, struct target *tg)
{
	unsigned int n = 0, i;
	double worst;
	uint32_t wk = 0;
	struct result *rs[2] = { r8, r16 };

	for (i = 0; i < 2; i++) {
		struct result *r = rs[i];
		uint32_t kmin = i ? 8 : 4, planes = r->n_rows, k;

		/* 1. fetch vs read-only bandwidth of the bytes read. */
		judge_over_k(r, kmin, int_read, i ? "16-bit fetch (INT) vs read-only, k>=8" :
			     "int8 fetch (INT) vs read-only, k>=4", 0.8, 1, tg, &n);
		judge_over_k(r, kmin, pieces_int_read,
			     i ? "16-bit INT in pieces vs read-only, k>=8" :
			     "int8 INT in pieces vs read-only, k>=4", 0.8, 1, tg, &n);
		/* 3. fetch PACKED vs the dedicated packed copy, every k. */
		judge_over_k(r, 1, packed_copy, i ? "16-bit fetch PACKED / memcpy of packed copy" :
			     "int8 fetch PACKED / memcpy of packed copy", 1.25, 0, tg, &n);
		judge_over_k(r, 1, packed_read, i ? "16-bit fetch PACKED / read of packed copy" :
			     "int8 fetch PACKED / read of packed copy", 1.25, 0, tg, &n);
		judge_over_k(r, 1, pieces_packed_read,
			     i ? "16-bit PACKED in pieces / read of packed copy" :
			     "int8 PACKED in pieces / read of packed copy", 1.25, 0, tg, &n);

		/* 4. placement vs a non-temporal copy of the input. */
		tg[n] = (struct target){ i ? "16-bit placement vs NT copy" :
					 "int8 placement vs NT copy", r->nt_copy / r->place, 0.9, 1, 0, "" };
		snprintf(tg[n].where, sizeof(tg[n].where), "%.1f vs %.1f GB/s",
			 gbs(r->s->input_bytes, r->place), gbs(r->s->input_bytes, r->nt_copy));
		n++;

		/* 5. proportionality, INT and PACKED outputs. */
		for (int o = 0; o < 2; o++) {
			double full = o ? r->rows[planes - 1].fetch_packed : r->rows[planes - 1].fetch_int;

			worst = 0;
			for (k = 2; k <= planes; k++) {
				double t = o ? r->rows[k - 1].fetch_packed : r->rows[k - 1].fetch_int;
				double v = t / full - (double)k / planes;

				if (!t)
					continue;	/* INT not defined at this k */

				if (v < 0)
					v = -v;
				if (v > worst) {
					worst = v;
					wk = k;
				}
			}
			tg[n] = (struct target){ NULL, worst, 0.15, 0, 0, "" };
			tg[n].what = i ? (o ? "16-bit |t(k)/t(16) - k/16|, PACKED, k>=2" :
					  "16-bit |t(k)/t(16) - k/16|, INT, k>=6") :
					 (o ? "int8 |t(k)/t(8) - k/8|, PACKED, k>=2" :
					  "int8 |t(k)/t(8) - k/8|, INT, k>=2");
			snprintf(tg[n].where, sizeof(tg[n].where), "worst at k=%u", wk);
			n++;
		}
	}
	/* 2. int8 k <= 2: output rate vs DRAM memcpy rate. */
	worst = 1e9;
	for (wk = 1; wk <= 2; wk++) {
		double v = gbs(r8->rows[wk - 1].out_int_bytes, r8->rows[wk - 1].fetch_int) /
			   gbs(r8->s->input_bytes, r8->dram_memcpy);

		if (v < worst)
			worst = v;
	}
	tg[n] = (struct target){ "int8 k<=2 INT output rate / DRAM memcpy rate", worst, 3.0, 1, 0, "" };
	snprintf(tg[n].where, sizeof(tg[n].where), "memcpy %.1f GB/s",
		 gbs(r8->s->input_bytes, r8->dram_memcpy));
	n++;
	for (i = 0; i < n; i++)
		tg[i].met = tg[i].higher_better ? tg[i].value >= tg[i].threshold :
						  tg[i].value <= tg[i].threshold;
	return n;
}

static void print_text(struct result *res, unsigned int nres, const char *cpu,
		       const char *isa, struct target *tg, unsigned int ntg)
{
	unsigned int i, k, a;

	printf("cxlms-bench: %s, ISA %s, %u thread%s, median of %u, %zu MiB per store\n",
	       cpu, isa, opt.threads, opt.threads == 1 ? "" : "s", opt.reps, opt.mib);
	printf("LLC %ld KiB; bytes per k = plane runs + side data the codec reads; GB/s = 1e9 B/s\n",
	       llc_bytes() / 1024);
	for (i = 0; i < nres; i++) {
		struct result *r = &res[i];
		unsigned int planes = r->n_rows;

		printf("\n== %s: %u tiles of %u elements, %.0f MiB input ==\n", r->s->name,
		       r->s->n_tiles, r->s->n, r->s->input_bytes / MiB);
		printf("placement %.2f GB/s (portable %.2f), NT copy %.2f GB/s -> %.2f x NT copy; "
		       "DRAM memcpy %.2f GB/s\n",
		       gbs(r->s->input_bytes, r->place), gbs(r->s->input_bytes, r->place_portable),
		       gbs(r->s->input_bytes, r->nt_copy), r->nt_copy / r->place,
		       gbs(r->s->input_bytes, r->dram_memcpy));
		printf(" k | read  memcpy rd.ilv | fetch INT        read/ memcpy/ out  | PACKED  pk.read pk.cpy  /pk.cpy /pk.read | pieces INT  read/ PACKED /pk.read | vs fetch+use | t(k)/t(%u) INT PACKED  k/%u",
		       planes, planes);
		if (opt.all_isa)
			printf(" | INT GB/s by ISA:");
		printf("\n   | GB/s  GB/s   GB/s   | ms     GB/s      fetch  fetch  GB/s | GB/s    GB/s    GB/s    ratio   ratio   | GB/s       pcs   GB/s   ratio    | INT  PACKED  |                          ");
		if (opt.all_isa)
			for (a = 0; a < CXLMS_ISA_COUNT; a++)
				if (cxlms_simd_isa_supported((enum cxlms_simd_isa)a))
					printf(" %8s", cxlms_simd_isa_str((enum cxlms_simd_isa)a));
		printf("\n");
		for (k = 1; k <= planes; k++) {
			struct row *w = &r->rows[k - 1];
			size_t pk = (size_t)r->s->n_tiles * packed_chunk(r->s, k);

			printf("%2u | %5.1f %5.1f  %5.1f  | ", k, gbs(w->bytes, w->read),
			       gbs(w->bytes, w->copy), w->read_ilv ? gbs(w->bytes, w->read_ilv) : 0);
			if (w->fetch_int)
				printf("%6.2f %5.1f     %5.2f  %5.2f  %5.1f",
				       w->fetch_int * 1e3, gbs(w->bytes, w->fetch_int),
				       w->read / w->fetch_int, w->copy / w->fetch_int,
				       gbs(w->out_int_bytes, w->fetch_int));
			else
				printf("     -     -         -      -      -");
			printf(" | %5.1f   %5.1f   %5.1f   %5.2f   %5.2f   |",
			       gbs(w->bytes, w->fetch_packed), gbs(pk, w->packed_read),
			       gbs(pk, w->packed_copy), w->fetch_packed / w->packed_copy,
			       w->fetch_packed / w->packed_read);
			if (w->pieces_int)
				printf(" %5.1f     %5.2f", gbs(w->bytes, w->pieces_int),
				       w->read / w->pieces_int);
			else
				printf("     -         -");
			if (w->pieces_packed)
				printf("  %5.1f  %5.2f    |", gbs(w->bytes, w->pieces_packed),
				       w->pieces_packed / w->packed_read);
			else
				printf("      -      -    |");
			if (w->pieces_int)
				printf(" %4.2f", w->use_int / w->pieces_int);
			else
				printf("    -");
			if (w->pieces_packed)
				printf("  %4.2f   |", w->use_packed / w->pieces_packed);
			else
				printf("     -   |");
			printf("        %5.3f  %5.3f   %5.3f",
			       w->fetch_int / r->rows[planes - 1].fetch_int,
			       w->fetch_packed / r->rows[planes - 1].fetch_packed,
			       (double)k / planes);
			if (opt.all_isa)
				for (a = 0; a < CXLMS_ISA_COUNT; a++)
					if (w->isa_int[a] > 0)
						printf(" %8.1f", gbs(w->bytes, w->isa_int[a]));
			printf("\n");
		}
	}
	for (i = 0; i < nres; i++) {
		struct result *r = &res[i];

		printf("\n== %s: fetch PACKED with and without verify (CRC32C of every whole tile) ==\n",
		       r->s->name);
		printf(" k | plain ms  verify ms  verify/plain\n");
		for (k = 1; k <= r->n_rows; k++) {
			struct row *w = &r->rows[k - 1];

			printf("%2u | %8.2f  %9.2f  %6.2f\n", k, w->fetch_packed * 1e3,
			       w->verify_packed * 1e3, w->verify_packed / w->fetch_packed);
		}
	}
	printf("\n== targets ==\n");
	for (i = 0; i < ntg; i++)
		printf("%-7s %-48s %6.3f (%s %.2f; %s)\n", tg[i].met ? "MET" : "MISSED",
		       tg[i].what, tg[i].value, tg[i].higher_better ? ">=" : "<=",
		       tg[i].threshold, tg[i].where);
	if (opt.views)
		cxlms_bench_view_text(stdout);
}

static void print_json(FILE *out, struct result *res, unsigned int nres, const char *cpu,
		       const char *isa, struct target *tg, unsigned int ntg)
{
	unsigned int i, k, a;
	const char *sep;

	fprintf(out, "{\n  \"machine\": {\"cpu\": \"%s\", \"isa\": \"%s\", \"llc_bytes\": %ld, "
	       "\"threads\": %u, \"piece_bytes\": %u, \"reps\": %u, \"statistic\": \"median\"},\n  \"stores\": [\n",
	       cpu, isa, llc_bytes(), opt.threads, opt.piece_kib * 1024, opt.reps);
	for (i = 0; i < nres; i++) {
		struct result *r = &res[i];

		fprintf(out, "    {\"name\": \"%s\", \"tiles\": %u, \"tile_elems\": %u, \"input_bytes\": %zu,\n"
		       "     \"place_s\": %.6f, \"place_portable_s\": %.6f, \"nt_copy_s\": %.6f, "
		       "\"dram_memcpy_s\": %.6f,\n     \"k\": [\n",
		       r->s->name, r->s->n_tiles, r->s->n, r->s->input_bytes, r->place,
		       r->place_portable, r->nt_copy, r->dram_memcpy);
		for (k = 1; k <= r->n_rows; k++) {
			struct row *w = &r->rows[k - 1];

			fprintf(out, "      {\"k\": %u, \"bytes_read\": %zu, \"packed_copy_bytes\": %zu, "
			       "\"int_out_bytes\": %zu, \"read_s\": %.6f, \"read_interleaved_s\": %.6f, "
			       "\"memcpy_s\": %.6f, ",
			       k, w->bytes, (size_t)r->s->n_tiles * packed_chunk(r->s, k),
			       w->out_int_bytes, w->read, w->read_ilv, w->copy);
			if (w->fetch_int)
				fprintf(out, "\"fetch_int_s\": %.6f, ", w->fetch_int);
			else
				fprintf(out, "\"fetch_int_s\": null, ");
			fprintf(out, "\"fetch_packed_s\": %.6f, \"packed_read_s\": %.6f, "
			       "\"packed_memcpy_s\": %.6f, ",
			       w->fetch_packed, w->packed_read, w->packed_copy);
			if (w->pieces_int)
				fprintf(out, "\"pieces_int_s\": %.6f, ", w->pieces_int);
			else
				fprintf(out, "\"pieces_int_s\": null, ");
			if (w->pieces_packed)
				fprintf(out, "\"pieces_packed_s\": %.6f, \"fetch_use_packed_s\": %.6f, ",
					w->pieces_packed, w->use_packed);
			else
				fprintf(out, "\"pieces_packed_s\": null, \"fetch_use_packed_s\": null, ");
			if (w->use_int)
				fprintf(out, "\"fetch_use_int_s\": %.6f, ", w->use_int);
			else
				fprintf(out, "\"fetch_use_int_s\": null, ");
			fprintf(out, "\"fetch_int_by_isa_s\": {");
			for (a = 0, sep = ""; a < CXLMS_ISA_COUNT; a++)
				if (w->isa_int[a] > 0) {
					fprintf(out, "%s\"%s\": %.6f", sep,
						cxlms_simd_isa_str((enum cxlms_simd_isa)a),
						w->isa_int[a]);
					sep = ", ";
				}
			fprintf(out, "}}%s\n", k < r->n_rows ? "," : "");
		}
		fprintf(out, "    ]}%s\n", i + 1 < nres ? "," : "");
	}
	fprintf(out, "  ],\n  \"targets\": [\n");
	for (i = 0; i < ntg; i++)
		fprintf(out, "    {\"what\": \"%s\", \"value\": %.4f, \"threshold\": %.2f, "
		       "\"higher_is_better\": %s, \"met\": %s, \"note\": \"%s\"}%s\n",
		       tg[i].what, tg[i].value, tg[i].threshold,
		       tg[i].higher_better ? "true" : "false", tg[i].met ? "true" : "false",
		       tg[i].where, i + 1 < ntg ? "," : "");
	fprintf(out, "  ]");
	if (opt.views)
		cxlms_bench_view_json(out);
	fprintf(out, "\n}\n");
}

/* Plot data: one line per k, columns documented in docs/performance.md. */
static void write_dat(struct result *r, const char *path)
{
	FILE *f = fopen(path, "w");
	uint32_t k, planes = r->n_rows;

	if (!f) {
		perror(path);
		exit(1);
	}
	fprintf(f, "# k read_GBs fetch_int_GBs fetch_packed_GBs packed_copy_GBs t_int_ratio t_packed_ratio k_ratio read_interleaved_GBs pieces_int_GBs\n");
	for (k = 1; k <= planes; k++) {
		struct row *w = &r->rows[k - 1];
		size_t pk = (size_t)r->s->n_tiles * packed_chunk(r->s, k);

		fprintf(f, "%u %.3f ", k, gbs(w->bytes, w->read));
		if (w->fetch_int)
			fprintf(f, "%.3f ", gbs(w->bytes, w->fetch_int));
		else
			fprintf(f, "? ");
		fprintf(f, "%.3f %.3f ", gbs(w->bytes, w->fetch_packed), gbs(pk, w->packed_copy));
		if (w->fetch_int)
			fprintf(f, "%.4f ", w->fetch_int / r->rows[planes - 1].fetch_int);
		else
			fprintf(f, "? ");
		fprintf(f, "%.4f %.4f %.3f ", w->fetch_packed / r->rows[planes - 1].fetch_packed,
			(double)k / planes, w->read_ilv ? gbs(w->bytes, w->read_ilv) : 0);
		if (w->pieces_int)
			fprintf(f, "%.3f\n", gbs(w->bytes, w->pieces_int));
		else
			fprintf(f, "?\n");
	}
	fclose(f);
}

static int usage_err(const char *prog, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return 2;
}

/* Strict decimal within [min, max]; what atoi() would silently accept is an error. */
static int parse_num(const char *s, unsigned long min, unsigned long max, unsigned long *val)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*val = strtoul(s, &end, 10);
	return errno || *end || *val < min || *val > max ? -1 : 0;
}

int cxlms_bench_main(int argc, char **argv)
{
	static struct result res[2];
	static struct store s8, s16;
	struct target tg[MAX_TARGETS];
	unsigned int ntg;
	enum cxlms_simd_isa best = CXLMS_ISA_PORTABLE;
	const char *note;
	char cpu[256], path[512];
	const char *prog = argc > 0 ? argv[0] : "cxlms-bench";
	unsigned long num;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has_val = i + 1 < argc;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: %s " CXLMS_BENCH_USAGE "\n" CXLMS_BENCH_HELP, prog);
			return 0;
		} else if (!strcmp(a, "--json")) {
			opt.json = 1;
		} else if (!strcmp(a, "--no-isa-compare")) {
			opt.all_isa = 0;
		} else if (!strcmp(a, "--no-views")) {
			opt.views = 0;
		} else if (!strcmp(a, "--reps") || !strcmp(a, "--size") || !strcmp(a, "--dat") ||
			   !strcmp(a, "--only") || !strcmp(a, "--json-out") ||
			   !strcmp(a, "--threads") || !strcmp(a, "--piece")) {
			if (!has_val)
				return usage_err(prog, "option '%s' needs a value", a);
			i++;
			if (!strcmp(a, "--reps")) {
				if (parse_num(argv[i], 1, MAX_REPS, &num))
					return usage_err(prog, "--reps: '%s' is not a number in 1..31",
							 argv[i]);
				opt.reps = (unsigned int)num;
			} else if (!strcmp(a, "--size")) {
				if (parse_num(argv[i], 8, 1ul << 20, &num))
					return usage_err(prog, "--size: '%s' is not a number of MiB >= 8",
							 argv[i]);
				opt.mib = num;
			} else if (!strcmp(a, "--piece")) {
				if (parse_num(argv[i], 1, 512, &num))
					return usage_err(prog, "--piece: '%s' is not a number of KiB in 1..512",
							 argv[i]);
				opt.piece_kib = (unsigned int)num;
			} else if (!strcmp(a, "--threads")) {
				if (parse_num(argv[i], 1, MAX_THREADS, &num))
					return usage_err(prog, "--threads: '%s' is not a number in 1..16",
							 argv[i]);
				opt.threads = (unsigned int)num;
			} else if (!strcmp(a, "--dat")) {
				opt.dat = argv[i];
			} else if (!strcmp(a, "--only")) {
				if (strcmp(argv[i], "int8") && strcmp(argv[i], "fp16"))
					return usage_err(prog, "--only: '%s' is neither int8 nor fp16",
							 argv[i]);
				opt.only = argv[i];
			} else {
				opt.json_out = argv[i];
			}
		} else {
			return usage_err(prog, "unknown argument '%s'", a);
		}
	}
	__builtin_cpu_init();
	have_avx2 = __builtin_cpu_supports("avx2");
	have_avx512 = __builtin_cpu_supports("avx512f");
	/* The variant the library would use (CXLMS_FORCE_ISA honoured). */
	for (i = 0; i < CXLMS_ISA_COUNT; i++)
		if (!strcmp(cxlms_simd_isa_name(), cxlms_simd_isa_str((enum cxlms_simd_isa)i)))
			best = (enum cxlms_simd_isa)i;
	note = cxlms_simd_isa_note();
	if (note)
		fprintf(stderr, "cxlms-bench: %s\n", note);
	cpu_model(cpu, sizeof(cpu));
	if ((size_t)llc_bytes() * 4 > opt.mib << 20)
		fprintf(stderr, "cxlms-bench: warning: %zu MiB is not much larger than the LLC\n",
			opt.mib);

	out_len = 4u << 20;	/* the largest tile output (16-bit at k=16 INT: 1 MiB) and more */
	for (i = 0; i < (int)opt.threads; i++)
		out_bufs[i] = big_alloc(out_len);
	store_build(&s8, "int8", CXLMS_FMT_INT8, opt.mib);
	/* FP16 rather than BF16: its INT output exists from k = 6 (BF16: 9). */
	store_build(&s16, "fp16", CXLMS_FMT_FP16, opt.mib);
	packed_buf = big_alloc((size_t)s8.n_tiles * packed_chunk(&s8, 8) +
			       (size_t)s16.n_tiles * packed_chunk(&s16, 16));
	big_dst = big_alloc(s8.input_bytes > s16.input_bytes ? s8.input_bytes : s16.input_bytes);

	if (!opt.only || !strcmp(opt.only, "int8"))
		bench_store(&s8, best, &res[0]);
	if (!opt.only || !strcmp(opt.only, "fp16"))
		bench_store(&s16, best, &res[1]);
	if (opt.only) {
		/* A partial run (for tuning): figures only, no target verdicts. */
		print_text(&res[strcmp(opt.only, "int8") ? 1 : 0], 1, cpu,
			   cxlms_simd_isa_str(best), tg, 0);
		return 0;
	}
	/* A quarter of the store size: the view, its copy and the file's pages. */
	if (opt.views)
		cxlms_bench_view_run(opt.mib / 4 ? opt.mib / 4 : 1, opt.reps);
	ntg = judge(&res[0], &res[1], tg);
	if (opt.json)
		print_json(stdout, res, 2, cpu, cxlms_simd_isa_str(best), tg, ntg);
	else
		print_text(res, 2, cpu, cxlms_simd_isa_str(best), tg, ntg);
	if (opt.json_out) {
		FILE *f = fopen(opt.json_out, "w");

		if (!f) {
			perror(opt.json_out);
			return 1;
		}
		print_json(f, res, 2, cpu, cxlms_simd_isa_str(best), tg, ntg);
		fclose(f);
	}
	if (opt.dat) {
		snprintf(path, sizeof(path), "%s-int8.dat", opt.dat);
		write_dat(&res[0], path);
		snprintf(path, sizeof(path), "%s-fp16.dat", opt.dat);
		write_dat(&res[1], path);
	}
	return 0;
}
