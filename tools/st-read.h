/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small read-only safetensors reader for the demo tools.  Independent of
 * libcxlms's importer on purpose: the demo compares the store against the
 * file as another program would read it.
 */
#ifndef CXLMS_TOOLS_ST_READ_H
#define CXLMS_TOOLS_ST_READ_H

#include <stddef.h>
#include <stdint.h>

enum st_dtype { ST_F32 = 1, ST_F16, ST_BF16, ST_I8 };

#define ST_MAX_DIMS 8

struct st_tensor {
	char *name;
	enum st_dtype dtype;
	unsigned int ndim;
	uint64_t shape[ST_MAX_DIMS];
	uint64_t elems;
	uint64_t begin, end;	/* byte range in the data section */
};

struct st_file {
	void *map;
	size_t size;
	const uint8_t *data;	/* data section */
	uint64_t data_len;
	unsigned int n;
	struct st_tensor *t;
};

/* 0, or -errno with a reason in @why. */
int st_open(const char *path, struct st_file *f, char *why, size_t why_len);
void st_close(struct st_file *f);
const struct st_tensor *st_find(const struct st_file *f, const char *name);
/* Tensor values as floats (f16/bf16/i8 widen exactly); @out holds elems. */
void st_read_f32(const struct st_file *f, const struct st_tensor *t, float *out);

#endif /* CXLMS_TOOLS_ST_READ_H */
