// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A Llama-architecture decoder on a cxlms store: see llama.h and
 * docs/engine.md.  Uses <libcxlms.h> only.
 *
 * Per layer: RMSNorm, q/k/v projections, rotary positions, grouped-query
 * causal attention over the KV cache, output projection, RMSNorm, SwiGLU
 * (down(silu(gate x) * up x)); then the final norm and the head (lm_head
 * or the tied embedding).  Activations are f32; a batch of tokens goes
 * through each matrix as one cxlms_gemm() of up to 16 vectors, so the
 * weights are read once per 16 tokens.
 */
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

#define GEMM_MAX_VEC	16

static __thread char last_error[256];

static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

const char *cxlms_llama_last_error(void)
{
	return last_error;
}

/* --- config.json ------------------------------------------------------- */

/*
 * A small strict reader for the top level of a JSON object: numbers,
 * booleans and strings are read, nested values skipped (with their
 * strings), anything malformed is -EINVAL.
 */
struct json {
	const char *p, *end;
};

static void json_ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' ||
				 *j->p == '\r'))
		j->p++;
}

/* A string at j->p into @buf (escapes other than \" \\ kept raw). */
static int json_string(struct json *j, char *buf, size_t len)
{
	size_t n = 0;

	if (j->p >= j->end || *j->p != '"')
		return -EINVAL;
	for (j->p++; j->p < j->end && *j->p != '"'; j->p++) {
		char c = *j->p;

		if (c == '\\') {
			if (++j->p >= j->end)
				return -EINVAL;
			c = *j->p;
		}
		if (buf && n + 1 < len)
			buf[n++] = c;
	}
	if (j->p >= j->end)
		return -EINVAL;
	j->p++;
	if (buf && len)
		buf[n] = 0;
	return 0;
}

/* Skip one value of any kind. */
static int json_skip(struct json *j, int depth)
{
	json_ws(j);
	if (j->p >= j->end || depth > 64)
		return -EINVAL;
	if (*j->p == '"')
		return json_string(j, NULL, 0);
	if (*j->p == '{' || *j->p == '[') {
		char close = *j->p == '{' ? '}' : ']';

		j->p++;
		json_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		for (;;) {
			if (close == '}') {
				json_ws(j);
				if (json_string(j, NULL, 0))
					return -EINVAL;
				json_ws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return -EINVAL;
			}
			if (json_skip(j, depth + 1))
				return -EINVAL;
			json_ws(j);
			if (j->p >= j->end)
				return -EINVAL;
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p++ != close)
				return -EINVAL;
			return 0;
		}
	}
	/* number, true, false, null */
	if (!strchr("-0123456789tfn", *j->p))
		return -EINVAL;
	while (j->p < j->end && !strchr(",}] \t\r\n", *j->p))
		j->p++;
	return 0;
}

enum { K_DIM, K_HIDDEN, K_LAYERS, K_HEADS, K_KV_HEADS, K_VOCAB, K_EPS, K_THETA,
       K_MAXPOS, K_TIED, K_ROPE, K_HEAD_DIM, K_N };
static const char *const key_name[K_N] = {
	"hidden_size", "intermediate_size", "num_hidden_layers",
	"num_attention_heads", "num_key_value_heads", "vocab_size",
	"rms_norm_eps", "rope_theta", "max_position_embeddings",
	"tie_word_embeddings", "cxlms_rope", "head_dim",
};

int cxlms_llama_parse_config(const char *json, size_t len,
			     struct cxlms_llama_config *cfg)
{
	struct json j = { json, json + len };
	double num[K_N] = { 0 };
	bool seen[K_N] = { false };
	char key[64], sval[32];
	int i;

	memset(cfg, 0, sizeof(*cfg));
	json_ws(&j);
	if (j.p >= j.end || *j.p++ != '{')
		return fail(-EINVAL, "config.json: not a JSON object");
	json_ws(&j);
	if (j.p < j.end && *j.p == '}')
		j.p++;
	else
		for (;;) {
			json_ws(&j);
			if (json_string(&j, key, sizeof(key)))
				return fail(-EINVAL, "config.json: malformed key");
			json_ws(&j);
			if (j.p >= j.end || *j.p++ != ':')
				return fail(-EINVAL, "config.json: no ':' after \"%s\"", key);
			json_ws(&j);
			for (i = 0; i < K_N; i++)
				if (!strcmp(key, key_name[i]))
					break;
			if (i == K_N || (i == K_HEAD_DIM && j.p < j.end && *j.p == 'n')) {
				if (json_skip(&j, 0))
					return fail(-EINVAL, "config.json: malformed value of \"%s\"", key);
			} else if (i == K_TIED) {
				if (j.end - j.p >= 4 && !memcmp(j.p, "true", 4)) {
					num[i] = 1;
					j.p += 4;
				} else if (j.end - j.p >= 5 && !memcmp(j.p, "false", 5)) {
					j.p += 5;
				} else {
					return fail(-EINVAL, "config.json: \"%s\" is not true/false", key);
				}
				seen[i] = true;
			} else if (i == K_ROPE) {
				if (json_string(&j, sval, sizeof(sval)))
					return fail(-EINVAL, "config.json: \"%s\" is not a string", key);
				if (!strcmp(sval, "interleaved"))
					num[i] = CXLMS_LLAMA_ROPE_INTERLEAVED;
				else if (strcmp(sval, "half"))
					return fail(-EINVAL, "config.json: cxlms_rope \"%s\": not"
						    " \"half\" or \"interleaved\"", sval);
				seen[i] = true;
			} else {
				char *e;

				num[i] = strtod(j.p, &e);
				if (e == j.p || e > j.end || !isfinite(num[i]))
					return fail(-EINVAL, "config.json: \"%s\" is not a number", key);
				j.p = e;
				seen[i] = true;
			}
			json_ws(&j);
			if (j.p < j.end && *j.p == ',') {
				j.p++;
				continue;
			}
			if (j.p >= j.end || *j.p++ != '}')
				return fail(-EINVAL, "config.json: malformed object");
			break;
		}
	for (i = K_DIM; i <= K_VOCAB; i++) {
		if (i == K_KV_HEADS)
			continue;
		if (!seen[i])
			return fail(-ENOEXEC, "config.json: no \"%s\"", key_name[i]);
	}
	for (i = 0; i < K_N; i++) {
		bool integer = i != K_EPS && i != K_THETA && i != K_TIED && i != K_ROPE;

		if (seen[i] && integer && (num[i] < 1 || num[i] > (1u << 24) ||
					   num[i] != floor(num[i])))
			return fail(-EINVAL, "config.json: \"%s\" = %g: not a positive integer"
				    " below 2^24", key_name[i], num[i]);
	}
	cfg->dim = (uint32_t)num[K_DIM];
	cfg->hidden = (uint32_t)num[K_HIDDEN];
	cfg->n_layers = (uint32_t)num[K_LAYERS];
	cfg->n_heads = (uint32_t)num[K_HEADS];
	cfg->n_kv_heads = seen[K_KV_HEADS] ? (uint32_t)num[K_KV_HEADS] : cfg->n_heads;
	cfg->vocab = (uint32_t)num[K_VOCAB];
	cfg->eps = seen[K_EPS] ? (float)num[K_EPS] : 1e-6f;
	cfg->rope_theta = seen[K_THETA] ? (float)num[K_THETA] : 10000.0f;
	cfg->max_seq = seen[K_MAXPOS] ? (uint32_t)num[K_MAXPOS] : 2048;
	cfg->tied = (int)num[K_TIED];
	cfg->rope = (int)num[K_ROPE];
	cfg->head_dim = seen[K_HEAD_DIM] ? (uint32_t)num[K_HEAD_DIM] :
		cfg->dim / cfg->n_heads;
	if (!(cfg->eps > 0) || !(cfg->rope_theta > 0))
		return fail(-EINVAL, "config.json: rms_norm_eps and rope_theta must be > 0");
	if (cfg->n_heads % cfg->n_kv_heads)
		return fail(-EINVAL, "config.json: %u attention heads are not a multiple of"
			    " %u key/value heads", cfg->n_heads, cfg->n_kv_heads);
	if (cfg->head_dim % 2 || cfg->head_dim * cfg->n_heads != cfg->dim)
		return fail(-EINVAL, "config.json: head_dim %u x %u heads != hidden_size %u"
			    " (or head_dim odd)", cfg->head_dim, cfg->n_heads, cfg->dim);
	return 0;
}

/* --- the model --------------------------------------------------------- */

/* A weight matrix and the bits it is read at. */
struct mat {
	struct cxlms_tensor *t;
	unsigned int bits;	/* 0: all planes */
	uint32_t rows, cols;
};

struct layer {
	float *att_norm, *ffn_norm;
	struct mat wq, wk, wv, wo, gate, up, down;
};

struct cxlms_llama {
	struct cxlms_store *s;
	struct cxlms_llama_config c;
	struct cxlms_llama_opts o;
	struct layer *l;
	struct mat embed, head;
	float *norm;
	float *kc, *vc;		/* [layer][pos][kv_dim] */
	unsigned int pos, max_seq;
	/* Scratch for a batch of GEMM_MAX_VEC tokens. */
	float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *scores, *emb;
	void *emb_scratch;
	size_t emb_scratch_len;
	float *inv_freq;
};

static int tensor_2d(struct cxlms_store *s, const char *name, uint64_t rows,
		     uint64_t cols, struct mat *m)
{
	struct cxlms_tensor *t;

	if (cxlms_tensor_lookup(s, name, &t))
		return fail(-ENOEXEC, "not a Llama model: no tensor '%s'", name);
	if (cxlms_tensor_get_ndim(t) != 2 || cxlms_tensor_get_dim(t, 0) != rows ||
	    cxlms_tensor_get_dim(t, 1) != cols)
		return fail(-ENOEXEC, "not a Llama model: tensor '%s' is not [%llu, %llu]",
			    name, (unsigned long long)rows, (unsigned long long)cols);
	m->t = t;
	m->rows = (uint32_t)rows;
	m->cols = (uint32_t)cols;
	return 0;
}

/* A 1-D tensor of @n elements, read once at all planes as f32. */
static int tensor_vec(struct cxlms_store *s, const char *name, uint64_t n, float **out)
{
	struct cxlms_tensor *t;
	unsigned int planes, tiles;
	int64_t size, got;
	float *buf;

	if (cxlms_tensor_lookup(s, name, &t))
		return fail(-ENOEXEC, "not a Llama model: no tensor '%s'", name);
	if (cxlms_tensor_get_elems(t) != n)
		return fail(-ENOEXEC, "not a Llama model: tensor '%s' has %llu elements,"
			    " not %llu", name, (unsigned long long)cxlms_tensor_get_elems(t),
			    (unsigned long long)n);
	planes = cxlms_tensor_get_planes(t);
	tiles = cxlms_tensor_get_tile_count(t);
	size = cxlms_fetch_size(t, 0, tiles, planes, CXLMS_OUT_F32, CXLMS_RECON_DEFAULT);
	if (size < 0)
		return fail((int)size, "tensor '%s': %s", name, strerror((int)-size));
	buf = malloc((size_t)size);
	if (!buf)
		return fail(-ENOMEM, "out of memory");
	got = cxlms_fetch_tiles(s, t, 0, tiles, planes, CXLMS_OUT_F32,
				CXLMS_RECON_DEFAULT, buf, (size_t)size);
	if (got < 0) {
		free(buf);
		return fail((int)got, "tensor '%s': fetch: %s", name, strerror((int)-got));
	}
	*out = buf;
	return 0;
}

/*
 * The bits a request of @bits means for tensor @t (see llama.h): K <= 8
 * is the precision of the int8 tensors, 16-bit tensors stay at all planes
 * (a 16-bit tensor cut to 8 planes keeps 2 mantissa bits: never what a
 * store-wide K means); K > 8 reads 16-bit tensors at K where the format
 * serves it.  --tensor-bits names a tensor for anything else.
 */
static unsigned int bits_for(struct cxlms_tensor *t, unsigned int bits, bool explicit)
{
	unsigned int planes = cxlms_tensor_get_planes(t);

	if (bits == CXLMS_BITS_POLICY)
		return bits;
	if (!bits || bits >= planes)
		return 0;
	if (cxlms_tensor_get_format(t) == CXLMS_FMT_INT8 || explicit)
		return bits;
	if (bits <= 8 ||
	    cxlms_fetch_size(t, 0, 1, bits, CXLMS_OUT_F32, CXLMS_RECON_DEFAULT) < 0)
		return 0;
	return bits;
}

static unsigned int planes_of(const struct mat *m)
{
	return m->bits ? m->bits : cxlms_tensor_get_planes(m->t);
}

void cxlms_llama_free(struct cxlms_llama *m)
{
	unsigned int i;

	if (!m)
		return;
	if (m->l)
		for (i = 0; i < m->c.n_layers; i++) {
			free(m->l[i].att_norm);
			free(m->l[i].ffn_norm);
		}
	free(m->l);
	free(m->norm);
	free(m->kc);
	free(m->vc);
	free(m->x);
	free(m->emb_scratch);
	free(m->inv_freq);
	cxlms_store_unref(m->s);
	free(m);
}

static int check_opts(const struct cxlms_llama_opts *o)
{
	if (!o)
		return 0;
	if (o->size < sizeof(*o))
		return fail(-EINVAL, "options: size %u < %zu", o->size, sizeof(*o));
	if (o->reserved0 || o->reserved[0] || o->reserved[1])
		return fail(-EINVAL, "options: reserved fields must be zero");
	if (o->bits > 16 && o->bits != CXLMS_BITS_POLICY)
		return fail(-EINVAL, "options: bits %u", o->bits);
	if (o->config_json && !o->config_len)
		return fail(-EINVAL, "options: empty config");
	return 0;
}

static int load_weights(struct cxlms_llama *m)
{
	const struct cxlms_llama_config *c = &m->c;
	uint32_t kv_dim = c->n_kv_heads * c->head_dim, q_dim = c->n_heads * c->head_dim;
	char name[128];
	unsigned int i;
	int rc;

	rc = tensor_2d(m->s, "model.embed_tokens.weight", c->vocab, c->dim, &m->embed);
	if (rc)
		return rc;
	if (c->tied) {
		m->head = m->embed;
	} else {
		rc = tensor_2d(m->s, "lm_head.weight", c->vocab, c->dim, &m->head);
		if (rc)
			return rc;
	}
	rc = tensor_vec(m->s, "model.norm.weight", c->dim, &m->norm);
	if (rc)
		return rc;
	m->l = calloc(c->n_layers, sizeof(*m->l));
	if (!m->l)
		return fail(-ENOMEM, "out of memory");
	for (i = 0; i < c->n_layers; i++) {
		struct layer *l = &m->l[i];
		const struct {
			const char *n;
			struct mat *m;
			uint32_t rows, cols;
		} mats[] = {
			{ "self_attn.q_proj", &l->wq, q_dim, c->dim },
			{ "self_attn.k_proj", &l->wk, kv_dim, c->dim },
			{ "self_attn.v_proj", &l->wv, kv_dim, c->dim },
			{ "self_attn.o_proj", &l->wo, c->dim, q_dim },
			{ "mlp.gate_proj", &l->gate, c->hidden, c->dim },
			{ "mlp.up_proj", &l->up, c->hidden, c->dim },
			{ "mlp.down_proj", &l->down, c->dim, c->hidden },
		};

		for (size_t j = 0; j < sizeof(mats) / sizeof(mats[0]); j++) {
			snprintf(name, sizeof(name), "model.layers.%u.%s.weight", i, mats[j].n);
			rc = tensor_2d(m->s, name, mats[j].rows, mats[j].cols, mats[j].m);
			if (rc)
				return rc;
		}
		snprintf(name, sizeof(name), "model.layers.%u.input_layernorm.weight", i);
		rc = tensor_vec(m->s, name, c->dim, &l->att_norm);
		if (rc)
			return rc;
		snprintf(name, sizeof(name), "model.layers.%u.post_attention_layernorm.weight", i);
		rc = tensor_vec(m->s, name, c->dim, &l->ffn_norm);
		if (rc)
			return rc;
	}
	return 0;
}

/* Every matrix of the model, for bit settings. */
#define FOR_EACH_MAT(m, M, BODY)						\
	do {									\
		struct mat *M;							\
		for (unsigned int li_ = 0; li_ <= (m)->c.n_layers; li_++) {	\
			struct mat *all_[7];					\
			unsigned int n_ = 0;					\
			if (li_ == (m)->c.n_layers) {				\
				all_[n_++] = &(m)->embed;			\
				if (!(m)->c.tied)				\
					all_[n_++] = &(m)->head;		\
			} else {						\
				struct layer *l_ = &(m)->l[li_];		\
				all_[0] = &l_->wq; all_[1] = &l_->wk;		\
				all_[2] = &l_->wv; all_[3] = &l_->wo;		\
				all_[4] = &l_->gate; all_[5] = &l_->up;		\
				all_[6] = &l_->down; n_ = 7;			\
			}							\
			for (unsigned int j_ = 0; j_ < n_; j_++) {		\
				M = all_[j_];					\
				BODY;						\
			}							\
		}								\
	} while (0)

int cxlms_llama_set_tensor_bits(struct cxlms_llama *m, const char *pattern,
				unsigned int bits)
{
	int n = 0;

	if (!m || !pattern || (bits > 16 && bits != CXLMS_BITS_POLICY))
		return fail(-EINVAL, "bad arguments");
	FOR_EACH_MAT(m, w, {
		if (!fnmatch(pattern, cxlms_tensor_get_name(w->t), 0)) {
			w->bits = bits_for(w->t, bits, true);
			n++;
		}
	});
	if (m->c.tied)
		m->head = m->embed;
	return n;
}

int cxlms_llama_get_tensor_bits(struct cxlms_llama *m, const char *name)
{
	int r = -ENOENT;

	FOR_EACH_MAT(m, w, {
		if (!strcmp(cxlms_tensor_get_name(w->t), name))
			r = (int)w->bits;
	});
	return r;
}

int cxlms_llama_open(struct cxlms_store *s, const struct cxlms_llama_opts *o,
		     struct cxlms_llama **model)
{
	struct cxlms_llama *m;
	const void *cfg;
	size_t cfg_len, n, kv_dim;
	unsigned int i;
	int rc;

	last_error[0] = 0;
	if (!s || !model)
		return fail(-EINVAL, "bad arguments");
	rc = check_opts(o);
	if (rc)
		return rc;
	m = calloc(1, sizeof(*m));
	if (!m)
		return fail(-ENOMEM, "out of memory");
	m->s = cxlms_store_ref(s);
	if (o)
		m->o = *o;
	m->o.size = sizeof(m->o);
	if (m->o.config_json) {
		cfg = m->o.config_json;
		cfg_len = m->o.config_len;
	} else {
		rc = cxlms_store_get_metadata_key(s, "config.json", &cfg, &cfg_len);
		if (rc) {
			rc = fail(rc == -ENOENT ? -ENOENT : rc,
				  "the store keeps no config.json%s",
				  strcmp(cxlms_store_get_backend(s), "kernel") ? "" :
				  " (stores on /dev/cxlmsN have no metadata: pass one)");
			goto err;
		}
	}
	m->o.config_json = NULL;	/* not kept: the caller's buffer */
	rc = cxlms_llama_parse_config(cfg, cfg_len, &m->c);
	if (rc)
		goto err;
	rc = load_weights(m);
	if (rc)
		goto err;
	FOR_EACH_MAT(m, w, { w->bits = bits_for(w->t, m->o.bits, false); });
	if (m->c.tied)
		m->head = m->embed;

	m->max_seq = m->o.max_seq ? m->o.max_seq : m->c.max_seq;
	kv_dim = (size_t)m->c.n_kv_heads * m->c.head_dim;
	/* calloc: pages of a long cache are only touched as tokens arrive. */
	m->kc = calloc((size_t)m->c.n_layers * m->max_seq * kv_dim, sizeof(float));
	m->vc = calloc((size_t)m->c.n_layers * m->max_seq * kv_dim, sizeof(float));
	n = (size_t)GEMM_MAX_VEC * (3 * m->c.dim + 2 * kv_dim + 2 * m->c.hidden +
				    m->c.dim) + m->max_seq + m->c.dim;
	m->x = malloc(n * sizeof(float));
	m->inv_freq = malloc(m->c.head_dim / 2 * sizeof(float));
	if (!m->kc || !m->vc || !m->x || !m->inv_freq) {
		rc = fail(-ENOMEM, "out of memory (KV cache of %u positions)", m->max_seq);
		goto err;
	}
	m->xb = m->x + GEMM_MAX_VEC * m->c.dim;
	m->q = m->xb + GEMM_MAX_VEC * m->c.dim;
	m->att = m->q + GEMM_MAX_VEC * m->c.dim;
	m->k = m->att + GEMM_MAX_VEC * m->c.dim;
	m->v = m->k + GEMM_MAX_VEC * kv_dim;
	m->hb = m->v + GEMM_MAX_VEC * kv_dim;
	m->hb2 = m->hb + GEMM_MAX_VEC * m->c.hidden;
	m->scores = m->hb2 + GEMM_MAX_VEC * m->c.hidden;
	m->emb = m->scores + m->max_seq;
	for (i = 0; i < m->c.head_dim / 2; i++)
		m->inv_freq[i] = (float)pow(m->c.rope_theta, -2.0 * i / m->c.head_dim);
	*model = m;
	return 0;
err:
	cxlms_llama_free(m);
	return rc;
}

const struct cxlms_llama_config *cxlms_llama_get_config(struct cxlms_llama *m)
{
	return &m->c;
}

unsigned int cxlms_llama_get_pos(struct cxlms_llama *m)
{
	return m->pos;
}

void cxlms_llama_reset(struct cxlms_llama *m)
{
	m->pos = 0;
}

/* --- forward ----------------------------------------------------------- */

static unsigned int req_bits(const struct mat *w)
{
	return w->bits ? w->bits : cxlms_tensor_get_planes(w->t);
}

/* y[v][rows] = W x[v] for @nv vectors (contiguous [nv][cols]). */
static int matmul(struct cxlms_llama *m, const struct mat *w, const float *x,
		  unsigned int nv, float *y)
{
	struct cxlms_gemv_opts go = { .size = sizeof(go), .flags = m->o.gemv_flags,
				      .threads = m->o.threads };
	int rc;

	if (m->o.hook)
		m->o.hook(m->o.hook_arg, w->t, x, nv, w->cols);
	rc = cxlms_gemm(m->s, w->t, 0, w->rows, req_bits(w), nv, x, w->cols, y,
			w->rows, &go);
	if (rc)
		return fail(rc, "tensor '%s': gemm at %u bits: %s", cxlms_tensor_get_name(w->t),
			    planes_of(w), strerror(-rc));
	return 0;
}

static void rmsnorm(float *o, const float *x, const float *w, uint32_t n, float eps)
{
	double ss = 0;
	float r;
	uint32_t i;

	for (i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	r = (float)(1.0 / sqrt(ss / n + eps));
	for (i = 0; i < n; i++)
		o[i] = x[i] * r * w[i];
}

/* Rotate one head's vector for position @pos. */
static void rope(const struct cxlms_llama *m, float *h, unsigned int pos)
{
	uint32_t half = m->c.head_dim / 2, i;

	for (i = 0; i < half; i++) {
		float a = (float)pos * m->inv_freq[i], cs = cosf(a), sn = sinf(a);
		uint32_t i0 = m->c.rope ? 2 * i : i, i1 = m->c.rope ? 2 * i + 1 : i + half;
		float x0 = h[i0], x1 = h[i1];

		h[i0] = x0 * cs - x1 * sn;
		h[i1] = x0 * sn + x1 * cs;
	}
}

static int embed_row(struct cxlms_llama *m, int32_t tok, float *out)
{
	unsigned int bits = req_bits(&m->embed);
	int64_t got;

	if (!m->emb_scratch) {
		int64_t sz = cxlms_fetch_rows_scratch_size(m->embed.t, bits, CXLMS_OUT_F32,
							   CXLMS_RECON_DEFAULT, NULL);

		if (sz < 0)
			return fail((int)sz, "embedding: %s", strerror((int)-sz));
		m->emb_scratch = malloc((size_t)sz + 1);
		if (!m->emb_scratch)
			return fail(-ENOMEM, "out of memory");
		m->emb_scratch_len = (size_t)sz + 1;
	}
	struct cxlms_rows_opts ro = { .size = sizeof(ro), .scratch = m->emb_scratch,
				      .scratch_len = m->emb_scratch_len };
	got = cxlms_fetch_rows(m->s, m->embed.t, (uint64_t)tok, 1, bits, CXLMS_OUT_F32,
			       CXLMS_RECON_DEFAULT, out, m->c.dim * sizeof(float), &ro);
	if (got == -ENOSPC) {
		/* Bits changed since the scratch was sized: size again. */
		free(m->emb_scratch);
		m->emb_scratch = NULL;
		return embed_row(m, tok, out);
	}
	if (got < 0)
		return fail((int)got, "embedding row %d: %s", tok, strerror((int)-got));
	return 0;
}

/* One batch of @n <= GEMM_MAX_VEC tokens at positions m->pos ... */
enum head_mode { HEAD_NONE, HEAD_LAST, HEAD_ALL };

static int forward_batch(struct cxlms_llama *m, const int32_t *tok, unsigned int n,
			 float *logits, enum head_mode head)
{
	const struct cxlms_llama_config *c = &m->c;
	const uint32_t dim = c->dim, hd = c->head_dim, kv_dim = c->n_kv_heads * hd;
	const uint32_t group = c->n_heads / c->n_kv_heads;
	const float att_scale = 1.0f / sqrtf((float)hd);
	unsigned int i, li, h, t;
	int rc;

	for (i = 0; i < n; i++) {
		rc = embed_row(m, tok[i], m->x + i * dim);
		if (rc)
			return rc;
	}
	for (li = 0; li < c->n_layers; li++) {
		struct layer *l = &m->l[li];
		float *kc = m->kc + (size_t)li * m->max_seq * kv_dim;
		float *vc = m->vc + (size_t)li * m->max_seq * kv_dim;

		for (i = 0; i < n; i++)
			rmsnorm(m->xb + i * dim, m->x + i * dim, l->att_norm, dim, c->eps);
		if ((rc = matmul(m, &l->wq, m->xb, n, m->q)) ||
		    (rc = matmul(m, &l->wk, m->xb, n, m->k)) ||
		    (rc = matmul(m, &l->wv, m->xb, n, m->v)))
			return rc;
		for (i = 0; i < n; i++) {
			unsigned int pos = m->pos + i;

			for (h = 0; h < c->n_heads; h++)
				rope(m, m->q + i * dim + h * hd, pos);
			for (h = 0; h < c->n_kv_heads; h++)
				rope(m, m->k + i * kv_dim + h * hd, pos);
			memcpy(kc + (size_t)pos * kv_dim, m->k + i * kv_dim, kv_dim * sizeof(float));
			memcpy(vc + (size_t)pos * kv_dim, m->v + i * kv_dim, kv_dim * sizeof(float));
		}
		/* Causal attention: token i sees positions 0 .. pos + i. */
		for (i = 0; i < n; i++) {
			unsigned int len = m->pos + i + 1;

			for (h = 0; h < c->n_heads; h++) {
				const float *qh = m->q + i * dim + h * hd;
				const size_t ko = (size_t)(h / group) * hd;
				float *out = m->att + i * dim + h * hd, mx = -INFINITY;
				double sum = 0;

				for (t = 0; t < len; t++) {
					const float *kt = kc + (size_t)t * kv_dim + ko;
					float s = 0;

					for (uint32_t d = 0; d < hd; d++)
						s += qh[d] * kt[d];
					m->scores[t] = s * att_scale;
					if (m->scores[t] > mx)
						mx = m->scores[t];
				}
				for (t = 0; t < len; t++) {
					m->scores[t] = expf(m->scores[t] - mx);
					sum += m->scores[t];
				}
				memset(out, 0, hd * sizeof(float));
				for (t = 0; t < len; t++) {
					const float *vt = vc + (size_t)t * kv_dim + ko;
					float p = (float)(m->scores[t] / sum);

					for (uint32_t d = 0; d < hd; d++)
						out[d] += p * vt[d];
				}
			}
		}
		if ((rc = matmul(m, &l->wo, m->att, n, m->xb)))
			return rc;
		for (i = 0; i < n * dim; i++)
			m->x[i] += m->xb[i];
		for (i = 0; i < n; i++)
			rmsnorm(m->xb + i * dim, m->x + i * dim, l->ffn_norm, dim, c->eps);
		if ((rc = matmul(m, &l->gate, m->xb, n, m->hb)) ||
		    (rc = matmul(m, &l->up, m->xb, n, m->hb2)))
			return rc;
		for (i = 0; i < n * c->hidden; i++) {
			float g = m->hb[i];

			m->hb[i] = g / (1.0f + expf(-g)) * m->hb2[i];
		}
		if ((rc = matmul(m, &l->down, m->hb, n, m->xb)))
			return rc;
		for (i = 0; i < n * dim; i++)
			m->x[i] += m->xb[i];
	}
	if (head == HEAD_NONE)
		return 0;
	if (head == HEAD_LAST) {
		rmsnorm(m->xb, m->x + (n - 1) * dim, m->norm, dim, c->eps);
		return matmul(m, &m->head, m->xb, 1, logits);
	}
	for (i = 0; i < n; i++)
		rmsnorm(m->xb + i * dim, m->x + i * dim, m->norm, dim, c->eps);
	return matmul(m, &m->head, m->xb, n, logits);
}

int cxlms_llama_forward(struct cxlms_llama *m, const int32_t *tokens, unsigned int n,
			float *logits, unsigned int flags)
{
	unsigned int i, done = 0, start;
	int rc;

	last_error[0] = 0;
	if (!m || !tokens || !logits || (flags & ~CXLMS_LLAMA_LAST_ONLY))
		return fail(-EINVAL, "bad arguments");
	for (i = 0; i < n; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= m->c.vocab)
			return fail(-ERANGE, "token %d at index %u is outside the vocabulary"
				    " (0..%u)", tokens[i], i, m->c.vocab - 1);
	if (n > m->max_seq - m->pos)
		return fail(-ENOSPC, "%u tokens after %u do not fit the context of %u",
			    n, m->pos, m->max_seq);
	start = m->pos;
	while (done < n) {
		unsigned int b = n - done < GEMM_MAX_VEC ? n - done : GEMM_MAX_VEC;
		bool last = flags & CXLMS_LLAMA_LAST_ONLY;

		/* LAST_ONLY: the head runs for the final batch's last token only. */
		if (last)
			rc = forward_batch(m, tokens + done, b, logits,
					   done + b < n ? HEAD_NONE : HEAD_LAST);
		else
			rc = forward_batch(m, tokens + done, b,
					   logits + (size_t)done * m->c.vocab, HEAD_ALL);
		if (rc) {
			m->pos = start;
			return rc;
		}
		m->pos += b;
		done += b;
	}
	return 0;
}
