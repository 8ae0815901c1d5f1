/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The policy area of a cxlms store: precision maps (bits per tile) for a
 * set of named contexts, written by cxlmsd and read by every process that
 * fetches with CXLMS_BITS_POLICY.  Same bytes in a store file and in CXL
 * memory; this header and policy_format.c are shared with the kernel module.
 *
 *   policy_off + 0     struct cxlms_policy_hdr   static, CRC32C protected
 *   policy_off + 128   struct cxlms_policy_seq   the generation word
 *   slot_off[0]        slot 0  \  double buffer: generation g is published
 *   slot_off[1]        slot 1  /  in slot (g & 1); g == 0: nothing yet
 *
 * A slot:
 *   0         struct cxlms_policy_slot  (counts, offsets, CRC of the slot)
 *   ctx_off   n_contexts x struct cxlms_policy_ctx (names)
 *   base_off  n_tensors + 1 u32: first tile of each tensor in the maps,
 *             directory order (tile_base[n_tensors] = n_tiles)
 *   maps_off  n_contexts maps of n_tiles u8 each: bits for every
 *             (tensor, tile), map c at maps_off + c * n_tiles
 *
 * Publishing (one writer, cxlmsd): fill the slot the next generation will
 * use, then store generation + 1 with release ordering.  Because the
 * generation selects the slot, one atomic store flips the slot and bumps
 * the counter at once.  Reading is a seqlock: load the generation
 * (acquire), read slot (g & 1), then check the generation did not move; if
 * it did, the writer may have reused the slot under us: read again.  A
 * fetch thus sees the old map or the new one, never a mix.  A map is a flat
 * u8 array so an ioctl can carry it unchanged to the kernel backend.
 */
#ifndef CXLMS_POLICY_FORMAT_H
#define CXLMS_POLICY_FORMAT_H

#include "cxlms_compat.h"

#define CXLMS_POLICY_MAGIC	"CXLMSPOL"	/* 8 bytes, no NUL */
#define CXLMS_POLICY_VERSION	1
/* Context names: [A-Za-z0-9_.-], 1..47 bytes, NUL-terminated. */
#define CXLMS_POLICY_NAME_MAX	48
/* Contexts per slot (a map each); bounds the reader's name search. */
#define CXLMS_POLICY_MAX_CONTEXTS	256
/* Where the generation word lives, its own cache line. */
#define CXLMS_POLICY_SEQ_OFF	128
#define CXLMS_POLICY_SLOTS_OFF	256

/**
 * struct cxlms_policy_hdr - static description of the policy area
 * @magic: CXLMS_POLICY_MAGIC
 * @version: CXLMS_POLICY_VERSION
 * @hdr_len: sizeof(struct cxlms_policy_hdr)
 * @area_bytes: sb.policy_bytes of the store this area belongs to
 * @slot_off: offset of each slot from the area start, 64-byte aligned
 * @slot_bytes: capacity of each slot
 * @store_uuid: sb.uuid: maps are only meaningful for that directory
 * @reserved, @pad: zero
 * @hdr_crc: CRC32C of the struct with this field read as zero
 */
struct cxlms_policy_hdr {
	cxlms_u8 magic[8];
	cxlms_u32 version;
	cxlms_u32 hdr_len;
	cxlms_u64 area_bytes;
	cxlms_u64 slot_off[2];
	cxlms_u64 slot_bytes;
	cxlms_u8 store_uuid[16];
	cxlms_u64 reserved[7];
	cxlms_u32 pad;
	cxlms_u32 hdr_crc;
};

/**
 * struct cxlms_policy_seq - the seqlock word, alone in its cache line
 * @generation: 0 = no maps; else the slot (generation & 1) is live
 * @reserved: zero
 */
struct cxlms_policy_seq {
	cxlms_u64 generation;
	cxlms_u64 reserved[7];
};

/* cxlms_policy_ctx.mode: what produced the map (informational). */
#define CXLMS_POLICY_MODE_FIXED		0
#define CXLMS_POLICY_MODE_BUDGET	1
#define CXLMS_POLICY_MODE_PRESSURE	2

/**
 * struct cxlms_policy_ctx - one context of a slot
 * @name: NUL-terminated, NUL-padded
 * @mode: CXLMS_POLICY_MODE_*
 * @avg_bits_x100: element-weighted average bits of the map, times 100
 * @level: pressure mode: steps currently taken down (0 otherwise)
 * @reserved: zero
 */
struct cxlms_policy_ctx {
	char name[CXLMS_POLICY_NAME_MAX];
	cxlms_u32 mode;
	cxlms_u32 avg_bits_x100;
	cxlms_u32 level;
	cxlms_u32 reserved;
};

/**
 * struct cxlms_policy_slot - head of one slot
 * @slot_crc: CRC32C of bytes [4, @slot_len) of the slot (all but itself)
 * @slot_len: bytes of the slot in use (head, tables and maps)
 * @generation: the generation this slot was published as
 * @n_contexts: maps in the slot, 1..CXLMS_POLICY_MAX_CONTEXTS
 * @default_context: index of the context a handle without one follows
 * @n_tensors: directory entries the maps cover (sb.dir_count)
 * @n_tiles: tiles of all those tensors: bytes per map
 * @ctx_off, @base_off, @maps_off: table offsets from the slot start
 * @pad, @reserved: zero
 */
struct cxlms_policy_slot {
	cxlms_u32 slot_crc;
	cxlms_u32 slot_len;
	cxlms_u64 generation;
	cxlms_u32 n_contexts;
	cxlms_u32 default_context;
	cxlms_u32 n_tensors;
	cxlms_u32 n_tiles;
	cxlms_u32 ctx_off;
	cxlms_u32 base_off;
	cxlms_u32 maps_off;
	cxlms_u32 pad;
	cxlms_u64 reserved[2];
};

/* Smallest area that holds the header and two minimal slots. */
#define CXLMS_POLICY_MIN_BYTES	4096

/*
 * Format an area of @len bytes for the store @uuid: header, generation 0,
 * empty slots.  -EINVAL if @len is below CXLMS_POLICY_MIN_BYTES or the area
 * is not 64-byte aligned.
 */
int cxlms_policy_format(void *area, cxlms_u64 len, const cxlms_u8 uuid[16]);

/*
 * Check the static header of the area at @area (@len bytes) for the store
 * @uuid; 0 or a negated CXLMS_E* with a reason in @why.  -CXLMS_EFOREIGN
 * means "not formatted" (e.g. the zeroed area of a fresh import).
 */
int cxlms_policy_hdr_check(const void *area, cxlms_u64 len,
			   const cxlms_u8 uuid[16], char *why,
			   cxlms_u32 why_len);

/* Bytes a slot needs for these counts (no overflow for u32 inputs). */
cxlms_u64 cxlms_policy_slot_need(cxlms_u32 n_contexts, cxlms_u32 n_tensors,
				 cxlms_u32 n_tiles);

/* --- readers: seqlock ---------------------------------------------------- */

/* Load the generation with acquire ordering: start of a read section. */
cxlms_u64 cxlms_policy_read_begin(const void *area);
/* End of a read section: nonzero if the generation moved (read again). */
int cxlms_policy_read_retry(const void *area, cxlms_u64 gen);

/*
 * Validate the slot of generation @gen of an area whose header passed
 * cxlms_policy_hdr_check: head fields and table bounds against slot_bytes,
 * the slot CRC (which also catches a slot being rewritten under a slow
 * reader: call it inside a read section and retry when the generation
 * moved), names, and that the tile table matches the directory: tensor i
 * has @tiles[i] tiles, for @n_tensors tensors.  0 or a negated CXLMS_E*
 * with a reason.
 */
int cxlms_policy_slot_check(const void *area, cxlms_u64 gen,
			    cxlms_u32 n_tensors, const cxlms_u32 *tiles,
			    char *why, cxlms_u32 why_len);

/* The slot generation @gen lives in (pointer only; not validated). */
const struct cxlms_policy_slot *cxlms_policy_slot_of(const void *area,
						     cxlms_u64 gen);

/*
 * Lookups in the slot of @gen of an area whose header passed the check.
 * The slot may be rewritten while they run, so each copies what it reads
 * and bounds every offset by the slot: a torn slot gives a wrong answer
 * (-EUCLEAN or garbage), never a read outside it.  An answer is only good
 * if cxlms_policy_read_retry(area, gen) afterwards says 0.
 *
 * find_context: index of @name, or of the default context for NULL or "";
 *	-ENOENT if absent.
 * context_name: copy the name of context @idx (NUL-terminated).
 * map_offset: offset from the area start of map @idx, checked to hold
 *	@n_tiles bytes inside the slot.
 */
int cxlms_policy_find_context(const void *area, cxlms_u64 gen,
			      const char *name);
int cxlms_policy_context_name(const void *area, cxlms_u64 gen, cxlms_u32 idx,
			      char name[CXLMS_POLICY_NAME_MAX]);
int cxlms_policy_map_offset(const void *area, cxlms_u64 gen, cxlms_u32 idx,
			    cxlms_u32 n_tiles, cxlms_u64 *off);

/* --- the writer ---------------------------------------------------------- */

/**
 * struct cxlms_policy_image - what a publish writes into a slot
 * @n_contexts: 1..CXLMS_POLICY_MAX_CONTEXTS
 * @default_context: below @n_contexts
 * @ctx: @n_contexts entries (names must be valid and unique)
 * @n_tensors, @tiles: tile count of every tensor, directory order
 * @n_tiles: sum of @tiles
 * @maps: @n_contexts * @n_tiles bytes, map c at @maps + c * @n_tiles
 */
struct cxlms_policy_image {
	cxlms_u32 n_contexts;
	cxlms_u32 default_context;
	const struct cxlms_policy_ctx *ctx;
	cxlms_u32 n_tensors;
	const cxlms_u32 *tiles;
	cxlms_u32 n_tiles;
	const cxlms_u8 *maps;
};

/*
 * Publish @img into the inactive slot of a checked area and make it live.
 * Single writer only (cxlmsd holds a lock).  Returns 0 and the new
 * generation in @gen, -ENOSPC if the image does not fit a slot, -EINVAL
 * for an inconsistent image (bad counts, names, a zero bit count).
 */
int cxlms_policy_publish(void *area, const struct cxlms_policy_image *img,
			 cxlms_u64 *gen);

/* Context names: 1..CXLMS_POLICY_NAME_MAX-1 of [A-Za-z0-9_.-]. */
int cxlms_policy_name_valid(const char *name);

#endif /* CXLMS_POLICY_FORMAT_H */
