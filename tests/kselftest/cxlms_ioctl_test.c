// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms ioctl ABI tests: one test per validation error of every command.
 *
 * The fixture opens /dev/cxlms0 (SKIP when absent).  If no store is
 * attached it attaches a small RAM store for the test and detaches it
 * afterwards; if one is attached (guest-run.sh attaches the CXL region) the
 * tests share it, creating tensors under unique names.  Tests that must
 * detach or re-attach run only on a store the fixture owns.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cxlms_util.h"

#define TEST_RAM_BYTES	(16ull << 20)

/* --- per-command generic checks: size, flags, pointer, privilege -------- */

FIXTURE(ioc) {
	int fd;
	bool own_store;
	uint8_t buf[8192];
};

FIXTURE_VARIANT(ioc) {
	unsigned long cmd;
	uint32_t size;
	uint32_t min_size;	/* first revision's size, 0 = size */
	bool admin;
	/* a zeroed struct of the exact size succeeds and changes state */
	bool destructive;
};

FIXTURE_VARIANT_ADD(ioc, query) {
	.cmd = CXLMS_IOC_QUERY, .size = sizeof(struct cxlms_ioc_query),
};
FIXTURE_VARIANT_ADD(ioc, attach) {
	.cmd = CXLMS_IOC_ATTACH, .size = sizeof(struct cxlms_ioc_attach),
	.admin = true,
};
FIXTURE_VARIANT_ADD(ioc, detach) {
	.cmd = CXLMS_IOC_DETACH, .size = sizeof(struct cxlms_ioc_detach),
	.admin = true, .destructive = true,
};
FIXTURE_VARIANT_ADD(ioc, tensor_list) {
	.cmd = CXLMS_IOC_TENSOR_LIST, .size = sizeof(struct cxlms_ioc_tensor_list),
};
FIXTURE_VARIANT_ADD(ioc, tensor_create) {
	.cmd = CXLMS_IOC_TENSOR_CREATE,
	.size = sizeof(struct cxlms_ioc_tensor_create), .admin = true,
};
FIXTURE_VARIANT_ADD(ioc, tile_write) {
	.cmd = CXLMS_IOC_TILE_WRITE, .size = sizeof(struct cxlms_ioc_tile_write),
	.admin = true,
};
FIXTURE_VARIANT_ADD(ioc, tensor_seal) {
	.cmd = CXLMS_IOC_TENSOR_SEAL, .size = sizeof(struct cxlms_ioc_tensor_seal),
	.admin = true,
};
FIXTURE_VARIANT_ADD(ioc, fetch) {
	.cmd = CXLMS_IOC_FETCH, .size = sizeof(struct cxlms_ioc_fetch),
};
FIXTURE_VARIANT_ADD(ioc, stats) {
	.cmd = CXLMS_IOC_STATS, .size = sizeof(struct cxlms_ioc_stats),
	/* Revision 3 appended media_errors. */
	.min_size = offsetof(struct cxlms_ioc_stats, media_errors),
};
FIXTURE_VARIANT_ADD(ioc, verify) {
	.cmd = CXLMS_IOC_VERIFY, .size = sizeof(struct cxlms_ioc_verify),
};
FIXTURE_VARIANT_ADD(ioc, view_create) {
	.cmd = CXLMS_IOC_VIEW_CREATE, .size = sizeof(struct cxlms_ioc_view_create),
};
FIXTURE_VARIANT_ADD(ioc, view_destroy) {
	.cmd = CXLMS_IOC_VIEW_DESTROY, .size = sizeof(struct cxlms_ioc_view_destroy),
};

static int setup_store(struct __test_metadata *_metadata, int fd, bool *own)
{
	struct cxlms_ioc_query q;

	if (cxt_query(fd, &q))
		return -1;
	*own = false;
	if (q.state & CXLMS_STATE_ATTACHED)
		return 0;
	if (cxt_attach_ram(fd, TEST_RAM_BYTES, 0))
		return -1;
	*own = true;
	return 0;
}

FIXTURE_SETUP(ioc)
{
	self->fd = cxt_open();
	if (self->fd < 0)
		SKIP(_exit(255), CXLMS_NO_DEV_REASON);
	ASSERT_EQ(0, setup_store(_metadata, self->fd, &self->own_store));
	memset(self->buf, 0, sizeof(self->buf));
}

FIXTURE_TEARDOWN(ioc)
{
	if (self->own_store)
		cxt_detach(self->fd);
	close(self->fd);
}

static struct cxlms_ioc_hdr *hdr(uint8_t *buf)
{
	return (struct cxlms_ioc_hdr *)buf;
}

/*
 * The revision-3 encoding of @cmd for the struct in @buf: the size in the
 * command is the struct's own size, whatever the test set it to (so the
 * size checks below are reached, not the encoding check).
 */
static unsigned long enc(unsigned long cmd, uint8_t *buf)
{
	return _IOC(_IOC_READ | _IOC_WRITE, CXLMS_IOC_TYPE, _IOC_NR(cmd),
		    hdr(buf)->size & _IOC_SIZEMASK);
}

TEST_F(ioc, size_zero)
{
	hdr(self->buf)->size = 0;
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, enc(variant->cmd, self->buf), self->buf));
}

TEST_F(ioc, size_too_small)
{
	hdr(self->buf)->size = (variant->min_size ?: variant->size) - 8;
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, enc(variant->cmd, self->buf), self->buf));
}

TEST_F(ioc, size_larger_nonzero_tail)
{
	hdr(self->buf)->size = variant->size + 16;
	self->buf[variant->size + 9] = 1;
	EXPECT_EQ(-E2BIG, cxt_ioctl(self->fd, enc(variant->cmd, self->buf), self->buf));
}

TEST_F(ioc, size_larger_than_page)
{
	hdr(self->buf)->size = 4096 + 8;
	EXPECT_EQ(-E2BIG, cxt_ioctl(self->fd, enc(variant->cmd, self->buf), self->buf));
}

/* A larger struct with a zero tail means what the known part means. */
TEST_F(ioc, size_larger_zero_tail)
{
	uint8_t copy[sizeof(self->buf)];
	int exact, larger;

	if (variant->destructive) {
		if (!self->own_store)
			SKIP(return, "would detach the shared store");
		hdr(self->buf)->size = variant->size + 64;
		EXPECT_EQ(0, cxt_ioctl(self->fd, enc(variant->cmd, self->buf), self->buf));
		self->own_store = false;
		return;
	}
	hdr(self->buf)->size = variant->size;
	memcpy(copy, self->buf, sizeof(copy));
	exact = cxt_ioctl(self->fd, enc(variant->cmd, self->buf), self->buf);
	hdr(copy)->size = variant->size + 64;
	larger = cxt_ioctl(self->fd, enc(variant->cmd, copy), copy);
	EXPECT_EQ(exact, larger);
	/* What comes back is the same, and nothing past the known size. */
	EXPECT_EQ(0, memcmp(self->buf + 4, copy + 4, variant->size - 4));
	EXPECT_EQ(0, copy[variant->size]);
	EXPECT_EQ(0, copy[variant->size + 63]);
}

TEST_F(ioc, unknown_flag)
{
	hdr(self->buf)->size = variant->size;
	hdr(self->buf)->flags = 1u << 31;
	EXPECT_EQ(-EOPNOTSUPP, cxt_ioctl(self->fd, enc(variant->cmd, self->buf), self->buf));
}

TEST_F(ioc, null_pointer)
{
	EXPECT_EQ(-EFAULT, cxt_ioctl(self->fd, variant->cmd, NULL));
}

TEST_F(ioc, kernel_pointer)
{
	EXPECT_EQ(-EFAULT, cxt_ioctl(self->fd, variant->cmd,
				     (void *)0xffff888000000000ull));
}

TEST_F(ioc, unprivileged)
{
	int ret;

	hdr(self->buf)->size = variant->size;
	ret = cxt_ioctl_as_nobody(self->fd, variant->cmd, self->buf);
	ASSERT_NE(-ECHILD, ret);
	if (variant->admin) {
		EXPECT_EQ(-EPERM, ret);
	} else {
		EXPECT_NE(-EPERM, ret);
	}
}

/* The size lives in the struct: another size in the number is unknown. */
TEST_F(ioc, wrong_encoding)
{
	unsigned long nr = _IOC_NR(variant->cmd);

	hdr(self->buf)->size = variant->size;
	/* Revision 3: the size in the command must be the struct's. */
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, _IOC(_IOC_READ | _IOC_WRITE,
						    CXLMS_IOC_TYPE, nr,
						    variant->size + 8),
				     self->buf));

	EXPECT_EQ(-ENOTTY, cxt_ioctl(self->fd, _IOW(CXLMS_IOC_TYPE, nr,
						    struct cxlms_ioc_hdr),
				     self->buf));
	EXPECT_EQ(-ENOTTY, cxt_ioctl(self->fd, _IO(CXLMS_IOC_TYPE, nr), self->buf));
}

/* --- unknown and reserved commands ---------------------------------------- */

FIXTURE(dev) {
	int fd;
	bool own_store;
	struct cxlms_ioc_query q;
};

FIXTURE_SETUP(dev)
{
	self->fd = cxt_open();
	if (self->fd < 0)
		SKIP(_exit(255), CXLMS_NO_DEV_REASON);
	ASSERT_EQ(0, setup_store(_metadata, self->fd, &self->own_store));
	ASSERT_EQ(0, cxt_query(self->fd, &self->q));
}

FIXTURE_TEARDOWN(dev)
{
	if (self->own_store)
		cxt_detach(self->fd);
	close(self->fd);
}

TEST_F(dev, unknown_command)
{
	struct cxlms_ioc_hdr h = { .size = sizeof(h) };

	EXPECT_EQ(-ENOTTY, cxt_ioctl(self->fd, CXLMS_IOC(CXLMS_CMD_VIEW_DESTROY + 1), &h));
	EXPECT_EQ(-ENOTTY, cxt_ioctl(self->fd, CXLMS_IOC(0xff), &h));
}

TEST_F(dev, foreign_type)
{
	struct cxlms_ioc_query q = { .size = sizeof(q) };

	EXPECT_EQ(-ENOTTY, cxt_ioctl(self->fd, _IOWR(0xCE, CXLMS_CMD_QUERY,
						     struct cxlms_ioc_hdr), &q));
}

/* --- QUERY ------------------------------------------------------------------ */

TEST_F(dev, query_reports_module)
{
	const struct cxlms_ioc_query *q = &self->q;

	EXPECT_EQ(CXLMS_ABI_REVISION, q->abi_revision);
	EXPECT_EQ((1u << CXLMS_FMT_INT8) | (1u << CXLMS_FMT_BF16) |
		  (1u << CXLMS_FMT_FP16), q->formats);
	EXPECT_EQ(0x3eu, q->outputs);		/* PLANES..BF16 */
	EXPECT_EQ(0xfu, q->recons);		/* DEFAULT..TABLE */
	/* k = 1..8 for INT8, 1..16 for the 16-bit formats */
	EXPECT_EQ(0x1feu, q->plane_bits[CXLMS_FMT_INT8]);
	EXPECT_EQ(0x1fffeu, q->plane_bits[CXLMS_FMT_BF16]);
	EXPECT_EQ(0x1fffeu, q->plane_bits[CXLMS_FMT_FP16]);
	/* Values need sign + exponent: BF16 from 9 bits, FP16 from 6. */
	EXPECT_EQ(0x1feu, q->value_bits[CXLMS_FMT_INT8]);
	EXPECT_EQ(0x1fe00u, q->value_bits[CXLMS_FMT_BF16]);
	EXPECT_EQ(0x1ffc0u, q->value_bits[CXLMS_FMT_FP16]);
	EXPECT_EQ(0u, q->plane_bits[0]);
	EXPECT_EQ(CXLMS_NAME_MAX, q->name_max);
	EXPECT_EQ(CXLMS_MAX_DIMS, q->dims_max);
	EXPECT_EQ(CXLMS_MAX_PLANES, q->planes_max);
	EXPECT_EQ(CXLMS_TILE_MAX_ELEMS, q->tile_max_elems);
	/* QUERY..VERIFY, SET_MAP..GET_MAP since revision 2, VIEW_* since 4 */
	EXPECT_EQ(0x7fffull, q->commands);
	EXPECT_NE(0, q->caps & CXLMS_CAP_VIEWS);
	EXPECT_NE(0, q->caps & CXLMS_CAP_POLICY);
	EXPECT_NE(0, q->caps & CXLMS_CAP_RAM);
	EXPECT_NE(0u, q->state & CXLMS_STATE_ATTACHED);
	EXPECT_NE(0ull, q->ram_max_bytes);
	EXPECT_GE(q->fetch_tile_max_bytes, 4ull * CXLMS_TILE_MAX_ELEMS);
}

TEST_F(dev, query_reports_store)
{
	const struct cxlms_ioc_query *q = &self->q;

	EXPECT_NE(CXLMS_BACKING_NONE, q->backing);
	EXPECT_GE(q->backing_bytes, q->store_bytes);
	EXPECT_GT(q->generation, 0ull);
	EXPECT_GE(q->data_bytes, q->data_used);
	EXPECT_GE(q->dir_capacity, q->tensor_count);
	EXPECT_NE(0u, q->default_group);
	if (self->own_store) {
		EXPECT_EQ(CXLMS_BACKING_RAM, q->backing);
		EXPECT_EQ(TEST_RAM_BYTES, q->backing_bytes);
		EXPECT_EQ(0ull, q->backing_start);
		EXPECT_EQ(0u, q->tensor_count);
		/* A new store starts in superblock slot 0 (format.md 1.5). */
		EXPECT_EQ((uint64_t)CXLMS_SB_FIRST_GENERATION, q->generation);
	}
}

/* Whatever the caller leaves in output fields never comes back. */
TEST_F(dev, query_overwrites_outputs)
{
	struct cxlms_ioc_query q;

	memset(&q, 0xa5, sizeof(q));
	q.size = sizeof(q);
	q.flags = 0;
	ASSERT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC_QUERY, &q));
	EXPECT_EQ(0, memcmp(&q, &self->q, sizeof(q)));
}

/* --- ATTACH / DETACH ------------------------------------------------------ */

static int attach_raw(int fd, uint32_t flags, uint64_t start, uint64_t bytes,
		      uint32_t cap, uint32_t group)
{
	struct cxlms_ioc_attach a = {
		.size = sizeof(a), .flags = flags, .start = start,
		.bytes = bytes, .dir_capacity = cap, .default_group = group,
	};

	return cxt_ioctl(fd, CXLMS_IOC_ATTACH, &a);
}

#define RAMF	(CXLMS_ATTACH_RAM | CXLMS_ATTACH_FORMAT)

TEST_F(dev, attach_ram_needs_format)
{
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, CXLMS_ATTACH_RAM, 0, 16 << 20, 0, 0));
}

TEST_F(dev, attach_ram_with_start)
{
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, RAMF, 1 << 20, 16 << 20, 0, 0));
}

TEST_F(dev, attach_unaligned_start)
{
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, CXLMS_ATTACH_FORMAT,
				      0x110000000ull + 8, 16 << 20, 0, 0));
}

TEST_F(dev, attach_unaligned_bytes)
{
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, RAMF, 0, (16 << 20) + 512, 0, 0));
}

TEST_F(dev, attach_too_small)
{
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, RAMF, 0, 512 << 10, 0, 0));
}

TEST_F(dev, attach_range_overflow)
{
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, CXLMS_ATTACH_FORMAT,
				      0xfffffffffff00000ull, 16 << 20, 0, 0));
}

TEST_F(dev, attach_capacity_without_format)
{
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, 0, 0x110000000ull, 16 << 20, 16, 0));
}

TEST_F(dev, attach_group_without_format)
{
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, 0, 0x110000000ull, 16 << 20, 0, 64));
}

TEST_F(dev, attach_capacity_too_big)
{
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, RAMF, 0, 16 << 20, 65537, 0));
}

TEST_F(dev, attach_group_too_big)
{
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, RAMF, 0, 16 << 20, 0,
				      CXLMS_TILE_MAX_ELEMS + 1));
}

TEST_F(dev, attach_why_nonzero_ignored)
{
	struct cxlms_ioc_attach a = {
		.size = sizeof(a), .flags = RAMF, .bytes = 16 << 20,
	};

	/* why is output only; the call fails for being attached, not for why */
	memset(a.why, 'x', sizeof(a.why));
	EXPECT_EQ(-EBUSY, cxt_ioctl(self->fd, CXLMS_IOC_ATTACH, &a));
	EXPECT_EQ(0, a.why[0]);
}

TEST_F(dev, attach_when_attached)
{
	EXPECT_EQ(-EBUSY, attach_raw(self->fd, RAMF, 0, 16 << 20, 0, 0));
}

/* Tests below need the device empty: only on a store the fixture owns. */
#define NEED_OWN_STORE() do {						\
	if (!self->own_store)						\
		SKIP(return, "needs a store the test may detach");	\
	ASSERT_EQ(0, cxt_detach(self->fd));				\
	self->own_store = false;					\
} while (0)

TEST_F(dev, attach_ram_too_big)
{
	uint64_t bytes = (self->q.ram_max_bytes + (8 << 20)) & ~4095ull;

	NEED_OWN_STORE();
	EXPECT_EQ(-ENOMEM, attach_raw(self->fd, RAMF, 0, bytes, 0, 0));
}

TEST_F(dev, attach_not_cxl_memory)
{
	struct cxlms_ioc_attach a = {
		.size = sizeof(a), .start = 1 << 20, .bytes = 1 << 20,
	};

	NEED_OWN_STORE();
	/* Low RAM is no CXL window: refused before anything is mapped. */
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_ATTACH, &a));
	EXPECT_NE(NULL, strstr(a.why, "CXL"));
}

TEST_F(dev, attach_capacity_does_not_fit)
{
	NEED_OWN_STORE();
	EXPECT_EQ(-EINVAL, attach_raw(self->fd, RAMF, 0, 1 << 20, 4096, 0));
}

TEST_F(dev, attach_detach_lifecycle)
{
	struct cxlms_ioc_query q;

	NEED_OWN_STORE();
	ASSERT_EQ(0, cxt_query(self->fd, &q));
	EXPECT_EQ(0u, q.state);
	EXPECT_EQ(CXLMS_BACKING_NONE, q.backing);
	EXPECT_EQ(0ull, q.store_bytes);
	EXPECT_EQ(-ENXIO, cxt_detach(self->fd));

	ASSERT_EQ(0, attach_raw(self->fd, RAMF, 0, 8 << 20, 16, 64));
	ASSERT_EQ(0, cxt_query(self->fd, &q));
	EXPECT_EQ(CXLMS_STATE_ATTACHED, q.state);
	EXPECT_EQ(CXLMS_BACKING_RAM, q.backing);
	EXPECT_EQ(8ull << 20, q.store_bytes);
	EXPECT_EQ(16u, q.dir_capacity);
	EXPECT_EQ(64u, q.default_group);
	EXPECT_EQ(0ull, q.data_used);
	EXPECT_EQ(0, cxt_detach(self->fd));
	EXPECT_EQ(-ENXIO, cxt_detach(self->fd));
}

TEST_F(dev, commands_without_store)
{
	struct cxlms_ioc_tensor_list tl = { .size = sizeof(tl) };
	struct cxlms_ioc_stats st;
	struct cxlms_ioc_verify v;
	uint8_t buf[64];

	NEED_OWN_STORE();
	EXPECT_EQ(-ENXIO, cxt_ioctl(self->fd, CXLMS_IOC_TENSOR_LIST, &tl));
	EXPECT_EQ(-ENXIO, cxt_seal(self->fd, 0));
	EXPECT_EQ(-ENXIO, cxt_fetch(self->fd, 0, 0, 1, 8, CXLMS_OUT_INT, 0,
				    buf, sizeof(buf), NULL, NULL));
	EXPECT_EQ(-ENXIO, cxt_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(-ENXIO, cxt_verify(self->fd, CXLMS_TENSOR_ALL, &v));
	/* The device counters outlive stores. */
	EXPECT_EQ(0, cxt_stats(self->fd, CXLMS_TENSOR_ALL, 0, &st));
}

/* --- TENSOR_CREATE ------------------------------------------------------ */

static void create_req(struct cxlms_ioc_tensor_create *c, const char *prefix,
		       uint32_t fmt, uint64_t rows, uint64_t cols)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	cxt_name(c->name, sizeof(c->name), prefix);
	c->fmt = fmt;
	c->src_dtype = CXLMS_DTYPE_F32;
	c->ndim = 2;
	c->shape[0] = rows;
	c->shape[1] = cols;
}

static int create(int fd, struct cxlms_ioc_tensor_create *c)
{
	return cxt_ioctl(fd, CXLMS_IOC_TENSOR_CREATE, c);
}

TEST_F(dev, create_ok)
{
	struct cxlms_ioc_tensor_create c;
	struct cxlms_ioc_tensor_info info;
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl), .count = 1, .entry_size = sizeof(info),
		.entries = (uintptr_t)&info,
	};
	struct cxlms_ioc_query q;

	create_req(&c, "create_ok", CXLMS_FMT_INT8, 100, 72);
	c.group_size = 32;
	c.tile_rows = 30;
	ASSERT_EQ(0, create(self->fd, &c));
	EXPECT_EQ(self->q.tensor_count, c.index);
	EXPECT_EQ(4u, c.n_tiles);
	EXPECT_EQ(30u * 72, c.tile_elems);
	EXPECT_EQ(0ull, c.tile_bytes % 64);
	ASSERT_EQ(0, cxt_query(self->fd, &q));
	EXPECT_EQ(self->q.tensor_count + 1, q.tensor_count);
	EXPECT_EQ(self->q.generation + 1, q.generation);
	EXPECT_GE(q.data_used, self->q.data_used + 4 * c.tile_bytes);

	tl.first = c.index;
	ASSERT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC_TENSOR_LIST, &tl));
	ASSERT_EQ(1u, tl.count);
	EXPECT_STREQ(c.name, info.name);
	EXPECT_EQ(c.index, info.index);
	EXPECT_EQ(CXLMS_FMT_INT8, info.fmt);
	EXPECT_EQ(100ull, info.rows);
	EXPECT_EQ(72ull, info.cols);
	EXPECT_EQ(32u, info.group_size);
	EXPECT_EQ(30u, info.tile_rows);
	EXPECT_EQ(8u, info.planes);
	EXPECT_EQ(0u, info.flags);
	EXPECT_EQ(c.tile_bytes, info.tile_bytes);
}

/*
 * CXLMS_CREATE_SHORT_TAIL: the last tile (10 of 30 rows) is laid out for its
 * own rows, so the tensor takes less than 4 full tiles; TENSOR_INFO says so.
 */
TEST_F(dev, create_short_tail)
{
	struct cxlms_ioc_tensor_create c;
	struct cxlms_ioc_tensor_info info;
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl), .count = 1, .entry_size = sizeof(info),
		.entries = (uintptr_t)&info,
	};
	struct cxlms_ioc_query q;
	__u64 base;

	if (!(self->q.caps & CXLMS_CAP_SHORT_TAIL))
		SKIP(return, "module without CXLMS_CAP_SHORT_TAIL");
	create_req(&c, "create_short_tail", CXLMS_FMT_INT8, 100, 72);
	c.flags = CXLMS_CREATE_SHORT_TAIL;
	c.group_size = 32;
	c.tile_rows = 30;
	ASSERT_EQ(0, create(self->fd, &c));
	EXPECT_EQ(4u, c.n_tiles);
	ASSERT_EQ(0, cxt_query(self->fd, &q));
	/* tiles start on a page after the last tensor: 3 full ones and less */
	base = (self->q.data_used + 4095) / 4096 * 4096;
	EXPECT_GT(q.data_used, base + 3 * c.tile_bytes);
	EXPECT_LT(q.data_used, base + 4 * c.tile_bytes);
	tl.first = c.index;
	ASSERT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC_TENSOR_LIST, &tl));
	ASSERT_EQ(1u, tl.count);
	EXPECT_EQ(CXLMS_TENSOR_SHORT_TAIL, info.flags);
	EXPECT_EQ(c.tile_bytes, info.tile_bytes);	/* a full tile's */
}

TEST_F(dev, create_defaults)
{
	struct cxlms_ioc_tensor_create c;
	struct cxlms_ioc_tensor_info info;
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl), .count = 1, .entry_size = sizeof(info),
		.entries = (uintptr_t)&info,
	};

	create_req(&c, "create_defaults", CXLMS_FMT_INT8, 64, 4096);
	ASSERT_EQ(0, create(self->fd, &c));
	tl.first = c.index;
	ASSERT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC_TENSOR_LIST, &tl));
	EXPECT_EQ(self->q.default_group, info.group_size);
	/* plane runs of 64 KiB: 2^19 elements per tile, capped by the rows */
	EXPECT_EQ(64u, info.tile_rows);
	EXPECT_EQ(1u, info.n_tiles);
}

TEST_F(dev, create_duplicate)
{
	struct cxlms_ioc_tensor_create c, again;

	create_req(&c, "create_duplicate", CXLMS_FMT_FP16, 4, 8);
	again = c;
	ASSERT_EQ(0, create(self->fd, &c));
	EXPECT_EQ(-EEXIST, create(self->fd, &again));
}

TEST_F(dev, create_empty_name)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "x", CXLMS_FMT_FP16, 4, 8);
	memset(c.name, 0, sizeof(c.name));
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_name_unterminated)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "x", CXLMS_FMT_FP16, 4, 8);
	memset(c.name, 'n', sizeof(c.name));
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_name_garbage_after_nul)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_name_garbage", CXLMS_FMT_FP16, 4, 8);
	c.name[CXLMS_NAME_MAX - 1] = 'g';
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_unknown_format)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_unknown_format", 4, 4, 8);
	EXPECT_EQ(-EOPNOTSUPP, create(self->fd, &c));
	c.fmt = 0;
	EXPECT_EQ(-EOPNOTSUPP, create(self->fd, &c));
}

TEST_F(dev, create_unknown_dtype)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_unknown_dtype", CXLMS_FMT_INT8, 4, 8);
	c.src_dtype = 5;
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
	c.src_dtype = 0;
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_ndim_zero)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_ndim_zero", CXLMS_FMT_INT8, 4, 8);
	c.ndim = 0;
	c.shape[0] = c.shape[1] = 0;
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_ndim_too_big)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_ndim_too_big", CXLMS_FMT_INT8, 4, 8);
	c.ndim = CXLMS_MAX_DIMS + 1;
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_zero_dimension)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_zero_dimension", CXLMS_FMT_INT8, 0, 8);
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_shape_past_ndim)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_shape_past_ndim", CXLMS_FMT_INT8, 4, 8);
	c.shape[5] = 3;
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_group_on_16bit)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_group_on_16bit", CXLMS_FMT_BF16, 4, 8);
	c.group_size = 8;
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_tile_rows_above_rows)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_tile_rows_above_rows", CXLMS_FMT_INT8, 4, 8);
	c.tile_rows = 5;
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_tile_too_big)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_tile_too_big", CXLMS_FMT_INT8, 1 << 20, 64);
	c.tile_rows = (CXLMS_TILE_MAX_ELEMS / 64) + 1;
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_cols_too_big)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_cols_too_big", CXLMS_FMT_INT8, 1,
		   CXLMS_TILE_MAX_ELEMS + 8ull);
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_rows_overflow)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_rows_overflow", CXLMS_FMT_INT8, 1ull << 40, 1);
	c.ndim = 3;
	c.shape[1] = 1ull << 40;
	c.shape[2] = 8;
	EXPECT_EQ(-EINVAL, create(self->fd, &c));
}

TEST_F(dev, create_no_space)
{
	struct cxlms_ioc_tensor_create c;

	/* 2^40 elements: far more than any test store holds */
	create_req(&c, "create_no_space", CXLMS_FMT_INT8, 1ull << 30, 1024);
	EXPECT_EQ(-ENOSPC, create(self->fd, &c));
}

TEST_F(dev, create_directory_full)
{
	struct cxlms_ioc_tensor_create c;
	int i;

	NEED_OWN_STORE();
	ASSERT_EQ(0, attach_raw(self->fd, RAMF, 0, 4 << 20, 2, 0));
	self->own_store = true;
	for (i = 0; i < 2; i++) {
		create_req(&c, "create_directory_full", CXLMS_FMT_FP16, 4, 8);
		ASSERT_EQ(0, create(self->fd, &c));
	}
	create_req(&c, "create_directory_full", CXLMS_FMT_FP16, 4, 8);
	EXPECT_EQ(-ENOSPC, create(self->fd, &c));
}

TEST_F(dev, create_outputs_ignored)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "create_outputs_ignored", CXLMS_FMT_FP16, 4, 8);
	c.index = 12345;
	c.n_tiles = 99;
	c.tile_bytes = 7;
	ASSERT_EQ(0, create(self->fd, &c));
	EXPECT_EQ(1u, c.n_tiles);
	EXPECT_NE(12345u, c.index);
}

/* --- TENSOR_LIST ----------------------------------------------------------- */

static int list(int fd, uint32_t first, uint32_t count, uint32_t entry_size,
		void *entries, struct cxlms_ioc_tensor_list *out)
{
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl), .first = first, .count = count,
		.entry_size = entry_size, .entries = (uintptr_t)entries,
	};
	int ret = cxt_ioctl(fd, CXLMS_IOC_TENSOR_LIST, &tl);

	if (out)
		*out = tl;
	return ret;
}

TEST_F(dev, list_two_calls)
{
	struct cxlms_ioc_tensor_create c[2];
	struct cxlms_ioc_tensor_list tl;
	struct cxlms_ioc_tensor_info *info;
	int i;

	for (i = 0; i < 2; i++) {
		create_req(&c[i], "list_two_calls", CXLMS_FMT_BF16, 3, 16);
		ASSERT_EQ(0, create(self->fd, &c[i]));
	}
	ASSERT_EQ(0, list(self->fd, 0, 0, 0, NULL, &tl));
	EXPECT_EQ(0u, tl.count);
	ASSERT_EQ(self->q.tensor_count + 2, tl.total);
	info = calloc(tl.total, sizeof(*info));
	ASSERT_NE(NULL, info);
	ASSERT_EQ(0, list(self->fd, 0, tl.total, sizeof(*info), info, &tl));
	EXPECT_EQ(tl.total, tl.count);
	for (i = 0; i < 2; i++) {
		const struct cxlms_ioc_tensor_info *e = &info[c[i].index];

		EXPECT_STREQ(c[i].name, e->name);
		EXPECT_EQ(c[i].index, e->index);
		EXPECT_EQ(16u, e->planes);
		EXPECT_EQ(2u, e->ndim);
		EXPECT_EQ(3ull, e->shape[0]);
		EXPECT_EQ(0ull, e->shape[2]);
	}
	free(info);
}

TEST_F(dev, list_room_for_fewer)
{
	struct cxlms_ioc_tensor_create c;
	struct cxlms_ioc_tensor_info info[2];
	struct cxlms_ioc_tensor_list tl;

	create_req(&c, "list_room_for_fewer", CXLMS_FMT_BF16, 3, 16);
	ASSERT_EQ(0, create(self->fd, &c));
	create_req(&c, "list_room_for_fewer", CXLMS_FMT_BF16, 3, 16);
	ASSERT_EQ(0, create(self->fd, &c));
	memset(info, 0xee, sizeof(info));
	ASSERT_EQ(0, list(self->fd, c.index - 1, 1, sizeof(info[0]), info, &tl));
	EXPECT_EQ(1u, tl.count);
	EXPECT_EQ(c.index - 1, info[0].index);
	EXPECT_EQ(0xeeu, ((uint8_t *)&info[1])[0]);	/* untouched */
}

TEST_F(dev, list_first_at_total)
{
	struct cxlms_ioc_tensor_info info;
	struct cxlms_ioc_tensor_list tl;

	ASSERT_EQ(0, list(self->fd, self->q.tensor_count, 1, sizeof(info), &info, &tl));
	EXPECT_EQ(0u, tl.count);
}

TEST_F(dev, list_first_past_total)
{
	struct cxlms_ioc_tensor_info info;

	EXPECT_EQ(-EINVAL, list(self->fd, self->q.tensor_count + 1, 1,
				sizeof(info), &info, NULL));
}

TEST_F(dev, list_entry_size_too_small)
{
	struct cxlms_ioc_tensor_info info;

	EXPECT_EQ(-EINVAL, list(self->fd, 0, 1, sizeof(info) - 8, &info, NULL));
}

TEST_F(dev, list_entry_size_unaligned)
{
	uint8_t buf[sizeof(struct cxlms_ioc_tensor_info) + 8];

	EXPECT_EQ(-EINVAL, list(self->fd, 0, 1, sizeof(buf) - 4, buf, NULL));
}

TEST_F(dev, list_entry_size_too_big)
{
	static uint8_t buf[8192];

	EXPECT_EQ(-EINVAL, list(self->fd, 0, 1, 4096 + 8, buf, NULL));
}

TEST_F(dev, list_larger_entries_zero_filled)
{
	struct cxlms_ioc_tensor_create c;
	uint8_t buf[2][sizeof(struct cxlms_ioc_tensor_info) + 64];
	const struct cxlms_ioc_tensor_info *e = (void *)buf[1];
	size_t i;

	create_req(&c, "list_larger_entries", CXLMS_FMT_FP16, 2, 8);
	ASSERT_EQ(0, create(self->fd, &c));
	memset(buf, 0xff, sizeof(buf));
	ASSERT_EQ(0, list(self->fd, c.index, 1, sizeof(buf[1]), buf[1], NULL));
	EXPECT_STREQ(c.name, e->name);
	for (i = sizeof(*e); i < sizeof(buf[1]); i++)
		ASSERT_EQ(0, buf[1][i]);
	EXPECT_EQ(0xff, buf[0][0]);
}

TEST_F(dev, list_bad_pointer)
{
	struct cxlms_ioc_tensor_create c;

	create_req(&c, "list_bad_pointer", CXLMS_FMT_FP16, 2, 8);
	ASSERT_EQ(0, create(self->fd, &c));
	EXPECT_EQ(-EFAULT, list(self->fd, 0, 1, sizeof(struct cxlms_ioc_tensor_info),
				(void *)8, NULL));
}

/* --- TILE_WRITE / TENSOR_SEAL ------------------------------------------ */

/* A small INT8 tensor (3 tiles of 2 x 24, groups of 8) created, not written. */
static int make_int8(int fd, struct cxt_tensor *t, const char *prefix)
{
	static const uint64_t shape[2] = { 6, 24 };
	char name[64];
	int ret;

	cxt_name(name, sizeof(name), prefix);
	ret = cxt_tensor_gen(t, name, CXLMS_FMT_INT8, 2, shape, 8, 0, 2, 42);
	return ret ? ret : cxt_tensor_create(fd, t);
}

static int write_raw(int fd, uint32_t tensor, uint32_t tile, const void *data,
		     uint64_t data_len, const void *scales, uint64_t scales_len)
{
	struct cxlms_ioc_tile_write w = {
		.size = sizeof(w), .tensor = tensor, .tile = tile,
		.data = (uintptr_t)data, .data_len = data_len,
		.scales = (uintptr_t)scales, .scales_len = scales_len,
	};

	return cxt_ioctl(fd, CXLMS_IOC_TILE_WRITE, &w);
}

TEST_F(dev, write_ok)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "write_ok"));
	EXPECT_EQ(0, cxt_tile_write(self->fd, &t, 0));
	/* rewriting an unsealed tile is fine */
	EXPECT_EQ(0, cxt_tile_write(self->fd, &t, 0));
	cxt_tensor_free(&t);
}

TEST_F(dev, write_bad_tensor)
{
	int8_t codes[48] = { 0 };
	uint16_t scales[6] = { 0 };

	EXPECT_EQ(-ENOENT, write_raw(self->fd, 1u << 30, 0, codes, 48, scales, 12));
}

TEST_F(dev, write_bad_tile)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "write_bad_tile"));
	EXPECT_EQ(-EINVAL, write_raw(self->fd, t.index, 3, t.data, 48, t.scales, 12));
	EXPECT_EQ(-EINVAL, write_raw(self->fd, t.index, ~0u, t.data, 48, t.scales, 12));
	cxt_tensor_free(&t);
}

TEST_F(dev, write_data_len_wrong)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "write_data_len"));
	EXPECT_EQ(-EINVAL, write_raw(self->fd, t.index, 0, t.data, 47, t.scales, 12));
	EXPECT_EQ(-EINVAL, write_raw(self->fd, t.index, 0, t.data, 49, t.scales, 12));
	EXPECT_EQ(-EINVAL, write_raw(self->fd, t.index, 0, t.data, 0, t.scales, 12));
	cxt_tensor_free(&t);
}

TEST_F(dev, write_scales_len_wrong)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "write_scales_len"));
	EXPECT_EQ(-EINVAL, write_raw(self->fd, t.index, 0, t.data, 48, t.scales, 10));
	cxt_tensor_free(&t);
}

TEST_F(dev, write_scales_missing)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "write_scales_missing"));
	EXPECT_EQ(-EINVAL, write_raw(self->fd, t.index, 0, t.data, 48, NULL, 12));
	EXPECT_EQ(-EINVAL, write_raw(self->fd, t.index, 0, t.data, 48, NULL, 0));
	cxt_tensor_free(&t);
}

TEST_F(dev, write_scales_on_16bit)
{
	static const uint64_t shape[2] = { 2, 8 };
	struct cxt_tensor t;
	uint16_t scales[2] = { 0x3c00, 0x3c00 };
	char name[64];

	cxt_name(name, sizeof(name), "write_scales_on_16bit");
	ASSERT_EQ(0, cxt_tensor_gen(&t, name, CXLMS_FMT_FP16, 2, shape, 0, 0, 0, 1));
	ASSERT_EQ(0, cxt_tensor_create(self->fd, &t));
	EXPECT_EQ(-EINVAL, write_raw(self->fd, t.index, 0, t.data, 32, scales, 4));
	EXPECT_EQ(0, write_raw(self->fd, t.index, 0, t.data, 32, NULL, 0));
	cxt_tensor_free(&t);
}

TEST_F(dev, write_nan_scale)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "write_nan_scale"));
	t.scales[3] = 0x7e00;	/* NaN */
	EXPECT_EQ(-EINVAL, cxt_tile_write(self->fd, &t, 0));
	t.scales[3] = 0x7c00;	/* Inf */
	EXPECT_EQ(-EINVAL, cxt_tile_write(self->fd, &t, 0));
	/* a refused tile does not count as written */
	EXPECT_EQ(0, cxt_tile_write(self->fd, &t, 1));
	EXPECT_EQ(0, cxt_tile_write(self->fd, &t, 2));
	EXPECT_EQ(-ENODATA, cxt_seal(self->fd, t.index));
	cxt_tensor_free(&t);
}

TEST_F(dev, write_bad_data_pointer)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "write_bad_data_pointer"));
	EXPECT_EQ(-EFAULT, write_raw(self->fd, t.index, 0, (void *)8, 48, t.scales, 12));
	EXPECT_EQ(-EFAULT, write_raw(self->fd, t.index, 0, t.data, 48, (void *)8, 12));
	cxt_tensor_free(&t);
}

TEST_F(dev, write_sealed)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "write_sealed"));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 0));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 1));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 2));
	ASSERT_EQ(0, cxt_seal(self->fd, t.index));
	EXPECT_EQ(-EBUSY, cxt_tile_write(self->fd, &t, 0));
	cxt_tensor_free(&t);
}

TEST_F(dev, seal_ok)
{
	struct cxt_tensor t;
	struct cxlms_ioc_query q0, q1;
	struct cxlms_ioc_tensor_info info;

	ASSERT_EQ(0, make_int8(self->fd, &t, "seal_ok"));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 0));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 1));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 2));
	ASSERT_EQ(0, cxt_query(self->fd, &q0));
	ASSERT_EQ(0, cxt_seal(self->fd, t.index));
	ASSERT_EQ(0, cxt_query(self->fd, &q1));
	EXPECT_EQ(q0.generation + 1, q1.generation);
	ASSERT_EQ(0, list(self->fd, t.index, 1, sizeof(info), &info, NULL));
	EXPECT_EQ(CXLMS_TENSOR_SEALED, info.flags);
	cxt_tensor_free(&t);
}

TEST_F(dev, seal_pad_nonzero)
{
	struct cxlms_ioc_tensor_seal s = { .size = sizeof(s), .pad = 1 };

	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_TENSOR_SEAL, &s));
}

TEST_F(dev, seal_bad_tensor)
{
	EXPECT_EQ(-ENOENT, cxt_seal(self->fd, 1u << 30));
	EXPECT_EQ(-ENOENT, cxt_seal(self->fd, CXLMS_TENSOR_ALL));
}

TEST_F(dev, seal_twice)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "seal_twice"));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 0));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 1));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 2));
	ASSERT_EQ(0, cxt_seal(self->fd, t.index));
	EXPECT_EQ(-EBUSY, cxt_seal(self->fd, t.index));
	cxt_tensor_free(&t);
}

TEST_F(dev, seal_missing_tiles)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "seal_missing_tiles"));
	EXPECT_EQ(-ENODATA, cxt_seal(self->fd, t.index));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 0));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 2));
	EXPECT_EQ(-ENODATA, cxt_seal(self->fd, t.index));
	cxt_tensor_free(&t);
}

/* --- FETCH ---------------------------------------------------------------- */

FIXTURE(fetch) {
	int fd;
	bool own_store;
	struct cxt_tensor i8, bf;
	uint8_t buf[1 << 16];
};

FIXTURE_SETUP(fetch)
{
	static const uint64_t shape[2] = { 6, 24 };
	char name[64];

	self->fd = cxt_open();
	if (self->fd < 0)
		SKIP(_exit(255), CXLMS_NO_DEV_REASON);
	ASSERT_EQ(0, setup_store(_metadata, self->fd, &self->own_store));
	cxt_name(name, sizeof(name), "fetch.i8");
	ASSERT_EQ(0, cxt_tensor_gen(&self->i8, name, CXLMS_FMT_INT8, 2, shape, 8, 0, 2, 7));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &self->i8, true));
	cxt_name(name, sizeof(name), "fetch.bf");
	ASSERT_EQ(0, cxt_tensor_gen(&self->bf, name, CXLMS_FMT_BF16, 2, shape, 0, 0, 4, 8));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &self->bf, true));
}

FIXTURE_TEARDOWN(fetch)
{
	cxt_tensor_free(&self->i8);
	cxt_tensor_free(&self->bf);
	if (self->own_store)
		cxt_detach(self->fd);
	close(self->fd);
}

static int fetch_raw(int fd, const struct cxt_tensor *t, uint32_t first,
		     uint32_t count, uint32_t bits, uint32_t out, uint32_t recon,
		     void *buf, uint64_t len)
{
	return cxt_fetch(fd, t->index, first, count, bits, out, recon, buf, len,
			 NULL, NULL);
}

TEST_F(fetch, ok)
{
	uint64_t written = 0, read = 0;
	int64_t want = cxt_ref_size(&self->i8, 0, 4, CXLMS_OUT_INT, 0);

	ASSERT_GT(want, 0);
	EXPECT_EQ(0, cxt_fetch(self->fd, self->i8.index, 0, 3, 4, CXLMS_OUT_INT, 0,
			       self->buf, sizeof(self->buf), &written, &read));
	EXPECT_EQ(3 * (uint64_t)want, written);
	EXPECT_NE(0ull, read);
}

TEST_F(fetch, unsealed)
{
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "fetch_unsealed"));
	ASSERT_EQ(0, cxt_tile_write(self->fd, &t, 0));
	EXPECT_EQ(-EBUSY, fetch_raw(self->fd, &t, 0, 1, 8, CXLMS_OUT_INT, 0,
				    self->buf, sizeof(self->buf)));
	cxt_tensor_free(&t);
}

TEST_F(fetch, bad_tensor)
{
	EXPECT_EQ(-ENOENT, cxt_fetch(self->fd, 1u << 30, 0, 1, 8, CXLMS_OUT_INT, 0,
				     self->buf, sizeof(self->buf), NULL, NULL));
}

TEST_F(fetch, tile_past_end)
{
	EXPECT_EQ(-EINVAL, fetch_raw(self->fd, &self->i8, 3, 1, 8, CXLMS_OUT_INT, 0,
				     self->buf, sizeof(self->buf)));
}

TEST_F(fetch, range_past_end)
{
	EXPECT_EQ(-EINVAL, fetch_raw(self->fd, &self->i8, 1, 3, 8, CXLMS_OUT_INT, 0,
				     self->buf, sizeof(self->buf)));
}

TEST_F(fetch, zero_tiles)
{
	EXPECT_EQ(-EINVAL, fetch_raw(self->fd, &self->i8, 0, 0, 8, CXLMS_OUT_INT, 0,
				     self->buf, sizeof(self->buf)));
}

TEST_F(fetch, range_overflow)
{
	EXPECT_EQ(-EINVAL, fetch_raw(self->fd, &self->i8, 2, ~0u, 8, CXLMS_OUT_INT, 0,
				     self->buf, sizeof(self->buf)));
}

TEST_F(fetch, bits_zero)
{
	EXPECT_EQ(-EOPNOTSUPP, fetch_raw(self->fd, &self->i8, 0, 1, 0, CXLMS_OUT_INT,
					 0, self->buf, sizeof(self->buf)));
}

TEST_F(fetch, bits_above_planes)
{
	EXPECT_EQ(-EOPNOTSUPP, fetch_raw(self->fd, &self->i8, 0, 1, 9, CXLMS_OUT_INT,
					 0, self->buf, sizeof(self->buf)));
	EXPECT_EQ(-EOPNOTSUPP, fetch_raw(self->fd, &self->bf, 0, 1, 17,
					 CXLMS_OUT_PLANES, 0, self->buf,
					 sizeof(self->buf)));
}

/* Tensors created after the last SET_MAP are not in the maps. */
TEST_F(fetch, bits_policy)
{
	EXPECT_EQ(-ENODATA, fetch_raw(self->fd, &self->i8, 0, 1, CXLMS_BITS_POLICY,
					 CXLMS_OUT_INT, 0, self->buf,
					 sizeof(self->buf)));
}

TEST_F(fetch, bf16_value_below_exponent)
{
	EXPECT_EQ(-EOPNOTSUPP, fetch_raw(self->fd, &self->bf, 0, 1, 8, CXLMS_OUT_F32,
					 0, self->buf, sizeof(self->buf)));
	EXPECT_EQ(0, fetch_raw(self->fd, &self->bf, 0, 1, 8, CXLMS_OUT_PACKED, 0,
			       self->buf, sizeof(self->buf)));
}

TEST_F(fetch, unknown_out)
{
	EXPECT_EQ(-EINVAL, fetch_raw(self->fd, &self->i8, 0, 1, 8, 0, 0, self->buf,
				     sizeof(self->buf)));
	EXPECT_EQ(-EINVAL, fetch_raw(self->fd, &self->i8, 0, 1, 8, CXLMS_OUT_BF16 + 1,
				     0, self->buf, sizeof(self->buf)));
}

TEST_F(fetch, unknown_recon)
{
	EXPECT_EQ(-EINVAL, fetch_raw(self->fd, &self->i8, 0, 1, 8, CXLMS_OUT_INT,
				     CXLMS_RECON_TABLE + 1, self->buf,
				     sizeof(self->buf)));
}

TEST_F(fetch, table_on_16bit)
{
	EXPECT_EQ(-EOPNOTSUPP, fetch_raw(self->fd, &self->bf, 0, 1, 12, CXLMS_OUT_INT,
					 CXLMS_RECON_TABLE, self->buf,
					 sizeof(self->buf)));
}

/* Too small a buffer: -ENOSPC before a byte is written. */
TEST_F(fetch, buffer_too_small)
{
	int64_t one = cxt_ref_size(&self->i8, 0, 3, CXLMS_OUT_PLANES, 0);
	size_t i;

	ASSERT_GT(one, 0);
	memset(self->buf, 0x5a, sizeof(self->buf));
	EXPECT_EQ(-ENOSPC, fetch_raw(self->fd, &self->i8, 0, 3, 3, CXLMS_OUT_PLANES,
				     0, self->buf, 3 * one - 1));
	for (i = 0; i < sizeof(self->buf); i++)
		ASSERT_EQ(0x5a, self->buf[i]);
	EXPECT_EQ(-ENOSPC, fetch_raw(self->fd, &self->i8, 0, 1, 3, CXLMS_OUT_PLANES,
				     0, self->buf, 0));
}

TEST_F(fetch, bad_buffer_pointer)
{
	EXPECT_EQ(-EFAULT, fetch_raw(self->fd, &self->i8, 0, 1, 8, CXLMS_OUT_INT, 0,
				     (void *)8, 4096));
	EXPECT_EQ(-EFAULT, fetch_raw(self->fd, &self->i8, 0, 1, 8, CXLMS_OUT_INT, 0,
				     (void *)0xffff888000000000ull, 4096));
}

TEST_F(fetch, unprivileged_allowed)
{
	struct cxlms_ioc_fetch f = {
		.size = sizeof(f), .tensor = self->i8.index, .tile_count = 1,
		.bits = 8, .out = CXLMS_OUT_INT, .buf = (uintptr_t)self->buf,
		.buf_len = sizeof(self->buf),
	};

	EXPECT_EQ(0, cxt_ioctl_as_nobody(self->fd, CXLMS_IOC_FETCH, &f));
}

/* --- STATS / VERIFY ---------------------------------------------------------- */

TEST_F(fetch, stats_device)
{
	struct cxlms_ioc_stats a, b;
	int64_t n = cxt_ref_size(&self->i8, 1, 2, CXLMS_OUT_PACKED, 0);

	ASSERT_GT(n, 0);
	ASSERT_EQ(0, cxt_stats(self->fd, CXLMS_TENSOR_ALL, 0, &a));
	ASSERT_EQ(0, fetch_raw(self->fd, &self->i8, 1, 1, 2, CXLMS_OUT_PACKED, 0,
			       self->buf, sizeof(self->buf)));
	ASSERT_EQ(0, cxt_stats(self->fd, CXLMS_TENSOR_ALL, 0, &b));
	/* Other processes may fetch too: at least our own bytes moved. */
	EXPECT_GE(b.fetches, a.fetches + 1);
	EXPECT_GE(b.out_bytes, a.out_bytes + n);
	EXPECT_GE(b.plane_bytes[1], a.plane_bytes[1] + 6);
}

TEST_F(fetch, stats_tensor_and_reset)
{
	struct cxlms_ioc_stats st;

	ASSERT_EQ(0, cxt_stats(self->fd, self->bf.index, 0, &st));
	EXPECT_EQ(0ull, st.fetches);
	ASSERT_EQ(0, fetch_raw(self->fd, &self->bf, 0, 2, 16, CXLMS_OUT_F32, 0,
			       self->buf, sizeof(self->buf)));
	ASSERT_EQ(0, cxt_stats(self->fd, self->bf.index, CXLMS_STATS_RESET, &st));
	EXPECT_EQ(2ull, st.fetches);
	/* tiles of 4 x 24 and 2 x 24 elements, as f32 */
	EXPECT_EQ((96ull + 48) * 4, st.out_bytes);
	EXPECT_EQ(96ull / 8 + 48 / 8, st.plane_bytes[15]);
	ASSERT_EQ(0, cxt_stats(self->fd, self->bf.index, 0, &st));
	EXPECT_EQ(0ull, st.fetches);
	EXPECT_EQ(0ull, st.plane_bytes[0]);
}

TEST_F(fetch, stats_bad_tensor)
{
	struct cxlms_ioc_stats st;

	EXPECT_EQ(-ENOENT, cxt_stats(self->fd, 1u << 30, 0, &st));
}

TEST_F(fetch, stats_pad_nonzero)
{
	struct cxlms_ioc_stats st = { .size = sizeof(st), .pad = 1 };

	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_STATS, &st));
}

TEST_F(fetch, stats_reset_unprivileged)
{
	struct cxlms_ioc_stats st = {
		.size = sizeof(st), .flags = CXLMS_STATS_RESET,
		.tensor = self->i8.index,
	};

	EXPECT_EQ(-EPERM, cxt_ioctl_as_nobody(self->fd, CXLMS_IOC_STATS, &st));
	st.flags = 0;
	EXPECT_EQ(0, cxt_ioctl_as_nobody(self->fd, CXLMS_IOC_STATS, &st));
}

TEST_F(fetch, verify_ok)
{
	struct cxlms_ioc_verify v;

	ASSERT_EQ(0, cxt_verify(self->fd, self->i8.index, &v));
	EXPECT_EQ(1u, v.checked);
	EXPECT_EQ(CXLMS_TENSOR_ALL, v.bad_tensor);
	EXPECT_EQ(0, v.why[0]);
	ASSERT_EQ(0, cxt_verify(self->fd, CXLMS_TENSOR_ALL, &v));
	EXPECT_GE(v.checked, 2u);
}

TEST_F(fetch, verify_bad_tensor)
{
	struct cxlms_ioc_verify v;

	EXPECT_EQ(-ENOENT, cxt_verify(self->fd, 1u << 30, &v));
}

TEST_F(fetch, verify_unsealed)
{
	struct cxlms_ioc_verify v, all;
	struct cxt_tensor t;

	ASSERT_EQ(0, make_int8(self->fd, &t, "verify_unsealed"));
	EXPECT_EQ(-EBUSY, cxt_verify(self->fd, t.index, &v));
	ASSERT_EQ(0, cxt_verify(self->fd, CXLMS_TENSOR_ALL, &all));
	EXPECT_GE(all.skipped, 1u);
	cxt_tensor_free(&t);
}

TEST_HARNESS_MAIN
