// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms precision-map tests (ABI revision 2): one test per validation error
 * of SET_MAP, SET_CONTEXT and GET_MAP; a FETCH with CXLMS_BITS_POLICY
 * equals explicit fetches at the mapped bits (bytes, bytes_read, STATS);
 * and maps swapped under several fetching processes are never mixed: every
 * fetch's bytes read and output match exactly one of the two maps.
 *
 * Maps are device-wide and must cover the whole directory, so each test
 * builds its maps from TENSOR_LIST: its own tensors get the bits under
 * test, any other tensor full precision.  Uses the attached store, or a
 * RAM store of its own (then "no maps yet" can be tested too).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cxlms_util.h"

#define TEST_RAM_BYTES	(16ull << 20)
#define BUF_BYTES	(1u << 20)
#define MAX_TENSORS	4096
#define N_CTX		2

FIXTURE(pol) {
	int fd;
	bool own_store;
	struct cxt_tensor i8, bf;
	/* the directory: tiles and planes per tensor, first map byte */
	uint32_t n_tensors, n_tiles;
	uint32_t tiles[MAX_TENSORS], planes[MAX_TENSORS], base[MAX_TENSORS + 1];
	struct cxlms_ioc_map_context ctx[N_CTX];
	uint8_t *maps;			/* N_CTX maps of n_tiles */
	uint8_t *buf, *ref;
};

static int read_directory(FIXTURE_DATA(pol) *self)
{
	struct cxlms_ioc_tensor_info *ti;
	struct cxlms_ioc_tensor_list tl = { .size = sizeof(tl) };
	uint32_t i;
	int ret;

	ret = cxt_ioctl(self->fd, CXLMS_IOC_TENSOR_LIST, &tl);
	if (ret || tl.total > MAX_TENSORS)
		return ret ? ret : -E2BIG;
	ti = calloc(tl.total + 1, sizeof(*ti));
	if (!ti)
		return -ENOMEM;
	tl.count = tl.total;
	tl.entry_size = sizeof(*ti);
	tl.entries = (uintptr_t)ti;
	ret = cxt_ioctl(self->fd, CXLMS_IOC_TENSOR_LIST, &tl);
	self->n_tensors = tl.count;
	self->n_tiles = 0;
	for (i = 0; !ret && i < tl.count; i++) {
		self->base[i] = self->n_tiles;
		self->tiles[i] = ti[i].n_tiles;
		self->planes[i] = ti[i].planes;
		self->n_tiles += ti[i].n_tiles;
	}
	self->base[self->n_tensors] = self->n_tiles;
	free(ti);
	return ret;
}

/* Bits of tile @tile of @tensor in map @c. */
static uint8_t *mapb(FIXTURE_DATA(pol) *self, uint32_t c, uint32_t tensor,
		     uint32_t tile)
{
	return self->maps + (size_t)c * self->n_tiles + self->base[tensor] + tile;
}

/*
 * Context "wide" (default): i8 tiles at 1, 2, .. 8, 1, ..; bf tiles at
 * 16, 15, .. (never below 9, so value outputs work).  Context "narrow":
 * i8 at 3, bf at 12.  Every other tensor: full precision.
 */
static int build_maps(FIXTURE_DATA(pol) *self)
{
	uint32_t c, i, t;

	free(self->maps);
	self->maps = malloc((size_t)N_CTX * self->n_tiles);
	if (!self->maps)
		return -ENOMEM;
	memset(self->ctx, 0, sizeof(self->ctx));
	strcpy(self->ctx[0].name, "wide");
	strcpy(self->ctx[1].name, "narrow");
	self->ctx[1].mode = 1;
	for (c = 0; c < N_CTX; c++)
		for (i = 0; i < self->n_tensors; i++)
			for (t = 0; t < self->tiles[i]; t++)
				*mapb(self, c, i, t) = self->planes[i];
	for (t = 0; t < self->i8.n_tiles; t++) {
		*mapb(self, 0, self->i8.index, t) = 1 + t % 8;
		*mapb(self, 1, self->i8.index, t) = 3;
	}
	for (t = 0; t < self->bf.n_tiles; t++) {
		*mapb(self, 0, self->bf.index, t) = 16 - t % 8;
		*mapb(self, 1, self->bf.index, t) = 12;
	}
	return 0;
}

static struct cxlms_ioc_set_map good_map(FIXTURE_DATA(pol) *self)
{
	struct cxlms_ioc_set_map m = {
		.size = sizeof(m),
		.n_contexts = N_CTX,
		.default_context = 0,
		.n_tensors = self->n_tensors,
		.n_tiles = self->n_tiles,
		.ctx_size = sizeof(struct cxlms_ioc_map_context),
		.contexts = (uintptr_t)self->ctx,
		.maps = (uintptr_t)self->maps,
		.maps_len = (uint64_t)N_CTX * self->n_tiles,
	};

	return m;
}

/* SET_MAP encoded with the struct's own size (ABI revision 3). */
static unsigned long set_map_cmd(uint32_t size)
{
	return _IOC(_IOC_READ | _IOC_WRITE, CXLMS_IOC_TYPE, CXLMS_CMD_SET_MAP,
		    size & _IOC_SIZEMASK);
}

static int set_map(int fd, struct cxlms_ioc_set_map *m)
{
	return cxt_ioctl(fd, set_map_cmd(m->size), m);
}

static int set_context(int fd, const char *name)
{
	struct cxlms_ioc_set_context c = { .size = sizeof(c) };

	strncpy(c.name, name, sizeof(c.name) - 1);
	return cxt_ioctl(fd, CXLMS_IOC_SET_CONTEXT, &c);
}

/* The live generation (0 and -ENODATA without maps). */
static int live_generation(int fd, uint64_t *gen)
{
	struct cxlms_ioc_get_map g = { .size = sizeof(g) };
	int ret = cxt_ioctl(fd, CXLMS_IOC_GET_MAP, &g);

	*gen = g.generation;
	return ret;
}

FIXTURE_SETUP(pol)
{
	struct cxlms_ioc_query q;
	uint64_t s8[] = { 40, 64 }, s16[] = { 21, 32 };
	char name[64];

	self->fd = cxt_open();
	if (self->fd < 0)
		SKIP(_exit(255), CXLMS_NO_DEV_REASON);
	ASSERT_EQ(0, cxt_query(self->fd, &q));
	ASSERT_NE(0, q.caps & CXLMS_CAP_POLICY);
	self->own_store = false;
	if (!(q.state & CXLMS_STATE_ATTACHED)) {
		ASSERT_EQ(0, cxt_attach_ram(self->fd, TEST_RAM_BYTES, 0));
		self->own_store = true;
		ASSERT_EQ(0, cxt_query(self->fd, &q));
	}
	cxt_name(name, sizeof(name), "pol.i8");
	ASSERT_EQ(0, cxt_tensor_gen(&self->i8, name, CXLMS_FMT_INT8, 2, s8, 32,
				    q.default_group, 4, 0x5eed1));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &self->i8, true));
	cxt_name(name, sizeof(name), "pol.bf");
	ASSERT_EQ(0, cxt_tensor_gen(&self->bf, name, CXLMS_FMT_BF16, 2, s16, 0,
				    q.default_group, 4, 0x5eed2));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &self->bf, true));
	ASSERT_EQ(10, self->i8.n_tiles);
	ASSERT_EQ(6, self->bf.n_tiles);
	ASSERT_EQ(0, read_directory(self));
	ASSERT_EQ(0, build_maps(self));
	self->buf = malloc(BUF_BYTES);
	self->ref = malloc(BUF_BYTES);
	ASSERT_NE(NULL, self->buf);
	ASSERT_NE(NULL, self->ref);
}

FIXTURE_TEARDOWN(pol)
{
	free(self->buf);
	free(self->ref);
	free(self->maps);
	cxt_tensor_free(&self->i8);
	cxt_tensor_free(&self->bf);
	if (self->own_store)
		cxt_detach(self->fd);	/* drops the maps too */
	close(self->fd);
}

/* --- SET_MAP ------------------------------------------------------------- */

TEST_F(pol, set_map_generations)
{
	struct cxlms_ioc_set_map m = good_map(self), m2 = good_map(self);
	uint64_t g;

	m.generation = 12345;	/* output only: never trusted */
	ASSERT_EQ(0, set_map(self->fd, &m));
	EXPECT_NE(0ull, m.generation);
	ASSERT_EQ(0, set_map(self->fd, &m2));
	EXPECT_EQ(m.generation + 1, m2.generation);
	ASSERT_EQ(0, live_generation(self->fd, &g));
	EXPECT_EQ(m2.generation, g);
}

TEST_F(pol, set_map_size)
{
	struct cxlms_ioc_set_map m = good_map(self);
	uint8_t big[sizeof(m) + 16] = { 0 };

	m.size = sizeof(struct cxlms_ioc_hdr);
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	m.size = sizeof(m) - 8;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	m = good_map(self);
	m.size = sizeof(big);
	memcpy(big, &m, sizeof(m));
	big[sizeof(m) + 3] = 1;
	EXPECT_EQ(-E2BIG, cxt_ioctl(self->fd, set_map_cmd(sizeof(big)), big));
	big[sizeof(m) + 3] = 0;	/* a zero tail is fine */
	EXPECT_EQ(0, cxt_ioctl(self->fd, set_map_cmd(sizeof(big)), big));
	/* The same struct under the pre-revision-3 encoding. */
	m = good_map(self);
	EXPECT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC(CXLMS_CMD_SET_MAP), &m));
}

TEST_F(pol, set_map_flags)
{
	struct cxlms_ioc_set_map m = good_map(self);

	m.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, set_map(self->fd, &m));
	m.flags = 1u << 31;
	EXPECT_EQ(-EOPNOTSUPP, set_map(self->fd, &m));
}

TEST_F(pol, set_map_pad)
{
	struct cxlms_ioc_set_map m = good_map(self);

	m.pad = 1;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
}

TEST_F(pol, set_map_context_count)
{
	struct cxlms_ioc_set_map m = good_map(self);

	m.n_contexts = 0;
	m.maps_len = 0;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	m = good_map(self);
	m.n_contexts = CXLMS_MAP_MAX_CONTEXTS + 1;
	m.maps_len = (uint64_t)m.n_contexts * m.n_tiles;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	m = good_map(self);
	m.default_context = N_CTX;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
}

TEST_F(pol, set_map_ctx_size)
{
	struct cxlms_ioc_set_map m = good_map(self);

	m.ctx_size = sizeof(struct cxlms_ioc_map_context) - 8;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	m.ctx_size = sizeof(struct cxlms_ioc_map_context) + 8;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
}

TEST_F(pol, set_map_maps_len)
{
	struct cxlms_ioc_set_map m = good_map(self);

	m.maps_len--;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	m.maps_len += 2;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	m = good_map(self);
	m.maps = 0;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
}

TEST_F(pol, set_map_too_big)
{
	struct cxlms_ioc_set_map m = good_map(self);

	m.n_tiles = CXLMS_MAP_MAX_BYTES / N_CTX + 1;
	m.maps_len = (uint64_t)N_CTX * m.n_tiles;
	EXPECT_EQ(-ENOSPC, set_map(self->fd, &m));
}

/* Counts that are not the directory's: the caller's view is stale. */
TEST_F(pol, set_map_wrong_directory)
{
	struct cxlms_ioc_set_map m = good_map(self);

	m.n_tensors = self->n_tensors + 1;
	EXPECT_EQ(-ESTALE, set_map(self->fd, &m));
	m.n_tensors = self->n_tensors - 1;
	EXPECT_EQ(-ESTALE, set_map(self->fd, &m));
	/* right tensor count, one tile short (the maps are still that long) */
	m = good_map(self);
	m.n_tiles = self->n_tiles - 1;
	m.maps_len = (uint64_t)N_CTX * m.n_tiles;
	EXPECT_EQ(-ESTALE, set_map(self->fd, &m));
}

TEST_F(pol, set_map_bad_bits)
{
	struct cxlms_ioc_set_map m = good_map(self);

	*mapb(self, 1, self->i8.index, 9) = 0;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	*mapb(self, 1, self->i8.index, 9) = 9;	/* INT8 has 8 planes */
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	*mapb(self, 1, self->i8.index, 9) = 8;
	*mapb(self, 0, self->bf.index, 0) = 17;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	*mapb(self, 0, self->bf.index, 0) = 16;
	EXPECT_EQ(0, set_map(self->fd, &m));
}

TEST_F(pol, set_map_bad_contexts)
{
	struct cxlms_ioc_set_map m = good_map(self);

	strcpy(self->ctx[1].name, "wide");	/* duplicate */
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	memset(self->ctx[1].name, 0, sizeof(self->ctx[1].name));	/* empty */
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	strcpy(self->ctx[1].name, "has space");
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	memset(self->ctx[1].name, 0, sizeof(self->ctx[1].name));
	strcpy(self->ctx[1].name, "narrow");
	self->ctx[1].name[CXLMS_MAP_NAME_MAX - 1] = 'x';	/* not padded */
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	self->ctx[1].name[CXLMS_MAP_NAME_MAX - 1] = 0;
	self->ctx[1].reserved = 1;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	self->ctx[1].reserved = 0;
	self->ctx[1].mode = 3;
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	self->ctx[1].mode = 2;
	EXPECT_EQ(0, set_map(self->fd, &m));
}

TEST_F(pol, set_map_fault)
{
	struct cxlms_ioc_set_map m = good_map(self);

	m.maps = 16;
	EXPECT_EQ(-EFAULT, set_map(self->fd, &m));
	m = good_map(self);
	m.contexts = 16;
	EXPECT_EQ(-EFAULT, set_map(self->fd, &m));
}

TEST_F(pol, set_map_generation_expected)
{
	struct cxlms_ioc_set_map m = good_map(self);
	uint64_t g;

	ASSERT_EQ(0, set_map(self->fd, &m));
	g = m.generation;
	m = good_map(self);
	m.generation_expected = g + 7;
	EXPECT_EQ(-ESTALE, set_map(self->fd, &m));
	m.generation_expected = g;
	EXPECT_EQ(0, set_map(self->fd, &m));
	EXPECT_EQ(g + 1, m.generation);
	/* g is gone now */
	m.generation_expected = g;
	EXPECT_EQ(-ESTALE, set_map(self->fd, &m));
}

/* A refused SET_MAP leaves the live maps alone. */
TEST_F(pol, set_map_failure_keeps_maps)
{
	struct cxlms_ioc_set_map m = good_map(self);
	uint64_t g0, g1;

	ASSERT_EQ(0, set_map(self->fd, &m));
	ASSERT_EQ(0, live_generation(self->fd, &g0));
	*mapb(self, 0, self->i8.index, 0) = 0;
	m = good_map(self);
	EXPECT_EQ(-EINVAL, set_map(self->fd, &m));
	ASSERT_EQ(0, live_generation(self->fd, &g1));
	EXPECT_EQ(g0, g1);
}

TEST_F(pol, set_map_needs_admin)
{
	struct cxlms_ioc_set_map m = good_map(self);
	struct cxlms_ioc_set_context c = { .size = sizeof(c), .name = "narrow" };
	struct cxlms_ioc_get_map g = { .size = sizeof(g) };

	EXPECT_EQ(-EPERM, cxt_ioctl_as_nobody(self->fd, CXLMS_IOC_SET_MAP, &m));
	/* SET_CONTEXT and GET_MAP are for every engine */
	ASSERT_EQ(0, set_map(self->fd, &m));
	EXPECT_EQ(0, cxt_ioctl_as_nobody(self->fd, CXLMS_IOC_SET_CONTEXT, &c));
	EXPECT_EQ(0, cxt_ioctl_as_nobody(self->fd, CXLMS_IOC_GET_MAP, &g));
}

/* --- SET_CONTEXT --------------------------------------------------------- */

TEST_F(pol, set_context_without_maps)
{
	if (!self->own_store)
		SKIP(return, "maps may be live on a shared store");
	EXPECT_EQ(-ENODATA, set_context(self->fd, "wide"));
	EXPECT_EQ(-ENODATA, set_context(self->fd, ""));
}

TEST_F(pol, set_context_checks)
{
	struct cxlms_ioc_set_map m = good_map(self);
	struct cxlms_ioc_set_context c = { .size = sizeof(c), .name = "wide" };

	ASSERT_EQ(0, set_map(self->fd, &m));
	c.size = sizeof(struct cxlms_ioc_hdr);
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_SET_CONTEXT, &c));
	c.size = sizeof(c);
	c.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, cxt_ioctl(self->fd, CXLMS_IOC_SET_CONTEXT, &c));
	c.flags = 0;
	memset(c.name, 'a', sizeof(c.name));	/* not NUL-terminated */
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_SET_CONTEXT, &c));
	memset(c.name, 0, sizeof(c.name));
	strcpy(c.name, "wide");
	c.name[10] = 'x';			/* not NUL-padded */
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_SET_CONTEXT, &c));
	EXPECT_EQ(-EINVAL, set_context(self->fd, "wi/de"));
	EXPECT_EQ(-ENOENT, set_context(self->fd, "nosuch"));
	EXPECT_EQ(0, set_context(self->fd, "narrow"));
	EXPECT_EQ(0, set_context(self->fd, ""));
}

/* --- GET_MAP ------------------------------------------------------------- */

TEST_F(pol, get_map_reads_back)
{
	struct cxlms_ioc_set_map m = good_map(self);
	struct cxlms_ioc_get_map g = { .size = sizeof(g) };
	uint8_t bits[16];

	ASSERT_EQ(0, set_map(self->fd, &m));
	g.tensor = self->i8.index;
	g.tile_first = 2;
	g.tile_count = 7;
	g.bits = (uintptr_t)bits;
	ASSERT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	EXPECT_EQ(m.generation, g.generation);
	EXPECT_EQ(N_CTX, g.n_contexts);
	EXPECT_STREQ("wide", g.context);	/* the default */
	EXPECT_EQ(0, memcmp(bits, mapb(self, 0, self->i8.index, 2), 7));
	/* the fd's context */
	ASSERT_EQ(0, set_context(self->fd, "narrow"));
	memset(g.context, 0, sizeof(g.context));
	ASSERT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	EXPECT_STREQ("narrow", g.context);
	EXPECT_EQ(0, memcmp(bits, mapb(self, 1, self->i8.index, 2), 7));
	/* by name, whatever the fd's context */
	g.flags = CXLMS_GET_MAP_NAMED;
	memset(g.context, 0, sizeof(g.context));	/* NUL-padded */
	strcpy(g.context, "wide");
	g.tensor = self->bf.index;
	g.tile_first = 0;
	g.tile_count = self->bf.n_tiles;
	ASSERT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	EXPECT_EQ(0, memcmp(bits, mapb(self, 0, self->bf.index, 0), self->bf.n_tiles));
}

TEST_F(pol, get_map_checks)
{
	struct cxlms_ioc_set_map m = good_map(self);
	struct cxlms_ioc_get_map g = { .size = sizeof(g) };
	uint8_t bits[16];

	ASSERT_EQ(0, set_map(self->fd, &m));
	g.size = 8;
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	g.size = sizeof(g);
	g.flags = 2;
	EXPECT_EQ(-EOPNOTSUPP, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	g.flags = 0;
	strcpy(g.context, "wide");		/* a name without NAMED */
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	g.flags = CXLMS_GET_MAP_NAMED;
	strcpy(g.context, "nosuch");
	EXPECT_EQ(-ENOENT, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	memset(g.context, 0, sizeof(g.context));
	g.flags = 0;
	g.tensor = self->i8.index;
	g.tile_count = 1;			/* no buffer */
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	g.bits = (uintptr_t)bits;
	g.tile_first = self->i8.n_tiles - 1;
	g.tile_count = 2;			/* past the end */
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	g.tile_first = 0xffffffffu;		/* first + count overflows */
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	g.tile_first = 0;
	g.tile_count = 1;
	g.tensor = self->n_tensors + 5;
	EXPECT_EQ(-ENOENT, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
	g.tensor = self->i8.index;
	g.bits = 16;
	EXPECT_EQ(-EFAULT, cxt_ioctl(self->fd, CXLMS_IOC_GET_MAP, &g));
}

/* --- FETCH with CXLMS_BITS_POLICY ---------------------------------------- */

static uint64_t stats_read(int fd, uint32_t tensor, uint64_t *fetches)
{
	struct cxlms_ioc_stats st;
	uint64_t sum;
	int p;

	*fetches = 0;
	if (cxt_stats(fd, tensor, 0, &st))
		return 0;
	sum = st.side_bytes;
	for (p = 0; p < CXLMS_MAX_PLANES; p++)
		sum += st.plane_bytes[p];
	*fetches = st.fetches;
	return sum;
}

/*
 * Policy fetch of the whole tensor == explicit fetches tile by tile at the
 * bits map @c gives: output bytes, bytes_read, and the tensor's counters.
 */
static void check_policy_fetch(struct __test_metadata *_metadata,
			       FIXTURE_DATA(pol) *self, const struct cxt_tensor *t,
			       uint32_t c, uint32_t out)
{
	uint64_t w, r, rw, rr, ref_len = 0, ref_read = 0, s0, s1, s2;
	uint64_t f0 = 0, f1 = 0, f2 = 0;
	uint32_t tile;

	s0 = stats_read(self->fd, t->index, &f0);
	ASSERT_EQ(0, cxt_fetch(self->fd, t->index, 0, t->n_tiles, CXLMS_BITS_POLICY,
			       out, 0, self->buf, BUF_BYTES, &w, &r));
	s1 = stats_read(self->fd, t->index, &f1);
	for (tile = 0; tile < t->n_tiles; tile++) {
		ASSERT_EQ(0, cxt_fetch(self->fd, t->index, tile, 1,
				       *mapb(self, c, t->index, tile), out, 0,
				       self->ref + ref_len, BUF_BYTES - ref_len,
				       &rw, &rr));
		ref_len += rw;
		ref_read += rr;
	}
	s2 = stats_read(self->fd, t->index, &f2);
	EXPECT_EQ(ref_len, w);
	EXPECT_EQ(ref_read, r);
	EXPECT_EQ(0, memcmp(self->buf, self->ref, ref_len));
	EXPECT_EQ(s2 - s1, s1 - s0);
	EXPECT_EQ(r, s1 - s0);
	EXPECT_EQ(f2 - f1, f1 - f0);
}

TEST_F(pol, fetch_equals_explicit)
{
	struct cxlms_ioc_set_map m = good_map(self);

	ASSERT_EQ(0, set_map(self->fd, &m));
	/* default context: "wide", mixed bits per tile */
	check_policy_fetch(_metadata, self, &self->i8, 0, CXLMS_OUT_PLANES);
	check_policy_fetch(_metadata, self, &self->i8, 0, CXLMS_OUT_PACKED);
	check_policy_fetch(_metadata, self, &self->i8, 0, CXLMS_OUT_F32);
	check_policy_fetch(_metadata, self, &self->bf, 0, CXLMS_OUT_PLANES);
	check_policy_fetch(_metadata, self, &self->bf, 0, CXLMS_OUT_BF16);
	ASSERT_EQ(0, set_context(self->fd, "narrow"));
	check_policy_fetch(_metadata, self, &self->i8, 1, CXLMS_OUT_INT);
	check_policy_fetch(_metadata, self, &self->bf, 1, CXLMS_OUT_F32);
}

TEST_F(pol, fetch_errors)
{
	struct cxlms_ioc_set_map m = good_map(self);
	struct cxt_tensor late = { 0 };
	uint64_t s8[] = { 8, 32 }, w, r, len, f;
	struct cxlms_ioc_query q;
	char name[64];

	if (self->own_store)
		EXPECT_EQ(-ENODATA, cxt_fetch(self->fd, self->i8.index, 0, 1,
					      CXLMS_BITS_POLICY, CXLMS_OUT_INT, 0,
					      self->buf, BUF_BYTES, &w, &r));
	ASSERT_EQ(0, set_map(self->fd, &m));
	/* too small for the mapped bits: nothing written or read */
	ASSERT_EQ(0, cxt_fetch(self->fd, self->i8.index, 0, 4, CXLMS_BITS_POLICY,
			       CXLMS_OUT_PLANES, 0, self->buf, BUF_BYTES, &len, &r));
	memset(self->buf, 0xa5, len);
	stats_read(self->fd, self->i8.index, &f);
	EXPECT_EQ(-ENOSPC, cxt_fetch(self->fd, self->i8.index, 0, 4, CXLMS_BITS_POLICY,
				     CXLMS_OUT_PLANES, 0, self->buf, len - 1, &w, &r));
	EXPECT_EQ(0ull, w);
	EXPECT_EQ(0ull, r);
	EXPECT_EQ(0xa5, self->buf[0]);
	/* a range outside the tensor */
	EXPECT_EQ(-EINVAL, cxt_fetch(self->fd, self->i8.index, 8, 3, CXLMS_BITS_POLICY,
				     CXLMS_OUT_PLANES, 0, self->buf, BUF_BYTES, &w, &r));
	/* BF16 at "wide" has 9..16 bits: a float output works; "narrow" too.
	 * An fd whose context a new map no longer has: -ENOENT at fetch. */
	ASSERT_EQ(0, set_context(self->fd, "narrow"));
	strcpy(self->ctx[1].name, "other");
	m = good_map(self);
	ASSERT_EQ(0, set_map(self->fd, &m));
	EXPECT_EQ(-ENOENT, cxt_fetch(self->fd, self->i8.index, 0, 1, CXLMS_BITS_POLICY,
				     CXLMS_OUT_INT, 0, self->buf, BUF_BYTES, &w, &r));
	ASSERT_EQ(0, set_context(self->fd, "other"));
	EXPECT_EQ(0, cxt_fetch(self->fd, self->i8.index, 0, 1, CXLMS_BITS_POLICY,
			       CXLMS_OUT_INT, 0, self->buf, BUF_BYTES, &w, &r));
	/* a tensor created after the maps is not covered by them */
	ASSERT_EQ(0, cxt_query(self->fd, &q));
	cxt_name(name, sizeof(name), "pol.late");
	ASSERT_EQ(0, cxt_tensor_gen(&late, name, CXLMS_FMT_INT8, 2, s8, 32,
				    q.default_group, 4, 7));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &late, true));
	EXPECT_EQ(-ENODATA, cxt_fetch(self->fd, late.index, 0, 1, CXLMS_BITS_POLICY,
				      CXLMS_OUT_INT, 0, self->buf, BUF_BYTES, &w, &r));
	/* and the old maps no longer describe the directory */
	m = good_map(self);
	EXPECT_EQ(-ESTALE, set_map(self->fd, &m));
	cxt_tensor_free(&late);
}

/* DETACH drops the maps. */
TEST_F(pol, detach_drops_maps)
{
	struct cxlms_ioc_set_map m = good_map(self);
	uint64_t g;

	if (!self->own_store)
		SKIP(return, "needs a store of its own to detach");
	ASSERT_EQ(0, set_map(self->fd, &m));
	ASSERT_EQ(0, cxt_detach(self->fd));
	ASSERT_EQ(0, cxt_attach_ram(self->fd, TEST_RAM_BYTES, 0));
	EXPECT_EQ(-ENODATA, live_generation(self->fd, &g));
}

/* --- atomic replacement under concurrent fetchers ------------------------ */

#define N_CHILD		3
#define N_SWAPS		300

/*
 * Maps A (every i8 tile at 2 bits) and B (every tile at 7) alternate while
 * children fetch the whole tensor with CXLMS_BITS_POLICY.  A fetch that
 * mixed the two maps would read a total between A's and B's; every fetch
 * must read exactly A's or B's bytes and return exactly A's or B's output.
 */
TEST_F_TIMEOUT(pol, swap_under_fetchers, 120)
{
	struct cxlms_ioc_set_map m;
	uint64_t wa, ra, wb, rb, r, w;
	uint8_t *outa, *outb;
	volatile uint32_t *stop;
	uint32_t t, i;
	pid_t pids[N_CHILD];
	int c, status, bad = 0;

	stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, (void *)stop);
	outa = malloc(BUF_BYTES);
	outb = malloc(BUF_BYTES);
	ASSERT_NE(NULL, outa);
	ASSERT_NE(NULL, outb);
	ASSERT_EQ(0, cxt_fetch(self->fd, self->i8.index, 0, self->i8.n_tiles, 2,
			       CXLMS_OUT_PLANES, 0, outa, BUF_BYTES, &wa, &ra));
	ASSERT_EQ(0, cxt_fetch(self->fd, self->i8.index, 0, self->i8.n_tiles, 7,
			       CXLMS_OUT_PLANES, 0, outb, BUF_BYTES, &wb, &rb));
	ASSERT_NE(ra, rb);

	for (t = 0; t < self->i8.n_tiles; t++)
		*mapb(self, 0, self->i8.index, t) = 2;
	m = good_map(self);
	ASSERT_EQ(0, set_map(self->fd, &m));
	for (c = 0; c < N_CHILD; c++) {
		pids[c] = fork();
		ASSERT_LE(0, pids[c]);
		if (pids[c] == 0) {
			int fd = cxt_open();
			uint8_t *buf = malloc(BUF_BYTES);
			unsigned long n = 0, seen_a = 0, seen_b = 0;

			if (fd < 0 || !buf)
				_exit(2);
			__atomic_add_fetch(&stop[1], 1, __ATOMIC_SEQ_CST);
			while (!*stop || n < 100) {
				if (cxt_fetch(fd, self->i8.index, 0, self->i8.n_tiles,
					      CXLMS_BITS_POLICY, CXLMS_OUT_PLANES, 0,
					      buf, BUF_BYTES, &w, &r))
					_exit(3);
				if (r == ra && w == wa && !memcmp(buf, outa, wa))
					seen_a++;
				else if (r == rb && w == wb && !memcmp(buf, outb, wb))
					seen_b++;
				else
					_exit(1);	/* a mix, or a wrong result */
				n++;
			}
			/* Both maps served: the swap really raced the fetches. */
			_exit(seen_a && seen_b ? 0 : 4);
		}
	}
	/* Swap only once every fetcher is running. */
	while (__atomic_load_n(&stop[1], __ATOMIC_SEQ_CST) < N_CHILD)
		usleep(1000);
	for (i = 0; i < N_SWAPS; i++) {
		for (t = 0; t < self->i8.n_tiles; t++)
			*mapb(self, 0, self->i8.index, t) = i % 2 ? 2 : 7;
		m = good_map(self);
		EXPECT_EQ(0, set_map(self->fd, &m));
		usleep(200);
	}
	*stop = 1;
	for (c = 0; c < N_CHILD; c++) {
		ASSERT_EQ(pids[c], waitpid(pids[c], &status, 0));
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			TH_LOG("fetcher %d: status %#x", c, status);
			bad++;
		}
	}
	EXPECT_EQ(0, bad);
	free(outa);
	free(outb);
	munmap((void *)stop, 4096);
}

TEST_HARNESS_MAIN
