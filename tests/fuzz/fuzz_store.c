// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libFuzzer harness: opening a store file.  The input is one flags byte
 * and a store image; the image goes into a memfd that cxlms_open() opens
 * by path (/proc/self/fd/N), so the whole file-backend open runs: the
 * short-file check, cxlms_sb_check(), cxlms_dir_check() (codec/
 * store_format.c), the metadata area parse (lib/metadata.c) and the
 * directory set-up of lib/libcxlms.c.  A store that opens is then used
 * the way an engine would: every tensor's getters, a fetch of its first
 * and last tile at full and at one-bit precision, the metadata entries,
 * and a verify of every tile CRC.
 *
 * CRCs stop random mutation at the first checksum, so the flags byte
 * lets an input ask the harness to recompute them first (like a writer
 * would): bit 0 entries + directory + superblock, bit 1 tile CRCs, bit 2
 * the metadata area's.  With a flag clear the bytes are used as they are,
 * so both the checksum checks and everything behind them get fuzzed.
 */
#include <errno.h>

#include "fuzz_common.h"
#include "store_format.h"
#include "metadata.h"

#define MAX_TENSORS	8	/* tensors exercised after a successful open */
#define MAX_RESEAL_TILES 4096

static struct cxlms_ctx *ctx;
static int mfd;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ctx = fuzz_ctx();
	mfd = fuzz_memfd("fuzz-store", path, sizeof(path));
	return 0;
}

static int in_file(uint64_t off, uint64_t bytes, uint64_t len)
{
	return off <= len && bytes <= len - off;
}

static void reseal_meta(uint8_t *img, uint64_t len, const struct cxlms_sb *sb)
{
	struct cxlms_meta_hdr h;

	if (!in_file(sb->meta_off, sb->meta_bytes, len) || sb->meta_bytes < sizeof(h))
		return;
	memcpy(&h, img + sb->meta_off, sizeof(h));
	if (h.payload_bytes <= sb->meta_bytes - sizeof(h))
		h.payload_crc = cxlms_crc32c(0, img + sb->meta_off + sizeof(h),
					     h.payload_bytes);
	h.hdr_crc = 0;
	h.hdr_crc = cxlms_crc32c(0, &h, sizeof(h));
	memcpy(img + sb->meta_off, &h, sizeof(h));
}

static void reseal_tiles(uint8_t *img, uint64_t len, const struct cxlms_dirent *d)
{
	struct cxlms_tile_span s;
	struct cxlms_tile_layout l;
	uint32_t t, crc;

	for (t = 0; t < d->n_tiles && t < MAX_RESEAL_TILES; t++) {
		if (cxlms_dirent_tile(d, t, &s, &l) || !in_file(s.off, s.bytes, len) ||
		    !in_file(d->crc_off, 4ull * t + 4, len))
			return;
		crc = cxlms_crc32c(0, img + s.off, s.bytes);
		memcpy(img + d->crc_off + 4ull * t, &crc, 4);
	}
}

static void reseal(uint8_t *img, uint64_t len, unsigned int flags)
{
	struct cxlms_sb *sb = (struct cxlms_sb *)img;
	struct cxlms_dirent *dir, d;
	uint64_t dir_off;
	uint32_t i, count;

	if (len < sizeof(*sb))
		return;
	if (flags & 4)
		reseal_meta(img, len, sb);
	/* Tile CRCs may land anywhere, the superblock included: copy first. */
	dir_off = sb->dir_off;
	count = sb->dir_count;
	if (dir_off % 8 == 0 && in_file(dir_off, (uint64_t)count * sizeof(*dir), len)) {
		dir = (struct cxlms_dirent *)(img + dir_off);
		for (i = 0; i < count; i++) {
			memcpy(&d, &dir[i], sizeof(d));
			if (flags & 2)
				reseal_tiles(img, len, &d);
			if (flags & 1) {
				cxlms_dirent_seal(&d);
				memcpy(&dir[i], &d, sizeof(d));
			}
		}
		if (flags & 1)
			sb->dir_crc = cxlms_dir_crc(dir, count);
	}
	if (flags & 1)
		cxlms_sb_seal(sb);
}

static void use_tensor(struct cxlms_store *s, struct cxlms_tensor *t)
{
	unsigned int planes = cxlms_tensor_get_planes(t);
	unsigned int n_tiles = cxlms_tensor_get_tile_count(t);
	unsigned int ndim = cxlms_tensor_get_ndim(t), i, k;
	const char *name = cxlms_tensor_get_name(t);
	unsigned int tiles[2] = { 0, n_tiles ? n_tiles - 1 : 0 };
	unsigned int bits[2] = { planes, 1 };
	struct cxlms_tensor *again;

	FUZZ_ASSERT(name && strlen(name) < CXLMS_NAME_MAX);
	FUZZ_ASSERT(!cxlms_tensor_lookup(s, name, &again));
	for (i = 0; i < ndim; i++)
		(void)cxlms_tensor_get_dim(t, i);
	(void)cxlms_tensor_get_elems(t);
	(void)cxlms_tensor_get_stored_bytes(t);
	FUZZ_ASSERT(n_tiles > 0);
	for (i = 0; i < 2; i++) {
		(void)cxlms_tensor_get_tile_elems(t, tiles[i]);
		for (k = 0; k < 2; k++) {
			int64_t need = cxlms_fetch_size(t, tiles[i], 1, bits[k],
							CXLMS_OUT_F32, CXLMS_RECON_DEFAULT);
			void *buf;
			int64_t got;

			if (need <= 0 || need > (64 << 20))
				continue;
			buf = malloc((size_t)need);
			if (!buf)
				continue;
			got = cxlms_fetch(s, t, tiles[i], bits[k], CXLMS_OUT_F32,
					  CXLMS_RECON_DEFAULT, buf, (size_t)need);
			FUZZ_ASSERT(got < 0 || got <= need);
			free(buf);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cxlms_store *s;
	struct cxlms_tensor *t;
	unsigned int n = 0;
	uint8_t *img;
	int rc, i, nm;

	if (size < 1)
		return 0;
	img = malloc(size);
	if (!img)
		return 0;
	memcpy(img, data + 1, size - 1);
	reseal(img, size - 1, data[0]);
	fuzz_memfd_set(mfd, img, size - 1);
	free(img);

	rc = cxlms_open(ctx, path, 0, &s);
	if (rc) {
		FUZZ_ASSERT(rc < 0 && !s);
		return 0;
	}
	FUZZ_ASSERT(cxlms_store_get_size(s) <= size - 1);
	cxlms_tensor_foreach(s, t) {
		if (n++ >= MAX_TENSORS)
			break;
		use_tensor(s, t);
	}
	FUZZ_ASSERT(n <= cxlms_store_get_tensor_count(s) ||
		    n == MAX_TENSORS + 1);
	nm = cxlms_store_get_metadata_count(s);
	for (i = 0; i < nm; i++) {
		const char *key;
		const void *value;
		size_t len;

		if (!cxlms_store_get_metadata(s, (unsigned int)i, &key, &value, &len)) {
			const void *v2;
			size_t l2;

			FUZZ_ASSERT(!cxlms_store_get_metadata_key(s, key, &v2, &l2));
		}
	}
	(void)cxlms_store_verify(s);
	cxlms_store_unref(s);
	return 0;
}
