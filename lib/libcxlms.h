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
int cxlms_store_reset_stats(struct cxlms_store *store);

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

#ifdef __cplusplus
}
#endif

#endif /* LIBCXLMS_H */

