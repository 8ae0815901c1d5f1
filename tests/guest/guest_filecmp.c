// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms-guest-store filecmp: the store format in a CXL region is the store
 * file format, and the kernel serves it exactly like libcxlms' file backend.
 *
 * For each stored format: write a small safetensors file, import it with
 * libcxlms into a store file, copy the file's bytes into the region through
 * /dev/mem (the region is unclaimed while detached), ATTACH without FORMAT
 * (the kernel validates the library's store), VERIFY it, then fetch every
 * tile at every k, output and reconstruction through the ioctl and through
 * the file backend: same result, same bytes, and the same bytes moved
 * (kernel STATS equal the library's counters).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libcxlms.h"
#include "cxlms_util.h"
#include "guest.h"

#define ST_PATH		"/tmp/filecmp.safetensors"
#define STORE_PATH	"/tmp/filecmp.cxlms"
#define BUF		(1u << 20)

struct st_tensor {
	const char *name, *dtype;
	unsigned int esize, ndim;
	uint64_t shape[3];
};

static const struct st_tensor st_tensors[] = {
	{ "w.f32", "F32", 4, 2, { 40, 200 } },
	{ "w.bf16", "BF16", 2, 2, { 33, 64 } },
	{ "w.f16", "F16", 2, 3, { 3, 7, 50 } },
};

static uint64_t st_elems(const struct st_tensor *t)
{
	uint64_t n = 1;
	unsigned int d;

	for (d = 0; d < t->ndim; d++)
		n *= t->shape[d];
	return n;
}

/* A finite value near 1.0 times a heavy-ish tail, as f32 bits. */
static uint32_t gen_f32(uint64_t *st)
{
	uint64_t r = cxt_rand(st);
	uint32_t exp = 120 + (uint32_t)(r % 9) - ((r >> 8) % 32 == 0 ? 10 : 0);

	if ((r >> 16) % 16 == 0)
		return 0;	/* zeros, as pruned weights have */
	return (uint32_t)((r >> 63) << 31) | exp << 23 | (uint32_t)((r >> 20) & 0x7fffff);
}

/* f32 bits to binary16, truncating (any finite pattern will do). */
static uint16_t f32_to_f16(uint32_t f)
{
	int32_t e = (int32_t)((f >> 23) & 0xff) - 127 + 15;
	uint16_t s = (uint16_t)((f >> 16) & 0x8000);

	if (!(f & 0x7fffffff) || e <= 0)
		return s;
	return s | (uint16_t)(e << 10) | (uint16_t)((f >> 13) & 0x3ff);
}

static int write_safetensors(void)
{
	char hdr[1024];
	uint64_t off = 0, hlen, st = 0xf11e, i;
	size_t t, len = 0;
	FILE *f;

	len += snprintf(hdr + len, sizeof(hdr) - len, "{");
	for (t = 0; t < ARRAY_SIZE(st_tensors); t++) {
		const struct st_tensor *s = &st_tensors[t];
		uint64_t bytes = st_elems(s) * s->esize;
		unsigned int d;

		len += snprintf(hdr + len, sizeof(hdr) - len,
				"%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", t ? "," : "",
				s->name, s->dtype);
		for (d = 0; d < s->ndim; d++)
			len += snprintf(hdr + len, sizeof(hdr) - len, "%s%" PRIu64,
					d ? "," : "", s->shape[d]);
		len += snprintf(hdr + len, sizeof(hdr) - len,
				"],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
				off, off + bytes);
		off += bytes;
	}
	len += snprintf(hdr + len, sizeof(hdr) - len, "}");
	while (len % 8)
		hdr[len++] = ' ';
	f = fopen(ST_PATH, "w");
	if (!f)
		return -errno;
	hlen = len;
	fwrite(&hlen, 8, 1, f);
	fwrite(hdr, 1, len, f);
	for (t = 0; t < ARRAY_SIZE(st_tensors); t++) {
		const struct st_tensor *s = &st_tensors[t];

		for (i = 0; i < st_elems(s); i++) {
			uint32_t v = gen_f32(&st);
			uint16_t h = !strcmp(s->dtype, "BF16") ? (uint16_t)(v >> 16) :
				     f32_to_f16(v);

			if (s->esize == 4)
				fwrite(&v, 4, 1, f);
			else
				fwrite(&h, 2, 1, f);
		}
	}
	return fclose(f) ? -errno : 0;
}

/* Copy the store file's bytes to the physical range at @start. */
static int copy_to_region(const char *path, uint64_t start, uint64_t bytes)
{
	int in = open(path, O_RDONLY), mem = -1, ret = 0;
	struct stat sb;
	void *src = MAP_FAILED, *dst = MAP_FAILED;
	size_t len = 0;

	if (in < 0 || fstat(in, &sb)) {
		ret = -errno;
		goto out;
	}
	len = (sb.st_size + 4095) & ~(size_t)4095;
	if (len > bytes) {
		ret = -ENOSPC;
		goto out;
	}
	mem = open("/dev/mem", O_RDWR | O_SYNC);
	src = mmap(NULL, sb.st_size, PROT_READ, MAP_PRIVATE, in, 0);
	if (mem >= 0)
		dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mem, (off_t)start);
	if (mem < 0 || src == MAP_FAILED || dst == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	memcpy(dst, src, sb.st_size);
	memset((uint8_t *)dst + sb.st_size, 0, len - sb.st_size);
out:
	if (dst != MAP_FAILED)
		munmap(dst, len);
	if (src != MAP_FAILED)
		munmap(src, sb.st_size);
	if (mem >= 0)
		close(mem);
	if (in >= 0)
		close(in);
	return ret;
}

/* Every tile, k, output and recon of one tensor: ioctl vs file backend. */
static int compare_tensor(int fd, struct cxlms_store *store, struct cxlms_tensor *t,
			  unsigned int *compared)
{
	static uint8_t kbuf[BUF], lbuf[BUF];
	unsigned int idx = cxlms_tensor_get_index(t), planes = cxlms_tensor_get_planes(t);
	unsigned int tiles = cxlms_tensor_get_tile_count(t), tile, k, out, recon;
	struct cxlms_ioc_stats ks;
	struct cxlms_stats ls;
	int bad = 0, p;

	for (tile = 0; tile < tiles; tile++)
	for (k = 1; k <= planes; k++)
	for (out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++)
	for (recon = CXLMS_RECON_DEFAULT; recon <= CXLMS_RECON_TABLE; recon++) {
		int64_t want = cxlms_fetch(store, t, tile, k, out, recon, lbuf, BUF);
		uint64_t written = 0;
		int got = cxt_fetch(fd, idx, tile, 1, k, out, recon, kbuf, BUF,
				    &written, NULL);

		if (want < 0 ? got != want :
		    got || written != (uint64_t)want || memcmp(kbuf, lbuf, want)) {
			fprintf(stderr, "filecmp: %s tile %u k %u out %u recon %u: "
				"file %" PRId64 ", kernel %d (%" PRIu64 " bytes)\n",
				cxlms_tensor_get_name(t), tile, k, out, recon, want,
				got, written);
			bad++;
		}
		if (want >= 0)
			(*compared)++;
	}
	/* A multi-tile fetch too: the whole tensor as f32 at 5 bits... */
	k = planes == 8 ? 5 : 12;
	{
		int64_t want = cxlms_fetch_tiles(store, t, 0, tiles, k, CXLMS_OUT_F32,
						 0, lbuf, BUF);
		uint64_t written = 0;
		int got = cxt_fetch(fd, idx, 0, tiles, k, CXLMS_OUT_F32, 0, kbuf, BUF,
				    &written, NULL);

		if (want < 0 || got || written != (uint64_t)want ||
		    memcmp(kbuf, lbuf, want)) {
			fprintf(stderr, "filecmp: %s all tiles at %u bits differ\n",
				cxlms_tensor_get_name(t), k);
			bad++;
		}
	}
	/* ...and both sides counted the same bytes moved. */
	if (cxt_stats(fd, idx, 0, &ks) || cxlms_tensor_get_stats(t, &ls)) {
		fprintf(stderr, "filecmp: stats unavailable\n");
		return bad + 1;
	}
	for (p = 0; p < CXLMS_MAX_PLANES; p++)
		if (ks.plane_bytes[p] != ls.plane_bytes[p])
			bad++;
	if (ks.fetches != ls.fetches || ks.side_bytes != ls.side_bytes ||
	    ks.out_bytes != ls.out_bytes) {
		fprintf(stderr, "filecmp: %s: kernel counted %llu fetches, %llu side, "
			"%llu out; file backend %llu, %llu, %llu\n",
			cxlms_tensor_get_name(t), (unsigned long long)ks.fetches,
			(unsigned long long)ks.side_bytes, (unsigned long long)ks.out_bytes,
			(unsigned long long)ls.fetches, (unsigned long long)ls.side_bytes,
			(unsigned long long)ls.out_bytes);
		bad++;
	}
	return bad;
}

static int filecmp_format(struct cxlms_ctx *ctx, int fd, unsigned int fmt,
			  uint64_t start, uint64_t bytes)
{
	struct cxlms_import_opts opts = { .format = fmt, .group_size = 64, .tile_rows = 16 };
	struct cxlms_store *store = NULL;
	struct cxlms_tensor *t;
	struct cxlms_ioc_verify v;
	struct cxlms_ioc_query q;
	char why[CXLMS_WHY_LEN];
	unsigned int compared = 0, n = 0;
	uint8_t uuid[16];
	int ret, bad = 0;

	ret = cxlms_import_safetensors(ctx, ST_PATH, STORE_PATH, &opts);
	if (ret)
		return fprintf(stderr, "filecmp: import: %s\n", strerror(-ret)), 1;
	ret = copy_to_region(STORE_PATH, start, bytes);
	if (ret)
		return fprintf(stderr, "filecmp: copy: %s\n", strerror(-ret)), 1;
	ret = cxt_attach_cxl(fd, start, bytes, false, 0, why, sizeof(why));
	if (ret)
		return fprintf(stderr, "filecmp: attach the library's store: %s (%s)\n",
			       strerror(-ret), why), 1;
	ret = cxlms_open(ctx, STORE_PATH, 0, &store);
	if (ret) {
		fprintf(stderr, "filecmp: open: %s\n", strerror(-ret));
		bad++;
		goto out;
	}
	/* The kernel sees the very store the library wrote. */
	if (cxt_query(fd, &q) || cxlms_store_get_uuid(store, uuid) ||
	    memcmp(q.uuid, uuid, 16) ||
	    q.tensor_count != cxlms_store_get_tensor_count(store) ||
	    q.store_bytes != cxlms_store_get_size(store)) {
		fprintf(stderr, "filecmp: kernel and file disagree on the store\n");
		bad++;
		goto out;
	}
	ret = cxt_verify(fd, CXLMS_TENSOR_ALL, &v);
	if (ret || v.checked != q.tensor_count) {
		fprintf(stderr, "filecmp: verify: %s (%s)\n", strerror(-ret), v.why);
		bad++;
	}
	cxlms_tensor_foreach(store, t) {
		bad += compare_tensor(fd, store, t, &compared);
		n++;
	}
	printf("# filecmp: %s store: %u tensors, %u fetches identical to the file "
	       "backend, same bytes moved\n", cxlms_format_name(fmt), n, compared);
out:
	cxlms_store_unref(store);
	cxt_detach(fd);
	unlink(STORE_PATH);
	return bad ? 1 : 0;
}

int cmd_filecmp(int fd, uint64_t start, uint64_t bytes)
{
	static const unsigned int fmts[] = { CXLMS_FMT_INT8, CXLMS_FMT_BF16, CXLMS_FMT_FP16 };
	struct cxlms_ctx *ctx;
	size_t i;
	int ret, bad = 0;

	ret = write_safetensors();
	if (ret)
		return fprintf(stderr, "filecmp: %s: %s\n", ST_PATH, strerror(-ret)), 1;
	ret = cxlms_new(&ctx);
	if (ret)
		return fprintf(stderr, "filecmp: cxlms_new: %s\n", strerror(-ret)), 1;
	for (i = 0; i < ARRAY_SIZE(fmts); i++)
		bad += filecmp_format(ctx, fd, fmts[i], start, bytes);
	cxlms_unref(ctx);
	unlink(ST_PATH);
	return bad ? 1 : 0;
}
