/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * DOC: cxlms user ABI
 *
 * One header shared by the kernel module (driver/), libcxlms (lib/) and the
 * bit-plane codec (codec/).  It defines the numbers both sides of the ABI
 * must agree on: stored formats, output formats, reconstruction modes and
 * precision limits.  The ioctl interface of /dev/cxlmsN is defined below
 * them (see docs/uapi.md).
 *
 * Rules (Documentation/process/botching-up-ioctls.rst): fixed-width types
 * only, __aligned_u64 for pointers and lengths, every struct starts with
 * size and flags, reserved fields must be zero, numbers only ever grow.
 */
#ifndef _UAPI_LINUX_CXLMS_H
#define _UAPI_LINUX_CXLMS_H

#include <linux/types.h>

/**
 * DOC: stored formats (CXLMS_FMT_*)
 *
 * How a tensor's elements are kept in the store.
 * @CXLMS_FMT_INT8: 8 planes of two's complement codes, symmetric per-group
 *	fp16 scales (value = code * scale), per-tile centroid tables.
 * @CXLMS_FMT_BF16: 16 planes of bfloat16 bit patterns.
 * @CXLMS_FMT_FP16: 16 planes of IEEE binary16 bit patterns.
 */
#define CXLMS_FMT_INT8		1
#define CXLMS_FMT_BF16		2
#define CXLMS_FMT_FP16		3

/**
 * DOC: source dtypes (CXLMS_DTYPE_*)
 *
 * The element type a tensor had in the file it was imported from; kept in
 * the tensor directory so tools can report it.
 */
#define CXLMS_DTYPE_F32		1
#define CXLMS_DTYPE_F16		2
#define CXLMS_DTYPE_BF16	3
#define CXLMS_DTYPE_I8		4

/**
 * DOC: output formats (CXLMS_OUT_*)
 *
 * What a fetch of the top k planes of a tile hands back.  n is the number of
 * elements in the tile, in row-major order.
 * @CXLMS_OUT_PLANES: k planes of ceil(n/8) bytes each, most significant
 *	plane first; element i is bit (i % 8) of byte (i / 8) of a plane.
 * @CXLMS_OUT_PACKED: the top k bits of every element as an unsigned k-bit
 *	pattern, packed LSB-first: element i occupies stream bits
 *	[i*k, i*k + k), stream bit j being bit (j % 8) of byte (j / 8).
 *	ceil(n*k/8) bytes.
 * @CXLMS_OUT_INT: one stored-width word per element (int8 for INT8 stores,
 *	the 16-bit pattern for BF16/FP16), reconstructed per the recon mode.
 * @CXLMS_OUT_F32: dequantized IEEE binary32.
 * @CXLMS_OUT_BF16: dequantized bfloat16 (round-to-nearest-even of F32).
 *
 * For INT8 stores, PLANES, PACKED and INT outputs are followed by side data
 * (see docs/format.md, "fetch output"): the tile's fp16 group scales and,
 * for PLANES and PACKED, the 2^k reconstruction levels of the chosen mode.
 */
#define CXLMS_OUT_PLANES	1
#define CXLMS_OUT_PACKED	2
#define CXLMS_OUT_INT		3
#define CXLMS_OUT_F32		4
#define CXLMS_OUT_BF16		5

/**
 * DOC: reconstruction modes (CXLMS_RECON_*)
 *
 * The value given back for the planes that were not read.
 * @CXLMS_RECON_DEFAULT: TABLE for INT8, MIDPOINT for BF16/FP16.
 * @CXLMS_RECON_FLOOR: dropped bits read as zero.
 * @CXLMS_RECON_MIDPOINT: dropped bits read as 100..0 (half a step up).
 * @CXLMS_RECON_TABLE: per-tile, per-k centroid of the codes in each bucket,
 *	weighted by the squared group scale (INT8 only).
 */
#define CXLMS_RECON_DEFAULT	0
#define CXLMS_RECON_FLOOR	1
#define CXLMS_RECON_MIDPOINT	2
#define CXLMS_RECON_TABLE	3

/* Largest plane count of any format; valid bits are 1..n_planes. */
#define CXLMS_MAX_PLANES	16
/* Fetch at the precision the handle's active context assigns (cxlmsd). */
#define CXLMS_BITS_POLICY	0xff

/* Tensor names are at most this long, terminating NUL included. */
#define CXLMS_NAME_MAX		256
/* Tensors have at most this many dimensions. */
#define CXLMS_MAX_DIMS		8

#include <linux/ioctl.h>

/**
 * DOC: ioctl interface of /dev/cxlmsN
 *
 * Every command takes a pointer to a struct that starts with
 * &struct cxlms_ioc_hdr: @size is sizeof() of the struct as the caller knows
 * it, @flags the command's flags.  The kernel:
 *
 * - accepts a @size smaller than its own struct down to the first revision's
 *   size (the missing tail reads as zero) and a larger one if the bytes past
 *   what it knows are zero (else -E2BIG); below the first revision -EINVAL;
 *   larger than 4096 -E2BIG;
 * - rejects unknown flags with -EOPNOTSUPP and non-zero reserved or padding
 *   fields with -EINVAL;
 * - answers -ENOTTY for a command number it does not implement, -ENXIO
 *   when no store is attached, -EPERM for a command that needs
 *   CAP_SYS_ADMIN;
 * - copies the struct back (at most @size bytes) on success; ATTACH and
 *   VERIFY also copy it back when the command itself (not the validation
 *   of its struct) fails, so @why explains the refusal.
 *
 * Command encoding (ABI revision 3): CXLMS_IOC_<CMD> is
 * _IOWR(CXLMS_IOC_TYPE, nr, struct cxlms_ioc_<cmd>), so strace and seccomp
 * see the real struct size.  The size field stays the authority: the kernel
 * takes _IOC_SIZE(cmd) == @size for any size it accepts, so a caller built
 * against an older (shorter) struct sends _IOWR with its own sizeof and a
 * struct can still grow.  The revision 1-2 encoding, CXLMS_IOC(nr) =
 * _IOWR(CXLMS_IOC_TYPE, nr, struct cxlms_ioc_hdr) whatever the struct, is
 * still accepted, so binaries built before revision 3 keep working; a
 * module before revision 3 answers -ENOTTY to the new encoding and
 * libcxlms then retries with the old one.  Pointers travel as __aligned_u64
 * (cast through uintptr_t), which keeps the layout identical for 32-bit
 * callers (compat_ioctl needs no translation).
 */

/* Type byte of the cxlms ioctls (free in ioctl-number.rst of Linux 6.1). */
#define CXLMS_IOC_TYPE		0xC5
/* Bumped when commands or fields are added; userspace reads it by QUERY. */
#define CXLMS_ABI_REVISION	4

/* Command numbers: only ever grow, never reused. */
#define CXLMS_CMD_QUERY		0x00
#define CXLMS_CMD_ATTACH	0x01
#define CXLMS_CMD_DETACH	0x02
#define CXLMS_CMD_TENSOR_LIST	0x03
#define CXLMS_CMD_TENSOR_CREATE	0x04
#define CXLMS_CMD_TILE_WRITE	0x05
#define CXLMS_CMD_TENSOR_SEAL	0x06
#define CXLMS_CMD_FETCH		0x07
#define CXLMS_CMD_STATS		0x08
#define CXLMS_CMD_VERIFY	0x09
/* Revision 2: precision maps (see "precision maps" below). */
#define CXLMS_CMD_SET_MAP	0x0a
#define CXLMS_CMD_SET_CONTEXT	0x0b
#define CXLMS_CMD_GET_MAP	0x0c
/* Revision 4 (declared; the module does not serve them yet): views, see below. */
#define CXLMS_CMD_VIEW_CREATE	0x0d
#define CXLMS_CMD_VIEW_DESTROY	0x0e

/**
 * struct cxlms_ioc_hdr - first 8 bytes of every cxlms ioctl struct
 * @size: sizeof() of the whole struct as the caller built it
 * @flags: command flags; unknown bits are refused with -EOPNOTSUPP
 */
struct cxlms_ioc_hdr {
	__u32 size;
	__u32 flags;
};

/* Revision 1-2 encoding (still accepted): the header's size for every command. */
#define CXLMS_IOC(nr)		_IOWR(CXLMS_IOC_TYPE, nr, struct cxlms_ioc_hdr)
/* Revision 3 encoding: the command's own struct. */
#define CXLMS_IOC_SZ(nr, type)	_IOWR(CXLMS_IOC_TYPE, nr, type)

/* Tensor index meaning "the whole device" (STATS) or "every tensor" (VERIFY). */
#define CXLMS_TENSOR_ALL	0xffffffffu

/* Length of the NUL-terminated reason ATTACH and VERIFY give on failure. */
#define CXLMS_WHY_LEN		128

/* cxlms_ioc_query.caps */
#define CXLMS_CAP_RAM		(1ull << 0)	/* ATTACH to kernel RAM */
#define CXLMS_CAP_CXL		(1ull << 1)	/* ATTACH to a CXL window range */
#define CXLMS_CAP_LINK_MODEL	(1ull << 2)	/* debugfs link_* knobs delay fetches */
#define CXLMS_CAP_STATS_RESET	(1ull << 3)	/* CXLMS_STATS_RESET */
#define CXLMS_CAP_POLICY	(1ull << 4)	/* precision maps, FETCH with CXLMS_BITS_POLICY */
#define CXLMS_CAP_SHORT_TAIL	(1ull << 5)	/* TENSOR_CREATE takes CXLMS_CREATE_SHORT_TAIL */
#define CXLMS_CAP_VIEWS		(1ull << 6)	/* VIEW_CREATE, VIEW_DESTROY, mmap of views */

/* cxlms_ioc_query.backing */
#define CXLMS_BACKING_NONE	0	/* no store attached */
#define CXLMS_BACKING_CXL	1	/* a host physical range in a CXL window */
#define CXLMS_BACKING_RAM	2	/* vmalloc'ed kernel memory, lost on DETACH */

/* cxlms_ioc_query.state */
#define CXLMS_STATE_ATTACHED	(1u << 0)	/* a store is attached */
#define CXLMS_STATE_READONLY	(1u << 1)	/* store has unknown ro_compat features */

/* Length of the per-format masks in struct cxlms_ioc_query. */
#define CXLMS_QUERY_FMTS	8

/**
 * struct cxlms_ioc_query - CXLMS_IOC_QUERY: what the module supports and
 * what is attached.  Works with or without a store; every field is output.
 * @size: sizeof(struct cxlms_ioc_query)
 * @flags: must be 0
 * @abi_revision: CXLMS_ABI_REVISION of the module
 * @state: CXLMS_STATE_* bits
 * @caps: CXLMS_CAP_* bits
 * @commands: bit n set if command number n (CXLMS_CMD_*) is implemented
 * @formats: bit f set if stored format f (CXLMS_FMT_*) is supported
 * @outputs: bit o set if output format o (CXLMS_OUT_*) is supported
 * @recons: bit r set if reconstruction mode r (CXLMS_RECON_*) is supported
 * @tile_max_elems: largest tile (tile_rows * cols) a tensor may have
 * @plane_bits: [fmt] bit k set if k planes of format fmt can be fetched
 *	with CXLMS_OUT_PLANES or CXLMS_OUT_PACKED
 * @value_bits: [fmt] bit k set if k planes of format fmt can be fetched
 *	with CXLMS_OUT_INT, CXLMS_OUT_F32 or CXLMS_OUT_BF16 (float formats
 *	need the sign and the whole exponent)
 * @name_max: CXLMS_NAME_MAX (terminating NUL included)
 * @dims_max: CXLMS_MAX_DIMS
 * @planes_max: CXLMS_MAX_PLANES
 * @dir_capacity_max: largest directory ATTACH accepts or formats
 * @ram_max_bytes: largest CXLMS_ATTACH_RAM store
 * @fetch_tile_max_bytes: largest output block of one tile FETCH can
 *	assemble (its kernel bounce buffer)
 * @backing: CXLMS_BACKING_* of the attached store
 * @tensor_count: tensors in the directory
 * @backing_start: host physical start of a CXL backing; 0 for a RAM backing
 *	and, from revision 3, for callers without CAP_SYS_ADMIN
 * @backing_bytes: bytes of the backing range or RAM
 * @store_bytes: superblock store_bytes
 * @generation: superblock generation (bumped by CREATE and SEAL)
 * @uuid: superblock uuid
 * @dir_capacity: directory entries the store has room for
 * @default_group: INT8 group size TENSOR_CREATE uses when given 0
 * @data_bytes: bytes of the tile area
 * @data_used: bytes of the tile area in use
 *
 * The store fields are zero when @state has no CXLMS_STATE_ATTACHED.
 */
struct cxlms_ioc_query {
	__u32 size;
	__u32 flags;
	__u32 abi_revision;
	__u32 state;
	__aligned_u64 caps;
	__aligned_u64 commands;
	__u32 formats;
	__u32 outputs;
	__u32 recons;
	__u32 tile_max_elems;
	__u32 plane_bits[CXLMS_QUERY_FMTS];
	__u32 value_bits[CXLMS_QUERY_FMTS];
	__u32 name_max;
	__u32 dims_max;
	__u32 planes_max;
	__u32 dir_capacity_max;
	__aligned_u64 ram_max_bytes;
	__aligned_u64 fetch_tile_max_bytes;
	__u32 backing;
	__u32 tensor_count;
	__aligned_u64 backing_start;
	__aligned_u64 backing_bytes;
	__aligned_u64 store_bytes;
	__aligned_u64 generation;
	__u8 uuid[16];
	__u32 dir_capacity;
	__u32 default_group;
	__aligned_u64 data_bytes;
	__aligned_u64 data_used;
};

/* cxlms_ioc_attach.flags */
#define CXLMS_ATTACH_RAM	(1u << 0)	/* back the store with kernel RAM */
#define CXLMS_ATTACH_FORMAT	(1u << 1)	/* write a fresh, empty store */

/**
 * struct cxlms_ioc_attach - CXLMS_IOC_ATTACH: put a store behind the device.
 * Needs CAP_SYS_ADMIN.
 * @size: sizeof(struct cxlms_ioc_attach)
 * @flags: CXLMS_ATTACH_*.  Without CXLMS_ATTACH_RAM the range
 *	[@start, @start + @bytes) must lie inside a CXL fixed memory window
 *	(a committed region's range, see docs/uapi.md) and nobody may own it
 *	(-EBUSY otherwise).  Without CXLMS_ATTACH_FORMAT the store already in
 *	that memory is validated and attached; a refused store fails with the
 *	store format's distinct errors (-EMEDIUMTYPE not a store,
 *	-EPROTONOSUPPORT unknown version, -ENODATA truncated, -EBADMSG
 *	checksum, -EUCLEAN impossible contents) and @why.  RAM needs FORMAT.
 * @start: host physical start, page aligned (CXL); must be 0 with RAM
 * @bytes: length, page aligned, at least 1 MiB; at most @ram_max_bytes of
 *	QUERY with RAM (-ENOMEM beyond)
 * @dir_capacity: FORMAT only: directory entries (0: 1024); must be 0
 *	without FORMAT
 * @default_group: FORMAT only: INT8 group size recorded in the superblock
 *	and used by TENSOR_CREATE when it passes 0 (0: 128); must be 0
 *	without FORMAT
 * @why: output: NUL-terminated reason when the store was refused
 *
 * -EBUSY if a store is attached already.
 */
struct cxlms_ioc_attach {
	__u32 size;
	__u32 flags;
	__aligned_u64 start;
	__aligned_u64 bytes;
	__u32 dir_capacity;
	__u32 default_group;
	char why[CXLMS_WHY_LEN];
};

/**
 * struct cxlms_ioc_detach - CXLMS_IOC_DETACH: release the store.  Waits
 * for running commands.  A RAM store is freed; a CXL store stays in the
 * region (written back from the CPU caches).  Needs CAP_SYS_ADMIN.
 * @size: sizeof(struct cxlms_ioc_detach)
 * @flags: must be 0
 */
struct cxlms_ioc_detach {
	__u32 size;
	__u32 flags;
};

/* cxlms_ioc_tensor_info.flags */
#define CXLMS_TENSOR_SEALED	(1u << 0)	/* every tile written, CRCs set, fetchable */
#define CXLMS_TENSOR_SHORT_TAIL	(1u << 1)	/* last tile laid out for its rows only */

/**
 * struct cxlms_ioc_tensor_info - one tensor, as TENSOR_LIST returns it
 * @name: NUL-terminated, NUL-padded
 * @index: directory index; the handle every other command takes
 * @fmt: CXLMS_FMT_*
 * @src_dtype: CXLMS_DTYPE_*
 * @ndim: dimensions in @shape
 * @shape: true shape; entries past @ndim are 0
 * @rows: leading dimensions folded (1 for a 1-D tensor)
 * @cols: last dimension
 * @group_size: INT8 scale group (0 for 16-bit formats)
 * @tile_rows: rows of a full tile (the last tile may have fewer)
 * @n_tiles: ceil(@rows / @tile_rows)
 * @planes: planes of @fmt (8 or 16)
 * @flags: CXLMS_TENSOR_*
 * @tile_elems: elements of a full tile
 * @tile_bytes: bytes one tile occupies in the store
 */
struct cxlms_ioc_tensor_info {
	char name[CXLMS_NAME_MAX];
	__u32 index;
	__u32 fmt;
	__u32 src_dtype;
	__u32 ndim;
	__aligned_u64 shape[CXLMS_MAX_DIMS];
	__aligned_u64 rows;
	__aligned_u64 cols;
	__u32 group_size;
	__u32 tile_rows;
	__u32 n_tiles;
	__u32 planes;
	__u32 flags;
	__u32 tile_elems;
	__aligned_u64 tile_bytes;
};

/**
 * struct cxlms_ioc_tensor_list - CXLMS_IOC_TENSOR_LIST: read the directory,
 * two calls: first with @count 0 to learn @total, then with room.
 * @size: sizeof(struct cxlms_ioc_tensor_list)
 * @flags: must be 0
 * @first: index of the first tensor to return; at most @total
 * @count: in: entries @entries has room for; out: entries written
 *	(min(room, total - first))
 * @total: output: tensors in the directory
 * @entry_size: sizeof(struct cxlms_ioc_tensor_info) of the caller, a
 *	multiple of 8 and at least the first revision's; a larger entry's
 *	tail is zero-filled.  May be 0 when @count is 0.
 * @entries: user pointer to @count entries of @entry_size bytes
 * @generation: output: store generation the listing was taken at
 */
struct cxlms_ioc_tensor_list {
	__u32 size;
	__u32 flags;
	__u32 first;
	__u32 count;
	__u32 total;
	__u32 entry_size;
	__aligned_u64 entries;
	__aligned_u64 generation;
};

/**
 * struct cxlms_ioc_tensor_create - CXLMS_IOC_TENSOR_CREATE: add an empty,
 * unsealed tensor: a directory entry, its tile CRC array and its tiles
 * (allocated after the last tensor).  Needs CAP_SYS_ADMIN.
 * @size: sizeof(struct cxlms_ioc_tensor_create)
 * @flags: CXLMS_CREATE_SHORT_TAIL (with CXLMS_CAP_SHORT_TAIL) or 0
 * @name: non-empty, NUL-terminated, NUL-padded; unique (-EEXIST)
 * @fmt: CXLMS_FMT_* (-EOPNOTSUPP if unknown)
 * @src_dtype: CXLMS_DTYPE_*
 * @ndim: 1..CXLMS_MAX_DIMS
 * @group_size: INT8: elements per scale group along a row (0: the
 *	store's default); 16-bit formats: 0
 * @shape: @ndim non-zero dimensions, then zeros
 * @tile_rows: rows per tile, 1..rows (0: plane runs of about 64 KiB)
 * @index: output: the new tensor's index
 * @n_tiles: output: tiles of the tensor
 * @tile_elems: output: elements of a full tile
 * @tile_bytes: output: bytes one full tile occupies in the store (with
 *	CXLMS_CREATE_SHORT_TAIL the last tile takes only what its rows need)
 *
 * -ENOSPC when the directory, the CRC area or the tile area is full;
 * -EROFS on a read-only store.
 */
/* cxlms_ioc_tensor_create.flags: lay the last tile out for its real rows */
#define CXLMS_CREATE_SHORT_TAIL	(1u << 0)

struct cxlms_ioc_tensor_create {
	__u32 size;
	__u32 flags;
	char name[CXLMS_NAME_MAX];
	__u32 fmt;
	__u32 src_dtype;
	__u32 ndim;
	__u32 group_size;
	__aligned_u64 shape[CXLMS_MAX_DIMS];
	__u32 tile_rows;
	__u32 index;
	__u32 n_tiles;
	__u32 tile_elems;
	__aligned_u64 tile_bytes;
};

/**
 * struct cxlms_ioc_tile_write - CXLMS_IOC_TILE_WRITE: write one tile of an
 * unsealed tensor in natural element order; the module places the planes
 * and computes the centroid tables.  Needs CAP_SYS_ADMIN.
 * @size: sizeof(struct cxlms_ioc_tile_write)
 * @flags: must be 0
 * @tensor: tensor index (-ENOENT if none; -EBUSY if sealed)
 * @tile: tile index, below n_tiles
 * @data: user pointer to the tile's elements, row-major: int8 codes for
 *	CXLMS_FMT_INT8, 16-bit patterns for BF16/FP16
 * @data_len: bytes at @data: elements of the tile times 1 or 2
 * @scales: INT8: user pointer to the tile's fp16 group scales, row-major
 *	(rows of the tile * groups per row); must be 0 otherwise
 * @scales_len: bytes at @scales; must be 0 for 16-bit formats.  A scale
 *	that is Inf or NaN is refused (-EINVAL).
 */
struct cxlms_ioc_tile_write {
	__u32 size;
	__u32 flags;
	__u32 tensor;
	__u32 tile;
	__aligned_u64 data;
	__aligned_u64 data_len;
	__aligned_u64 scales;
	__aligned_u64 scales_len;
};

/**
 * struct cxlms_ioc_tensor_seal - CXLMS_IOC_TENSOR_SEAL: compute the tile
 * CRCs and mark the tensor sealed (immutable, fetchable).  Every tile must
 * have been written since the store was attached (-ENODATA otherwise).
 * Needs CAP_SYS_ADMIN.
 * @size: sizeof(struct cxlms_ioc_tensor_seal)
 * @flags: must be 0
 * @tensor: tensor index (-ENOENT if none; -EBUSY if sealed already)
 * @pad: zero
 */
struct cxlms_ioc_tensor_seal {
	__u32 size;
	__u32 flags;
	__u32 tensor;
	__u32 pad;
};

/**
 * struct cxlms_ioc_fetch - CXLMS_IOC_FETCH: read tiles of a sealed tensor
 * at a precision.  Same bytes as libcxlms' cxlms_fetch_tiles(): one block
 * per tile (cxlms_fetch_tile's layout), back to back.
 * @size: sizeof(struct cxlms_ioc_fetch)
 * @flags: must be 0
 * @tensor: tensor index (-ENOENT if none; -EBUSY if not sealed)
 * @tile_first: first tile
 * @tile_count: tiles, at least 1; the range must lie inside the tensor
 *	(-EINVAL)
 * @bits: planes to read, 1..planes, or CXLMS_BITS_POLICY: each tile at
 *	the bits the fd's context assigns (SET_MAP, SET_CONTEXT; all tiles
 *	from one map generation); precisions the (format, output) pair cannot
 *	serve are -EOPNOTSUPP (see QUERY plane_bits/value_bits)
 * @out: CXLMS_OUT_* (-EINVAL if unknown)
 * @recon: CXLMS_RECON_* (-EINVAL if unknown, -EOPNOTSUPP if not for @fmt)
 * @buf: user pointer to the output buffer
 * @buf_len: bytes at @buf; -ENOSPC (nothing written) if too small
 * @bytes_written: output: bytes written to @buf
 * @bytes_read: output: bytes read from the store (planes, scales, levels)
 */
struct cxlms_ioc_fetch {
	__u32 size;
	__u32 flags;
	__u32 tensor;
	__u32 tile_first;
	__u32 tile_count;
	__u32 bits;
	__u32 out;
	__u32 recon;
	__aligned_u64 buf;
	__aligned_u64 buf_len;
	__aligned_u64 bytes_written;
	__aligned_u64 bytes_read;
};

/* cxlms_ioc_stats.flags */
/*
 * Zero the counters after reading them; needs CAP_SYS_ADMIN.  A tensor's
 * STATS zeroes its own counters; the device-wide ones (media_errors,
 * view_faults, view_fills) only with CXLMS_TENSOR_ALL.
 */
#define CXLMS_STATS_RESET	(1u << 0)

/**
 * struct cxlms_ioc_stats - CXLMS_IOC_STATS: bytes moved by fetches.
 * Device counters live as long as the module; tensor counters as long as
 * the attached store.
 * @size: sizeof(struct cxlms_ioc_stats)
 * @flags: CXLMS_STATS_*
 * @tensor: tensor index, or CXLMS_TENSOR_ALL for the device
 * @pad: zero
 * @fetches: output: tile fetches served
 * @plane_bytes: output: bytes read by plane, 0 = most significant
 * @side_bytes: output: scale and table bytes read
 * @out_bytes: output: bytes written to callers
 * @media_errors: output (revision 3): media reads that failed with poison
 *	(requests that returned -EIO); device-wide, whatever @tensor is
 * @view_faults: output (revision 4): page faults on views served
 * @view_fills: output (revision 4): view fill units decoded (each tile of
 *	a unit is also counted in @fetches and the byte counters, like a
 *	FETCH of it)
 * @view_pages: output (revision 4): view pages resident now (a gauge,
 *	device-wide; reset leaves it)
 */
struct cxlms_ioc_stats {
	__u32 size;
	__u32 flags;
	__u32 tensor;
	__u32 pad;
	__aligned_u64 fetches;
	__aligned_u64 plane_bytes[CXLMS_MAX_PLANES];
	__aligned_u64 side_bytes;
	__aligned_u64 out_bytes;
	__aligned_u64 media_errors;
	__aligned_u64 view_faults;
	__aligned_u64 view_fills;
	__aligned_u64 view_pages;
};

/**
 * struct cxlms_ioc_verify - CXLMS_IOC_VERIFY: recompute tile CRCs of one
 * sealed tensor (-EBUSY if unsealed) or of every sealed tensor.  Returns 0,
 * or -EBADMSG with @bad_tensor and @why set.
 * @size: sizeof(struct cxlms_ioc_verify)
 * @flags: must be 0
 * @tensor: tensor index, or CXLMS_TENSOR_ALL
 * @checked: output: tensors whose CRCs matched
 * @skipped: output: unsealed tensors skipped (CXLMS_TENSOR_ALL only)
 * @bad_tensor: output: index of the failing tensor, CXLMS_TENSOR_ALL if none
 * @why: output: NUL-terminated reason (tensor and tile) on -EBADMSG
 */
struct cxlms_ioc_verify {
	__u32 size;
	__u32 flags;
	__u32 tensor;
	__u32 checked;
	__u32 skipped;
	__u32 bad_tensor;
	char why[CXLMS_WHY_LEN];
};

#define CXLMS_IOC_QUERY		CXLMS_IOC_SZ(CXLMS_CMD_QUERY, struct cxlms_ioc_query)
#define CXLMS_IOC_ATTACH	CXLMS_IOC_SZ(CXLMS_CMD_ATTACH, struct cxlms_ioc_attach)
#define CXLMS_IOC_DETACH	CXLMS_IOC_SZ(CXLMS_CMD_DETACH, struct cxlms_ioc_detach)
#define CXLMS_IOC_TENSOR_LIST	CXLMS_IOC_SZ(CXLMS_CMD_TENSOR_LIST, struct cxlms_ioc_tensor_list)
#define CXLMS_IOC_TENSOR_CREATE	CXLMS_IOC_SZ(CXLMS_CMD_TENSOR_CREATE, struct cxlms_ioc_tensor_create)
#define CXLMS_IOC_TILE_WRITE	CXLMS_IOC_SZ(CXLMS_CMD_TILE_WRITE, struct cxlms_ioc_tile_write)
#define CXLMS_IOC_TENSOR_SEAL	CXLMS_IOC_SZ(CXLMS_CMD_TENSOR_SEAL, struct cxlms_ioc_tensor_seal)
#define CXLMS_IOC_FETCH		CXLMS_IOC_SZ(CXLMS_CMD_FETCH, struct cxlms_ioc_fetch)
#define CXLMS_IOC_STATS		CXLMS_IOC_SZ(CXLMS_CMD_STATS, struct cxlms_ioc_stats)
#define CXLMS_IOC_VERIFY	CXLMS_IOC_SZ(CXLMS_CMD_VERIFY, struct cxlms_ioc_verify)

/**
 * DOC: io_uring interface (IORING_OP_URING_CMD)
 *
 * FETCH and STATS can also be submitted through io_uring, many per system
 * call (see docs/async.md).  The ring must be set up with
 * IORING_SETUP_SQE128 (the payload needs the 80-byte command area; without
 * it: -EINVAL); IORING_SETUP_IOPOLL rings are refused (-EOPNOTSUPP).
 * sqe->cmd_op is the ioctl command number (CXLMS_IOC_FETCH, CXLMS_IOC_STATS;
 * anything else -ENOTTY) and the payload in sqe->cmd is validated by the
 * same path as the ioctl, with the payload's @size in place of the ioctl
 * struct's (at most CXLMS_URING_PAYLOAD bytes, else -E2BIG).
 *
 * - FETCH: the payload IS &struct cxlms_ioc_fetch, inline (64 bytes).  The
 *   CQE's res is bytes_written or -errno, exactly what the ioctl returns;
 *   with IORING_SETUP_CQE32, big_cqe[0] is bytes_read.  The struct is not
 *   written back.  res is 32 bits: a request whose output would exceed
 *   INT_MAX bytes fails with -EOVERFLOW before anything is written.
 * - STATS: the payload is &struct cxlms_uring_indirect pointing at a
 *   &struct cxlms_ioc_stats, which is then handled exactly as by the ioctl
 *   (read, validated, filled in and copied back); res is 0 or -errno.
 *
 * Every request completes on its own: a failed one never affects others in
 * the batch.  Requests that cannot block complete during submission; those
 * that would sleep (the debugfs link model, a contended lock) are handed to
 * io_uring's workers, where IORING_OP_ASYNC_CANCEL can still cancel them
 * until they start.
 */

/* Bytes of sqe->cmd with IORING_SETUP_SQE128. */
#define CXLMS_URING_PAYLOAD	80

/**
 * struct cxlms_uring_indirect - uring_cmd payload of commands whose struct
 * does not fit in the SQE (STATS): a pointer to the ioctl struct
 * @size: sizeof(struct cxlms_uring_indirect)
 * @flags: must be 0
 * @arg: user pointer to the command's ioctl struct
 */
struct cxlms_uring_indirect {
	__u32 size;
	__u32 flags;
	__aligned_u64 arg;
};

/**
 * DOC: precision maps (ABI revision 2, CXLMS_CAP_POLICY)
 *
 * A map gives the bits of every tile of every tensor for one named context;
 * cxlmsd publishes all contexts' maps at once with SET_MAP and each publish
 * gets a new generation.  A FETCH with CXLMS_BITS_POLICY reads every tile
 * of the request at the bits of the fd's context (SET_CONTEXT; "" follows
 * the map's default context), all from one generation: the old maps or the
 * new ones, never a mix.  Maps are the same bytes as a store file's policy
 * area (codec/policy_format.h): one u8 per tile, tensors in directory
 * order, tile_base[i] = tiles of tensors 0..i-1.  They live in kernel
 * memory (not in the store) and are dropped by DETACH.
 *
 * A context the fd chose that a later SET_MAP no longer has makes its
 * policy fetches fail with -ENOENT until SET_CONTEXT picks another.  A
 * tensor created after the maps were set is not covered by them: a policy
 * fetch of it is -ENODATA until the next SET_MAP.
 */

/* Context names: 1..CXLMS_MAP_NAME_MAX-1 bytes of [A-Za-z0-9_.-]. */
#define CXLMS_MAP_NAME_MAX	48
/* Contexts per SET_MAP. */
#define CXLMS_MAP_MAX_CONTEXTS	256
/* Largest n_contexts * n_tiles SET_MAP accepts (-ENOSPC beyond). */
#define CXLMS_MAP_MAX_BYTES	(16u << 20)

/**
 * struct cxlms_ioc_map_context - one context of a SET_MAP (64 bytes, the
 * layout of the store format's struct cxlms_policy_ctx)
 * @name: NUL-terminated, NUL-padded; unique within the SET_MAP
 * @mode: what produced the map (0 fixed, 1 budget, 2 pressure), kept for
 *	readers; at most 2
 * @avg_bits_x100: informational: element-weighted average bits times 100
 * @level: informational: pressure level
 * @reserved: zero
 */
struct cxlms_ioc_map_context {
	char name[CXLMS_MAP_NAME_MAX];
	__u32 mode;
	__u32 avg_bits_x100;
	__u32 level;
	__u32 reserved;
};

/**
 * struct cxlms_ioc_set_map - CXLMS_IOC_SET_MAP: replace all maps at once.
 * Needs CAP_SYS_ADMIN.
 * @size: sizeof(struct cxlms_ioc_set_map)
 * @flags: must be 0
 * @n_contexts: 1..CXLMS_MAP_MAX_CONTEXTS
 * @default_context: index of the context "" follows, below @n_contexts
 * @n_tensors: tensors the maps cover: must be the directory's count
 *	(-ESTALE otherwise: re-read the directory)
 * @n_tiles: tiles of those tensors, the length of one map (-ESTALE if not
 *	the directory's sum)
 * @ctx_size: sizeof(struct cxlms_ioc_map_context) of the caller (64)
 * @pad: zero
 * @contexts: user pointer to @n_contexts entries of @ctx_size bytes
 * @maps: user pointer to @n_contexts maps of @n_tiles bytes, map c at
 *	@maps + c * @n_tiles; every byte in 1..planes of its tensor (-EINVAL)
 * @maps_len: bytes at @maps: exactly @n_contexts * @n_tiles, at most
 *	CXLMS_MAP_MAX_BYTES (-ENOSPC)
 * @generation_expected: 0, or the generation that must still be live
 *	(-ESTALE if another publish came first)
 * @generation: output: generation of the new maps (never reused while
 *	the module is loaded)
 */
struct cxlms_ioc_set_map {
	__u32 size;
	__u32 flags;
	__u32 n_contexts;
	__u32 default_context;
	__u32 n_tensors;
	__u32 n_tiles;
	__u32 ctx_size;
	__u32 pad;
	__aligned_u64 contexts;
	__aligned_u64 maps;
	__aligned_u64 maps_len;
	__aligned_u64 generation_expected;
	__aligned_u64 generation;
};

/**
 * struct cxlms_ioc_set_context - CXLMS_IOC_SET_CONTEXT: the context this fd
 * fetches with under CXLMS_BITS_POLICY.  No capability needed.
 * @size: sizeof(struct cxlms_ioc_set_context)
 * @flags: must be 0
 * @name: NUL-terminated, NUL-padded (-EINVAL otherwise, or for a byte
 *	outside [A-Za-z0-9_.-]); "" follows the maps' default context.  The
 *	name must be in the live maps: -ENODATA without maps, -ENOENT if
 *	absent; on error the fd keeps its context.
 */
struct cxlms_ioc_set_context {
	__u32 size;
	__u32 flags;
	char name[CXLMS_MAP_NAME_MAX];
};

/* cxlms_ioc_get_map.flags */
/* Read the map of @context by name instead of the fd's context. */
#define CXLMS_GET_MAP_NAMED	(1u << 0)

/**
 * struct cxlms_ioc_get_map - CXLMS_IOC_GET_MAP: read bits back (what a
 * policy FETCH of the same range would use), all from one generation.
 * Two calls if needed: @tile_count 0 returns only @generation,
 * @n_contexts and @context.
 * @size: sizeof(struct cxlms_ioc_get_map)
 * @flags: CXLMS_GET_MAP_*
 * @tensor: tensor index (ignored when @tile_count is 0)
 * @tile_first: first tile
 * @tile_count: tiles; the range must lie inside the tensor (-EINVAL)
 * @n_contexts: output: contexts in the live maps
 * @bits: user pointer to @tile_count bytes
 * @generation: output: generation read
 * @context: with CXLMS_GET_MAP_NAMED: the context to read (as for
 *	SET_CONTEXT, "" the default); else must be zero.  Output: the name of
 *	the context that was read (the default's name for "")
 *
 * -ENODATA without maps or for a tensor they do not cover, -ENOENT if the
 * context is not in them.
 */
struct cxlms_ioc_get_map {
	__u32 size;
	__u32 flags;
	__u32 tensor;
	__u32 tile_first;
	__u32 tile_count;
	__u32 n_contexts;
	__aligned_u64 bits;
	__aligned_u64 generation;
	char context[CXLMS_MAP_NAME_MAX];
};

#define CXLMS_IOC_SET_MAP	CXLMS_IOC_SZ(CXLMS_CMD_SET_MAP, struct cxlms_ioc_set_map)
#define CXLMS_IOC_SET_CONTEXT	CXLMS_IOC_SZ(CXLMS_CMD_SET_CONTEXT, struct cxlms_ioc_set_context)
#define CXLMS_IOC_GET_MAP	CXLMS_IOC_SZ(CXLMS_CMD_GET_MAP, struct cxlms_ioc_get_map)

/**
 * DOC: views (revision 4)
 * A view is a tensor, or every tensor of the store a layout serves, seen at
 * k bits (or at each tile's bits in the fd's context) in one of the layouts
 * below; docs/format.md "Views" gives its bytes, so an engine computes
 * addresses without asking.  VIEW_CREATE returns an mmap offset; mmap() of
 * the device at that offset maps the view read-only and shared.  A page
 * fault decodes the fill unit (the whole tiles) holding the page from the
 * top k planes, at one k per tile, and maps the unit's pages at once.  The
 * pages are a cache: the kernel may drop them under memory pressure, and
 * loads decode them again.  A CXLMS_BITS_POLICY view follows the maps:
 * SET_MAP, and SET_CONTEXT on the fd that created it, unmap every tile
 * whose bits changed, so the next load decodes it at the new bits.
 * Views belong to the fd that created them (mmap through another open of
 * the device: -EINVAL) and live until VIEW_DESTROY or close, and while
 * mapped.  DETACH fails with -EBUSY while any view of the store is mapped.
 */
/* Layouts (struct cxlms_ioc_view_create.layout) */
#define CXLMS_VIEW_PACKED	1	/* per tile a slot with FETCH's PACKED output */
#define CXLMS_VIEW_INT8		2	/* INT8 tensors: s8 per element, then scales */
#define CXLMS_VIEW_INT16	3	/* BF16/FP16 tensors: the 16-bit pattern per element */

/* Views one fd may hold at once (VIEW_CREATE: -EMFILE beyond). */
#define CXLMS_VIEWS_PER_FD	256

/**
 * struct cxlms_ioc_view_section - where one tensor lies in a view, bytes
 * from the view's start (docs/format.md "Views")
 * @tensor: tensor index
 * @pad: zero
 * @off, @len: the tensor's section, 4096-byte aligned
 * @tile_stride: PACKED: bytes between tile slots; INT layouts: 0
 * @data_off, @data_len: INT layouts: the elements, row-major
 * @scales_off, @scales_len: INT8 layout: every row's fp16 group scales
 */
struct cxlms_ioc_view_section {
	__u32 tensor;
	__u32 pad;
	__aligned_u64 off;
	__aligned_u64 len;
	__aligned_u64 tile_stride;
	__aligned_u64 data_off;
	__aligned_u64 data_len;
	__aligned_u64 scales_off;
	__aligned_u64 scales_len;
};

/**
 * struct cxlms_ioc_view_create - CXLMS_IOC_VIEW_CREATE: define a view
 * @size: sizeof(struct cxlms_ioc_view_create)
 * @flags: must be 0
 * @tensor: a sealed tensor (-EBUSY unsealed), or CXLMS_TENSOR_ALL: every
 *	sealed tensor the layout and bits serve, in index order (-EOPNOTSUPP
 *	if none)
 * @layout: CXLMS_VIEW_*
 * @bits: 1..planes, or CXLMS_BITS_POLICY: each tile at the bits the fd's
 *	context assigns when it is decoded (-ENODATA without maps)
 * @recon: CXLMS_RECON_*, as for FETCH
 * @sec_count: in: entries @sections has room for; out: entries written
 * @sec_total: output: sections in the view
 * @sec_size: sizeof(struct cxlms_ioc_view_section) of the caller, a
 *	multiple of 8, at least the first revision's; 0 if @sec_count is 0
 * @pad: zero
 * @sections: user pointer to @sec_count entries of @sec_size bytes
 * @offset: output: the mmap offset of the view (page aligned)
 * @length: output: bytes of the view (page aligned)
 * @reserved: zero
 * -EINVAL a layout the tensor's format does not have, bad fields;
 * -EOPNOTSUPP bits the layout cannot serve (an INT16 view needs the sign
 * and exponent: BF16 k >= 9, FP16 k >= 6); -EMFILE CXLMS_VIEWS_PER_FD.
 */
struct cxlms_ioc_view_create {
	__u32 size;
	__u32 flags;
	__u32 tensor;
	__u32 layout;
	__u32 bits;
	__u32 recon;
	__u32 sec_count;
	__u32 sec_total;
	__u32 sec_size;
	__u32 pad;
	__aligned_u64 sections;
	__aligned_u64 offset;
	__aligned_u64 length;
	__aligned_u64 reserved[2];
};

/**
 * struct cxlms_ioc_view_destroy - CXLMS_IOC_VIEW_DESTROY: forget a view of
 * this fd; mappings of it stay valid until munmap.  -ENOENT unknown offset.
 * @size: sizeof(struct cxlms_ioc_view_destroy)
 * @flags: must be 0
 * @offset: the view's mmap offset, as VIEW_CREATE returned it
 */
struct cxlms_ioc_view_destroy {
	__u32 size;
	__u32 flags;
	__aligned_u64 offset;
};

#define CXLMS_IOC_VIEW_CREATE	CXLMS_IOC_SZ(CXLMS_CMD_VIEW_CREATE, struct cxlms_ioc_view_create)
#define CXLMS_IOC_VIEW_DESTROY	CXLMS_IOC_SZ(CXLMS_CMD_VIEW_DESTROY, struct cxlms_ioc_view_destroy)

#endif /* _UAPI_LINUX_CXLMS_H */
