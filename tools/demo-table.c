// SPDX-License-Identifier: GPL-2.0
/*
 * demo-table - what reading fewer planes costs and saves, measured.
 *
 * Fetches every tensor of a store at k = 8..2 bits as f32 with each
 * reconstruction mode, compares with the original floats read from the
 * safetensors file (by our own reader, not the library's importer), and
 * prints bytes read (from the library's counters) beside the SQNR of each
 * mode and of RTN(k): re-quantizing the originals to k bits directly,
 * symmetric absmax per group - what a dedicated k-bit copy would give.
 *
 * Also checks, from the tensor geometry alone, that the bytes read at k
 * are exactly k/8 of the plane bytes plus scales and table levels; exits
 * 1 if not.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libcxlms.h>
#include "st-read.h"

#define K_MIN	2
#define K_MAX	8
#define N_K	(K_MAX - K_MIN + 1)

enum mode { M_FLOOR, M_MIDPOINT, M_TABLE, M_RTN, N_MODES };
/* Tensors the import kept at 16 bits (1-D norms by default): not in the table. */
static unsigned int kept16;

static const char *const mode_names[N_MODES] = { "floor", "midpoint", "table", "RTN(k)" };
static const unsigned int mode_recon[3] = {
	CXLMS_RECON_FLOOR, CXLMS_RECON_MIDPOINT, CXLMS_RECON_TABLE
};

struct tensor {
	struct cxlms_tensor *t;
	const char *name;
	float *x;		/* original values */
	uint64_t n, rows, cols;
	unsigned int group;
	double energy;		/* sum x^2 */
	double err[N_K][N_MODES];	/* sum (x - xhat)^2 */
};

struct run {
	uint64_t plane_bytes, side_bytes;	/* counters */
	uint64_t want_planes, want_side;	/* from the geometry */
	bool per_plane_ok;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double sqnr_db(double energy, double err)
{
	if (err == 0)
		return energy == 0 ? 0 : INFINITY;
	return 10 * log10(energy / err);
}

/* SQNR(mode) - SQNR(RTN); equal infinities count as no difference. */
static double delta_db(const struct tensor *t, int ki, int m)
{
	double a = sqnr_db(t->energy, t->err[ki][m]);
	double b = sqnr_db(t->energy, t->err[ki][M_RTN]);

	if (isinf(a) && isinf(b))
		return 0;
	return a - b;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of @n values (mean of the middle two for even n); sorts @v. */
static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * RTN(k): per group of the tensor's group size along each row, float
 * scale s = amax / (2^(k-1) - 1), q = round-to-nearest-even(x / s)
 * clamped to the symmetric range, xhat = q * s.
 */
static double rtn_err(const struct tensor *t, unsigned int k)
{
	float qmax = (float)((1 << (k - 1)) - 1);
	double err = 0;

	for (uint64_t r = 0; r < t->rows; r++) {
		for (uint64_t c0 = 0; c0 < t->cols; c0 += t->group) {
			const float *x = t->x + r * t->cols + c0;
			uint64_t n = t->cols - c0 < t->group ? t->cols - c0 : t->group;
			float amax = 0, s;

			for (uint64_t i = 0; i < n; i++)
				amax = fmaxf(amax, fabsf(x[i]));
			s = amax / qmax;
			for (uint64_t i = 0; i < n; i++) {
				float q = amax > 0 ? rintf(x[i] / s) : 0, xh;
				double d;

				q = fminf(fmaxf(q, -qmax), qmax);
				xh = q * s;
				d = (double)x[i] - (double)xh;
				err += d * d;
			}
		}
	}
	return err;
}

/* What a fetch of every tile at @k with @recon must read, from geometry. */
static void expected_bytes(const struct tensor *t, unsigned int k,
			   unsigned int recon, uint64_t *planes, uint64_t *side)
{
	unsigned int fmt = cxlms_tensor_get_format(t->t);
	uint64_t tile_rows = cxlms_tensor_get_tile_rows(t->t);

	*planes = 0;
	*side = 0;
	for (uint64_t r0 = 0; r0 < t->rows; r0 += tile_rows) {
		uint64_t rows = t->rows - r0 < tile_rows ? t->rows - r0 : tile_rows;
		uint64_t elems = rows * t->cols;

		*planes += k * ((elems + 7) / 8);
		if (fmt != CXLMS_FMT_INT8)
			continue;
		*side += rows * ((t->cols + t->group - 1) / t->group) * 2;
		if (recon == CXLMS_RECON_TABLE && k < 8)
			*side += (1u << k) * 2;
	}
}

static int measure(struct cxlms_store *store, struct tensor *ts, unsigned int nt,
		   struct run runs[N_K][3])
{
	size_t cap = 0;
	float *y = NULL;

	for (unsigned int i = 0; i < nt; i++)
		if (ts[i].n > cap)
			cap = ts[i].n;
	y = malloc(cap * sizeof(*y));
	if (!y)
		return -ENOMEM;

	for (int ki = 0; ki < N_K; ki++) {
		unsigned int k = K_MAX - (unsigned int)ki;

		for (int m = 0; m < 3; m++) {
			struct run *run = &runs[ki][m];
			struct cxlms_stats st;
			uint64_t per_plane = 0;

			cxlms_store_reset_stats(store);
			memset(run, 0, sizeof(*run));
			for (unsigned int i = 0; i < nt; i++) {
				struct tensor *t = &ts[i];
				unsigned int tiles = cxlms_tensor_get_tile_count(t->t);
				uint64_t wp, wsd;
				int64_t got;
				double err = 0;

				got = cxlms_fetch_tiles(store, t->t, 0, tiles, k, CXLMS_OUT_F32,
							mode_recon[m], y, cap * sizeof(*y));
				if (got != (int64_t)(t->n * sizeof(float))) {
					fprintf(stderr, "demo-table: fetch %s at %u bits (%s): %s\n",
						t->name, k, mode_names[m],
						got < 0 ? strerror((int)-got) : "short output");
					free(y);
					return -EIO;
				}
				for (uint64_t j = 0; j < t->n; j++) {
					double d = (double)t->x[j] - (double)y[j];

					err += d * d;
				}
				t->err[ki][m] = err;
				expected_bytes(t, k, mode_recon[m], &wp, &wsd);
				run->want_planes += wp;
				run->want_side += wsd;
				per_plane += wp / k;
			}
			cxlms_store_get_stats(store, &st);
			run->per_plane_ok = true;
			for (unsigned int p = 0; p < CXLMS_MAX_PLANES; p++) {
				run->plane_bytes += st.plane_bytes[p];
				/* Planes 0..k-1 read once each, nothing below. */
				if (st.plane_bytes[p] != (p < k ? per_plane : 0))
					run->per_plane_ok = false;
			}
			run->side_bytes = st.side_bytes;
		}
		for (unsigned int i = 0; i < nt; i++)
			ts[i].err[ki][M_RTN] = rtn_err(&ts[i], k);
	}
	free(y);
	return 0;
}

static bool run_exact(const struct run *r)
{
	return r->per_plane_ok && r->plane_bytes == r->want_planes &&
	       r->side_bytes == r->want_side;
}

/* The acceptance bar for the default reconstruction. */
static bool criterion_met(const struct tensor *ts, unsigned int nt, double *d)
{
	for (unsigned int k = 3; k <= 7; k++) {
		int ki = K_MAX - (int)k;

		for (unsigned int i = 0; i < nt; i++)
			d[i] = delta_db(&ts[i], ki, M_TABLE);
		if (median(d, nt) < 0 || d[0] < -2)
			return false;
	}
	return true;
}

static void print_text(struct tensor *ts, unsigned int nt, struct run runs[N_K][3],
		       bool verbose)
{
	double energy = 0, err[N_K][N_MODES] = { { 0 } };
	double full = (double)(runs[0][M_TABLE].plane_bytes + runs[0][M_TABLE].side_bytes);
	double *d = malloc(nt * sizeof(*d));
	uint64_t elems = 0;
	bool exact = true;

	for (unsigned int i = 0; i < nt; i++) {
		energy += ts[i].energy;
		elems += ts[i].n;
		for (int ki = 0; ki < N_K; ki++)
			for (int m = 0; m < N_MODES; m++)
				err[ki][m] += ts[i].err[ki][m];
	}
	printf("%u int8 tensors, %" PRIu64 " weights; SQNR over all weights together, dB\n",
	       nt, elems);
	printf("(%u tensors stored at 16 bits by the import defaults are not in the table)\n\n",
	       kept16);
	printf(" bits  bytes read  share of k=8   floor  midpoint   table  RTN(k)\n");
	for (int ki = 0; ki < N_K; ki++) {
		const struct run *r = &runs[ki][M_TABLE];
		uint64_t bytes = r->plane_bytes + r->side_bytes;

		printf("%5d  %10" PRIu64 "  %11.1f%%", K_MAX - ki, bytes,
		       100.0 * (double)bytes / full);
		for (int m = 0; m < N_MODES; m++)
			printf("  %*.2f", m == M_MIDPOINT ? 8 : 6, sqnr_db(energy, err[ki][m]));
		printf("\n");
	}
	printf("(bytes read with the default table reconstruction: planes, scales and\n"
	       " the k-level tables; floor and midpoint read no table.)\n\n");

	printf("SQNR(mode) - SQNR(RTN(k)) per tensor, dB, median and worst of %u tensors:\n\n", nt);
	printf(" bits   midpoint: median   worst   table: median   worst  worst tensor (table)\n");
	for (int ki = N_K - 1; ki >= 0; ki--) {
		double med[2], worst[2];
		unsigned int worst_i = 0;

		for (int m = M_MIDPOINT; m <= M_TABLE; m++) {
			for (unsigned int i = 0; i < nt; i++) {
				d[i] = delta_db(&ts[i], ki, m);
				if (m == M_TABLE && d[i] < delta_db(&ts[worst_i], ki, m))
					worst_i = i;
			}
			med[m - M_MIDPOINT] = median(d, nt);
			worst[m - M_MIDPOINT] = d[0];
		}
		printf("%5d   %15.2f  %6.2f  %14.2f  %6.2f  %s\n", K_MAX - ki, med[0],
		       worst[0], med[1], worst[1], ts[worst_i].name);
	}
	printf("(median over the int8 tensors; mean of the middle\n"
	       " two for an even count; worst = lowest.)\n");
	printf("default reconstruction (table), k = 3..7: median >= 0 dB and no tensor\n"
	       "below -2 dB vs RTN(k): %s\n\n", criterion_met(ts, nt, d) ? "met" : "NOT met");

	for (int ki = 0; ki < N_K; ki++)
		for (int m = 0; m < 3; m++)
			exact &= run_exact(&runs[ki][m]);
	printf("bytes read check (from tensor geometry, not the counters):\n");
	for (int ki = 0; ki < N_K; ki++) {
		const struct run *r = &runs[ki][M_TABLE];
		uint64_t scales = runs[ki][M_FLOOR].want_side;

		printf("  k=%d: planes %" PRIu64 " = %d/8 x %" PRIu64 ", scales %" PRIu64
		       ", tables %" PRIu64 ": %s\n", K_MAX - ki, r->plane_bytes, K_MAX - ki,
		       runs[0][M_TABLE].want_planes, scales, r->want_side - scales,
		       run_exact(&runs[ki][M_TABLE]) && run_exact(&runs[ki][M_FLOOR]) &&
		       run_exact(&runs[ki][M_MIDPOINT]) ? "exact" : "MISMATCH");
	}
	printf("bytes read == k/8 of plane bytes + scales + tables at every k and mode: %s\n",
	       exact ? "yes" : "NO");

	if (verbose) {
		printf("\nper tensor, table - RTN(k) dB at k = 8..2, then midpoint - RTN(k):\n");
		for (unsigned int i = 0; i < nt; i++) {
			printf("%-50s", ts[i].name);
			for (int m = M_TABLE; m >= M_MIDPOINT; m--) {
				printf(" |");
				for (int ki = 0; ki < N_K; ki++)
					printf(" %6.2f", delta_db(&ts[i], ki, m));
			}
			printf("\n");
		}
	}
	free(d);
}

static void json_num(double v)
{
	if (isinf(v))
		printf(v > 0 ? "\"inf\"" : "\"-inf\"");
	else
		printf("%.4f", v);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(struct tensor *ts, unsigned int nt, struct run runs[N_K][3])
{
	double energy = 0, *d = malloc(nt * sizeof(*d));
	bool exact = true;

	for (unsigned int i = 0; i < nt; i++)
		energy += ts[i].energy;
	printf("{\"tensors\":%u,\"kept_16bit\":%u,\"runs\":[", nt, kept16);
	for (int ki = 0; ki < N_K; ki++) {
		printf("%s{\"bits\":%d", ki ? "," : "", K_MAX - ki);
		for (int m = 0; m < 3; m++) {
			const struct run *r = &runs[ki][m];

			printf(",\"%s\":{\"plane_bytes\":%" PRIu64 ",\"side_bytes\":%" PRIu64
			       ",\"exact\":%s}", mode_names[m], r->plane_bytes, r->side_bytes,
			       run_exact(r) ? "true" : "false");
			exact &= run_exact(r);
		}
		printf(",\"sqnr\":{");
		for (int m = 0; m < N_MODES; m++) {
			double err = 0;

			for (unsigned int i = 0; i < nt; i++)
				err += ts[i].err[ki][m];
			printf("%s\"%s\":", m ? "," : "", m == M_RTN ? "rtn" : mode_names[m]);
			json_num(sqnr_db(energy, err));
		}
		printf("},\"delta_vs_rtn\":{");
		for (int m = M_MIDPOINT; m <= M_TABLE; m++) {
			for (unsigned int i = 0; i < nt; i++)
				d[i] = delta_db(&ts[i], ki, m);
			printf("%s\"%s\":{\"median\":", m == M_MIDPOINT ? "" : ",", mode_names[m]);
			json_num(median(d, nt));
			printf(",\"worst\":");
			json_num(d[0]);
			printf("}");
		}
		printf("}}");
	}
	printf("],\"bytes_exact\":%s,\"per_tensor\":[", exact ? "true" : "false");
	for (unsigned int i = 0; i < nt; i++) {
		printf("%s\n{\"name\":", i ? "," : "");
		json_str(ts[i].name);
		printf(",\"elems\":%" PRIu64 ",\"sqnr\":{", ts[i].n);
		for (int m = 0; m < N_MODES; m++) {
			printf("%s\"%s\":[", m ? "," : "", m == M_RTN ? "rtn" : mode_names[m]);
			for (int ki = 0; ki < N_K; ki++) {
				printf(ki ? "," : "");
				json_num(sqnr_db(ts[i].energy, ts[i].err[ki][m]));
			}
			printf("]");
		}
		printf("}}");
	}
	printf("],\"bits\":[8,7,6,5,4,3,2]}\n");
	free(d);
}

static int load_tensors(struct cxlms_store *store, const struct st_file *sf,
			struct tensor **out, unsigned int *count)
{
	unsigned int nt = cxlms_store_get_tensor_count(store), i = 0;
	struct tensor *ts = calloc(nt, sizeof(*ts));
	struct cxlms_tensor *t;

	if (!ts)
		return -ENOMEM;
	cxlms_tensor_foreach(store, t) {
		struct tensor *x = &ts[i];
		const struct st_tensor *s = st_find(sf, cxlms_tensor_get_name(t));

		if (i == nt)
			break;
		/* The table compares k-plane int8 with RTN(k) on the same groups. */
		if (cxlms_tensor_get_format(t) != CXLMS_FMT_INT8) {
			kept16++;
			continue;
		}
		x->t = t;
		x->name = cxlms_tensor_get_name(t);
		x->n = cxlms_tensor_get_elems(t);
		x->rows = cxlms_tensor_get_rows(t);
		x->cols = cxlms_tensor_get_cols(t);
		x->group = cxlms_tensor_get_group_size(t);
		if (!x->group)
			x->group = 128;
		if (!s || s->elems != x->n) {
			fprintf(stderr, "demo-table: tensor '%s' %s in the safetensors file\n",
				x->name, s ? "has another size" : "is missing");
			goto fail;
		}
		x->x = malloc(x->n * sizeof(float));
		if (!x->x)
			goto fail;
		st_read_f32(sf, s, x->x);
		for (uint64_t j = 0; j < x->n; j++)
			x->energy += (double)x->x[j] * x->x[j];
		i++;
	}
	*out = ts;
	*count = i;
	return 0;
fail:
	for (unsigned int j = 0; j <= i && j < nt; j++)
		free(ts[j].x);
	free(ts);
	return -EINVAL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: demo-table [-v] [--json] MODEL.safetensors STORE.cxlms\n"
		"Fetch every tensor of STORE at k = 8..2 bits with each reconstruction\n"
		"mode and compare with MODEL's original values and with RTN(k).\n"
		"  -j, --json     machine-readable output\n"
		"  -v, --verbose  also print per-tensor differences\n"
		"Exit status: 0 ok, 1 error or bytes-read mismatch, 2 usage.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static struct run runs[N_K][3];
	bool json = false, verbose = false, exact = true;
	struct cxlms_store *store = NULL;
	struct cxlms_ctx *ctx = NULL;
	struct tensor *ts = NULL;
	unsigned int nt = 0;
	struct st_file sf;
	char why[256];
	double t0 = now();
	int c, err, rc = 1;

	while ((c = getopt_long(argc, argv, "jvh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	err = st_open(argv[optind], &sf, why, sizeof(why));
	if (err) {
		fprintf(stderr, "demo-table: %s: %s\n", argv[optind], why);
		return 1;
	}
	err = cxlms_new(&ctx);
	if (!err)
		err = cxlms_open(ctx, argv[optind + 1], 0, &store);
	if (err) {
		fprintf(stderr, "demo-table: %s: %s\n", argv[optind + 1], strerror(-err));
		goto out;
	}
	err = load_tensors(store, &sf, &ts, &nt);
	if (err)
		goto out;
	err = measure(store, ts, nt, runs);
	if (err)
		goto out;
	if (json)
		print_json(ts, nt, runs);
	else
		print_text(ts, nt, runs, verbose);
	for (int ki = 0; ki < N_K; ki++)
		for (int m = 0; m < 3; m++)
			exact &= run_exact(&runs[ki][m]);
	if (!json)
		printf("demo-table: %.1f s\n", now() - t0);
	rc = exact ? 0 : 1;
out:
	for (unsigned int i = 0; i < nt; i++)
		free(ts[i].x);
	free(ts);
	cxlms_store_unref(store);
	cxlms_unref(ctx);
	st_close(&sf);
	return rc;
}
