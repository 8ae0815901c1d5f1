// SPDX-License-Identifier: GPL-2.0
/*
 * Precision maps: SET_MAP, SET_CONTEXT, GET_MAP and FETCH with
 * CXLMS_BITS_POLICY.  cxlmsd pushes every context's map at once; the maps
 * are the store format's policy bytes (codec/policy_format.h) kept in
 * kernel memory, one immutable object per generation.
 *
 * Atomic replacement: the device holds an RCU pointer to the live maps.
 * A fetch takes a reference under rcu_read_lock() and then works on that
 * one object however long it sleeps (copy_to_user, the link model), so
 * every tile of a request gets its bits from one generation; SET_MAP
 * builds and validates the new object completely, swaps the pointer under
 * map_lock and drops the device's reference to the old one, which is freed
 * after a grace period once its last fetch is done.  Nothing is ever
 * written to a published object.
 */
#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "cxlms_drv.h"
#include "policy_format.h"

/* The UAPI context entry is the store format's, byte for byte. */
static_assert(sizeof(struct cxlms_ioc_map_context) ==
	      sizeof(struct cxlms_policy_ctx));
static_assert(CXLMS_MAP_NAME_MAX == CXLMS_POLICY_NAME_MAX);
static_assert(CXLMS_MAP_MAX_CONTEXTS == CXLMS_POLICY_MAX_CONTEXTS);

struct cxlms_map {
	struct rcu_head rcu;
	refcount_t ref;
	u64 generation;
	u32 n_contexts;
	u32 default_context;
	u32 n_tensors;
	u32 n_tiles;
	u32 *tile_base;		/* n_tensors + 1 entries */
	struct cxlms_ioc_map_context *ctx;
	u8 *maps;		/* map c at maps + c * n_tiles */
};

static void map_free(struct cxlms_map *m)
{
	kvfree(m->tile_base);
	kvfree(m->ctx);
	kvfree(m->maps);
	kfree(m);
}

static void map_free_rcu(struct rcu_head *head)
{
	map_free(container_of(head, struct cxlms_map, rcu));
}

/* Fetchers may still be between rcu_dereference() and their refcount try. */
static void map_put(struct cxlms_map *m)
{
	if (m && refcount_dec_and_test(&m->ref))
		call_rcu(&m->rcu, map_free_rcu);
}

/* The live maps with a reference held, or NULL. */
static struct cxlms_map *map_get(struct cxlms_dev *dev)
{
	struct cxlms_map *m;

	rcu_read_lock();
	m = rcu_dereference(dev->map);
	/* Zero: the last reference went with a swap; the new one is live. */
	while (m && !refcount_inc_not_zero(&m->ref))
		m = rcu_dereference(dev->map);
	rcu_read_unlock();
	return m;
}

void cxlms_policy_drop(struct cxlms_dev *dev)
{
	struct cxlms_map *old;

	mutex_lock(&dev->map_lock);
	old = rcu_replace_pointer(dev->map, NULL, lockdep_is_held(&dev->map_lock));
	mutex_unlock(&dev->map_lock);
	map_put(old);
}

/* NUL-terminated and NUL-padded, the directory's rule for names. */
static bool name_padded(const char *name, size_t size)
{
	size_t len = strnlen(name, size);

	return len < size && !memchr_inv(name + len, 0, size - len);
}

/* A context name as SET_CONTEXT and GET_MAP take it: "" or a valid name. */
static bool context_name_ok(const char *name)
{
	if (!name_padded(name, CXLMS_MAP_NAME_MAX))
		return false;
	return !name[0] || cxlms_policy_name_valid(name);
}

/* Index of @name in @m ("" the default), or -ENOENT. */
static int map_find(const struct cxlms_map *m, const char *name)
{
	u32 i;

	if (!name[0])
		return m->default_context;
	for (i = 0; i < m->n_contexts; i++)
		if (!strncmp(m->ctx[i].name, name, CXLMS_MAP_NAME_MAX))
			return i;
	return -ENOENT;
}

/* The fd's context name; threads sharing the fd may change it any time. */
static void file_context(struct cxlms_file *cf, char name[CXLMS_MAP_NAME_MAX])
{
	spin_lock(&cf->ctx_lock);
	memcpy(name, cf->context, CXLMS_MAP_NAME_MAX);
	spin_unlock(&cf->ctx_lock);
}

/* --- field checks (no state), called by ioctl.c's cmd_prepare() ---------- */

int cxlms_policy_check_set_map(struct cxlms_ioc_set_map *m)
{
	m->generation = 0;
	if (m->pad)
		return -EINVAL;
	if (!m->n_contexts || m->n_contexts > CXLMS_MAP_MAX_CONTEXTS ||
	    m->default_context >= m->n_contexts)
		return -EINVAL;
	if (m->ctx_size != sizeof(struct cxlms_ioc_map_context))
		return -EINVAL;
	if (!m->n_tiles || !m->contexts || !m->maps)
		return -EINVAL;
	/* Sized before SET_MAP allocates n_tensors + 1 slots from it. */
	if (m->n_tensors > CXLMS_DIR_CAPACITY_MAX)
		return -EINVAL;
	/* Both factors are u32: the product fits a u64. */
	if (m->maps_len != (u64)m->n_contexts * m->n_tiles)
		return -EINVAL;
	if (m->maps_len > CXLMS_MAP_MAX_BYTES)
		return -ENOSPC;
	return 0;
}

int cxlms_policy_check_set_context(struct cxlms_ioc_set_context *c)
{
	return context_name_ok(c->name) ? 0 : -EINVAL;
}

int cxlms_policy_check_get_map(struct cxlms_ioc_get_map *g)
{
	u32 end;

	g->n_contexts = 0;
	g->generation = 0;
	if (g->flags & CXLMS_GET_MAP_NAMED) {
		if (!context_name_ok(g->context))
			return -EINVAL;
	} else if (memchr_inv(g->context, 0, sizeof(g->context))) {
		return -EINVAL;
	}
	if (g->tile_count &&
	    (!g->bits || check_add_overflow(g->tile_first, g->tile_count, &end)))
		return -EINVAL;
	return 0;
}

/* --- SET_MAP ------------------------------------------------------------- */

static int map_check_contexts(const struct cxlms_map *m)
{
	u32 i, j;

	for (i = 0; i < m->n_contexts; i++) {
		const struct cxlms_ioc_map_context *c = &m->ctx[i];

		if (!name_padded(c->name, sizeof(c->name)) ||
		    !cxlms_policy_name_valid(c->name))
			return -EINVAL;
		if (c->mode > CXLMS_POLICY_MODE_PRESSURE || c->reserved)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (!strncmp(m->ctx[j].name, c->name, sizeof(c->name)))
				return -EINVAL;
	}
	return 0;
}

/*
 * The maps must describe the directory as it is now: its tensor count, each
 * tensor's tiles (which never change once created) and bits each tensor's
 * format has.
 */
static int map_check_directory(struct cxlms_store *s, struct cxlms_map *m)
{
	u32 i, tile, c, sum = 0;

	if (m->n_tensors != smp_load_acquire(&s->count))
		return -ESTALE;
	for (i = 0; i < m->n_tensors; i++) {
		const struct cxlms_tensor *t = cxlms_store_tensor(s, i);

		m->tile_base[i] = sum;
		if (check_add_overflow(sum, t->d.n_tiles, &sum))
			return -ESTALE;
	}
	m->tile_base[m->n_tensors] = sum;
	if (sum != m->n_tiles)
		return -ESTALE;
	for (i = 0; i < m->n_tensors; i++) {
		const struct cxlms_tensor *t = cxlms_store_tensor(s, i);
		u32 planes = t->l.n_planes;

		for (c = 0; c < m->n_contexts; c++) {
			const u8 *bits = m->maps + (size_t)c * m->n_tiles +
					 m->tile_base[i];

			for (tile = 0; tile < t->d.n_tiles; tile++)
				if (!bits[tile] || bits[tile] > planes)
					return -EINVAL;
		}
		cond_resched();
	}
	return 0;
}

int cxlms_policy_set_map(struct cxlms_file *cf, struct cxlms_store *s,
			 struct cxlms_ioc_set_map *a)
{
	struct cxlms_dev *dev = cf->dev;
	struct cxlms_map *m, *old;
	size_t ctx_bytes = (size_t)a->n_contexts * sizeof(*m->ctx);
	u64 live;
	int ret;

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->n_contexts = a->n_contexts;
	m->default_context = a->default_context;
	m->n_tensors = a->n_tensors;
	m->n_tiles = a->n_tiles;
	m->tile_base = kvcalloc((size_t)a->n_tensors + 1, sizeof(u32),
				GFP_KERNEL_ACCOUNT);
	m->ctx = kvmalloc(ctx_bytes, GFP_KERNEL);
	m->maps = kvmalloc(a->maps_len, GFP_KERNEL);
	ret = -ENOMEM;
	if (!m->tile_base || !m->ctx || !m->maps)
		goto fail;
	ret = -EFAULT;
	if (copy_from_user(m->ctx, u64_to_user_ptr(a->contexts), ctx_bytes) ||
	    copy_from_user(m->maps, u64_to_user_ptr(a->maps), a->maps_len))
		goto fail;
	ret = map_check_contexts(m);
	if (ret)
		goto fail;
	ret = map_check_directory(s, m);
	if (ret)
		goto fail;
	refcount_set(&m->ref, 1);	/* the device's reference */

	mutex_lock(&dev->map_lock);
	old = rcu_dereference_protected(dev->map, lockdep_is_held(&dev->map_lock));
	live = old ? old->generation : 0;
	if (a->generation_expected && a->generation_expected != live) {
		mutex_unlock(&dev->map_lock);
		ret = -ESTALE;
		goto fail;
	}
	m->generation = ++dev->map_seq;
	rcu_assign_pointer(dev->map, m);
	mutex_unlock(&dev->map_lock);
	map_put(old);
	a->generation = m->generation;
	return 0;
fail:
	map_free(m);
	return ret;
}

/* --- SET_CONTEXT, GET_MAP ------------------------------------------------ */

int cxlms_policy_set_context(struct cxlms_file *cf,
			     struct cxlms_ioc_set_context *c)
{
	struct cxlms_map *m = map_get(cf->dev);
	int ret;

	if (!m)
		return -ENODATA;
	ret = map_find(m, c->name);
	map_put(m);
	if (ret < 0)
		return ret;
	spin_lock(&cf->ctx_lock);
	memcpy(cf->context, c->name, sizeof(cf->context));
	spin_unlock(&cf->ctx_lock);
	return 0;
}

int cxlms_policy_get_map(struct cxlms_file *cf, struct cxlms_store *s,
			 struct cxlms_ioc_get_map *g)
{
	char name[CXLMS_MAP_NAME_MAX];
	const struct cxlms_tensor *t;
	struct cxlms_map *m;
	int idx, ret = 0;

	if (g->flags & CXLMS_GET_MAP_NAMED)
		memcpy(name, g->context, sizeof(name));
	else
		file_context(cf, name);
	m = map_get(cf->dev);
	if (!m)
		return -ENODATA;
	idx = map_find(m, name);
	if (idx < 0) {
		ret = idx;
		goto out;
	}
	g->generation = m->generation;
	g->n_contexts = m->n_contexts;
	memcpy(g->context, m->ctx[idx].name, sizeof(g->context));
	if (!g->tile_count)
		goto out;
	t = cxlms_store_tensor(s, g->tensor);
	ret = -ENOENT;
	if (!t)
		goto out;
	ret = -ENODATA;
	if (g->tensor >= m->n_tensors)
		goto out;
	ret = -EINVAL;
	if (g->tile_first >= t->d.n_tiles ||
	    g->tile_count > t->d.n_tiles - g->tile_first)
		goto out;
	ret = 0;
	if (copy_to_user(u64_to_user_ptr(g->bits),
			 m->maps + (size_t)idx * m->n_tiles +
			 m->tile_base[g->tensor] + g->tile_first, g->tile_count))
		ret = -EFAULT;
out:
	map_put(m);
	return ret;
}

/* --- FETCH with CXLMS_BITS_POLICY ---------------------------------------- */

/*
 * The file backend's cxlms_policy_fetch_tiles(), in the kernel: bits of
 * the whole range from one generation, the size checked for all tiles
 * before a byte is written, then one explicit fetch per run of equal bits.
 * Output and counters are exactly those of explicit fetches at the mapped
 * bits.
 */
int cxlms_policy_fetch(struct cxlms_file *cf, struct cxlms_store *s,
		       struct cxlms_ioc_fetch *f, bool nowait)
{
	struct cxlms_tensor *t = cxlms_store_tensor(s, f->tensor);
	char name[CXLMS_MAP_NAME_MAX];
	struct cxlms_fetch_layout fl;
	struct cxlms_ioc_fetch run;
	u64 total = 0, written = 0, read = 0;
	struct cxlms_map *m;
	const u8 *bits;
	u32 i, j;
	int idx, ret;

	if (!t)
		return -ENOENT;
	if (f->tile_first >= t->d.n_tiles ||
	    f->tile_count > t->d.n_tiles - f->tile_first)
		return -EINVAL;
	file_context(cf, name);
	m = map_get(cf->dev);
	if (!m)
		return -ENODATA;
	ret = -ENODATA;
	if (f->tensor >= m->n_tensors)
		goto out;
	idx = map_find(m, name);
	if (idx < 0) {
		ret = idx;
		goto out;
	}
	bits = m->maps + (size_t)idx * m->n_tiles + m->tile_base[f->tensor] +
	       f->tile_first;
	/* Geometry is fixed at CREATE: no tensor lock needed to size. */
	for (i = 0; i < f->tile_count; i++) {
		u32 n = cxlms_dirent_tile_elems(&t->d, f->tile_first + i);

		ret = cxlms_fetch_layout(&t->g, n, bits[i], f->out, f->recon, &fl);
		if (ret)
			goto out;
		if (check_add_overflow(total, fl.total, &total)) {
			ret = -EOVERFLOW;
			goto out;
		}
	}
	ret = -ENOSPC;
	if (total > f->buf_len)
		goto out;
	ret = 0;
	for (i = 0; i < f->tile_count && !ret; i = j) {
		for (j = i + 1; j < f->tile_count && bits[j] == bits[i]; j++)
			;
		run = *f;
		run.tile_first = f->tile_first + i;
		run.tile_count = j - i;
		run.bits = bits[i];
		run.buf = f->buf + written;
		run.buf_len = f->buf_len - written;
		ret = cxlms_fetch(cf, s, &run, nowait);
		written += run.bytes_written;
		read += run.bytes_read;
	}
out:
	map_put(m);
	f->bytes_written = written;
	f->bytes_read = read;
	return ret;
}

int cxlms_policy_tile_bits(struct cxlms_file *cf, u32 tensor, u32 t0, u32 n,
			   u8 *bits)
{
	char name[CXLMS_MAP_NAME_MAX];
	struct cxlms_map *m;
	int idx, ret = -ENODATA;

	file_context(cf, name);
	m = map_get(cf->dev);
	if (!m)
		return -ENODATA;
	if (tensor >= m->n_tensors ||
	    t0 + n > m->tile_base[tensor + 1] - m->tile_base[tensor])
		goto out;
	idx = map_find(m, name);
	if (idx < 0) {
		ret = idx;
		goto out;
	}
	memcpy(bits, m->maps + (size_t)idx * m->n_tiles + m->tile_base[tensor] + t0, n);
	ret = 0;
out:
	map_put(m);
	return ret;
}
