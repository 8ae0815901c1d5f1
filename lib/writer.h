/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Store writer (library internal): plans the layout of a new store from a
 * list of tensor specs and writes it atomically.  Used by the safetensors
 * importer; the CLI and the kernel copy path will reuse it.
 *
 *	cxlms_writer_new()       plan: validate specs, compute every offset
 *	cxlms_writer_create()    unnamed temp file in the destination directory
 *	cxlms_writer_tile()      tile memory to place into (zeroed)
 *	cxlms_writer_seal_tensor()   tile CRCs + sealed dirent
 *	cxlms_writer_commit()    sb, sync, link + rename over the destination
 *	cxlms_writer_free()      before commit: nothing is left behind
 */
#ifndef LIBCXLMS_WRITER_H
#define LIBCXLMS_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "libcxlms.h"
#include "store_format.h"


/**
 * struct cxlms_tensor_spec - one tensor of a store to be written
 * @name: at most CXLMS_NAME_MAX - 1 bytes, not empty
 * @src_dtype: CXLMS_DTYPE_*
 * @fmt: CXLMS_FMT_*
 * @ndim, @shape: true shape, 1..CXLMS_MAX_DIMS dims, none zero; leading dims
 *	are folded into rows, the last is cols
 * @group_size: INT8 scale group (0: the store default); ignored otherwise
 * @tile_rows: rows per tile (0: cxlms_default_tile_rows(); capped at rows)
 * @row_dims: leading dims folded into rows (0: all but the last)
 */
struct cxlms_tensor_spec {
	const char *name;
	unsigned int src_dtype;
	unsigned int fmt;
	unsigned int ndim;
	uint64_t shape[CXLMS_MAX_DIMS];
	unsigned int group_size;
	unsigned int tile_rows;
	unsigned int row_dims;
};

struct cxlms_writer;

/* -EINVAL (naming the tensor) for a spec the store format cannot hold. */
int cxlms_writer_new(struct cxlms_ctx *ctx, const struct cxlms_tensor_spec *specs,
		     unsigned int n, unsigned int default_group,
		     struct cxlms_writer **w);
/*
 * Same, with a metadata area: @meta_len bytes of @meta (a cxlms_meta_build()
 * image, kept by the caller until commit) copied into the store.
 */
int cxlms_writer_new_meta(struct cxlms_ctx *ctx,
			  const struct cxlms_tensor_spec *specs, unsigned int n,
			  unsigned int default_group, const void *meta,
			  size_t meta_len, struct cxlms_writer **w);
uint64_t cxlms_writer_store_bytes(const struct cxlms_writer *w);
/* The planned entry of tensor @i (geometry, offsets), valid until free. */
const struct cxlms_dirent *cxlms_writer_dirent(const struct cxlms_writer *w,
					       unsigned int i);
int cxlms_writer_create(struct cxlms_writer *w, const char *path);
void *cxlms_writer_tile(struct cxlms_writer *w, unsigned int i,
			unsigned int tile);
/* Bytes tile @tile of tensor @i occupies (a short last tile is smaller). */
uint64_t cxlms_writer_tile_bytes(const struct cxlms_writer *w, unsigned int i,
				 unsigned int tile);
int cxlms_writer_seal_tensor(struct cxlms_writer *w, unsigned int i);
int cxlms_writer_commit(struct cxlms_writer *w);
void cxlms_writer_free(struct cxlms_writer *w);

#endif /* LIBCXLMS_WRITER_H */
