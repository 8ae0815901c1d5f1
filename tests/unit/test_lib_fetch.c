// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_fetch*(): every (tile, bits, out, recon) against the codec run
 * directly on the same tile bytes read from the file; multi-tile
 * concatenation; argument errors that write nothing and count nothing;
 * counters exact per plane and per tensor, also with concurrent fetchers.
 *
 * With CXLMS_TEST_DEVICE=/dev/cxlmsN (the QEMU guest, root, no store
 * attached) every case runs against the kernel backend instead: the store
 * file is copied into a fresh RAM store on the device (cxlms_copy_store)
 * and the device is what the cases fetch from, while the reference is
 * still the codec on the file's bytes.  test_backend says which ran.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
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

struct fx {
	struct cxlms_ctx *ctx;
	char *dir, *st, *path;
	struct cxlms_store *s;
	struct cxlms_tensor *t[N_T];
	uint8_t *img;			/* the store file, read independently */
	size_t len;
	const struct cxlms_dirent *d[N_T];
	const char *dev;		/* CXLMS_TEST_DEVICE: fx->s is the device */
};

/* A RAM store on the device holding a copy of the store file. */
static int open_on_device(struct fx *fx, const char *dev)
{
	struct cxlms_attach_opts ao = {
		.bytes = 16u << 20,
		.flags = CXLMS_ATTACH_OPT_FORMAT,
	};
	struct cxlms_store *file;
	int rc;

	rc = cxlms_open(fx->ctx, fx->path, 0, &file);
	if (rc)
		return rc;
	rc = cxlms_attach(fx->ctx, dev, &ao);
	if (!rc) {
		fx->dev = dev;
		rc = cxlms_copy_store(fx->ctx, file, dev, NULL, NULL);
	}
	if (!rc)
		rc = cxlms_open(fx->ctx, dev, 0, &fx->s);
	/* The device's counters outlive stores: start every case from zero. */
	if (!rc)
		rc = cxlms_store_reset_stats(fx->s);
	cxlms_store_unref(file);
	return rc;
}

/*
 * A store with one tensor of each format, written with the library's
 * store writer (lib/writer.h) from random codes, scales and 16-bit
 * patterns placed by the codec: w INT8 45 x 200, groups of 64, tiles of 8
 * rows (the last of 5); v BF16 20 x 50 in tiles of 6 rows; h FP16 [33].
 */
static int write_store(const char *path)
{
	static const struct cxlms_tensor_spec spec[N_T] = {
		{ .name = "w", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
		  .ndim = 2, .shape = { 45, 200 }, .group_size = 64, .tile_rows = 8 },
		{ .name = "v", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_BF16,
		  .ndim = 2, .shape = { 20, 50 }, .tile_rows = 6 },
		{ .name = "h", .src_dtype = CXLMS_DTYPE_F16, .fmt = CXLMS_FMT_FP16,
		  .ndim = 1, .shape = { 33 } },
	};
	uint64_t seed = 11;

	return tu_write_random_store(path, spec, N_T, &seed, 7);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const struct cxlms_sb *sb;
	unsigned int k;

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir)
		return -1;
	fx->st = tu_path(fx->dir, "m.safetensors");
	fx->path = tu_path(fx->dir, "m.cxlms");
	if (write_store(fx->path))
		return -1;
	fx->img = tu_read_file(fx->path, &fx->len);
	if (!fx->img)
		return -1;
	if (getenv("CXLMS_TEST_DEVICE") && *getenv("CXLMS_TEST_DEVICE")) {
		if (open_on_device(fx, getenv("CXLMS_TEST_DEVICE")))
			return -1;
	} else if (cxlms_open(fx->ctx, fx->path, 0, &fx->s)) {
		return -1;
	}
	sb = (const struct cxlms_sb *)fx->img;
	for (k = 0; k < N_T; k++) {
		if (cxlms_tensor_lookup(fx->s, names[k], &fx->t[k]))
			return -1;
		fx->d[k] = (const struct cxlms_dirent *)(fx->img + sb->dir_off) + k;
		if (strcmp(fx->d[k]->name, names[k]))
			return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cxlms_store_unref(fx->s);
	if (fx->dev)
		cxlms_detach(fx->ctx, fx->dev);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->st);
	free(fx->path);
	free(fx->img);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

/* The same tile fetched by the codec straight from the file's bytes. */
static int64_t ref_fetch(struct fx *fx, unsigned int k, unsigned int tile,
			 unsigned int bits, unsigned int out, unsigned int recon,
			 void *buf, size_t len, struct cxlms_fetch_layout *fl)
{
	const struct cxlms_dirent *d = fx->d[k];
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout l;
	uint32_t n = cxlms_dirent_tile_elems(d, tile);
	int rc;

	cxlms_dirent_geom(d, &g);
	assert_int_equal(cxlms_tile_layout(&g, &l), 0);
	rc = cxlms_fetch_layout(&g, n, bits, out, recon, fl);
	if (rc)
		return rc;
	if (!buf)
		return 0;
	return cxlms_fetch_tile(fx->img + d->tile_off + tile * l.tile_bytes, &g, n,
				bits, out, recon, buf, len);
}

/*
 * The cases run on the backend CXLMS_TEST_DEVICE selects: the kernel one
 * in the QEMU guest, the file one (and only it) everywhere else.
 */
static void test_backend(void **state)
{
	struct fx *fx = *state;

	if (!fx->dev) {
		print_message("# file backend: CXLMS_TEST_DEVICE unset (the kernel run is in the QEMU guest)\n");
		assert_string_equal(cxlms_store_get_backend(fx->s), "file");
		return;
	}
	assert_string_equal(cxlms_store_get_backend(fx->s), "kernel");
}

static void test_geometry(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *w = fx->t[0];

	assert_int_equal(cxlms_tensor_get_tile_count(w), 6);
	assert_int_equal(cxlms_tensor_get_tile_rows(w), 8);
	assert_int_equal(cxlms_tensor_get_tile_elems(w, 0), 8 * 200);
	assert_int_equal(cxlms_tensor_get_tile_elems(w, 5), 5 * 200);
	assert_int_equal(cxlms_tensor_get_tile_elems(w, 6), 0);
	assert_int_equal(cxlms_tensor_get_planes(w), 8);
	assert_int_equal(cxlms_tensor_get_group_size(w), 64);
	assert_true(cxlms_tensor_get_stored_bytes(w) >= 45 * 200);
}

/* Every combination, compared with the codec; errors must match too. */
static void test_against_codec(void **state)
{
	struct fx *fx = *state;
	unsigned int k, tile, bits, out, recon;
	uint8_t *a = malloc(1 << 20), *b = malloc(1 << 20);
	unsigned long compared = 0;

	for (k = 0; k < N_T; k++) {
		struct cxlms_tensor *t = fx->t[k];

		for (tile = 0; tile < cxlms_tensor_get_tile_count(t); tile++)
		for (bits = 1; bits <= cxlms_tensor_get_planes(t); bits++)
		for (out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++)
		for (recon = CXLMS_RECON_DEFAULT; recon <= CXLMS_RECON_TABLE; recon++) {
			struct cxlms_fetch_layout fl;
			struct cxlms_fetch_info fi;
			int64_t want, got;

			want = ref_fetch(fx, k, tile, bits, out, recon, NULL, 0, &fl);
			got = cxlms_fetch(fx->s, t, tile, bits, out, recon, a, 1 << 20);
			if (want < 0) {
				assert_int_equal(got, want);
				assert_int_equal(cxlms_fetch_info(t, tile, bits, out, recon, &fi),
						 want);
				continue;
			}
			assert_int_equal(ref_fetch(fx, k, tile, bits, out, recon, b,
						   1 << 20, &fl), (int64_t)fl.total);
			assert_int_equal(got, (int64_t)fl.total);
			assert_memory_equal(a, b, fl.total);
			assert_int_equal(cxlms_fetch_info(t, tile, bits, out, recon, &fi), 0);
			assert_int_equal(fi.total, fl.total);
			assert_int_equal(fi.data_len, fl.data_len);
			assert_int_equal(fi.scales_off, fl.scales_off);
			assert_int_equal(fi.scales_len, fl.scales_len);
			assert_int_equal(fi.levels_off, fl.levels_off);
			assert_int_equal(fi.levels_len, fl.levels_len);
			assert_int_equal(fi.bytes_read, fl.read_planes * bits + fl.read_side);
			compared++;
		}
	}
	assert_true(compared > 1000);
	free(a);
	free(b);
}

static void test_multi_tile(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *w = fx->t[0];
	unsigned int first, count, tile, n = cxlms_tensor_get_tile_count(w);
	uint8_t *a = malloc(1 << 20), *b = malloc(1 << 20);

	for (first = 0; first < n; first++) {
		for (count = 1; first + count <= n; count++) {
			int64_t size = cxlms_fetch_size(w, first, count, 3, CXLMS_OUT_PACKED, 0);
			uint64_t off = 0;

			for (tile = first; tile < first + count; tile++) {
				int64_t r = cxlms_fetch(fx->s, w, tile, 3, CXLMS_OUT_PACKED, 0,
							b + off, (1 << 20) - off);

				assert_true(r > 0);
				off += (uint64_t)r;
			}
			assert_int_equal(size, (int64_t)off);
			assert_int_equal(cxlms_fetch_tiles(fx->s, w, first, count, 3,
							   CXLMS_OUT_PACKED, 0, a, (size_t)size),
					 size);
			assert_memory_equal(a, b, off);
		}
	}
	/* F32 of every tile is the tensor in row-major order: 45 x 200 floats */
	assert_int_equal(cxlms_fetch_tiles(fx->s, w, 0, n, 8, CXLMS_OUT_F32, 0, a, 1 << 20),
			 45 * 200 * 4);
	free(a);
	free(b);
}

static void test_enospc_writes_nothing(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *w = fx->t[0];
	struct cxlms_stats before, after;
	int64_t size = cxlms_fetch_size(w, 1, 5, 4, CXLMS_OUT_INT, CXLMS_RECON_FLOOR);
	uint8_t *buf = malloc((size_t)size), *pattern = malloc((size_t)size);

	assert_true(size > 0);
	memset(pattern, 0xa5, (size_t)size);
	memcpy(buf, pattern, (size_t)size);
	assert_int_equal(cxlms_store_get_stats(fx->s, &before), 0);
	/* one byte short: even the tiles that would fit are not written */
	assert_int_equal(cxlms_fetch_tiles(fx->s, w, 1, 5, 4, CXLMS_OUT_INT,
					   CXLMS_RECON_FLOOR, buf, (size_t)size - 1),
			 -ENOSPC);
	assert_memory_equal(buf, pattern, (size_t)size);
	assert_int_equal(cxlms_fetch(fx->s, w, 0, 4, CXLMS_OUT_INT, 0, buf, 0), -ENOSPC);
	assert_memory_equal(buf, pattern, (size_t)size);
	assert_int_equal(cxlms_store_get_stats(fx->s, &after), 0);
	assert_memory_equal(&before, &after, sizeof(before));
	/* exactly enough is enough */
	assert_int_equal(cxlms_fetch_tiles(fx->s, w, 1, 5, 4, CXLMS_OUT_INT,
					   CXLMS_RECON_FLOOR, buf, (size_t)size), size);
	free(buf);
	free(pattern);
}

static void test_bad_arguments(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *w = fx->t[0], *v = fx->t[1], *other;
	struct cxlms_store *s2;
	struct cxlms_stats before, after;
	struct cxlms_fetch_info fi;
	unsigned int n = cxlms_tensor_get_tile_count(w);
	static uint8_t buf[1 << 20], pattern[1 << 20];
	static const struct {
		int tensor;
		unsigned int tile, count, bits, out, recon;
		int err;
	} c[] = {
		{ 0, 6, 1, 8, CXLMS_OUT_INT, 0, -EINVAL },		/* tile == n_tiles */
		{ 0, UINT_MAX, 1, 8, CXLMS_OUT_INT, 0, -EINVAL },
		{ 0, 0, 0, 8, CXLMS_OUT_INT, 0, -EINVAL },		/* no tiles */
		{ 0, 1, UINT_MAX, 8, CXLMS_OUT_INT, 0, -EINVAL },	/* wraps */
		{ 0, 2, 5, 8, CXLMS_OUT_INT, 0, -EINVAL },		/* past the end */
		{ 0, 0, 1, 0, CXLMS_OUT_INT, 0, -EOPNOTSUPP },	/* bits 0 */
		{ 0, 0, 1, 9, CXLMS_OUT_INT, 0, -EOPNOTSUPP },	/* > planes */
		/* policy bits with no maps published yet */
		{ 0, 0, 1, CXLMS_BITS_POLICY, CXLMS_OUT_INT, 0, -ENODATA },
		{ 0, 0, 1, 8, 0, 0, -EINVAL },			/* out */
		{ 0, 0, 1, 8, CXLMS_OUT_BF16 + 1, 0, -EINVAL },
		{ 0, 0, 1, 8, CXLMS_OUT_INT, CXLMS_RECON_TABLE + 1, -EINVAL },
		{ 1, 0, 1, 17, CXLMS_OUT_INT, 0, -EOPNOTSUPP },	/* 16-bit */
		{ 1, 0, 1, 12, CXLMS_OUT_INT, CXLMS_RECON_TABLE, -EOPNOTSUPP },
		{ 1, 0, 1, 8, CXLMS_OUT_F32, 0, -EOPNOTSUPP },	/* bf16 below 9 */
	};
	size_t i;

	memset(pattern, 0x5a, sizeof(pattern));
	memcpy(buf, pattern, sizeof(buf));
	assert_int_equal(cxlms_store_get_stats(fx->s, &before), 0);
	assert_true(n == 6);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct cxlms_tensor *t = fx->t[c[i].tensor];
		int64_t rc = cxlms_fetch_tiles(fx->s, t, c[i].tile, c[i].count,
					       c[i].bits, c[i].out, c[i].recon,
					       buf, sizeof(buf));
		int err = c[i].err;
		if (rc != err) {
			print_error("case %zu: got %lld, want %d\n", i, (long long)rc, err);
			fail();
		}
		assert_int_equal(cxlms_fetch_size(t, c[i].tile, c[i].count, c[i].bits,
						  c[i].out, c[i].recon), err);
		if (c[i].count == 1)
			assert_int_equal(cxlms_fetch_info(t, c[i].tile, c[i].bits, c[i].out,
							  c[i].recon, &fi), err);
	}
	/* NULLs, a tensor of another store, no buffer */
	assert_int_equal(cxlms_fetch(NULL, w, 0, 8, CXLMS_OUT_INT, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(cxlms_fetch(fx->s, NULL, 0, 8, CXLMS_OUT_INT, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(cxlms_fetch(fx->s, w, 0, 8, CXLMS_OUT_INT, 0, NULL, sizeof(buf)), -EINVAL);
	assert_int_equal(cxlms_open(fx->ctx, fx->path, 0, &s2), 0);
	assert_int_equal(cxlms_tensor_lookup(s2, "w", &other), 0);
	assert_int_equal(cxlms_fetch(fx->s, other, 0, 8, CXLMS_OUT_INT, 0, buf, sizeof(buf)),
			 -EINVAL);
	cxlms_store_unref(s2);
	assert_int_equal(cxlms_fetch_info(NULL, 0, 8, CXLMS_OUT_INT, 0, &fi), -EINVAL);
	assert_int_equal(cxlms_fetch_info(w, 0, 8, CXLMS_OUT_INT, 0, NULL), -EINVAL);
	(void)v;

	assert_memory_equal(buf, pattern, sizeof(buf));
	assert_int_equal(cxlms_store_get_stats(fx->s, &after), 0);
	assert_memory_equal(&before, &after, sizeof(before));
}

/* --- counters ------------------------------------------------------------------- */

struct expect {
	struct cxlms_stats t[N_T];
};

/* What fetching [first, first + count) must add, from the codec's layouts. */
static void expect_add(struct fx *fx, struct expect *e, unsigned int k,
		       unsigned int first, unsigned int count, unsigned int bits,
		       unsigned int out, unsigned int recon)
{
	unsigned int tile, p;

	for (tile = first; tile < first + count; tile++) {
		struct cxlms_fetch_layout fl;

		assert_int_equal(ref_fetch(fx, k, tile, bits, out, recon, NULL, 0, &fl), 0);
		e->t[k].fetches++;
		for (p = 0; p < bits; p++)
			e->t[k].plane_bytes[p] += fl.read_planes;
		e->t[k].side_bytes += fl.read_side;
		e->t[k].out_bytes += fl.total;
	}
}

static void fetch_counted(struct fx *fx, struct expect *e, uint8_t *buf, size_t len,
			  unsigned int k, unsigned int first, unsigned int count,
			  unsigned int bits, unsigned int out, unsigned int recon)
{
	int64_t size = cxlms_fetch_size(fx->t[k], first, count, bits, out, recon);

	assert_true(size > 0 && (size_t)size <= len);
	assert_int_equal(cxlms_fetch_tiles(fx->s, fx->t[k], first, count, bits, out,
					   recon, buf, len), size);
	expect_add(fx, e, k, first, count, bits, out, recon);
}

static void check_stats(struct fx *fx, const struct expect *e)
{
	struct cxlms_stats got, sum;
	unsigned int k, p;

	memset(&sum, 0, sizeof(sum));
	for (k = 0; k < N_T; k++) {
		assert_int_equal(cxlms_tensor_get_stats(fx->t[k], &got), 0);
		assert_memory_equal(&got, &e->t[k], sizeof(got));
		sum.fetches += e->t[k].fetches;
		for (p = 0; p < CXLMS_MAX_PLANES; p++)
			sum.plane_bytes[p] += e->t[k].plane_bytes[p];
		sum.side_bytes += e->t[k].side_bytes;
		sum.out_bytes += e->t[k].out_bytes;
	}
	assert_int_equal(cxlms_store_get_stats(fx->s, &got), 0);
	assert_memory_equal(&got, &sum, sizeof(got));
}

static void test_stats_exact(void **state)
{
	struct fx *fx = *state;
	static uint8_t buf[1 << 20];
	struct expect e;
	struct cxlms_stats st;
	unsigned int p;

	memset(&e, 0, sizeof(e));
	assert_int_equal(cxlms_store_reset_stats(fx->s), 0);
	check_stats(fx, &e);
	fetch_counted(fx, &e, buf, sizeof(buf), 0, 0, 1, 3, CXLMS_OUT_PACKED, 0);
	fetch_counted(fx, &e, buf, sizeof(buf), 0, 2, 4, 5, CXLMS_OUT_F32, CXLMS_RECON_MIDPOINT);
	fetch_counted(fx, &e, buf, sizeof(buf), 0, 5, 1, 8, CXLMS_OUT_PLANES, CXLMS_RECON_TABLE);
	fetch_counted(fx, &e, buf, sizeof(buf), 1, 3, 1, 12, CXLMS_OUT_INT, 0);
	fetch_counted(fx, &e, buf, sizeof(buf), 1, 0, 4, 16, CXLMS_OUT_BF16, CXLMS_RECON_FLOOR);
	fetch_counted(fx, &e, buf, sizeof(buf), 2, 0, 1, 7, CXLMS_OUT_PLANES, 0);
	check_stats(fx, &e);

	/* a failed fetch counts nothing */
	assert_int_equal(cxlms_fetch(fx->s, fx->t[0], 0, 3, CXLMS_OUT_PACKED, 0, buf, 1),
			 -ENOSPC);
	check_stats(fx, &e);

	/* reset clears the store and every tensor */
	assert_int_equal(cxlms_store_reset_stats(fx->s), 0);
	memset(&e, 0, sizeof(e));
	check_stats(fx, &e);

	/* the whole INT8 tensor at k reads exactly k/8 of its planes */
	assert_int_equal(cxlms_fetch_tiles(fx->s, fx->t[0], 0, 6, 8, CXLMS_OUT_PLANES, 0,
					   buf, sizeof(buf)) > 0, 1);
	assert_int_equal(cxlms_tensor_get_stats(fx->t[0], &st), 0);
	{
		uint64_t all = 0, at3 = 0, side8 = st.side_bytes;

		for (p = 0; p < 8; p++)
			all += st.plane_bytes[p];
		assert_int_equal(cxlms_store_reset_stats(fx->s), 0);
		assert_true(cxlms_fetch_tiles(fx->s, fx->t[0], 0, 6, 3, CXLMS_OUT_PACKED, 0,
					      buf, sizeof(buf)) > 0);
		assert_int_equal(cxlms_tensor_get_stats(fx->t[0], &st), 0);
		for (p = 0; p < 8; p++)
			at3 += st.plane_bytes[p];
		assert_int_equal(at3 * 8, all * 3);
		assert_int_equal(st.plane_bytes[3], 0);
		/* scales of 45 rows x 4 groups, and 8 levels of k = 3 per tile */
		assert_int_equal(st.side_bytes, 45 * 4 * 2 + 6 * 8 * 2);
		assert_true(side8 >= 45 * 4 * 2);
	}
	assert_int_equal(cxlms_store_get_stats(NULL, &st), -EINVAL);
	assert_int_equal(cxlms_tensor_get_stats(fx->t[0], NULL), -EINVAL);
}

/* --- concurrency -------------------------------------------------------------------- */

struct worker {
	struct fx *fx;
	uint64_t seed;
	struct expect e;
	int failures;
};

#define WORKER_FETCHES 400

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct fx *fx = wk->fx;
	uint8_t *buf = malloc(1 << 20);
	int i;

	for (i = 0; buf && i < WORKER_FETCHES; i++) {
		unsigned int k = (unsigned int)(tu_rng(&wk->seed) % N_T);
		struct cxlms_tensor *t = fx->t[k];
		unsigned int n = cxlms_tensor_get_tile_count(t);
		unsigned int planes = cxlms_tensor_get_planes(t);
		unsigned int first = (unsigned int)(tu_rng(&wk->seed) % n);
		unsigned int count = 1 + (unsigned int)(tu_rng(&wk->seed) % (n - first));
		unsigned int bits = 1 + (unsigned int)(tu_rng(&wk->seed) % planes);
		unsigned int out = CXLMS_OUT_PLANES + (unsigned int)(tu_rng(&wk->seed) % 3);
		unsigned int tile, p;
		int64_t r;

		/* 16-bit INT output needs the whole exponent: BF16 >= 9, FP16 >= 6 bits */
		if (out == CXLMS_OUT_INT && planes == 16 && bits < 9)
			bits = 9;
		r = cxlms_fetch_tiles(fx->s, t, first, count, bits, out, 0, buf, 1 << 20);
		if (r <= 0) {
			wk->failures++;
			continue;
		}
		/* tally with the codec's layouts (no cmocka asserts off the main thread) */
		for (tile = first; tile < first + count; tile++) {
			struct cxlms_fetch_layout fl;
			struct cxlms_tile_geom g;

			cxlms_dirent_geom(fx->d[k], &g);
			if (cxlms_fetch_layout(&g, cxlms_dirent_tile_elems(fx->d[k], tile),
					       bits, out, 0, &fl)) {
				wk->failures++;
				continue;
			}
			wk->e.t[k].fetches++;
			for (p = 0; p < bits; p++)
				wk->e.t[k].plane_bytes[p] += fl.read_planes;
			wk->e.t[k].side_bytes += fl.read_side;
			wk->e.t[k].out_bytes += fl.total;
		}
	}
	if (!buf)
		wk->failures++;
	free(buf);
	return NULL;
}

static void test_concurrent_counters(void **state)
{
	struct fx *fx = *state;
	struct worker wk[4];
	pthread_t th[4];
	struct expect total;
	unsigned int i, k, p;

	memset(&total, 0, sizeof(total));
	assert_int_equal(cxlms_store_reset_stats(fx->s), 0);
	for (i = 0; i < 4; i++) {
		memset(&wk[i], 0, sizeof(wk[i]));
		wk[i].fx = fx;
		wk[i].seed = 0x1234 + i;
		if (pthread_create(&th[i], NULL, worker_main, &wk[i])) {
			while (i--)
				pthread_join(th[i], NULL);
			fail_msg("pthread_create");
		}
	}
	/* join every thread before any assert can end the test and unmap the store */
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 4; i++) {
		assert_int_equal(wk[i].failures, 0);
		for (k = 0; k < N_T; k++) {
			total.t[k].fetches += wk[i].e.t[k].fetches;
			for (p = 0; p < CXLMS_MAX_PLANES; p++)
				total.t[k].plane_bytes[p] += wk[i].e.t[k].plane_bytes[p];
			total.t[k].side_bytes += wk[i].e.t[k].side_bytes;
			total.t[k].out_bytes += wk[i].e.t[k].out_bytes;
		}
	}
	assert_true(total.t[0].fetches + total.t[1].fetches + total.t[2].fetches >=
		    4 * WORKER_FETCHES);
	check_stats(fx, &total);
}

/* --- lookup in a store of many tensors -------------------------------------------- */

static void test_many_tensors(void **state)
{
	struct fx *fx = *state;
	enum { N = 1500 };
	struct tu_st_tensor *in = calloc(N, sizeof(*in));
	char (*nm)[32] = calloc(N, sizeof(*nm));
	int8_t data[8] = { 1, -2, 3, -4, 5, -6, 7, -8 };
	char *st = tu_path(fx->dir, "many.safetensors"), *out = tu_path(fx->dir, "many.cxlms");
	struct cxlms_store *s;
	struct cxlms_tensor *t;
	unsigned int i;

	for (i = 0; i < N; i++) {
		snprintf(nm[i], sizeof(nm[i]), "model.layers.%u.mlp.w%u", i / 7, i % 7);
		in[i] = (struct tu_st_tensor){ .name = nm[i], .dtype = "I8", .ndim = 1,
					       .shape = { 8 }, .data = data, .len = 8 };
	}
	assert_int_equal(tu_st_write(st, in, N), 0);
	assert_int_equal(cxlms_import_safetensors(fx->ctx, st, out, NULL), 0);
	assert_int_equal(cxlms_open(fx->ctx, out, 0, &s), 0);
	assert_int_equal(cxlms_store_get_tensor_count(s), N);
	for (i = 0; i < N; i++) {
		assert_int_equal(cxlms_tensor_lookup(s, nm[i], &t), 0);
		assert_int_equal(cxlms_tensor_get_index(t), i);
		assert_string_equal(cxlms_tensor_get_name(t), nm[i]);
	}
	assert_int_equal(cxlms_tensor_lookup(s, "model.layers.0.mlp", &t), -ENOENT);
	assert_int_equal(cxlms_tensor_lookup(s, "", &t), -ENOENT);
	assert_int_equal(cxlms_tensor_lookup(s, NULL, &t), -EINVAL);
	i = 0;
	cxlms_tensor_foreach(s, t)
		assert_int_equal(cxlms_tensor_get_index(t), i++);
	assert_int_equal(i, N);
	cxlms_store_unref(s);
	free(in);
	free(nm);
	free(st);
	free(out);
}

/*
 * cxlms_fetch_pieces() gives the bytes of cxlms_fetch() in order, on
 * either backend, for every tile, precision and output, with pieces of
 * one block (512 elements: w's tiles are 1600, four pieces, the last
 * short), of about 700 bytes and of the default size; errors are the
 * fetch's, before any piece.
 */
static void test_pieces_match_fetch(void **state)
{
	static const size_t sizes[] = { 1, 700, 0 };
	struct fx *fx = *state;
	unsigned int k, tile, bits, out, recon, i, multi = 0, checked = 0;

	for (k = 0; k < N_T; k++) {
		struct cxlms_tensor *t = fx->t[k];

		for (tile = 0; tile < cxlms_tensor_get_tile_count(t); tile++)
		for (bits = 1; bits <= cxlms_tensor_get_planes(t) + 1; bits++)
		for (out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++)
		for (recon = CXLMS_RECON_DEFAULT; recon <= CXLMS_RECON_TABLE; recon++)
		for (i = 0; i < 3; i++) {
			struct tu_pieces_result r;
			int rc = tu_check_pieces(fx->s, t, tile, bits, out, recon,
						 sizes[i], &r);

			if (r.mismatch)
				fail_msg("%s tile %u bits %u out %u recon %u piece %zu: %s (rc %d)",
					 names[k], tile, bits, out, recon, sizes[i],
					 r.mismatch, rc);
			if (!rc)
				checked++;
			multi += r.n_pieces > 1;
		}
	}
	assert_true(checked > 1000);
	assert_true(multi > 100);
	/* Not a valid request at all: refused before any piece, -EINVAL. */
	assert_int_equal(cxlms_fetch_pieces(fx->s, fx->t[0], 0, 8, CXLMS_OUT_INT, 0, 0,
					    NULL, NULL), -EINVAL);
	assert_int_equal(cxlms_fetch_pieces(NULL, fx->t[0], 0, 8, CXLMS_OUT_INT, 0, 0,
					    NULL, NULL), -EINVAL);
}

struct stop_after {
	unsigned int calls, stop_at;
};

static int stop_consumer(void *arg, const struct cxlms_piece *p)
{
	struct stop_after *sa = arg;

	(void)p;
	return ++sa->calls == sa->stop_at ? -ECANCELED : 0;
}

/*
 * A consumer that stops gets no more pieces and its answer comes back;
 * the counters say what was read: on the file backend the planes of the
 * pieces handed out (two of four), on a device the whole tile it fetched.
 */
static void test_pieces_stop(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *w = fx->t[0];
	struct stop_after sa = { 0, 2 };
	struct cxlms_stats st;

	assert_int_equal(cxlms_store_reset_stats(fx->s), 0);
	assert_int_equal(cxlms_fetch_pieces(fx->s, w, 0, 4, CXLMS_OUT_INT, 0, 1,
					    stop_consumer, &sa), -ECANCELED);
	assert_int_equal(sa.calls, 2);
	assert_int_equal(cxlms_tensor_get_stats(w, &st), 0);
	assert_int_equal(st.fetches, 1);
	assert_int_equal(st.plane_bytes[3], fx->dev ? 200 : 2 * 512 / 8);
	assert_int_equal(st.plane_bytes[4], 0);
	sa = (struct stop_after){ 0, 0 };	/* never stops */
	assert_int_equal(cxlms_fetch_pieces(fx->s, w, 0, 4, CXLMS_OUT_INT, 0, 1,
					    stop_consumer, &sa), 0);
	assert_int_equal(sa.calls, 4);
	assert_int_equal(cxlms_tensor_get_stats(w, &st), 0);
	assert_int_equal(st.fetches, 2);
	assert_int_equal(st.plane_bytes[3], fx->dev ? 400 : 2 * 512 / 8 + 200);
}

/*
 * Media error count: a store file has none; the kernel backend (ABI 3)
 * reads STATS media_errors, and a clean fetch adds nothing to it.
 */
static void test_media_errors(void **state)
{
	struct fx *fx = *state;
	uint64_t before = UINT64_MAX, after = UINT64_MAX;
	int64_t size = cxlms_fetch_size(fx->t[0], 0, 1, 8, CXLMS_OUT_PLANES, 0);
	uint8_t *buf = malloc((size_t)size);

	assert_int_equal(cxlms_store_get_media_errors(NULL, &before), -EINVAL);
	assert_int_equal(cxlms_store_get_media_errors(fx->s, NULL), -EINVAL);
	assert_int_equal(cxlms_store_get_media_errors(fx->s, &before), 0);
	if (!strcmp(cxlms_store_get_backend(fx->s), "file"))
		assert_int_equal(before, 0);
	assert_true(size > 0);
	assert_true(cxlms_fetch_tiles(fx->s, fx->t[0], 0, 1, 8, CXLMS_OUT_PLANES,
				      0, buf, (size_t)size) >= 0);
	assert_int_equal(cxlms_store_get_media_errors(fx->s, &after), 0);
	assert_int_equal(after, before);
	free(buf);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_backend),
		T(test_geometry),
		T(test_against_codec),
		T(test_multi_tile),
		T(test_enospc_writes_nothing),
		T(test_bad_arguments),
		T(test_stats_exact),
		T(test_concurrent_counters),
		T(test_many_tensors),
		T(test_pieces_match_fetch),
		T(test_pieces_stop),
		T(test_media_errors),
	};

	return cmocka_run_group_tests_name("lib_fetch", tests, NULL, NULL);
}
