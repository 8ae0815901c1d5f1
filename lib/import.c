// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_import_safetensors(): safetensors file -> new store, atomically.
 *
 * Every tensor of the input is validated before the store is planned; the
 * values themselves (NaN/Inf, fp16 overflow) can only be checked while
 * converting, so those errors abandon the half-written unnamed temp file
 * and the destination is never touched either way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"
#include "simd/simd.h"
#include "quant.h"
#include "safetensors.h"
#include "writer.h"

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
		      struct cxlms_tensor_spec *s)
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

int cxlms_import_safetensors(struct cxlms_ctx *ctx, const char *in_path,
			     const char *out_path,
			     const struct cxlms_import_opts *opts)
{
	static const struct cxlms_import_opts defaults;
	struct cxlms_tensor_spec *specs = NULL;
	struct cxlms_writer *w = NULL;
	struct cxlms_st_file st;
	struct progress prog;
	struct bufs b = { 0 };
	unsigned int fmt, group, i, t;
	uint64_t max_elems = 0, max_scales = 0;
	int rc;

	if (!ctx || !in_path || !out_path)
		return -EINVAL;
	if (!opts)
		opts = &defaults;
	fmt = opts->format ? opts->format : CXLMS_FMT_INT8;
	if (fmt != CXLMS_FMT_INT8 && fmt != CXLMS_FMT_BF16 && fmt != CXLMS_FMT_FP16) {
		cxlms_err(ctx, "%s: unknown store format %u", out_path, fmt);
		return -EINVAL;
	}
	group = opts->group_size ? opts->group_size : CXLMS_GROUP_DEFAULT;

	rc = cxlms_st_open(ctx, in_path, &st);
	if (rc)
		return rc;
	if (!st.n_tensors) {
		cxlms_err(ctx, "%s: no tensors to import", in_path);
		rc = -EINVAL;
		goto out;
	}
	if (st.n_tensors > UINT32_MAX) {
		cxlms_err(ctx, "%s: too many tensors", in_path);
		rc = -EINVAL;
		goto out;
	}
	specs = calloc(st.n_tensors, sizeof(*specs));
	if (!specs) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < st.n_tensors; i++)
		make_spec(&st.tensors[i], fmt, group, opts->tile_rows, &specs[i]);
	rc = cxlms_writer_new(ctx, specs, (unsigned int)st.n_tensors, group, &w);
	if (rc)
		goto out;

	for (i = 0; i < st.n_tensors; i++) {
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
	if (fmt == CXLMS_FMT_INT8) {
		b.codes = malloc(max_elems);
		b.scales = malloc(max_scales * sizeof(*b.scales));
		if (!b.codes || !b.scales) {
			rc = -ENOMEM;
			goto out;
		}
	} else {
		b.vals = malloc(max_elems * sizeof(*b.vals));
		if (!b.vals) {
			rc = -ENOMEM;
			goto out;
		}
	}

	rc = cxlms_writer_create(w, out_path);
	if (rc)
		goto out;
	cxlms_info(ctx, "%s: importing %zu tensors into %s (%llu bytes)", in_path,
		   st.n_tensors, out_path,
		   (unsigned long long)cxlms_writer_store_bytes(w));

	memset(&prog, 0, sizeof(prog));
	prog.opts = opts;
	prog.total = st.data_len;
	prog.step = prog.total / 100 < PROGRESS_MAX_STEP ? prog.total / 100 :
							   PROGRESS_MAX_STEP;
	progress_tick(&prog, 0, true);
	for (i = 0; i < st.n_tensors; i++) {
		const struct cxlms_dirent *d = cxlms_writer_dirent(w, i);
		unsigned int esize = cxlms_dtype_size(st.tensors[i].dtype);

		for (t = 0; t < d->n_tiles; t++) {
			rc = write_tile(ctx, w, i, t, &st.tensors[i], &b);
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
	free(b.codes);
	free(b.scales);
	free(b.vals);
	free(specs);
	cxlms_st_release(&st);
	return rc;
}
