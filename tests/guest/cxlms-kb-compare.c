// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms-kb-compare: libcxlms' kernel backend against its file backend, in
 * one process, for stores that were copied into the device (cxlms copy).
 *
 *	cxlms-kb-compare DEVICE STORE...
 *
 * For every tensor of each STORE file, the tensor of the same name on
 * DEVICE must have the same geometry, and for every k (1..planes), output
 * and reconstruction mode: the same fetch size or the same error, the same
 * bytes for all tiles in one call, and the same counters (the device's,
 * per tensor and device-wide, moved by exactly what the file handle's
 * counted: planes 0..k-1 and nothing else).  The exhaustive companion of
 * lib-kernel.sh's `cxlms fetch` comparisons, which pay a process per fetch.
 * Then cxlms_gemv()/cxlms_gemm() on both handles (issue 11, kernel backend):
 * for every k, recon and activation mode, a whole-tensor and a partial row
 * range and a batch, y bit-identical (the same kernels run on the same
 * planes: mapped on the file, PLANES fetches from the device), the device
 * counting planes 0..k-1 only (a whole tensor: exactly the file's counts).
 * Exit: 0 all equal, 1 a difference, 2 usage or setup error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libcxlms.h>

#define PROG	"cxlms-kb-compare"

struct cmp_state {
	struct cxlms_store *dev, *file;
	uint8_t *a, *b;
	size_t len;
	unsigned long compared, refused;
	unsigned long gemv_compared, gemv_refused;
	unsigned int bad;
};

static void stats_delta(const struct cxlms_stats *before,
			const struct cxlms_stats *after, struct cxlms_stats *d)
{
	d->fetches = after->fetches - before->fetches;
	for (unsigned int p = 0; p < CXLMS_MAX_PLANES; p++)
		d->plane_bytes[p] = after->plane_bytes[p] - before->plane_bytes[p];
	d->side_bytes = after->side_bytes - before->side_bytes;
	d->out_bytes = after->out_bytes - before->out_bytes;
}

static int stats_now(struct cxlms_tensor *dt, struct cxlms_tensor *ft,
		     struct cxlms_store *dev, struct cxlms_stats st[3])
{
	if (cxlms_tensor_get_stats(dt, &st[0]) || cxlms_store_get_stats(dev, &st[1]) ||
	    cxlms_tensor_get_stats(ft, &st[2]))
		return -EIO;
	return 0;
}

/* One fetch of every tile from both; 0 equal, 1 different. */
static int compare_one(struct cmp_state *cs, struct cxlms_tensor *ft,
		       struct cxlms_tensor *dt, unsigned int bits,
		       unsigned int out, unsigned int recon)
{
	unsigned int n = cxlms_tensor_get_tile_count(ft);
	struct cxlms_stats before[3], after[3], dd, dw, df;
	const char *name = cxlms_tensor_get_name(ft);
	int64_t sf, sd, gf, gd;

	sf = cxlms_fetch_size(ft, 0, n, bits, out, recon);
	sd = cxlms_fetch_size(dt, 0, n, bits, out, recon);
	if (sf != sd)
		goto differ;
	if (sf < 0) {
		cs->refused++;
		return 0;
	}
	if ((uint64_t)sf > cs->len) {
		fprintf(stderr, PROG ": %s: %" PRId64 " bytes exceed the buffer\n", name, sf);
		return 1;
	}
	if (stats_now(dt, ft, cs->dev, before))
		return 1;
	memset(cs->a, 0xa5, (size_t)sf);
	memset(cs->b, 0x5a, (size_t)sf);
	gd = cxlms_fetch_tiles(cs->dev, dt, 0, n, bits, out, recon, cs->a, cs->len);
	gf = cxlms_fetch_tiles(cs->file, ft, 0, n, bits, out, recon, cs->b, cs->len);
	if (gd != sf || gf != sf || memcmp(cs->a, cs->b, (size_t)sf))
		goto differ;
	if (stats_now(dt, ft, cs->dev, after))
		return 1;
	stats_delta(&before[0], &after[0], &dd);
	stats_delta(&before[1], &after[1], &dw);
	stats_delta(&before[2], &after[2], &df);
	/* The module counts what it read; the library what the layout says. */
	if (memcmp(&dd, &df, sizeof(dd)) || memcmp(&dw, &df, sizeof(dw)))
		goto differ;
	for (unsigned int p = 0; p < CXLMS_MAX_PLANES; p++)
		if ((p < bits) != (dd.plane_bytes[p] > 0))
			goto differ;
	cs->compared++;
	return 0;
differ:
	fprintf(stderr, PROG ": %s k %u out %s recon %s: size %" PRId64 "/%" PRId64
		", bytes or counters differ\n", name, bits, cxlms_out_name(out),
		cxlms_recon_name(recon), sd, sf);
	return 1;
}

static int same_geometry(struct cxlms_tensor *a, struct cxlms_tensor *b)
{
	if (cxlms_tensor_get_format(a) != cxlms_tensor_get_format(b) ||
	    cxlms_tensor_get_src_dtype(a) != cxlms_tensor_get_src_dtype(b) ||
	    cxlms_tensor_get_ndim(a) != cxlms_tensor_get_ndim(b) ||
	    cxlms_tensor_get_rows(a) != cxlms_tensor_get_rows(b) ||
	    cxlms_tensor_get_cols(a) != cxlms_tensor_get_cols(b) ||
	    cxlms_tensor_get_group_size(a) != cxlms_tensor_get_group_size(b) ||
	    cxlms_tensor_get_planes(a) != cxlms_tensor_get_planes(b) ||
	    cxlms_tensor_get_tile_rows(a) != cxlms_tensor_get_tile_rows(b) ||
	    cxlms_tensor_get_tile_count(a) != cxlms_tensor_get_tile_count(b) ||
	    cxlms_tensor_get_stored_bytes(a) != cxlms_tensor_get_stored_bytes(b))
		return 0;
	for (unsigned int i = 0; i < cxlms_tensor_get_ndim(a); i++)
		if (cxlms_tensor_get_dim(a, i) != cxlms_tensor_get_dim(b, i))
			return 0;
	return 1;
}

/*
 * The counters a GEMV moves.  A whole-tensor call moves the same on both
 * backends (out_bytes aside: only a fetch has output).  A partial range
 * does not: the file backend reads the rows' bytes from its mapping, the
 * device serves whole tiles (PLANES fetches), so there only "planes
 * 0..k-1 and nothing else" holds.
 */
static int gemv_counts_ok(const struct cxlms_stats *d, const struct cxlms_stats *f,
			  unsigned int bits, int whole)
{
	if (!d->fetches || (whole && (d->fetches != f->fetches ||
				      d->side_bytes != f->side_bytes)))
		return 0;
	for (unsigned int p = 0; p < CXLMS_MAX_PLANES; p++)
		if ((whole && d->plane_bytes[p] != f->plane_bytes[p]) ||
		    (p < bits) != (d->plane_bytes[p] > 0))
			return 0;
	return 1;
}

/* One GEMM (n_vec 1: GEMV) of rows [row0, row0 + n) on both; 0 equal. */
static int gemv_one(struct cmp_state *cs, struct cxlms_tensor *ft,
		    struct cxlms_tensor *dt, unsigned int bits, unsigned int recon,
		    unsigned int flags, uint64_t row0, uint64_t n, unsigned int n_vec,
		    const float *x)
{
	struct cxlms_gemv_opts o = { .size = sizeof(o), .flags = flags, .recon = recon };
	uint64_t cols = cxlms_tensor_get_cols(ft);
	struct cxlms_stats before[3], after[3], dd, dw, df;
	const char *name = cxlms_tensor_get_name(ft);
	size_t ylen = (size_t)n * n_vec * sizeof(float);
	float *yd = (float *)cs->a, *yf = (float *)cs->b;
	const char *what = "counters";
	int rd, rf, whole;

	if (ylen > cs->len)
		return 0;
	if (stats_now(dt, ft, cs->dev, before))
		return 1;
	memset(yd, 0xa5, ylen);
	memset(yf, 0x5a, ylen);
	if (n_vec == 1) {
		rd = cxlms_gemv(cs->dev, dt, row0, n, bits, x, yd, &o);
		rf = cxlms_gemv(cs->file, ft, row0, n, bits, x, yf, &o);
	} else {
		rd = cxlms_gemm(cs->dev, dt, row0, n, bits, n_vec, x, cols, yd, n, &o);
		rf = cxlms_gemm(cs->file, ft, row0, n, bits, n_vec, x, cols, yf, n, &o);
	}
	if (rd != rf) {
		what = "return codes";
		goto differ;
	}
	if (rd < 0) {
		cs->gemv_refused++;
		return 0;
	}
	if (memcmp(yd, yf, ylen)) {
		what = "y";
		goto differ;
	}
	if (stats_now(dt, ft, cs->dev, after))
		return 1;
	stats_delta(&before[0], &after[0], &dd);
	stats_delta(&before[1], &after[1], &dw);
	stats_delta(&before[2], &after[2], &df);
	whole = row0 == 0 && n == cxlms_tensor_get_rows(ft);
	if (!gemv_counts_ok(&dd, &df, bits, whole) || memcmp(&dd, &dw, sizeof(dd)))
		goto differ;
	cs->gemv_compared++;
	return 0;
differ:
	fprintf(stderr, PROG ": %s: gemv k %u recon %s flags %#x rows %" PRIu64 "+%" PRIu64
		" x%u: rc %d/%d, %s differ\n", name, bits, cxlms_recon_name(recon),
		flags, row0, n, n_vec, rd, rf, what);
	return 1;
}

/* Every k x recon x activation mode of one tensor, two row ranges, a batch. */
static int gemv_tensor(struct cmp_state *cs, struct cxlms_tensor *ft,
		       struct cxlms_tensor *dt)
{
	const unsigned int n_vec = 3;
	uint64_t rows = cxlms_tensor_get_rows(ft), cols = cxlms_tensor_get_cols(ft);
	uint64_t row0 = rows / 3, n = rows - row0 > 1 ? (rows - row0) / 2 + 1 : rows - row0;
	uint32_t seed = 12345;
	unsigned int bad = 0;
	float *x;

	if (!rows || !cols)
		return 0;
	x = malloc(cols * n_vec * sizeof(float));
	if (!x) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	/* Deterministic activations in [-2, 2), with a few large columns. */
	for (uint64_t i = 0; i < cols * n_vec; i++) {
		seed = seed * 1664525u + 1013904223u;
		x[i] = (float)((int32_t)seed >> 8) / (float)(1 << 22);
		if (i % 97 == 5)
			x[i] *= 30.0f;
	}
	for (unsigned int bits = 1; bits <= cxlms_tensor_get_planes(ft); bits++)
		for (unsigned int r = CXLMS_RECON_DEFAULT; r <= CXLMS_RECON_TABLE; r++)
			for (unsigned int f = 0; f <= CXLMS_GEMV_Q8_ACT; f += CXLMS_GEMV_Q8_ACT) {
				bad += gemv_one(cs, ft, dt, bits, r, f, 0, rows, 1, x);
				bad += gemv_one(cs, ft, dt, bits, r, f, row0, n, 1, x);
				bad += gemv_one(cs, ft, dt, bits, r, f, row0, n, n_vec, x);
			}
	free(x);
	return bad;
}

static int compare_store(struct cmp_state *cs, const char *path)
{
	struct cxlms_tensor *ft, *dt;
	unsigned int tensors = 0;
	unsigned long before = cs->compared, gbefore = cs->gemv_compared;

	cxlms_tensor_foreach(cs->file, ft) {
		const char *name = cxlms_tensor_get_name(ft);

		if (cxlms_tensor_lookup(cs->dev, name, &dt)) {
			fprintf(stderr, PROG ": %s: tensor '%s' is not on the device\n",
				path, name);
			cs->bad++;
			continue;
		}
		if (!same_geometry(ft, dt)) {
			fprintf(stderr, PROG ": %s: tensor '%s': geometry differs\n", path, name);
			cs->bad++;
			continue;
		}
		for (unsigned int bits = 1; bits <= cxlms_tensor_get_planes(ft); bits++)
			for (unsigned int out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++)
				for (unsigned int r = CXLMS_RECON_DEFAULT; r <= CXLMS_RECON_TABLE; r++)
					cs->bad += compare_one(cs, ft, dt, bits, out, r);
		cs->bad += gemv_tensor(cs, ft, dt);
		tensors++;
	}
	printf("# " PROG ": %s: %u tensors, %lu fetches and %lu GEMV/GEMM identical with"
	       " equal counters\n", path, tensors, cs->compared - before,
	       cs->gemv_compared - gbefore);
	return 0;
}

int main(int argc, char **argv)
{
	struct cmp_state cs = { .len = 8u << 20 };
	struct cxlms_ctx *ctx;
	int i, rc;

	if (argc < 3) {
		fprintf(stderr, "usage: " PROG " DEVICE STORE...\n");
		return 2;
	}
	cs.a = malloc(cs.len);
	cs.b = malloc(cs.len);
	if (!cs.a || !cs.b || cxlms_new(&ctx))
		return 2;
	rc = cxlms_open(ctx, argv[1], 0, &cs.dev);
	if (rc) {
		fprintf(stderr, PROG ": %s: %s\n", argv[1], strerror(-rc));
		return 2;
	}
	if (strcmp(cxlms_store_get_backend(cs.dev), "kernel")) {
		fprintf(stderr, PROG ": %s: not the kernel backend\n", argv[1]);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		rc = cxlms_open(ctx, argv[i], 0, &cs.file);
		if (rc) {
			fprintf(stderr, PROG ": %s: %s\n", argv[i], strerror(-rc));
			return 2;
		}
		compare_store(&cs, argv[i]);
		cxlms_store_unref(cs.file);
	}
	printf("# " PROG ": %lu fetches compared, %lu refused alike; %lu GEMV/GEMM compared,"
	       " %lu refused alike; %u differences\n", cs.compared, cs.refused,
	       cs.gemv_compared, cs.gemv_refused, cs.bad);
	cxlms_store_unref(cs.dev);
	cxlms_unref(ctx);
	free(cs.a);
	free(cs.b);
	return cs.bad || !cs.compared || !cs.gemv_compared ? 1 : 0;
}
