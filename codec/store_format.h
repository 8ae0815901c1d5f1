/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The cxlms store format: the same bytes in a file (lib/ file backend) and
 * in a CXL region's memory (driver/).  Little-endian, fixed-width fields,
 * 64-byte aligned structures.  Layout (docs/format.md has the picture):
 *
 *   0          superblock (struct cxlms_sb), padded to CXLMS_SB_BYTES
 *   dir_off    tensor directory: dir_capacity entries of struct cxlms_dirent
 *   crc_off    per-tile data CRC32C arrays, one per tensor (dirent.crc_off)
 *   policy_off policy area (precision maps, cxlmsd), zero = no maps
 *   data_off   tiles, each tensor's tiles contiguous from dirent.tile_off
 *
 * Everything that validation reads is bounded by store_bytes, which must
 * not exceed the size of the file or region it sits in.
 */
#ifndef CXLMS_STORE_FORMAT_H
#define CXLMS_STORE_FORMAT_H

#include "cxlms_compat.h"
#include "bitplane.h"

#define CXLMS_STORE_MAGIC	"CXLMSTOR"	/* 8 bytes, no NUL */
#define CXLMS_STORE_VERSION	1
#define CXLMS_SB_BYTES		4096
#define CXLMS_DATA_ALIGN	4096		/* the data area starts on a page */
/*
 * In a CXLMS_FEAT_INCOMPAT_TIGHT store, tensors of at least this many
 * bytes start on a page (CXLMS_DATA_ALIGN), smaller ones on CXLMS_ALIGN:
 * a page per tensor would cost up to 6 % of a 64 KiB tensor.
 */
#define CXLMS_TENSOR_PAGE_MIN	(1ull << 20)

/* Policy area a new store reserves, zeroed (= no precision maps yet). */
#define CXLMS_POLICY_DEFAULT_BYTES	(256u << 10)

/* feature_compat: an older reader may ignore these */
#define CXLMS_FEAT_COMPAT_POLICY	(1ull << 0)	/* policy area present */
/*
 * feature_incompat: a reader that does not know a bit must refuse the store.
 * New superblock or entry fields come with an incompat bit, because readers
 * refuse non-zero reserved fields (so a compat bit could not be ignored).
 */
/* entries may carry CXLMS_DIRENT_SHORT_TAIL; tile_off only 64-aligned */
#define CXLMS_FEAT_INCOMPAT_TIGHT	(1ull << 0)
/* entries may carry row_dims (how many leading dims form the rows) */
#define CXLMS_FEAT_INCOMPAT_FOLD	(1ull << 1)
/* metadata area present (meta_off, meta_bytes) */
#define CXLMS_FEAT_INCOMPAT_META	(1ull << 2)
/*
 * Crash-consistent metadata (format.md 1.5): two superblock slots (the
 * superblock of generation g is in slot g & 1, at (g & 1) *
 * CXLMS_SB_SLOT_BYTES) and two directory copies of dir_capacity entries
 * back to back at dir_off (copy g & 1 is the one generation g describes).
 * An update writes the other copy, then the other slot; the newest slot
 * that validates with its directory copy is the store.
 */
#define CXLMS_FEAT_INCOMPAT_DUAL	(1ull << 3)
#define CXLMS_FEAT_INCOMPAT_KNOWN	(CXLMS_FEAT_INCOMPAT_TIGHT | \
					 CXLMS_FEAT_INCOMPAT_FOLD | \
					 CXLMS_FEAT_INCOMPAT_META | \
					 CXLMS_FEAT_INCOMPAT_DUAL)
/* Slot 1 of a DUAL store: its own cache lines, still inside CXLMS_SB_BYTES. */
#define CXLMS_SB_SLOT_BYTES	2048
#define CXLMS_SB_SLOTS		2
/* Generation of a new DUAL store: slot 0, directory copy 0. */
#define CXLMS_SB_FIRST_GENERATION	2
/* feature_ro_compat: a reader that does not know a bit may only read */
#define CXLMS_FEAT_RO_COMPAT_KNOWN	0ull

/**
 * struct cxlms_sb - store superblock, at offset 0
 * @magic: CXLMS_STORE_MAGIC
 * @version: CXLMS_STORE_VERSION
 * @sb_len: sizeof(struct cxlms_sb) of the writer
 * @feature_compat, @feature_ro_compat, @feature_incompat: see CXLMS_FEAT_*
 * @store_bytes: size of the whole store
 * @uuid: identity of this store (changes on every import/format)
 * @generation: bumped on every metadata change (tensor created/sealed)
 * @dir_off: directory offset; @dir_capacity: entries reserved;
 * @dir_count: entries in use (the first dir_count entries)
 * @dir_crc: CRC32C of the dir_count used entries
 * @data_off, @data_bytes: the tile area; @data_used: bytes allocated in it
 * @policy_off, @policy_bytes: the policy area (0, 0 if none)
 * @default_group: group size the importer used by default
 * @meta_off, @meta_bytes: the metadata area (CXLMS_FEAT_INCOMPAT_META;
 *	0, 0 otherwise), between the policy area and the data area
 * @sb_crc: CRC32C of the struct with this field read as zero
 */
struct cxlms_sb {
	cxlms_u8 magic[8];
	cxlms_u32 version;
	cxlms_u32 sb_len;
	cxlms_u64 feature_compat;
	cxlms_u64 feature_ro_compat;
	cxlms_u64 feature_incompat;
	cxlms_u64 store_bytes;
	cxlms_u8 uuid[16];
	cxlms_u64 generation;
	cxlms_u64 dir_off;
	cxlms_u32 dir_capacity;
	cxlms_u32 dir_count;
	cxlms_u32 dir_crc;
	cxlms_u32 default_group;
	cxlms_u64 data_off;
	cxlms_u64 data_bytes;
	cxlms_u64 data_used;
	cxlms_u64 policy_off;
	cxlms_u64 policy_bytes;
	cxlms_u64 meta_off;
	cxlms_u64 meta_bytes;
	cxlms_u64 reserved[12];	/* zero */
	cxlms_u32 pad;		/* zero */
	cxlms_u32 sb_crc;
};

/* dirent.flags */
#define CXLMS_DIRENT_SEALED	(1u << 0)	/* every tile written, CRCs valid */
/* the last tile holds only its real rows (CXLMS_FEAT_INCOMPAT_TIGHT) */
#define CXLMS_DIRENT_SHORT_TAIL	(1u << 1)
#define CXLMS_DIRENT_FLAGS_KNOWN	(CXLMS_DIRENT_SEALED | CXLMS_DIRENT_SHORT_TAIL)

/**
 * struct cxlms_dirent - one tensor
 * @name: NUL-terminated, NUL-padded
 * @src_dtype: CXLMS_DTYPE_* it was imported from
 * @fmt: stored format CXLMS_FMT_*
 * @ndim, @shape: the tensor's true shape (shape[i] = 0 for i >= ndim)
 * @rows, @cols: the 2-D view: rows is the product of the first row_dims
 *	dims, cols of the rest (1-D: 1 x n)
 * @row_dims: 0 = ndim - 1 (every dim but the last); else 1..ndim - 1
 *	(CXLMS_FEAT_INCOMPAT_FOLD)
 * @group_size, @tile_rows: see struct cxlms_tile_geom
 * @n_tiles: ceil(rows / tile_rows)
 * @flags: CXLMS_DIRENT_*
 * @tile_off: offset of tile 0; tile t is at tile_off + t * layout.tile_bytes
 *	(cxlms_dirent_tile() says where and how long each tile is)
 * @crc_off: offset of n_tiles u32 CRC32C values, one per tile
 * @entry_crc: CRC32C of the entry with this field read as zero
 */
struct cxlms_dirent {
	char name[CXLMS_NAME_MAX];
	cxlms_u32 src_dtype;
	cxlms_u32 fmt;
	cxlms_u32 ndim;
	cxlms_u32 flags;
	cxlms_u64 shape[CXLMS_MAX_DIMS];
	cxlms_u64 rows;
	cxlms_u64 cols;
	cxlms_u32 group_size;
	cxlms_u32 tile_rows;
	cxlms_u32 n_tiles;
	cxlms_u32 pad0;		/* zero */
	cxlms_u64 tile_off;
	cxlms_u64 crc_off;
	cxlms_u32 row_dims;
	cxlms_u32 pad2;		/* zero */
	cxlms_u64 reserved[14];	/* zero */
	cxlms_u32 pad1;		/* zero */
	cxlms_u32 entry_crc;
};

/* Distinct reasons a store is refused (returned negated by validation). */
#define CXLMS_EFOREIGN		EMEDIUMTYPE	/* not a cxlms store (magic) */
#define CXLMS_EVERSION		EPROTONOSUPPORT	/* unknown version or incompat feature */
#define CXLMS_ETRUNCATED	ENODATA		/* shorter than it says it is */
#define CXLMS_ECHECKSUM		EBADMSG		/* a CRC32C does not match */
#define CXLMS_EINVALID		EUCLEAN		/* checksums fine, contents impossible */

/*
 * CRC32C (Castagnoli), chainable like zlib's crc32(): start with 0;
 * cxlms_crc32c(0, "123456789", 9) == 0xe3069283.
 */
cxlms_u32 cxlms_crc32c(cxlms_u32 crc, const void *buf, cxlms_u64 len);

/*
 * Validation: each returns 0 or a negated CXLMS_E* and, on error, writes a
 * NUL-terminated reason (naming the tensor where there is one) into @why.
 * None reads outside [store, store + avail).
 *
 * cxlms_sb_check: magic, version, features, sb CRC, area bounds/overlaps
 *	against @avail (the file or region size).
 * cxlms_dir_check: the superblock cxlms_store_pick chooses (slot 0 of a
 *	single-copy store), then its directory: CRC, then every entry: CRC,
 *	name, format,
 *	shape vs rows/cols, tile geometry, tile and CRC ranges inside the
 *	store and not overlapping each other, unique names.
 * cxlms_tile_crc_check: recompute tile CRCs of one tensor (cxlms verify).
 */
int cxlms_sb_check(const void *store, cxlms_u64 avail, char *why,
		   cxlms_u32 why_len);
int cxlms_dir_check(const void *store, cxlms_u64 avail, char *why,
		    cxlms_u32 why_len);
/*
 * cxlms_dir_check_at: cxlms_dir_check on copies: @sb a superblock, @dir its
 *	first sb->dir_count entries, both in memory nobody else writes (the
 *	kernel snapshots shared media once and validates only the snapshot).
 *	Reads nothing but *@sb and those entries; @avail bounds the areas.
 */
int cxlms_dir_check_at(const struct cxlms_sb *sb, const struct cxlms_dirent *dir,
		       cxlms_u64 avail, char *why, cxlms_u32 why_len);
int cxlms_tile_crc_check(const void *store, const struct cxlms_dirent *d,
			 char *why, cxlms_u32 why_len);

/*
 * Superblock slots (CXLMS_FEAT_INCOMPAT_DUAL, format.md 1.5).
 *
 * cxlms_sb_slot_off: store offset of slot @slot (0 or 1).
 * cxlms_sb_slot: the slot @sb belongs in (generation & 1; 0 without DUAL).
 * cxlms_sb_dir_copy: store offset of the directory entries @sb describes
 *	(dir_off, or in a DUAL store copy generation & 1 of them).
 * cxlms_sb_dir_bytes: bytes of the whole directory area (both copies).
 * cxlms_sb_crc_area: [*@lo, *@hi), the CRC area (after the directory).
 * cxlms_sb_slot_check: cxlms_sb_check on a copy of slot @slot, plus the
 *	slot rules: slot 1 is only ever DUAL, a DUAL slot holds only
 *	generations of its parity.
 * cxlms_sb_newer: 1 if @a's generation comes after @b's (serial number
 *	arithmetic: generation 0 comes after 2^64 - 1).
 * cxlms_slot_order: the recovery rule.  Given the two slots and whether
 *	each passed cxlms_sb_slot_check (@ok0, @ok1), the slots to try, in
 *	order, into @order; returns how many (0..2).  Slot 0 alone if it is
 *	a valid single-copy superblock; else the valid slots, newest first.
 *	The caller takes the first whose directory copy passes
 *	cxlms_dir_check_at: the store is the newest complete update.
 * cxlms_store_pick: that rule on a store in memory: the current
 *	superblock into *@sb (and its slot into *@slot if not NULL).  On
 *	error, the reason is slot 0's (the one every version reads).
 *	The kernel, which must not read the media twice, applies the rule
 *	with the functions above on its own snapshots (driver/store.c).
 */
cxlms_u64 cxlms_sb_slot_off(cxlms_u32 slot);
cxlms_u32 cxlms_sb_slot(const struct cxlms_sb *sb);
cxlms_u64 cxlms_sb_dir_copy(const struct cxlms_sb *sb);
cxlms_u64 cxlms_sb_dir_bytes(const struct cxlms_sb *sb);
void cxlms_sb_crc_area(const struct cxlms_sb *sb, cxlms_u64 *lo, cxlms_u64 *hi);
int cxlms_sb_slot_check(const struct cxlms_sb *sb, cxlms_u32 slot,
			cxlms_u64 avail, char *why, cxlms_u32 why_len);
int cxlms_sb_newer(const struct cxlms_sb *a, const struct cxlms_sb *b);
cxlms_u32 cxlms_slot_order(const struct cxlms_sb *s0, int ok0,
			   const struct cxlms_sb *s1, int ok1, cxlms_u32 order[2]);
int cxlms_store_pick(const void *store, cxlms_u64 avail, struct cxlms_sb *sb,
		     cxlms_u32 *slot, char *why, cxlms_u32 why_len);

/**
 * struct cxlms_meta_write - one write of a metadata update
 * @off: store offset
 * @len: bytes
 * @src: what to write there (the caller's memory)
 */
struct cxlms_meta_write {
	cxlms_u64 off;
	cxlms_u64 len;
	const void *src;
};

/**
 * struct cxlms_update_track - what a writer knows of the directory copies
 * @copy_gen: the generation whose entries copy i surely holds (written
 *	by this writer since it opened the store), 0 = unknown
 * @last_changed: the entry the last update changed
 *
 * Zeroed at open; a writer that formats the store sets copy_gen of the
 * copy it wrote.  cxlms_update_plan() keeps it.
 */
struct cxlms_update_track {
	cxlms_u64 copy_gen[2];
	cxlms_u32 last_changed;
};

/*
 * cxlms_update_plan: the writes that commit a metadata update, in order.
 * @sb is the new state (dir_count, data_used, features) still carrying
 * the committed generation; @dir the whole new directory (the writer's
 * copy); @changed the one entry this update changed (appended or
 * sealed).  Bumps sb->generation, sets dir_crc, seals @sb and fills @w:
 * w[0] the entries of the new generation's directory copy that may
 * differ from @dir, w[1] @sb into its slot.  Returns the number of
 * writes (1 when no entry needs writing: then w[0] is the superblock).
 *
 * DUAL: the target copy is never the committed one.  It is rewritten
 * from entry 0, or, when @t says it holds the state two generations
 * back, from the lowest entry changed since.  Single-copy stores get
 * entry @changed rewritten in place (not crash consistent).
 *
 * The writer must make each write durable before the next one starts
 * (kernel: cache write-back and a store fence; file: msync) and the last
 * one before it reports success.  @t may be NULL (rewrite from 0).
 */
int cxlms_update_plan(struct cxlms_sb *sb, const struct cxlms_dirent *dir,
		      cxlms_u32 changed, struct cxlms_update_track *t,
		      struct cxlms_meta_write w[2]);

/* 1 if all @len bytes at @p are zero (reserved fields must be). */
int cxlms_all_zero(const void *p, cxlms_u64 len);

/* Geometry of a directory entry as the codec sees it. */
void cxlms_dirent_geom(const struct cxlms_dirent *d, struct cxlms_tile_geom *g);
/* Elements in tile @t of @d (the last tile may be short). */
cxlms_u32 cxlms_dirent_tile_elems(const struct cxlms_dirent *d, cxlms_u32 t);

/**
 * struct cxlms_tile_span - one tile of a tensor in the store
 * @off: store offset of the tile
 * @bytes: bytes the tile occupies (and its CRC covers)
 * @first_row: first row of the 2-D view in this tile
 * @rows, @elems: rows and elements in this tile
 */
struct cxlms_tile_span {
	cxlms_u64 off;
	cxlms_u64 bytes;
	cxlms_u64 first_row;
	cxlms_u32 rows;
	cxlms_u32 elems;
};

/*
 * The one place that says where tile @t of @d is and how it is laid out:
 * every tile but a CXLMS_DIRENT_SHORT_TAIL tensor's last has the full
 * tile's layout; that last one is laid out for its real rows only.  @l
 * (may be NULL) gets the tile's layout.  0, or -EINVAL for a bad tile
 * index or geometry.
 */
int cxlms_dirent_tile(const struct cxlms_dirent *d, cxlms_u32 t,
		      struct cxlms_tile_span *s, struct cxlms_tile_layout *l);
/* Bytes of all tiles of @d (0 if its geometry is invalid). */
cxlms_u64 cxlms_dirent_tiles_bytes(const struct cxlms_dirent *d);
/* Rows of the 2-D view of @ndim dims @shape with @row_dims (0: ndim - 1). */
cxlms_u64 cxlms_shape_rows(const cxlms_u64 *shape, cxlms_u32 ndim,
			   cxlms_u32 row_dims);

/* Writers: fill in the CRC fields. */
void cxlms_sb_seal(struct cxlms_sb *sb);
void cxlms_dirent_seal(struct cxlms_dirent *d);
/* sb.dir_crc of the first @count entries of the directory at @dir. */
cxlms_u32 cxlms_dir_crc(const struct cxlms_dirent *dir, cxlms_u32 count);

/* Layout helpers writers use (import, kernel CREATE): plane_stride rule, defaults. */
cxlms_u32 cxlms_default_tile_rows(cxlms_u64 rows, cxlms_u64 cols);

#endif /* CXLMS_STORE_FORMAT_H */
