// SPDX-License-Identifier: GPL-2.0
/*
 * ggml as the measured GEMV peer: a weight matrix quantized by ggml to one
 * of its types, multiplied through ggml's own MUL_MAT on the CPU backend,
 * i.e. what llama.cpp runs for a decode step's matrix-vector product.
 * The activation is quantized inside MUL_MAT (to Q8_0 or Q8_K), so it is
 * in the time and in the error, as it is for a llama.cpp user.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

#include "peer.h"

#define MAXT 2

struct peer_copy {
	struct ggml_context *wctx;	/* the weight tensor, in @wbuf */
	ggml_backend_buffer_t wbuf;
	struct ggml_tensor *w, *y;
	struct ggml_cgraph *gf;
};

struct peer {
	uint64_t rows, cols;
	unsigned int copies;
	struct ggml_context *gctx;	/* x, the results, the graphs */
	ggml_backend_buffer_t gbuf;
	struct ggml_tensor *x;
	struct peer_copy c[];
};

static ggml_backend_t backend[MAXT + 1];
static struct ggml_threadpool *pool[MAXT + 1];
static unsigned int n_backends;
static char info[256];

static const struct {
	const char *name;
	enum ggml_type type;
} types[] = {
	{ "Q8_0", GGML_TYPE_Q8_0 }, { "Q6_K", GGML_TYPE_Q6_K },
	{ "Q5_K", GGML_TYPE_Q5_K }, { "Q5_0", GGML_TYPE_Q5_0 },
	{ "Q4_0", GGML_TYPE_Q4_0 }, { "Q4_K", GGML_TYPE_Q4_K },
	{ "Q3_K", GGML_TYPE_Q3_K }, { "Q2_K", GGML_TYPE_Q2_K },
	{ "IQ4_NL", GGML_TYPE_IQ4_NL },
};

const char *peer_info(void)
{
	snprintf(info, sizeof(info), "ggml %s (%s), CPU%s%s%s%s", ggml_version(),
		 ggml_commit(), ggml_cpu_has_avx2() ? " AVX2" : "",
		 ggml_cpu_has_avx512() ? " AVX512" : "",
		 ggml_cpu_has_avx512_vnni() ? " VNNI" : "",
		 ggml_cpu_has_avx512_vbmi() ? " VBMI" : "");
	return info;
}

int peer_open(unsigned int max_threads)
{
	unsigned int t;

	if (max_threads > MAXT)
		return -EINVAL;
	for (t = 1; t <= max_threads; t++) {
		struct ggml_threadpool_params tp = ggml_threadpool_params_default((int)t);

		backend[t] = ggml_backend_cpu_init();
		pool[t] = ggml_threadpool_new(&tp);
		if (!backend[t] || !pool[t])
			return -ENOMEM;
		ggml_backend_cpu_set_n_threads(backend[t], (int)t);
		ggml_backend_cpu_set_threadpool(backend[t], pool[t]);
		ggml_threadpool_pause(pool[t]);
		n_backends = t;
	}
	return 0;
}

void peer_close(void)
{
	unsigned int t;

	for (t = 1; t <= n_backends; t++) {
		ggml_backend_free(backend[t]);
		ggml_threadpool_free(pool[t]);
	}
	n_backends = 0;
}

void peer_pause(void)
{
	unsigned int t;

	for (t = 1; t <= n_backends; t++)
		ggml_threadpool_pause(pool[t]);
}

/* llama.cpp's CPU_REPACK buffer type (NULL if this CPU backend has none). */
static ggml_backend_buffer_type_t repack_buft(void)
{
	ggml_backend_dev_t dev = ggml_backend_reg_dev_get(ggml_backend_cpu_reg(), 0);
	ggml_backend_dev_get_extra_bufts_t get = (ggml_backend_dev_get_extra_bufts_t)
		ggml_backend_reg_get_proc_address(ggml_backend_cpu_reg(),
						  "ggml_backend_dev_get_extra_bufts");
	ggml_backend_buffer_type_t *b;

	for (b = get ? get(dev) : NULL; b && *b; b++)
		if (!strcmp(ggml_backend_buft_name(*b), "CPU_REPACK"))
			return *b;
	return NULL;
}

struct qjob {
	enum ggml_type type;
	const float *w;
	uint8_t *dst;
	uint64_t row0, rows, cols;
	pthread_t tid;
};

static void *qmain(void *arg)
{
	struct qjob *j = arg;

	ggml_quantize_chunk(j->type, j->w, j->dst, (int64_t)(j->row0 * j->cols),
			    (int64_t)j->rows, (int64_t)j->cols, NULL);
	return NULL;
}

/* Quantize on two threads (setup, not timed). */
static void quantize(enum ggml_type type, const float *w, uint8_t *dst,
		     uint64_t rows, uint64_t cols)
{
	struct qjob j[2];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		j[i] = (struct qjob){ .type = type, .w = w, .cols = cols,
				      .row0 = rows / 2 * i,
				      .rows = i ? rows - rows / 2 : rows / 2 };
		/* ggml_quantize_chunk() offsets src and dst by start itself. */
		j[i].dst = dst;
	}
	pthread_create(&j[1].tid, NULL, qmain, &j[1]);
	qmain(&j[0]);
	pthread_join(j[1].tid, NULL);
}

int peer_new(const char *tname, int repack, uint64_t rows, uint64_t cols,
	     const float *w, const float *x, unsigned int copies,
	     struct peer **out)
{
	ggml_backend_buffer_type_t buft = ggml_backend_cpu_buffer_type();
	enum ggml_type type = GGML_TYPE_COUNT;
	struct ggml_init_params ip;
	struct peer *p;
	uint8_t *q;
	unsigned int i;
	size_t nb;
	int rc = -ENOMEM;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(types[i].name, tname))
			type = types[i].type;
	if (type == GGML_TYPE_COUNT || !copies || cols % ggml_blck_size(type))
		return -EINVAL;
	if (repack && !(buft = repack_buft()))
		return -EOPNOTSUPP;
	nb = ggml_row_size(type, (int64_t)cols) * rows;
	p = calloc(1, sizeof(*p) + copies * sizeof(p->c[0]));
	q = malloc(nb);
	if (!p || !q)
		goto fail;
	p->rows = rows;
	p->cols = cols;
	p->copies = copies;
	quantize(type, w, q, rows, cols);

	ip = (struct ggml_init_params){ .mem_size = ggml_tensor_overhead() * (copies + 1) +
		copies * ggml_graph_overhead_custom(8, false) + 4096, .no_alloc = true };
	p->gctx = ggml_init(ip);
	if (!p->gctx)
		goto fail;
	p->x = ggml_new_tensor_2d(p->gctx, GGML_TYPE_F32, (int64_t)cols, 1);
	for (i = 0; i < copies; i++) {
		struct peer_copy *c = &p->c[i];

		ip = (struct ggml_init_params){ .mem_size = ggml_tensor_overhead() * 2,
						.no_alloc = true };
		c->wctx = ggml_init(ip);
		if (!c->wctx)
			goto fail;
		c->w = ggml_new_tensor_2d(c->wctx, type, (int64_t)cols, (int64_t)rows);
		c->wbuf = ggml_backend_alloc_ctx_tensors_from_buft(c->wctx, buft);
		if (!c->wbuf)
			goto fail;
		/* The repack buffer leaves extra NULL when it has no layout for this type. */
		if (repack && !c->w->extra) {
			rc = -EOPNOTSUPP;
			goto fail;
		}
		ggml_backend_tensor_set(c->w, q, 0, nb);
		c->y = ggml_mul_mat(p->gctx, c->w, p->x);
		c->gf = ggml_new_graph_custom(p->gctx, 8, false);
		ggml_build_forward_expand(c->gf, c->y);
	}
	p->gbuf = ggml_backend_alloc_ctx_tensors_from_buft(p->gctx, ggml_backend_cpu_buffer_type());
	if (!p->gbuf)
		goto fail;
	ggml_backend_tensor_set(p->x, x, 0, cols * sizeof(float));
	free(q);
	*out = p;
	return 0;
fail:
	free(q);
	peer_free(p);
	return rc;
}

void peer_free(struct peer *p)
{
	unsigned int i;

	if (!p)
		return;
	for (i = 0; i < p->copies; i++) {
		if (p->c[i].wbuf)
			ggml_backend_buffer_free(p->c[i].wbuf);
		if (p->c[i].wctx)
			ggml_free(p->c[i].wctx);
	}
	if (p->gbuf)
		ggml_backend_buffer_free(p->gbuf);
	if (p->gctx)
		ggml_free(p->gctx);
	free(p);
}

size_t peer_bytes(const struct peer *p)
{
	return ggml_nbytes(p->c[0].w);
}

const void *peer_data(const struct peer *p, unsigned int copy)
{
	return p->c[copy % p->copies].w->data;
}

void peer_resume(unsigned int threads)
{
	struct timespec t0, t;

	if (threads < 1 || threads > n_backends)
		return;
	ggml_threadpool_resume(pool[threads]);
	/*
	 * Give the woken workers a moment to be running (they then poll for
	 * the next graph, as between the ops of a llama.cpp decode step).
	 */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec < 1000000);
}

int peer_gemv(struct peer *p, unsigned int copy, unsigned int threads)
{
	if (threads < 1 || threads > n_backends)
		return -EINVAL;
	return ggml_backend_graph_compute(backend[threads], p->c[copy % p->copies].gf) ==
	       GGML_STATUS_SUCCESS ? 0 : -EIO;
}

void peer_result(const struct peer *p, unsigned int copy, float *y)
{
	ggml_backend_tensor_get(p->c[copy % p->copies].y, y, 0, p->rows * sizeof(float));
}
