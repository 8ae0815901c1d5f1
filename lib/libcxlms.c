// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libcxlms front end: context and logging, store and tensor objects, fetch
 * argument checking and the counters.  The bytes themselves come from a
 * backend (backend_file.c for store files, backend_kernel.c for /dev/cxlmsN)
 * behind struct cxlms_backend_ops.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include "private.h"
#include "metadata.h"
#include "policy.h"
#include "simd/simd.h"

struct cxlms_ctx {
	int refcount;
	cxlms_log_fn log_fn;
	int log_priority;
	void *userdata;
};

/* --- context and logging -------------------------------------------------- */

static int log_priority_from_env(void)
{
	const char *env = getenv("CXLMS_LOG");
	char *end;
	long v;

	if (!env || !*env)
		return LOG_ERR;
	if (!strcasecmp(env, "err") || !strcasecmp(env, "error"))
		return LOG_ERR;
	if (!strcasecmp(env, "info"))
		return LOG_INFO;
	if (!strcasecmp(env, "debug"))
		return LOG_DEBUG;
	v = strtol(env, &end, 10);
	if (*end == '\0' && v >= 0 && v <= LOG_DEBUG)
		return (int)v;
	return LOG_ERR;
}

int cxlms_new(struct cxlms_ctx **ctx)
{
	struct cxlms_ctx *c;

	if (!ctx)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->refcount = 1;
	c->log_priority = log_priority_from_env();
	*ctx = c;
	return 0;
}

struct cxlms_ctx *cxlms_ref(struct cxlms_ctx *ctx)
{
	if (ctx)
		__atomic_add_fetch(&ctx->refcount, 1, __ATOMIC_RELAXED);
	return ctx;
}

struct cxlms_ctx *cxlms_unref(struct cxlms_ctx *ctx)
{
	if (!ctx)
		return NULL;
	if (__atomic_sub_fetch(&ctx->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return ctx;
	free(ctx);
	return NULL;
}

void cxlms_set_log_fn(struct cxlms_ctx *ctx, cxlms_log_fn log_fn)
{
	if (ctx)
		ctx->log_fn = log_fn;
}

int cxlms_get_log_priority(struct cxlms_ctx *ctx)
{
	return ctx ? ctx->log_priority : -EINVAL;
}

void cxlms_set_log_priority(struct cxlms_ctx *ctx, int priority)
{
	if (ctx)
		ctx->log_priority = priority;
}

void cxlms_set_userdata(struct cxlms_ctx *ctx, void *data)
{
	if (ctx)
		ctx->userdata = data;
}

void *cxlms_get_userdata(struct cxlms_ctx *ctx)
{
	return ctx ? ctx->userdata : NULL;
}

void cxlms_log(struct cxlms_ctx *ctx, int priority, const char *file,
	       int line, const char *fn, const char *format, ...)
{
	va_list args;

	if (!ctx || !ctx->log_fn)
		return;
	va_start(args, format);
	ctx->log_fn(ctx, priority, file, line, fn, format, args);
	va_end(args);
}

/* --- names ---------------------------------------------------------------- */

static const char *const fmt_names[] = {
	[CXLMS_FMT_INT8] = "int8",
	[CXLMS_FMT_BF16] = "bf16",
	[CXLMS_FMT_FP16] = "fp16",
};

static const char *const dtype_names[] = {
	[CXLMS_DTYPE_F32] = "f32",
	[CXLMS_DTYPE_F16] = "f16",
	[CXLMS_DTYPE_BF16] = "bf16",
	[CXLMS_DTYPE_I8] = "i8",
};

static const char *const out_names[] = {
	[CXLMS_OUT_PLANES] = "planes",
	[CXLMS_OUT_PACKED] = "packed",
	[CXLMS_OUT_INT] = "int",
	[CXLMS_OUT_F32] = "f32",
	[CXLMS_OUT_BF16] = "bf16",
};

static const char *const recon_names[] = {
	[CXLMS_RECON_DEFAULT] = "default",
	[CXLMS_RECON_FLOOR] = "floor",
	[CXLMS_RECON_MIDPOINT] = "midpoint",
	[CXLMS_RECON_TABLE] = "table",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *tab, size_t n, unsigned int v)
{
	return v < n ? tab[v] : NULL;
}

static int parse_name(const char *const *tab, size_t n, const char *name)
{
	size_t i;

	if (!name)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (tab[i] && !strcasecmp(tab[i], name))
			return (int)i;
	return -EINVAL;
}

const char *cxlms_format_name(unsigned int fmt)
{
	return name_of(fmt_names, ARRAY_SIZE(fmt_names), fmt);
}

const char *cxlms_dtype_name(unsigned int dtype)
{
	return name_of(dtype_names, ARRAY_SIZE(dtype_names), dtype);
}

const char *cxlms_out_name(unsigned int out)
{
	return name_of(out_names, ARRAY_SIZE(out_names), out);
}

const char *cxlms_recon_name(unsigned int recon)
{
	return name_of(recon_names, ARRAY_SIZE(recon_names), recon);
}

int cxlms_format_parse(const char *name)
{
	return parse_name(fmt_names, ARRAY_SIZE(fmt_names), name);
}

int cxlms_out_parse(const char *name)
{
	return parse_name(out_names, ARRAY_SIZE(out_names), name);
}

int cxlms_recon_parse(const char *name)
{
	return parse_name(recon_names, ARRAY_SIZE(recon_names), name);
}

/* --- counters ------------------------------------------------------------- */

static void counter_add(uint64_t *c, uint64_t v)
{
	if (v)
		__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

void cxlms_counters_add(struct cxlms_counters *c, uint64_t tiles,
			unsigned int bits, uint64_t plane_bytes,
			uint64_t side_bytes, uint64_t out_bytes)
{
	unsigned int p;

	counter_add(&c->fetches, tiles);
	for (p = 0; p < bits && p < CXLMS_MAX_PLANES; p++)
		counter_add(&c->plane_bytes[p], plane_bytes);
	counter_add(&c->side_bytes, side_bytes);
	counter_add(&c->out_bytes, out_bytes);
}

void cxlms_counters_read(const struct cxlms_counters *c, struct cxlms_stats *st)
{
	unsigned int p;

	st->fetches = __atomic_load_n(&c->fetches, __ATOMIC_RELAXED);
	for (p = 0; p < CXLMS_MAX_PLANES; p++)
		st->plane_bytes[p] = __atomic_load_n(&c->plane_bytes[p],
						     __ATOMIC_RELAXED);
	st->side_bytes = __atomic_load_n(&c->side_bytes, __ATOMIC_RELAXED);
	st->out_bytes = __atomic_load_n(&c->out_bytes, __ATOMIC_RELAXED);
}

void cxlms_counters_reset(struct cxlms_counters *c)
{
	unsigned int p;

	__atomic_store_n(&c->fetches, 0, __ATOMIC_RELAXED);
	for (p = 0; p < CXLMS_MAX_PLANES; p++)
		__atomic_store_n(&c->plane_bytes[p], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->side_bytes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->out_bytes, 0, __ATOMIC_RELAXED);
}

/* --- stores --------------------------------------------------------------- */

/* FNV-1a: stores may hold thousands of tensors, lookups must not scan. */
static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*name) {
		h ^= (unsigned char)*name++;
		h *= 0x100000001b3ull;
	}
	return h;
}

int cxlms_store_set_directory(struct cxlms_store *s, const struct cxlms_sb *sb,
			      const struct cxlms_dirent *dir, unsigned int n)
{
	uint32_t slots = 16, i;
	int rc;

	while (slots < 2ull * n)
		slots <<= 1;
	s->tensors = calloc(n ? n : 1, sizeof(*s->tensors));
	s->name_slots = calloc(slots, sizeof(*s->name_slots));
	if (!s->tensors || !s->name_slots)
		return -ENOMEM;
	s->name_mask = slots - 1;
	s->sb = *sb;

	for (i = 0; i < n; i++) {
		struct cxlms_tensor *t = &s->tensors[i];
		uint32_t slot;

		t->store = s;
		t->index = i;
		memcpy(&t->d, &dir[i], sizeof(t->d));
		/* The codec checked this; a copy must still be a C string. */
		t->d.name[CXLMS_NAME_MAX - 1] = '\0';
		cxlms_dirent_geom(&t->d, &t->geom);
		rc = cxlms_tile_layout(&t->geom, &t->layout);
		if (rc) {
			cxlms_err(s->ctx, "%s: tensor '%s': bad tile geometry",
				  s->path, t->d.name);
			return -CXLMS_EINVALID;
		}
		slot = (uint32_t)name_hash(t->d.name) & s->name_mask;
		while (s->name_slots[slot])
			slot = (slot + 1) & s->name_mask;
		s->name_slots[slot] = i + 1;
	}
	s->n_tensors = n;
	return 0;
}

static void store_free(struct cxlms_store *s)
{
	cxlms_policy_release(s);
	if (s->ops && s->ops->close)
		s->ops->close(s);
	if (s->fd >= 0)
		close(s->fd);
	free(s->tensors);
	free(s->name_slots);
	cxlms_meta_free(s->meta);
	free(s->path);
	cxlms_unref(s->ctx);
	free(s);
}

/*
 * Pick the backend for what @path turned out to be: a store file, or a
 * character device (/dev/cxlmsN, which the kernel backend checks).
 */
static int select_backend(struct cxlms_store *s, const struct stat *st)
{
	if (S_ISREG(st->st_mode)) {
		s->ops = &cxlms_file_backend;
		return 0;
	}
	if (S_ISCHR(st->st_mode)) {
		s->ops = &cxlms_kernel_backend;
		return 0;
	}
	if (S_ISDIR(st->st_mode)) {
		cxlms_err(s->ctx, "%s: is a directory, not a store", s->path);
		return -EISDIR;
	}
	cxlms_err(s->ctx, "%s: not a regular file or device node", s->path);
	return -EINVAL;
}

int cxlms_open(struct cxlms_ctx *ctx, const char *path, unsigned int flags,
	       struct cxlms_store **store)
{
	struct cxlms_store *s;
	struct stat st;
	int rc;

	if (!ctx || !path || !store)
		return -EINVAL;
	*store = NULL;
	if (flags & ~CXLMS_OPEN_RDWR) {
		cxlms_err(ctx, "%s: unknown open flags 0x%x", path,
			  flags & ~CXLMS_OPEN_RDWR);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->refcount = 1;
	s->fd = -1;
	s->flags = flags;
	s->ctx = cxlms_ref(ctx);
	s->path = strdup(path);
	if (!s->path) {
		rc = -ENOMEM;
		goto err;
	}
	/* O_NONBLOCK: a FIFO named by mistake must not hang the caller. */
	s->fd = open(path, ((flags & CXLMS_OPEN_RDWR) ? O_RDWR : O_RDONLY) |
		     O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (s->fd < 0) {
		rc = -errno;
		cxlms_err(ctx, "%s: open: %s", path, strerror(errno));
		goto err;
	}
	if (fstat(s->fd, &st) < 0) {
		rc = -errno;
		cxlms_err(ctx, "%s: fstat: %s", path, strerror(errno));
		goto err;
	}
	rc = select_backend(s, &st);
	if (rc)
		goto err;
	rc = s->ops->open(s, s->fd, &st, flags);
	if (rc) {
		s->ops = NULL;	/* ->open cleaned up after itself */
		goto err;
	}
	cxlms_dbg(ctx, "%s: opened (%s backend, %u tensors, %llu bytes)",
		  path, s->ops->name, s->n_tensors,
		  (unsigned long long)s->sb.store_bytes);
	*store = s;
	return 0;
err:
	store_free(s);
	return rc;
}

struct cxlms_store *cxlms_store_ref(struct cxlms_store *store)
{
	if (store)
		__atomic_add_fetch(&store->refcount, 1, __ATOMIC_RELAXED);
	return store;
}

struct cxlms_store *cxlms_store_unref(struct cxlms_store *store)
{
	if (!store)
		return NULL;
	if (__atomic_sub_fetch(&store->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return store;
	store_free(store);
	return NULL;
}

struct cxlms_ctx *cxlms_store_get_ctx(struct cxlms_store *store)
{
	return store ? store->ctx : NULL;
}

const char *cxlms_store_get_path(struct cxlms_store *store)
{
	return store ? store->path : NULL;
}

const char *cxlms_store_get_backend(struct cxlms_store *store)
{
	return store ? store->ops->name : NULL;
}

unsigned int cxlms_store_get_tensor_count(struct cxlms_store *store)
{
	return store ? store->n_tensors : 0;
}

uint64_t cxlms_store_get_size(struct cxlms_store *store)
{
	return store ? store->sb.store_bytes : 0;
}

int cxlms_store_get_uuid(struct cxlms_store *store, uint8_t uuid[16])
{
	if (!store || !uuid)
		return -EINVAL;
	memcpy(uuid, store->sb.uuid, sizeof(store->sb.uuid));
	return 0;
}

int cxlms_store_verify(struct cxlms_store *store)
{
	if (!store)
		return -EINVAL;
	return store->ops->verify(store);
}

/* --- tensors -------------------------------------------------------------- */

struct cxlms_tensor *cxlms_tensor_get_first(struct cxlms_store *store)
{
	if (!store || !store->n_tensors)
		return NULL;
	return &store->tensors[0];
}

struct cxlms_tensor *cxlms_tensor_get_next(struct cxlms_tensor *t)
{
	if (!t || t->index + 1 >= t->store->n_tensors)
		return NULL;
	return &t->store->tensors[t->index + 1];
}

int cxlms_tensor_lookup(struct cxlms_store *store, const char *name,
			struct cxlms_tensor **tensor)
{
	uint32_t slot, idx;

	if (!store || !name || !tensor)
		return -EINVAL;
	slot = (uint32_t)name_hash(name) & store->name_mask;
	while ((idx = store->name_slots[slot]) != 0) {
		if (!strcmp(store->tensors[idx - 1].d.name, name)) {
			*tensor = &store->tensors[idx - 1];
			return 0;
		}
		slot = (slot + 1) & store->name_mask;
	}
	return -ENOENT;
}

const char *cxlms_tensor_get_name(struct cxlms_tensor *t)
{
	return t ? t->d.name : NULL;
}

unsigned int cxlms_tensor_get_index(struct cxlms_tensor *t)
{
	return t ? t->index : 0;
}

unsigned int cxlms_tensor_get_format(struct cxlms_tensor *t)
{
	return t ? t->d.fmt : 0;
}

unsigned int cxlms_tensor_get_src_dtype(struct cxlms_tensor *t)
{
	return t ? t->d.src_dtype : 0;
}

unsigned int cxlms_tensor_get_ndim(struct cxlms_tensor *t)
{
	return t ? t->d.ndim : 0;
}

uint64_t cxlms_tensor_get_dim(struct cxlms_tensor *t, unsigned int i)
{
	if (!t || i >= t->d.ndim || i >= CXLMS_MAX_DIMS)
		return 0;
	return t->d.shape[i];
}

uint64_t cxlms_tensor_get_rows(struct cxlms_tensor *t)
{
	return t ? t->d.rows : 0;
}

uint64_t cxlms_tensor_get_cols(struct cxlms_tensor *t)
{
	return t ? t->d.cols : 0;
}

uint64_t cxlms_tensor_get_elems(struct cxlms_tensor *t)
{
	return t ? t->d.rows * t->d.cols : 0;
}

unsigned int cxlms_tensor_get_group_size(struct cxlms_tensor *t)
{
	return t ? t->d.group_size : 0;
}

unsigned int cxlms_tensor_get_planes(struct cxlms_tensor *t)
{
	return t ? t->layout.n_planes : 0;
}

unsigned int cxlms_tensor_get_tile_rows(struct cxlms_tensor *t)
{
	return t ? t->d.tile_rows : 0;
}

unsigned int cxlms_tensor_get_tile_count(struct cxlms_tensor *t)
{
	return t ? t->d.n_tiles : 0;
}

unsigned int cxlms_tensor_get_tile_elems(struct cxlms_tensor *t,
					 unsigned int tile)
{
	if (!t || tile >= t->d.n_tiles)
		return 0;
	return cxlms_dirent_tile_elems(&t->d, tile);
}

uint64_t cxlms_tensor_get_stored_bytes(struct cxlms_tensor *t)
{
	return t ? cxlms_dirent_tiles_bytes(&t->d) : 0;
}

/* --- fetch ---------------------------------------------------------------- */

static int tile_layout_of(struct cxlms_tensor *t, unsigned int tile,
			  unsigned int bits, unsigned int out,
			  unsigned int recon, struct cxlms_fetch_layout *fl)
{
	if (bits == CXLMS_BITS_POLICY)
		return -EOPNOTSUPP;	/* precision maps come with cxlmsd */
	return cxlms_fetch_layout(&t->geom, cxlms_dirent_tile_elems(&t->d, tile),
				  bits, out, recon, fl);
}

int cxlms_fetch_info(struct cxlms_tensor *t, unsigned int tile,
		     unsigned int bits, unsigned int out, unsigned int recon,
		     struct cxlms_fetch_info *info)
{
	struct cxlms_fetch_layout fl;
	int rc;

	if (!t || !info || tile >= t->d.n_tiles)
		return -EINVAL;
	if (bits == CXLMS_BITS_POLICY)
		return cxlms_policy_fetch_info(t, tile, out, recon, info);
	rc = tile_layout_of(t, tile, bits, out, recon, &fl);
	if (rc)
		return rc;
	info->data_off = fl.data_off;
	info->data_len = fl.data_len;
	info->scales_off = fl.scales_off;
	info->scales_len = fl.scales_len;
	info->levels_off = fl.levels_off;
	info->levels_len = fl.levels_len;
	info->total = fl.total;
	info->bytes_read = fl.read_planes * bits + fl.read_side;
	return 0;
}

/*
 * What a fetch of [first, first + count) reads and writes.  Every tile but
 * the tensor's last has the full tile's layout, so two layouts cover any
 * range and the cost does not grow with @count.
 */
struct range_cost {
	uint64_t total, planes, side;
};

static int range_cost(struct cxlms_tensor *t, unsigned int first,
		      unsigned int count, unsigned int bits, unsigned int out,
		      unsigned int recon, struct range_cost *c)
{
	struct cxlms_fetch_layout full, last;
	unsigned int n_tiles = t->d.n_tiles, n_full;
	bool has_last;
	int rc;

	if (count == 0 || first >= n_tiles || count > n_tiles - first)
		return -EINVAL;
	has_last = first + count == n_tiles;
	n_full = count - has_last;
	rc = tile_layout_of(t, has_last ? n_tiles - 1 : first, bits, out,
			    recon, &last);
	if (rc)
		return rc;
	if (!has_last)
		full = last;
	else if (n_full)
		rc = tile_layout_of(t, first, bits, out, recon, &full);
	else
		memset(&full, 0, sizeof(full));
	if (rc)
		return rc;
	if (__builtin_mul_overflow((uint64_t)n_full, full.total, &c->total) ||
	    __builtin_add_overflow(c->total, has_last ? last.total : 0, &c->total) ||
	    c->total > INT64_MAX)
		return -EOVERFLOW;
	/* Bounded by the store size, which the codec checked, so no overflow. */
	c->planes = n_full * full.read_planes + (has_last ? last.read_planes : 0);
	c->side = n_full * full.read_side + (has_last ? last.read_side : 0);
	return 0;
}

int64_t cxlms_fetch_size(struct cxlms_tensor *t, unsigned int first,
			 unsigned int count, unsigned int bits,
			 unsigned int out, unsigned int recon)
{
	struct range_cost c;
	int rc;

	if (!t)
		return -EINVAL;
	if (bits == CXLMS_BITS_POLICY)
		return cxlms_policy_fetch_size(t, first, count, out, recon);
	rc = range_cost(t, first, count, bits, out, recon, &c);
	return rc ? rc : (int64_t)c.total;
}

int64_t cxlms_fetch_tiles(struct cxlms_store *store, struct cxlms_tensor *t,
			  unsigned int first, unsigned int count,
			  unsigned int bits, unsigned int out,
			  unsigned int recon, void *buf, size_t len)
{
	struct range_cost c;
	int64_t n;
	int rc;

	if (!store || !t || t->store != store)
		return -EINVAL;
	/* cxlms_store_set_verify(): before a byte of the range is used. */
	if (count && first < t->d.n_tiles && count <= t->d.n_tiles - first) {
		rc = cxlms_fetch_verify(store, t, first, count, 0);
		if (rc)
			return rc;
	}
	if (bits == CXLMS_BITS_POLICY)
		return cxlms_policy_fetch_tiles(store, t, first, count, out, recon,
						buf, len);
	rc = range_cost(t, first, count, bits, out, recon, &c);
	if (rc)
		return rc;
	if (len < c.total)
		return -ENOSPC;		/* before a single byte is written */
	if (!buf)
		return -EINVAL;
	n = store->ops->fetch_tiles(store, t, first, count, bits, out, recon,
				    buf, len);
	if (n < 0)
		return n;
	if ((uint64_t)n != c.total) {
		cxlms_err(store->ctx, "%s: tensor '%s': fetch wrote %lld bytes, expected %llu",
			  store->path, t->d.name, (long long)n,
			  (unsigned long long)c.total);
		return -EIO;
	}
	if (store->ops->lib_counters) {
		cxlms_counters_add(&store->stats, count, bits, c.planes, c.side,
				   c.total);
		cxlms_counters_add(&t->stats, count, bits, c.planes, c.side,
				   c.total);
	}
	return n;
}

int64_t cxlms_fetch(struct cxlms_store *store, struct cxlms_tensor *t,
		    unsigned int tile, unsigned int bits, unsigned int out,
		    unsigned int recon, void *buf, size_t len)
{
	return cxlms_fetch_tiles(store, t, tile, 1, bits, out, recon, buf, len);
}

/* --- fetch in pieces ------------------------------------------------------ */

#define PIECE_BYTES_DEFAULT	8192
#define PIECE_ALIGN		512	/* elements: one 64-byte line of each plane */

struct pieces_call {
	cxlms_piece_fn fn;
	void *arg;
	struct cxlms_piece p;
	uint64_t delivered;	/* elements handed to @fn so far */
	uint64_t out_bytes;	/* their data bytes */
	bool called;
};

static int piece_to_consumer(void *arg, uint32_t first, uint32_t count,
			     const void *data, uint64_t len)
{
	struct pieces_call *c = arg;

	c->p.elem_first = first;
	c->p.elem_count = count;
	c->p.data = data;
	c->p.data_len = len;
	c->delivered = (uint64_t)first + count;
	c->out_bytes += len;
	c->called = true;
	return c->fn(c->arg, &c->p);
}

/* Whole tile into a buffer of ours, then the same pieces from there. */
static int pieces_from_whole(struct cxlms_store *store, struct cxlms_tensor *t,
			     unsigned int tile, unsigned int out,
			     unsigned int recon, uint32_t piece_elems,
			     const struct cxlms_fetch_layout *fl,
			     struct pieces_call *c)
{
	uint32_t n = cxlms_dirent_tile_elems(&t->d, tile), e;
	unsigned int w = cxlms_out_elem_bits(t->layout.n_planes, c->p.bits, out);
	/* 64-byte aligned: the side data's aligned offsets stay aligned. */
	uint8_t *buf = aligned_alloc(64, (fl->total + 63) / 64 * 64);
	int64_t got;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	got = cxlms_fetch(store, t, tile, c->p.bits, out, recon, buf, fl->total);
	if (got < 0) {
		free(buf);
		return (int)got;
	}
	c->p.side = buf + fl->data_len;
	c->p.side_len = fl->total - fl->data_len;
	for (e = 0; e < n && !rc; e += piece_elems) {
		uint32_t cnt = n - e < piece_elems ? n - e : piece_elems;

		/* A piece starts on a byte: e is a multiple of 512. */
		rc = piece_to_consumer(c, e, cnt, buf + (uint64_t)e * w / 8,
				       ((uint64_t)cnt * w + 7) / 8);
	}
	free(buf);
	return rc;
}

int cxlms_fetch_pieces(struct cxlms_store *store, struct cxlms_tensor *t,
		       unsigned int tile, unsigned int bits, unsigned int out,
		       unsigned int recon, size_t piece_bytes,
		       cxlms_piece_fn fn, void *arg)
{
	struct pieces_call c = { .fn = fn, .arg = arg };
	struct cxlms_fetch_layout fl;
	uint64_t want, elems, buf_len;
	unsigned int w;
	uint32_t n;
	uint8_t *buf;
	uint8_t bits8;
	int rc;

	if (!store || !t || t->store != store || !fn || tile >= t->d.n_tiles ||
	    out == CXLMS_OUT_PLANES)
		return -EINVAL;
	if (bits == CXLMS_BITS_POLICY) {
		rc = cxlms_policy_get_bits(t, tile, 1, &bits8, NULL);
		if (rc)
			return rc;
		bits = bits8;
	}
	rc = tile_layout_of(t, tile, bits, out, recon, &fl);
	if (!rc)
		rc = cxlms_fetch_verify(store, t, tile, 1, 0);
	if (rc)
		return rc;
	n = cxlms_dirent_tile_elems(&t->d, tile);
	want = piece_bytes ? piece_bytes : PIECE_BYTES_DEFAULT;
	w = cxlms_out_elem_bits(t->layout.n_planes, bits, out);
	/* The whole tile or less: then want * 8 cannot overflow. */
	elems = want > (uint64_t)n * w / 8 ? n : want * 8 / w;
	elems = elems / PIECE_ALIGN * PIECE_ALIGN;
	if (!elems)
		elems = PIECE_ALIGN;
	if (elems > n)
		elems = (n + PIECE_ALIGN - 1) / PIECE_ALIGN * PIECE_ALIGN;
	c.p.tile = tile;
	c.p.bits = bits;

	rc = -EOPNOTSUPP;
	if (store->ops->fetch_pieces) {
		/* One allocation: the piece buffer (cache lines), then side data. */
		buf_len = (elems * w / 8 + CXLMS_SIMD_PIECE_SLACK + 63) / 64 * 64;
		/* aligned_alloc() wants a multiple of the alignment. */
		buf = aligned_alloc(64, buf_len + (fl.total - fl.data_len + 63) / 64 * 64 + 64);
		if (!buf)
			return -ENOMEM;
		/*
		 * Side data starts at fetch offset data_len: placed at the
		 * same offset modulo 64, its scales and levels (64-byte
		 * aligned fetch offsets) are aligned too, for every k.
		 */
		c.p.side = buf + buf_len + fl.data_len % 64;
		c.p.side_len = fl.total - fl.data_len;
		rc = store->ops->fetch_pieces(store, t, tile, bits, out, recon,
					      (uint32_t)elems, buf, buf_len,
					      (void *)c.p.side, c.p.side_len,
					      piece_to_consumer, &c);
		free(buf);
	}
	/* Declined before any piece: the same pieces from a whole fetch. */
	if (rc == -EOPNOTSUPP && !c.called)
		return pieces_from_whole(store, t, tile, out, recon,
					 (uint32_t)elems, &fl, &c);
	if (c.called && store->ops->lib_counters) {
		/* What was read: the delivered pieces' plane bytes, all side data. */
		uint64_t planes = (c.delivered + 7) / 8;

		cxlms_counters_add(&store->stats, 1, bits, planes, fl.read_side,
				   c.out_bytes + c.p.side_len);
		cxlms_counters_add(&t->stats, 1, bits, planes, fl.read_side,
				   c.out_bytes + c.p.side_len);
	}
	return rc;
}

/* --- counters ------------------------------------------------------------- */

int cxlms_store_get_stats(struct cxlms_store *store, struct cxlms_stats *st)
{
	if (!store || !st)
		return -EINVAL;
	return store->ops->get_stats(store, NULL, st);
}

int cxlms_tensor_get_stats(struct cxlms_tensor *t, struct cxlms_stats *st)
{
	if (!t || !st)
		return -EINVAL;
	return t->store->ops->get_stats(t->store, t, st);
}

int cxlms_store_reset_stats(struct cxlms_store *store)
{
	if (!store)
		return -EINVAL;
	return store->ops->reset_stats(store);
}
