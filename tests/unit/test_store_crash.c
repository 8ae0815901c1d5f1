// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Crash consistency of store metadata updates (format.md 1.5), by
 * recorded writes: a writer that updates a store the way cxlms.ko does
 * (bump allocation, CREATE = zeroed CRC array + cxlms_update_plan(),
 * tile writes, SEAL = CRC array + cxlms_update_plan()) logs every write
 * it makes.  The log is then replayed onto the initial image cut at every
 * write boundary, and inside every write at every 64-byte line (a torn
 * write; for superblock writes every subset of its lines, since cache
 * lines may land in any order).  Each image must open (cxlms_store_pick)
 * with exactly the state of the last update whose superblock landed,
 * every tensor sealed in that state CRC-clean and byte-identical to
 * what was written; a writer reopening the crashed image must be able
 * to go on without harming that state.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store_format.h"

#define STORE_BYTES	(256u << 10)
#define DIR_CAP		8
#define DIR_OFF		CXLMS_SB_BYTES
#define CRC_OFF		(DIR_OFF + 2 * DIR_CAP * 512)	/* DUAL: two copies */
#define DATA_OFF	(CRC_OFF + 4096)
#define LINE		64
#define MAX_WRITES	256
#define MAX_STATES	64

struct wlog {
	uint64_t off, len;
	uint8_t *bytes;
	int state;		/* superblock write: the state it commits, else -1 */
};

struct state {
	struct cxlms_sb sb;
	struct cxlms_dirent dir[DIR_CAP];
};

/* A writer with kernel-style copies of the superblock and directory. */
struct writer {
	uint8_t *img;
	struct cxlms_sb sb;
	struct cxlms_dirent dir[DIR_CAP];
	struct cxlms_update_track track;
	uint64_t crc_next;
	/* the log, and the committed states (state 0: the initial image) */
	struct wlog log[MAX_WRITES];
	unsigned n_log;
	struct state states[MAX_STATES];
	unsigned n_states;
	uint64_t rng;
};

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static void w_write(struct writer *w, uint64_t off, const void *src,
		    uint64_t len, int state)
{
	struct wlog *l = &w->log[w->n_log++];

	assert_true(w->n_log <= MAX_WRITES);
	assert_true(off + len <= STORE_BYTES);
	l->off = off;
	l->len = len;
	l->bytes = malloc(len);
	assert_non_null(l->bytes);
	if (src)
		memcpy(l->bytes, src, len);
	else
		memset(l->bytes, 0, len);
	l->state = state;
	memcpy(w->img + off, l->bytes, len);
}

static void w_commit(struct writer *w, uint32_t changed)
{
	struct cxlms_meta_write mw[2];
	int i, n = cxlms_update_plan(&w->sb, w->dir, changed, &w->track, mw);
	struct state *st = &w->states[w->n_states];

	uint64_t old_copy = DIR_OFF + ((w->sb.generation - 1) & 1) * DIR_CAP * 512ull;

	assert_true(n >= 1 && n <= 2);
	/* The committed slot and copy are never written. */
	assert_int_not_equal(mw[n - 1].off,
			     cxlms_sb_slot_off((uint32_t)((w->sb.generation - 1) & 1)));
	if (n == 2)
		assert_true(mw[0].off + mw[0].len <= old_copy ||
			    mw[0].off >= old_copy + DIR_CAP * 512ull);
	st->sb = w->sb;
	memcpy(st->dir, w->dir, sizeof(st->dir));
	for (i = 0; i < n; i++)
		w_write(w, mw[i].off, mw[i].src, mw[i].len,
			i == n - 1 ? (int)w->n_states : -1);
	w->n_states++;
}

/* A fresh DUAL store at generation @gen (even: slot 0), written unlogged. */
static void w_format(struct writer *w, uint64_t gen)
{
	struct cxlms_sb *sb = &w->sb;

	memset(w, 0, sizeof(*w));
	w->img = calloc(1, STORE_BYTES);
	assert_non_null(w->img);
	w->rng = gen ^ 0x5eed;
	memcpy(sb->magic, CXLMS_STORE_MAGIC, sizeof(sb->magic));
	sb->version = CXLMS_STORE_VERSION;
	sb->sb_len = sizeof(*sb);
	sb->feature_incompat = CXLMS_FEAT_INCOMPAT_DUAL | CXLMS_FEAT_INCOMPAT_TIGHT;
	sb->store_bytes = STORE_BYTES;
	memset(sb->uuid, 0xa7, sizeof(sb->uuid));
	sb->generation = gen;
	sb->dir_off = DIR_OFF;
	sb->dir_capacity = DIR_CAP;
	sb->dir_crc = cxlms_dir_crc(NULL, 0);
	sb->data_off = DATA_OFF;
	sb->data_bytes = STORE_BYTES - DATA_OFF;
	cxlms_sb_seal(sb);
	memcpy(w->img + cxlms_sb_slot_off(cxlms_sb_slot(sb)), sb, sizeof(*sb));
	w->track.copy_gen[cxlms_sb_slot(sb)] = gen;
	w->crc_next = CRC_OFF;
	w->states[0].sb = *sb;
	w->n_states = 1;
}

/* A writer reopening @img: what cxlms_store_pick chose, nothing tracked. */
static void w_reopen(struct writer *w, uint8_t *img)
{
	char why[256];
	uint32_t i;

	memset(w, 0, sizeof(*w));
	w->img = img;
	w->rng = 77;
	assert_int_equal(cxlms_store_pick(img, STORE_BYTES, &w->sb, NULL, why,
					  sizeof(why)), 0);
	memcpy(w->dir, img + cxlms_sb_dir_copy(&w->sb),
	       w->sb.dir_count * sizeof(w->dir[0]));
	w->crc_next = CRC_OFF;
	for (i = 0; i < w->sb.dir_count; i++)
		if (w->dir[i].crc_off + 4ull * w->dir[i].n_tiles > w->crc_next)
			w->crc_next = w->dir[i].crc_off + 4ull * w->dir[i].n_tiles;
	w->states[0].sb = w->sb;
	memcpy(w->states[0].dir, w->dir, sizeof(w->dir));
	w->n_states = 1;
}

/* CREATE of a BF16 tensor of @rows x 64 in tiles of 2 rows; its index. */
static uint32_t w_create(struct writer *w, const char *name, uint64_t rows)
{
	struct cxlms_dirent *d;
	uint32_t idx = w->sb.dir_count;
	uint64_t tiles;

	assert_true(idx < DIR_CAP);
	d = &w->dir[idx];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->src_dtype = CXLMS_DTYPE_BF16;
	d->fmt = CXLMS_FMT_BF16;
	d->ndim = 2;
	d->shape[0] = rows;
	d->shape[1] = 64;
	d->rows = rows;
	d->cols = 64;
	d->tile_rows = 2;
	d->n_tiles = (uint32_t)((rows + 1) / 2);
	if (rows % 2)
		d->flags |= CXLMS_DIRENT_SHORT_TAIL;
	d->tile_off = DATA_OFF + (w->sb.data_used + LINE - 1) / LINE * LINE;
	d->crc_off = (w->crc_next + LINE - 1) / LINE * LINE;
	tiles = cxlms_dirent_tiles_bytes(d);
	assert_true(tiles > 0);
	cxlms_dirent_seal(d);
	w->crc_next = d->crc_off + 4ull * d->n_tiles;
	w_write(w, d->crc_off, NULL, 4ull * d->n_tiles, -1);
	w->sb.dir_count = idx + 1;
	w->sb.data_used = d->tile_off + tiles - DATA_OFF;
	w_commit(w, idx);
	return idx;
}

static void w_tiles(struct writer *w, uint32_t idx)
{
	const struct cxlms_dirent *d = &w->dir[idx];
	struct cxlms_tile_span sp;
	struct cxlms_tile_geom g;
	uint16_t v[128];
	uint8_t *tile;
	uint32_t t, i;

	cxlms_dirent_geom(d, &g);
	for (t = 0; t < d->n_tiles; t++) {
		assert_int_equal(cxlms_dirent_tile(d, t, &sp, NULL), 0);
		tile = calloc(1, sp.bytes);
		assert_non_null(tile);
		for (i = 0; i < sp.elems; i++)
			v[i] = (uint16_t)lcg(&w->rng);
		assert_int_equal(cxlms_place_16(tile, &g, sp.elems, 0, v, sp.elems), 0);
		w_write(w, sp.off, tile, sp.bytes, -1);
		free(tile);
	}
}

static void w_seal(struct writer *w, uint32_t idx)
{
	struct cxlms_dirent *d = &w->dir[idx];
	struct cxlms_tile_span sp;
	uint32_t t, crcs[64];

	assert_true(d->n_tiles <= 64);
	for (t = 0; t < d->n_tiles; t++) {
		assert_int_equal(cxlms_dirent_tile(d, t, &sp, NULL), 0);
		crcs[t] = cxlms_crc32c(0, w->img + sp.off, sp.bytes);
	}
	w_write(w, d->crc_off, crcs, 4ull * d->n_tiles, -1);
	d->flags |= CXLMS_DIRENT_SEALED;
	cxlms_dirent_seal(d);
	w_commit(w, idx);
}

/* Four tensors, each created, written and sealed (as `cxlms copy`). */
static void w_copy(struct writer *w, unsigned n, const char *prefix)
{
	char name[32];
	unsigned i;

	for (i = 0; i < n; i++) {
		uint32_t idx;

		snprintf(name, sizeof(name), "%s.%u", prefix, i);
		idx = w_create(w, name, 3 + i);
		w_tiles(w, idx);
		w_seal(w, idx);
	}
}

static void w_free_log(struct writer *w)
{
	unsigned i;

	for (i = 0; i < w->n_log; i++)
		free(w->log[i].bytes);
	w->n_log = 0;
}

/* The state @img must open with: that of the last superblock that landed. */
static void expect_state(const uint8_t *img, const uint8_t *final,
			 const struct state *st, const char *where)
{
	struct cxlms_sb sb;
	char why[256];
	uint32_t i;
	int ret;

	ret = cxlms_store_pick(img, STORE_BYTES, &sb, NULL, why, sizeof(why));
	if (ret) {
		print_error("%s: store does not open: %d (%s)\n", where, ret, why);
		fail();
	}
	if (sb.generation != st->sb.generation) {
		print_error("%s: generation %llu, expected %llu\n", where,
			    (unsigned long long)sb.generation,
			    (unsigned long long)st->sb.generation);
		fail();
	}
	assert_int_equal(memcmp(&sb, &st->sb, sizeof(sb)), 0);
	assert_int_equal(memcmp(img + cxlms_sb_dir_copy(&sb), st->dir,
				sb.dir_count * sizeof(st->dir[0])), 0);
	assert_int_equal(cxlms_dir_check(img, STORE_BYTES, why, sizeof(why)), 0);
	for (i = 0; i < sb.dir_count; i++) {
		const struct cxlms_dirent *d = &st->dir[i];
		uint64_t len = cxlms_dirent_tiles_bytes(d);

		if (!(d->flags & CXLMS_DIRENT_SEALED))
			continue;
		if (cxlms_tile_crc_check(img, d, why, sizeof(why))) {
			print_error("%s: sealed %s: %s\n", where, d->name, why);
			fail();
		}
		/* Byte-identical to what the writer left at the end. */
		assert_int_equal(memcmp(img + d->tile_off, final + d->tile_off, len), 0);
		assert_int_equal(memcmp(img + d->crc_off, final + d->crc_off,
					4ull * d->n_tiles), 0);
	}
}

/*
 * Replay @w's log onto @base: writes [0, k) whole, then the lines of
 * write k in @mask (bit j = line j; only the first 64 lines can be
 * chosen, the rest follow bit 63).  The state: the last one whose
 * superblock bytes are all on the image.
 */
static int replay(const struct writer *w, const uint8_t *base, uint8_t *img,
		  unsigned k, uint64_t mask)
{
	const struct wlog *l;
	int state = 0;
	unsigned i;
	uint64_t j;

	memcpy(img, base, STORE_BYTES);
	for (i = 0; i < k; i++) {
		l = &w->log[i];
		memcpy(img + l->off, l->bytes, l->len);
		if (l->state >= 0)
			state = l->state;
	}
	if (k == w->n_log)
		return state;
	l = &w->log[k];
	for (j = 0; j * LINE < l->len; j++) {
		uint64_t n = l->len - j * LINE < LINE ? l->len - j * LINE : LINE;

		if (mask >> (j < 63 ? j : 63) & 1)
			memcpy(img + l->off + j * LINE, l->bytes + j * LINE, n);
	}
	/* A torn superblock write that happened to land whole commits. */
	if (l->state >= 0 && !memcmp(img + l->off, l->bytes, l->len))
		state = l->state;
	return state;
}

/* Every prefix, every torn write: old or new state, nothing else. */
static void check_all_prefixes(struct writer *w, const uint8_t *base,
			       unsigned *images)
{
	uint8_t *img = malloc(STORE_BYTES);
	char where[96];
	unsigned k;

	assert_non_null(img);
	for (k = 0; k <= w->n_log; k++) {
		const struct wlog *l = k < w->n_log ? &w->log[k] : NULL;
		uint64_t lines = l ? (l->len + LINE - 1) / LINE : 0, m;
		int st;

		snprintf(where, sizeof(where), "after %u of %u writes", k, w->n_log);
		st = replay(w, base, img, k, 0);
		expect_state(img, w->img, &w->states[st], where);
		(*images)++;
		if (!l)
			break;
		if (l->state >= 0 && lines <= 8) {
			/* Superblock: any subset of its lines may have landed. */
			for (m = 1; m < (1ull << lines) - 1; m++) {
				snprintf(where, sizeof(where),
					 "write %u (superblock) torn, lines %#llx",
					 k, (unsigned long long)m);
				st = replay(w, base, img, k, m);
				expect_state(img, w->img, &w->states[st], where);
				(*images)++;
			}
			continue;
		}
		for (m = 1; m < lines && m < 64; m++) {
			snprintf(where, sizeof(where), "write %u torn after %llu lines",
				 k, (unsigned long long)m);
			st = replay(w, base, img, k, (1ull << m) - 1);
			expect_state(img, w->img, &w->states[st], where);
			(*images)++;
		}
	}
	free(img);
}

static void run_sequence(uint64_t gen)
{
	struct writer *w = calloc(1, sizeof(*w));
	uint8_t *base = malloc(STORE_BYTES);
	unsigned images = 0;

	assert_non_null(w);
	assert_non_null(base);
	w_format(w, gen);
	/* One tensor already there: it must survive every crash below. */
	w_copy(w, 1, "old");
	memcpy(base, w->img, STORE_BYTES);
	w->states[0] = w->states[w->n_states - 1];
	w->n_states = 1;
	w_free_log(w);

	w_copy(w, 4, "new");
	assert_int_equal(w->n_states, 1 + 4 * 2);
	check_all_prefixes(w, base, &images);
	print_message("# generation %llu: %u writes, %u crash images checked\n",
		      (unsigned long long)gen, w->n_log, images);
	w_free_log(w);
	free(w->img);
	free(w);
	free(base);
}

static void test_every_prefix(void **state)
{
	run_sequence(CXLMS_SB_FIRST_GENERATION);
}

/* The same across the 64-bit wrap of the generation. */
static void test_every_prefix_wrap(void **state)
{
	run_sequence(UINT64_MAX - 5);
}

/*
 * After a crash at any write, a writer that reopens the image (knowing
 * nothing of the copies) can go on: its own updates never touch the
 * state it opened, and its result opens with everything sealed intact.
 */
static void test_reopen_after_every_crash(void **state)
{
	struct writer *w = calloc(1, sizeof(*w)), *r = calloc(1, sizeof(*r));
	uint8_t *base = malloc(STORE_BYTES), *img;
	unsigned k;

	assert_non_null(w);
	assert_non_null(r);
	assert_non_null(base);
	w_format(w, CXLMS_SB_FIRST_GENERATION);
	memcpy(base, w->img, STORE_BYTES);
	w_copy(w, 3, "a");
	for (k = 0; k <= w->n_log; k++) {
		uint8_t *before = malloc(STORE_BYTES);
		char where[64];
		unsigned base_states;
		int st;

		img = malloc(STORE_BYTES);
		assert_non_null(img);
		assert_non_null(before);
		/* Half of write k landed (a torn write), then the restart. */
		st = replay(w, base, img, k, 1);
		memcpy(before, img, STORE_BYTES);
		w_reopen(r, img);
		assert_int_equal(r->sb.generation, w->states[st].sb.generation);
		base_states = r->sb.dir_count;
		w_copy(r, 1, "b");
		/* Every crash prefix of the new writer's updates, too. */
		snprintf(where, sizeof(where), "reopened after write %u", k);
		{
			unsigned images = 0;

			check_all_prefixes(r, before, &images);
		}
		expect_state(img, img, &r->states[r->n_states - 1], where);
		assert_int_equal(r->sb.dir_count, base_states + 1);
		w_free_log(r);
		free(before);
		free(img);
	}
	w_free_log(w);
	free(w->img);
	free(w);
	free(r);
	free(base);
}

/* An incremental update (tracked copy) writes only what changed. */
static void test_plan_incremental(void **state)
{
	struct writer *w = calloc(1, sizeof(*w));
	unsigned i;

	assert_non_null(w);
	w_format(w, CXLMS_SB_FIRST_GENERATION);
	w_copy(w, 4, "t");
	/* The last updates rewrite at most two entries of their copy. */
	for (i = 0; i < w->n_log; i++) {
		const struct wlog *l = &w->log[i];

		if (l->off >= DIR_OFF && l->off < CRC_OFF)
			assert_true(l->len <= 2 * 512);
	}
	/* Nothing tracked: from entry 0. */
	{
		struct cxlms_meta_write mw[2];
		struct cxlms_sb sb = w->sb;

		assert_int_equal(cxlms_update_plan(&sb, w->dir, 3, NULL, mw), 2);
		assert_int_equal(mw[0].off, cxlms_sb_dir_copy(&sb));
		assert_int_equal(mw[0].len, 4 * 512);
		assert_int_equal(mw[1].off, cxlms_sb_slot_off(cxlms_sb_slot(&sb)));
		assert_int_equal(mw[1].len, sizeof(sb));
		assert_ptr_equal(mw[1].src, &sb);
	}
	w_free_log(w);
	free(w->img);
	free(w);
}

/* A single-copy store (before DUAL) is updated in place, entry by entry. */
static void test_plan_single_copy(void **state)
{
	struct cxlms_dirent dir[3];
	struct cxlms_meta_write mw[2];
	struct cxlms_sb sb;

	memset(&sb, 0, sizeof(sb));
	memset(dir, 0, sizeof(dir));
	sb.dir_off = DIR_OFF;
	sb.dir_capacity = 8;
	sb.dir_count = 3;
	sb.generation = 7;
	assert_int_equal(cxlms_update_plan(&sb, dir, 1, NULL, mw), 2);
	assert_int_equal(sb.generation, 8);
	assert_int_equal(mw[0].off, DIR_OFF + 512);
	assert_int_equal(mw[0].len, 2 * 512);
	assert_int_equal(mw[1].off, 0);
	assert_int_equal(sb.dir_crc, cxlms_dir_crc(dir, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_every_prefix_wrap),
		cmocka_unit_test(test_reopen_after_every_crash),
		cmocka_unit_test(test_plan_incremental),
		cmocka_unit_test(test_plan_single_copy),
	};

	return cmocka_run_group_tests_name("store_crash", tests, NULL, NULL);
}
