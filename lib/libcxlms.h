/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcxlms - the library inference engines link to read model weights from
 * a cxlms store at a runtime-selected precision.
 *
 * Conventions (after ndctl's libcxl): opaque refcounted objects; every call
 * returns 0 / a count on success and a negative errno on failure (or NULL);
 * the library never prints and never exits: diagnostics go to the log
 * function (cxlms_set_log_fn, level from $CXLMS_LOG: err, info, debug).
 *
 * A store is opened from a path: a store file (the file backend, the
 * embedded default that needs no module and no CXL hardware) or a device
 * node /dev/cxlmsN (the kernel backend).  The same calls work on both.
 *
 * Threads: the fetch calls, their size/info helpers and the counters may
 * be used on one store from any number of threads at once.  The file
 * backend decodes in the calling thread, so fetching from N threads uses N
 * cores (docs/performance.md: one core's decode does not saturate DRAM).
 * A device fd serialises its own fetches: open one store per thread there.
 */
#ifndef LIBCXLMS_H
#define LIBCXLMS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/cxlms.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * --- version -----------------------------------------------------------
 * The API this header declares: MINOR grows with each version node of the
 * ABI (LIBCXLMS_1.1 added cxlms_fetch_pieces, LIBCXLMS_1.2 this block), so
 * an engine tests for a call at compile time:
 *	#if LIBCXLMS_VERSION_CHECK(1, 1)
 * and at run time against the library it loaded:
 *	cxlms_version() >= LIBCXLMS_VERSION_ENCODE(1, 2)
 */
#define LIBCXLMS_VERSION_MAJOR	1
#define LIBCXLMS_VERSION_MINOR	3
#define LIBCXLMS_VERSION_ENCODE(maj, min)	(((maj) << 16) | (min))
#define LIBCXLMS_VERSION_NUMBER \
	LIBCXLMS_VERSION_ENCODE(LIBCXLMS_VERSION_MAJOR, LIBCXLMS_VERSION_MINOR)
/* True when this header is version maj.min or newer (same major). */
#define LIBCXLMS_VERSION_CHECK(maj, min) \
	(LIBCXLMS_VERSION_MAJOR == (maj) && LIBCXLMS_VERSION_MINOR >= (min))

/* LIBCXLMS_VERSION_NUMBER of the library loaded at run time. */
unsigned int cxlms_version(void);
/*
 * Text for a libcxlms error code (-errno or errno): the store's own
 * meaning for the codes above (-EMEDIUMTYPE "not a cxlms store", -EBADMSG
 * a checksum mismatch, ...), strerror's text for the rest.  A static
 * string, safe from any thread; never NULL.
 */
const char *cxlms_strerror(int err);

struct cxlms_ctx;
struct cxlms_store;
struct cxlms_tensor;

/* --- library context --------------------------------------------------- */

int cxlms_new(struct cxlms_ctx **ctx);
struct cxlms_ctx *cxlms_ref(struct cxlms_ctx *ctx);
struct cxlms_ctx *cxlms_unref(struct cxlms_ctx *ctx);

typedef void (*cxlms_log_fn)(struct cxlms_ctx *ctx, int priority,
			     const char *file, int line, const char *fn,
			     const char *format, va_list args);
/* Default: no output.  priority uses syslog's LOG_ERR..LOG_DEBUG. */
void cxlms_set_log_fn(struct cxlms_ctx *ctx, cxlms_log_fn log_fn);
int cxlms_get_log_priority(struct cxlms_ctx *ctx);
void cxlms_set_log_priority(struct cxlms_ctx *ctx, int priority);
void cxlms_set_userdata(struct cxlms_ctx *ctx, void *data);
void *cxlms_get_userdata(struct cxlms_ctx *ctx);

/* --- stores -------------------------------------------------------------- */

/* cxlms_open flags */
#define CXLMS_OPEN_RDWR		(1u << 0)	/* policy area / device writes */

/*
 * Open a store file or /dev/cxlmsN.  Validates the whole store before use.
 * Errors beyond the usual -ENOENT/-EACCES/-ENOMEM:
 *   -EMEDIUMTYPE      not a cxlms store
 *   -EPROTONOSUPPORT  format version or feature this library does not know
 *   -ENODATA          truncated: shorter than its superblock says
 *   -EBADMSG          a metadata checksum does not match
 *   -EUCLEAN          checksums match but the contents are impossible
 * The reason, naming the tensor, goes to the log at LOG_ERR.
 */
int cxlms_open(struct cxlms_ctx *ctx, const char *path, unsigned int flags,
	       struct cxlms_store **store);
struct cxlms_store *cxlms_store_ref(struct cxlms_store *store);
struct cxlms_store *cxlms_store_unref(struct cxlms_store *store);
struct cxlms_ctx *cxlms_store_get_ctx(struct cxlms_store *store);
const char *cxlms_store_get_path(struct cxlms_store *store);
/* "file" or "kernel" */
const char *cxlms_store_get_backend(struct cxlms_store *store);
unsigned int cxlms_store_get_tensor_count(struct cxlms_store *store);
uint64_t cxlms_store_get_size(struct cxlms_store *store);
/* The store's identity (new on every import or format): 16 bytes. */
int cxlms_store_get_uuid(struct cxlms_store *store, uint8_t uuid[16]);
/* Recompute every tile CRC; 0 or -EBADMSG (reason logged). */
int cxlms_store_verify(struct cxlms_store *store);

/* --- tensors ------------------------------------------------------------- */

struct cxlms_tensor *cxlms_tensor_get_first(struct cxlms_store *store);
struct cxlms_tensor *cxlms_tensor_get_next(struct cxlms_tensor *tensor);
#define cxlms_tensor_foreach(store, t) \
	for (t = cxlms_tensor_get_first(store); t != NULL; \
	     t = cxlms_tensor_get_next(t))
/* -ENOENT if absent */
int cxlms_tensor_lookup(struct cxlms_store *store, const char *name,
			struct cxlms_tensor **tensor);

const char *cxlms_tensor_get_name(struct cxlms_tensor *t);
unsigned int cxlms_tensor_get_index(struct cxlms_tensor *t);
unsigned int cxlms_tensor_get_format(struct cxlms_tensor *t);	/* CXLMS_FMT_* */
unsigned int cxlms_tensor_get_src_dtype(struct cxlms_tensor *t);	/* CXLMS_DTYPE_* */
unsigned int cxlms_tensor_get_ndim(struct cxlms_tensor *t);
uint64_t cxlms_tensor_get_dim(struct cxlms_tensor *t, unsigned int i);
uint64_t cxlms_tensor_get_rows(struct cxlms_tensor *t);
uint64_t cxlms_tensor_get_cols(struct cxlms_tensor *t);
uint64_t cxlms_tensor_get_elems(struct cxlms_tensor *t);
unsigned int cxlms_tensor_get_group_size(struct cxlms_tensor *t);
unsigned int cxlms_tensor_get_planes(struct cxlms_tensor *t);
unsigned int cxlms_tensor_get_tile_rows(struct cxlms_tensor *t);
unsigned int cxlms_tensor_get_tile_count(struct cxlms_tensor *t);
unsigned int cxlms_tensor_get_tile_elems(struct cxlms_tensor *t,
					 unsigned int tile);
/* Bytes the tensor occupies in the store (tiles incl. padding). */
uint64_t cxlms_tensor_get_stored_bytes(struct cxlms_tensor *t);

/* Name strings for the CXLMS_* numbers; NULL if unknown. */
const char *cxlms_format_name(unsigned int fmt);
const char *cxlms_dtype_name(unsigned int dtype);
const char *cxlms_out_name(unsigned int out);
const char *cxlms_recon_name(unsigned int recon);
/* Parse a name back; -EINVAL if unknown. */
int cxlms_format_parse(const char *name);
int cxlms_out_parse(const char *name);
int cxlms_recon_parse(const char *name);

/* --- fetch --------------------------------------------------------------- */

/**
 * struct cxlms_fetch_info - where a fetch puts what (one tile)
 * Mirrors the codec's fetch layout: data first, then (INT8 stores with
 * PLANES/PACKED/INT output) fp16 scales and (PLANES/PACKED) 2^k s16 Q8.8
 * levels, each 64-byte aligned.  A multi-tile fetch concatenates per-tile
 * blocks of @total bytes each (the last tile's block may be shorter):
 * for F32/BF16 output, and INT output of 16-bit formats, that is exactly
 * the tensor's rows in row-major order.
 */
struct cxlms_fetch_info {
	uint64_t data_off, data_len;
	uint64_t scales_off, scales_len;
	uint64_t levels_off, levels_len;
	uint64_t total;
	uint64_t bytes_read;	/* planes + side data this fetch reads */
};

/* Layout of fetching @tile at @bits (no data moved). */
int cxlms_fetch_info(struct cxlms_tensor *t, unsigned int tile,
		     unsigned int bits, unsigned int out, unsigned int recon,
		     struct cxlms_fetch_info *info);
/* Bytes a fetch of tiles [first, first + count) needs, or -errno. */
int64_t cxlms_fetch_size(struct cxlms_tensor *t, unsigned int first,
			 unsigned int count, unsigned int bits,
			 unsigned int out, unsigned int recon);

/*
 * Fetch tile @tile of @t at @bits (1..planes, or CXLMS_BITS_POLICY) into
 * @buf.  Returns bytes written or -errno: -EINVAL bad tile/out/recon,
 * -EOPNOTSUPP precision unsupported for this format and output, -ENOSPC
 * buffer too small (nothing written).
 */
int64_t cxlms_fetch(struct cxlms_store *store, struct cxlms_tensor *t,
		    unsigned int tile, unsigned int bits, unsigned int out,
		    unsigned int recon, void *buf, size_t len);
/* Tiles [first, first + count) into one buffer, back to back. */
int64_t cxlms_fetch_tiles(struct cxlms_store *store, struct cxlms_tensor *t,
			  unsigned int first, unsigned int count,
			  unsigned int bits, unsigned int out,
			  unsigned int recon, void *buf, size_t len);

/**
 * struct cxlms_piece - a piece of a tile, as cxlms_fetch_pieces() hands it
 * @tile: the tile
 * @bits: planes read (for CXLMS_BITS_POLICY: the policy's choice)
 * @elem_first, @elem_count: the piece's elements, in the tile's order
 * @data, @data_len: those elements in the output format, data only: the
 *	bytes cxlms_fetch() writes for them (PACKED: from bit elem_first *
 *	bits, which is a byte boundary; the tile's last piece may end inside
 *	a byte, its trailing bits zero).  Valid only during the call.
 * @side, @side_len: the tile's side data, the same for every piece: the
 *	bytes cxlms_fetch() writes after the data (INT8 scales and levels at
 *	cxlms_fetch_info()'s scales_off/levels_off minus data_len, which
 *	land on 64-byte aligned addresses for every k); 0 bytes
 *	for 16-bit stores and for F32/BF16 output
 */
struct cxlms_piece {
	unsigned int tile, bits;
	uint64_t elem_first, elem_count;
	const void *data;
	size_t data_len;
	const void *side;
	size_t side_len;
};

/* A consumer returns 0 for the next piece, or anything else to stop. */
typedef int (*cxlms_piece_fn)(void *arg, const struct cxlms_piece *piece);

/*
 * Fetch tile @tile of @t in pieces of about @piece_bytes of output each
 * (0: 8 KiB; rounded down to whole 512-element blocks, at least one), in
 * order, and give each to @fn while it is still in the CPU's L1 cache.  A
 * consumer that uses the weights at once (a GEMM) saves the trip of a
 * whole tile's output through L2, L3 or DRAM, which costs more than the
 * decode itself (docs/performance.md).  @bits, @out and @recon as for
 * cxlms_fetch(), except that PLANES output is -EINVAL.
 * Returns 0 after the last piece, the non-zero answer of @fn that stopped
 * it, or -errno before the first piece (-ENOMEM, and cxlms_fetch()'s).
 * The file backend decodes each piece into a cache-resident buffer with
 * the SIMD variants of the codec (AVX2, AVX-512); otherwise (the portable
 * codec, a device) the tile is fetched whole into a buffer of the library
 * and handed out in the same pieces: the same bytes, without the cache
 * benefit.  The consumer runs under the caller's floating-point
 * environment.  Counters
 * count one tile fetch, with the plane bytes of the pieces delivered.
 */
int cxlms_fetch_pieces(struct cxlms_store *store, struct cxlms_tensor *t,
		       unsigned int tile, unsigned int bits, unsigned int out,
		       unsigned int recon, size_t piece_bytes,
		       cxlms_piece_fn fn, void *arg);

/* --- row ranges and verified fetches (LIBCXLMS_1.2) --------------------- */

/* cxlms_rows_opts.flags */
#define CXLMS_FETCH_VERIFY	(1u << 0)	/* check the CRC of every tile read */
#define CXLMS_FETCH_ROW_PIECES	(1u << 1)	/* pieces hold whole rows */

/**
 * struct cxlms_rows_opts - optional arguments of the row fetches
 * @size: sizeof(struct cxlms_rows_opts): fields are only ever added at
 *	the end, and a caller's smaller struct reads as zero beyond @size
 * @flags: CXLMS_FETCH_*
 * @scratch, @scratch_len: working memory of at least
 *	cxlms_fetch_rows_scratch_size() bytes (any alignment), so that the
 *	fetch never allocates; NULL: the library allocates per call
 * @piece_bytes: cxlms_fetch_rows_pieces(): output bytes per piece, as
 *	for cxlms_fetch_pieces() (0: 8 KiB); with CXLMS_FETCH_ROW_PIECES
 *	rounded down to whole rows, at least one
 */
struct cxlms_rows_opts {
	uint32_t size;
	uint32_t flags;
	void *scratch;
	size_t scratch_len;
	size_t piece_bytes;
};

/**
 * struct cxlms_rows_block - the part of a row range that one tile holds
 * @tile: the tile
 * @bits: planes read (CXLMS_BITS_POLICY resolved per tile)
 * @row_first: the block's first row, as a row of the tensor
 * @tile_row: the same row counted from the tile's first row
 * @rows: rows in the block
 * @off: where the block starts in cxlms_fetch_rows()'s output
 * @info: the block's layout, offsets from @off: exactly what a tile of
 *	these rows alone would give (cxlms_fetch_info()): data, then for
 *	INT8 the block rows' fp16 scales and the tile's levels, each at a
 *	64-byte aligned offset.  @info.bytes_read is what fetching the
 *	block reads: the whole tile's @bits planes and side data.
 */
struct cxlms_rows_block {
	unsigned int tile, bits;
	uint64_t row_first;
	uint32_t tile_row, rows;
	uint64_t off;
	struct cxlms_fetch_info info;
};

/*
 * Rows [row0, row0 + n) of @t split by tile.  Fills up to @max blocks and
 * returns how many there are in all (0 for n == 0), or -errno: -ERANGE the
 * range does not lie inside the tensor's rows, others as
 * cxlms_fetch_info().  @blocks may be NULL with @max 0.
 */
int cxlms_fetch_rows_blocks(struct cxlms_tensor *t, uint64_t row0, uint64_t n,
			    unsigned int bits, unsigned int out,
			    unsigned int recon, struct cxlms_rows_block *blocks,
			    unsigned int max);
/* Bytes cxlms_fetch_rows() writes for the range, or -errno (as above). */
int64_t cxlms_fetch_rows_size(struct cxlms_tensor *t, uint64_t row0,
			      uint64_t n, unsigned int bits, unsigned int out,
			      unsigned int recon);
/*
 * Scratch the row fetches of @t need with these arguments and @opts (may
 * be NULL: sync fetch, default piece size): enough for any row range and,
 * for CXLMS_BITS_POLICY, any precision the policy may choose.  Query it
 * once per (tensor, output) when the engine is set up.
 */
int64_t cxlms_fetch_rows_scratch_size(struct cxlms_tensor *t,
				      unsigned int bits, unsigned int out,
				      unsigned int recon,
				      const struct cxlms_rows_opts *opts);

/*
 * Fetch rows [row0, row0 + n) of @t into @buf: the blocks of
 * cxlms_fetch_rows_blocks() back to back.  For F32/BF16 output, and INT
 * output of 16-bit formats, that is just the rows, row-major.  Tiles stay
 * the unit of reading: each covering tile is fetched whole at its bits
 * into the scratch (its planes cannot be cut at a row: the format keeps
 * one contiguous plane per tile) and the rows are copied out, so the
 * counters count one tile fetch per block with the whole tile's bytes.
 * Returns bytes written (0 for n == 0) or -errno: -ERANGE range outside
 * the tensor, -ENOSPC @len or the scratch too small (nothing written),
 * -EBADMSG a tile checksum does not match (verify on: the flag or
 * cxlms_store_set_verify(); cxlms_fetch_last_error() names the tile),
 * and cxlms_fetch()'s.
 */
int64_t cxlms_fetch_rows(struct cxlms_store *store, struct cxlms_tensor *t,
			 uint64_t row0, uint64_t n, unsigned int bits,
			 unsigned int out, unsigned int recon, void *buf,
			 size_t len, const struct cxlms_rows_opts *opts);
/*
 * The same rows in pieces, in order, each in the scratch while @fn runs:
 * struct cxlms_piece as for cxlms_fetch_pieces() (@elem_first counts from
 * the tile's first element, @data starts at bit 0 of the piece, @side is
 * the whole tile's side data: the scales of element e are in its row
 * e / cols, at 64-byte aligned offsets).  A piece never spans two tiles;
 * with CXLMS_FETCH_ROW_PIECES every piece is whole rows, otherwise
 * pieces are multiples of 512 elements from the block start except each
 * block's last.  PLANES output is -EINVAL.  Returns 0, @fn's non-zero
 * answer, or -errno before the first piece of the failing tile.
 */
int cxlms_fetch_rows_pieces(struct cxlms_store *store, struct cxlms_tensor *t,
			    uint64_t row0, uint64_t n, unsigned int bits,
			    unsigned int out, unsigned int recon,
			    cxlms_piece_fn fn, void *arg,
			    const struct cxlms_rows_opts *opts);

/*
 * Verify on every fetch through @store (cxlms_fetch*, the row fetches,
 * async requests): each tile read has its CRC32C checked first, and a
 * mismatch fails the fetch with -EBADMSG.  The CRC covers the whole tile,
 * so a verified fetch reads all planes of the tile, not k
 * (docs/performance.md).  Kernel stores: the module's VERIFY of the
 * tensor.  Returns the previous setting.
 */
int cxlms_store_set_verify(struct cxlms_store *store, int on);
/*
 * The calling thread's reason for its last fetch that failed with
 * -EBADMSG ("tensor 'x': tile 3 checksum mismatch"), or "" if none.
 */
const char *cxlms_fetch_last_error(void);

/* Decoding PACKED/PLANES/INT output: INT8 scale groups per row, fp16 scale. */
unsigned int cxlms_tensor_get_groups_per_row(struct cxlms_tensor *t);
float cxlms_fp16_to_float(uint16_t h);

/* --- async: batched tile fetches through io_uring (docs/async.md) ------- */

struct cxlms_async;

/**
 * struct cxlms_async_req - one fetch to queue: the arguments of
 * cxlms_fetch_tiles() plus a tag
 * @tensor: a tensor of the queue's store
 * @first, @count: tiles [first, first + count)
 * @bits, @out, @recon: as for cxlms_fetch_tiles()
 * @buf, @len: output; must stay valid until the completion is reaped
 * @user_data: handed back in the completion; the key of cxlms_async_cancel()
 */
struct cxlms_async_req {
	struct cxlms_tensor *tensor;
	unsigned int first, count;
	unsigned int bits, out, recon;
	void *buf;
	size_t len;
	uint64_t user_data;
};

/**
 * struct cxlms_async_cqe - one finished request
 * @user_data: the request's tag
 * @result: bytes written, or -errno: the value cxlms_fetch_tiles() returns
 *	for the same arguments (-ECANCELED if cancelled before it ran)
 */
struct cxlms_async_cqe {
	uint64_t user_data;
	int64_t result;
};

/*
 * A queue of at most @depth (1..4096) requests that were submitted and not
 * yet reaped.  Kernel stores use io_uring (IORING_OP_URING_CMD on the
 * device), probed here; without io_uring or without the module's uring_cmd
 * support, or for file stores, requests complete inline in submit through
 * the sync path.  $CXLMS_ASYNC=sync forces the inline path.  The queue
 * holds a store reference.  One thread at a time per queue.
 */
int cxlms_async_new(struct cxlms_store *store, unsigned int depth,
		    struct cxlms_async **q);
/* Cancels what has not started, waits for the rest: then no buf is touched. */
void cxlms_async_free(struct cxlms_async *q);
/* "uring" or "sync": how requests of this queue are served. */
const char *cxlms_async_get_mode(struct cxlms_async *q);
/*
 * Queue up to @n requests.  Returns how many were queued (from the front
 * of @reqs), or -EAGAIN when the queue holds @depth requests already (reap
 * first): never blocks for room.  A request's own errors come back in its
 * completion, never from here, and never affect the others.
 */
int cxlms_async_submit(struct cxlms_async *q, const struct cxlms_async_req *reqs,
		       unsigned int n);
/*
 * Move up to @max completions to @cqes, waiting until at least @min_wait
 * are there (capped at what is queued: it never waits for requests that do
 * not exist).  Returns the number moved or -errno (-EINTR: a signal came
 * before anything completed).
 */
int cxlms_async_reap(struct cxlms_async *q, struct cxlms_async_cqe *cqes,
		     unsigned int max, unsigned int min_wait);
/*
 * An eventfd that is readable while completions wait to be reaped, for an
 * engine's poll/epoll loop.  reap() consumes its count; owned by the queue.
 */
int cxlms_async_get_fd(struct cxlms_async *q);
/*
 * Cancel the queued requests tagged @user_data.  0: cancelled, they will
 * complete with -ECANCELED; -EALREADY: running, they will complete
 * normally; -ENOENT: none queued and unfinished (already done, or never
 * submitted).
 */
int cxlms_async_cancel(struct cxlms_async *q, uint64_t user_data);


/* --- counters ------------------------------------------------------------ */

/**
 * struct cxlms_stats - bytes moved by fetches through one store handle
 * (file backend: this process; kernel backend: the whole device)
 */
struct cxlms_stats {
	uint64_t fetches;		/* tile fetches served */
	uint64_t plane_bytes[CXLMS_MAX_PLANES];	/* by plane, 0 = MSB */
	uint64_t side_bytes;		/* scales and table levels */
	uint64_t out_bytes;		/* bytes written to callers */
};
int cxlms_store_get_stats(struct cxlms_store *store, struct cxlms_stats *st);
int cxlms_tensor_get_stats(struct cxlms_tensor *t, struct cxlms_stats *st);
/*
 * Kernel backend: media reads that failed with poison (requests that got
 * -EIO) since the module loaded, device-wide; 0 for store files;
 * -EOPNOTSUPP from a module before ABI revision 3.
 */
int cxlms_store_get_media_errors(struct cxlms_store *store, uint64_t *count);
int cxlms_store_reset_stats(struct cxlms_store *store);

/* --- kernel backend / regions: /dev/cxlmsN on a CXL region ------------- */

/*
 * Host physical range of the committed CXL region @name ("region0"), found
 * with libcxl.  -ENOENT no such region, -ENODEV no CXL bus at all, -ENXIO
 * region not committed (no range yet).
 */
int cxlms_region_lookup(struct cxlms_ctx *ctx, const char *name,
			uint64_t *start, uint64_t *size);

/* cxlms_attach_opts.flags */
#define CXLMS_ATTACH_OPT_FORMAT	(1u << 0)	/* write a fresh, empty store */

/**
 * struct cxlms_attach_opts - what cxlms_attach() puts behind the device
 * @region: CXL region name: back the store with (part of) its memory;
 *	NULL: kernel RAM (needs CXLMS_ATTACH_OPT_FORMAT, lost on detach)
 * @offset: region only: first byte of the region to use, page aligned
 * @bytes: region: bytes to use (0: from @offset to the region's end);
 *	RAM: the store size (required), page aligned, at least 1 MiB
 * @flags: CXLMS_ATTACH_OPT_*; without FORMAT the store already in the
 *	region is validated and attached
 * @dir_capacity: FORMAT only: directory entries (0: the module's 1024)
 * @default_group: FORMAT only: INT8 group size (0: 128)
 */
struct cxlms_attach_opts {
	const char *region;
	uint64_t offset;
	uint64_t bytes;
	unsigned int flags;
	unsigned int dir_capacity;
	unsigned int default_group;
};

/*
 * Attach a store to the device @dev (/dev/cxlmsN).  Needs CAP_SYS_ADMIN
 * (-EPERM).  -EBUSY a store is attached already (or the range is in use);
 * a store the module refuses fails with the store format's errors
 * (-EMEDIUMTYPE, -EPROTONOSUPPORT, -ENODATA, -EBADMSG, -EUCLEAN) and the
 * module's reason in the log; -EINVAL bad range or options.
 */
int cxlms_attach(struct cxlms_ctx *ctx, const char *dev,
		 const struct cxlms_attach_opts *opts);
/* Detach the store (a CXL store stays in the region).  -ENXIO if none. */
int cxlms_detach(struct cxlms_ctx *ctx, const char *dev);

/**
 * struct cxlms_device_info - what QUERY says about a device
 * @abi_revision: the module's CXLMS_ABI_REVISION
 * @attached: a store is attached; the fields below are 0 otherwise
 * @readonly: attached read-only (unknown ro_compat features)
 * @backing: CXLMS_BACKING_CXL or CXLMS_BACKING_RAM
 * @backing_start: host physical start (CXL), @backing_bytes its length
 * @store_bytes, @uuid, @generation, @tensor_count, @dir_capacity: the store
 * @data_bytes, @data_used: tile area size and bytes allocated in it
 */
struct cxlms_device_info {
	unsigned int abi_revision;
	int attached;
	int readonly;
	unsigned int backing;
	uint64_t backing_start;
	uint64_t backing_bytes;
	uint64_t store_bytes;
	uint8_t uuid[16];
	uint64_t generation;
	unsigned int tensor_count;
	unsigned int dir_capacity;
	uint64_t data_bytes;
	uint64_t data_used;
};
/* -ENOTTY if @dev is not a cxlms device. */
int cxlms_device_get_info(struct cxlms_ctx *ctx, const char *dev,
			  struct cxlms_device_info *info);

/*
 * Copy every tensor of @src (a store file, or any open store) into the
 * store attached to @dev, through the module's write path: per tensor
 * TENSOR_CREATE with the same geometry, every tile fetched from @src at
 * full precision as integers and written with TILE_WRITE (the module
 * places the planes), then TENSOR_SEAL.  The tiles in the device store
 * are then byte-identical to @src's.  Nothing is written when a tensor
 * name exists already (-EEXIST, logged) or the tile area is too small
 * (-ENOSPC); an error midway leaves the tensor being copied unsealed
 * (not fetchable) and logs its name.  @progress gets tile bytes done and
 * the total (may be NULL).  Needs CAP_SYS_ADMIN (-EPERM).
 */
int cxlms_copy_store(struct cxlms_ctx *ctx, struct cxlms_store *src,
		     const char *dev,
		     void (*progress)(void *arg, uint64_t done, uint64_t total),
		     void *progress_arg);


/* --- import -------------------------------------------------------------- */

/**
 * struct cxlms_import_opts - how cxlms_import_safetensors() stores tensors
 * @format: CXLMS_FMT_INT8 (default when 0), BF16 or FP16
 * @group_size: INT8 scale group (0: 128)
 * @tile_rows: rows per tile (0: plane runs of >= 64 KiB)
 * @progress: called now and then with bytes done / total (may be NULL)
 */
struct cxlms_import_opts {
	unsigned int format;
	unsigned int group_size;
	unsigned int tile_rows;
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
};

/*
 * Import a safetensors file into a new store at @out_path, atomically: the
 * store is written to a temporary file in the same directory, synced and
 * renamed over @out_path; on any error nothing is left behind and a
 * previous @out_path is untouched.  Errors: -EINVAL malformed input (the
 * log names the tensor), -EOPNOTSUPP unsupported dtype, -EEXIST duplicate
 * tensor name, -ENAMETOOLONG name longer than CXLMS_NAME_MAX - 1.
 *
 * Also -EOPNOTSUPP for what the store cannot hold: rank above
 * CXLMS_MAX_DIMS, a tensor with no elements, rows longer than a tile may be
 * (2^24 elements); -EINVAL for a NaN/Inf element bound for an INT8 store;
 * -ERANGE for values beyond the stored format (an INT8 scale above 65504,
 * a finite value rounding to Inf in fp16/bf16).  The log names the tensor
 * (and element index).  A scalar (rank 0) is stored as the 1-D tensor [1].
 * Progress is reported as input bytes: (0, total) first, then at least
 * every 1% or 64 MiB, and (total, total) before the store is committed.
 */
int cxlms_import_safetensors(struct cxlms_ctx *ctx, const char *in_path,
			     const char *out_path,
			     const struct cxlms_import_opts *opts);

/* --- import with rules, several inputs, metadata (LIBCXLMS_1.2) ---------- */

/*
 * Rule format: store a 16-bit source as it is (f16 -> fp16, bf16 -> bf16),
 * an f32 source as fp16 when every nonzero value is an fp16 normal
 * (2^-14 .. 65504), else bf16; an i8 source as int8 (exact).
 */
#define CXLMS_FMT_KEEP		0x100u
/* cxlms_import_rule.flags */
#define CXLMS_RULE_SKIP		(1u << 0)	/* leave the tensor out */

/**
 * struct cxlms_import_rule - how tensors whose name matches are stored
 * @pattern: fnmatch(3) glob on the tensor name (no flags: '*' matches '.')
 * @format: 0 (unchanged), CXLMS_FMT_INT8, _BF16, _FP16 or CXLMS_FMT_KEEP
 * @group_size: INT8 scale group, 0 = unchanged
 * @fold: 0 = unchanged; N: rows are the product of the first N dims,
 *	columns (the quantization groups' axis) the rest; applies to tensors
 *	of rank > N only
 * @flags: CXLMS_RULE_SKIP
 *
 * Rules apply in order after the defaults; each sets only what it names,
 * so a later rule wins (a matching rule without skip clears a skip).
 */
struct cxlms_import_rule {
	const char *pattern;
	unsigned int format;
	unsigned int group_size;
	unsigned int fold;
	unsigned int flags;
};

/* cxlms_import_config.flags */
#define CXLMS_IMPORT_NO_DEFAULTS (1u << 0)	/* every tensor as @format, legacy fold */
#define CXLMS_IMPORT_NO_CONFIG	(1u << 1)	/* do not keep a config.json */

/**
 * struct cxlms_import_config - what cxlms_import() does
 * @size: sizeof(struct cxlms_import_config) (fields may be added at the end)
 * @flags: CXLMS_IMPORT_*
 * @format: base format (0: INT8) for tensors no default or rule changes
 * @group_size: INT8 scale group (0: 128); @tile_rows: rows per tile (0: auto)
 * @n_rules, @rules: applied in order (see struct cxlms_import_rule)
 * @config_path: config.json to keep (NULL: "config.json" beside the first
 *	input, if there is one)
 * @progress, @progress_arg: as in struct cxlms_import_opts
 * @notice, @notice_arg: called (may be NULL) for what a user should hear
 *	about: a tensor skipped for having no elements, an int8 fallback
 *
 * Defaults (unless CXLMS_IMPORT_NO_DEFAULTS), for an INT8 base format:
 * 1-D tensors and tensors of fewer than 4096 elements are stored as
 * CXLMS_FMT_KEEP; a tensor int8 cannot hold (NaN/Inf, or a scale above
 * fp16's range) is stored as bf16 with a notice.  Folds: rank >= 4 and
 * rank 3 with a last dim below 8 (convolution kernels [O, I, ...]) fold to
 * O rows of the rest; other rank-3 tensors ([E, O, I]) to E * O rows of I.
 * Tensors with no elements are always skipped with a notice.
 */
struct cxlms_import_config {
	unsigned int size;
	unsigned int flags;
	unsigned int format;
	unsigned int group_size;
	unsigned int tile_rows;
	unsigned int n_rules;
	const struct cxlms_import_rule *rules;
	const char *config_path;
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
	void (*notice)(void *arg, const char *tensor, const char *msg);
	void *notice_arg;
};

/*
 * Import @n_inputs safetensors files as one model into a new store at
 * @out_path, atomically (as cxlms_import_safetensors()).  An input whose
 * name ends in ".json" is a sharded checkpoint's index
 * (model.safetensors.index.json): its "weight_map" names the shard files,
 * beside it.  Tensor names must be unique across all inputs (-EEXIST).
 * The first input's "__metadata__" and the config.json are kept in the
 * store's metadata area (cxlms_store_get_metadata_key()).  Errors as
 * cxlms_import_safetensors(), and -EINVAL for a bad @cfg or when every
 * tensor is skipped.
 */
int cxlms_import(struct cxlms_ctx *ctx, const char *const *inputs,
		 unsigned int n_inputs, const char *out_path,
		 const struct cxlms_import_config *cfg);

/*
 * The store's metadata: (key, value) byte strings kept at import, e.g.
 * "config.json" (the model's config file) and "safetensors.__metadata__"
 * (the JSON object of the first input's header).  Values stay valid until
 * the store is released and are followed by a NUL not counted in @len.
 * Returns 0; -ENOENT no such entry (or no metadata area: stores opened on
 * /dev/cxlmsN do not expose it); -EPROTONOSUPPORT the area has a newer
 * version than this library reads.
 */
int cxlms_store_get_metadata_count(struct cxlms_store *store);
int cxlms_store_get_metadata(struct cxlms_store *store, unsigned int i,
			     const char **key, const void **value, size_t *len);
int cxlms_store_get_metadata_key(struct cxlms_store *store, const char *key,
				 const void **value, size_t *len);

/* --- policy: precision maps published by cxlmsd (docs/policies.md) ------ */

/* Context names: 1..47 bytes of [A-Za-z0-9_.-]; buffers need 48 bytes. */
#define CXLMS_CONTEXT_NAME_MAX	48

/*
 * Choose the context whose precision map fetches with CXLMS_BITS_POLICY
 * use on this handle.  Cheap: the name is resolved once per published map
 * generation, not per fetch.  NULL or "" follows the store's default
 * context (the one `cxlms policy set-context` sets).  On /dev/cxlmsN the
 * context belongs to the open fd (SET_CONTEXT).  -ENOENT unknown context
 * (the handle keeps its previous one), -ENODATA no maps published yet,
 * -EOPNOTSUPP store without a policy area (or a module without maps).
 */
int cxlms_set_context(struct cxlms_store *store, const char *name);
/*
 * Name of the context the handle uses now (the default's name if it
 * follows the default) into @buf.  -ERANGE if @len is too small.
 */
int cxlms_get_context(struct cxlms_store *store, char *buf, size_t len);
/*
 * Bits the handle's context assigns to tiles [first, first + count) of @t,
 * all from one map generation (returned in @generation if not NULL).  An
 * engine that needs k to decode PLANES/PACKED output asks here and then
 * fetches with those explicit bits.  Errors as cxlms_set_context, and
 * -EINVAL for a bad range.
 */
int cxlms_policy_get_bits(struct cxlms_tensor *t, unsigned int first,
			  unsigned int count, uint8_t *bits,
			  uint64_t *generation);

/* --- fused GEMV/GEMM straight from the planes (docs/design.md) -------- */

/* cxlms_gemv_opts.flags */
#define CXLMS_GEMV_Q8_ACT	(1u << 0)	/* int8 activations per 32 columns */

/**
 * struct cxlms_gemv_opts - how cxlms_gemv()/cxlms_gemm() compute
 * @size: sizeof(struct cxlms_gemv_opts) of the caller
 * @flags: CXLMS_GEMV_*; 0: exact f32 activations
 * @recon: CXLMS_RECON_* (0: the format's default) as for cxlms_fetch()
 * @threads: run on this many threads (0, 1: the calling thread only)
 * @reserved: must be zero
 */
struct cxlms_gemv_opts {
	uint32_t size;
	uint32_t flags;
	uint32_t recon;
	uint32_t threads;
	uint64_t reserved[2];
};

/*
 * y[i] = W[row0 + i, :] . x for i < @n_rows, with W the tensor's rows
 * (its 2-D view) at @bits planes (1..planes, or CXLMS_BITS_POLICY: each
 * tile at the handle's context's bits), reconstructed as cxlms_fetch()
 * does.  The weights are used straight from the planes: the call reads
 * the k planes, scales and levels of the tiles the rows lie in and
 * writes nothing but @y.  @x has cols floats, @y n_rows.  Default: each
 * weight is exactly the binary32 of cxlms_fetch(..., CXLMS_OUT_F32) and
 * products are summed in binary32 (relative error of y about 1e-7 of
 * sum |w x|); CXLMS_GEMV_Q8_ACT (INT8 stores; ignored for BF16/FP16)
 * first rounds x to int8 per 32 columns (docs/performance.md has the
 * error).  The library starts threads only when @o->threads > 1; an
 * engine with its own pool splits the rows itself, calls on disjoint
 * ranges running concurrently.  NULL @o: defaults.
 * Returns 0 or -errno: -EINVAL bad arguments or options (non-zero
 * reserved), -E2BIG non-zero bytes past the struct this library knows,
 * -ERANGE rows outside the tensor, -EOPNOTSUPP bits the format does not
 * serve as values (cxlms_fetch() F32's rule) or an unknown flag, and
 * cxlms_fetch()'s and the policy's errors.  @y is untouched on an error
 * found before the first tile.
 */
int cxlms_gemv(struct cxlms_store *store, struct cxlms_tensor *t,
	       uint64_t row0, uint64_t n_rows, unsigned int bits,
	       const float *x, float *y, const struct cxlms_gemv_opts *o);
/*
 * The same for @n_vec (1..16) vectors at once, the weights read once:
 * vector v at @x + v * @ldx (@ldx >= cols), result at @y + v * @ldy
 * (@ldy >= n_rows).
 */
int cxlms_gemm(struct cxlms_store *store, struct cxlms_tensor *t,
	       uint64_t row0, uint64_t n_rows, unsigned int bits,
	       unsigned int n_vec, const float *x, size_t ldx, float *y,
	       size_t ldy, const struct cxlms_gemv_opts *o);

/* --- views: the store mapped at k bits for plain loads (LIBCXLMS_1.3) -- */

/*
 * cxlms_view_opts.layout: CXLMS_VIEW_PACKED, _INT8, _INT16 of <linux/cxlms.h>
 * (the bytes: docs/format.md, "Views")
 */
/* cxlms_view_opts.flags */
#define CXLMS_VIEW_EAGER	(1u << 0)	/* decode all at map time (file: no userfaultfd) */

/**
 * struct cxlms_view_opts - what cxlms_view_map() maps
 * @size: sizeof(struct cxlms_view_opts) of the caller
 * @flags: CXLMS_VIEW_*
 * @layout: CXLMS_VIEW_PACKED, _INT8 or _INT16
 * @bits: planes, 1..planes, or CXLMS_BITS_POLICY: each tile at the bits
 *	of the handle's context (cxlms_set_context()), followed through
 *	cxlms_view_refresh()
 * @recon: CXLMS_RECON_* (0: the format's default), as for cxlms_fetch()
 * @reserved: must be zero
 */
struct cxlms_view_opts {
	uint32_t size;
	uint32_t flags;
	uint32_t layout;
	uint32_t bits;
	uint32_t recon;
	uint32_t reserved0;
	uint64_t reserved[2];
};

/**
 * struct cxlms_view_tensor - where a tensor lies in a view (bytes from the
 * view's start; docs/design.md has the formulas)
 * @off, @len: the tensor's section, 4096-byte aligned
 * @tile_stride: PACKED: bytes between tile slots (tile t at @off + t *
 *	@tile_stride); INT8/INT16: 0 (the data is the tensor's rows)
 * @data_off, @data_len: INT8/INT16: the elements, row-major
 * @scales_off, @scales_len: INT8: every row's fp16 group scales, row-major
 */
struct cxlms_view_tensor {
	uint64_t off, len;
	uint64_t tile_stride;
	uint64_t data_off, data_len;
	uint64_t scales_off, scales_len;
};

struct cxlms_view;

/*
 * Map a read-only view of @t (NULL: every tensor of the store the layout
 * and bits serve, in index order) for plain loads: the bytes of
 * docs/format.md "Views", the same on every backend.  File backend: a
 * handler thread of the library fills the pages on first touch through
 * userfaultfd (UFFD_USER_MODE_ONLY, so no privilege is needed; a whole
 * tile per fault), or, where the kernel refuses userfaultfd or with
 * CXLMS_VIEW_EAGER, the whole view is decoded at map time into anonymous
 * memory (cxlms_view_get_mode()).  Kernel backend: VIEW_CREATE + mmap of
 * the device; the module fills the pages on first touch and follows
 * SET_MAP / SET_CONTEXT itself.  The view holds a reference on @store.
 * Returns 0 or -errno: -EINVAL bad options or non-zero reserved, a layout
 * the tensor's format does not have (INT8 layout on a 16-bit tensor, ...);
 * -E2BIG non-zero bytes past the struct this library knows; -EOPNOTSUPP
 * unknown flag, bits the format cannot serve in the layout (cxlms_fetch()'s
 * rule; a whole-store view leaves such tensors out and fails only if none
 * is left), or a device without views; -EPROTO a module whose sections
 * differ from this library's layout; the policy's errors for
 * CXLMS_BITS_POLICY; -ENOMEM; the module's VIEW_CREATE and mmap errors.
 */
int cxlms_view_map(struct cxlms_store *store, struct cxlms_tensor *t,
		   const struct cxlms_view_opts *opts, struct cxlms_view **view);
/* Unmap and free (NULL is fine); a thread still loading from it faults. */
void cxlms_view_unmap(struct cxlms_view *view);
const void *cxlms_view_get_addr(struct cxlms_view *view);
uint64_t cxlms_view_get_size(struct cxlms_view *view);
/* "userfaultfd", "eager" or "kernel" */
const char *cxlms_view_get_mode(struct cxlms_view *view);
/* Where @t lies; -ENOENT @t is not in the view. */
int cxlms_view_get_tensor(struct cxlms_view *view, struct cxlms_tensor *t,
			  struct cxlms_view_tensor *info);
/*
 * Follow the policy: if the maps or the handle's context changed since
 * the view was filled, drop every tile whose bits changed, so the next
 * load sees the new bits (userfaultfd: the pages fault again; eager: the
 * tile's pages are replaced by freshly decoded ones in one mremap).  A
 * tile's bytes always come from one map generation.  Returns the number
 * of tiles dropped (0: nothing changed, or not a CXLMS_BITS_POLICY view)
 * or -errno (the policy's errors).  Kernel backend: 0, the module has
 * already dropped them when the maps or the context changed.
 */
int cxlms_view_refresh(struct cxlms_view *view);
/*
 * Bits tile @tile of @t is decoded at now (a PACKED slot's k) or, if it
 * is not filled yet, would be; -ENOENT, -EINVAL bad tile.
 */
int cxlms_view_get_tile_bits(struct cxlms_view *view, struct cxlms_tensor *t,
			     unsigned int tile);
/*
 * First error the fill of a page hit (a tile checksum with verify on, no
 * memory, the policy's errors), or 0.  Loads from such a tile get SIGSEGV
 * rather than wrong bytes.
 */
int cxlms_view_get_error(struct cxlms_view *view);

#ifdef __cplusplus
}
#endif

#endif /* LIBCXLMS_H */
