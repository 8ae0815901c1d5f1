// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Precision maps in libcxlms (lib/policy.c): contexts per handle, fetches
 * with CXLMS_BITS_POLICY equal to fetches at the bits the map says, every
 * refusal with its own error, and atomic replacement: reader threads
 * asking for a tensor's bits while the writer keeps publishing must always
 * get one generation's map, never a mix.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib_testutil.h"
#include "private.h"
#include "policy.h"

#define A_ROWS 64
#define A_COLS 128
#define B_ROWS 32
#define B_COLS 64
#define TILE_ROWS 16
#define N_TILES (A_ROWS / TILE_ROWS + B_ROWS / TILE_ROWS)	/* 4 + 2 */

struct fx {
	char *dir, *path;
	struct logcap lc;
	struct cxlms_ctx *ctx;
	struct cxlms_store *rw, *ro;
	struct cxlms_policy_writer *w;
	struct cxlms_policy_ctx pctx[3];
	uint8_t maps[3 * N_TILES];
};

static void make_store(struct fx *f)
{
	static float a[A_ROWS * A_COLS], b[B_ROWS * B_COLS];
	uint64_t s = 7;
	struct tu_st_tensor t[2] = {
		{ "a.w", "F32", 2, { A_ROWS, A_COLS }, a, sizeof(a) },
		{ "b.w", "F32", 2, { B_ROWS, B_COLS }, b, sizeof(b) },
	};
	struct cxlms_import_opts o = { .tile_rows = TILE_ROWS };
	char *st = tu_path(f->dir, "m.safetensors");
	size_t i;

	for (i = 0; i < A_ROWS * A_COLS; i++)
		a[i] = (float)tu_heavy(&s);
	for (i = 0; i < B_ROWS * B_COLS; i++)
		b[i] = (float)tu_heavy(&s);
	assert_int_equal(tu_st_write(st, t, 2), 0);
	assert_int_equal(cxlms_import_safetensors(f->ctx, st, f->path, &o), 0);
	free(st);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	f->path = tu_path(f->dir, "m.cxlms");
	f->ctx = tu_ctx(&f->lc);
	make_store(f);
	assert_int_equal(cxlms_open(f->ctx, f->path, CXLMS_OPEN_RDWR, &f->rw), 0);
	assert_int_equal(cxlms_open(f->ctx, f->path, 0, &f->ro), 0);
	strcpy(f->pctx[0].name, "quality");
	strcpy(f->pctx[1].name, "short");
	strcpy(f->pctx[2].name, "mixed");
	memset(f->maps, 8, N_TILES);
	memset(f->maps + N_TILES, 3, N_TILES);
	/* mixed: a.w tiles 8,6,4,2; b.w tiles 1,7 */
	memcpy(f->maps + 2 * N_TILES, (uint8_t[]){ 8, 6, 4, 2, 1, 7 }, N_TILES);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cxlms_policy_writer_close(f->w);
	cxlms_store_unref(f->ro);
	cxlms_store_unref(f->rw);
	cxlms_unref(f->ctx);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

static void publish(struct fx *f, unsigned int n, unsigned int def)
{
	uint64_t gen;

	if (!f->w)
		assert_int_equal(cxlms_policy_writer_open(f->rw, &f->w), 0);
	assert_int_equal(cxlms_policy_writer_publish(f->w, n, def, f->pctx, f->maps,
						     &gen), 0);
}

static struct cxlms_tensor *tensor(struct cxlms_store *s, const char *name)
{
	struct cxlms_tensor *t;

	assert_int_equal(cxlms_tensor_lookup(s, name, &t), 0);
	return t;
}

static void test_no_maps_yet(void **state)
{
	struct fx *f = *state;
	uint8_t bits[4];

	assert_int_equal(cxlms_set_context(f->ro, "short"), -ENODATA);
	assert_int_equal(cxlms_policy_get_bits(tensor(f->ro, "a.w"), 0, 4, bits, NULL),
			 -ENODATA);
	assert_int_equal(cxlms_fetch_size(tensor(f->ro, "a.w"), 0, 1, CXLMS_BITS_POLICY,
					  CXLMS_OUT_PLANES, 0), -ENODATA);
}

static void test_set_context_unknown(void **state)
{
	struct fx *f = *state;
	char name[CXLMS_CONTEXT_NAME_MAX];

	publish(f, 3, 0);
	assert_int_equal(cxlms_set_context(f->ro, "short"), 0);
	assert_int_equal(cxlms_set_context(f->ro, "fast"), -ENOENT);
	assert_int_equal(cxlms_set_context(f->ro, "bad name"), -ENOENT);
	/* The handle keeps its previous context. */
	assert_int_equal(cxlms_get_context(f->ro, name, sizeof(name)), 0);
	assert_string_equal(name, "short");
	assert_int_equal(cxlms_get_context(f->ro, name, 3), -ERANGE);
}

static void test_default_context_followed(void **state)
{
	struct fx *f = *state;
	char name[CXLMS_CONTEXT_NAME_MAX];
	uint8_t bits[2];

	publish(f, 3, 1);
	assert_int_equal(cxlms_get_context(f->ro, name, sizeof(name)), 0);
	assert_string_equal(name, "short");
	assert_int_equal(cxlms_policy_get_bits(tensor(f->ro, "b.w"), 0, 2, bits, NULL), 0);
	assert_int_equal(bits[0], 3);
	/* The daemon switches the default: handles that follow it switch. */
	publish(f, 3, 2);
	assert_int_equal(cxlms_policy_get_bits(tensor(f->ro, "b.w"), 0, 2, bits, NULL), 0);
	assert_int_equal(bits[0], 1);
	assert_int_equal(bits[1], 7);
	/* An explicit context is not moved by the default. */
	assert_int_equal(cxlms_set_context(f->ro, "quality"), 0);
	publish(f, 3, 1);
	assert_int_equal(cxlms_policy_get_bits(tensor(f->ro, "b.w"), 0, 2, bits, NULL), 0);
	assert_int_equal(bits[0], 8);
	/* NULL goes back to following the default. */
	assert_int_equal(cxlms_set_context(f->ro, NULL), 0);
	assert_int_equal(cxlms_policy_get_bits(tensor(f->ro, "b.w"), 0, 2, bits, NULL), 0);
	assert_int_equal(bits[0], 3);
}

/* A policy fetch equals an explicit fetch at the map's bits, tile by tile. */
static void test_policy_fetch_matches_explicit(void **state)
{
	struct fx *f = *state;
	struct cxlms_tensor *a = tensor(f->ro, "a.w");
	static const uint8_t want[4] = { 8, 6, 4, 2 };
	struct cxlms_stats s0, s1, s2;
	int64_t size, n, off = 0, one;
	uint8_t *pb, *eb;
	unsigned int i;

	publish(f, 3, 0);
	assert_int_equal(cxlms_set_context(f->ro, "mixed"), 0);
	size = cxlms_fetch_size(a, 0, 4, CXLMS_BITS_POLICY, CXLMS_OUT_PACKED, 0);
	assert_true(size > 0);
	pb = malloc((size_t)size);
	eb = malloc((size_t)size);
	assert_non_null(pb);
	assert_non_null(eb);
	assert_int_equal(cxlms_fetch_tiles(f->ro, a, 0, 4, CXLMS_BITS_POLICY,
					   CXLMS_OUT_PACKED, 0, pb, (size_t)size - 1), -ENOSPC);
	cxlms_tensor_get_stats(a, &s0);
	n = cxlms_fetch_tiles(f->ro, a, 0, 4, CXLMS_BITS_POLICY, CXLMS_OUT_PACKED, 0,
			      pb, (size_t)size);
	assert_int_equal(n, size);
	cxlms_tensor_get_stats(a, &s1);
	for (i = 0; i < 4; i++) {
		one = cxlms_fetch(f->ro, a, i, want[i], CXLMS_OUT_PACKED, 0, eb + off,
				  (size_t)(size - off));
		assert_true(one > 0);
		off += one;
	}
	assert_int_equal(off, size);
	assert_memory_equal(pb, eb, (size_t)size);
	cxlms_tensor_get_stats(a, &s2);
	/* Same bytes read from the store, plane by plane. */
	for (i = 0; i < CXLMS_MAX_PLANES; i++)
		assert_int_equal(s1.plane_bytes[i] - s0.plane_bytes[i],
				 s2.plane_bytes[i] - s1.plane_bytes[i]);
	assert_int_equal(s1.side_bytes - s0.side_bytes, s2.side_bytes - s1.side_bytes);
	/* Plane 2 (the third) is read by the tiles at 8, 6 and 4 bits only. */
	assert_int_equal(s1.plane_bytes[2] - s0.plane_bytes[2],
			 3 * (TILE_ROWS * A_COLS / 8));
	free(pb);
	free(eb);
}

struct policy_pieces {
	unsigned int calls, want_bits;
	const uint8_t *ref;	/* the explicit fetch at the map's bits */
	uint64_t off;
	bool bad;
};

static int policy_consumer(void *arg, const struct cxlms_piece *p)
{
	struct policy_pieces *c = arg;

	c->calls++;
	c->bad |= p->bits != c->want_bits || memcmp(p->data, c->ref + c->off, p->data_len);
	c->off += p->data_len;
	return 0;
}

/* Pieces with CXLMS_BITS_POLICY: each tile at the map's bits, the same bytes. */
static void test_policy_pieces(void **state)
{
	static const uint8_t want[4] = { 8, 6, 4, 2 };
	static uint8_t ref[1 << 16];
	struct fx *f = *state;
	struct cxlms_tensor *a = tensor(f->ro, "a.w");
	struct policy_pieces c = { 0 };
	struct cxlms_fetch_info fi;
	unsigned int i;

	/* No maps yet: refused before any piece. */
	assert_int_equal(cxlms_fetch_pieces(f->ro, a, 0, CXLMS_BITS_POLICY, CXLMS_OUT_INT, 0,
					    1, policy_consumer, &c), -ENODATA);
	assert_int_equal(c.calls, 0);
	publish(f, 3, 0);
	assert_int_equal(cxlms_set_context(f->ro, "mixed"), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(cxlms_fetch_info(a, i, want[i], CXLMS_OUT_PACKED, 0, &fi), 0);
		assert_int_equal(cxlms_fetch(f->ro, a, i, want[i], CXLMS_OUT_PACKED, 0, ref,
					     sizeof(ref)), (int64_t)fi.total);
		c = (struct policy_pieces){ .want_bits = want[i], .ref = ref };
		assert_int_equal(cxlms_fetch_pieces(f->ro, a, i, CXLMS_BITS_POLICY,
						    CXLMS_OUT_PACKED, 0, 1, policy_consumer, &c), 0);
		assert_int_equal(c.calls, TILE_ROWS * A_COLS / 512);	/* pieces of one block */
		assert_false(c.bad);
		assert_int_equal(c.off, fi.data_len);
	}
}

static void test_fetch_info_policy(void **state)
{
	struct fx *f = *state;
	struct cxlms_fetch_info pi, ei;

	publish(f, 3, 2);
	assert_int_equal(cxlms_fetch_info(tensor(f->ro, "a.w"), 1, CXLMS_BITS_POLICY,
					  CXLMS_OUT_PLANES, 0, &pi), 0);
	assert_int_equal(cxlms_fetch_info(tensor(f->ro, "a.w"), 1, 6, CXLMS_OUT_PLANES,
					  0, &ei), 0);
	assert_memory_equal(&pi, &ei, sizeof(pi));
}

static void test_bad_range(void **state)
{
	struct fx *f = *state;
	uint8_t bits[8];

	publish(f, 3, 0);
	assert_int_equal(cxlms_policy_get_bits(tensor(f->ro, "a.w"), 3, 2, bits, NULL),
			 -EINVAL);
	assert_int_equal(cxlms_policy_get_bits(tensor(f->ro, "a.w"), 0, 0, bits, NULL),
			 -EINVAL);
	assert_int_equal(cxlms_policy_get_bits(tensor(f->ro, "a.w"), 4, 1, bits, NULL),
			 -EINVAL);
}

static void test_context_removed(void **state)
{
	struct fx *f = *state;
	uint8_t bits[1];

	publish(f, 3, 0);
	assert_int_equal(cxlms_set_context(f->ro, "mixed"), 0);
	publish(f, 2, 0);	/* a reload dropped "mixed" */
	assert_int_equal(cxlms_policy_get_bits(tensor(f->ro, "a.w"), 0, 1, bits, NULL),
			 -ENOENT);
	assert_logged(&f->lc, "no longer in the precision maps");
}

static void test_second_writer_busy(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_writer *w2;
	struct cxlms_store *rw2;

	publish(f, 1, 0);
	assert_int_equal(cxlms_open(f->ctx, f->path, CXLMS_OPEN_RDWR, &rw2), 0);
	assert_int_equal(cxlms_policy_writer_open(rw2, &w2), -EBUSY);
	assert_logged(&f->lc, "another policy writer");
	cxlms_store_unref(rw2);
}

static void test_writer_read_only(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_writer *w2;

	assert_int_equal(cxlms_policy_writer_open(f->ro, &w2), -EROFS);
}

static void test_publish_too_many_contexts(void **state)
{
	struct fx *f = *state;
	uint64_t gen;

	publish(f, 1, 0);
	/* More contexts than a slot may name (checked before any is read). */
	assert_int_equal(cxlms_policy_writer_publish(f->w, CXLMS_POLICY_MAX_CONTEXTS + 1, 0,
						     f->pctx, f->maps, &gen), -EINVAL);
}

/* Scribble over the live slot: readers refuse it by checksum. */
static void test_damaged_slot(void **state)
{
	struct fx *f = *state;
	const struct cxlms_sb *sb = &f->rw->sb;
	uint8_t bits[1], byte;
	uint64_t gen;
	int fd;

	publish(f, 3, 0);
	gen = cxlms_policy_writer_generation(f->w);
	fd = open(f->path, O_RDWR);
	assert_true(fd >= 0);
	/* Slot (gen & 1) starts at area + 256 + (gen & 1) * slot_bytes; hit its context table. */
	{
		uint64_t slot = sb->policy_off + CXLMS_POLICY_SLOTS_OFF +
				(gen & 1) * cxlms_policy_writer_slot_bytes(f->w);

		assert_int_equal(pread(fd, &byte, 1, (off_t)(slot + 100)), 1);
		byte ^= 0x55;
		assert_int_equal(pwrite(fd, &byte, 1, (off_t)(slot + 100)), 1);
	}
	close(fd);
	assert_int_equal(cxlms_policy_get_bits(tensor(f->ro, "a.w"), 0, 1, bits, NULL),
			 -EBADMSG);
	assert_logged(&f->lc, "checksum");
}

struct race {
	struct cxlms_tensor *t;
	volatile int stop;
	unsigned long reads, mixed, errors;
	unsigned long *progress;	/* reads of all readers, live */
};

static void *reader(void *arg)
{
	struct race *r = arg;
	uint8_t bits[4];
	unsigned long reads = 0, mixed = 0, errors = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		uint64_t gen;

		if (cxlms_policy_get_bits(r->t, 0, 4, bits, &gen)) {
			errors++;
			continue;
		}
		reads++;
		__atomic_fetch_add(r->progress, 1, __ATOMIC_RELAXED);
		/* Generation g's map is all ((g % 8) + 1): anything else is a mix. */
		if (bits[0] != bits[1] || bits[1] != bits[2] || bits[2] != bits[3] ||
		    bits[0] != (gen % 8) + 1)
			mixed++;
	}
	r->reads += reads;
	r->mixed += mixed;
	r->errors += errors;
	return NULL;
}

/*
 * End to end through the library while the writer publishes: every answer
 * is one generation's map.  (Maps here are 4 bytes, so a torn copy is
 * rare; test_policy_format races 60 KB maps and fails without the retry.)
 */
static void test_atomic_replacement(void **state)
{
	struct fx *f = *state;
	unsigned long progress = 0;
	struct race r[2] = { { .t = tensor(f->ro, "a.w"), .progress = &progress },
			     { .t = tensor(f->ro, "a.w"), .progress = &progress } };
	pthread_t th[2];
	uint64_t gen = 0;
	time_t t0 = time(NULL);
	int i;

	publish(f, 1, 0);
	gen = cxlms_policy_writer_generation(f->w);
	memset(f->maps, (int)(((gen + 1) % 8) + 1), N_TILES);
	publish(f, 1, 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, &r[i]), 0);
	/* At least 3000 publishes, and until the readers got going (2 cores). */
	for (i = 0; i < 3000 || (__atomic_load_n(&progress, __ATOMIC_RELAXED) < 50000 &&
				 time(NULL) - t0 < 5); i++) {
		uint64_t next = cxlms_policy_writer_generation(f->w) + 1;

		memset(f->maps, (int)((next % 8) + 1), N_TILES);
		assert_int_equal(cxlms_policy_writer_publish(f->w, 1, 0, f->pctx, f->maps,
							     &gen), 0);
		assert_int_equal(gen, next);
	}
	for (i = 0; i < 2; i++) {
		__atomic_store_n(&r[i].stop, 1, __ATOMIC_RELAXED);
		pthread_join(th[i], NULL);
	}
	print_message("# reads %lu + %lu, mixed %lu, errors %lu\n", r[0].reads,
		      r[1].reads, r[0].mixed + r[1].mixed, r[0].errors + r[1].errors);
	assert_int_equal(r[0].mixed + r[1].mixed, 0);
	assert_int_equal(r[0].errors + r[1].errors, 0);
	assert_true(r[0].reads + r[1].reads > 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_no_maps_yet),
		T(test_set_context_unknown),
		T(test_default_context_followed),
		T(test_policy_fetch_matches_explicit),
		T(test_fetch_info_policy),
		T(test_policy_pieces),
		T(test_bad_range),
		T(test_context_removed),
		T(test_second_writer_busy),
		T(test_writer_read_only),
		T(test_publish_too_many_contexts),
		T(test_damaged_slot),
		T(test_atomic_replacement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
