/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Test-only builder of small, valid store images in memory, so the
 * validation tests can corrupt one field at a time.
 */
#ifndef CXLMS_STORE_BUILDER_H
#define CXLMS_STORE_BUILDER_H

#include <stddef.h>
#include <stdint.h>
#include "store_format.h"

struct sbuild_tensor {
	const char *name;
	unsigned fmt, src_dtype, ndim;
	uint64_t shape[CXLMS_MAX_DIMS];
	unsigned group, tile_rows;	/* tile_rows 0: cxlms_default_tile_rows */
};

struct sbuild_image {
	uint8_t *mem;
	size_t len;
	struct cxlms_sb *sb;
	struct cxlms_dirent *dir;
};

/* Build an image of @n tensors with pseudo-random contents; 0 or -1. */
int sbuild(const struct sbuild_tensor *t, unsigned n, struct sbuild_image *img);
/*
 * The same as a CXLMS_FEAT_INCOMPAT_DUAL store: generation 2 in slot 0
 * (img->sb), directory copy 0 (img->dir) in use, slot 1 and copy 1 zero.
 */
int sbuild_dual(const struct sbuild_tensor *t, unsigned n, struct sbuild_image *img);
/* Recompute every CRC of the metadata (entries, directory, superblock). */
void sbuild_reseal(struct sbuild_image *img);
/* Recompute the tile CRCs of entry @i. */
void sbuild_reseal_tiles(struct sbuild_image *img, unsigned i);
void sbuild_free(struct sbuild_image *img);

#endif
