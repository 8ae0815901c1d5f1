// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_gemv()/cxlms_gemm() under every kernel variant the CPU has,
 * against an independent double-precision GEMV over the weights that
 * cxlms_fetch(..., CXLMS_OUT_F32) returns at the same bits and recon, and
 * against the portable kernels: every k, every recon, group sizes that
 * the SIMD kernels take and ones they hand to the portable kernel, odd
 * columns, short last tiles, row ranges across tiles, 1..16 vectors, 1
 * and 2 threads, the Q8 activation mode (with its error bound computed
 * here from the activation steps), the PLANES-fetch path that the kernel
 * backend uses, the counters, and one test per argument error.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib_testutil.h"
#include "policy.h"
#include "private.h"
#include "simd/simd.h"
#include "writer.h"

/*
 * a: groups of 128, the last of a row 104, tiles of 40 rows (the last 20);
 * b: odd cols, groups of 32, tiles of 16 (the last 13); g: groups of 48
 * (SIMD f32, portable Q8); h: groups of 20 (portable only); bf, fp: 16-bit.
 */
#define N_T 6
static const struct cxlms_tensor_spec spec[N_T] = {
	{ .name = "a", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
	  .ndim = 2, .shape = { 300, 1000 }, .group_size = 128, .tile_rows = 40 },
	{ .name = "b", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
	  .ndim = 2, .shape = { 77, 333 }, .group_size = 32, .tile_rows = 16 },
	{ .name = "g", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
	  .ndim = 2, .shape = { 50, 200 }, .group_size = 48, .tile_rows = 8 },
	{ .name = "h", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
	  .ndim = 2, .shape = { 30, 100 }, .group_size = 20, .tile_rows = 7 },
	{ .name = "bf", .src_dtype = CXLMS_DTYPE_BF16, .fmt = CXLMS_FMT_BF16,
	  .ndim = 2, .shape = { 64, 70 }, .tile_rows = 32 },
	{ .name = "fp", .src_dtype = CXLMS_DTYPE_F16, .fmt = CXLMS_FMT_FP16,
	  .ndim = 2, .shape = { 45, 33 }, .tile_rows = 20 },
};

#define MAXV 16

struct fx {
	struct cxlms_ctx *ctx;
	char *dir, *path;
	struct cxlms_store *s;
	struct cxlms_tensor *t[N_T];
	float *x;		/* MAXV vectors of the widest cols */
	size_t ldx;
};

static struct logcap lc;
static double worst_f32, worst_q8;

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	uint64_t seed = 11;
	unsigned int i;

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir)
		return -1;
	fx->path = tu_path(fx->dir, "g.cxlms");
	if (tu_write_random_store(fx->path, spec, N_T, &seed, 9) ||
	    cxlms_open(fx->ctx, fx->path, 0, &fx->s))
		return -1;
	for (i = 0; i < N_T; i++)
		if (cxlms_tensor_lookup(fx->s, spec[i].name, &fx->t[i]))
			return -1;
	fx->ldx = 1003;	/* wider than any cols: strided vectors */
	fx->x = malloc(MAXV * fx->ldx * sizeof(float));
	if (!fx->x)
		return -1;
	/* Heavy-tailed activations with a few outlier columns, like a model's. */
	for (i = 0; i < MAXV * fx->ldx; i++)
		fx->x[i] = (float)(tu_heavy(&seed) * (i % 97 == 5 ? 20.0 : 1.0));
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	print_message("# worst |y - ref| / sum|w x|: f32 %.3g, q8 %.3g\n",
		      worst_f32, worst_q8);
	cxlms_store_unref(fx->s);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->path);
	free(fx->x);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

/* The whole tensor dequantized by cxlms_fetch(F32), row-major. */
static float *fetch_f32(struct fx *fx, struct cxlms_tensor *t,
			unsigned int bits, unsigned int recon)
{
	uint64_t rows = cxlms_tensor_get_rows(t), cols = cxlms_tensor_get_cols(t);
	int64_t need = cxlms_fetch_size(t, 0, cxlms_tensor_get_tile_count(t),
					bits, CXLMS_OUT_F32, recon);
	float *w;

	assert_true(need == (int64_t)(rows * cols * 4));
	w = malloc((size_t)need);
	assert_non_null(w);
	assert_int_equal(cxlms_fetch_tiles(fx->s, t, 0, cxlms_tensor_get_tile_count(t),
					   bits, CXLMS_OUT_F32, recon, w, (size_t)need),
			 need);
	return w;
}

/* Double-precision reference: ref[i] and bound[i] = sum |w x| of row row0 + i. */
static void ref_gemv(const float *w, uint64_t cols, uint64_t row0, uint64_t n,
		     const float *x, double *ref, double *bound)
{
	uint64_t i, j;

	for (i = 0; i < n; i++) {
		double s = 0, b = 0;

		for (j = 0; j < cols; j++) {
			double p = (double)w[(row0 + i) * cols + j] * x[j];

			s += p;
			b += fabs(p);
		}
		ref[i] = s;
		bound[i] = b;
	}
}

/* Q8 rounding costs at most half a step per column: sum |w| * dx / 2. */
static void q8_bound(const float *w, uint64_t cols, uint64_t row0, uint64_t n,
		     const float *x, double *qb)
{
	uint64_t i, j;

	for (i = 0; i < n; i++) {
		double b = 0;

		for (j = 0; j < cols; j++) {
			uint64_t b0 = j / 32 * 32, e = b0 + 32 < cols ? b0 + 32 : cols, c;
			double amax = 0;

			for (c = b0; c < e; c++)
				amax = fmax(amax, fabs(x[c]));
			b += fabs(w[(row0 + i) * cols + j]) * amax / 127.0 / 2.0;
		}
		qb[i] = b;
	}
}

static void check_close(const char *what, const float *y, const double *ref,
			const double *tol, const double *bound, uint64_t n,
			double *worst)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		/* Beyond binary32 (random 16-bit patterns): y must overflow too. */
		if (!isfinite((float)ref[i])) {
			if (isfinite(y[i])) {
				print_error("%s: row %llu: y %g, reference %g\n", what,
					    (unsigned long long)i, y[i], ref[i]);
				fail();
			}
			continue;
		}
		if (!(fabs(y[i] - ref[i]) <= tol[i])) {
			print_error("%s: row %llu: y %.9g, reference %.9g, tolerance %.3g\n",
				    what, (unsigned long long)i, y[i], ref[i], tol[i]);
			fail();
		}
		if (worst && bound[i] > 0 && fabs(y[i] - ref[i]) / bound[i] > *worst)
			*worst = fabs(y[i] - ref[i]) / bound[i];
	}
}

static int set_isa(unsigned int isa)
{
	if (!cxlms_simd_isa_supported(isa)) {
		print_message("# %s: not on this CPU, skipped\n", cxlms_simd_isa_str(isa));
		return 0;
	}
	assert_int_equal(cxlms_simd_set_isa(isa), 0);
	return 1;
}

static const unsigned int recons[] = { CXLMS_RECON_FLOOR, CXLMS_RECON_MIDPOINT,
				       CXLMS_RECON_TABLE };

/* Every INT8 tensor, k, recon, both activation modes, per variant. */
static void test_int8_every_isa(void **state)
{
	struct fx *fx = *state;
	unsigned int isa, ti, k, ri, q8;

	for (isa = 0; isa < CXLMS_ISA_COUNT; isa++) {
		if (!set_isa(isa))
			continue;
		for (ti = 0; ti < 4; ti++) {
			struct cxlms_tensor *t = fx->t[ti];
			uint64_t rows = cxlms_tensor_get_rows(t), cols = cxlms_tensor_get_cols(t);
			double *ref = malloc(rows * sizeof(double) * 4);
			double *bound = ref + rows, *tol = ref + 2 * rows, *qb = ref + 3 * rows;
			float *y = malloc(rows * sizeof(float) * 2), *yp = y + rows;
			uint64_t i;

			assert_non_null(ref);
			assert_non_null(y);
			for (k = 1; k <= 8; k++) {
				for (ri = 0; ri < 3; ri++) {
					struct cxlms_gemv_opts o = { .size = sizeof(o),
								     .recon = recons[ri] };
					float *w = fetch_f32(fx, t, k, recons[ri]);
					char what[96];

					ref_gemv(w, cols, 0, rows, fx->x, ref, bound);
					q8_bound(w, cols, 0, rows, fx->x, qb);
					for (q8 = 0; q8 < 2; q8++) {
						snprintf(what, sizeof(what), "%s %s k=%u recon %u%s",
							 cxlms_simd_isa_str(isa), spec[ti].name,
							 k, recons[ri], q8 ? " q8" : "");
						o.flags = q8 ? CXLMS_GEMV_Q8_ACT : 0;
						for (i = 0; i < rows; i++)
							tol[i] = 1e-5 * bound[i] + (q8 ? qb[i] : 0) + 1e-30;
						assert_int_equal(cxlms_gemv(fx->s, t, 0, rows, k,
									    fx->x, y, &o), 0);
						check_close(what, y, ref, tol, bound, rows,
							    q8 ? &worst_q8 : &worst_f32);
						/* The variant against the portable kernel. */
						assert_int_equal(cxlms_simd_set_isa(CXLMS_ISA_PORTABLE), 0);
						assert_int_equal(cxlms_gemv(fx->s, t, 0, rows, k,
									    fx->x, yp, &o), 0);
						assert_int_equal(cxlms_simd_set_isa(isa), 0);
						for (i = 0; i < rows; i++) {
							if (!(fabs((double)y[i] - yp[i]) <=
							      2e-5 * bound[i] + 1e-30)) {
								print_error("%s: row %llu: %.9g, portable %.9g\n",
									    what, (unsigned long long)i,
									    y[i], yp[i]);
								fail();
							}
						}
					}
					free(w);
				}
			}
			free(ref);
			free(y);
		}
	}
	assert_int_equal(cxlms_simd_set_isa(CXLMS_ISA_PORTABLE), 0);
}

/* BF16/FP16 at every k the F32 fetch serves, floor and midpoint. */
static void test_16bit(void **state)
{
	struct fx *fx = *state;
	unsigned int ti, k, ri;

	for (ti = 4; ti < N_T; ti++) {
		struct cxlms_tensor *t = fx->t[ti];
		uint64_t rows = cxlms_tensor_get_rows(t), cols = cxlms_tensor_get_cols(t);
		unsigned int kmin = spec[ti].fmt == CXLMS_FMT_BF16 ? 9 : 6;
		double ref[64], bound[64], tol[64];
		float y[64];
		uint64_t i;

		assert_int_equal(cxlms_gemv(fx->s, t, 0, rows, kmin - 1, fx->x, y, NULL),
				 -EOPNOTSUPP);
		for (k = kmin; k <= 16; k++) {
			for (ri = 0; ri < 2; ri++) {
				struct cxlms_gemv_opts o = { .size = sizeof(o),
							     .recon = recons[ri] };
				float *w = fetch_f32(fx, t, k, recons[ri]);
				char what[64];

				snprintf(what, sizeof(what), "%s k=%u recon %u",
					 spec[ti].name, k, recons[ri]);
				ref_gemv(w, cols, 0, rows, fx->x, ref, bound);
				for (i = 0; i < rows; i++)
					tol[i] = 1e-6 * bound[i] + 1e-30;
				assert_int_equal(cxlms_gemv(fx->s, t, 0, rows, k, fx->x,
							    y, &o), 0);
				check_close(what, y, ref, tol, bound, rows, NULL);
				free(w);
			}
		}
	}
}

/*
 * Structure, per variant: n vectors at once = n single calls; 2 threads =
 * 1 thread; a row range across tiles = the same rows of a whole call;
 * the PLANES-fetch path (no tile mapping, as on a device) = the mapped one.
 * Rows are computed independently, so all of these are bit-identical.
 */
static void test_structure(void **state)
{
	struct fx *fx = *state;
	struct cxlms_backend_ops nomap = *fx->s->ops;
	const struct cxlms_backend_ops *saved = fx->s->ops;
	unsigned int isa, ti, n, v, q8, k;

	nomap.tile_map = NULL;
	for (isa = 0; isa < CXLMS_ISA_COUNT; isa++) {
		if (!set_isa(isa))
			continue;
		for (ti = 0; ti < N_T; ti++) {
			struct cxlms_tensor *t = fx->t[ti];
			uint64_t rows = cxlms_tensor_get_rows(t);
			uint64_t r0 = rows / 3 + 1, nr = rows / 2;	/* crosses tiles */
			float *y1 = calloc(MAXV * rows, sizeof(float));
			float *y2 = calloc(MAXV * rows, sizeof(float));

			assert_non_null(y1);
			assert_non_null(y2);
			k = spec[ti].fmt == CXLMS_FMT_INT8 ? 3 : 12;
			for (q8 = 0; q8 < 2; q8++) {
				struct cxlms_gemv_opts o = { .size = sizeof(o),
					.flags = q8 ? CXLMS_GEMV_Q8_ACT : 0 };

				for (v = 0; v < MAXV; v++)
					assert_int_equal(cxlms_gemv(fx->s, t, 0, rows, k,
								    fx->x + v * fx->ldx,
								    y1 + v * rows, &o), 0);
				for (n = 1; n <= MAXV; n++) {
					memset(y2, 0, MAXV * rows * sizeof(float));
					assert_int_equal(cxlms_gemm(fx->s, t, 0, rows, k, n,
								    fx->x, fx->ldx, y2, rows,
								    &o), 0);
					assert_memory_equal(y1, y2, n * rows * sizeof(float));
				}
				o.threads = 2;
				memset(y2, 0, MAXV * rows * sizeof(float));
				assert_int_equal(cxlms_gemm(fx->s, t, 0, rows, k, 5, fx->x,
							    fx->ldx, y2, rows, &o), 0);
				assert_memory_equal(y1, y2, 5 * rows * sizeof(float));
				o.threads = 1;
				memset(y2, 0, MAXV * rows * sizeof(float));
				assert_int_equal(cxlms_gemm(fx->s, t, r0, nr, k, 3, fx->x,
							    fx->ldx, y2, nr, &o), 0);
				for (v = 0; v < 3; v++)
					assert_memory_equal(y1 + v * rows + r0, y2 + v * nr,
							    nr * sizeof(float));
				fx->s->ops = &nomap;
				memset(y2, 0, MAXV * rows * sizeof(float));
				o.threads = 2;
				assert_int_equal(cxlms_gemm(fx->s, t, 0, rows, k, 2, fx->x,
							    fx->ldx, y2, rows, &o), 0);
				fx->s->ops = saved;
				assert_memory_equal(y1, y2, 2 * rows * sizeof(float));
			}
			free(y1);
			free(y2);
		}
	}
	assert_int_equal(cxlms_simd_set_isa(CXLMS_ISA_PORTABLE), 0);
}

/* Mapped reads are counted: planes 0..k-1 and the scales, nothing more. */
static void test_counters(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *t = fx->t[0];
	struct cxlms_stats st;
	float y[300];
	unsigned int p;

	assert_int_equal(cxlms_store_reset_stats(fx->s), 0);
	assert_int_equal(cxlms_gemv(fx->s, t, 0, 300, 5, fx->x, y, NULL), 0);
	assert_int_equal(cxlms_tensor_get_stats(t, &st), 0);
	for (p = 0; p < 8; p++)
		assert_true(st.plane_bytes[p] == (p < 5 ? 300u * 1000 / 8 : 0));
	/* 8 groups per row, fp16 each, and one 32-level table per tile. */
	assert_true(st.side_bytes == 300u * 8 * 2 + 8 * 32 * 2);
	assert_true(st.fetches == 8);
}

#define OPTS(...) (&(struct cxlms_gemv_opts){ .size = sizeof(struct cxlms_gemv_opts), __VA_ARGS__ })

static void test_err_null(void **state)
{
	struct fx *fx = *state;
	float y[300];

	assert_int_equal(cxlms_gemv(NULL, fx->t[0], 0, 1, 8, fx->x, y, NULL), -EINVAL);
	assert_int_equal(cxlms_gemv(fx->s, NULL, 0, 1, 8, fx->x, y, NULL), -EINVAL);
	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 1, 8, NULL, y, NULL), -EINVAL);
	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 1, 8, fx->x, NULL, NULL), -EINVAL);
}

static void test_err_n_vec(void **state)
{
	struct fx *fx = *state;
	float y[300 * 17];

	assert_int_equal(cxlms_gemm(fx->s, fx->t[0], 0, 300, 8, 0, fx->x, 1000, y,
				    300, NULL), -EINVAL);
	assert_int_equal(cxlms_gemm(fx->s, fx->t[0], 0, 300, 8, 17, fx->x, 1000, y,
				    300, NULL), -EINVAL);
}

static void test_err_ld(void **state)
{
	struct fx *fx = *state;
	float y[600];

	assert_int_equal(cxlms_gemm(fx->s, fx->t[0], 0, 300, 8, 2, fx->x, 999, y,
				    300, NULL), -EINVAL);
	assert_int_equal(cxlms_gemm(fx->s, fx->t[0], 0, 300, 8, 2, fx->x, 1000, y,
				    299, NULL), -EINVAL);
}

static void test_err_reserved(void **state)
{
	struct fx *fx = *state;
	float y[1];

	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 1, 8, fx->x, y,
				    OPTS(.reserved = { 0, 1 })), -EINVAL);
}

static void test_err_size(void **state)
{
	struct fx *fx = *state;
	struct { struct cxlms_gemv_opts o; uint64_t more; } big = {
		.o = { .size = sizeof(big) }, .more = 1 };
	struct cxlms_gemv_opts small = { .size = sizeof(small) - 8 };
	float y[1];

	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 1, 8, fx->x, y, &small), -EINVAL);
	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 1, 8, fx->x, y, &big.o), -E2BIG);
	big.more = 0;
	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 1, 8, fx->x, y, &big.o), 0);
}

static void test_err_flags(void **state)
{
	struct fx *fx = *state;
	float y[1];

	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 1, 8, fx->x, y,
				    OPTS(.flags = 1u << 7)), -EOPNOTSUPP);
}

static void test_err_recon(void **state)
{
	struct fx *fx = *state;
	float y[64];

	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 1, 8, fx->x, y,
				    OPTS(.recon = 99)), -EINVAL);
	assert_int_equal(cxlms_gemv(fx->s, fx->t[4], 0, 1, 16, fx->x, y,
				    OPTS(.recon = CXLMS_RECON_TABLE)), -EOPNOTSUPP);
}

static void test_err_range(void **state)
{
	struct fx *fx = *state;
	float y[300];

	y[0] = 42.0f;
	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 300, 1, 8, fx->x, y, NULL), -ERANGE);
	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 299, 2, 8, fx->x, y, NULL), -ERANGE);
	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 0, 8, fx->x, y, NULL), -EINVAL);
	assert_true(y[0] == 42.0f);
}

static void test_err_bits(void **state)
{
	struct fx *fx = *state;
	float y[300];

	y[0] = 42.0f;
	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 300, 0, fx->x, y, NULL),
			 -EOPNOTSUPP);
	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 300, 9, fx->x, y, NULL),
			 -EOPNOTSUPP);
	assert_int_equal(cxlms_gemv(fx->s, fx->t[4], 0, 1, 8, fx->x, y, NULL),
			 -EOPNOTSUPP);
	assert_true(y[0] == 42.0f);
}

/* Policy bits without maps: the policy's own answer, y untouched. */
static void test_policy_unpublished(void **state)
{
	struct fx *fx = *state;
	uint8_t b;
	float y[300];
	int want = cxlms_policy_get_bits(fx->t[0], 0, 1, &b, NULL);

	assert_true(want < 0);
	y[0] = 42.0f;
	assert_int_equal(cxlms_gemv(fx->s, fx->t[0], 0, 300, CXLMS_BITS_POLICY,
				    fx->x, y, NULL), want);
	assert_true(y[0] == 42.0f);
}

/*
 * With published maps, CXLMS_BITS_POLICY runs each tile at its map's bits:
 * the same y as explicit bits tile by tile (bits read back per tile).
 */
static void test_policy_bits(void **state)
{
	struct fx *fx = *state;
	struct cxlms_policy_writer *w;
	struct cxlms_policy_ctx pc = { .name = "mixed" };
	struct cxlms_store *rw;
	struct cxlms_tensor *t;
	unsigned int n, i, tile;
	uint8_t *maps, bits[8];
	uint64_t gen;
	float y[300], yt[300];

	assert_int_equal(cxlms_open(fx->ctx, fx->path, CXLMS_OPEN_RDWR, &rw), 0);
	assert_int_equal(cxlms_policy_writer_open(rw, &w), 0);
	n = cxlms_policy_writer_tiles(w);
	maps = malloc(n);
	assert_non_null(maps);
	for (i = 0; i < n; i++)
		maps[i] = (uint8_t)(i * 5 % 8 + 1);
	assert_int_equal(cxlms_policy_writer_publish(w, 1, 0, &pc, maps, &gen), 0);
	assert_int_equal(cxlms_tensor_lookup(rw, "a", &t), 0);
	assert_int_equal(cxlms_policy_get_bits(t, 0, 8, bits, NULL), 0);
	assert_true(bits[0] != bits[1]);	/* the tiles really differ */
	assert_int_equal(cxlms_gemv(rw, t, 0, 300, CXLMS_BITS_POLICY, fx->x, y, NULL), 0);
	for (tile = 0; tile < 8; tile++) {
		unsigned int nr = tile < 7 ? 40 : 20;

		assert_int_equal(cxlms_gemv(rw, t, tile * 40, nr, bits[tile], fx->x,
					    yt + tile * 40, NULL), 0);
	}
	assert_memory_equal(y, yt, sizeof(y));
	cxlms_policy_writer_close(w);
	cxlms_store_unref(rw);
	free(maps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int8_every_isa),
		cmocka_unit_test(test_16bit),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_err_null),
		cmocka_unit_test(test_err_n_vec),
		cmocka_unit_test(test_err_ld),
		cmocka_unit_test(test_err_reserved),
		cmocka_unit_test(test_err_size),
		cmocka_unit_test(test_err_flags),
		cmocka_unit_test(test_err_recon),
		cmocka_unit_test(test_err_range),
		cmocka_unit_test(test_err_bits),
		cmocka_unit_test(test_policy_unpublished),
		cmocka_unit_test(test_policy_bits),
	};

	return cmocka_run_group_tests_name("gemv", tests, setup, teardown);
}
