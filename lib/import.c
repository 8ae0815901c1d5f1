// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_import(): safetensors files (or a sharded checkpoint's index) ->
 * one new store, atomically, with per-tensor rules (format, group, fold,
 * skip), defaults a user expects, and the checkpoint's metadata kept.
 * cxlms_import_safetensors() is the old call: one file, no defaults.
 *
 * Every tensor of the input is validated before the store is planned; the
 * values themselves (NaN/Inf, fp16 overflow) can only be checked while
 * converting, so those errors abandon the half-written unnamed temp file
 * and the destination is never touched either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "private.h"
#include "simd/simd.h"
#include "quant.h"
#include "metadata.h"
#include "safetensors.h"
#include "writer.h"

/* Tensors below this many elements keep 16 bits by default. */
#define IMPORT_TINY_ELEMS	4096
/* config.json files above this are refused as absurd. */
#define IMPORT_CONFIG_MAX	(16u << 20)

#define PROGRESS_MAX_STEP	(64ull << 20)

struct progress {
	const struct cxlms_import_opts *opts;
	uint64_t done, total, last, step;
};

static void progress_tick(struct progress *p, uint64_t bytes, bool force)
{
	p->done += bytes;
	if (!p->opts->progress)
		return;
	if (force || p->done - p->last >= p->step) {
		p->opts->progress(p->opts->progress_arg, p->done, p->total);
		p->last = p->done;
	}
}

/* Everything the stored format needs to know about one safetensors tensor. */
static void make_spec(const struct cxlms_st_tensor *t, unsigned int fmt,
		      unsigned int group, unsigned int tile_rows,
		      unsigned int fold, struct cxlms_tensor_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->name = t->name;
	s->src_dtype = t->dtype;
	s->fmt = fmt;
	/* A scalar (rank 0) is stored as the 1-D tensor [1]. */
	if (t->ndim == 0) {
		s->ndim = 1;
		s->shape[0] = 1;
	} else {
		s->ndim = t->ndim;
		memcpy(s->shape, t->shape, t->ndim * sizeof(t->shape[0]));
	}
	s->group_size = fmt == CXLMS_FMT_INT8 ? group : 0;
	s->tile_rows = tile_rows;
	s->row_dims = fold < s->ndim ? fold : 0;
}

struct bufs {
	int8_t *codes;
	uint16_t *scales;
	uint16_t *vals;
};

static int write_tile(struct cxlms_ctx *ctx, struct cxlms_writer *w,
		      unsigned int i, unsigned int tile,
		      const struct cxlms_st_tensor *st, struct bufs *b)
{
	const struct cxlms_dirent *d = cxlms_writer_dirent(w, i);
	struct cxlms_tile_geom g;
	uint32_t n = cxlms_dirent_tile_elems(d, tile);
	uint64_t first = (uint64_t)tile * d->tile_rows * d->cols, bad = 0;
	const uint8_t *src = st->data + first * cxlms_dtype_size(st->dtype);
	void *mem = cxlms_writer_tile(w, i, tile);
	int rc;

	cxlms_dirent_geom(d, &g);
	if (d->fmt == CXLMS_FMT_INT8) {
		uint64_t rows = n / d->cols;
		uint32_t gpr = (uint32_t)((d->cols + d->group_size - 1) / d->group_size);

		rc = cxlms_quant_int8(src, st->dtype, rows, d->cols, d->group_size,
				      b->codes, b->scales, &bad);
		if (rc == -EINVAL) {
			cxlms_err(ctx, "tensor '%s': element %llu is not finite (NaN or Inf cannot be quantized)",
				  st->name, (unsigned long long)(first + bad));
			return rc;
		}
		if (rc == -ERANGE) {
			cxlms_err(ctx, "tensor '%s': the group at element %llu needs a scale beyond fp16 (|x| / 127 > 65504)",
				  st->name, (unsigned long long)(first + bad));
			return rc;
		}
		if (rc)
			return rc;
		rc = cxlms_simd_place_int8(mem, &g, n, 0, b->codes, n);
		if (!rc)
			rc = cxlms_place_scales(mem, &g, n, b->scales,
						(uint32_t)(rows * gpr));
		if (!rc)
			rc = cxlms_tile_finalize(mem, &g, n);
	} else {
		rc = cxlms_convert_16(src, st->dtype, d->fmt, n, b->vals, &bad);
		if (rc == -ERANGE) {
			cxlms_err(ctx, "tensor '%s': element %llu overflows %s",
				  st->name, (unsigned long long)(first + bad),
				  cxlms_format_name(d->fmt));
			return rc;
		}
		if (rc)
			return rc;
		rc = cxlms_simd_place_16(mem, &g, n, 0, b->vals, n);
	}
	if (rc)
		cxlms_err(ctx, "tensor '%s': tile %u: placement failed (%d)",
			  st->name, tile, rc);
	return rc;
}

/* --- inputs ----------------------------------------------------------------- */

/* One mapped safetensors file of the model. */
struct input {
	char *path;
	struct cxlms_st_file st;
};

struct plan {
	struct cxlms_ctx *ctx;
	const struct cxlms_import_config *cfg;
	struct input *in;
	unsigned int n_in, cap_in;
	/* per stored tensor: its source */
	const struct cxlms_st_tensor **src;
	struct cxlms_tensor_spec *specs;
	/* sharded indexes: weight_map entries, checked against the shards */
	struct wm_entry {
		char *tensor;
		unsigned int input;
	} *wm;
	size_t n_wm, cap_wm;
	unsigned int n;
	unsigned int n_skipped, n_fallback;
};

static void notice(struct plan *p, const char *tensor, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void notice(struct plan *p, const char *tensor, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cxlms_info(p->ctx, "tensor '%s': %s", tensor, msg);
	if (p->cfg->notice)
		p->cfg->notice(p->cfg->notice_arg, tensor, msg);
}

static int read_small_file(struct cxlms_ctx *ctx, const char *path, size_t max,
			   char **buf, size_t *len)
{
	struct stat st;
	ssize_t got;
	size_t done = 0;
	int fd, rc = 0;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cxlms_err(ctx, "%s: not a regular file", path);
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		cxlms_err(ctx, "%s: %llu bytes, more than the %zu-byte limit", path,
			  (unsigned long long)st.st_size, max);
		rc = -EFBIG;
		goto out;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (done < (size_t)st.st_size) {
		got = read(fd, *buf + done, (size_t)st.st_size - done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = got < 0 ? -errno : -EIO;
			goto out;
		}
		done += (size_t)got;
	}
	(*buf)[done] = '\0';
	*len = done;
out:
	if (rc) {
		free(*buf);
		*buf = NULL;
	}
	close(fd);
	return rc;
}

/* @name's directory joined with @rel (or @rel itself if absolute). */
static char *path_beside(const char *name, const char *rel)
{
	const char *slash = strrchr(name, '/');
	size_t dlen = slash ? (size_t)(slash - name) + 1 : 0;
	char *p;

	if (rel[0] == '/')
		return strdup(rel);
	p = malloc(dlen + strlen(rel) + 1);
	if (p) {
		memcpy(p, name, dlen);
		strcpy(p + dlen, rel);
	}
	return p;
}

/* Open @path (once) as input; its index in p->in goes to *@idx. */
static int add_input_at(struct plan *p, const char *path, unsigned int *idx)
{
	unsigned int i;
	int rc;

	for (i = 0; i < p->n_in; i++) {
		if (!strcmp(p->in[i].path, path)) {
			*idx = i;	/* a shard named twice is read once */
			return 0;
		}
	}
	*idx = p->n_in;
	if (p->n_in == p->cap_in) {
		unsigned int cap = p->cap_in ? 2 * p->cap_in : 8;
		struct input *n = realloc(p->in, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->in = n;
		p->cap_in = cap;
	}
	memset(&p->in[p->n_in], 0, sizeof(p->in[0]));
	p->in[p->n_in].path = strdup(path);
	if (!p->in[p->n_in].path)
		return -ENOMEM;
	rc = cxlms_st_open(p->ctx, path, &p->in[p->n_in].st);
	if (rc) {
		free(p->in[p->n_in].path);
		return rc;
	}
	p->n_in++;
	return 0;
}

static int add_input(struct plan *p, const char *path)
{
	unsigned int idx;

	return add_input_at(p, path, &idx);
}

static int add_wm(struct plan *p, const char *tensor, unsigned int input)
{
	if (p->n_wm == p->cap_wm) {
		size_t cap = p->cap_wm ? 2 * p->cap_wm : 64;
		struct wm_entry *n = realloc(p->wm, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->wm = n;
		p->cap_wm = cap;
	}
	p->wm[p->n_wm].tensor = strdup(tensor);
	if (!p->wm[p->n_wm].tensor)
		return -ENOMEM;
	p->wm[p->n_wm++].input = input;
	return 0;
}

/* Every tensor an index names is in the shard it names (weight_map). */
static int check_weight_map(struct plan *p)
{
	size_t i, k;

	for (i = 0; i < p->n_wm; i++) {
		const struct cxlms_st_file *st = &p->in[p->wm[i].input].st;

		for (k = 0; k < st->n_tensors; k++)
			if (!strcmp(st->tensors[k].name, p->wm[i].tensor))
				break;
		if (k == st->n_tensors) {
			cxlms_err(p->ctx, "%s: the index puts tensor '%s' in this shard, which does not hold it",
				  p->in[p->wm[i].input].path, p->wm[i].tensor);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * A sharded checkpoint's index ("model.safetensors.index.json"): the
 * shard files are the distinct values of its "weight_map" object, read
 * with a small scanner (only strings, objects and skipping of the rest).
 */
struct jscan {
	const char *p, *end;
};

static void js_ws(struct jscan *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* A JSON string into @out (NUL-terminated, at most @cap - 1 bytes). */
static int js_string(struct jscan *j, char *out, size_t cap)
{
	size_t n = 0;

	if (j->p >= j->end || *j->p != '"')
		return -EINVAL;
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;

		if (c == '\\') {
			if (j->p >= j->end)
				return -EINVAL;
			c = *j->p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u':
				/* File names with \u escapes: not worth it. */
				return -EOPNOTSUPP;
			default:
				break;	/* \" \\ \/ */
			}
		}
		if (out) {
			if (n + 1 >= cap)
				return -ENAMETOOLONG;
			out[n] = c;
		}
		n++;
	}
	if (j->p >= j->end)
		return -EINVAL;
	j->p++;
	if (out)
		out[n] = '\0';
	return 0;
}

static int js_skip(struct jscan *j, int depth)
{
	js_ws(j);
	if (j->p >= j->end || depth > 64)
		return -EINVAL;
	if (*j->p == '"')
		return js_string(j, NULL, 0);
	if (*j->p == '{' || *j->p == '[') {
		char close = *j->p == '{' ? '}' : ']';
		bool obj = close == '}';

		j->p++;
		js_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		for (;;) {
			int rc;

			js_ws(j);
			if (obj) {
				rc = js_string(j, NULL, 0);
				js_ws(j);
				if (rc || j->p >= j->end || *j->p++ != ':')
					return -EINVAL;
			}
			rc = js_skip(j, depth + 1);
			if (rc)
				return rc;
			js_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == close) {
				j->p++;
				return 0;
			}
			return -EINVAL;
		}
	}
	/* number, true, false, null */
	while (j->p < j->end && *j->p != ',' && *j->p != '}' && *j->p != ']' &&
	       *j->p != ' ' && *j->p != '\n' && *j->p != '\r' && *j->p != '\t')
		j->p++;
	return 0;
}

static int add_index(struct plan *p, const char *path)
{
	char key[PATH_MAX], file[PATH_MAX], name[CXLMS_NAME_MAX], *text, *full;
	unsigned int idx;
	struct jscan j;
	size_t len;
	bool seen = false;
	int rc;

	rc = read_small_file(p->ctx, path, IMPORT_CONFIG_MAX * 4u, &text, &len);
	if (rc) {
		if (rc != -EFBIG && rc != -EINVAL)
			cxlms_err(p->ctx, "%s: %s", path, strerror(-rc));
		return rc;
	}
	j.p = text;
	j.end = text + len;
	js_ws(&j);
	rc = -EINVAL;
	if (j.p >= j.end || *j.p++ != '{')
		goto bad;
	js_ws(&j);
	while (j.p < j.end && *j.p != '}') {
		if (js_string(&j, key, sizeof(key)))
			goto bad;
		js_ws(&j);
		if (j.p >= j.end || *j.p++ != ':')
			goto bad;
		js_ws(&j);
		if (!strcmp(key, "weight_map")) {
			seen = true;
			if (j.p >= j.end || *j.p++ != '{')
				goto bad;
			js_ws(&j);
			while (j.p < j.end && *j.p != '}') {
				rc = js_string(&j, name, sizeof(name));
				if (rc == -ENAMETOOLONG) {
					cxlms_err(p->ctx, "%s: a weight_map tensor name is longer than %d bytes",
						  path, CXLMS_NAME_MAX - 1);
					goto out;
				}
				if (rc) {
					rc = -EINVAL;
					goto bad;
				}
				js_ws(&j);
				if (j.p >= j.end || *j.p++ != ':')
					goto bad;
				js_ws(&j);
				rc = js_string(&j, file, sizeof(file));
				if (rc)
					goto bad;
				rc = -EINVAL;
				if (!file[0] || strstr(file, "/")) {
					cxlms_err(p->ctx, "%s: shard name '%s' is not a file beside the index",
						  path, file);
					goto out;
				}
				full = path_beside(path, file);
				if (!full) {
					rc = -ENOMEM;
					goto out;
				}
				rc = add_input_at(p, full, &idx);
				free(full);
				if (!rc)
					rc = add_wm(p, name, idx);
				if (rc)
					goto out;
				rc = -EINVAL;
				js_ws(&j);
				if (j.p < j.end && *j.p == ',') {
					j.p++;
					js_ws(&j);
				}
			}
			if (j.p >= j.end)
				goto bad;
			j.p++;
		} else if (js_skip(&j, 0)) {
			goto bad;
		}
		js_ws(&j);
		if (j.p < j.end && *j.p == ',') {
			j.p++;
			js_ws(&j);
		}
	}
	if (!seen) {
		cxlms_err(p->ctx, "%s: sharded checkpoint index without a \"weight_map\"", path);
		goto out;
	}
	rc = 0;
	goto out;
bad:
	cxlms_err(p->ctx, "%s: malformed sharded checkpoint index (JSON near byte %zu)",
		  path, (size_t)(j.p - text));
out:
	free(text);
	return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* --- per-tensor decisions --------------------------------------------------- */

static float elem_f32(const struct cxlms_st_tensor *t, uint64_t i)
{
	const uint8_t *p = t->data + i * cxlms_dtype_size(t->dtype);
	uint32_t b = 0;
	uint16_t h;
	float f;

	switch (t->dtype) {
	case CXLMS_DTYPE_F32:
		memcpy(&b, p, 4);
		break;
	case CXLMS_DTYPE_F16:
		memcpy(&h, p, 2);
		b = cxlms_fp16_to_f32_bits(h);
		break;
	case CXLMS_DTYPE_BF16:
		memcpy(&h, p, 2);
		b = (uint32_t)h << 16;
		break;
	default:
		return (float)(int8_t)*p;
	}
	memcpy(&f, &b, 4);
	return f;
}

struct range {
	float amax, amin_nz;	/* over finite elements */
	bool nonfinite;
};

static void scan(const struct cxlms_st_tensor *t, struct range *r)
{
	uint64_t i;

	r->amax = 0;
	r->amin_nz = INFINITY;
	r->nonfinite = false;
	for (i = 0; i < t->elems; i++) {
		float x = fabsf(elem_f32(t, i));

		if (!isfinite(x)) {
			r->nonfinite = true;
			continue;
		}
		if (x > r->amax)
			r->amax = x;
		if (x != 0 && x < r->amin_nz)
			r->amin_nz = x;
	}
}

/* 16 bits for a source kept as it is: f32 to fp16 when it fits, else bf16. */
static unsigned int keep_format(const struct cxlms_st_tensor *t)
{
	struct range r;

	switch (t->dtype) {
	case CXLMS_DTYPE_F16:
		return CXLMS_FMT_FP16;
	case CXLMS_DTYPE_BF16:
		return CXLMS_FMT_BF16;
	case CXLMS_DTYPE_I8:
		return CXLMS_FMT_INT8;	/* its codes are exact in int8 */
	default:
		scan(t, &r);
		/* fp16 normals: 2^-14 .. 65504 (65520 rounds to Inf) */
		return r.amax < 65504.0f && (r.amin_nz >= 0x1p-14f || r.amax == 0) ?
		       CXLMS_FMT_FP16 : CXLMS_FMT_BF16;
	}
}

static unsigned int default_fold(const struct cxlms_st_tensor *t)
{
	/* [O, I, kh, kw] and higher: O rows of I * kh * kw (the reduction). */
	if (t->ndim >= 4)
		return 1;
	/* [O, I, k] with a small kernel (conv1d): O rows of I * k. */
	if (t->ndim == 3 && t->shape[2] < 8)
		return 1;
	return 0;	/* [E, O, I]: E * O rows of I (every dim but the last) */
}

static int decide(struct plan *p, const struct cxlms_st_tensor *t)
{
	const struct cxlms_import_config *c = p->cfg;
	unsigned int fmt = c->format ? c->format : CXLMS_FMT_INT8;
	unsigned int group = c->group_size ? c->group_size : CXLMS_GROUP_DEFAULT;
	unsigned int fold = 0, i, k = p->n;
	bool defaults = !(c->flags & CXLMS_IMPORT_NO_DEFAULTS), skip = false;
	bool fmt_by_rule = false;
	char shape[128];
	int len = 0;

	for (i = 0; i < t->ndim && len < (int)sizeof(shape) - 24; i++)
		len += snprintf(shape + len, sizeof(shape) - len, "%s%llu",
				i ? "x" : "", (unsigned long long)t->shape[i]);
	shape[len] = '\0';
	if (!t->elems) {
		notice(p, t->name, "shape [%s] has no elements: skipped", shape);
		p->n_skipped++;
		return 0;
	}
	if (defaults) {
		fold = default_fold(t);
		if (fmt == CXLMS_FMT_INT8 && t->dtype != CXLMS_DTYPE_I8 &&
		    (t->ndim <= 1 || t->elems < IMPORT_TINY_ELEMS))
			fmt = CXLMS_FMT_KEEP;
	}
	for (i = 0; i < c->n_rules; i++) {
		const struct cxlms_import_rule *r = &c->rules[i];

		if (!r->pattern || fnmatch(r->pattern, t->name, 0))
			continue;
		if (r->format) {
			fmt = r->format;
			fmt_by_rule = true;
		}
		if (r->group_size)
			group = r->group_size;
		if (r->fold)
			fold = r->fold;
		skip = r->flags & CXLMS_RULE_SKIP;
	}
	if (skip) {
		cxlms_info(p->ctx, "tensor '%s': skipped by a rule", t->name);
		p->n_skipped++;
		return 0;
	}
	if (fold && fold >= (t->ndim ? t->ndim : 1))
		fold = 0;	/* fold=N only reshapes tensors of rank > N */
	if (fmt == CXLMS_FMT_KEEP)
		fmt = keep_format(t);
	/* int8 cannot hold NaN/Inf or a scale above fp16's: bf16 holds both. */
	if (fmt == CXLMS_FMT_INT8 && defaults && t->dtype != CXLMS_DTYPE_I8) {
		struct range r;

		scan(t, &r);
		if (r.nonfinite || (double)r.amax / 127.0 > 65504.0) {
			notice(p, t->name, "%s; stored as bf16 instead of int8%s",
			       r.nonfinite ? "holds NaN or Inf" :
			       "needs an int8 scale beyond fp16 (|x| / 127 > 65504)",
			       fmt_by_rule ? " (overriding the rule)" : "");
			fmt = CXLMS_FMT_BF16;
			p->n_fallback++;
		}
	}
	if (fmt != CXLMS_FMT_INT8 && fmt != CXLMS_FMT_BF16 && fmt != CXLMS_FMT_FP16) {
		cxlms_err(p->ctx, "tensor '%s': unknown store format %u", t->name, fmt);
		return -EINVAL;
	}
	p->src[k] = t;
	make_spec(t, fmt, group, c->tile_rows, fold, &p->specs[k]);
	p->n++;
	return 0;
}

static int cmp_spec_name(const void *a, const void *b)
{
	const struct cxlms_tensor_spec *x = *(const struct cxlms_tensor_spec * const *)a;
	const struct cxlms_tensor_spec *y = *(const struct cxlms_tensor_spec * const *)b;

	return strcmp(x->name, y->name);
}

/* Names are unique within a file; across the files of a model too. */
static int check_unique(struct plan *p)
{
	const struct cxlms_tensor_spec **v = calloc(p->n, sizeof(*v));
	unsigned int i;
	int rc = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < p->n; i++)
		v[i] = &p->specs[i];
	qsort(v, p->n, sizeof(*v), cmp_spec_name);
	for (i = 1; i < p->n && !rc; i++) {
		if (!strcmp(v[i - 1]->name, v[i]->name)) {
			cxlms_err(p->ctx, "tensor '%s' is in more than one input", v[i]->name);
			rc = -EEXIST;
		}
	}
	free(v);
	return rc;
}

/* config.json and the first input's "__metadata__", as a metadata area. */
static int build_meta(struct plan *p, const char *first, void **img, size_t *len,
		      char **config)
{
	const struct cxlms_import_config *c = p->cfg;
	struct cxlms_meta_kv kv[2];
	unsigned int n = 0, i;
	size_t clen = 0;
	char *path = NULL;
	int rc;

	*img = NULL;
	*len = 0;
	*config = NULL;
	if (!(c->flags & CXLMS_IMPORT_NO_CONFIG)) {
		path = c->config_path ? strdup(c->config_path) :
					path_beside(first, "config.json");
		if (!path)
			return -ENOMEM;
		rc = read_small_file(p->ctx, path, IMPORT_CONFIG_MAX, config, &clen);
		if (rc == -ENOENT && !c->config_path) {
			rc = 0;	/* optional beside the input */
		} else if (rc) {
			if (rc != -EFBIG && rc != -EINVAL)
				cxlms_err(p->ctx, "%s: %s", path, strerror(-rc));
			free(path);
			return rc;
		} else {
			kv[n++] = (struct cxlms_meta_kv){ "config.json", *config, clen };
			cxlms_info(p->ctx, "%s: kept as metadata key \"config.json\"", path);
		}
		free(path);
	}
	for (i = 0; i < p->n_in; i++) {
		if (p->in[i].st.meta_json) {
			kv[n++] = (struct cxlms_meta_kv){ "safetensors.__metadata__",
							  p->in[i].st.meta_json,
							  p->in[i].st.meta_len };
			break;
		}
	}
	if (!n)
		return 0;
	return cxlms_meta_build(kv, n, img, len);
}

int cxlms_import(struct cxlms_ctx *ctx, const char *const *inputs,
		 unsigned int n_inputs, const char *out_path,
		 const struct cxlms_import_config *cfg)
{
	static const struct cxlms_import_config defaults = { .size = sizeof(defaults) };
	struct cxlms_import_config c;
	struct cxlms_import_opts popts = { 0 };
	struct cxlms_writer *w = NULL;
	struct plan p = { 0 };
	struct progress prog;
	struct bufs b = { 0 };
	uint64_t max_elems = 0, max_scales = 0, total_in = 0;
	size_t n_all = 0, meta_len = 0;
	void *meta = NULL;
	char *config = NULL;
	unsigned int i, t;
	size_t k;
	int rc;

	if (!ctx || !inputs || !n_inputs || !out_path)
		return -EINVAL;
	if (!cfg)
		cfg = &defaults;
	if (cfg->size < offsetof(struct cxlms_import_config, notice_arg) + sizeof(void *) ||
	    cfg->flags & ~(CXLMS_IMPORT_NO_DEFAULTS | CXLMS_IMPORT_NO_CONFIG) ||
	    (cfg->n_rules && !cfg->rules))
		return -EINVAL;
	c = *cfg;
	if (c.format && c.format != CXLMS_FMT_INT8 && c.format != CXLMS_FMT_BF16 &&
	    c.format != CXLMS_FMT_FP16 && c.format != CXLMS_FMT_KEEP) {
		cxlms_err(ctx, "%s: unknown store format %u", out_path, c.format);
		return -EINVAL;
	}
	p.ctx = ctx;
	p.cfg = &c;
	for (i = 0; i < n_inputs; i++) {
		rc = ends_with(inputs[i], ".json") ? add_index(&p, inputs[i]) :
						     add_input(&p, inputs[i]);
		if (rc)
			goto out;
	}
	rc = check_weight_map(&p);
	if (rc)
		goto out;
	for (i = 0; i < p.n_in; i++)
		n_all += p.in[i].st.n_tensors;
	if (!n_all) {
		cxlms_err(ctx, "%s: no tensors to import", inputs[0]);
		rc = -EINVAL;
		goto out;
	}
	p.specs = calloc(n_all, sizeof(*p.specs));
	p.src = calloc(n_all, sizeof(*p.src));
	if (!p.specs || !p.src) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < p.n_in; i++) {
		total_in += p.in[i].st.data_len;
		for (k = 0; k < p.in[i].st.n_tensors; k++) {
			rc = decide(&p, &p.in[i].st.tensors[k]);
			if (rc)
				goto out;
		}
	}
	if (!p.n) {
		cxlms_err(ctx, "%s: every tensor was skipped; nothing to import", inputs[0]);
		rc = -EINVAL;
		goto out;
	}
	if (p.n > UINT32_MAX) {
		rc = -EINVAL;
		goto out;
	}
	rc = check_unique(&p);
	if (rc)
		goto out;
	rc = build_meta(&p, inputs[0], &meta, &meta_len, &config);
	if (rc)
		goto out;
	rc = cxlms_writer_new_meta(ctx, p.specs, p.n, c.group_size, meta, meta_len, &w);
	if (rc)
		goto out;

	for (i = 0; i < p.n; i++) {
		const struct cxlms_dirent *d = cxlms_writer_dirent(w, i);
		uint64_t elems = (uint64_t)d->tile_rows * d->cols;

		if (elems > max_elems)
			max_elems = elems;
		if (d->fmt == CXLMS_FMT_INT8) {
			uint64_t sc = d->tile_rows * ((d->cols + d->group_size - 1) /
						      d->group_size);

			if (sc > max_scales)
				max_scales = sc;
		}
	}
	b.codes = malloc(max_elems);
	b.scales = malloc((max_scales ? max_scales : 1) * sizeof(*b.scales));
	b.vals = malloc(max_elems * sizeof(*b.vals));
	if (!b.codes || !b.scales || !b.vals) {
		rc = -ENOMEM;
		goto out;
	}

	rc = cxlms_writer_create(w, out_path);
	if (rc)
		goto out;
	cxlms_info(ctx, "%s: importing %u tensors (%u skipped, %u as bf16 instead of int8) into %s (%llu bytes)",
		   inputs[0], p.n, p.n_skipped, p.n_fallback, out_path,
		   (unsigned long long)cxlms_writer_store_bytes(w));

	memset(&prog, 0, sizeof(prog));
	popts.progress = c.progress;
	popts.progress_arg = c.progress_arg;
	prog.opts = &popts;
	prog.total = total_in;
	prog.step = prog.total / 100 < PROGRESS_MAX_STEP ? prog.total / 100 :
							   PROGRESS_MAX_STEP;
	progress_tick(&prog, 0, true);
	for (i = 0; i < p.n; i++) {
		const struct cxlms_dirent *d = cxlms_writer_dirent(w, i);
		unsigned int esize = cxlms_dtype_size(p.src[i]->dtype);

		for (t = 0; t < d->n_tiles; t++) {
			rc = write_tile(ctx, w, i, t, p.src[i], &b);
			if (rc)
				goto out;
			progress_tick(&prog, (uint64_t)cxlms_dirent_tile_elems(d, t) *
				      esize, false);
		}
		rc = cxlms_writer_seal_tensor(w, i);
		if (rc)
			goto out;
	}
	/* Data written; the last report comes before the store is committed. */
	prog.done = prog.total;
	progress_tick(&prog, 0, true);
	rc = cxlms_writer_commit(w);
out:
	cxlms_writer_free(w);
	free(meta);
	free(config);
	free(b.codes);
	free(b.scales);
	free(b.vals);
	free(p.specs);
	free(p.src);
	for (i = 0; i < p.n_in; i++) {
		cxlms_st_release(&p.in[i].st);
		free(p.in[i].path);
	}
	free(p.in);
	for (k = 0; k < p.n_wm; k++)
		free(p.wm[k].tensor);
	free(p.wm);
	return rc;
}

int cxlms_import_safetensors(struct cxlms_ctx *ctx, const char *in_path,
			     const char *out_path,
			     const struct cxlms_import_opts *opts)
{
	struct cxlms_import_config c = {
		.size = sizeof(c),
		.flags = CXLMS_IMPORT_NO_DEFAULTS | CXLMS_IMPORT_NO_CONFIG,
	};

	if (!ctx || !in_path || !out_path)
		return -EINVAL;
	if (opts) {
		if (opts->format && opts->format != CXLMS_FMT_INT8 &&
		    opts->format != CXLMS_FMT_BF16 && opts->format != CXLMS_FMT_FP16) {
			cxlms_err(ctx, "%s: unknown store format %u", out_path, opts->format);
			return -EINVAL;
		}
		c.format = opts->format;
		c.group_size = opts->group_size;
		c.tile_rows = opts->tile_rows;
		c.progress = opts->progress;
		c.progress_arg = opts->progress_arg;
	}
	return cxlms_import(ctx, &in_path, 1, out_path, &c);
}
