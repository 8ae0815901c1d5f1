// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The file backend: a store file mapped whole, validated by the codec
 * before a single tensor object exists, fetched from with the codec.
 *
 * The mapping is MAP_SHARED so many processes serving one store share the
 * page cache.  Stores are replaced by rename(), never rewritten in place,
 * so a mapping stays consistent for as long as it lives.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "private.h"
#include "metadata.h"
#include "simd/simd.h"

struct file_backend {
	uint8_t *map;
	size_t map_len;
};

/*
 * Files too short to hold a superblock never reach the codec: if they
 * start with the whole 8-byte magic, the store was cut short (-ENODATA);
 * anything else, a prefix of the magic ("CXLM") or an empty file included,
 * is not a store at all (docs/format.md: fewer than 8 bytes is foreign).
 */
static int check_tiny(struct cxlms_store *s, int fd, uint64_t size)
{
	static const char magic[] = CXLMS_STORE_MAGIC;
	uint8_t head[sizeof(magic) - 1];
	size_t want = size < sizeof(head) ? (size_t)size : sizeof(head);
	ssize_t n;

	if (size == 0) {
		cxlms_err(s->ctx, "%s: empty file, not a cxlms store", s->path);
		return -CXLMS_EFOREIGN;
	}
	n = pread(fd, head, want, 0);
	if (n < 0) {
		cxlms_err(s->ctx, "%s: read: %s", s->path, strerror(errno));
		return -errno;
	}
	if (want == sizeof(head) && (size_t)n == want && !memcmp(head, magic, want)) {
		cxlms_err(s->ctx, "%s: truncated store: %llu bytes, smaller than a superblock",
			  s->path, (unsigned long long)size);
		return -CXLMS_ETRUNCATED;
	}
	cxlms_err(s->ctx, "%s: not a cxlms store (no superblock magic)", s->path);
	return -CXLMS_EFOREIGN;
}

static void file_close(struct cxlms_store *s)
{
	struct file_backend *fb = s->backend;

	if (!fb)
		return;
	if (fb->map)
		munmap(fb->map, fb->map_len);
	free(fb);
	s->backend = NULL;
}

static int file_open(struct cxlms_store *s, int fd, const struct stat *st,
		     unsigned int flags)
{
	struct cxlms_sb sb;
	struct file_backend *fb;
	char why[256];
	uint64_t size = (uint64_t)st->st_size;
	int prot = PROT_READ, rc;

	if (size < sizeof(struct cxlms_sb))
		return check_tiny(s, fd, size);
	if (size > SIZE_MAX) {
		cxlms_err(s->ctx, "%s: too large to map", s->path);
		return -EFBIG;
	}
	fb = calloc(1, sizeof(*fb));
	if (!fb)
		return -ENOMEM;
	s->backend = fb;
	if (flags & CXLMS_OPEN_RDWR)
		prot |= PROT_WRITE;
	fb->map = mmap(NULL, (size_t)size, prot, MAP_SHARED, fd, 0);
	if (fb->map == MAP_FAILED) {
		rc = -errno;
		fb->map = NULL;
		cxlms_err(s->ctx, "%s: mmap: %s", s->path, strerror(-rc));
		goto err;
	}
	fb->map_len = (size_t)size;

	/*
	 * Bounded by the real file size, never by the sb.  A crash-consistent
	 * (DUAL) store has two superblock slots: the newest valid one counts.
	 */
	why[0] = '\0';
	rc = cxlms_store_pick(fb->map, size, &sb, NULL, why, sizeof(why));
	if (rc) {
		cxlms_err(s->ctx, "%s: %s", s->path, why[0] ? why : "invalid store");
		goto err;
	}
	if (sb.meta_bytes) {
		/* Bounds checked by cxlms_sb_check; a newer version is ignored. */
		rc = cxlms_meta_parse(s->ctx, s->path, fb->map + sb.meta_off,
				      sb.meta_bytes, &s->meta);
		if (rc == -EPROTONOSUPPORT)
			s->meta_err = rc;
		else if (rc)
			goto err;
	}
	rc = cxlms_store_set_directory(s, &sb, (const struct cxlms_dirent *)
				       (fb->map + cxlms_sb_dir_copy(&sb)),
				       sb.dir_count);
	if (rc)
		goto err;
	return 0;
err:
	file_close(s);
	return rc;
}

static const uint8_t *tile_ptr(struct cxlms_store *s, struct cxlms_tensor *t,
			       unsigned int tile)
{
	struct file_backend *fb = s->backend;
	struct cxlms_tile_span sp;

	/* Validated at open: cannot fail for a tile of the tensor. */
	if (cxlms_dirent_tile(&t->d, tile, &sp, NULL))
		return NULL;
	return fb->map + sp.off;
}

static int64_t file_fetch_tiles(struct cxlms_store *s, struct cxlms_tensor *t,
				unsigned int first, unsigned int count,
				unsigned int bits, unsigned int out,
				unsigned int recon, void *buf, size_t len)
{
	uint8_t *dst = buf;
	uint64_t done = 0;
	unsigned int i;

	for (i = first; i < first + count; i++) {
		cxlms_s64 n = cxlms_simd_fetch_tile(tile_ptr(s, t, i), &t->geom,
						    cxlms_dirent_tile_elems(&t->d, i),
						    bits, out, recon, dst + done,
						    len - done);
		if (n < 0)
			return n;
		done += (uint64_t)n;
	}
	return (int64_t)done;
}

static int file_fetch_pieces(struct cxlms_store *s, struct cxlms_tensor *t,
			     unsigned int tile, unsigned int bits,
			     unsigned int out, unsigned int recon,
			     uint32_t piece_elems, void *buf, size_t buf_len,
			     void *side, size_t side_len,
			     int (*fn)(void *arg, uint32_t first, uint32_t count,
				       const void *data, uint64_t len),
			     void *arg)
{
	return cxlms_simd_fetch_pieces(tile_ptr(s, t, tile), &t->geom,
				       cxlms_dirent_tile_elems(&t->d, tile),
				       bits, out, recon, piece_elems, buf,
				       buf_len, side, side_len, fn, arg);
}

static int file_verify(struct cxlms_store *s)
{
	struct file_backend *fb = s->backend;
	char why[256];
	unsigned int i;
	int rc;

	for (i = 0; i < s->n_tensors; i++) {
		why[0] = '\0';
		rc = cxlms_tile_crc_check(fb->map, &s->tensors[i].d, why,
					  sizeof(why));
		if (rc) {
			cxlms_err(s->ctx, "%s: %s", s->path,
				  why[0] ? why : "tile checksum mismatch");
			return rc;
		}
	}
	return 0;
}

/* The CRC covers the whole tile: what the format's tile CRC array holds. */
static int file_verify_tiles(struct cxlms_store *s, struct cxlms_tensor *t,
			     unsigned int first, unsigned int count, char *why,
			     size_t why_len)
{
	struct file_backend *fb = s->backend;
	unsigned int i;

	for (i = first; i < first + count; i++) {
		struct cxlms_tile_span sp;
		uint32_t want;

		/* The CRC covers the tile's own bytes: a short last tile's fewer. */
		if (cxlms_dirent_tile(&t->d, i, &sp, NULL))
			return -EINVAL;
		memcpy(&want, fb->map + t->d.crc_off + 4ull * i, sizeof(want));
		if (cxlms_simd_crc32c(0, fb->map + sp.off, sp.bytes) != want) {
			snprintf(why, why_len, "tensor '%s': tile %u checksum mismatch",
				 t->d.name, i);
			return -CXLMS_ECHECKSUM;
		}
	}
	return 0;
}

static int file_get_stats(struct cxlms_store *s, struct cxlms_tensor *t,
			  struct cxlms_stats *st)
{
	cxlms_counters_read(t ? &t->stats : &s->stats, st);
	return 0;
}

static int file_reset_stats(struct cxlms_store *s)
{
	unsigned int i;

	cxlms_counters_reset(&s->stats);
	for (i = 0; i < s->n_tensors; i++)
		cxlms_counters_reset(&s->tensors[i].stats);
	return 0;
}

const struct cxlms_backend_ops cxlms_file_backend = {
	.name = "file",
	.lib_counters = true,
	.open = file_open,
	.close = file_close,
	.fetch_tiles = file_fetch_tiles,
	.fetch_pieces = file_fetch_pieces,
	.tile_map = tile_ptr,
	.verify = file_verify,
	.verify_tiles = file_verify_tiles,
	.get_stats = file_get_stats,
	.reset_stats = file_reset_stats,
};
