// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Test-only store image builder (see store_builder.h). */
#include <stdlib.h>
#include <string.h>
#include "store_builder.h"

#define ALIGN_UP(x, a) (((x) + (a) - 1) / (a) * (a))

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static int fill_tiles(uint8_t *mem, const struct cxlms_dirent *d, uint64_t *rng)
{
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout l;

	cxlms_dirent_geom(d, &g);
	if (cxlms_tile_layout(&g, &l))
		return -1;
	for (uint32_t t = 0; t < d->n_tiles; t++) {
		uint8_t *tile = mem + d->tile_off + t * l.tile_bytes;
		uint32_t n = cxlms_dirent_tile_elems(d, t);
		uint32_t ns = n / g.cols * l.groups_per_row;

		if (g.fmt == CXLMS_FMT_INT8) {
			int8_t *codes = malloc(n);
			uint16_t *sc = malloc(2 * (ns ? ns : 1));

			for (uint32_t i = 0; i < n; i++)
				codes[i] = (int8_t)lcg(rng);
			for (uint32_t i = 0; i < ns; i++)
				sc[i] = (uint16_t)(0x2000 + lcg(rng) % 0x1000);
			if (cxlms_place_int8(tile, &g, n, 0, codes, n) ||
			    cxlms_place_scales(tile, &g, n, sc, ns) ||
			    cxlms_tile_finalize(tile, &g, n))
				return -1;
			free(codes);
			free(sc);
		} else {
			uint16_t *v = malloc(2 * n);

			for (uint32_t i = 0; i < n; i++)
				v[i] = (uint16_t)lcg(rng);
			if (cxlms_place_16(tile, &g, n, 0, v, n))
				return -1;
			free(v);
		}
	}
	return 0;
}

void sbuild_reseal_tiles(struct sbuild_image *img, unsigned i)
{
	const struct cxlms_dirent *d = &img->dir[i];
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout l;

	cxlms_dirent_geom(d, &g);
	cxlms_tile_layout(&g, &l);
	for (uint32_t t = 0; t < d->n_tiles; t++) {
		uint32_t crc = cxlms_crc32c(0, img->mem + d->tile_off + t * l.tile_bytes,
					    l.tile_bytes);

		memcpy(img->mem + d->crc_off + 4ull * t, &crc, 4);
	}
}

void sbuild_reseal(struct sbuild_image *img)
{
	for (uint32_t i = 0; i < img->sb->dir_count; i++)
		cxlms_dirent_seal(&img->dir[i]);
	img->sb->dir_crc = cxlms_dir_crc(img->dir, img->sb->dir_count);
	cxlms_sb_seal(img->sb);
}

static int build(const struct sbuild_tensor *t, unsigned n,
		 struct sbuild_image *img, int dual)
{
	struct cxlms_dirent *ents = calloc(n ? n : 1, sizeof(*ents));
	uint64_t dir_off = CXLMS_SB_BYTES, cap = n + 2, crc_off, data_off, off;
	uint64_t rng = 12345;
	struct cxlms_sb *sb;

	memset(img, 0, sizeof(*img));
	crc_off = dir_off + (dual ? 2 : 1) * cap * sizeof(struct cxlms_dirent);
	off = crc_off;
	/* First pass: geometry, crc offsets, then tile offsets. */
	for (unsigned i = 0; i < n; i++) {
		struct cxlms_dirent *d = &ents[i];
		uint64_t rows = 1;

		strncpy(d->name, t[i].name, CXLMS_NAME_MAX - 1);
		d->src_dtype = t[i].src_dtype;
		d->fmt = t[i].fmt;
		d->ndim = t[i].ndim;
		for (unsigned j = 0; j < t[i].ndim; j++) {
			d->shape[j] = t[i].shape[j];
			if (j + 1 < t[i].ndim)
				rows *= t[i].shape[j];
		}
		d->rows = rows;
		d->cols = t[i].shape[t[i].ndim - 1];
		d->group_size = t[i].group;
		d->tile_rows = t[i].tile_rows ? t[i].tile_rows :
			       cxlms_default_tile_rows(d->rows, d->cols);
		d->n_tiles = (uint32_t)((d->rows + d->tile_rows - 1) / d->tile_rows);
		d->flags = CXLMS_DIRENT_SEALED;
		d->crc_off = off;
		off += 4ull * d->n_tiles;
	}
	data_off = ALIGN_UP(off + 1, CXLMS_DATA_ALIGN);
	off = data_off;
	for (unsigned i = 0; i < n; i++) {
		struct cxlms_tile_geom g;
		struct cxlms_tile_layout l;

		cxlms_dirent_geom(&ents[i], &g);
		if (cxlms_tile_layout(&g, &l)) {
			free(ents);
			return -1;
		}
		ents[i].tile_off = off;
		off = ALIGN_UP(off + ents[i].n_tiles * l.tile_bytes, CXLMS_DATA_ALIGN);
	}

	img->len = off + CXLMS_DATA_ALIGN;	/* some free data space */
	img->mem = calloc(1, img->len);
	sb = img->sb = (struct cxlms_sb *)img->mem;
	img->dir = (struct cxlms_dirent *)(img->mem + dir_off);
	memcpy(sb->magic, CXLMS_STORE_MAGIC, 8);
	sb->version = CXLMS_STORE_VERSION;
	sb->sb_len = sizeof(*sb);
	sb->store_bytes = img->len;
	memset(sb->uuid, 0x5a, sizeof(sb->uuid));
	/* DUAL: generation 2 lives in slot 0 and describes directory copy 0. */
	sb->generation = dual ? 2 : 1;
	if (dual)
		sb->feature_incompat = CXLMS_FEAT_INCOMPAT_DUAL;
	sb->dir_off = dir_off;
	sb->dir_capacity = (uint32_t)cap;
	sb->dir_count = n;
	sb->default_group = 128;
	sb->data_off = data_off;
	sb->data_bytes = img->len - data_off;
	sb->data_used = off - data_off;
	memcpy(img->dir, ents, n * sizeof(*ents));
	free(ents);
	for (unsigned i = 0; i < n; i++) {
		if (fill_tiles(img->mem, &img->dir[i], &rng))
			return -1;
		sbuild_reseal_tiles(img, i);
	}
	sbuild_reseal(img);
	return 0;
}

int sbuild(const struct sbuild_tensor *t, unsigned n, struct sbuild_image *img)
{
	return build(t, n, img, 0);
}

int sbuild_dual(const struct sbuild_tensor *t, unsigned n, struct sbuild_image *img)
{
	return build(t, n, img, 1);
}

void sbuild_free(struct sbuild_image *img)
{
	free(img->mem);
	memset(img, 0, sizeof(*img));
}
