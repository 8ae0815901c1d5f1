// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_gemv() / cxlms_gemm(): y = W[row0 .. row0 + n) . x straight from
 * the top k bit-planes of a tensor, without a decoded tile in memory.
 *
 * The call is split by tiles: for each tile the rows overlap, a view of
 * the tile (planes, scales, levels) is taken -- a pointer into the store
 * when the backend maps it (file backend), else a CXLMS_OUT_PLANES fetch
 * of exactly k planes into a per-thread buffer (kernel backend) -- and a
 * kernel runs over the rows.  Kernels: the portable reference below and
 * SIMD variants (gemv_avx2.c, gemv_avx512.c) picked with the codec's SIMD
 * variant (lib/simd, CXLMS_FORCE_ISA).
 *
 * Arithmetic (f32 activations, the default): each weight is
 * float(level / 256) * float(scale), which is exactly the binary32 that
 * cxlms_fetch(..., CXLMS_OUT_F32) returns, and the products are summed in
 * float lanes (SIMD) or double (reference).  CXLMS_GEMV_Q8_ACT quantizes
 * each vector to int8 per 32 columns first and sums integer products.
 */
#include <errno.h>
#include <math.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"
#include "simd/simd.h"
#include "gemv_priv.h"

#define GEMV_MAX_THREADS	256

/* --- portable reference kernels ---------------------------------------- */

int cxlms_gemv_ref_int8_f32(const struct gemv_view *v, uint32_t row0,
			    uint32_t n_rows, const struct gemv_args *a)
{
	uint32_t r, c, j, p, vec;

	for (r = 0; r < n_rows; r++) {
		uint64_t e0 = (uint64_t)(row0 + r) * v->cols;
		const uint8_t *sc = v->scales + (size_t)(row0 + r) * v->gpr * 2;
		double acc[GEMV_MAX_VEC] = { 0 };

		for (c = 0; c < v->cols; c += 64) {
			uint64_t w[8];
			uint32_t n = v->cols - c < 64 ? v->cols - c : 64;

			for (p = 0; p < v->k; p++)
				w[p] = gemv_bits64(v->planes + p * v->stride,
						   v->valid, e0 + c);
			for (j = 0; j < n; j++) {
				uint32_t u = 0, col = c + j;
				float wt;

				for (p = 0; p < v->k; p++)
					u = (u << 1) | ((w[p] >> j) & 1);
				/* The binary32 that an F32 fetch returns. */
				wt = v->lvf[u] *
				     gemv_fp16_to_float(sc + 2 * (col / v->group_size));
				for (vec = 0; vec < a->n_vec; vec++)
					acc[vec] += (double)wt * a->x[vec * a->ldx + col];
			}
		}
		for (vec = 0; vec < a->n_vec; vec++)
			a->y[vec * a->ldy + r] = (float)acc[vec];
	}
	return 0;
}

/*
 * Q8: integer sums of level (Q8.8) x code over each piece of a row that
 * lies in one activation block and one scale group, then one float
 * multiply by block step x group scale / 256.
 */
int cxlms_gemv_ref_int8_q8(const struct gemv_view *v, uint32_t row0,
			   uint32_t n_rows, const struct gemv_args *a)
{
	uint32_t r, c, p, vec;

	for (r = 0; r < n_rows; r++) {
		uint64_t e0 = (uint64_t)(row0 + r) * v->cols;
		const uint8_t *sc = v->scales + (size_t)(row0 + r) * v->gpr * 2;
		double acc[GEMV_MAX_VEC] = { 0 };
		int64_t isum[GEMV_MAX_VEC] = { 0 };
		uint64_t w[8];

		for (c = 0; c < v->cols; c++) {
			uint32_t u = 0;

			if (c % 64 == 0)
				for (p = 0; p < v->k; p++)
					w[p] = gemv_bits64(v->planes + p * v->stride,
							   v->valid, e0 + c);
			for (p = 0; p < v->k; p++)
				u = (u << 1) | ((w[p] >> (c % 64)) & 1);
			for (vec = 0; vec < a->n_vec; vec++)
				isum[vec] += (int64_t)v->lvq[u] * a->xq[vec * a->ldq + c];
			if (c + 1 == v->cols || (c + 1) % GEMV_Q8_BLOCK == 0 ||
			    (c + 1) % v->group_size == 0) {
				float s = gemv_fp16_to_float(sc + 2 * (c / v->group_size));

				for (vec = 0; vec < a->n_vec; vec++) {
					float d = a->dx[vec * (a->ldq / GEMV_Q8_BLOCK) +
							c / GEMV_Q8_BLOCK];

					acc[vec] += (double)isum[vec] * ((double)d * s / 256.0);
					isum[vec] = 0;
				}
			}
		}
		for (vec = 0; vec < a->n_vec; vec++)
			a->y[vec * a->ldy + r] = (float)acc[vec];
	}
	return 0;
}

/* BF16/FP16: the top k bits of each value, dropped bits per recon. */
int cxlms_gemv_ref_16(const struct gemv_view *v, uint32_t row0,
		      uint32_t n_rows, const struct gemv_args *a)
{
	uint32_t e_bits = v->fmt == CXLMS_FMT_BF16 ? 8 : 5;
	uint16_t exp_mask = (uint16_t)(((1u << e_bits) - 1) << (15 - e_bits));
	uint32_t d = 16 - v->k, r, c, j, p, vec;

	for (r = 0; r < n_rows; r++) {
		uint64_t e0 = (uint64_t)(row0 + r) * v->cols;
		double acc[GEMV_MAX_VEC] = { 0 };

		for (c = 0; c < v->cols; c += 64) {
			uint64_t w[16];
			uint32_t n = v->cols - c < 64 ? v->cols - c : 64;

			for (p = 0; p < v->k; p++)
				w[p] = gemv_bits64(v->planes + p * v->stride,
						   v->valid, e0 + c);
			for (j = 0; j < n; j++) {
				uint32_t u = 0, f;
				uint16_t h;
				float wt;

				for (p = 0; p < v->k; p++)
					u = (u << 1) | ((w[p] >> j) & 1);
				h = (uint16_t)(u << d);
				/* As the codec's midpoint: zeros, Inf, NaN stay. */
				if (d && v->recon == CXLMS_RECON_MIDPOINT &&
				    (h & 0x7fff) && (h & exp_mask) != exp_mask)
					h |= (uint16_t)(1u << (d - 1));
				f = v->fmt == CXLMS_FMT_BF16 ? (uint32_t)h << 16 :
				    cxlms_fp16_to_f32_bits(h);
				memcpy(&wt, &f, 4);
				for (vec = 0; vec < a->n_vec; vec++)
					acc[vec] += (double)wt * a->x[vec * a->ldx + c + j];
			}
		}
		for (vec = 0; vec < a->n_vec; vec++)
			a->y[vec * a->ldy + r] = (float)acc[vec];
	}
	return 0;
}

static const struct gemv_kernels portable_kernels = {
	.name = "portable",
	.int8_f32 = cxlms_gemv_ref_int8_f32,
	.int8_q8 = cxlms_gemv_ref_int8_q8,
};

/* The kernels of the codec's SIMD variant in use (CXLMS_FORCE_ISA too). */
static const struct gemv_kernels *kernels(void)
{
#if defined(__x86_64__) && defined(CXLMS_HAVE_SIMD)
	const char *isa = cxlms_simd_isa_name();

	unsigned int eax, ebx, ecx = 0, edx;

	/* The kernels also use FMA and F16C (CPUID 1 ECX bits 12 and 29). */
	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) ||
	    (ecx & ((1u << 12) | (1u << 29))) != ((1u << 12) | (1u << 29)))
		return &portable_kernels;
	/* Every GFNI-level CPU (Ice Lake, Zen 4 on) has VNNI too; checked anyway. */
	if (!strcmp(isa, "gfni") && __builtin_cpu_supports("avx512vnni"))
		return cxlms_gemv_kernels_vnni();
	if (!strcmp(isa, "avx512") || !strcmp(isa, "gfni"))
		return cxlms_gemv_kernels_avx512();
	if (!strcmp(isa, "avx2"))
		return cxlms_gemv_kernels_avx2();
#endif
	return &portable_kernels;
}

/* --- tiles ------------------------------------------------------------- */

/*
 * The one place that knows how rows map to tiles: tile @tile of @t starts
 * at row *@first_row and has the returned number of rows (the last tile
 * may be short).
 */
static uint32_t gemv_tile_rows(struct cxlms_tensor *t, unsigned int tile,
			       uint64_t *first_row)
{
	return cxlms_tile_row_count(t, tile, first_row);
}

struct gemv_call {
	struct cxlms_store *s;
	struct cxlms_tensor *t;
	uint64_t row0, n_rows;
	unsigned int first_tile;
	const uint8_t *bits;		/* per tile from first_tile */
	unsigned int recon;		/* as passed (0: default) */
	int resolved_recon;
	bool q8;
	struct gemv_args a;		/* y, ldy relative to row0 */
	const struct gemv_kernels *kern;
	size_t buf_len;			/* per-worker PLANES buffer, 0: mapped */
};

/* INT8 levels of bucket patterns at k bits, as the codec defines them. */
static void view_levels(struct gemv_view *v, const uint8_t *table_k)
{
	uint32_t k = v->k, u;

	v->linear = k == 8 || v->recon != CXLMS_RECON_TABLE;
	v->mid = (k < 8 && v->recon == CXLMS_RECON_MIDPOINT) ? 1 << (7 - k) : 0;
	for (u = 0; u < (1u << k); u++) {
		int32_t lv;

		if (table_k) {
			lv = (int16_t)(table_k[2 * u] | (table_k[2 * u + 1] << 8));
		} else {
			/* Top-aligned code, then the midpoint offset. */
			lv = ((int32_t)(int8_t)(uint8_t)(u << (8 - k)) + v->mid) * 256;
		}
		v->lvq[u] = (int16_t)lv;
		v->lvf[u] = (float)lv / 256.0f;
	}
	/*
	 * Kernels load whole table registers: entries past 2^k must be
	 * defined (and not subnormal: scaling them would take FP assists).
	 */
	for (; u < 256; u++) {
		v->lvq[u] = 0;
		v->lvf[u] = 0.0f;
	}
}

/* Fill @v for tile @tile at @k: mapped, or fetched as PLANES into @buf. */
static int tile_view(const struct gemv_call *c, unsigned int tile,
		     unsigned int k, uint8_t *buf, struct gemv_view *v)
{
	struct cxlms_tensor *t = c->t;
	uint32_t n = cxlms_tensor_get_tile_elems(t, tile);
	const uint8_t *tp = NULL;
	int64_t got;

	v->fmt = t->geom.fmt;
	v->cols = (uint32_t)t->d.cols;
	v->group_size = t->geom.group_size;
	v->gpr = t->layout.groups_per_row;
	v->k = k;
	v->recon = (uint32_t)c->resolved_recon;
	v->valid = (n + 7) / 8;
	if (!c->buf_len && c->s->ops->tile_map)
		tp = c->s->ops->tile_map(c->s, t, tile);
	if (tp) {
		/* A short last tile has a layout of its own (format.md 1.2). */
		struct cxlms_tile_layout tl;
		struct cxlms_tile_span sp;

		if (cxlms_dirent_tile(&t->d, tile, &sp, &tl))
			return -EINVAL;
		v->planes = tp + tl.planes_off;
		v->stride = tl.plane_stride;
		v->scales = tp + tl.scales_off;
		if (v->fmt == CXLMS_FMT_INT8)
			view_levels(v, v->recon == CXLMS_RECON_TABLE && k < 8 ?
				    tp + tl.table_off + 2 * ((1u << k) - 2) : NULL);
		return 0;
	}
	got = cxlms_fetch(c->s, t, tile, k, CXLMS_OUT_PLANES, c->recon, buf,
			  c->buf_len);
	if (got < 0)
		return (int)got;
	v->planes = buf;
	v->stride = v->valid;	/* planes back to back, ceil(n / 8) bytes each */
	if (v->fmt == CXLMS_FMT_INT8) {
		struct cxlms_fetch_layout fl;
		int rc = cxlms_fetch_layout(&t->geom, n, k, CXLMS_OUT_PLANES,
					    c->recon, &fl);

		if (rc)
			return rc;
		v->scales = buf + fl.scales_off;
		/* The fetch hands out the levels of the recon it used. */
		view_levels(v, buf + fl.levels_off);
	}
	return 0;
}

/* Mapped reads do not pass through cxlms_fetch(): count them here. */
static void count_mapped(const struct gemv_call *c, unsigned int k,
			 uint64_t rows)
{
	struct cxlms_tensor *t = c->t;
	uint64_t planes = (rows * t->d.cols + 7) / 8, side = 0;

	if (!c->s->ops->lib_counters)
		return;
	if (t->geom.fmt == CXLMS_FMT_INT8) {
		side = rows * t->layout.groups_per_row * 2;
		if (c->resolved_recon == CXLMS_RECON_TABLE && k < 8)
			side += (1u << k) * 2;
	}
	cxlms_counters_add(&c->s->stats, 1, k, planes, side, 0);
	cxlms_counters_add(&t->stats, 1, k, planes, side, 0);
}

static int run_kernel(const struct gemv_call *c, const struct gemv_view *v,
		      uint32_t r0, uint32_t nr, const struct gemv_args *a)
{
	gemv_kernel_fn fn, ref;
	int rc;

	if (v->fmt != CXLMS_FMT_INT8)
		return cxlms_gemv_ref_16(v, r0, nr, a);
	fn = c->q8 ? c->kern->int8_q8 : c->kern->int8_f32;
	ref = c->q8 ? cxlms_gemv_ref_int8_q8 : cxlms_gemv_ref_int8_f32;
	if (fn && fn != ref) {
		rc = fn(v, r0, nr, a);
		if (rc != -EOPNOTSUPP)
			return rc;
	}
	return ref(v, r0, nr, a);
}

/* Rows [ra, rb) of the call (relative to row0). */
static int gemv_part(const struct gemv_call *c, uint64_t ra, uint64_t rb)
{
	struct gemv_view *v;
	uint8_t *buf = NULL;
	int rc = 0;

	if (ra >= rb)
		return 0;
	v = malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (c->buf_len) {
		buf = aligned_alloc(64, c->buf_len);
		if (!buf) {
			free(v);
			return -ENOMEM;
		}
	}
	while (ra < rb && !rc) {
		uint64_t row = c->row0 + ra, first;
		unsigned int tile = (unsigned int)(row / c->t->d.tile_rows);
		uint32_t nrows = gemv_tile_rows(c->t, tile, &first);
		uint64_t end = first + nrows;
		uint32_t r0 = (uint32_t)(row - first), nr;
		unsigned int k = c->bits[tile - c->first_tile];
		struct gemv_args a = c->a;

		if (end > c->row0 + rb)
			end = c->row0 + rb;
		nr = (uint32_t)(end - row);
		a.y = c->a.y + ra;
		rc = tile_view(c, tile, k, buf, v);
		if (!rc)
			rc = run_kernel(c, v, r0, nr, &a);
		if (!rc && !c->buf_len)
			count_mapped(c, k, nr);
		ra += nr;
	}
	free(buf);
	free(v);
	return rc;
}

struct gemv_thread {
	pthread_t tid;
	const struct gemv_call *c;
	uint64_t ra, rb;
	bool started;
	int rc;
};

static void *gemv_thread_main(void *arg)
{
	struct gemv_thread *th = arg;

	th->rc = gemv_part(th->c, th->ra, th->rb);
	return NULL;
}

/* Rows split evenly over @n threads; the caller's thread runs the first part. */
static int gemv_threads(const struct gemv_call *c, unsigned int n)
{
	struct gemv_thread *th;
	unsigned int i;
	int rc = 0;

	if (n > c->n_rows)
		n = (unsigned int)c->n_rows;
	if (n <= 1)
		return gemv_part(c, 0, c->n_rows);
	th = calloc(n, sizeof(*th));
	if (!th)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		th[i].c = c;
		th[i].ra = c->n_rows * i / n;
		th[i].rb = c->n_rows * (i + 1) / n;
	}
	for (i = 1; i < n; i++)
		th[i].started = !pthread_create(&th[i].tid, NULL,
						gemv_thread_main, &th[i]);
	th[0].rc = gemv_part(c, th[0].ra, th[0].rb);
	for (i = 1; i < n; i++) {
		if (th[i].started)
			pthread_join(th[i].tid, NULL);
		else	/* no thread: the part runs here, the answer is the same */
			th[i].rc = gemv_part(c, th[i].ra, th[i].rb);
	}
	for (i = 0; i < n && !rc; i++)
		rc = th[i].rc;
	free(th);
	return rc;
}

/* --- activation quantization (CXLMS_GEMV_Q8_ACT) ---------------------- */

/* Symmetric int8 per block of 32: step = absmax / 127, round to nearest. */
static void quantize_q8(const float *x, uint32_t cols, int16_t *q, float *dx)
{
	uint32_t b, j;

	for (b = 0; b * GEMV_Q8_BLOCK < cols; b++) {
		uint32_t c0 = b * GEMV_Q8_BLOCK;
		uint32_t n = cols - c0 < GEMV_Q8_BLOCK ? cols - c0 : GEMV_Q8_BLOCK;
		float amax = 0.0f, inv;

		for (j = 0; j < n; j++)
			amax = fmaxf(amax, fabsf(x[c0 + j]));
		dx[b] = amax / 127.0f;
		inv = amax > 0.0f ? 127.0f / amax : 0.0f;
		for (j = 0; j < GEMV_Q8_BLOCK; j++)
			q[c0 + j] = j < n ? (int16_t)lrintf(x[c0 + j] * inv) : 0;
	}
}

/*
 * The forms of the Q8 codes the VNNI kernels take: int8 codes, the step
 * of every 4-column lane (a u8 x s8 dot sums 4 columns per 32-bit lane),
 * and per scale group sum(step x code), for the 128 they add to levels.
 */
static void q8_lanes(const int16_t *xq, const float *dx, unsigned int n_vec,
		     uint32_t cols, size_t ldq, uint32_t group, uint32_t gpr,
		     int8_t *xq8, float *dxl, float *xcorr)
{
	const size_t nb = ldq / GEMV_Q8_BLOCK;
	unsigned int v;
	size_t j;

	for (v = 0; v < n_vec; v++) {
		for (j = 0; j < ldq; j++)
			xq8[v * ldq + j] = j < cols ? (int8_t)xq[v * ldq + j] : 0;
		for (j = 0; j < ldq / 4; j++)
			dxl[v * (ldq / 4) + j] = 4 * j < cols ? dx[v * nb + 4 * j / GEMV_Q8_BLOCK] : 0.0f;
		for (j = 0; j < gpr; j++) {
			uint32_t c0 = (uint32_t)j * group, c;
			uint32_t c1 = cols - c0 < group ? cols : c0 + group;
			double sum = 0;

			for (c = c0; c < c1; c++)
				sum += (double)dx[v * nb + c / GEMV_Q8_BLOCK] * xq[v * ldq + c];
			xcorr[v * gpr + j] = (float)sum;
		}
	}
}

/* --- public API -------------------------------------------------------- */

static int check_opts(const struct cxlms_gemv_opts *o)
{
	if (!o)
		return 0;
	if (o->size < sizeof(*o))
		return -EINVAL;
	/* A newer caller's fields must be zero for this library to ignore them. */
	if (o->size > sizeof(*o) &&
	    !cxlms_all_zero((const uint8_t *)o + sizeof(*o), o->size - sizeof(*o)))
		return -E2BIG;
	if (o->reserved[0] || o->reserved[1])
		return -EINVAL;
	if (o->flags & ~CXLMS_GEMV_Q8_ACT)
		return -EOPNOTSUPP;
	if (o->threads > GEMV_MAX_THREADS)
		return -EINVAL;
	return 0;
}

int cxlms_gemm(struct cxlms_store *s, struct cxlms_tensor *t, uint64_t row0,
	       uint64_t n_rows, unsigned int bits, unsigned int n_vec,
	       const float *x, size_t ldx, float *y, size_t ldy,
	       const struct cxlms_gemv_opts *o)
{
	struct gemv_call c = { .s = s, .t = t, .row0 = row0, .n_rows = n_rows };
	unsigned int first, last, n_tiles, i, threads = 1;
	struct cxlms_fetch_layout fl;
	uint8_t *tbits = NULL;
	int16_t *xq = NULL;
	int8_t *xq8 = NULL;
	float *dx = NULL, *xhat = NULL, *dxl = NULL;
	uint32_t cols;
	int rc;

	if (!s || !t || t->store != s || !x || !y || !n_rows || !n_vec ||
	    n_vec > GEMV_MAX_VEC)
		return -EINVAL;
	rc = check_opts(o);
	if (rc)
		return rc;
	cols = (uint32_t)t->d.cols;
	if (n_vec > 1 && (ldx < cols || ldy < n_rows))
		return -EINVAL;
	if (row0 >= t->d.rows || n_rows > t->d.rows - row0)
		return -ERANGE;
	if (o) {
		c.recon = o->recon;
		c.q8 = (o->flags & CXLMS_GEMV_Q8_ACT) && t->geom.fmt == CXLMS_FMT_INT8;
		threads = o->threads ? o->threads : 1;
	}
	c.resolved_recon = cxlms_recon_resolve(t->geom.fmt, c.recon);
	if (c.resolved_recon < 0)
		return c.resolved_recon;

	first = (unsigned int)(row0 / t->d.tile_rows);
	last = (unsigned int)((row0 + n_rows - 1) / t->d.tile_rows);
	n_tiles = last - first + 1;
	tbits = malloc(n_tiles);
	if (!tbits)
		return -ENOMEM;
	if (bits == CXLMS_BITS_POLICY) {
		rc = cxlms_policy_get_bits(t, first, n_tiles, tbits, NULL);
		if (rc)
			goto out;
	} else if (!bits || bits > CXLMS_MAX_PLANES) {
		rc = -EOPNOTSUPP;
		goto out;
	} else {
		memset(tbits, (int)bits, n_tiles);
	}
	/* Every tile's precision is checked before any y is written. */
	for (i = 0; i < n_tiles; i++) {
		rc = cxlms_fetch_layout(&t->geom, cxlms_tensor_get_tile_elems(t, first + i),
					tbits[i], CXLMS_OUT_F32, c.recon, &fl);
		if (rc)
			goto out;
	}
	c.first_tile = first;
	c.bits = tbits;
	c.kern = kernels();
	c.a.n_vec = n_vec;
	c.a.x = x;
	c.a.ldx = n_vec > 1 ? ldx : cols;
	c.a.y = y;
	c.a.ldy = n_vec > 1 ? ldy : n_rows;
	if (!s->ops->tile_map) {
		/* Largest PLANES fetch of the range: a full tile at the most bits. */
		unsigned int kmax = 0;

		for (i = 0; i < n_tiles; i++)
			if (tbits[i] > kmax)
				kmax = tbits[i];
		rc = cxlms_fetch_layout(&t->geom, t->layout.elems, kmax,
					CXLMS_OUT_PLANES, c.recon, &fl);
		if (rc)
			goto out;
		c.buf_len = (fl.total + 63) / 64 * 64;
	}
	if (c.q8) {
		size_t ldq = (cols + GEMV_Q8_LD - 1) / GEMV_Q8_LD * GEMV_Q8_LD;
		uint32_t gpr = t->layout.groups_per_row;

		xq = malloc(ldq * n_vec * sizeof(*xq));
		dx = malloc(ldq / GEMV_Q8_BLOCK * n_vec * sizeof(*dx));
		xq8 = malloc(ldq * n_vec);
		dxl = malloc((ldq / 4 + gpr) * n_vec * sizeof(*dxl));
		if (!xq || !dx || !xq8 || !dxl) {
			rc = -ENOMEM;
			goto out;
		}
		for (i = 0; i < n_vec; i++)
			quantize_q8(x + i * c.a.ldx, cols, xq + i * ldq,
				    dx + i * (ldq / GEMV_Q8_BLOCK));
		q8_lanes(xq, dx, n_vec, cols, ldq, t->geom.group_size, gpr, xq8, dxl,
			 dxl + ldq / 4 * n_vec);
		c.a.xq = xq;
		c.a.ldq = ldq;
		c.a.dx = dx;
		c.a.xq8 = xq8;
		c.a.dxl = dxl;
		c.a.xcorr = dxl + ldq / 4 * n_vec;
		c.a.gpr = gpr;
		/*
		 * A variant without a Q8 kernel runs its f32 kernel on the
		 * rounded activations (step x code): the same sum up to float
		 * rounding, instead of the much slower portable Q8 kernel.
		 */
		if (!c.kern->int8_q8 && c.kern->int8_f32) {
			xhat = malloc((size_t)cols * n_vec * sizeof(*xhat));
			if (!xhat) {
				rc = -ENOMEM;
				goto out;
			}
			for (i = 0; i < n_vec; i++) {
				uint32_t j;

				for (j = 0; j < cols; j++)
					xhat[(size_t)i * cols + j] =
						dx[i * (ldq / GEMV_Q8_BLOCK) + j / GEMV_Q8_BLOCK] *
						xq[i * ldq + j];
			}
			c.a.x = xhat;
			c.a.ldx = cols;
			c.q8 = false;
		}
	}
	rc = gemv_threads(&c, threads);
out:
	free(xhat);
	free(xq);
	free(xq8);
	free(dx);
	free(dxl);
	free(tbits);
	return rc;
}

int cxlms_gemv(struct cxlms_store *s, struct cxlms_tensor *t, uint64_t row0,
	       uint64_t n_rows, unsigned int bits, const float *x, float *y,
	       const struct cxlms_gemv_opts *o)
{
	return cxlms_gemm(s, t, row0, n_rows, bits, 1, x, 0, y, 0, o);
}
