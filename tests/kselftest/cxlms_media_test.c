// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms kselftest: the module on shared, faulty media (issue 13).
 *
 * The test plays the other host of a shared pool through debugfs
 * cxlms/media (the attached store's bytes; /dev/mem cannot reach an
 * attached range with IO_STRICT_DEVMEM) and injects poison through
 * cxlms/inject_media_error.  What it shows:
 *   - metadata rewritten under an attached store (garbage, or a resealed
 *     superblock with valid CRC and out-of-range values) changes nothing the
 *     module decides: FETCH still serves the right bytes, CREATE is bounded
 *     by the kernel's copy, and the next metadata write puts a valid
 *     superblock back on the media;
 *   - rewritten tiles give wrong bytes and a VERIFY checksum error, no more;
 *   - an injected media error fails that FETCH / VERIFY with -EIO and counts
 *     in STATS media_errors; the next request works;
 *   - SET_MAP with a huge n_tensors is -EINVAL (no allocation WARN);
 *   - both ioctl encodings work, a size that disagrees with the struct is
 *     refused; QUERY as nobody hides backing_start;
 *   - nothing of the above left a WARN/BUG/oops in the kernel log.
 * The corrupting cases run only on a RAM store the test attached itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cxlms_util.h"

#define TEST_RAM_BYTES	(16ull << 20)
#define DBG_DIR		"/sys/kernel/debug/cxlms"
#define BUF_BYTES	(1u << 20)

static int dbg_open(const char *name, int flags)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), DBG_DIR "/%s", name);
	fd = open(path, flags);
	if (fd < 0 && errno == ENOENT) {
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
		fd = open(path, flags);
	}
	return fd;
}

static int inject(unsigned int n)
{
	char s[16];
	int fd = dbg_open("inject_media_error", O_WRONLY);
	int len = snprintf(s, sizeof(s), "%u\n", n);
	int ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, s, len) == len;
	close(fd);
	return ok ? 0 : -EIO;
}

static uint64_t media_errors(int fd)
{
	struct cxlms_ioc_stats st;

	if (cxt_stats(fd, CXLMS_TENSOR_ALL, 0, &st))
		return UINT64_MAX;
	return st.media_errors;
}

FIXTURE(media) {
	int fd, mfd;
	bool own_store;
	struct cxt_tensor t;
	struct cxlms_sb sb;
	struct cxlms_dirent d;
	uint8_t *kbuf, *rbuf;
};

FIXTURE_SETUP(media)
{
	static const uint64_t shape[2] = { 24, 96 };
	struct cxlms_ioc_query q;
	char name[64];

	self->fd = cxt_open();
	if (self->fd < 0)
		SKIP(_exit(255), CXLMS_NO_DEV_REASON);
	self->mfd = -1;
	ASSERT_EQ(0, cxt_query(self->fd, &q));
	self->own_store = false;
	if (!(q.state & CXLMS_STATE_ATTACHED)) {
		ASSERT_EQ(0, cxt_attach_ram(self->fd, TEST_RAM_BYTES, 0));
		self->own_store = true;
		ASSERT_EQ(0, cxt_query(self->fd, &q));
	}
	cxt_name(name, sizeof(name), "media");
	ASSERT_EQ(0, cxt_tensor_gen(&self->t, name, CXLMS_FMT_INT8, 2, shape, 32,
				    q.default_group, 8, 0x5eed));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &self->t, true));
	self->kbuf = malloc(BUF_BYTES);
	self->rbuf = malloc(BUF_BYTES);
	ASSERT_NE(NULL, self->kbuf);
	ASSERT_NE(NULL, self->rbuf);
	self->mfd = dbg_open("media", O_RDWR);
	if (self->mfd >= 0) {
		ASSERT_EQ(sizeof(self->sb),
			  pread(self->mfd, &self->sb, sizeof(self->sb), 0));
		ASSERT_EQ(sizeof(self->d),
			  pread(self->mfd, &self->d, sizeof(self->d),
				self->sb.dir_off + (uint64_t)self->t.index * sizeof(self->d)));
		ASSERT_EQ(0, memcmp(self->d.name, self->t.name, sizeof(self->d.name)));
	}
}

FIXTURE_TEARDOWN(media)
{
	if (self->mfd >= 0)
		close(self->mfd);
	if (self->own_store)
		cxt_detach(self->fd);
	cxt_tensor_free(&self->t);
	free(self->kbuf);
	free(self->rbuf);
	close(self->fd);
}

/* FETCH of every tile at 5 bits equals the userspace reference. */
static int fetch_matches(int fd, const struct cxt_tensor *t, uint8_t *kbuf,
			 uint8_t *rbuf)
{
	uint64_t off = 0, written, read;
	uint32_t i;
	int ret;

	ret = cxt_fetch(fd, t->index, 0, t->n_tiles, 5, CXLMS_OUT_PLANES,
			CXLMS_RECON_DEFAULT, kbuf, BUF_BYTES, &written, &read);
	if (ret)
		return ret;
	for (i = 0; i < t->n_tiles; i++) {
		int64_t n = cxt_ref_fetch(t, i, 5, CXLMS_OUT_PLANES,
					  CXLMS_RECON_DEFAULT, rbuf + off,
					  BUF_BYTES - off);
		if (n < 0)
			return (int)n;
		off += n;
	}
	if (off != written)
		return -EMSGSIZE;
	return memcmp(kbuf, rbuf, off) ? -EILSEQ : 0;
}

#define NEED_OWN_MEDIA()						\
	do {								\
		if (!self->own_store)					\
			SKIP(return, "store not ours: corrupting it would break later tests"); \
		if (self->mfd < 0)					\
			SKIP(return, "no debugfs " DBG_DIR "/media");	\
	} while (0)

TEST_F(media, garbage_metadata_changes_nothing)
{
	size_t dir_len = (size_t)self->sb.dir_count * sizeof(struct cxlms_dirent);
	size_t len = self->sb.dir_off + dir_len;
	struct cxlms_ioc_query q0, q1;
	struct cxlms_sb sb;
	struct cxt_tensor t2;
	uint8_t *junk;
	char name[64], why[128];
	size_t i;

	NEED_OWN_MEDIA();
	ASSERT_EQ(0, cxt_query(self->fd, &q0));
	junk = malloc(len);
	ASSERT_NE(NULL, junk);
	for (i = 0; i < len; i++)
		junk[i] = (uint8_t)(0xa5 ^ (i * 131));
	/* The debugfs file writes at most a page per call. */
	for (i = 0; i < len; i += 4096)
		ASSERT_LT(0, pwrite(self->mfd, junk + i,
				    len - i < 4096 ? len - i : 4096, i));
	free(junk);

	EXPECT_EQ(0, fetch_matches(self->fd, &self->t, self->kbuf, self->rbuf));
	ASSERT_EQ(0, cxt_query(self->fd, &q1));
	EXPECT_EQ(q0.tensor_count, q1.tensor_count);
	EXPECT_EQ(q0.data_used, q1.data_used);
	EXPECT_EQ(0, memcmp(q0.uuid, q1.uuid, sizeof(q0.uuid)));

	/* A metadata write goes kernel copy -> media: the sb is valid again. */
	cxt_name(name, sizeof(name), "media.after");
	ASSERT_EQ(0, cxt_tensor_gen(&t2, name, CXLMS_FMT_BF16, 1,
				    (const uint64_t[]){ 200 }, 0, 0, 0, 7));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &t2, true));
	EXPECT_EQ(0, fetch_matches(self->fd, &t2, self->kbuf, self->rbuf));
	ASSERT_EQ(sizeof(sb), pread(self->mfd, &sb, sizeof(sb), 0));
	EXPECT_EQ(0, cxlms_sb_check(&sb, TEST_RAM_BYTES, why, sizeof(why)));
	EXPECT_EQ(q0.tensor_count + 1, sb.dir_count);
	cxt_tensor_free(&t2);
}

/* A resealed superblock that says "full" must not stop CREATE: kernel state decides. */
TEST_F(media, valid_crc_out_of_range_superblock)
{
	struct cxlms_sb sb = self->sb;
	struct cxlms_dirent d2;
	struct cxt_tensor t2;
	char name[64];

	NEED_OWN_MEDIA();
	sb.data_used = sb.data_bytes;
	sb.dir_count = sb.dir_capacity;
	sb.data_off = sb.store_bytes - 4096;	/* and a wild data area */
	cxlms_sb_seal(&sb);
	ASSERT_EQ(sizeof(sb), pwrite(self->mfd, &sb, sizeof(sb), 0));

	cxt_name(name, sizeof(name), "media.crafted");
	ASSERT_EQ(0, cxt_tensor_gen(&t2, name, CXLMS_FMT_FP16, 2,
				    (const uint64_t[]){ 9, 64 }, 0, 0, 4, 11));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &t2, true));
	EXPECT_EQ(0, fetch_matches(self->fd, &t2, self->kbuf, self->rbuf));
	/* Placed after the first tensor, inside the real data area. */
	ASSERT_EQ(sizeof(d2), pread(self->mfd, &d2, sizeof(d2),
				    self->sb.dir_off + (uint64_t)t2.index * sizeof(d2)));
	EXPECT_GE(d2.tile_off, self->d.tile_off + self->t.n_tiles * self->t.l.tile_bytes);
	EXPECT_LT(d2.tile_off, self->sb.data_off + self->sb.data_bytes);
	EXPECT_EQ(0, fetch_matches(self->fd, &self->t, self->kbuf, self->rbuf));
	cxt_tensor_free(&t2);
}

TEST_F(media, rewritten_tiles_fail_verify_only)
{
	struct cxlms_ioc_verify v;
	uint8_t junk[512];

	NEED_OWN_MEDIA();
	memset(junk, 0x3c, sizeof(junk));
	ASSERT_EQ(sizeof(junk), pwrite(self->mfd, junk, sizeof(junk),
				       self->d.tile_off + self->t.l.tile_bytes));
	/* Wrong weights are all a rewritten tile can give. */
	EXPECT_EQ(-EILSEQ, fetch_matches(self->fd, &self->t, self->kbuf, self->rbuf));
	EXPECT_EQ(-EBADMSG, cxt_verify(self->fd, self->t.index, &v));
	EXPECT_EQ(self->t.index, v.bad_tensor);
	EXPECT_NE(NULL, strstr(v.why, "tile 1"));
}

/* A wild CRC array offset in the media directory is never used. */
TEST_F(media, rewritten_dirent_offsets_unused)
{
	struct cxlms_dirent d = self->d;
	struct cxlms_ioc_verify v;

	NEED_OWN_MEDIA();
	d.tile_off = ~0ull << 12;
	d.crc_off = ~0ull - 3;
	d.n_tiles = UINT32_MAX;
	cxlms_dirent_seal(&d);
	ASSERT_EQ(sizeof(d), pwrite(self->mfd, &d, sizeof(d),
				    self->sb.dir_off + (uint64_t)self->t.index * sizeof(d)));
	EXPECT_EQ(0, fetch_matches(self->fd, &self->t, self->kbuf, self->rbuf));
	EXPECT_EQ(0, cxt_verify(self->fd, self->t.index, &v));
	EXPECT_EQ(1u, v.checked);
}

TEST_F(media, poisoned_fetch_is_eio_and_counted)
{
	uint64_t before = media_errors(self->fd), written, read;

	if (inject(0))
		SKIP(return, "no debugfs " DBG_DIR "/inject_media_error");
	ASSERT_NE(UINT64_MAX, before);
	ASSERT_EQ(0, inject(1));
	EXPECT_EQ(-EIO, cxt_fetch(self->fd, self->t.index, 0, 1, 8,
				  CXLMS_OUT_PLANES, CXLMS_RECON_DEFAULT,
				  self->kbuf, BUF_BYTES, &written, &read));
	EXPECT_EQ(before + 1, media_errors(self->fd));
	/* One bad read, one failed request: the next one is served. */
	EXPECT_EQ(0, fetch_matches(self->fd, &self->t, self->kbuf, self->rbuf));
	EXPECT_EQ(before + 1, media_errors(self->fd));
}

TEST_F(media, poisoned_verify_is_eio)
{
	struct cxlms_ioc_verify v;
	uint64_t before = media_errors(self->fd);

	if (inject(0))
		SKIP(return, "no debugfs " DBG_DIR "/inject_media_error");
	ASSERT_EQ(0, inject(1));
	EXPECT_EQ(-EIO, cxt_verify(self->fd, self->t.index, &v));
	EXPECT_EQ(self->t.index, v.bad_tensor);
	EXPECT_NE(NULL, strstr(v.why, "media error"));
	EXPECT_EQ(before + 1, media_errors(self->fd));
	EXPECT_EQ(0, cxt_verify(self->fd, self->t.index, &v));
}

TEST_F(media, poisoned_seal_leaves_tensor_unsealed)
{
	struct cxt_tensor t2;
	char name[64];

	if (inject(0))
		SKIP(return, "no debugfs " DBG_DIR "/inject_media_error");
	cxt_name(name, sizeof(name), "media.seal");
	ASSERT_EQ(0, cxt_tensor_gen(&t2, name, CXLMS_FMT_BF16, 1,
				    (const uint64_t[]){ 64 }, 0, 0, 0, 3));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &t2, false));
	ASSERT_EQ(0, inject(1));
	EXPECT_EQ(-EIO, cxt_seal(self->fd, t2.index));
	EXPECT_EQ(0, cxt_seal(self->fd, t2.index));
	EXPECT_EQ(0, fetch_matches(self->fd, &t2, self->kbuf, self->rbuf));
	cxt_tensor_free(&t2);
}

TEST_F(media, set_map_huge_n_tensors)
{
	struct cxlms_ioc_map_context ctx = { .name = "default" };
	uint8_t map = 8;
	struct cxlms_ioc_set_map m = {
		.size = sizeof(m), .n_contexts = 1, .n_tensors = UINT32_MAX,
		.n_tiles = 1, .ctx_size = sizeof(ctx),
		.contexts = (uintptr_t)&ctx, .maps = (uintptr_t)&map,
		.maps_len = 1,
	};

	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_SET_MAP, &m));
	m.n_tensors = UINT32_MAX / 4;
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_SET_MAP, &m));
}

TEST_F(media, both_encodings)
{
	struct cxlms_ioc_query q = { .size = sizeof(q) };
	struct cxlms_ioc_stats st = { .size = sizeof(st), .tensor = CXLMS_TENSOR_ALL };
	/* A revision-2 caller's STATS: the struct before media_errors. */
	uint32_t old_size = offsetof(struct cxlms_ioc_stats, media_errors);

	EXPECT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC_QUERY, &q));
	EXPECT_EQ((uint32_t)CXLMS_ABI_REVISION, q.abi_revision);
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	EXPECT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC(CXLMS_CMD_QUERY), &q));
	EXPECT_EQ((uint32_t)CXLMS_ABI_REVISION, q.abi_revision);
	EXPECT_NE(CXLMS_IOC_QUERY, CXLMS_IOC(CXLMS_CMD_QUERY));
	EXPECT_EQ(sizeof(struct cxlms_ioc_query), _IOC_SIZE(CXLMS_IOC_QUERY));

	EXPECT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC_STATS, &st));
	st.size = old_size;
	EXPECT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC(CXLMS_CMD_STATS), &st));
	EXPECT_EQ(0, cxt_ioctl(self->fd, _IOWR(CXLMS_IOC_TYPE, CXLMS_CMD_STATS,
					       char[offsetof(struct cxlms_ioc_stats,
							     media_errors)]), &st));
	/* The two sizes disagree: refused, whichever is right. */
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_STATS, &st));
	/* A command size that matches the struct but not its first revision. */
	st.size = 16;
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, _IOWR(CXLMS_IOC_TYPE,
						     CXLMS_CMD_STATS, char[16]), &st));
	/* Direction other than read-write. */
	EXPECT_EQ(-ENOTTY, cxt_ioctl(self->fd, _IOW(CXLMS_IOC_TYPE, CXLMS_CMD_QUERY,
						    struct cxlms_ioc_query), &q));
}

TEST_F(media, query_as_nobody_hides_backing_start)
{
	struct cxlms_ioc_query *q;
	struct cxlms_ioc_query root;

	ASSERT_EQ(0, cxt_query(self->fd, &root));
	if (root.backing != CXLMS_BACKING_CXL)
		SKIP(return, "RAM store: backing_start is 0 for everyone");
	EXPECT_NE(0ull, root.backing_start);
	/* Shared memory: the child's QUERY result is seen here. */
	q = mmap(NULL, sizeof(*q), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, q);
	q->size = sizeof(*q);
	EXPECT_EQ(0, cxt_ioctl_as_nobody(self->fd, CXLMS_IOC_QUERY, q));
	EXPECT_EQ(0ull, q->backing_start);
	EXPECT_EQ(root.backing_bytes, q->backing_bytes);
	munmap(q, sizeof(*q));
}

/* --- a user buffer that never fills in (userfaultfd) ----------------------- */

struct stall {
	int fd;
	unsigned long cmd;
	void *arg;
	int ret;
};

static void *stall_thread(void *p)
{
	struct stall *st = p;

	st->ret = cxt_ioctl(st->fd, st->cmd, st->arg);
	return NULL;
}

/* A page registered for missing faults nobody serves until we say so. */
static int uffd_page(void **page, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	int uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC);

	if (uffd < 0)
		return -errno;
	*page = mmap(NULL, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg.range.start = (uintptr_t)*page;
	reg.range.len = len;
	if (*page == MAP_FAILED || ioctl(uffd, UFFDIO_API, &api) ||
	    ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		close(uffd);
		return -EOPNOTSUPP;
	}
	return uffd;
}

/* Block until the kernel faults on the page: the command is in copy_to_user. */
static int uffd_wait_fault(int uffd)
{
	struct uffd_msg msg;

	if (read(uffd, &msg, sizeof(msg)) != sizeof(msg))
		return -EIO;
	return msg.event == UFFD_EVENT_PAGEFAULT ? 0 : -EIO;
}

static int uffd_release(int uffd, void *page, size_t len)
{
	struct uffdio_zeropage z = {
		.range = { .start = (uintptr_t)page, .len = len },
	};

	return ioctl(uffd, UFFDIO_ZEROPAGE, &z) ? -errno : 0;
}

/*
 * LIST and FETCH into a stalled buffer: QUERY, CREATE and (own store)
 * DETACH all complete while it is stalled; the stalled command then ends
 * with -ESTALE, not a read of the freed store.  With a lock held across the
 * copy, the first of them would wait for ever (the harness's timeout fails
 * the case).
 */
static void stalled_case(struct __test_metadata *_metadata,
			 FIXTURE_DATA(media) *self, bool fetch)
{
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl), .count = 1,
		.entry_size = sizeof(struct cxlms_ioc_tensor_info),
	};
	struct cxlms_ioc_fetch f = {
		.size = sizeof(f), .tensor = self->t.index, .tile_first = 0,
		.tile_count = 1, .bits = 8, .out = CXLMS_OUT_PLANES,
	};
	struct stall st = { .fd = self->fd };
	struct cxlms_ioc_query q;
	struct cxt_tensor t2;
	pthread_t th;
	char name[64];
	size_t len = 1 << 20;
	bool detached = false;
	void *page = NULL;
	int uffd = uffd_page(&page, len);

	if (uffd < 0)
		SKIP(return, "userfaultfd unavailable: %s", strerror(-uffd));
	if (fetch) {
		f.buf = (uintptr_t)page;
		f.buf_len = len;
		st.cmd = CXLMS_IOC_FETCH;
		st.arg = &f;
	} else {
		tl.entries = (uintptr_t)page;
		st.cmd = CXLMS_IOC_TENSOR_LIST;
		st.arg = &tl;
	}
	ASSERT_EQ(0, pthread_create(&th, NULL, stall_thread, &st));
	ASSERT_EQ(0, uffd_wait_fault(uffd));

	EXPECT_EQ(0, cxt_query(self->fd, &q));
	cxt_name(name, sizeof(name), "media.stall");
	ASSERT_EQ(0, cxt_tensor_gen(&t2, name, CXLMS_FMT_BF16, 1,
				    (const uint64_t[]){ 64 }, 0, 0, 0, 5));
	EXPECT_EQ(0, cxt_tensor_upload(self->fd, &t2, true));
	cxt_tensor_free(&t2);
	if (self->own_store) {
		EXPECT_EQ(0, cxt_detach(self->fd));
		self->own_store = false;
		detached = true;
	}
	ASSERT_EQ(0, uffd_release(uffd, page, len));
	ASSERT_EQ(0, pthread_join(th, NULL));
	/* After a DETACH the stalled command must not touch the old store. */
	EXPECT_EQ(detached ? -ESTALE : 0, st.ret);
	munmap(page, len);
	close(uffd);
}

TEST_F(media, stalled_list_blocks_nobody)
{
	stalled_case(_metadata, self, false);
}

TEST_F(media, stalled_fetch_blocks_nobody)
{
	stalled_case(_metadata, self, true);
}

/* Last: none of the above left a kernel bug report behind. */
TEST_F(media, no_warn_in_dmesg)
{
	char line[256];
	int ret = cxt_dmesg_bad(line, sizeof(line));

	if (ret == -EPERM)
		SKIP(return, "kernel log not readable");
	EXPECT_EQ(0, ret) {
		TH_LOG("kernel log: %s", line);
	}
}

TEST_HARNESS_MAIN
