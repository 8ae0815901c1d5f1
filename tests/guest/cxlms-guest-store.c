// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms-guest-store: the guest side of the persistence and attach tests.
 * Talks to /dev/cxlms0 with ioctls only.
 *
 *   attach START BYTES [--format] [--dir-capacity N]
 *   detach
 *   expect-refused START BYTES ERRNO    attach (no format) must fail so
 *   write START BYTES    format the range, store the known tensors, seal,
 *                        print uuid and digest, detach
 *   check START BYTES    attach the range without format (validates), find
 *                        the known tensors, compare every fetch with the
 *                        userspace codec, verify CRCs, print uuid and
 *                        digest, detach
 *   filecmp START BYTES  libcxlms store files (each format) copied into the
 *                        region through /dev/mem attach without FORMAT and
 *                        fetch exactly like the file backend (guest_filecmp.c)
 *   corrupt START BYTES  (store detached) flip a tile byte through /dev/mem:
 *                        attach works, VERIFY says -EBADMSG naming the
 *                        tensor; flip a superblock byte: attach -EBADMSG;
 *                        restore both and check the store attaches again
 *   view-hold            (a store attached) map a whole-store view, read
 *                        it, close the device fd, print "mapped", wait for
 *                        EOF on stdin, then read the view again: the same
 *                        bytes (guest-run.sh tries rmmod, DETACH and
 *                        reclaim meanwhile)
 *
 * START and BYTES take 0x hex or decimal.  The digest is FNV-1a over every
 * compared fetch, so two boots can be compared from the host.
 * Exit: 0 ok, 1 check failed, 2 usage or setup error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cxlms_util.h"
#include "guest.h"

#define PROG	"cxlms-guest-store"
#define BUF	(1u << 20)

struct known {
	const char *name;
	uint32_t fmt, ndim, group, tile_rows;
	uint64_t shape[CXLMS_MAX_DIMS];
};

/* The store every boot agrees on: each format, ragged and folded shapes. */
static const struct known known[] = {
	{ "persist.int8.a", CXLMS_FMT_INT8, 2, 128, 16, { 64, 256 } },
	{ "persist.int8.b", CXLMS_FMT_INT8, 3, 32, 5, { 3, 7, 50 } },
	{ "persist.bf16", CXLMS_FMT_BF16, 2, 0, 12, { 40, 72 } },
	{ "persist.fp16", CXLMS_FMT_FP16, 1, 0, 0, { 1000 } },
};
#define N_KNOWN	ARRAY_SIZE(known)

static int gen_known(struct cxt_tensor *t, size_t i)
{
	const struct known *k = &known[i];

	return cxt_tensor_gen(t, k->name, k->fmt, k->ndim, k->shape, k->group,
			      CXLMS_GROUP_DEFAULT, k->tile_rows, 0x900d + i);
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, PROG ": %s: %s\n", what, strerror(-err));
	return 1;
}

static void print_uuid(const struct cxlms_ioc_query *q)
{
	int i;

	printf("# " PROG ": uuid ");
	for (i = 0; i < 16; i++)
		printf("%02x", q->uuid[i]);
	printf(" generation %llu tensors %u\n", (unsigned long long)q->generation,
	       q->tensor_count);
}

/*
 * Fetch every tile of @t at a spread of precisions and outputs, compare
 * with the codec, fold the bytes into @digest.  Returns mismatches.
 */
static int compare_tensor(int fd, const struct cxt_tensor *t, uint64_t *digest,
			  unsigned int *fetches)
{
	static const uint32_t outs[] = { CXLMS_OUT_PLANES, CXLMS_OUT_INT, CXLMS_OUT_F32 };
	uint32_t ks[] = { 1, 2, 4, 9, t->l.n_planes }, tile, i, j;
	static uint8_t kbuf[BUF], rbuf[BUF];
	int bad = 0;

	for (tile = 0; tile < t->n_tiles; tile++)
	for (i = 0; i < ARRAY_SIZE(ks); i++)
	for (j = 0; j < ARRAY_SIZE(outs); j++) {
		int64_t n = cxt_ref_fetch(t, tile, ks[i], outs[j], 0, rbuf, BUF);
		uint64_t written = 0;
		int ret;

		if (n == -EOPNOTSUPP)
			continue;
		if (n < 0)
			return fail("reference fetch", (int)n);
		ret = cxt_fetch(fd, t->index, tile, 1, ks[i], outs[j], 0, kbuf,
				BUF, &written, NULL);
		if (ret || written != (uint64_t)n || memcmp(kbuf, rbuf, n)) {
			fprintf(stderr, PROG ": %s tile %u k %u out %u: %s\n",
				t->name, tile, ks[i], outs[j],
				ret ? strerror(-ret) : "bytes differ");
			bad++;
			continue;
		}
		*digest = fnv1a(*digest, kbuf, n);
		(*fetches)++;
	}
	return bad;
}

static int cmd_write(int fd, uint64_t start, uint64_t bytes)
{
	struct cxlms_ioc_query q;
	uint64_t digest = 0xcbf29ce484222325ull;
	unsigned int fetches = 0;
	char why[CXLMS_WHY_LEN];
	size_t i;
	int ret, bad = 0;

	ret = cxt_attach_cxl(fd, start, bytes, true, 64, why, sizeof(why));
	if (ret) {
		fprintf(stderr, PROG ": attach --format: %s (%s)\n", strerror(-ret), why);
		return 1;
	}
	for (i = 0; i < N_KNOWN; i++) {
		struct cxt_tensor t;

		ret = gen_known(&t, i);
		if (!ret)
			ret = cxt_tensor_upload(fd, &t, true);
		if (ret)
			return fail(known[i].name, ret);
		bad += compare_tensor(fd, &t, &digest, &fetches);
		cxt_tensor_free(&t);
	}
	ret = cxt_query(fd, &q);
	if (ret)
		return fail("query", ret);
	print_uuid(&q);
	printf("# " PROG ": digest %016" PRIx64 " over %u fetches\n", digest, fetches);
	ret = cxt_detach(fd);
	if (ret)
		return fail("detach", ret);
	return bad ? 1 : 0;
}

static int cmd_check(int fd, uint64_t start, uint64_t bytes)
{
	struct cxlms_ioc_tensor_info info[N_KNOWN];
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl), .count = N_KNOWN, .entry_size = sizeof(info[0]),
		.entries = (uintptr_t)info,
	};
	struct cxlms_ioc_verify v;
	struct cxlms_ioc_query q;
	uint64_t digest = 0xcbf29ce484222325ull;
	unsigned int fetches = 0;
	char why[CXLMS_WHY_LEN];
	size_t i;
	int ret, bad = 0;

	ret = cxt_attach_cxl(fd, start, bytes, false, 0, why, sizeof(why));
	if (ret) {
		fprintf(stderr, PROG ": attach: %s (%s)\n", strerror(-ret), why);
		return 1;
	}
	ret = cxt_query(fd, &q);
	if (ret)
		return fail("query", ret);
	print_uuid(&q);
	if (q.backing != CXLMS_BACKING_CXL || q.tensor_count != N_KNOWN) {
		fprintf(stderr, PROG ": backing %u with %u tensors, want CXL with %zu\n",
			q.backing, q.tensor_count, N_KNOWN);
		return 1;
	}
	ret = cxt_ioctl(fd, CXLMS_IOC_TENSOR_LIST, &tl);
	if (ret)
		return fail("list", ret);
	for (i = 0; i < N_KNOWN; i++) {
		struct cxt_tensor t;

		ret = gen_known(&t, i);
		if (ret)
			return fail("gen", ret);
		/* Same name, shape and geometry as written, sealed. */
		if (strcmp(info[i].name, known[i].name) || info[i].fmt != known[i].fmt ||
		    info[i].ndim != known[i].ndim ||
		    memcmp(info[i].shape, t.shape, sizeof(t.shape)) ||
		    info[i].flags != CXLMS_TENSOR_SEALED) {
			fprintf(stderr, PROG ": entry %zu is not %s as written\n", i,
				known[i].name);
			return 1;
		}
		t.index = info[i].index;
		t.n_tiles = info[i].n_tiles;
		t.g.tile_rows = info[i].tile_rows;
		if (info[i].group_size != t.g.group_size ||
		    cxlms_tile_layout(&t.g, &t.l))
			return fail("geometry", -EPROTO);
		bad += compare_tensor(fd, &t, &digest, &fetches);
		cxt_tensor_free(&t);
	}
	ret = cxt_verify(fd, CXLMS_TENSOR_ALL, &v);
	if (ret || v.checked != N_KNOWN) {
		fprintf(stderr, PROG ": verify: %s, %u checked (%s)\n",
			strerror(-ret), v.checked, v.why);
		bad++;
	}
	printf("# " PROG ": digest %016" PRIx64 " over %u fetches\n", digest, fetches);
	ret = cxt_detach(fd);
	if (ret)
		return fail("detach", ret);
	return bad ? 1 : 0;
}

/* Map the page of physical address @phys through /dev/mem. */
static volatile uint8_t *map_phys(uint64_t phys, void **base)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd = open("/dev/mem", O_RDWR | O_SYNC);
	void *p;

	if (fd < 0)
		return NULL;
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)(phys & ~(uint64_t)(page - 1)));
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	*base = p;
	return (volatile uint8_t *)p + (phys & (page - 1));
}

/*
 * Copy @len bytes at @phys out, or XOR @mask into the byte at @phys.  A
 * fresh mapping each time: attaching the range revokes /dev/mem mappings
 * of it (the module claims it), so an old one would fault.
 */
static int phys_read(uint64_t phys, void *dst, size_t len)
{
	void *base;
	volatile uint8_t *p = map_phys(phys, &base);

	if (!p)
		return -errno;
	memcpy(dst, (const void *)p, len);
	munmap(base, sysconf(_SC_PAGESIZE));
	return 0;
}

static int phys_flip(uint64_t phys, uint8_t mask)
{
	void *base;
	volatile uint8_t *p = map_phys(phys, &base);

	if (!p)
		return -errno;
	*p ^= mask;
	munmap(base, sysconf(_SC_PAGESIZE));
	return 0;
}

static int cmd_corrupt(int fd, uint64_t start, uint64_t bytes)
{
	struct cxlms_sb sb;
	struct cxlms_dirent d;
	struct cxlms_ioc_verify v;
	char why[CXLMS_WHY_LEN];
	int ret, bad = 0;

	/* Where tensor 0's first tile is: from the superblock and directory. */
	ret = phys_read(start, &sb, sizeof(sb));
	if (!ret)
		ret = phys_read(start + sb.dir_off, &d, sizeof(d));
	if (ret)
		return fail("read the store through /dev/mem", ret);

	/* A flipped tile byte: metadata intact, attach works, VERIFY fails. */
	ret = phys_flip(start + d.tile_off + 100, 0x10);
	if (ret)
		return fail("flip a tile byte", ret);
	ret = cxt_attach_cxl(fd, start, bytes, false, 0, why, sizeof(why));
	if (ret) {
		fprintf(stderr, PROG ": attach with a bad tile: %s\n", strerror(-ret));
		bad++;
	} else {
		ret = cxt_verify(fd, CXLMS_TENSOR_ALL, &v);
		printf("# " PROG ": verify with a flipped tile byte: %s, tensor %u: %s\n",
		       strerror(-ret), v.bad_tensor, v.why);
		if (ret != -EBADMSG || v.bad_tensor != 0 || !strstr(v.why, d.name))
			bad++;
		cxt_detach(fd);
	}
	if (phys_flip(start + d.tile_off + 100, 0x10))
		return fail("restore the tile byte", -errno);

	/*
	 * A flipped superblock byte (feature_ro_compat) in both slots
	 * (format.md 1.5): attach refuses with slot 0's reason.
	 */
	if (phys_flip(start + 24, 0x01) ||
	    phys_flip(start + CXLMS_SB_SLOT_BYTES + 24, 0x01))
		return fail("flip a superblock byte", -errno);
	ret = cxt_attach_cxl(fd, start, bytes, false, 0, why, sizeof(why));
	printf("# " PROG ": attach with a flipped superblock byte in both slots: %s (%s)\n",
	       strerror(-ret), why);
	if (ret != -EBADMSG)
		bad++;
	if (!ret)
		cxt_detach(fd);
	/* Only one slot bad: the other one is the store (an older state). */
	if (phys_flip(start + CXLMS_SB_SLOT_BYTES + 24, 0x01))
		return fail("restore the superblock byte", -errno);
	ret = cxt_attach_cxl(fd, start, bytes, false, 0, why, sizeof(why));
	printf("# " PROG ": attach with slot 0 bad, slot 1 good: %s\n",
	       ret ? strerror(-ret) : "attached");
	if (ret)
		bad++;
	else
		cxt_detach(fd);
	if (phys_flip(start + 24, 0x01))
		return fail("restore the superblock byte", -errno);

	/* Restored: attaches and verifies again. */
	ret = cxt_attach_cxl(fd, start, bytes, false, 0, why, sizeof(why));
	if (ret) {
		fprintf(stderr, PROG ": attach after restore: %s (%s)\n",
			strerror(-ret), why);
		return 1;
	}
	ret = cxt_verify(fd, CXLMS_TENSOR_ALL, &v);
	if (ret) {
		fprintf(stderr, PROG ": verify after restore: %s\n", strerror(-ret));
		bad++;
	}
	cxt_detach(fd);
	return bad ? 1 : 0;
}

static int errno_by_name(const char *name)
{
	static const struct { const char *name; int err; } names[] = {
		{ "EMEDIUMTYPE", EMEDIUMTYPE }, { "EPROTONOSUPPORT", EPROTONOSUPPORT },
		{ "ENODATA", ENODATA }, { "EBADMSG", EBADMSG }, { "EUCLEAN", EUCLEAN },
		{ "EBUSY", EBUSY }, { "EINVAL", EINVAL },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(name, names[i].name))
			return names[i].err;
	return 0;
}

/*
 * The mapping outlives the fd: the module and the view stay (the vma holds
 * the file), pages reclaimed meanwhile are decoded again on the next load.
 */
static int cmd_view_hold(int fd)
{
	struct cxlms_ioc_view_create c = {
		.size = sizeof(c), .tensor = CXLMS_TENSOR_ALL,
		.layout = CXLMS_VIEW_PACKED, .bits = 3,
	};
	uint8_t *m, *ref;
	char buf[64];
	int ret;

	ret = cxt_ioctl(fd, CXLMS_IOC_VIEW_CREATE, &c);
	if (ret)
		return fail("VIEW_CREATE", ret);
	m = mmap(NULL, c.length, PROT_READ, MAP_SHARED, fd, (off_t)c.offset);
	if (m == MAP_FAILED)
		return fail("mmap", -errno);
	ref = malloc(c.length);
	if (!ref)
		return fail("malloc", -ENOMEM);
	memcpy(ref, m, c.length);
	close(fd);
	printf("mapped %llu bytes, %u tensors\n", (unsigned long long)c.length,
	       c.sec_total);
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	ret = memcmp(ref, m, c.length) ? 1 : 0;
	printf("%s\n", ret ? "view bytes changed" : "view bytes unchanged");
	munmap(m, c.length);
	free(ref);
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: " PROG " attach START BYTES [--format] [--dir-capacity N]\n"
		"       " PROG " detach\n"
		"       " PROG " expect-refused START BYTES ERRNO\n"
		"       " PROG " write|check|corrupt|filecmp START BYTES\n"
		"       " PROG " view-hold\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t start = 0, bytes = 0;
	char why[CXLMS_WHY_LEN] = "";
	int fd, ret, i;

	if (argc < 2)
		return usage();
	fd = cxt_open();
	if (fd < 0)
		return fail(CXLMS_DEV_PATH, fd) + 1;
	if (!strcmp(argv[1], "detach")) {
		ret = cxt_detach(fd);
		return ret ? fail("detach", ret) : 0;
	}
	if (!strcmp(argv[1], "view-hold"))
		return cmd_view_hold(fd);
	if (argc < 4)
		return usage();
	start = strtoull(argv[2], NULL, 0);
	bytes = strtoull(argv[3], NULL, 0);

	if (!strcmp(argv[1], "attach")) {
		bool format = false;
		uint32_t cap = 0;

		for (i = 4; i < argc; i++) {
			if (!strcmp(argv[i], "--format"))
				format = true;
			else if (!strcmp(argv[i], "--dir-capacity") && i + 1 < argc)
				cap = (uint32_t)strtoul(argv[++i], NULL, 0);
			else
				return usage();
		}
		ret = cxt_attach_cxl(fd, start, bytes, format, cap, why, sizeof(why));
		if (ret)
			fprintf(stderr, PROG ": attach: %s (%s)\n", strerror(-ret), why);
		return ret ? 1 : 0;
	}
	if (!strcmp(argv[1], "expect-refused")) {
		int want = argc > 4 ? errno_by_name(argv[4]) : 0;

		if (!want)
			return usage();
		ret = cxt_attach_cxl(fd, start, bytes, false, 0, why, sizeof(why));
		printf("# " PROG ": attach refused: %s (%s)\n", strerror(-ret), why);
		if (!ret)
			cxt_detach(fd);
		return ret == -want && why[0] ? 0 : 1;
	}
	if (!strcmp(argv[1], "write"))
		return cmd_write(fd, start, bytes);
	if (!strcmp(argv[1], "check"))
		return cmd_check(fd, start, bytes);
	if (!strcmp(argv[1], "corrupt"))
		return cmd_corrupt(fd, start, bytes);
	if (!strcmp(argv[1], "filecmp"))
		return cmd_filecmp(fd, start, bytes);
	return usage();
}
