/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A strict reader for safetensors files: 8-byte little-endian header length
 * N, N bytes of JSON, then the data area.  The JSON parser is our own so
 * that duplicate keys are refused rather than silently merged.
 */
#ifndef LIBCXLMS_SAFETENSORS_H
#define LIBCXLMS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "libcxlms.h"

/* Headers larger than this are refused as absurd. */
#define CXLMS_ST_HEADER_MAX	(100ull << 20)

/**
 * struct cxlms_st_tensor - one validated tensor of a safetensors file
 * @name: NUL-terminated, at most CXLMS_NAME_MAX - 1 bytes
 * @dtype: CXLMS_DTYPE_*
 * @ndim, @shape: the shape as in the file (ndim 0 is a scalar)
 * @elems: product of the shape (1 for a scalar, 0 for a zero dimension)
 * @begin, @end: byte range in the data area
 * @data: @begin resolved in the mapping (any alignment)
 */
struct cxlms_st_tensor {
	char name[CXLMS_NAME_MAX];
	unsigned int dtype;
	unsigned int ndim;
	uint64_t shape[CXLMS_MAX_DIMS];
	uint64_t elems;
	uint64_t begin, end;
	const uint8_t *data;
};

/**
 * struct cxlms_st_file - a parsed safetensors image
 * @tensors: in header order
 * @data, @data_len: the data area
 * @map, @map_len: the whole file, when opened by cxlms_st_open()
 * @meta_json, @meta_len: the "__metadata__" object's JSON text as in the
 *	header (validated: string keys, unique, string values), or NULL, 0
 */
struct cxlms_st_file {
	struct cxlms_st_tensor *tensors;
	size_t n_tensors;
	const uint8_t *data;
	uint64_t data_len;
	uint64_t header_len;
	void *map;
	size_t map_len;
	const uint8_t *meta_json;
	size_t meta_len;
};

/*
 * Parse and validate the safetensors image @buf of @len bytes (the caller
 * keeps it alive while @f is used).  Every tensor is checked before this
 * returns 0.  Errors (the reason, naming the tensor or the header byte
 * offset, goes to @ctx's log): -EINVAL malformed, -EOPNOTSUPP unsupported
 * dtype/rank/empty tensor, -EEXIST duplicate name, -ENAMETOOLONG name of
 * CXLMS_NAME_MAX bytes or more, -ENOMEM.
 */
int cxlms_st_parse(struct cxlms_ctx *ctx, const char *what, const void *buf,
		   uint64_t len, struct cxlms_st_file *f);
/* Map @path read-only and parse it. */
int cxlms_st_open(struct cxlms_ctx *ctx, const char *path,
		  struct cxlms_st_file *f);
/* Free what parse/open allocated (and unmap). */
void cxlms_st_release(struct cxlms_st_file *f);

#endif /* LIBCXLMS_SAFETENSORS_H */
