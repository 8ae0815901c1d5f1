// SPDX-License-Identifier: GPL-2.0
/*
 * The ioctl entry: one table, one validation path.  Every command goes
 * through cxlms_ioctl(): command number, capability, the struct copied in
 * by size (copy_struct_from_user: short = zero tail, long = tail must be
 * zero), flags, then the command's field check (reserved fields, ranges),
 * then the handler under the attach lock.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/overflow.h>
#include <linux/uaccess.h>

#include "cxlms_drv.h"

union cxlms_ioc_buf {
	struct cxlms_ioc_hdr hdr;
	struct cxlms_ioc_query query;
	struct cxlms_ioc_attach attach;
	struct cxlms_ioc_detach detach;
	struct cxlms_ioc_tensor_list list;
	struct cxlms_ioc_tensor_create create;
	struct cxlms_ioc_tile_write write;
	struct cxlms_ioc_tensor_seal seal;
	struct cxlms_ioc_fetch fetch;
	struct cxlms_ioc_stats stats;
	struct cxlms_ioc_verify verify;
	struct cxlms_ioc_set_map set_map;
	struct cxlms_ioc_set_context set_context;
	struct cxlms_ioc_get_map get_map;
	struct cxlms_ioc_view_create view_create;
	struct cxlms_ioc_view_destroy view_destroy;
};

struct cxlms_ioctl_op {
	/* sizeof the current struct and of its first revision */
	u32 size;
	u32 min_size;
	u32 flags;		/* flags the command knows */
	bool admin;		/* needs CAP_SYS_ADMIN */
	bool needs_store;	/* -ENXIO without an attached store */
	/* The handler's result is in the struct even when it fails. */
	bool copy_out_on_error;
	int (*check)(union cxlms_ioc_buf *u);
	/* ATTACH/DETACH hold attach_lock for write, the rest for read. */
	bool attach_write;
	/*
	 * FETCH: the fd's bounce_lock, taken before the attach lock, which
	 * the fetch drops and retakes around user copies.
	 */
	bool bounce;
	int (*fn)(struct cxlms_file *cf, union cxlms_ioc_buf *u, bool nowait);
};

/*
 * --- field checks: reserved fields and ranges that need no state.  They
 * also clear the output fields, so whatever the caller left there never
 * comes back and the handlers only set what they produce.
 */

static bool all_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

static int check_none(union cxlms_ioc_buf *u)
{
	return 0;
}

static int check_query(union cxlms_ioc_buf *u)
{
	struct cxlms_ioc_query *q = &u->query;

	memset_after(q, 0, flags);
	return 0;
}

static int check_attach(union cxlms_ioc_buf *u)
{
	struct cxlms_ioc_attach *a = &u->attach;
	bool format = a->flags & CXLMS_ATTACH_FORMAT;
	u64 end;

	memset(a->why, 0, sizeof(a->why));
	/* Layout parameters only mean something when formatting. */
	if (!format && (a->dir_capacity || a->default_group))
		return -EINVAL;
	/* Fresh RAM holds no store: it must be formatted. */
	if ((a->flags & CXLMS_ATTACH_RAM) && (a->start || !format))
		return -EINVAL;
	if (!PAGE_ALIGNED(a->start) || !PAGE_ALIGNED(a->bytes) ||
	    a->bytes < CXLMS_STORE_MIN_BYTES ||
	    check_add_overflow(a->start, a->bytes, &end))
		return -EINVAL;
	if (a->dir_capacity > CXLMS_DIR_CAPACITY_MAX ||
	    a->default_group > CXLMS_TILE_MAX_ELEMS)
		return -EINVAL;
	return 0;
}

static int check_list(union cxlms_ioc_buf *u)
{
	struct cxlms_ioc_tensor_list *tl = &u->list;

	tl->total = 0;
	tl->generation = 0;
	if (tl->count &&
	    (tl->entry_size < sizeof(struct cxlms_ioc_tensor_info) ||
	     tl->entry_size % 8 || tl->entry_size > PAGE_SIZE))
		return -EINVAL;
	return 0;
}

static int check_create(union cxlms_ioc_buf *u)
{
	struct cxlms_ioc_tensor_create *c = &u->create;
	size_t len = strnlen(c->name, sizeof(c->name));
	u32 i;

	c->index = 0;
	c->n_tiles = 0;
	c->tile_elems = 0;
	c->tile_bytes = 0;
	/* Non-empty, NUL-terminated, NUL-padded: the directory's rule. */
	if (!len || len == sizeof(c->name) ||
	    !all_zero(c->name + len, sizeof(c->name) - len))
		return -EINVAL;
	if (!cxlms_fmt_planes(c->fmt))
		return -EOPNOTSUPP;
	if (c->src_dtype < CXLMS_DTYPE_F32 || c->src_dtype > CXLMS_DTYPE_I8)
		return -EINVAL;
	if (c->ndim < 1 || c->ndim > CXLMS_MAX_DIMS)
		return -EINVAL;
	for (i = 0; i < CXLMS_MAX_DIMS; i++) {
		if (i < c->ndim && !c->shape[i])
			return -EINVAL;
		if (i >= c->ndim && c->shape[i])
			return -EINVAL;
	}
	if (c->fmt != CXLMS_FMT_INT8 && c->group_size)
		return -EINVAL;
	return 0;
}

static int check_seal(union cxlms_ioc_buf *u)
{
	return u->seal.pad ? -EINVAL : 0;
}

static int check_fetch(union cxlms_ioc_buf *u)
{
	struct cxlms_ioc_fetch *f = &u->fetch;
	u32 end;

	f->bytes_written = 0;
	f->bytes_read = 0;
	if (!f->tile_count ||
	    check_add_overflow(f->tile_first, f->tile_count, &end))
		return -EINVAL;
	return 0;
}

static int check_stats(union cxlms_ioc_buf *u)
{
	struct cxlms_ioc_stats *st = &u->stats;

	memset_after(st, 0, pad);
	return st->pad ? -EINVAL : 0;
}

static int check_verify(union cxlms_ioc_buf *u)
{
	struct cxlms_ioc_verify *v = &u->verify;

	v->checked = 0;
	v->skipped = 0;
	v->bad_tensor = CXLMS_TENSOR_ALL;
	memset(v->why, 0, sizeof(v->why));
	return 0;
}

static int check_set_map(union cxlms_ioc_buf *u)
{
	return cxlms_policy_check_set_map(&u->set_map);
}

static int check_set_context(union cxlms_ioc_buf *u)
{
	return cxlms_policy_check_set_context(&u->set_context);
}

static int check_get_map(union cxlms_ioc_buf *u)
{
	return cxlms_policy_check_get_map(&u->get_map);
}

static int check_view_create(union cxlms_ioc_buf *u)
{
	return cxlms_view_check_create(&u->view_create);
}

/* --- handlers ---------------------------------------------------------- */

static int do_query(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait);

static int do_attach(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	if (cf->dev->store)
		return -EBUSY;
	return cxlms_store_attach(cf->dev, &u->attach, u->attach.why);
}

static int do_detach(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	int ret = cxlms_views_detach(cf->dev);

	if (ret)
		return ret;	/* a view is mapped: its pages need the store */
	/* Maps describe this store's directory: they go with it. */
	cxlms_policy_drop(cf->dev);
	cxlms_store_detach(cf->dev);
	return 0;
}

static int do_list(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	return cxlms_store_list(cf->dev->store, &u->list);
}

static int do_create(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	return cxlms_tensor_create(cf->dev->store, &u->create);
}

static int do_write(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	return cxlms_tile_write(cf->dev->store, &u->write);
}

static int do_seal(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	return cxlms_tensor_seal(cf->dev->store, u->seal.tensor);
}

static int do_fetch(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	if (u->fetch.bits == CXLMS_BITS_POLICY)
		return cxlms_policy_fetch(cf, cf->dev->store, &u->fetch, nowait);
	return cxlms_fetch(cf, cf->dev->store, &u->fetch, nowait);
}

static u64 counter_read(atomic64_t *c, bool reset)
{
	return reset ? atomic64_xchg(c, 0) : atomic64_read(c);
}

static int do_stats(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	struct cxlms_ioc_stats *st = &u->stats;
	bool reset = st->flags & CXLMS_STATS_RESET;
	bool all = st->tensor == CXLMS_TENSOR_ALL;
	struct cxlms_tensor *t;

	if (reset && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	/* Device-wide counters: reported always, reset only with the device's. */
	st->media_errors = counter_read(&cf->dev->media_errors, reset && all);
	st->view_faults = counter_read(&cf->dev->view_faults, reset && all);
	st->view_fills = counter_read(&cf->dev->view_fills, reset && all);
	st->view_pages = atomic64_read(&cf->dev->view_pages);
	if (all) {
		cxlms_counters_read(&cf->dev->stats, st, reset);
		return 0;
	}
	if (!cf->dev->store)
		return -ENXIO;
	t = cxlms_store_tensor(cf->dev->store, st->tensor);
	if (!t)
		return -ENOENT;
	cxlms_counters_read(&t->stats, st, reset);
	return 0;
}

static int do_verify(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	return cxlms_store_verify(cf->dev->store, &u->verify);
}

static int do_set_map(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	int ret = cxlms_policy_set_map(cf, cf->dev->store, &u->set_map);

	if (!ret)
		cxlms_views_policy_changed(cf->dev, NULL);
	return ret;
}

static int do_set_context(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	int ret = cxlms_policy_set_context(cf, &u->set_context);

	if (!ret)
		cxlms_views_policy_changed(cf->dev, cf);
	return ret;
}

static int do_get_map(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	return cxlms_policy_get_map(cf, cf->dev->store, &u->get_map);
}

static int do_view_create(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			  bool nowait)
{
	return cxlms_view_create(cf, cf->dev->store, &u->view_create);
}

static int do_view_destroy(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			   bool nowait)
{
	return cxlms_view_destroy(cf, &u->view_destroy);
}

#define OP(nr, type, flg, adm, store, fnc, chk)				\
	[nr] = { .size = sizeof(struct type), .min_size = sizeof(struct type), \
		 .flags = (flg), .admin = (adm), .needs_store = (store),	\
		 .fn = (fnc), .check = (chk) }

static const struct cxlms_ioctl_op cxlms_ops[] = {
	OP(CXLMS_CMD_QUERY, cxlms_ioc_query, 0, false, false, do_query,
	   check_query),
	[CXLMS_CMD_ATTACH] = {
		.size = sizeof(struct cxlms_ioc_attach),
		.min_size = sizeof(struct cxlms_ioc_attach),
		.flags = CXLMS_ATTACH_RAM | CXLMS_ATTACH_FORMAT,
		.admin = true, .attach_write = true, .copy_out_on_error = true,
		.fn = do_attach, .check = check_attach,
	},
	[CXLMS_CMD_DETACH] = {
		.size = sizeof(struct cxlms_ioc_detach),
		.min_size = sizeof(struct cxlms_ioc_detach),
		.admin = true, .attach_write = true, .needs_store = true,
		.fn = do_detach, .check = check_none,
	},
	OP(CXLMS_CMD_TENSOR_LIST, cxlms_ioc_tensor_list, 0, false, true,
	   do_list, check_list),
	OP(CXLMS_CMD_TENSOR_CREATE, cxlms_ioc_tensor_create,
	   CXLMS_CREATE_SHORT_TAIL, true, true,
	   do_create, check_create),
	OP(CXLMS_CMD_TILE_WRITE, cxlms_ioc_tile_write, 0, true, true,
	   do_write, check_none),
	OP(CXLMS_CMD_TENSOR_SEAL, cxlms_ioc_tensor_seal, 0, true, true,
	   do_seal, check_seal),
	[CXLMS_CMD_FETCH] = {
		.size = sizeof(struct cxlms_ioc_fetch),
		.min_size = sizeof(struct cxlms_ioc_fetch),
		.needs_store = true, .bounce = true,
		.fn = do_fetch, .check = check_fetch,
	},
	[CXLMS_CMD_STATS] = {
		.size = sizeof(struct cxlms_ioc_stats),
		/* Revision 3 appended media_errors. */
		.min_size = offsetofend(struct cxlms_ioc_stats, out_bytes),
		.flags = CXLMS_STATS_RESET,
		.fn = do_stats, .check = check_stats,
	},
	[CXLMS_CMD_VERIFY] = {
		.size = sizeof(struct cxlms_ioc_verify),
		.min_size = sizeof(struct cxlms_ioc_verify),
		.needs_store = true, .copy_out_on_error = true,
		.fn = do_verify, .check = check_verify,
	},
	OP(CXLMS_CMD_SET_MAP, cxlms_ioc_set_map, 0, true, true, do_set_map,
	   check_set_map),
	OP(CXLMS_CMD_SET_CONTEXT, cxlms_ioc_set_context, 0, false, true,
	   do_set_context, check_set_context),
	OP(CXLMS_CMD_GET_MAP, cxlms_ioc_get_map, CXLMS_GET_MAP_NAMED, false,
	   true, do_get_map, check_get_map),
	OP(CXLMS_CMD_VIEW_CREATE, cxlms_ioc_view_create, 0, false, true,
	   do_view_create, check_view_create),
	OP(CXLMS_CMD_VIEW_DESTROY, cxlms_ioc_view_destroy, 0, false, false,
	   do_view_destroy, check_none),
};

static int do_query(struct cxlms_file *cf, union cxlms_ioc_buf *u,
			bool nowait)
{
	struct cxlms_ioc_query *q = &u->query;
	struct cxlms_tile_geom g = { .cols = 8, .tile_rows = 1 };
	struct cxlms_fetch_layout fl;
	u32 fmt, out, k, nr;

	q->abi_revision = CXLMS_ABI_REVISION;
	q->caps = CXLMS_CAP_RAM | CXLMS_CAP_CXL | CXLMS_CAP_STATS_RESET |
		  CXLMS_CAP_SHORT_TAIL |
		  CXLMS_CAP_POLICY | CXLMS_CAP_VIEWS;
	if (cf->dev->debugfs && !IS_ERR(cf->dev->debugfs))
		q->caps |= CXLMS_CAP_LINK_MODEL;
	for (nr = 0; nr < ARRAY_SIZE(cxlms_ops); nr++)
		if (cxlms_ops[nr].fn)
			q->commands |= 1ull << nr;
	/* Ask the codec rather than restate its rules. */
	for (fmt = 1; fmt < CXLMS_QUERY_FMTS; fmt++) {
		if (!cxlms_fmt_planes(fmt))
			continue;
		q->formats |= 1u << fmt;
		g.fmt = fmt;
		g.group_size = fmt == CXLMS_FMT_INT8 ? 8 : 0;
		for (k = 1; k <= CXLMS_MAX_PLANES; k++) {
			if (!cxlms_fetch_layout(&g, 8, k, CXLMS_OUT_PLANES,
						CXLMS_RECON_DEFAULT, &fl))
				q->plane_bits[fmt] |= 1u << k;
			if (!cxlms_fetch_layout(&g, 8, k, CXLMS_OUT_F32,
						CXLMS_RECON_DEFAULT, &fl))
				q->value_bits[fmt] |= 1u << k;
		}
		for (out = CXLMS_OUT_PLANES; out <= CXLMS_OUT_BF16; out++)
			if (!cxlms_fetch_layout(&g, 8, 1 + 8, out,
						CXLMS_RECON_DEFAULT, &fl))
				q->outputs |= 1u << out;
		for (k = CXLMS_RECON_DEFAULT; k <= CXLMS_RECON_TABLE; k++)
			if (cxlms_recon_resolve(fmt, k) >= 0)
				q->recons |= 1u << k;
	}
	q->tile_max_elems = CXLMS_TILE_MAX_ELEMS;
	q->name_max = CXLMS_NAME_MAX;
	q->dims_max = CXLMS_MAX_DIMS;
	q->planes_max = CXLMS_MAX_PLANES;
	q->dir_capacity_max = CXLMS_DIR_CAPACITY_MAX;
	q->ram_max_bytes = (u64)(totalram_pages() / 4) << PAGE_SHIFT;
	q->fetch_tile_max_bytes = CXLMS_FETCH_TILE_MAX_BYTES;
	if (cf->dev->store)
		cxlms_store_query(cf->dev->store, q);
	return 0;
}

/*
 * --- the one validation path.  ioctl() and uring_cmd (uring.c) both come
 * through cmd_prepare() and cmd_execute(); they differ only in where the
 * struct comes from (user memory, or the kernel's copy of the SQE payload)
 * and whether the caller may sleep on the attach lock.
 */

/*
 * The op of @cmd, or NULL (-ENOTTY) for anything we do not implement.  Two
 * encodings (cxlms.h): the legacy one with the header's size, and since
 * revision 3 _IOWR with the struct's real size, which cmd_prepare() then
 * holds to the in-struct size.  *@sized tells which one @cmd is.
 */
static const struct cxlms_ioctl_op *op_lookup(unsigned int cmd, bool *sized)
{
	unsigned int nr = _IOC_NR(cmd);

	if (_IOC_TYPE(cmd) != CXLMS_IOC_TYPE || nr >= ARRAY_SIZE(cxlms_ops) ||
	    !cxlms_ops[nr].fn || _IOC_DIR(cmd) != (_IOC_READ | _IOC_WRITE))
		return NULL;
	*sized = _IOC_SIZE(cmd) != sizeof(struct cxlms_ioc_hdr);
	return &cxlms_ops[nr];
}

/* copy_struct_from_user()'s rules for a struct already in kernel memory. */
static int copy_struct_from_kernel(void *dst, size_t ksize, const void *src,
				   size_t usize)
{
	if (usize > ksize && memchr_inv(src + ksize, 0, usize - ksize))
		return -E2BIG;
	memcpy(dst, src, min(ksize, usize));
	if (usize < ksize)
		memset(dst + usize, 0, ksize - usize);
	return 0;
}

/*
 * Command number, capability, size, the struct copied in (from @uarg, or
 * from @karg of at most @kmax bytes), flags, field check.  On success
 * *@usize is the caller's struct size.
 */
static int cmd_prepare(unsigned int cmd, const struct cxlms_ioctl_op **opp,
		       union cxlms_ioc_buf *u, u32 *usize,
		       const void __user *uarg, const void *karg, u32 kmax)
{
	bool sized;
	const struct cxlms_ioctl_op *op = op_lookup(cmd, &sized);
	u32 size;
	int ret;

	if (!op)
		return -ENOTTY;
	if (op->admin && !capable(CAP_SYS_ADMIN))
		return -EPERM;

	if (karg)
		size = ((const struct cxlms_ioc_hdr *)karg)->size;
	else if (get_user(size, (const u32 __user *)uarg))
		return -EFAULT;
	if (size < op->min_size)
		return -EINVAL;
	/*
	 * One size, said twice, must agree (what strace/seccomp see is true).
	 * An io_uring payload carries its own size; its cmd_op only names
	 * the command.
	 */
	if (sized && !karg && size != _IOC_SIZE(cmd))
		return -EINVAL;
	if (size > (karg ? kmax : PAGE_SIZE))
		return -E2BIG;
	if (karg)
		ret = copy_struct_from_kernel(u, op->size, karg, size);
	else
		ret = copy_struct_from_user(u, op->size, uarg, size);
	if (ret)
		return ret;
	if (u->hdr.flags & ~op->flags)
		return -EOPNOTSUPP;
	ret = op->check(u);
	if (ret)
		return ret;
	*opp = op;
	*usize = size;
	return 0;
}

/*
 * Run a prepared command under the attach lock (FETCH: under the fd's
 * bounce lock first, the documented order).  @nowait: the caller must not
 * sleep on either (io_uring's non-blocking issue): -EAGAIN instead, before
 * anything has happened, and io_uring retries from a worker.
 */
static int cmd_locked(struct cxlms_file *cf, const struct cxlms_ioctl_op *op,
		      union cxlms_ioc_buf *u, bool nowait, u64 gen);

static int cmd_execute(struct cxlms_file *cf, const struct cxlms_ioctl_op *op,
		       union cxlms_ioc_buf *u, bool nowait, u64 gen)
{
	int ret;

	if (op->bounce) {
		if (nowait) {
			if (!mutex_trylock(&cf->bounce_lock))
				return -EAGAIN;
		} else if (mutex_lock_killable(&cf->bounce_lock)) {
			return -EINTR;
		}
	}
	ret = cmd_locked(cf, op, u, nowait, gen);
	if (op->bounce)
		mutex_unlock(&cf->bounce_lock);
	return ret;
}

static int cmd_locked(struct cxlms_file *cf, const struct cxlms_ioctl_op *op,
		      union cxlms_ioc_buf *u, bool nowait, u64 gen)
{
	struct cxlms_dev *dev = cf->dev;
	int ret;

	if (op->attach_write) {
		if (nowait)
			return -EAGAIN;	/* ATTACH/DETACH are not async commands */
		down_write(&dev->attach_lock);
	} else if (nowait) {
		if (!down_read_trylock(&dev->attach_lock))
			return -EAGAIN;
	} else {
		down_read(&dev->attach_lock);
	}
	if (op->needs_store && !dev->store)
		ret = -ENXIO;
	else if (gen && gen != dev->attach_gen)
		ret = -ESTALE;	/* queued before a DETACH (+ ATTACH) */
	else
		ret = op->fn(cf, u, nowait);
	if (op->attach_write)
		up_write(&dev->attach_lock);
	else
		up_read(&dev->attach_lock);
	return ret;
}

long cxlms_cmd_user(struct cxlms_file *cf, unsigned int cmd,
		    void __user *uarg, bool nowait)
{
	const struct cxlms_ioctl_op *op;
	union cxlms_ioc_buf u;
	u32 usize;
	int ret;

	ret = cmd_prepare(cmd, &op, &u, &usize, uarg, NULL, 0);
	if (ret)
		return ret;
	ret = cmd_execute(cf, op, &u, nowait, 0);
	if (ret == -EAGAIN && nowait)
		return ret;
	if (ret && !(op->copy_out_on_error && ret != -ENXIO))
		return ret;
	/* u is fully initialised: copied in, zero tail, handler outputs. */
	if (copy_to_user(uarg, &u, min_t(u32, usize, op->size)))
		return -EFAULT;
	return ret;
}

int cxlms_cmd_fetch(struct cxlms_file *cf, unsigned int cmd,
		    const void *payload, u32 len,
		    u64 out_max, bool nowait, u64 gen,
		    struct cxlms_ioc_fetch *f)
{
	const struct cxlms_ioctl_op *op;
	union cxlms_ioc_buf u;
	bool clamped = false;
	u32 usize;
	int ret;

	ret = cmd_prepare(cmd, &op, &u, &usize, NULL, payload, len);
	if (ret)
		return ret;
	/*
	 * A result the caller cannot receive must fail before a byte is
	 * written: a smaller buffer makes the fetch refuse it up front.
	 */
	if (u.fetch.buf_len > out_max) {
		u.fetch.buf_len = out_max;
		clamped = true;
	}
	ret = cmd_execute(cf, op, &u, nowait, gen);
	if (ret == -ENOSPC && clamped)
		ret = -EOVERFLOW;
	*f = u.fetch;
	return ret;
}

long cxlms_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return cxlms_cmd_user(file->private_data, cmd, (void __user *)arg,
			      false);
}
