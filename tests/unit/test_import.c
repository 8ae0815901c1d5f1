// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_import_safetensors(): values round-trip against an independent
 * reference (the compiler's _Float16 conversions, or their libm equivalent,
 * and libm's nearbyint; not lib/quant.c), shapes, options, progress, and
 * atomicity: a SIGKILL half-way or a failed import leaves the previous store
 * byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lib_testutil.h"

static struct logcap lc;

struct fx {
	struct cxlms_ctx *ctx;
	char *dir;		/* inputs */
	char *outdir;		/* destination directory: only the store in it */
	char *in, *out;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	fx->outdir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir || !fx->outdir)
		return -1;
	fx->in = tu_path(fx->dir, "model.safetensors");
	fx->out = tu_path(fx->outdir, "model.cxlms");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	tu_rmtree(fx->dir);
	tu_rmtree(fx->outdir);
	free(fx->dir);
	free(fx->outdir);
	free(fx->in);
	free(fx->out);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

/* --- the independent reference --------------------------------------------- */

#if defined(__FLT16_MAX__)
static uint16_t ref_fp16(double x)
{
	_Float16 h = (_Float16)x;
	uint16_t b;

	memcpy(&b, &h, 2);
	return b;
}

static double fp16_val(uint16_t b)
{
	_Float16 h;

	memcpy(&h, &b, 2);
	return (double)h;
}
#else
/*
 * Compilers without _Float16 (clang 14 on x86): the same conversions from
 * their definition in libm terms.  Round to nearest even at the fp16
 * quantum of x (2^(e-10), subnormal quantum 2^-24), Inf at or past 65520.
 */
static uint16_t ref_fp16(double x)
{
	uint16_t sign = signbit(x) ? 0x8000 : 0;
	double a = fabs(x), q, r;
	int e;

	if (isnan(x))
		return sign | 0x7e00;
	if (a >= 65520.0)
		return sign | 0x7c00;
	frexp(a, &e);		/* a = m * 2^e, m in [0.5, 1) */
	e = e - 1 < -14 ? -14 : e - 1;
	q = ldexp(1.0, e - 10);
	r = nearbyint(a / q) * q;	/* a / q is exact: q is a power of two */
	if (r < ldexp(1.0, -14))	/* subnormal or zero */
		return sign | (uint16_t)(r / ldexp(1.0, -24));
	frexp(r, &e);
	return sign | (uint16_t)((e - 1 + 15) << 10) |
	       (uint16_t)(r / ldexp(1.0, e - 1 - 10) - 1024);
}

static double fp16_val(uint16_t b)
{
	int e = (b >> 10) & 0x1f, m = b & 0x3ff;
	double v;

	if (e == 0x1f)
		v = m ? NAN : INFINITY;
	else if (e == 0)
		v = ldexp(m, -24);
	else
		v = ldexp(1024 + m, e - 25);
	return (b & 0x8000) ? -v : v;
}
#endif

static float f32_of(uint32_t b)
{
	float f;

	memcpy(&f, &b, 4);
	return f;
}

static uint32_t bits_of(float f)
{
	uint32_t b;

	memcpy(&b, &f, 4);
	return b;
}

/* Nearest bf16 by comparing the two neighbours' distances (ties: even). */
static uint16_t ref_bf16(float x)
{
	uint32_t b = bits_of(x), lo = b & 0xffff0000u, hi = lo + 0x10000u;
	double dlo, dhi;

	if (isnan(x))
		return (uint16_t)((b >> 16) | 0x40);
	if (isinf(x) || b == lo)
		return (uint16_t)(b >> 16);
	dlo = fabs((double)x - (double)f32_of(lo));
	/* hi may be the infinity pattern: its distance is then that of 2^128 */
	if ((hi & 0x7fffffff) == 0x7f800000)
		dhi = fabs(ldexp(copysign(1.0, x), 128) - (double)x);
	else
		dhi = fabs((double)f32_of(hi) - (double)x);
	if (dlo < dhi || (dlo == dhi && !(lo & 0x10000)))
		return (uint16_t)(lo >> 16);
	return (uint16_t)(hi >> 16);
}

/* One group: scale and codes as the brief defines them. */
static void ref_group(const float *x, unsigned int n, int8_t *q, uint16_t *s)
{
	float amax = 0;
	double sv;
	unsigned int i;

	for (i = 0; i < n; i++)
		if (fabsf(x[i]) > amax)
			amax = fabsf(x[i]);
	if (amax == 0) {
		*s = 0;
		memset(q, 0, n);
		return;
	}
	*s = ref_fp16((double)amax / 127.0);
	if (*s == 0)
		*s = 1;
	sv = fp16_val(*s);
	for (i = 0; i < n; i++) {
		double r = nearbyint((double)x[i] / sv);

		q[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
	}
}

/* --- helpers ----------------------------------------------------------------- */

static struct cxlms_store *open_store(struct fx *fx)
{
	struct cxlms_store *s = NULL;
	int rc = cxlms_open(fx->ctx, fx->out, 0, &s);

	if (rc) {
		print_error("open %s: %d\n%s\n", fx->out, rc, lc.buf);
		fail();
	}
	return s;
}

static struct cxlms_tensor *lookup(struct cxlms_store *s, const char *name)
{
	struct cxlms_tensor *t = NULL;

	assert_int_equal(cxlms_tensor_lookup(s, name, &t), 0);
	return t;
}

static int import(struct fx *fx, unsigned int fmt, unsigned int group,
		  unsigned int tile_rows)
{
	struct cxlms_import_opts o = { .format = fmt, .group_size = group,
				       .tile_rows = tile_rows };

	tu_log_clear(&lc);
	return cxlms_import_safetensors(fx->ctx, fx->in, fx->out, &o);
}

static void import_ok(struct fx *fx, unsigned int fmt, unsigned int group,
		      unsigned int tile_rows)
{
	int rc = import(fx, fmt, group, tile_rows);

	if (rc) {
		print_error("import: %d\n%s\n", rc, lc.buf);
		fail();
	}
}

/*
 * Fetch every tile at 8 bits as INT and compare codes and scales with the
 * reference quantization of @x (rows x cols floats), group @g.
 */
static void check_int8(struct cxlms_store *s, struct cxlms_tensor *t,
		       const float *x, uint64_t rows, uint64_t cols, unsigned int g)
{
	unsigned int tile, n_tiles = cxlms_tensor_get_tile_count(t);
	unsigned int tr = cxlms_tensor_get_tile_rows(t);
	unsigned int gpr = (unsigned int)((cols + g - 1) / g);
	int8_t *q = malloc(cols);
	uint64_t r, checked = 0;

	assert_non_null(q);
	assert_int_equal(cxlms_tensor_get_group_size(t), g);
	for (tile = 0; tile < n_tiles; tile++) {
		struct cxlms_fetch_info fi, ff;
		uint8_t *buf, *fbuf;
		uint64_t r0 = (uint64_t)tile * tr, r1 = r0 + tr < rows ? r0 + tr : rows;

		assert_int_equal(cxlms_fetch_info(t, tile, 8, CXLMS_OUT_INT, 0, &fi), 0);
		assert_int_equal(cxlms_fetch_info(t, tile, 8, CXLMS_OUT_F32, 0, &ff), 0);
		assert_int_equal(fi.data_len, (r1 - r0) * cols);
		assert_int_equal(fi.scales_len, (r1 - r0) * gpr * 2);
		buf = malloc(fi.total);
		fbuf = malloc(ff.total);
		assert_int_equal(cxlms_fetch(s, t, tile, 8, CXLMS_OUT_INT, 0, buf, fi.total),
				 (int64_t)fi.total);
		assert_int_equal(cxlms_fetch(s, t, tile, 8, CXLMS_OUT_F32, 0, fbuf, ff.total),
				 (int64_t)ff.total);
		for (r = r0; r < r1; r++) {
			uint64_t c;

			for (c = 0; c < cols; c += g) {
				unsigned int n = cols - c < g ? (unsigned int)(cols - c) : g;
				uint64_t gi = (r - r0) * gpr + c / g, j;
				uint16_t sref, sgot;

				ref_group(x + r * cols + c, n, q + c, &sref);
				memcpy(&sgot, buf + fi.scales_off + 2 * gi, 2);
				if (sgot != sref) {
					print_error("row %llu col %llu: scale 0x%04x, want 0x%04x\n",
						    (unsigned long long)r, (unsigned long long)c,
						    sgot, sref);
					fail();
				}
				for (j = 0; j < n; j++) {
					uint64_t e = (r - r0) * cols + c + j;
					float f;

					if ((int8_t)buf[e] != q[c + j]) {
						print_error("elem (%llu, %llu): code %d, want %d (x=%g)\n",
							    (unsigned long long)r,
							    (unsigned long long)(c + j),
							    (int8_t)buf[e], q[c + j],
							    (double)x[r * cols + c + j]);
						fail();
					}
					/* all 8 planes: the exact product code * scale */
					memcpy(&f, fbuf + 4 * e, 4);
					assert_true(f == (float)(q[c + j] * fp16_val(sref)));
					checked++;
				}
			}
		}
		free(buf);
		free(fbuf);
	}
	assert_int_equal(checked, rows * cols);
	free(q);
}

/* Heavy-tailed rows with varying scales, plus the special groups. */
static float *make_weights(uint64_t rows, uint64_t cols, uint64_t seed)
{
	float *x = malloc(rows * cols * sizeof(*x));
	uint64_t i, s = seed;

	assert_non_null(x);
	for (i = 0; i < rows * cols; i++)
		x[i] = (float)(tu_heavy(&s) * 0.02 * (1 + (double)(i / cols % 7)));
	return x;
}

/* --- INT8 stores --------------------------------------------------------------- */

static void test_f32_to_int8(void **state)
{
	struct fx *fx = *state;
	const uint64_t rows = 37, cols = 300;
	float *x = make_weights(rows, cols, 1);
	struct tu_st_tensor t = { .name = "layers.0.w", .dtype = "F32", .ndim = 2,
				  .shape = { rows, cols }, .data = x,
				  .len = rows * cols * 4 };
	struct cxlms_store *s;
	struct cxlms_tensor *ct;
	uint64_t i;

	/* row 0, group 0: all zero (±0) -> scale 0 and zero codes */
	for (i = 0; i < 128; i++)
		x[i] = (i & 1) ? -0.0f : 0.0f;
	/* row 1, group 1: one outlier among small values */
	for (i = 0; i < 128; i++)
		x[cols + 128 + i] = 0.001f * (float)((int)i - 64);
	x[cols + 200] = 1000.0f;
	/* row 2, last group: tiny values, amax/127 underflows fp16 -> 0x0001 */
	for (i = 256; i < cols; i++)
		x[2 * cols + i] = 1e-9f * (float)(i % 5) - 2e-9f;
	/* row 3: exact ties x / s = k + 0.5 must round to even */
	for (i = 0; i < 128; i++)
		x[3 * cols + i] = (float)i - 63.5f;
	x[3 * cols + 127] = 127.0f;	/* amax 127 -> scale exactly 1.0 */
	/*
	 * row 4, group 0: amax / 127 = 1.4 * 2^-24 rounds down to the smallest
	 * subnormal, so amax / s = 178: codes must clamp to +-127
	 */
	for (i = 0; i < 128; i++)
		x[4 * cols + i] = (float)(ldexp(1.4 * 127, -24) * ((i % 3) - 1.0));

	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	import_ok(fx, CXLMS_FMT_INT8, 128, 8);
	s = open_store(fx);
	ct = lookup(s, "layers.0.w");
	assert_int_equal(cxlms_tensor_get_format(ct), CXLMS_FMT_INT8);
	assert_int_equal(cxlms_tensor_get_src_dtype(ct), CXLMS_DTYPE_F32);
	assert_int_equal(cxlms_tensor_get_tile_count(ct), 5);	/* 4 x 8 rows + 5 */
	assert_int_equal(cxlms_tensor_get_tile_elems(ct, 4), 5 * cols);
	check_int8(s, ct, x, rows, cols, 128);

	/* the special groups, spelled out */
	{
		struct cxlms_fetch_info fi;
		uint8_t *buf;
		uint16_t sc;

		assert_int_equal(cxlms_fetch_info(ct, 0, 8, CXLMS_OUT_INT, 0, &fi), 0);
		buf = malloc(fi.total);
		assert_int_equal(cxlms_fetch(s, ct, 0, 8, CXLMS_OUT_INT, 0, buf, fi.total),
				 (int64_t)fi.total);
		memcpy(&sc, buf + fi.scales_off, 2);
		assert_int_equal(sc, 0);			/* zero group */
		memcpy(&sc, buf + fi.scales_off + 2 * (3 + 1), 2);
		assert_int_equal(sc, ref_fp16(1000.0 / 127));	/* outlier group */
		assert_int_equal((int8_t)buf[cols + 200], 127);
		assert_int_equal((int8_t)buf[cols + 128], 0);	/* -0.064 / 7.875 -> 0 */
		memcpy(&sc, buf + fi.scales_off + 2 * (6 + 2), 2);
		assert_int_equal(sc, 0x0001);			/* tiny group */
		memcpy(&sc, buf + fi.scales_off + 2 * 9, 2);
		assert_int_equal(sc, 0x3c00);			/* row 3: scale 1.0 */
		assert_int_equal((int8_t)buf[3 * cols + 0], -64);	/* -63.5 -> -64 */
		assert_int_equal((int8_t)buf[3 * cols + 1], -62);	/* -62.5 -> -62 */
		memcpy(&sc, buf + fi.scales_off + 2 * 12, 2);
		assert_int_equal(sc, 0x0001);
		assert_int_equal((int8_t)buf[4 * cols + 0], -127);	/* -178 clamped */
		assert_int_equal((int8_t)buf[4 * cols + 2], 127);	/* 178 clamped */
		free(buf);
	}
	cxlms_store_unref(s);
	free(x);
}

static void test_f16_bf16_to_int8(void **state)
{
	struct fx *fx = *state;
	const uint64_t rows = 16, cols = 200;
	float *x = make_weights(rows, cols, 2), *xh = malloc(rows * cols * 4),
	      *xb = malloc(rows * cols * 4);
	uint16_t *h = malloc(rows * cols * 2), *b = malloc(rows * cols * 2);
	struct tu_st_tensor t[2] = {
		{ .name = "h", .dtype = "F16", .ndim = 2, .shape = { rows, cols },
		  .data = h, .len = rows * cols * 2 },
		{ .name = "b", .dtype = "BF16", .ndim = 2, .shape = { rows, cols },
		  .data = b, .len = rows * cols * 2 },
	};
	struct cxlms_store *s;
	uint64_t i;

	for (i = 0; i < rows * cols; i++) {
		h[i] = ref_fp16(x[i]);
		xh[i] = (float)fp16_val(h[i]);
		b[i] = (uint16_t)(bits_of(x[i]) >> 16);	/* truncation is fine as input */
		xb[i] = f32_of((uint32_t)b[i] << 16);
	}
	assert_int_equal(tu_st_write(fx->in, t, 2), 0);
	import_ok(fx, 0 /* default: int8 */, 64, 0);
	s = open_store(fx);
	check_int8(s, lookup(s, "h"), xh, rows, cols, 64);
	check_int8(s, lookup(s, "b"), xb, rows, cols, 64);
	assert_int_equal(cxlms_tensor_get_src_dtype(lookup(s, "h")), CXLMS_DTYPE_F16);
	assert_int_equal(cxlms_tensor_get_src_dtype(lookup(s, "b")), CXLMS_DTYPE_BF16);
	cxlms_store_unref(s);
	free(x);
	free(xh);
	free(xb);
	free(h);
	free(b);
}

static void test_i8_to_int8(void **state)
{
	struct fx *fx = *state;
	const uint64_t rows = 5, cols = 40;
	int8_t v[5 * 40];
	struct tu_st_tensor t = { .name = "q", .dtype = "I8", .ndim = 2,
				  .shape = { rows, cols }, .data = v, .len = sizeof(v) };
	struct cxlms_store *s;
	struct cxlms_tensor *ct;
	struct cxlms_fetch_info fi;
	uint8_t *buf;
	uint64_t i, s0 = 3;

	for (i = 0; i < sizeof(v); i++)
		v[i] = (int8_t)tu_rng(&s0);
	v[7] = -128;
	memset(v + 16, 0, 16);		/* row 0, group 1 (16..31): all zero */
	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	import_ok(fx, CXLMS_FMT_INT8, 16, 0);
	s = open_store(fx);
	ct = lookup(s, "q");
	assert_int_equal(cxlms_tensor_get_tile_count(ct), 1);
	assert_int_equal(cxlms_fetch_info(ct, 0, 8, CXLMS_OUT_INT, 0, &fi), 0);
	buf = malloc(fi.total);
	assert_int_equal(cxlms_fetch(s, ct, 0, 8, CXLMS_OUT_INT, 0, buf, fi.total),
			 (int64_t)fi.total);
	assert_memory_equal(buf, v, sizeof(v));		/* codes as they were */
	for (i = 0; i < rows * 3; i++) {
		uint16_t sc;

		memcpy(&sc, buf + fi.scales_off + 2 * i, 2);
		assert_int_equal(sc, i == 1 ? 0 : 0x3c00);
	}
	free(buf);
	cxlms_store_unref(s);
}

/* --- 16-bit stores --------------------------------------------------------------- */

static const float specials[] = {
	0.0f, -0.0f, 1.0f, -2.5f, 1e-8f, -1e-30f, 65504.0f, 65519.0f, 3.0e38f,
	1.00390625f /* bf16 tie: 1 + 2^-8 */, 1.01171875f /* 1 + 3 * 2^-8 */,
	1.0009765625f /* fp16 tie */, 0.1f, 6.1e-5f, 5.96e-8f, 2.98e-8f,
};

static void fetch_all16(struct cxlms_store *s, struct cxlms_tensor *t,
			uint16_t *out, uint64_t n)
{
	unsigned int tiles = cxlms_tensor_get_tile_count(t);
	int64_t size = cxlms_fetch_size(t, 0, tiles, 16, CXLMS_OUT_INT, 0);

	assert_int_equal(size, (int64_t)(n * 2));
	assert_int_equal(cxlms_fetch_tiles(s, t, 0, tiles, 16, CXLMS_OUT_INT, 0,
					   out, (size_t)size), size);
}

static void test_f32_to_bf16(void **state)
{
	struct fx *fx = *state;
	const uint64_t rows = 64, cols = 33, n = rows * cols;
	float *x = make_weights(rows, cols, 4);
	uint16_t *got = malloc(n * 2);
	struct tu_st_tensor t = { .name = "w", .dtype = "F32", .ndim = 2,
				  .shape = { rows, cols }, .data = x, .len = n * 4 };
	struct cxlms_store *s;
	struct cxlms_tensor *ct;
	uint64_t i;

	memcpy(x, specials, sizeof(specials));
	x[20] = INFINITY;
	x[21] = -INFINITY;
	x[22] = f32_of(0x7fc00001);	/* quiet NaN with payload */
	x[23] = f32_of(0xff800123);	/* signalling NaN */
	x[24] = f32_of(0x00000001);	/* smallest f32 subnormal */
	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	import_ok(fx, CXLMS_FMT_BF16, 0, 10);
	s = open_store(fx);
	ct = lookup(s, "w");
	assert_int_equal(cxlms_tensor_get_planes(ct), 16);
	assert_int_equal(cxlms_tensor_get_group_size(ct), 0);
	fetch_all16(s, ct, got, n);
	for (i = 0; i < n; i++) {
		uint16_t want = ref_bf16(x[i]);

		if (isnan(x[i])) {
			/* NaN stays NaN of the same sign */
			assert_true((got[i] & 0x7f80) == 0x7f80 && (got[i] & 0x7f));
			assert_int_equal(got[i] >> 15, bits_of(x[i]) >> 31);
			continue;
		}
		if (got[i] != want) {
			print_error("elem %llu (%a): 0x%04x, want 0x%04x\n",
				    (unsigned long long)i, (double)x[i], got[i], want);
			fail();
		}
	}
	cxlms_store_unref(s);
	free(x);
	free(got);
}

static void test_f32_to_fp16(void **state)
{
	struct fx *fx = *state;
	const uint64_t rows = 10, cols = 100, n = rows * cols;
	float *x = make_weights(rows, cols, 5);
	uint16_t *got = malloc(n * 2);
	struct tu_st_tensor t = { .name = "w", .dtype = "F32", .ndim = 2,
				  .shape = { rows, cols }, .data = x, .len = n * 4 };
	struct cxlms_store *s;
	uint64_t i;

	memcpy(x, specials, sizeof(specials));
	x[8] = 1.0f;		/* 3e38 would overflow fp16: tested below */
	x[20] = -INFINITY;
	x[21] = NAN;
	for (i = 30; i < 200; i++)	/* a sweep through fp16 subnormals */
		x[i] = ldexpf((float)(i * 37 % 1000), -33);
	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	import_ok(fx, CXLMS_FMT_FP16, 0, 0);
	s = open_store(fx);
	fetch_all16(s, lookup(s, "w"), got, n);
	for (i = 0; i < n; i++) {
		if (isnan(x[i])) {
			assert_true((got[i] & 0x7c00) == 0x7c00 && (got[i] & 0x3ff));
			continue;
		}
		if (got[i] != ref_fp16(x[i])) {
			print_error("elem %llu (%a): 0x%04x, want 0x%04x\n",
				    (unsigned long long)i, (double)x[i], got[i],
				    ref_fp16(x[i]));
			fail();
		}
	}
	cxlms_store_unref(s);
	free(x);
	free(got);
}

static void test_16bit_cross_and_identity(void **state)
{
	struct fx *fx = *state;
	enum { N = 512 };
	uint16_t h[N], b[N], got[N];
	int8_t q[N];
	struct tu_st_tensor t[3] = {
		{ .name = "h", .dtype = "F16", .ndim = 1, .shape = { N }, .data = h, .len = sizeof(h) },
		{ .name = "b", .dtype = "BF16", .ndim = 1, .shape = { N }, .data = b, .len = sizeof(b) },
		{ .name = "q", .dtype = "I8", .ndim = 1, .shape = { N }, .data = q, .len = sizeof(q) },
	};
	struct cxlms_store *s;
	uint64_t i, seed = 6;

	for (i = 0; i < N; i++) {
		h[i] = (uint16_t)tu_rng(&seed);
		/* bf16 values that fit fp16's range, so bf16 -> fp16 cannot overflow */
		b[i] = (uint16_t)((tu_rng(&seed) & 0x807f) | ((0x70 + i % 30) << 7));
		q[i] = (int8_t)tu_rng(&seed);
		if ((h[i] & 0x7c00) == 0x7c00 && (h[i] & 0x3ff))
			h[i] |= 0x200;	/* quiet NaNs only: stored as they are */
	}
	h[0] = 0x7d01;		/* signalling NaN: stored quiet */
	assert_int_equal(tu_st_write(fx->in, t, 3), 0);

	/* fp16 store: f16 as is, bf16 rounded, i8 exact */
	import_ok(fx, CXLMS_FMT_FP16, 0, 0);
	s = open_store(fx);
	fetch_all16(s, lookup(s, "h"), got, N);
	assert_int_equal(got[0], 0x7f01);
	assert_memory_equal(got + 1, h + 1, sizeof(h) - 2);
	fetch_all16(s, lookup(s, "b"), got, N);
	for (i = 0; i < N; i++)
		assert_int_equal(got[i], ref_fp16(f32_of((uint32_t)b[i] << 16)));
	fetch_all16(s, lookup(s, "q"), got, N);
	for (i = 0; i < N; i++)
		assert_int_equal(got[i], ref_fp16(q[i]));
	cxlms_store_unref(s);

	/* bf16 store: bf16 as is, f16 rounded, i8 exact */
	h[0] = 0x3c00;
	for (i = 0; i < N; i++)
		if ((h[i] & 0x7c00) == 0x7c00)
			h[i] &= 0xbfff;	/* no NaN/Inf for the exact comparison */
	assert_int_equal(tu_st_write(fx->in, t, 3), 0);
	import_ok(fx, CXLMS_FMT_BF16, 0, 0);
	s = open_store(fx);
	fetch_all16(s, lookup(s, "b"), got, N);
	assert_memory_equal(got, b, sizeof(b));
	fetch_all16(s, lookup(s, "h"), got, N);
	for (i = 0; i < N; i++)
		assert_int_equal(got[i], ref_bf16((float)fp16_val(h[i])));
	fetch_all16(s, lookup(s, "q"), got, N);
	for (i = 0; i < N; i++)
		assert_int_equal(got[i], ref_bf16((float)q[i]));
	cxlms_store_unref(s);
}

/* --- shapes and options ---------------------------------------------------------- */

static void test_shapes_kept(void **state)
{
	struct fx *fx = *state;
	static float d4[2 * 3 * 5 * 7], d1[100], d0[1] = { 0.5f }, d3[4 * 1 * 9];
	struct tu_st_tensor t[4] = {
		{ .name = "conv", .dtype = "F32", .ndim = 4, .shape = { 2, 3, 5, 7 },
		  .data = d4, .len = sizeof(d4) },
		{ .name = "bias", .dtype = "F32", .ndim = 1, .shape = { 100 },
		  .data = d1, .len = sizeof(d1) },
		{ .name = "scalar", .dtype = "F32", .ndim = 0, .data = d0, .len = 4 },
		{ .name = "t3", .dtype = "F32", .ndim = 3, .shape = { 4, 1, 9 },
		  .data = d3, .len = sizeof(d3) },
	};
	struct cxlms_store *s;
	struct cxlms_tensor *ct;
	unsigned int i;

	for (i = 0; i < 210; i++)
		d4[i] = (float)i;
	for (i = 0; i < 100; i++)
		d1[i] = -(float)i;
	assert_int_equal(tu_st_write(fx->in, t, 4), 0);
	import_ok(fx, CXLMS_FMT_INT8, 0, 0);
	s = open_store(fx);
	assert_int_equal(cxlms_store_get_tensor_count(s), 4);

	ct = lookup(s, "conv");
	assert_int_equal(cxlms_tensor_get_ndim(ct), 4);
	assert_int_equal(cxlms_tensor_get_dim(ct, 0), 2);
	assert_int_equal(cxlms_tensor_get_dim(ct, 1), 3);
	assert_int_equal(cxlms_tensor_get_dim(ct, 2), 5);
	assert_int_equal(cxlms_tensor_get_dim(ct, 3), 7);
	assert_int_equal(cxlms_tensor_get_dim(ct, 4), 0);
	assert_int_equal(cxlms_tensor_get_rows(ct), 30);
	assert_int_equal(cxlms_tensor_get_cols(ct), 7);
	assert_int_equal(cxlms_tensor_get_elems(ct), 210);
	check_int8(s, ct, d4, 30, 7, 128);

	ct = lookup(s, "bias");
	assert_int_equal(cxlms_tensor_get_ndim(ct), 1);
	assert_int_equal(cxlms_tensor_get_rows(ct), 1);
	assert_int_equal(cxlms_tensor_get_cols(ct), 100);
	assert_int_equal(cxlms_tensor_get_tile_count(ct), 1);
	check_int8(s, ct, d1, 1, 100, 128);

	/* a scalar is stored as the 1-D tensor [1] */
	ct = lookup(s, "scalar");
	assert_int_equal(cxlms_tensor_get_ndim(ct), 1);
	assert_int_equal(cxlms_tensor_get_dim(ct, 0), 1);
	check_int8(s, ct, d0, 1, 1, 128);

	ct = lookup(s, "t3");
	assert_int_equal(cxlms_tensor_get_ndim(ct), 3);
	assert_int_equal(cxlms_tensor_get_dim(ct, 1), 1);
	assert_int_equal(cxlms_tensor_get_rows(ct), 4);
	assert_int_equal(cxlms_tensor_get_cols(ct), 9);

	/* directory order is the file's order */
	i = 0;
	cxlms_tensor_foreach(s, ct)
		assert_string_equal(cxlms_tensor_get_name(ct), t[i++].name);
	assert_int_equal(i, 4);
	assert_int_equal(cxlms_store_verify(s), 0);
	cxlms_store_unref(s);
}

static void test_bad_options(void **state)
{
	struct fx *fx = *state;
	float v[4] = { 1, 2, 3, 4 };
	struct tu_st_tensor t = { .name = "w", .dtype = "F32", .ndim = 1,
				  .shape = { 4 }, .data = v, .len = sizeof(v) };

	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	assert_int_equal(import(fx, 99, 0, 0), -EINVAL);
	assert_logged(&lc, "unknown store format 99");
	assert_int_equal(access(fx->out, F_OK), -1);

	/* destination directory missing */
	tu_log_clear(&lc);
	assert_int_equal(cxlms_import_safetensors(fx->ctx, fx->in, "/nonexistent-dir/x.cxlms",
						  NULL), -ENOENT);
	assert_true(lc.count >= 1);
	/* input missing */
	assert_int_equal(cxlms_import_safetensors(fx->ctx, "/nonexistent.st", fx->out, NULL),
			 -ENOENT);
	assert_int_equal(cxlms_import_safetensors(NULL, fx->in, fx->out, NULL), -EINVAL);
	assert_int_equal(tu_count_entries(fx->outdir), 0);
}

/*
 * The library, not only the CLI, refuses to replace what is not a regular
 * file: a FIFO, a symbolic link (even a dangling one) and a directory stay.
 */
static void test_dest_not_regular(void **state)
{
	struct fx *fx = *state;
	float v[4] = { 1, 2, 3, 4 };
	struct tu_st_tensor t = { .name = "w", .dtype = "F32", .ndim = 1,
				  .shape = { 4 }, .data = v, .len = sizeof(v) };
	struct stat st;

	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	assert_int_equal(mkfifo(fx->out, 0600), 0);
	tu_log_clear(&lc);
	assert_int_equal(cxlms_import_safetensors(fx->ctx, fx->in, fx->out, NULL), -EEXIST);
	assert_logged(&lc, "not a regular file");
	assert_int_equal(lstat(fx->out, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(unlink(fx->out), 0);

	assert_int_equal(symlink("/nonexistent-target", fx->out), 0);
	assert_int_equal(cxlms_import_safetensors(fx->ctx, fx->in, fx->out, NULL), -EEXIST);
	assert_int_equal(lstat(fx->out, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(unlink(fx->out), 0);

	assert_int_equal(mkdir(fx->out, 0700), 0);
	assert_int_equal(cxlms_import_safetensors(fx->ctx, fx->in, fx->out, NULL), -EEXIST);
	assert_int_equal(lstat(fx->out, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(rmdir(fx->out), 0);
	/* and a regular file is still replaced */
	assert_int_equal(cxlms_import_safetensors(fx->ctx, fx->in, fx->out, NULL), 0);
}

static void test_row_too_long(void **state)
{
	struct fx *fx = *state;
	/* a 1-D tensor longer than a tile can hold: refused, naming it */
	const uint64_t n = (1u << 24) + 8;
	int8_t *v = calloc(1, n);
	struct tu_st_tensor t = { .name = "huge.bias", .dtype = "I8", .ndim = 1,
				  .shape = { n }, .data = v, .len = n };

	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	assert_int_equal(import(fx, CXLMS_FMT_INT8, 0, 0), -EOPNOTSUPP);
	assert_logged(&lc, "tensor 'huge.bias'");
	assert_logged(&lc, "tile limit");
	assert_int_equal(tu_count_entries(fx->outdir), 0);
	free(v);
}

/* --- value errors ------------------------------------------------------------------ */

static void expect_value_error(struct fx *fx, const char *dtype_in, const void *data,
			       size_t len, unsigned int fmt, int err,
			       const char *msg1, const char *msg2)
{
	struct tu_st_tensor t[2] = {
		{ .name = "ok", .dtype = "F32", .ndim = 1, .shape = { 1 },
		  .data = "\0\0\x80\x3f", .len = 4 },
		{ .name = "bad.weight", .dtype = dtype_in, .ndim = 1,
		  .shape = { len / (dtype_in[1] == '3' ? 4 : 2) }, .data = data, .len = len },
	};

	assert_int_equal(tu_st_write(fx->in, t, 2), 0);
	assert_int_equal(import(fx, fmt, 0, 0), err);
	assert_logged(&lc, "tensor 'bad.weight'");
	assert_logged(&lc, msg1);
	if (msg2)
		assert_logged(&lc, msg2);
	assert_int_equal(tu_count_entries(fx->outdir), 0);
}

static void test_nan_to_int8(void **state)
{
	float v[300] = { 0 };

	v[257] = NAN;
	expect_value_error(*state, "F32", v, sizeof(v), CXLMS_FMT_INT8, -EINVAL,
			   "element 257", "not finite");
}

static void test_inf_f16_to_int8(void **state)
{
	uint16_t v[8] = { 0x3c00, 0x3c00, 0xfc00 };

	expect_value_error(*state, "F16", v, sizeof(v), CXLMS_FMT_INT8, -EINVAL,
			   "element 2", "not finite");
}

static void test_int8_scale_overflow(void **state)
{
	float v[4] = { 1, 2, 1e7f, 4 };

	expect_value_error(*state, "F32", v, sizeof(v), CXLMS_FMT_INT8, -ERANGE,
			   "element 0", "beyond fp16");
}

static void test_fp16_overflow(void **state)
{
	float v[4] = { 1, 65520.0f, 3, 4 };	/* rounds to Inf in fp16 */

	expect_value_error(*state, "F32", v, sizeof(v), CXLMS_FMT_FP16, -ERANGE,
			   "element 1", "overflows fp16");
}

static void test_bf16_overflow(void **state)
{
	float v[2] = { 1, 3.4e38f };	/* rounds past the largest bf16 */

	expect_value_error(*state, "F32", v, sizeof(v), CXLMS_FMT_BF16, -ERANGE,
			   "element 1", "overflows bf16");
}

/* --- progress ------------------------------------------------------------------------ */

struct prog_rec {
	uint64_t done[4096], total[4096];
	unsigned int n;
};

static void record_progress(void *arg, uint64_t done, uint64_t total)
{
	struct prog_rec *p = arg;

	if (p->n < 4096) {
		p->done[p->n] = done;
		p->total[p->n] = total;
		p->n++;
	}
}

static void test_progress(void **state)
{
	struct fx *fx = *state;
	const uint64_t rows = 1024, cols = 512, total = rows * cols * 4;
	float *x = make_weights(rows, cols, 7);
	struct tu_st_tensor t = { .name = "w", .dtype = "F32", .ndim = 2,
				  .shape = { rows, cols }, .data = x, .len = total };
	struct prog_rec *p = calloc(1, sizeof(*p));
	struct cxlms_import_opts o = { .tile_rows = 4, .progress = record_progress,
				       .progress_arg = p };
	unsigned int i;

	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	assert_int_equal(cxlms_import_safetensors(fx->ctx, fx->in, fx->out, &o), 0);
	assert_true(p->n >= 50);
	assert_int_equal(p->done[0], 0);
	assert_int_equal(p->done[p->n - 1], total);
	for (i = 0; i < p->n; i++) {
		assert_int_equal(p->total[i], total);
		if (i) {
			assert_true(p->done[i] >= p->done[i - 1]);
			/* at least every 1% (+ one tile of 4 rows) */
			assert_true(p->done[i] - p->done[i - 1] <= total / 100 + 4 * cols * 4);
		}
	}
	free(p);
	free(x);
}

/* --- atomicity ------------------------------------------------------------------------- */

/* A previous store at the destination; returns its bytes. */
static void *make_previous(struct fx *fx, size_t *len)
{
	float v[64];
	struct tu_st_tensor t = { .name = "previous", .dtype = "F32", .ndim = 2,
				  .shape = { 8, 8 }, .data = v, .len = sizeof(v) };
	void *bytes;
	unsigned int i;

	for (i = 0; i < 64; i++)
		v[i] = (float)i;
	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	import_ok(fx, CXLMS_FMT_INT8, 0, 0);
	bytes = tu_read_file(fx->out, len);
	assert_non_null(bytes);
	assert_int_equal(tu_count_entries(fx->outdir), 1);
	return bytes;
}

static void assert_previous_intact(struct fx *fx, const void *prev, size_t prev_len)
{
	struct cxlms_store *s;
	struct cxlms_tensor *t;
	size_t len;
	void *now = tu_read_file(fx->out, &len);

	assert_non_null(now);
	assert_int_equal(len, prev_len);
	assert_memory_equal(now, prev, len);
	free(now);
	s = open_store(fx);
	assert_int_equal(cxlms_store_get_tensor_count(s), 1);
	assert_int_equal(cxlms_tensor_lookup(s, "previous", &t), 0);
	assert_int_equal(cxlms_store_verify(s), 0);
	cxlms_store_unref(s);
}

static void kill_half_way(void *arg, uint64_t done, uint64_t total)
{
	if (done * 2 >= total && done < total)
		raise(SIGKILL);
}

/* Import a big file in a child that SIGKILLs itself half-way. */
static void import_killed(struct fx *fx)
{
	const uint64_t rows = 2048, cols = 1024;
	float *x = make_weights(rows, cols, 8);
	struct tu_st_tensor t = { .name = "big", .dtype = "F32", .ndim = 2,
				  .shape = { rows, cols }, .data = x,
				  .len = rows * cols * 4 };
	int status;
	pid_t pid;

	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	free(x);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cxlms_import_opts o = { .tile_rows = 16, .progress = kill_half_way };

		cxlms_import_safetensors(fx->ctx, fx->in, fx->out, &o);
		_exit(3);	/* never reached if the kill happened */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_atomic_kill_keeps_previous(void **state)
{
	struct fx *fx = *state;
	size_t len;
	void *prev = make_previous(fx, &len);

	import_killed(fx);
	assert_previous_intact(fx, prev, len);
	free(prev);
}

static void test_atomic_kill_leaves_no_file(void **state)
{
	struct fx *fx = *state;
	size_t len;
	void *prev;
	int fd = open(fx->outdir, O_TMPFILE | O_RDWR, 0600);

	if (fd < 0)
		skip();		/* no O_TMPFILE here: the fallback temp name may stay */
	close(fd);
	prev = make_previous(fx, &len);
	import_killed(fx);
	assert_int_equal(tu_count_entries(fx->outdir), 1);
	assert_previous_intact(fx, prev, len);
	free(prev);
}

static void test_failed_validation_keeps_previous(void **state)
{
	struct fx *fx = *state;
	size_t len;
	void *prev = make_previous(fx, &len);
	const char *hdr = "{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]},"
			  "\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
	size_t ilen;
	void *img = tu_st_raw(hdr, strlen(hdr), "xy", 2, &ilen);

	assert_int_equal(tu_write_file(fx->in, img, ilen), 0);
	free(img);
	assert_int_equal(import(fx, 0, 0, 0), -EEXIST);
	assert_logged(&lc, "duplicate tensor name 'a'");
	assert_int_equal(tu_count_entries(fx->outdir), 1);
	assert_previous_intact(fx, prev, len);
	free(prev);
}

static void test_failed_conversion_keeps_previous(void **state)
{
	struct fx *fx = *state;
	size_t len;
	void *prev = make_previous(fx, &len);
	float v[1000];
	struct tu_st_tensor t = { .name = "w", .dtype = "F32", .ndim = 2,
				  .shape = { 10, 100 }, .data = v, .len = sizeof(v) };
	unsigned int i;

	for (i = 0; i < 1000; i++)
		v[i] = (float)i;
	v[999] = INFINITY;	/* found in the last tile, after the file exists */
	assert_int_equal(tu_st_write(fx->in, &t, 1), 0);
	assert_int_equal(import(fx, CXLMS_FMT_INT8, 0, 1), -EINVAL);
	assert_logged(&lc, "element 999");
	assert_int_equal(tu_count_entries(fx->outdir), 1);
	assert_previous_intact(fx, prev, len);
	free(prev);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_f32_to_int8),
		T(test_f16_bf16_to_int8),
		T(test_i8_to_int8),
		T(test_f32_to_bf16),
		T(test_f32_to_fp16),
		T(test_16bit_cross_and_identity),
		T(test_shapes_kept),
		T(test_bad_options),
		T(test_dest_not_regular),
		T(test_row_too_long),
		T(test_nan_to_int8),
		T(test_inf_f16_to_int8),
		T(test_int8_scale_overflow),
		T(test_fp16_overflow),
		T(test_bf16_overflow),
		T(test_progress),
		T(test_atomic_kill_keeps_previous),
		T(test_atomic_kill_leaves_no_file),
		T(test_failed_validation_keeps_previous),
		T(test_failed_conversion_keeps_previous),
	};

	return cmocka_run_group_tests_name("import", tests, NULL, NULL);
}
