/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcxlms internals: the objects behind the opaque public handles, the
 * logging macros and the backend seam.  Nothing here is exported.
 */
#ifndef LIBCXLMS_PRIVATE_H
#define LIBCXLMS_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>
#include <sys/stat.h>

#include "libcxlms.h"
#include "store_format.h"

/* --- logging (after libcxl's dbg/info/err) -------------------------------- */

void cxlms_log(struct cxlms_ctx *ctx, int priority, const char *file,
	       int line, const char *fn, const char *format, ...)
	__attribute__((format(printf, 6, 7)));

#define cxlms_log_cond(ctx, prio, ...)					\
	do {								\
		if ((ctx) && cxlms_get_log_priority(ctx) >= (prio))	\
			cxlms_log(ctx, prio, __FILE__, __LINE__,	\
				  __func__, __VA_ARGS__);		\
	} while (0)

#define cxlms_dbg(ctx, ...)	cxlms_log_cond(ctx, LOG_DEBUG, __VA_ARGS__)
#define cxlms_info(ctx, ...)	cxlms_log_cond(ctx, LOG_INFO, __VA_ARGS__)
#define cxlms_err(ctx, ...)	cxlms_log_cond(ctx, LOG_ERR, __VA_ARGS__)

/* --- counters ------------------------------------------------------------- */

/* Same shape as struct cxlms_stats, updated with atomics by fetchers. */
struct cxlms_counters {
	uint64_t fetches;
	uint64_t plane_bytes[CXLMS_MAX_PLANES];
	uint64_t side_bytes;
	uint64_t out_bytes;
};

void cxlms_counters_add(struct cxlms_counters *c, uint64_t tiles,
			unsigned int bits, uint64_t plane_bytes,
			uint64_t side_bytes, uint64_t out_bytes);
void cxlms_counters_read(const struct cxlms_counters *c, struct cxlms_stats *st);
void cxlms_counters_reset(struct cxlms_counters *c);

/* --- objects -------------------------------------------------------------- */

struct cxlms_tensor {
	struct cxlms_store *store;
	unsigned int index;
	/* Validated copy: later changes to the backing bytes cannot move bounds. */
	struct cxlms_dirent d;
	struct cxlms_tile_geom geom;
	struct cxlms_tile_layout layout;
	struct cxlms_counters stats;
};

struct cxlms_store;

/*
 * struct cxlms_backend_ops - what a backend provides behind the public calls
 * @name: "file" or "kernel"
 * @lib_counters: the library counts fetches in struct cxlms_store/tensor
 *	(file backend: this process); false when the backend keeps its own
 * @open: map/attach the store open on @fd and fill the tensors through
 *	cxlms_store_set_directory(); -errno (reason logged)
 * @close: undo @open
 * @fetch_tiles: tiles [first, first + count) of @t into @buf; arguments are
 *	validated and @len covers every tile; returns bytes written
 * @fetch_pieces: optional; cxlms_simd_fetch_pieces() for one tile (see
 *	lib/simd/simd.h), -EOPNOTSUPP before any piece if it cannot
 * @tile_map: optional; tile @tile of @t directly addressable (the file
 *	mapping), valid while the store is open: cxlms_gemv() reads the k
 *	planes in place instead of fetching them
 * @verify: full integrity check (tile CRCs)
 * @verify_tiles: CRC of tiles [first, first + count) of @t before a fetch
 *	reads them; -EBADMSG with the reason in @why
 * @get_stats, @reset_stats: counters (@t NULL: the whole store)
 */
struct cxlms_backend_ops {
	const char *name;
	bool lib_counters;
	int (*open)(struct cxlms_store *s, int fd, const struct stat *st,
		    unsigned int flags);
	void (*close)(struct cxlms_store *s);
	int64_t (*fetch_tiles)(struct cxlms_store *s, struct cxlms_tensor *t,
			       unsigned int first, unsigned int count,
			       unsigned int bits, unsigned int out,
			       unsigned int recon, void *buf, size_t len);
	int (*fetch_pieces)(struct cxlms_store *s, struct cxlms_tensor *t,
			    unsigned int tile, unsigned int bits,
			    unsigned int out, unsigned int recon,
			    uint32_t piece_elems, void *buf, size_t buf_len,
			    void *side, size_t side_len,
			    int (*fn)(void *arg, uint32_t first, uint32_t count,
				      const void *data, uint64_t len),
			    void *arg);
	const uint8_t *(*tile_map)(struct cxlms_store *s, struct cxlms_tensor *t,
				   unsigned int tile);
	int (*verify)(struct cxlms_store *s);
	int (*verify_tiles)(struct cxlms_store *s, struct cxlms_tensor *t,
			    unsigned int first, unsigned int count, char *why,
			    size_t why_len);
	int (*get_stats)(struct cxlms_store *s, struct cxlms_tensor *t,
			 struct cxlms_stats *st);
	int (*reset_stats)(struct cxlms_store *s);
};

extern const struct cxlms_backend_ops cxlms_file_backend;
extern const struct cxlms_backend_ops cxlms_kernel_backend;

/* --- kernel backend helpers (backend_kernel.c) ------------------------------ */

/* ioctl(fd, CXLMS_IOC(nr), arg): 0 or -errno; EINTR retried except FETCH. */
int cxlms_kernel_ioctl(int fd, unsigned int nr, void *arg);
/* The ioctl (and uring cmd_op) encoding of command @nr for a @size struct. */
unsigned int cxlms_kernel_cmd(unsigned int nr, uint32_t size);
/* -ENOTTY (logged) if the character device @st is not a cxlms device. */
int cxlms_kernel_check_node(struct cxlms_ctx *ctx, const char *path,
			    const struct stat *st);
/* QUERY into @q; -ENOTTY not a cxlms device, -EPROTONOSUPPORT old module. */
int cxlms_kernel_query(struct cxlms_ctx *ctx, int fd, const char *path,
		       struct cxlms_ioc_query *q);

/*
 * Precision maps on the device (lib/policy.c calls these for kernel
 * stores): 0 or -errno; -EOPNOTSUPP from a module without maps.
 * set_map: @ctx/@maps as SET_MAP takes them, the store's tensor count.
 * get_map: bits of the handle's context for the range (@count 0: only
 * @generation and the resolved @context name; both may be NULL).
 */
int cxlms_kernel_set_map(struct cxlms_store *s, unsigned int n_contexts,
			 unsigned int default_context,
			 const struct cxlms_ioc_map_context *ctx,
			 unsigned int n_tiles, const uint8_t *maps,
			 uint64_t *generation);
int cxlms_kernel_set_context(struct cxlms_store *s, const char *name);
int cxlms_kernel_get_map(struct cxlms_store *s, unsigned int tensor,
			 unsigned int first, unsigned int count, uint8_t *bits,
			 uint64_t *generation, char context[CXLMS_MAP_NAME_MAX]);

struct cxlms_store {
	int refcount;
	struct cxlms_ctx *ctx;
	char *path;
	int fd;
	unsigned int flags;
	const struct cxlms_backend_ops *ops;
	void *backend;			/* backend private state */
	struct cxlms_sb sb;		/* validated copy */
	struct cxlms_tensor *tensors;
	unsigned int n_tensors;
	/* open-addressing name index: slot holds tensor index + 1, 0 = free */
	uint32_t *name_slots;
	uint32_t name_mask;
	struct cxlms_counters stats;
	/* lib/policy.c: the handle's context and policy-area mapping */
	struct cxlms_policy_handle *policy;
	/* lib/metadata.c: validated copy of the metadata area, or why not */
	struct cxlms_meta *meta;
	int meta_err;
	/* cxlms_store_set_verify(): CRC-check every tile a fetch reads */
	int verify;
};

/*
 * The rows tile @tile of @t holds: the one place that knows (the last
 * tile may be short).  Row fetches and verify use nothing else.
 */
static inline uint32_t cxlms_tile_row_count(const struct cxlms_tensor *t,
					    unsigned int tile, uint64_t *first_row)
{
	if (first_row)
		*first_row = (uint64_t)tile * t->d.tile_rows;
	return cxlms_dirent_tile_elems(&t->d, tile) / (uint32_t)t->d.cols;
}

/* Tile of tensor row @row and the row counted from the tile's first. */
static inline unsigned int cxlms_row_tile(const struct cxlms_tensor *t,
					  uint64_t row, uint32_t *tile_row)
{
	*tile_row = (uint32_t)(row % t->d.tile_rows);
	return (unsigned int)(row / t->d.tile_rows);
}

/* Verify tiles [first, first + count) if @flags or the store asks: 0 or -EBADMSG. */
int cxlms_fetch_verify(struct cxlms_store *s, struct cxlms_tensor *t,
		       unsigned int first, unsigned int count, unsigned int flags);

/*
 * Build the tensor objects from a validated directory (copied), with their
 * geometry and the name index.  Backends call this from ->open.
 */
int cxlms_store_set_directory(struct cxlms_store *s, const struct cxlms_sb *sb,
			      const struct cxlms_dirent *dir, unsigned int n);

#endif /* LIBCXLMS_PRIVATE_H */
