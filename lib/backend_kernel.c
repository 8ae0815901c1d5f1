// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel backend: a store behind /dev/cxlmsN (cxlms.ko), reached only
 * through the ioctl UAPI (include/uapi/linux/cxlms.h, docs/uapi.md).
 *
 * The module validated the store when it was attached and keeps it there,
 * so opening asks QUERY for the superblock facts and TENSOR_LIST for the
 * directory and builds the same tensor objects as the file backend.  The
 * module counts fetches itself (device-wide and per tensor), so the
 * library's own counters stay unused.  store->fd is the device fd: the
 * async path (io_uring) issues its commands on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "private.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* A directory that changes under us three times in a row is a busy writer. */
#define LIST_RETRIES	3

/*
 * Command encoding: ABI revision 3 modules take _IOWR with the struct's
 * real size (what strace and seccomp show); older ones only the legacy
 * header-sized encoding and answer -ENOTTY to the new one.  The first
 * command that gets -ENOTTY is retried the legacy way; if that works, the
 * process stays on it (there is one cxlms module per machine).
 */
static int legacy_encoding;

unsigned int cxlms_kernel_cmd(unsigned int nr, uint32_t size)
{
	if (__atomic_load_n(&legacy_encoding, __ATOMIC_RELAXED) ||
	    size > _IOC_SIZEMASK)
		return CXLMS_IOC(nr);
	return _IOWR(CXLMS_IOC_TYPE, nr, char[size]);
}

static int kernel_ioctl_enc(int fd, unsigned int cmd, unsigned int nr, void *arg)
{
	int rc;

	do {
		rc = ioctl(fd, cmd, arg);
	} while (rc < 0 && errno == EINTR && nr != CXLMS_CMD_FETCH);
	return rc < 0 ? -errno : 0;
}

int cxlms_kernel_ioctl(int fd, unsigned int nr, void *arg)
{
	uint32_t size = ((const struct cxlms_ioc_hdr *)arg)->size;
	unsigned int cmd = cxlms_kernel_cmd(nr, size);
	int rc = kernel_ioctl_enc(fd, cmd, nr, arg);

	if (rc == -ENOTTY && cmd != CXLMS_IOC(nr)) {
		rc = kernel_ioctl_enc(fd, CXLMS_IOC(nr), nr, arg);
		if (rc != -ENOTTY)
			__atomic_store_n(&legacy_encoding, 1, __ATOMIC_RELAXED);
	}
	return rc;
}

/*
 * Only ever send our ioctls to a cxlms device: the misc device's sysfs
 * node names it.  Without sysfs (a chroot) QUERY's -ENOTTY still tells.
 */
int cxlms_kernel_check_node(struct cxlms_ctx *ctx, const char *path,
			    const struct stat *st)
{
	char link[64], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u",
		 major(st->st_rdev), minor(st->st_rdev));
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strncmp(base, "cxlms", 5)) {
		cxlms_err(ctx, "%s: character device '%s' is not a cxlms device (/dev/cxlmsN)",
			  path, base);
		return -ENOTTY;
	}
	return 0;
}

int cxlms_kernel_query(struct cxlms_ctx *ctx, int fd, const char *path,
		       struct cxlms_ioc_query *q)
{
	int rc;

	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	rc = cxlms_kernel_ioctl(fd, CXLMS_CMD_QUERY, q);
	if (rc == -ENOTTY || rc == -EINVAL) {
		cxlms_err(ctx, "%s: not a cxlms device (QUERY: %s)", path,
			  strerror(-rc));
		return -ENOTTY;
	}
	if (rc) {
		cxlms_err(ctx, "%s: QUERY: %s", path, strerror(-rc));
		return rc;
	}
	/* Revision 1 serves everything but precision maps (revision 2). */
	if (q->abi_revision < 1) {
		cxlms_err(ctx, "%s: module ABI revision %u, libcxlms needs 1..%u",
			  path, q->abi_revision, CXLMS_ABI_REVISION);
		return -EPROTONOSUPPORT;
	}
	return 0;
}

/* The commands a read-only store handle needs. */
static const unsigned int needed_cmds[] = {
	CXLMS_CMD_TENSOR_LIST, CXLMS_CMD_FETCH, CXLMS_CMD_STATS,
	CXLMS_CMD_VERIFY,
};

static void kernel_close(struct cxlms_store *s)
{
	(void)s;	/* the fd is the store's; nothing else is held */
}

/* The superblock facts QUERY reports; offsets stay 0 (not ours to use). */
static void sb_from_query(const struct cxlms_ioc_query *q, unsigned int count,
			  struct cxlms_sb *sb)
{
	memset(sb, 0, sizeof(*sb));
	memcpy(sb->magic, CXLMS_STORE_MAGIC, sizeof(sb->magic));
	sb->version = CXLMS_STORE_VERSION;
	sb->sb_len = sizeof(*sb);
	sb->store_bytes = q->store_bytes;
	memcpy(sb->uuid, q->uuid, sizeof(sb->uuid));
	sb->generation = q->generation;
	sb->dir_capacity = q->dir_capacity;
	sb->dir_count = count;
	sb->default_group = q->default_group;
	sb->data_bytes = q->data_bytes;
	sb->data_used = q->data_used;
}

/* Translate one UAPI entry; -EPROTO if it is not what the UAPI promises. */
static int dirent_from_info(const struct cxlms_ioc_tensor_info *ti,
			    unsigned int i, struct cxlms_dirent *d)
{
	memset(d, 0, sizeof(*d));
	if (ti->index != i || !memchr(ti->name, '\0', sizeof(ti->name)) ||
	    ti->ndim < 1 || ti->ndim > CXLMS_MAX_DIMS)
		return -EPROTO;
	memcpy(d->name, ti->name, sizeof(d->name));
	d->src_dtype = ti->src_dtype;
	d->fmt = ti->fmt;
	d->ndim = ti->ndim;
	d->flags = (ti->flags & CXLMS_TENSOR_SEALED) ? CXLMS_DIRENT_SEALED : 0;
	if (ti->flags & CXLMS_TENSOR_SHORT_TAIL)
		d->flags |= CXLMS_DIRENT_SHORT_TAIL;
	memcpy(d->shape, ti->shape, sizeof(d->shape));
	d->rows = ti->rows;
	d->cols = ti->cols;
	d->group_size = ti->group_size;
	d->tile_rows = ti->tile_rows;
	d->n_tiles = ti->n_tiles;
	return 0;
}

/*
 * The module derived tile geometry with the same codec: if its numbers
 * differ from ours, fetch sizes would too, so refuse loudly.
 */
static int check_geometry(struct cxlms_store *s,
			  const struct cxlms_ioc_tensor_info *ti)
{
	unsigned int i;

	for (i = 0; i < s->n_tensors; i++) {
		const struct cxlms_tensor *t = &s->tensors[i];
		uint64_t tiles = t->d.tile_rows ?
			(t->d.rows + t->d.tile_rows - 1) / t->d.tile_rows : 0;

		if (t->layout.tile_bytes != ti[i].tile_bytes ||
		    t->layout.n_planes != ti[i].planes ||
		    t->layout.elems != ti[i].tile_elems ||
		    tiles != t->d.n_tiles) {
			cxlms_err(s->ctx, "%s: tensor '%s': module and libcxlms disagree on its tile geometry",
				  s->path, t->d.name);
			return -EPROTO;
		}
	}
	return 0;
}

/*
 * One consistent snapshot of the directory: QUERY's generation must equal
 * the one TENSOR_LIST reports with the entries (CREATE and SEAL bump it).
 */
static int read_directory(struct cxlms_store *s, struct cxlms_ioc_query *q,
			  struct cxlms_ioc_tensor_info **out, unsigned int *n)
{
	struct cxlms_ioc_tensor_info *ti = NULL;
	struct cxlms_ioc_tensor_list tl;
	unsigned int attempt;
	int rc;

	for (attempt = 0; attempt < LIST_RETRIES; attempt++) {
		rc = cxlms_kernel_query(s->ctx, s->fd, s->path, q);
		if (rc)
			return rc;
		if (!(q->state & CXLMS_STATE_ATTACHED)) {
			cxlms_err(s->ctx, "%s: no store attached: cxlms attach --region REGION %s (or --ram SIZE --format)",
				  s->path, s->path);
			return -ENXIO;
		}
		free(ti);
		ti = calloc(q->tensor_count ? q->tensor_count : 1, sizeof(*ti));
		if (!ti)
			return -ENOMEM;
		memset(&tl, 0, sizeof(tl));
		tl.size = sizeof(tl);
		tl.count = q->tensor_count;
		tl.entry_size = sizeof(*ti);
		tl.entries = (uintptr_t)ti;
		rc = cxlms_kernel_ioctl(s->fd, CXLMS_CMD_TENSOR_LIST, &tl);
		if (rc) {
			cxlms_err(s->ctx, "%s: TENSOR_LIST: %s", s->path, strerror(-rc));
			free(ti);
			return rc;
		}
		if (tl.generation == q->generation && tl.total == q->tensor_count &&
		    tl.count == q->tensor_count) {
			*out = ti;
			*n = tl.count;
			return 0;
		}
		cxlms_dbg(s->ctx, "%s: directory changed while listing, again", s->path);
	}
	free(ti);
	cxlms_err(s->ctx, "%s: the directory keeps changing (a copy running?)", s->path);
	return -EAGAIN;
}

static int kernel_open(struct cxlms_store *s, int fd, const struct stat *st,
		       unsigned int flags)
{
	struct cxlms_ioc_tensor_info *ti = NULL;
	struct cxlms_dirent *dir = NULL;
	struct cxlms_ioc_query q;
	struct cxlms_sb sb;
	unsigned int i, n = 0;
	int rc;

	(void)fd;
	(void)flags;
	rc = cxlms_kernel_check_node(s->ctx, s->path, st);
	if (rc)
		return rc;
	rc = read_directory(s, &q, &ti, &n);
	if (rc)
		return rc;
	for (i = 0; i < ARRAY_SIZE(needed_cmds); i++) {
		if (!(q.commands & (1ull << needed_cmds[i]))) {
			cxlms_err(s->ctx, "%s: module lacks command %u", s->path,
				  needed_cmds[i]);
			rc = -EPROTONOSUPPORT;
			goto out;
		}
	}
	dir = calloc(n ? n : 1, sizeof(*dir));
	if (!dir) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		rc = dirent_from_info(&ti[i], i, &dir[i]);
		if (rc) {
			cxlms_err(s->ctx, "%s: TENSOR_LIST entry %u is malformed", s->path, i);
			goto out;
		}
	}
	sb_from_query(&q, n, &sb);
	rc = cxlms_store_set_directory(s, &sb, dir, n);
	if (!rc)
		rc = check_geometry(s, ti);
	if (!rc)
		cxlms_dbg(s->ctx, "%s: %s store, %u tensors, generation %llu", s->path,
			  q.backing == CXLMS_BACKING_CXL ? "CXL" : "RAM", n,
			  (unsigned long long)q.generation);
out:
	free(dir);
	free(ti);
	return rc;
}

static int64_t kernel_fetch_tiles(struct cxlms_store *s, struct cxlms_tensor *t,
				  unsigned int first, unsigned int count,
				  unsigned int bits, unsigned int out,
				  unsigned int recon, void *buf, size_t len)
{
	struct cxlms_ioc_fetch f = {
		.size = sizeof(f),
		.tensor = t->index,
		.tile_first = first,
		.tile_count = count,
		.bits = bits,
		.out = out,
		.recon = recon,
		.buf = (uintptr_t)buf,
		.buf_len = len,
	};
	int rc = cxlms_kernel_ioctl(s->fd, CXLMS_CMD_FETCH, &f);

	if (rc == -EBUSY) {
		cxlms_err(s->ctx, "%s: tensor '%s' is not sealed yet (a copy in progress or interrupted)",
			  s->path, t->d.name);
		return rc;
	}
	if (rc) {
		cxlms_dbg(s->ctx, "%s: tensor '%s': FETCH: %s", s->path, t->d.name,
			  strerror(-rc));
		return rc;
	}
	return (int64_t)f.bytes_written;
}

static int kernel_verify(struct cxlms_store *s)
{
	struct cxlms_ioc_verify v = {
		.size = sizeof(v),
		.tensor = CXLMS_TENSOR_ALL,
	};
	int rc = cxlms_kernel_ioctl(s->fd, CXLMS_CMD_VERIFY, &v);

	if (rc) {
		v.why[sizeof(v.why) - 1] = '\0';
		cxlms_err(s->ctx, "%s: %s", s->path, v.why[0] ? v.why : strerror(-rc));
		return rc;
	}
	if (v.skipped)
		cxlms_info(s->ctx, "%s: %u unsealed tensors not verified", s->path,
			   v.skipped);
	return 0;
}

/*
 * FETCH returns decoded output, not the tile bytes the CRC covers, so the
 * check is the module's: VERIFY of the whole tensor (every tile's CRC, not
 * just the fetched ones; the module names the tile in @why).
 */
static int kernel_verify_tiles(struct cxlms_store *s, struct cxlms_tensor *t,
			       unsigned int first, unsigned int count,
			       char *why, size_t why_len)
{
	struct cxlms_ioc_verify v = {
		.size = sizeof(v),
		.tensor = t->index,
	};
	int rc = cxlms_kernel_ioctl(s->fd, CXLMS_CMD_VERIFY, &v);

	(void)first;
	(void)count;
	if (rc) {
		v.why[sizeof(v.why) - 1] = '\0';
		snprintf(why, why_len, "%s", v.why[0] ? v.why : strerror(-rc));
	}
	return rc;
}

static int stats_ioctl(struct cxlms_store *s, unsigned int tensor,
		       unsigned int flags, struct cxlms_stats *st)
{
	struct cxlms_ioc_stats ks = {
		.size = sizeof(ks),
		.flags = flags,
		.tensor = tensor,
	};
	unsigned int p;
	int rc = cxlms_kernel_ioctl(s->fd, CXLMS_CMD_STATS, &ks);

	if (rc) {
		cxlms_err(s->ctx, "%s: STATS: %s%s", s->path, strerror(-rc),
			  rc == -EPERM ? " (resetting needs CAP_SYS_ADMIN)" : "");
		return rc;
	}
	if (st) {
		st->fetches = ks.fetches;
		for (p = 0; p < CXLMS_MAX_PLANES; p++)
			st->plane_bytes[p] = ks.plane_bytes[p];
		st->side_bytes = ks.side_bytes;
		st->out_bytes = ks.out_bytes;
	}
	return 0;
}

static int kernel_get_stats(struct cxlms_store *s, struct cxlms_tensor *t,
			    struct cxlms_stats *st)
{
	return stats_ioctl(s, t ? t->index : CXLMS_TENSOR_ALL, 0, st);
}

/* Device counters and those of every tensor this handle knows. */
static int kernel_reset_stats(struct cxlms_store *s)
{
	unsigned int i;
	int rc;

	rc = stats_ioctl(s, CXLMS_TENSOR_ALL, CXLMS_STATS_RESET, NULL);
	for (i = 0; !rc && i < s->n_tensors; i++)
		rc = stats_ioctl(s, i, CXLMS_STATS_RESET, NULL);
	return rc;
}

const struct cxlms_backend_ops cxlms_kernel_backend = {
	.name = "kernel",
	.lib_counters = false,
	.open = kernel_open,
	.close = kernel_close,
	.fetch_tiles = kernel_fetch_tiles,
	.verify = kernel_verify,
	.verify_tiles = kernel_verify_tiles,
	.get_stats = kernel_get_stats,
	.reset_stats = kernel_reset_stats,
};

/*
 * Media reads that failed with poison since the module loaded (device-wide,
 * STATS media_errors, ABI revision 3).  A store file has no such count: 0.
 */
int cxlms_store_get_media_errors(struct cxlms_store *s, uint64_t *count)
{
	struct cxlms_ioc_query q = { .size = sizeof(q) };
	struct cxlms_ioc_stats ks = {
		.size = sizeof(ks), .tensor = CXLMS_TENSOR_ALL,
	};
	int rc;

	if (!s || !count)
		return -EINVAL;
	*count = 0;
	if (s->ops != &cxlms_kernel_backend)
		return 0;
	rc = cxlms_kernel_ioctl(s->fd, CXLMS_CMD_QUERY, &q);
	if (!rc && q.abi_revision < 3)
		rc = -EOPNOTSUPP;	/* the module does not count them */
	if (!rc)
		rc = cxlms_kernel_ioctl(s->fd, CXLMS_CMD_STATS, &ks);
	if (rc) {
		cxlms_err(s->ctx, "%s: media error count: %s", s->path,
			  strerror(-rc));
		return rc;
	}
	*count = ks.media_errors;
	return 0;
}

/* --- precision maps (ABI revision 2, docs/uapi.md) -------------------------- */

/* A module before revision 2 answers -ENOTTY: no maps there. */
static int map_err(struct cxlms_store *s, const char *what, int rc)
{
	if (rc == -ENOTTY) {
		cxlms_err(s->ctx, "%s: the module has no precision maps (ABI revision 1)",
			  s->path);
		return -EOPNOTSUPP;
	}
	if (rc != -ENODATA && rc != -ENOENT)
		cxlms_dbg(s->ctx, "%s: %s: %s", s->path, what, strerror(-rc));
	return rc;
}

int cxlms_kernel_set_map(struct cxlms_store *s, unsigned int n_contexts,
			 unsigned int default_context,
			 const struct cxlms_ioc_map_context *ctx,
			 unsigned int n_tiles, const uint8_t *maps,
			 uint64_t *generation)
{
	struct cxlms_ioc_set_map m = {
		.size = sizeof(m),
		.n_contexts = n_contexts,
		.default_context = default_context,
		.n_tensors = s->n_tensors,
		.n_tiles = n_tiles,
		.ctx_size = sizeof(*ctx),
		.contexts = (uintptr_t)ctx,
		.maps = (uintptr_t)maps,
		.maps_len = (uint64_t)n_contexts * n_tiles,
	};
	int rc = cxlms_kernel_ioctl(s->fd, CXLMS_CMD_SET_MAP, &m);

	if (rc == -ESTALE)
		cxlms_err(s->ctx, "%s: the device's directory changed since it was opened",
			  s->path);
	else if (rc == -EPERM)
		cxlms_err(s->ctx, "%s: SET_MAP needs CAP_SYS_ADMIN", s->path);
	if (rc)
		return map_err(s, "SET_MAP", rc);
	*generation = m.generation;
	return 0;
}

int cxlms_kernel_set_context(struct cxlms_store *s, const char *name)
{
	struct cxlms_ioc_set_context c = { .size = sizeof(c) };

	if (strlen(name) >= sizeof(c.name))
		return -ENOENT;
	memcpy(c.name, name, strlen(name));
	return map_err(s, "SET_CONTEXT", cxlms_kernel_ioctl(s->fd, CXLMS_CMD_SET_CONTEXT, &c));
}

int cxlms_kernel_get_map(struct cxlms_store *s, unsigned int tensor,
			 unsigned int first, unsigned int count, uint8_t *bits,
			 uint64_t *generation, char context[CXLMS_MAP_NAME_MAX])
{
	struct cxlms_ioc_get_map g = {
		.size = sizeof(g),
		.tensor = tensor,
		.tile_first = first,
		.tile_count = count,
		.bits = (uintptr_t)bits,
	};
	int rc = cxlms_kernel_ioctl(s->fd, CXLMS_CMD_GET_MAP, &g);

	if (rc)
		return map_err(s, "GET_MAP", rc);
	if (generation)
		*generation = g.generation;
	if (context) {
		memcpy(context, g.context, CXLMS_MAP_NAME_MAX);
		context[CXLMS_MAP_NAME_MAX - 1] = '\0';
	}
	return 0;
}

/* --- device management: attach, detach, info, copy ------------------------- */

/* Open @path, make sure it is a cxlms device and QUERY it. */
static int dev_open(struct cxlms_ctx *ctx, const char *path, int oflags,
		    struct cxlms_ioc_query *q)
{
	struct stat st;
	int fd, rc;

	fd = open(path, oflags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		cxlms_err(ctx, "%s: open: %s%s", path, strerror(-rc),
			  rc == -ENOENT ? " (is cxlms.ko loaded?)" : "");
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto err;
	}
	if (!S_ISCHR(st.st_mode)) {
		cxlms_err(ctx, "%s: not a device node (/dev/cxlmsN)", path);
		rc = -ENOTTY;
		goto err;
	}
	rc = cxlms_kernel_check_node(ctx, path, &st);
	if (!rc)
		rc = cxlms_kernel_query(ctx, fd, path, q);
	if (rc)
		goto err;
	return fd;
err:
	close(fd);
	return rc;
}

int cxlms_device_get_info(struct cxlms_ctx *ctx, const char *dev,
			  struct cxlms_device_info *info)
{
	struct cxlms_ioc_query q;
	int fd;

	if (!ctx || !dev || !info)
		return -EINVAL;
	fd = dev_open(ctx, dev, O_RDONLY, &q);
	if (fd < 0)
		return fd;
	close(fd);
	memset(info, 0, sizeof(*info));
	info->abi_revision = q.abi_revision;
	info->attached = !!(q.state & CXLMS_STATE_ATTACHED);
	info->readonly = !!(q.state & CXLMS_STATE_READONLY);
	info->backing = q.backing;
	info->backing_start = q.backing_start;
	info->backing_bytes = q.backing_bytes;
	info->store_bytes = q.store_bytes;
	memcpy(info->uuid, q.uuid, sizeof(info->uuid));
	info->generation = q.generation;
	info->tensor_count = q.tensor_count;
	info->dir_capacity = q.dir_capacity;
	info->data_bytes = q.data_bytes;
	info->data_used = q.data_used;
	return 0;
}

#define PAGE_MASK_4K	4095ull

/* Turn @opts into ATTACH's {flags, start, bytes}; -EINVAL (logged) if odd. */
static int attach_range(struct cxlms_ctx *ctx, const char *dev,
			const struct cxlms_attach_opts *opts,
			struct cxlms_ioc_attach *a)
{
	uint64_t start, size;
	int rc;

	if (opts->flags & ~CXLMS_ATTACH_OPT_FORMAT) {
		cxlms_err(ctx, "%s: unknown attach flags 0x%x", dev,
			  opts->flags & ~CXLMS_ATTACH_OPT_FORMAT);
		return -EINVAL;
	}
	if (opts->flags & CXLMS_ATTACH_OPT_FORMAT) {
		a->flags |= CXLMS_ATTACH_FORMAT;
		a->dir_capacity = opts->dir_capacity;
		a->default_group = opts->default_group;
	} else if (opts->dir_capacity || opts->default_group) {
		cxlms_err(ctx, "%s: directory capacity and group size only apply when formatting",
			  dev);
		return -EINVAL;
	}
	if (!opts->region) {
		if (!(opts->flags & CXLMS_ATTACH_OPT_FORMAT) || !opts->bytes ||
		    opts->offset) {
			cxlms_err(ctx, "%s: a RAM store needs a size and formatting", dev);
			return -EINVAL;
		}
		a->flags |= CXLMS_ATTACH_RAM;
		a->bytes = opts->bytes;
		return 0;
	}
	rc = cxlms_region_lookup(ctx, opts->region, &start, &size);
	if (rc)
		return rc;
	if ((opts->offset & PAGE_MASK_4K) || (opts->bytes & PAGE_MASK_4K) ||
	    opts->offset >= size || opts->bytes > size - opts->offset) {
		cxlms_err(ctx, "%s: offset %llu + %llu bytes do not fit page aligned in its %llu bytes",
			  opts->region, (unsigned long long)opts->offset,
			  (unsigned long long)opts->bytes, (unsigned long long)size);
		return -EINVAL;
	}
	a->start = start + opts->offset;
	a->bytes = opts->bytes ? opts->bytes : size - opts->offset;
	return 0;
}

int cxlms_attach(struct cxlms_ctx *ctx, const char *dev,
		 const struct cxlms_attach_opts *opts)
{
	struct cxlms_ioc_attach a;
	struct cxlms_ioc_query q;
	const char *what;
	int fd, rc;

	if (!ctx || !dev || !opts)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	rc = attach_range(ctx, dev, opts, &a);
	if (rc)
		return rc;
	fd = dev_open(ctx, dev, O_RDWR, &q);
	if (fd < 0)
		return fd;
	what = opts->region ? opts->region : "RAM";
	if (q.state & CXLMS_STATE_ATTACHED) {
		cxlms_err(ctx, "%s: a store is attached already (cxlms detach %s first)",
			  dev, dev);
		rc = -EBUSY;
		goto out;
	}
	rc = cxlms_kernel_ioctl(fd, CXLMS_CMD_ATTACH, &a);
	if (rc) {
		a.why[sizeof(a.why) - 1] = '\0';
		if (rc == -EPERM)
			cxlms_err(ctx, "%s: attaching needs CAP_SYS_ADMIN", dev);
		else if (a.why[0])
			cxlms_err(ctx, "%s: %s refused: %s", dev, what, a.why);
		else
			cxlms_err(ctx, "%s: attaching %s [0x%llx, +%llu): %s", dev, what,
				  (unsigned long long)a.start,
				  (unsigned long long)a.bytes, strerror(-rc));
		goto out;
	}
	cxlms_info(ctx, "%s: attached %s%s at 0x%llx, %llu bytes", dev, what,
		   (a.flags & CXLMS_ATTACH_FORMAT) ? " (formatted)" : "",
		   (unsigned long long)a.start, (unsigned long long)a.bytes);
out:
	close(fd);
	return rc;
}

int cxlms_detach(struct cxlms_ctx *ctx, const char *dev)
{
	struct cxlms_ioc_detach d = { .size = sizeof(d) };
	struct cxlms_ioc_query q;
	int fd, rc;

	if (!ctx || !dev)
		return -EINVAL;
	fd = dev_open(ctx, dev, O_RDWR, &q);
	if (fd < 0)
		return fd;
	rc = cxlms_kernel_ioctl(fd, CXLMS_CMD_DETACH, &d);
	if (rc == -ENXIO)
		cxlms_err(ctx, "%s: no store attached", dev);
	else if (rc == -EPERM)
		cxlms_err(ctx, "%s: detaching needs CAP_SYS_ADMIN", dev);
	else if (rc)
		cxlms_err(ctx, "%s: DETACH: %s", dev, strerror(-rc));
	close(fd);
	return rc;
}

/*
 * Nothing is written unless every name is free and the tiles fit: the
 * module allocates page-aligned tile runs, so count them that way.
 */
static int copy_precheck(struct cxlms_ctx *ctx, struct cxlms_store *src,
			 const char *dev, uint64_t *total)
{
	struct cxlms_store *dst;
	struct cxlms_tensor *t, *clash;
	uint64_t need = 0, room;
	int rc;

	rc = cxlms_open(ctx, dev, 0, &dst);
	if (rc)
		return rc;
	if (src->n_tensors > dst->sb.dir_capacity - dst->n_tensors) {
		cxlms_err(ctx, "%s: directory has room for %u more tensors, %s has %u",
			  dev, dst->sb.dir_capacity - dst->n_tensors, src->path,
			  src->n_tensors);
		rc = -ENOSPC;
		goto out;
	}
	*total = 0;
	cxlms_tensor_foreach(src, t) {
		uint64_t bytes = cxlms_tensor_get_stored_bytes(t);

		/* TENSOR_CREATE folds every dim but the last into rows. */
		if (t->d.row_dims) {
			cxlms_err(ctx, "%s: tensor '%s' has %u leading dims in rows; the module stores %u (import with --rule '%s:fold=%u'); nothing copied",
				  dev, t->d.name, t->d.row_dims, t->d.ndim - 1, t->d.name,
				  t->d.ndim - 1);
			rc = -EOPNOTSUPP;
			goto out;
		}
		if (!cxlms_tensor_lookup(dst, t->d.name, &clash)) {
			cxlms_err(ctx, "%s: a tensor named '%s' exists already; nothing copied",
				  dev, t->d.name);
			rc = -EEXIST;
			goto out;
		}
		*total += bytes;
		need += (bytes + CXLMS_DATA_ALIGN - 1) / CXLMS_DATA_ALIGN * CXLMS_DATA_ALIGN;
	}
	room = dst->sb.data_bytes - dst->sb.data_used;
	if (need > room) {
		cxlms_err(ctx, "%s: %llu bytes of tiles do not fit in the %llu bytes free",
			  dev, (unsigned long long)need, (unsigned long long)room);
		rc = -ENOSPC;
	}
out:
	cxlms_store_unref(dst);
	return rc;
}

static int copy_create(struct cxlms_ctx *ctx, int fd, const char *dev,
		       const struct cxlms_ioc_query *q, struct cxlms_tensor *t,
		       uint32_t *index)
{
	struct cxlms_ioc_tensor_create c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	memcpy(c.name, t->d.name, sizeof(c.name));
	c.fmt = t->d.fmt;
	c.src_dtype = t->d.src_dtype;
	c.ndim = t->d.ndim;
	c.group_size = t->d.group_size;
	memcpy(c.shape, t->d.shape, sizeof(c.shape));
	c.tile_rows = t->d.tile_rows;
	/* The same layout as the source where the module can (short last tile). */
	if ((t->d.flags & CXLMS_DIRENT_SHORT_TAIL) && (q->caps & CXLMS_CAP_SHORT_TAIL))
		c.flags |= CXLMS_CREATE_SHORT_TAIL;
	rc = cxlms_kernel_ioctl(fd, CXLMS_CMD_TENSOR_CREATE, &c);
	if (rc) {
		cxlms_err(ctx, "%s: creating tensor '%s': %s", dev, t->d.name,
			  strerror(-rc));
		return rc;
	}
	/* Same geometry, same codec: the module must plan the same tiles. */
	if (c.n_tiles != t->d.n_tiles || c.tile_bytes != t->layout.tile_bytes) {
		cxlms_err(ctx, "%s: tensor '%s': module planned %u tiles of %llu bytes, the source has %u of %llu",
			  dev, t->d.name, c.n_tiles, (unsigned long long)c.tile_bytes,
			  t->d.n_tiles, (unsigned long long)t->layout.tile_bytes);
		return -EPROTO;
	}
	*index = c.index;
	return 0;
}

/*
 * One tile at full precision as integers with FLOOR: exactly the stored
 * codes (INT8, followed by the fp16 scales) or 16-bit patterns, which is
 * what TILE_WRITE takes.
 */
static int copy_tile(struct cxlms_ctx *ctx, int fd, const char *dev,
		     struct cxlms_store *src, struct cxlms_tensor *t,
		     uint32_t index, unsigned int tile, void *buf, size_t len)
{
	unsigned int planes = t->layout.n_planes;
	struct cxlms_ioc_tile_write w;
	struct cxlms_fetch_info fi;
	uint8_t *p = buf;
	int64_t n;
	int rc;

	rc = cxlms_fetch_info(t, tile, planes, CXLMS_OUT_INT, CXLMS_RECON_FLOOR, &fi);
	if (rc)
		return rc;
	n = cxlms_fetch(src, t, tile, planes, CXLMS_OUT_INT, CXLMS_RECON_FLOOR, buf, len);
	if (n < 0) {
		cxlms_err(ctx, "%s: tensor '%s' tile %u: reading: %s", src->path,
			  t->d.name, tile, strerror((int)-n));
		return (int)n;
	}
	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.tensor = index;
	w.tile = tile;
	w.data = (uintptr_t)(p + fi.data_off);
	w.data_len = fi.data_len;
	if (fi.scales_len) {
		w.scales = (uintptr_t)(p + fi.scales_off);
		w.scales_len = fi.scales_len;
	}
	rc = cxlms_kernel_ioctl(fd, CXLMS_CMD_TILE_WRITE, &w);
	if (rc)
		cxlms_err(ctx, "%s: tensor '%s' tile %u: TILE_WRITE: %s", dev,
			  t->d.name, tile, strerror(-rc));
	return rc;
}

int cxlms_copy_store(struct cxlms_ctx *ctx, struct cxlms_store *src,
		     const char *dev,
		     void (*progress)(void *arg, uint64_t done, uint64_t total),
		     void *progress_arg)
{
	struct cxlms_ioc_query q;
	struct cxlms_tensor *t;
	uint64_t total = 0, done = 0;
	void *buf = NULL;
	size_t buf_len = 0;
	int fd, rc;

	if (!ctx || !src || !dev)
		return -EINVAL;
	fd = dev_open(ctx, dev, O_RDWR, &q);
	if (fd < 0)
		return fd;
	if (!(q.state & CXLMS_STATE_ATTACHED)) {
		cxlms_err(ctx, "%s: no store attached: cxlms attach --region REGION --format %s",
			  dev, dev);
		rc = -ENXIO;
		goto out;
	}
	if (q.state & CXLMS_STATE_READONLY) {
		cxlms_err(ctx, "%s: the attached store is read-only", dev);
		rc = -EROFS;
		goto out;
	}
	rc = copy_precheck(ctx, src, dev, &total);
	if (rc)
		goto out;
	if (progress)
		progress(progress_arg, 0, total);

	cxlms_tensor_foreach(src, t) {
		struct cxlms_ioc_tensor_seal seal;
		uint32_t index;
		unsigned int tile;
		int64_t need;

		if (!(t->d.flags & CXLMS_DIRENT_SEALED)) {
			cxlms_err(ctx, "%s: tensor '%s' is not sealed: nothing to copy",
				  src->path, t->d.name);
			rc = -EBUSY;
			goto out;
		}
		/* The first tile is the largest (only the last may be short). */
		need = cxlms_fetch_size(t, 0, 1, t->layout.n_planes, CXLMS_OUT_INT,
					CXLMS_RECON_FLOOR);
		if (need < 0) {
			rc = (int)need;
			goto out;
		}
		if ((size_t)need > buf_len) {
			free(buf);
			buf = malloc((size_t)need);
			buf_len = buf ? (size_t)need : 0;
			if (!buf) {
				rc = -ENOMEM;
				goto out;
			}
		}
		rc = copy_create(ctx, fd, dev, &q, t, &index);
		if (rc)
			goto out;
		for (tile = 0; tile < t->d.n_tiles; tile++) {
			rc = copy_tile(ctx, fd, dev, src, t, index, tile, buf, buf_len);
			if (rc)
				goto out_unsealed;
			done += t->layout.tile_bytes;
			if (progress)
				progress(progress_arg, done, total);
		}
		memset(&seal, 0, sizeof(seal));
		seal.size = sizeof(seal);
		seal.tensor = index;
		rc = cxlms_kernel_ioctl(fd, CXLMS_CMD_TENSOR_SEAL, &seal);
		if (rc) {
			cxlms_err(ctx, "%s: sealing tensor '%s': %s", dev, t->d.name,
				  strerror(-rc));
			goto out_unsealed;
		}
		cxlms_dbg(ctx, "%s: tensor '%s': %u tiles copied and sealed", dev,
			  t->d.name, t->d.n_tiles);
	}
	goto out;
out_unsealed:
	cxlms_err(ctx, "%s: tensor '%s' is left unsealed in the store", dev,
		  t->d.name);
out:
	free(buf);
	close(fd);
	return rc;
}
