// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms fetch tests: what FETCH returns is byte-identical to the userspace
 * build of the same codec for every format, tile, precision, output and
 * reconstruction; STATS shows exactly the planes (and side data) read;
 * concurrent fetches from several processes are correct and add up; and a
 * bounded random-ioctl loop leaves no oops or warning in the kernel log.
 *
 * Uses the attached store, or a RAM store of its own when none is attached.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cxlms_util.h"

#define TEST_RAM_BYTES	(32ull << 20)
#define BUF_BYTES	(1u << 20)
#define N_OUT		5

static int setup_store(int fd, bool *own)
{
	struct cxlms_ioc_query q;
	int ret = cxt_query(fd, &q);

	*own = false;
	if (ret || (q.state & CXLMS_STATE_ATTACHED))
		return ret;
	ret = cxt_attach_ram(fd, TEST_RAM_BYTES, 0);
	*own = !ret;
	return ret;
}

/* --- every format, tile, k, output and recon against the codec ----------- */

FIXTURE(fmt) {
	int fd;
	bool own_store;
	struct cxt_tensor t;
	uint8_t *kbuf, *rbuf;
};

FIXTURE_VARIANT(fmt) {
	uint32_t fmt, ndim, group, tile_rows;
	uint64_t shape[CXLMS_MAX_DIMS];
};

/* ragged: 100 columns in groups of 32, 37 rows in tiles of 8 (last: 5) */
FIXTURE_VARIANT_ADD(fmt, int8) {
	.fmt = CXLMS_FMT_INT8, .ndim = 2, .shape = { 37, 100 }, .group = 32,
	.tile_rows = 8,
};
/* 1-D, 1001 elements: one tile that ends inside a plane byte */
FIXTURE_VARIANT_ADD(fmt, int8_1d) {
	.fmt = CXLMS_FMT_INT8, .ndim = 1, .shape = { 1001 }, .group = 128,
};
/* 3-D: leading dims folded into 15 rows, default group */
FIXTURE_VARIANT_ADD(fmt, int8_3d) {
	.fmt = CXLMS_FMT_INT8, .ndim = 3, .shape = { 3, 5, 64 }, .tile_rows = 4,
};
FIXTURE_VARIANT_ADD(fmt, bf16) {
	.fmt = CXLMS_FMT_BF16, .ndim = 2, .shape = { 13, 20 }, .tile_rows = 5,
};
FIXTURE_VARIANT_ADD(fmt, fp16) {
	.fmt = CXLMS_FMT_FP16, .ndim = 2, .shape = { 9, 33 }, .tile_rows = 4,
};

FIXTURE_SETUP(fmt)
{
	struct cxlms_ioc_query q;
	char name[64];

	self->fd = cxt_open();
	if (self->fd < 0)
		SKIP(_exit(255), CXLMS_NO_DEV_REASON);
	ASSERT_EQ(0, setup_store(self->fd, &self->own_store));
	ASSERT_EQ(0, cxt_query(self->fd, &q));
	cxt_name(name, sizeof(name), "fetch.fmt");
	ASSERT_EQ(0, cxt_tensor_gen(&self->t, name, variant->fmt, variant->ndim,
				    variant->shape, variant->group,
				    q.default_group, variant->tile_rows,
				    0xc0ffee ^ variant->fmt ^ variant->shape[0]));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &self->t, true));
	self->kbuf = malloc(BUF_BYTES);
	self->rbuf = malloc(BUF_BYTES);
	ASSERT_NE(NULL, self->kbuf);
	ASSERT_NE(NULL, self->rbuf);
}

FIXTURE_TEARDOWN(fmt)
{
	free(self->kbuf);
	free(self->rbuf);
	cxt_tensor_free(&self->t);
	if (self->own_store)
		cxt_detach(self->fd);
	close(self->fd);
}

TEST_F_TIMEOUT(fmt, every_k_out_recon, 300)
{
	const struct cxt_tensor *t = &self->t;
	uint32_t tile, k, out, recon, planes = t->l.n_planes;
	unsigned int compared = 0, refused = 0;

	for (tile = 0; tile < t->n_tiles; tile++)
	for (k = 0; k <= planes + 1; k++)
	for (out = 0; out <= N_OUT + 1; out++)
	for (recon = 0; recon <= CXLMS_RECON_TABLE + 1; recon++) {
		uint64_t written = ~0ull;
		int64_t want;
		int got;

		want = cxt_ref_fetch(t, tile, k, out, recon, self->rbuf, BUF_BYTES);
		memset(self->kbuf, 0xa5, BUF_BYTES);
		got = cxt_fetch(self->fd, t->index, tile, 1, k, out, recon,
				self->kbuf, BUF_BYTES, &written, NULL);
		if (want < 0) {
			/* The module refuses exactly what the codec refuses. */
			ASSERT_EQ(want, got)
				TH_LOG("tile %u k %u out %u recon %u", tile, k, out, recon);
			refused++;
			continue;
		}
		ASSERT_EQ(0, got)
			TH_LOG("tile %u k %u out %u recon %u", tile, k, out, recon);
		ASSERT_EQ((uint64_t)want, written);
		ASSERT_EQ(0, memcmp(self->kbuf, self->rbuf, want))
			TH_LOG("tile %u k %u out %u recon %u differs", tile, k, out, recon);
		/* Nothing past the block was touched. */
		ASSERT_EQ(0xa5, self->kbuf[want]);
		compared++;
	}
	/* Every output of every k was served at least for PLANES/PACKED. */
	EXPECT_GE(compared, t->n_tiles * planes * 2);
	EXPECT_GT(refused, 0u);
	TH_LOG("%u fetches byte-identical to the codec, %u refused alike",
	       compared, refused);
}

/* A multi-tile fetch is the tiles' blocks back to back. */
TEST_F(fmt, multi_tile_concatenated)
{
	const struct cxt_tensor *t = &self->t;
	uint32_t ks[] = { 1, 3, t->l.n_planes - 1, t->l.n_planes }, i, out, tile;

	for (i = 0; i < ARRAY_SIZE(ks); i++)
	for (out = 1; out <= N_OUT; out++) {
		uint64_t off = 0, written = 0;
		uint32_t first = t->n_tiles > 1 ? 1 : 0;
		int64_t n;

		if (cxt_ref_size(t, 0, ks[i], out, 0) < 0)
			continue;
		for (tile = first; tile < t->n_tiles; tile++) {
			n = cxt_ref_fetch(t, tile, ks[i], out, 0, self->rbuf + off,
					  BUF_BYTES - off);
			ASSERT_GT(n, 0);
			off += n;
		}
		ASSERT_EQ(0, cxt_fetch(self->fd, t->index, first, t->n_tiles - first,
				       ks[i], out, 0, self->kbuf, off, &written, NULL));
		ASSERT_EQ(off, written);
		ASSERT_EQ(0, memcmp(self->kbuf, self->rbuf, off))
			TH_LOG("k %u out %u", ks[i], out);
	}
}

/* Expected side bytes of one tile, worked out from the format, not the codec. */
static uint64_t side_bytes(const struct cxt_tensor *t, uint32_t tile, uint32_t k,
			   uint32_t recon)
{
	uint64_t gpr, rows;

	if (t->fmt != CXLMS_FMT_INT8)
		return 0;
	gpr = (t->cols + t->g.group_size - 1) / t->g.group_size;
	rows = cxt_tile_elems(t, tile) / t->cols;
	/* fp16 scales, plus 2^k s16 table levels when the table is used */
	return rows * gpr * 2 +
	       ((recon == CXLMS_RECON_DEFAULT || recon == CXLMS_RECON_TABLE) &&
		k < 8 ? (2ull << k) : 0);
}

TEST_F(fmt, stats_exact_planes)
{
	const struct cxt_tensor *t = &self->t;
	uint32_t recons[] = { CXLMS_RECON_DEFAULT, CXLMS_RECON_FLOOR }, r, k, p, tile;

	for (r = 0; r < 2; r++)
	for (k = 1; k <= t->l.n_planes; k++) {
		struct cxlms_ioc_stats st;
		uint64_t plane = 0, side = 0, written, read;

		for (tile = 0; tile < t->n_tiles; tile++) {
			plane += (cxt_tile_elems(t, tile) + 7) / 8;
			side += side_bytes(t, tile, k, recons[r]);
		}
		ASSERT_EQ(0, cxt_stats(self->fd, t->index, CXLMS_STATS_RESET, &st));
		ASSERT_EQ(0, cxt_fetch(self->fd, t->index, 0, t->n_tiles, k,
				       CXLMS_OUT_PACKED, recons[r], self->kbuf,
				       BUF_BYTES, &written, &read));
		ASSERT_EQ(0, cxt_stats(self->fd, t->index, 0, &st));
		EXPECT_EQ(t->n_tiles, st.fetches);
		for (p = 0; p < CXLMS_MAX_PLANES; p++)
			ASSERT_EQ(p < k ? plane : 0, st.plane_bytes[p])
				TH_LOG("k %u plane %u", k, p);
		EXPECT_EQ(side, st.side_bytes) TH_LOG("k %u recon %u", k, recons[r]);
		EXPECT_EQ(written, st.out_bytes);
		EXPECT_EQ(plane * k + side, read);
	}
}

/* --- concurrency ----------------------------------------------------------- */

#define STRESS_PROCS	4
#define STRESS_ITERS	150

struct stress_expect {
	uint64_t fetches, plane_bytes[CXLMS_MAX_PLANES], side_bytes, out_bytes;
	uint64_t mismatches, errors;
};

FIXTURE(stress) {
	int fd;
	bool own_store;
	struct cxt_tensor t[2];
	struct stress_expect *exp;	/* [STRESS_PROCS][2], shared */
};

FIXTURE_SETUP(stress)
{
	static const uint64_t s8[2] = { 48, 96 }, s16[2] = { 24, 40 };
	struct cxlms_ioc_stats st;
	char name[64];

	self->fd = cxt_open();
	if (self->fd < 0)
		SKIP(_exit(255), CXLMS_NO_DEV_REASON);
	ASSERT_EQ(0, setup_store(self->fd, &self->own_store));
	cxt_name(name, sizeof(name), "stress.i8");
	ASSERT_EQ(0, cxt_tensor_gen(&self->t[0], name, CXLMS_FMT_INT8, 2, s8, 32,
				    0, 8, 11));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &self->t[0], true));
	cxt_name(name, sizeof(name), "stress.fp16");
	ASSERT_EQ(0, cxt_tensor_gen(&self->t[1], name, CXLMS_FMT_FP16, 2, s16, 0,
				    0, 5, 12));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &self->t[1], true));
	ASSERT_EQ(0, cxt_stats(self->fd, self->t[0].index, 0, &st));
	ASSERT_EQ(0ull, st.fetches);
	self->exp = mmap(NULL, sizeof(*self->exp) * STRESS_PROCS * 2,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->exp);
	memset(self->exp, 0, sizeof(*self->exp) * STRESS_PROCS * 2);
}

FIXTURE_TEARDOWN(stress)
{
	cxt_tensor_free(&self->t[0]);
	cxt_tensor_free(&self->t[1]);
	if (self->own_store)
		cxt_detach(self->fd);
	close(self->fd);
}

/* One process: random valid fetches, checked, expected counters summed. */
static void stress_child(const struct cxt_tensor *ts, struct stress_expect *exp,
			 uint64_t seed)
{
	uint8_t *kbuf = malloc(BUF_BYTES), *rbuf = malloc(BUF_BYTES);
	int fd = cxt_open(), i;

	if (fd < 0 || !kbuf || !rbuf) {
		exp[0].errors++;
		return;
	}
	for (i = 0; i < STRESS_ITERS; i++) {
		uint32_t which = cxt_rand(&seed) % 2;
		const struct cxt_tensor *t = &ts[which];
		struct stress_expect *e = &exp[which];
		uint32_t first = cxt_rand(&seed) % t->n_tiles;
		uint32_t count = 1 + cxt_rand(&seed) % (t->n_tiles - first);
		uint32_t k = 1 + cxt_rand(&seed) % t->l.n_planes;
		uint32_t out = 1 + cxt_rand(&seed) % N_OUT;
		uint32_t recon = cxt_rand(&seed) % 3;	/* DEFAULT, FLOOR, MIDPOINT */
		uint64_t off = 0, written, tile, p;
		int64_t n;

		if (cxt_ref_size(t, first, k, out, recon) < 0)
			out = CXLMS_OUT_PLANES;
		for (tile = first; tile < first + count; tile++) {
			n = cxt_ref_fetch(t, tile, k, out, recon, rbuf + off,
					  BUF_BYTES - off);
			if (n < 0) {
				e->errors++;
				goto out;
			}
			off += n;
			e->fetches++;
			for (p = 0; p < k; p++)
				e->plane_bytes[p] += (cxt_tile_elems(t, tile) + 7) / 8;
			e->side_bytes += side_bytes(t, tile, k, recon);
		}
		e->out_bytes += off;
		if (cxt_fetch(fd, t->index, first, count, k, out, recon, kbuf,
			      BUF_BYTES, &written, NULL) || written != off)
			e->errors++;
		else if (memcmp(kbuf, rbuf, off))
			e->mismatches++;
	}
out:
	close(fd);
	free(kbuf);
	free(rbuf);
}

TEST_F_TIMEOUT(stress, concurrent_fetch, 600)
{
	pid_t pids[STRESS_PROCS];
	int i, w, status;

	for (i = 0; i < STRESS_PROCS; i++) {
		pids[i] = fork();
		ASSERT_GE(pids[i], 0);
		if (pids[i] == 0) {
			stress_child(self->t, &self->exp[2 * i], 1000 + i);
			_exit(0);
		}
	}
	for (i = 0; i < STRESS_PROCS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (w = 0; w < 2; w++) {
		struct stress_expect sum = { 0 };
		struct cxlms_ioc_stats st;
		int p;

		for (i = 0; i < STRESS_PROCS; i++) {
			const struct stress_expect *e = &self->exp[2 * i + w];

			sum.fetches += e->fetches;
			for (p = 0; p < CXLMS_MAX_PLANES; p++)
				sum.plane_bytes[p] += e->plane_bytes[p];
			sum.side_bytes += e->side_bytes;
			sum.out_bytes += e->out_bytes;
			sum.mismatches += e->mismatches;
			sum.errors += e->errors;
		}
		EXPECT_EQ(0ull, sum.errors);
		EXPECT_EQ(0ull, sum.mismatches);
		ASSERT_EQ(0, cxt_stats(self->fd, self->t[w].index, 0, &st));
		EXPECT_GT(sum.fetches, 0ull);
		EXPECT_EQ(sum.fetches, st.fetches);
		for (p = 0; p < CXLMS_MAX_PLANES; p++)
			EXPECT_EQ(sum.plane_bytes[p], st.plane_bytes[p]);
		EXPECT_EQ(sum.side_bytes, st.side_bytes);
		EXPECT_EQ(sum.out_bytes, st.out_bytes);
	}
}

/* --- link model (debugfs knobs) --------------------------------------------- */

#define LINK_DIR	"/sys/kernel/debug/cxlms/"

static int knob_set(const char *name, unsigned long long v)
{
	char path[128];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), LINK_DIR "%s", name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	ret = fprintf(f, "%llu\n", v) < 0 ? -EIO : 0;
	if (fclose(f))
		ret = -errno;
	return ret;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

FIXTURE(link) {
	int fd;
	bool own_store;
	struct cxt_tensor t;
	uint8_t *buf;
};

FIXTURE_SETUP(link)
{
	static const uint64_t shape[2] = { 64, 1024 };
	char name[64];

	self->fd = cxt_open();
	if (self->fd < 0)
		SKIP(_exit(255), CXLMS_NO_DEV_REASON);
	if (access(LINK_DIR "link_bytes_per_sec", W_OK))
		SKIP(_exit(255), "no " LINK_DIR " (debugfs not mounted)");
	ASSERT_EQ(0, setup_store(self->fd, &self->own_store));
	cxt_name(name, sizeof(name), "link");
	ASSERT_EQ(0, cxt_tensor_gen(&self->t, name, CXLMS_FMT_INT8, 2, shape, 128,
				    0, 64, 3));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &self->t, true));
	self->buf = malloc(BUF_BYTES);
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(link)
{
	knob_set("link_bytes_per_sec", 0);
	knob_set("link_latency_ns", 0);
	free(self->buf);
	cxt_tensor_free(&self->t);
	if (self->own_store)
		cxt_detach(self->fd);
	close(self->fd);
}

/* Fewer planes, fewer bytes over the modelled link, less time. */
TEST_F(link, precision_sets_transfer_time)
{
	const double rate = 1e6;	/* bytes per second */
	uint64_t read2, read8;
	double t0, t2, t8;

	ASSERT_EQ(0, knob_set("link_bytes_per_sec", (unsigned long long)rate));
	t0 = now_ms();
	ASSERT_EQ(0, cxt_fetch(self->fd, self->t.index, 0, 1, 2, CXLMS_OUT_INT, 0,
			       self->buf, BUF_BYTES, NULL, &read2));
	t2 = now_ms() - t0;
	t0 = now_ms();
	ASSERT_EQ(0, cxt_fetch(self->fd, self->t.index, 0, 1, 8, CXLMS_OUT_INT, 0,
			       self->buf, BUF_BYTES, NULL, &read8));
	t8 = now_ms() - t0;
	TH_LOG("k=2: %llu bytes in %.1f ms, k=8: %llu bytes in %.1f ms",
	       (unsigned long long)read2, t2, (unsigned long long)read8, t8);
	/* 64 Ki elements: 8 KiB per plane, plus scales and table */
	EXPECT_EQ(2ull * 8192 + 64 * 8 * 2 + 8, read2);
	EXPECT_GE(t2, read2 / rate * 1e3);
	EXPECT_GE(t8, read8 / rate * 1e3);
	EXPECT_GT(t8, t2);
}

TEST_F(link, latency_per_fetch)
{
	double t0, t;

	ASSERT_EQ(0, knob_set("link_latency_ns", 30 * 1000 * 1000));
	t0 = now_ms();
	ASSERT_EQ(0, cxt_fetch(self->fd, self->t.index, 0, 1, 1, CXLMS_OUT_PLANES, 0,
			       self->buf, BUF_BYTES, NULL, NULL));
	t = now_ms() - t0;
	EXPECT_GE(t, 30.0);
	ASSERT_EQ(0, knob_set("link_latency_ns", 0));
}

/* --- random ioctls ------------------------------------------------------------ */

static uint32_t fuzz_struct_size(uint32_t nr)
{
	switch (nr) {
	case CXLMS_CMD_QUERY: return sizeof(struct cxlms_ioc_query);
	case CXLMS_CMD_ATTACH: return sizeof(struct cxlms_ioc_attach);
	case CXLMS_CMD_DETACH: return sizeof(struct cxlms_ioc_detach);
	case CXLMS_CMD_TENSOR_LIST: return sizeof(struct cxlms_ioc_tensor_list);
	case CXLMS_CMD_TENSOR_CREATE: return sizeof(struct cxlms_ioc_tensor_create);
	case CXLMS_CMD_TILE_WRITE: return sizeof(struct cxlms_ioc_tile_write);
	case CXLMS_CMD_TENSOR_SEAL: return sizeof(struct cxlms_ioc_tensor_seal);
	case CXLMS_CMD_FETCH: return sizeof(struct cxlms_ioc_fetch);
	case CXLMS_CMD_STATS: return sizeof(struct cxlms_ioc_stats);
	case CXLMS_CMD_VERIFY: return sizeof(struct cxlms_ioc_verify);
	case CXLMS_CMD_SET_MAP: return sizeof(struct cxlms_ioc_set_map);
	case CXLMS_CMD_SET_CONTEXT: return sizeof(struct cxlms_ioc_set_context);
	case CXLMS_CMD_GET_MAP: return sizeof(struct cxlms_ioc_get_map);
	case CXLMS_CMD_VIEW_CREATE: return sizeof(struct cxlms_ioc_view_create);
	case CXLMS_CMD_VIEW_DESTROY: return sizeof(struct cxlms_ioc_view_destroy);
	default: return 8 + 8 * (nr % 40);
	}
}

struct fuzz_mem {
	uint8_t *scratch;	/* readable and writable */
	size_t len;
	uint8_t *hole;		/* inaccessible (PROT_NONE) */
};

/* A pointer worth trying: valid scratch, NULL, low, kernel, inaccessible, edge. */
static uint64_t fuzz_ptr(const struct fuzz_mem *m, uint64_t *st)
{
	uint64_t r = cxt_rand(st);

	switch (r % 8) {
	case 0: return 0;
	case 1: return 8 + (r >> 8) % 4096;
	case 2: return 0xffff888000000000ull + ((r >> 8) & 0xffff000);
	case 3: return (uintptr_t)m->hole + (r >> 8) % 4096;
	case 4: return (uintptr_t)m->scratch + m->len - 1 - (r >> 8) % 64;
	default: return (uintptr_t)m->scratch + (r >> 8) % (m->len / 2);
	}
}

static uint32_t fuzz_u32(uint64_t *st)
{
	uint64_t r = cxt_rand(st);

	switch (r % 8) {
	case 0: case 1: return 0;
	case 2: case 3: case 4: return (uint32_t)(r >> 8) % 20;
	case 5: return ~0u - (uint32_t)(r >> 8) % 4;
	default: return (uint32_t)(r >> 32);
	}
}

/*
 * One random call: a command number of the cxlms type (mostly the exact
 * encoding of an implemented or reserved command, sometimes any number,
 * direction and size), an argument that is usually a
 * struct of random fields in scratch memory, sometimes a bad pointer.
 * A valid DETACH is turned invalid: it would end the loop's coverage (its
 * validation has tests of its own).
 */
static int fuzz_one(int fd, const struct fuzz_mem *m, uint64_t *st)
{
	uint64_t r = cxt_rand(st);
	uint32_t nr = (r >> 8) % (CXLMS_CMD_VIEW_DESTROY + 1), size, i;
	unsigned long cmd;
	uint8_t *arg = m->scratch + m->len / 2;

	if (r % 16)
		cmd = CXLMS_IOC(nr);
	else
		cmd = _IOC((r >> 16) & 3, CXLMS_IOC_TYPE, (r >> 20) & 0xff,
			   (r >> 28) & 0x3fff);
	size = fuzz_struct_size(nr);
	for (i = 0; i < 1024; i += 4) {
		uint32_t v = fuzz_u32(st);

		memcpy(arg + i, &v, 4);
		if (i % 8 == 0 && cxt_rand(st) % 4 == 0) {
			uint64_t p = fuzz_ptr(m, st);

			memcpy(arg + i, &p, 8);
			i += 4;
		}
	}
	/* size: the right one, a small random one, or the random fill */
	r = cxt_rand(st);
	if (r % 4 == 2)
		size = (uint32_t)(r >> 8) % 1100;
	if (r % 4 != 3)
		memcpy(arg, &size, 4);
	if ((r >> 4) % 2)
		memset(arg + 4, 0, 4);	/* flags 0 half of the time */
	/* Either encoding (ABI 3 also takes _IOWR with the real size). */
	if (_IOC_TYPE(cmd) == CXLMS_IOC_TYPE && _IOC_NR(cmd) == CXLMS_CMD_DETACH)
		arg[7] |= 0x80;
	if ((r >> 6) % 16 == 0)
		arg = (uint8_t *)(uintptr_t)fuzz_ptr(m, st);
	return cxt_ioctl(fd, cmd, arg);
}

FIXTURE(fuzz) {
	int fd;
	bool own_store;
	struct cxt_tensor t;
	struct fuzz_mem m;
};

FIXTURE_SETUP(fuzz)
{
	static const uint64_t shape[2] = { 16, 40 };
	char name[64];

	self->fd = cxt_open();
	if (self->fd < 0)
		SKIP(_exit(255), CXLMS_NO_DEV_REASON);
	ASSERT_EQ(0, setup_store(self->fd, &self->own_store));
	cxt_name(name, sizeof(name), "fuzz");
	ASSERT_EQ(0, cxt_tensor_gen(&self->t, name, CXLMS_FMT_INT8, 2, shape, 16,
				    0, 4, 5));
	ASSERT_EQ(0, cxt_tensor_upload(self->fd, &self->t, true));
	self->m.len = 1 << 20;
	self->m.scratch = mmap(NULL, self->m.len + 8192, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->m.scratch);
	/*
	 * Two inaccessible pages right after scratch.  PROT_NONE, not
	 * munmap: a later mmap could land in an unmapped hole and the
	 * driver's writes to "the hole" would then change it.
	 */
	ASSERT_EQ(0, mprotect(self->m.scratch + self->m.len, 8192, PROT_NONE));
	self->m.hole = self->m.scratch + self->m.len;
}

FIXTURE_TEARDOWN(fuzz)
{
	cxt_tensor_free(&self->t);
	if (self->own_store)
		cxt_detach(self->fd);
	close(self->fd);
}

TEST_F_TIMEOUT(fuzz, random_ioctls_then_dmesg, 900)
{
	const char *env = getenv("CXLMS_FUZZ_ITERS");
	unsigned long iters = env ? strtoul(env, NULL, 0) : 100000, i;
	uint64_t seed = 0x5eed0000 + (uint64_t)getpid();
	unsigned long hist[256] = { 0 };
	struct cxlms_ioc_query q;
	uint8_t kbuf[4096], rbuf[4096];
	char line[512], summary[1024];
	size_t len = 0;
	int64_t n;
	int e;

	TH_LOG("%lu random ioctls, seed %#llx", iters, (unsigned long long)seed);
	for (i = 0; i < iters; i++)
		hist[-fuzz_one(self->fd, &self->m, &seed) & 0xff]++;
	/* Show how deep the calls got: which results, how often. */
	for (e = 0; e < 256; e++)
		if (hist[e])
			len += snprintf(summary + len, sizeof(summary) - len, " %s:%lu",
					e ? strerrorname_np(e) : "ok", hist[e]);
	TH_LOG("results:%s", summary);
	/* Some calls must get through every check to a handler. */
	EXPECT_GT(hist[0], 0ul);
	EXPECT_GT(hist[ENOTTY], 0ul);

	/* The device still works: the store is there and fetches are right. */
	ASSERT_EQ(0, cxt_query(self->fd, &q));
	ASSERT_NE(0u, q.state & CXLMS_STATE_ATTACHED);
	n = cxt_ref_fetch(&self->t, 1, 5, CXLMS_OUT_INT, 0, rbuf, sizeof(rbuf));
	ASSERT_GT(n, 0);
	ASSERT_EQ(0, cxt_fetch(self->fd, self->t.index, 1, 1, 5, CXLMS_OUT_INT, 0,
			       kbuf, sizeof(kbuf), NULL, NULL));
	ASSERT_EQ(0, memcmp(kbuf, rbuf, n));

	ASSERT_EQ(0, cxt_dmesg_bad(line, sizeof(line)))
		TH_LOG("kernel log: %s", line);
}

TEST_HARNESS_MAIN
