// SPDX-License-Identifier: GPL-2.0
/*
 * multihost-b: guest B of the shared-pool test (multihost-guest.sh).  No
 * module: B maps the region through /dev/mem and, while guest A's loop
 * attaches, fetches, verifies and creates tensors on the same memory,
 * rewrites A's store underneath it:
 *   (1) random garbage over the superblock, its page, directory entries
 *       and tile bytes;
 *   (2) crafted superblocks and directory entries whose CRCs are VALID
 *       (computed with the project's codec: cxlms_sb_seal(),
 *       cxlms_dirent_seal(), cxlms_dir_crc()) but whose fields are out of
 *       range: areas past the end or wrapping, counts over capacity, a
 *       capacity whose 32-bit byte size wraps, data_used > data_bytes,
 *       tile/CRC ranges outside or overlapping, impossible geometry, ...;
 *   (3) flipped bytes in the tiles of a sealed tensor.
 * Each attack is based on a fresh, validated copy of A's current
 * superblock and directory (so offsets follow whatever A wrote), is held
 * for 100-400 ms, then undone where the bytes are still B's (A may have
 * rewritten them meanwhile).  The layout comes from the codec's structures
 * and helpers (store_format.h; docs/format.md 1.1, 1.2, 1.5): the current
 * superblock slot as cxlms_store_pick() chooses it, its directory copy at
 * cxlms_sb_dir_copy(), tile spans from cxlms_dirent_tile().  A crafted
 * superblock goes into the current slot or, half the time, into the other
 * slot with the next generation: a newer slot that must be refused.
 *
 *   multihost-b START SIZE SECONDS [--watch-only] [--wait S] [--tap-base N]
 * START/SIZE: the region (CXLMS_REGION_START/SIZE); SECONDS: how long to
 * attack.  --watch-only: join and wait, never write (negative control).
 * Prints TAP lines numbered from N + 1.  Exit 0 ok, 1 a check failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxlms_util.h"
#include "store_format.h"
#include "multihost-mbox.h"

#define PROG		"multihost-b"
static double wait_s = 120;	/* --wait: for A; both guests boot at once under TCG */
#define MAX_ENTRIES	4096u	/* B's copy of the directory */
#define MAX_PATCH	8
#define PATCH_BYTES	4096u

static const char *const atk_name[MH_ATK_N] = {
	[MH_ATK_GARBAGE_SB] = "garbage superblock",
	[MH_ATK_GARBAGE_SB_PAGE] = "garbage superblock page",
	[MH_ATK_GARBAGE_DIR] = "garbage directory entries",
	[MH_ATK_GARBAGE_TILE] = "garbage tile bytes",
	[MH_ATK_DIR_OFF_PAST_END] = "dir_off past the end",
	[MH_ATK_DIR_OFF_WRAP] = "dir_off wrapping",
	[MH_ATK_DIR_COUNT_OVER_CAP] = "dir_count > dir_capacity",
	[MH_ATK_DIR_CAP_WRAP32] = "dir_capacity * 512 wraps 32 bits",
	[MH_ATK_DATA_USED_OVER] = "data_used > data_bytes",
	[MH_ATK_DATA_PAST_END] = "data area past the end",
	[MH_ATK_STORE_BYTES_OVER] = "store_bytes > region",
	[MH_ATK_POLICY_OVER_DIR] = "policy area over the directory",
	[MH_ATK_VERSION] = "unknown version",
	[MH_ATK_INCOMPAT] = "unknown incompat feature",
	[MH_ATK_TILE_PAST_END] = "tile_off past the end",
	[MH_ATK_TILE_WRAP] = "tile_off + length wraps",
	[MH_ATK_TILE_OVERLAP] = "two tensors' tiles overlap",
	[MH_ATK_CRC_PAST_END] = "crc_off past the end",
	[MH_ATK_NTILES_HUGE] = "n_tiles huge",
	[MH_ATK_ROWS_MISMATCH] = "rows do not match the shape",
	[MH_ATK_TILE_ROWS_ZERO] = "tile_rows zero",
	[MH_ATK_FMT] = "unknown format",
	[MH_ATK_FLAGS] = "unknown entry flag",
	[MH_ATK_DUP_NAME] = "duplicate names",
	[MH_ATK_TILE_FLIP] = "one tile byte flipped",
	[MH_ATK_TILE_FLIP_MANY] = "64 bytes flipped in every tile",
};

static uint8_t *store;		/* the region's first MH_STORE_BYTES */
static struct mh_mbox *mb;
static uint64_t rng = 0x6d686f7374;	/* "mhost"; mixed with A's nonce */
static struct cxt_tap ts = { .prefix = "mhost B: " };


static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* --- A's store as B last saw it valid ------------------------------------- */

static struct cxlms_sb sb;
static struct cxlms_dirent dir[MAX_ENTRIES];

/*
 * The store's current metadata, copied and validated with the codec (the
 * same checks A's module runs).  The directory entries in use are the
 * first dir_count of the copy the current slot names (format.md 1.5).  Retries while A is in the
 * middle of an update or an earlier restore lost a race; false if the store
 * never validated (then the last good copy stays).
 */
static bool snapshot(void)
{
	static struct cxlms_sb s2;
	static struct cxlms_dirent d2[MAX_ENTRIES];
	char why[128];
	int i;

	for (i = 0; i < 50; i++, mh_sleep_ms(10)) {
		if (cxlms_store_pick(store, MH_STORE_BYTES, &s2, NULL, why, sizeof(why)))
			continue;
		if (s2.dir_count > MAX_ENTRIES)
			continue;
		memcpy(d2, store + cxlms_sb_dir_copy(&s2), (size_t)s2.dir_count * sizeof(d2[0]));
		if (cxlms_dir_check_at(&s2, d2, MH_STORE_BYTES, why, sizeof(why)))
			continue;
		sb = s2;
		memcpy(dir, d2, (size_t)s2.dir_count * sizeof(d2[0]));
		return true;
	}
	return false;
}

/* --- patches: write, hold, undo where still ours -------------------------- */

struct patch {
	uint64_t off;
	uint32_t len;
	uint8_t orig[PATCH_BYTES];
	uint8_t mine[PATCH_BYTES];
};

static struct patch patches[MAX_PATCH];
static unsigned int n_patches;

/* Queue @len bytes at store offset @off (later ones are written later). */
static uint8_t *patch_add(uint64_t off, uint32_t len)
{
	struct patch *p;

	if (n_patches == MAX_PATCH || len > PATCH_BYTES || off > MH_STORE_BYTES ||
	    len > MH_STORE_BYTES - off)
		return NULL;
	p = &patches[n_patches++];
	p->off = off;
	p->len = len;
	memcpy(p->mine, store + off, len);
	return p->mine;
}

static void patches_apply(void)
{
	unsigned int i;

	for (i = 0; i < n_patches; i++) {
		memcpy(patches[i].orig, store + patches[i].off, patches[i].len);
		memcpy(store + patches[i].off, patches[i].mine, patches[i].len);
	}
	__sync_synchronize();
}

/*
 * Undo in reverse order, 64 bytes at a time: a chunk A rewrote since keeps
 * A's bytes (A writes whole superblocks and entries, multiples of 64 at
 * 64-aligned offsets), the others get the bytes from before the attack.
 */
static unsigned int patches_undo(void)
{
	unsigned int i, kept = 0;

	for (i = n_patches; i-- > 0;) {
		struct patch *p = &patches[i];
		uint32_t c, n;

		for (c = 0; c < p->len; c += n) {
			n = p->len - c < 64 ? p->len - c : 64;
			if (memcmp(store + p->off + c, p->mine + c, n)) {
				kept++;
				continue;
			}
			memcpy(store + p->off + c, p->orig + c, n);
		}
	}
	__sync_synchronize();
	n_patches = 0;
	return kept;
}

static void fill_random(uint8_t *p, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
}

/*
 * A crafted superblock: @sb2 changed by the caller, resealed, queued last
 * (a reader sees the directory patch before the superblock that covers it).
 * @newer: as the next generation, into the other slot.
 */
static bool patch_sb(struct cxlms_sb *sb2, bool newer)
{
	uint8_t *p;

	if (newer && (sb2->feature_incompat & CXLMS_FEAT_INCOMPAT_DUAL))
		sb2->generation++;
	cxlms_sb_seal(sb2);
	p = patch_add(cxlms_sb_slot_off(cxlms_sb_slot(sb2)), sizeof(*sb2));
	if (!p)
		return false;
	memcpy(p, sb2, sizeof(*sb2));
	return true;
}

/*
 * Crafted entries: entry @i (and @j if not -1) replaced by @di (@dj),
 * each resealed, dir_crc recomputed over the changed directory, the
 * superblock resealed: every checksum valid.
 */
static bool patch_dirents(int i, const struct cxlms_dirent *di, int j,
			  const struct cxlms_dirent *dj)
{
	static struct cxlms_dirent d2[MAX_ENTRIES];
	struct cxlms_sb sb2 = sb;
	uint8_t *p;

	memcpy(d2, dir, (size_t)sb.dir_count * sizeof(d2[0]));
	d2[i] = *di;
	cxlms_dirent_seal(&d2[i]);
	if (j >= 0) {
		d2[j] = *dj;
		cxlms_dirent_seal(&d2[j]);
	}
	p = patch_add(cxlms_sb_dir_copy(&sb) + (uint64_t)i * sizeof(d2[0]), sizeof(d2[0]));
	if (!p)
		return false;
	memcpy(p, &d2[i], sizeof(d2[0]));
	if (j >= 0) {
		p = patch_add(cxlms_sb_dir_copy(&sb) + (uint64_t)j * sizeof(d2[0]), sizeof(d2[0]));
		if (!p)
			return false;
		memcpy(p, &d2[j], sizeof(d2[0]));
	}
	sb2.dir_crc = cxlms_dir_crc(d2, sb.dir_count);
	return patch_sb(&sb2, false);
}

/* A random sealed entry, or -1. */
static int pick_sealed(void)
{
	uint32_t i, start = sb.dir_count ? (uint32_t)(rnd() % sb.dir_count) : 0;

	for (i = 0; i < sb.dir_count; i++) {
		uint32_t k = (start + i) % sb.dir_count;

		if (dir[k].flags & CXLMS_DIRENT_SEALED)
			return (int)k;
	}
	return -1;
}

/* Queue attack @a against the current snapshot; false if it does not apply. */
static bool build(enum mh_attack a)
{
	struct cxlms_sb s2 = sb;
	struct cxlms_dirent d, e;
	struct cxlms_tile_span sp;
	uint32_t n = sb.dir_count, t;
	int i = n ? (int)(rnd() % n) : -1, j;
	uint8_t *p;

	j = n >= 2 ? (i + 1 + (int)(rnd() % (n - 1))) % (int)n : -1;
	if (i >= 0)
		d = dir[i];
	if (j >= 0)
		e = dir[j];
	switch (a) {
	case MH_ATK_GARBAGE_SB:
		p = patch_add(0, sizeof(struct cxlms_sb));
		if (p)
			fill_random(p, sizeof(struct cxlms_sb));
		return p;
	case MH_ATK_GARBAGE_SB_PAGE:
		p = patch_add(0, CXLMS_SB_BYTES);
		if (p)
			fill_random(p, CXLMS_SB_BYTES);
		return p;
	case MH_ATK_GARBAGE_DIR:
		if (!n)
			return false;
		p = patch_add(cxlms_sb_dir_copy(&sb), (n < 4 ? n : 4) * sizeof(struct cxlms_dirent));
		if (p)
			fill_random(p, (n < 4 ? n : 4) * sizeof(struct cxlms_dirent));
		return p;
	case MH_ATK_GARBAGE_TILE:
		i = pick_sealed();
		if (i < 0 || cxlms_dirent_tile(&dir[i], 0, &sp, NULL))
			return false;
		p = patch_add(sp.off, sp.bytes < PATCH_BYTES ? (uint32_t)sp.bytes : PATCH_BYTES);
		if (p)
			fill_random(p, sp.bytes < PATCH_BYTES ? (uint32_t)sp.bytes : PATCH_BYTES);
		return p;
	case MH_ATK_DIR_OFF_PAST_END:
		s2.dir_off = s2.store_bytes;
		return patch_sb(&s2, rnd() & 1);
	case MH_ATK_DIR_OFF_WRAP:
		s2.dir_off = ~0ull & ~(uint64_t)(CXLMS_ALIGN - 1);
		return patch_sb(&s2, rnd() & 1);
	case MH_ATK_DIR_COUNT_OVER_CAP:
		/* The CRC covers the count claimed, read where it would be. */
		s2.dir_count = s2.dir_capacity + 1;
		s2.dir_crc = cxlms_dir_crc((const struct cxlms_dirent *)
					   (store + cxlms_sb_dir_copy(&sb)), s2.dir_count);
		return patch_sb(&s2, false);
	case MH_ATK_DIR_CAP_WRAP32:
		/* 0x800001 * 512 = 2^32 + 512: one entry in 32-bit arithmetic. */
		s2.dir_capacity = 0x800001u;
		return patch_sb(&s2, rnd() & 1);
	case MH_ATK_DATA_USED_OVER:
		s2.data_used = s2.data_bytes + CXLMS_DATA_ALIGN;
		return patch_sb(&s2, rnd() & 1);
	case MH_ATK_DATA_PAST_END:
		s2.data_bytes = s2.store_bytes - s2.data_off + CXLMS_DATA_ALIGN;
		return patch_sb(&s2, rnd() & 1);
	case MH_ATK_STORE_BYTES_OVER:
		s2.store_bytes = 2 * MH_STORE_BYTES;
		return patch_sb(&s2, rnd() & 1);
	case MH_ATK_POLICY_OVER_DIR:
		s2.policy_off = s2.dir_off;
		if (!s2.policy_bytes)
			s2.policy_bytes = CXLMS_ALIGN;
		return patch_sb(&s2, rnd() & 1);
	case MH_ATK_VERSION:
		s2.version = CXLMS_STORE_VERSION + 1;
		return patch_sb(&s2, rnd() & 1);
	case MH_ATK_INCOMPAT:
		s2.feature_incompat |= 1ull << 40;
		return patch_sb(&s2, rnd() & 1);
	case MH_ATK_TILE_PAST_END:
		if (i < 0)
			return false;
		d.tile_off = ((sb.store_bytes + CXLMS_DATA_ALIGN - 1) & ~(uint64_t)(CXLMS_DATA_ALIGN - 1));
		return patch_dirents(i, &d, -1, NULL);
	case MH_ATK_TILE_WRAP:
		if (i < 0)
			return false;
		d.tile_off = ~0ull & ~(uint64_t)(CXLMS_DATA_ALIGN - 1);
		return patch_dirents(i, &d, -1, NULL);
	case MH_ATK_TILE_OVERLAP:
		if (j < 0)
			return false;
		e.tile_off = d.tile_off;
		return patch_dirents(j, &e, -1, NULL);
	case MH_ATK_CRC_PAST_END:
		if (i < 0)
			return false;
		d.crc_off = sb.store_bytes;
		return patch_dirents(i, &d, -1, NULL);
	case MH_ATK_NTILES_HUGE:
		if (i < 0)
			return false;
		d.n_tiles = ~0u;
		return patch_dirents(i, &d, -1, NULL);
	case MH_ATK_ROWS_MISMATCH:
		if (i < 0)
			return false;
		d.rows *= 2;
		return patch_dirents(i, &d, -1, NULL);
	case MH_ATK_TILE_ROWS_ZERO:
		if (i < 0)
			return false;
		d.tile_rows = 0;
		return patch_dirents(i, &d, -1, NULL);
	case MH_ATK_FMT:
		if (i < 0)
			return false;
		d.fmt = 99;
		return patch_dirents(i, &d, -1, NULL);
	case MH_ATK_FLAGS:
		if (i < 0)
			return false;
		d.flags |= 1u << 7;
		return patch_dirents(i, &d, -1, NULL);
	case MH_ATK_DUP_NAME:
		if (j < 0)
			return false;
		memcpy(e.name, d.name, sizeof(e.name));
		return patch_dirents(j, &e, -1, NULL);
	case MH_ATK_TILE_FLIP:
		i = pick_sealed();
		if (i < 0)
			return false;
		t = (uint32_t)(rnd() % dir[i].n_tiles);
		if (cxlms_dirent_tile(&dir[i], t, &sp, NULL))
			return false;
		p = patch_add(sp.off + rnd() % sp.bytes, 1);
		if (p)
			*p ^= (uint8_t)(1u << (rnd() % 8));
		return p;
	case MH_ATK_TILE_FLIP_MANY:
		i = pick_sealed();
		if (i < 0)
			return false;
		for (t = 0; t < dir[i].n_tiles && t < MAX_PATCH; t++) {
			uint32_t k, len;

			if (cxlms_dirent_tile(&dir[i], t, &sp, NULL))
				return false;
			len = sp.bytes < 64 ? (uint32_t)sp.bytes : 64;
			p = patch_add(sp.off + rnd() % (sp.bytes - len + 1), len);
			if (!p)
				return false;
			for (k = 0; k < len; k++)
				p[k] ^= 0xff;
		}
		return true;
	default:
		return false;
	}
}

/* --- the run --------------------------------------------------------------- */

/* Wait until @cond holds or @secs pass. */
#define WAIT_FOR(cond, secs) ({						\
	double _end = mh_now() + (secs);				\
	bool _ok;							\
	while (!(_ok = (cond)) && mh_now() < _end)			\
		mh_sleep_ms(20);					\
	_ok; })

static void attack_loop(double secs)
{
	double end = mh_now() + secs;
	unsigned int round = 0, skipped = 0, kept = 0, tries;
	int a;

	while (mh_now() < end || round == 0) {
		for (a = 1; a < MH_ATK_N; a++) {
			if (round > 0 && mh_now() >= end)
				break;
			/*
			 * Right after A re-formats, the store has fewer
			 * tensors than some attacks need: retry a moment.
			 */
			for (tries = 0; tries < 25; tries++) {
				if (!snapshot())
					skipped++;	/* go on with the last good copy */
				n_patches = 0;
				if (build((enum mh_attack)a))
					break;
				n_patches = 0;
				mh_sleep_ms(20);
			}
			if (!n_patches)
				continue;
			MH_WRITE(mb->b_attack, (uint64_t)a);
			patches_apply();
			mh_sleep_ms(100 + (unsigned int)(rnd() % 300));
			kept += patches_undo();
			MH_WRITE(mb->b_attack, 0);
			MH_WRITE(mb->b_count[a], mb->b_count[a] + 1);
			MH_WRITE(mb->b_attacks, mb->b_attacks + 1);
			mh_sleep_ms(30 + (unsigned int)(rnd() % 90));
		}
		round++;
	}
	printf("# " PROG ": %" PRIu64 " attacks in %u rounds; %u times the store did not "
	       "validate before an attack (last good copy used); %u ranges rewritten by A "
	       "before the undo (64-byte chunks, A's bytes kept)\n", mb->b_attacks, round, skipped, kept);
}

int main(int argc, char **argv)
{
	uint64_t start, size;
	double secs, t0 = mh_now();
	bool watch_only = false, all = true;
	char why[128];
	int i, a;

	if (argc < 4) {
		fprintf(stderr, "usage: " PROG " START SIZE SECONDS [--watch-only] [--wait S] [--tap-base N]\n");
		return 2;
	}
	start = strtoull(argv[1], NULL, 0);
	size = strtoull(argv[2], NULL, 0);
	secs = strtod(argv[3], NULL);
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--watch-only"))
			watch_only = true;
		else if (!strcmp(argv[i], "--wait") && i + 1 < argc)
			wait_s = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--tap-base") && i + 1 < argc)
			ts.n = (unsigned int)strtoul(argv[++i], NULL, 0);
	}
	if (size < MH_STORE_BYTES + MH_MBOX_BYTES) {
		cxt_tap(&ts, false, "region of %" PRIu64 " bytes too small", size);
		return 1;
	}
	store = mh_map_phys(start, MH_STORE_BYTES);
	mb = mh_map_phys(start + size - MH_MBOX_BYTES, MH_MBOX_BYTES);
	cxt_tap(&ts, store && mb, "region mapped through /dev/mem (%s)", store && mb ? "ok" : strerror(errno));
	if (!store || !mb)
		return 1;

	/* A formats, seals its first tensors, then says READY with its uuid. */
	if (!WAIT_FOR(MH_READ(mb->magic_a) == MH_MAGIC_A &&
		      MH_READ(mb->a_state) >= MH_A_READY, wait_s)) {
		cxt_tap(&ts, false, "guest A's store appeared in the shared pool (waited %.0f s: "
		    "not shared?)", wait_s);
		return 1;
	}
	rng ^= MH_READ(mb->nonce);
	i = snapshot() ? 0 : cxlms_sb_check(store, MH_STORE_BYTES, why, sizeof(why));
	cxt_tap(&ts, !i && !memcmp(sb.uuid, mb->uuid, sizeof(sb.uuid)),
	    "sees guest A's store through the shared pool (valid, uuid as A says, %u tensors) "
	    "after %.1f s", sb.dir_count, mh_now() - t0);
	if (i)
		printf("# " PROG ": store refused: %s\n", why);

	MH_WRITE(mb->nonce_echo, MH_READ(mb->nonce));
	MH_WRITE(mb->magic_b, MH_MAGIC_B);
	MH_WRITE(mb->b_state, MH_B_WATCHING);

	/* Quiet period: A must see no error while nobody else writes. */
	if (!WAIT_FOR(MH_READ(mb->a_state) >= MH_A_QUIET_DONE, wait_s)) {
		cxt_tap(&ts, false, "guest A finished its quiet period");
		return 1;
	}
	if (watch_only) {
		printf("# " PROG ": --watch-only: writing nothing for %.0f s\n", secs);
		MH_WRITE(mb->b_state, MH_B_ATTACKING);
		mh_sleep_ms((unsigned int)(secs * 1000));
		MH_WRITE(mb->b_state, MH_B_DONE);
		cxt_tap(&ts, true, "watched for %.0f s without writing (negative control)", secs);
		return ts.fail ? 1 : 0;
	}
	MH_WRITE(mb->b_state, MH_B_ATTACKING);
	attack_loop(secs);
	MH_WRITE(mb->b_state, MH_B_DONE);
	for (a = 1; a < MH_ATK_N; a++) {
		printf("# " PROG ": %-36s %" PRIu64 "\n", atk_name[a], mb->b_count[a]);
		all = all && mb->b_count[a];
	}
	cxt_tap(&ts, all, "rewrote A's store %" PRIu64 " times concurrently with A's loop, every "
	    "kind (garbage, valid-CRC out-of-range, tile flips) at least once", mb->b_attacks);
	return ts.fail ? 1 : 0;
}
