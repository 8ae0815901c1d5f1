// SPDX-License-Identifier: GPL-2.0
/*
 * Views: precision alias windows.  VIEW_CREATE defines a view (a tensor or
 * the whole store, at k bits or at the fd's context, in a layout of
 * codec/view_layout.h) and hands out an mmap offset; mmap() of the device
 * there maps it read-only and shared.  This is the memory controller
 * exposing the same weights at one address range per precision: a load
 * from a page nobody touched yet faults, and the fault decodes the fill
 * unit holding it (whole tiles, each at one k) from the top k planes of the
 * media, exactly as FETCH would (and counted like a FETCH), into fresh
 * pages that are then mapped for the whole unit and a little ahead.
 *
 * The pages are a cache of the planes, never the only copy: they live in
 * the view's xarray, are dropped under memory pressure (the shrinker
 * queues the view_reclaim work, which unmaps and frees whole views' pages
 * in process context) and decode again on the next load.  A view at
 * CXLMS_BITS_POLICY follows the maps: SET_MAP and the owner fd's
 * SET_CONTEXT call cxlms_views_policy_changed(), which unmaps and frees
 * every unit whose tiles now get other bits (unmap_mapping_range over all
 * processes), so the next load decodes it at the new bits.  A unit is
 * filled and dropped whole under the view's lock: a tile never holds
 * bytes of two maps.
 *
 * Lifetime: a view is referenced by its fd's namespace (until VIEW_DESTROY
 * or close) and by every VMA mapping it (vm_ops open/close).  All mappings
 * of a view go through the struct file that created it (mmap looks the
 * offset up among that fd's views), so its pages are in that file's
 * mapping; offsets are unique device-wide and never reused.  DETACH is
 * refused with -EBUSY while any view is mapped, and makes the others dead
 * (mmap: -ENXIO).  Faults need no attach lock: a mapped view pins the
 * store (DETACH refuses), and the dead flag is checked under the view lock.
 *
 * Locking, outermost first: mmap_lock (fault, mmap) or attach_lock (ioctl)
 * -> cxlms_dev.view_lock (the device's view list, mapped counts) ->
 * cxlms_view.lock (pages, fill state, buffers) -> i_mmap_rwsem, PTL (the
 * core's, in unmap_mapping_range and vm_insert_page).  Nothing here touches
 * user memory with a lock held.
 */
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>

#include "cxlms_drv.h"
#include "view_layout.h"

/* Mapped ahead of a fault, in whole units, within the VMA: faults per MiB <= 1. */
#define CXLMS_VIEW_FAULT_AHEAD	(1u << 20)
/* mmap offsets start here (offset 0 and small ones are never a view). */
#define CXLMS_VIEW_PGOFF_BASE	(1ull << 20)

struct cxlms_vsec {
	struct cxlms_tensor *t;
	struct cxlms_view_sec vs;
	u8 *filled;		/* per tile: bits its pages hold, 0 = none */
};

struct cxlms_view {
	struct kref ref;
	struct list_head node;		/* cxlms_dev.views, under view_lock */
	struct cxlms_dev *dev;
	struct cxlms_file *cf;		/* owner: its context, its namespace */
	struct address_space *mapping;	/* the owner file's */
	bool listed;			/* in the owner's namespace */
	bool dead;			/* its store was detached */
	unsigned long pgoff;		/* first page of the mmap offset */
	u64 len;
	u32 layout, bits, recon;
	u32 n_secs;
	struct cxlms_vsec *secs;
	unsigned int vmas;		/* VMAs mapping it, under view_lock */

	struct mutex lock;		/* everything below */
	struct xarray pages;		/* view page index -> struct page */
	u64 n_pages;
	void *stage;			/* tile bytes read from the media */
	size_t stage_len;
	void *bounce;			/* one tile's fetch output */
	size_t bounce_len;
	u8 *tile_bits;			/* bits of the tiles of the unit in fill */
	u32 tile_bits_len;
};

/* --- pages ---------------------------------------------------------------- */

static struct cxlms_vsec *sec_at(struct cxlms_view *v, u64 off)
{
	u32 lo = 0, hi = v->n_secs;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		const struct cxlms_view_sec *vs = &v->secs[mid].vs;

		if (off < vs->off)
			hi = mid;
		else if (off >= vs->off + vs->len)
			lo = mid + 1;
		else
			return &v->secs[mid];
	}
	return NULL;
}

/* Unmap and free the pages of unit @u; caller holds v->lock. */
static void unit_drop(struct cxlms_view *v, struct cxlms_vsec *sec,
		      const struct cxlms_view_unit *u)
{
	unsigned long i, first = u->lo >> PAGE_SHIFT, n = (u->hi - u->lo) >> PAGE_SHIFT;
	u32 t;

	if (!xa_load(&v->pages, first))
		return;
	unmap_mapping_range(v->mapping, ((loff_t)v->pgoff << PAGE_SHIFT) + u->lo,
			    u->hi - u->lo, 1);
	for (i = 0; i < n; i++) {
		struct page *p = xa_erase(&v->pages, first + i);

		if (p) {
			put_page(p);
			v->n_pages--;
			atomic64_dec(&v->dev->view_pages);
		}
	}
	for (t = u->t0; t < u->t1; t++)
		sec->filled[t] = 0;
}

/* Every page of @v: unmapped everywhere, freed.  Caller holds v->lock. */
static u64 view_drop_all(struct cxlms_view *v)
{
	u64 n = v->n_pages;
	unsigned long idx;
	struct page *p;
	u32 i;

	if (!n)
		return 0;
	unmap_mapping_range(v->mapping, (loff_t)v->pgoff << PAGE_SHIFT, v->len, 1);
	xa_for_each(&v->pages, idx, p) {
		xa_erase(&v->pages, idx);
		put_page(p);
	}
	atomic64_sub(v->n_pages, &v->dev->view_pages);
	v->n_pages = 0;
	for (i = 0; i < v->n_secs; i++)
		memset(v->secs[i].filled, 0, v->secs[i].t->d.n_tiles);
	return n;
}

static int grow(void **buf, size_t *cur, size_t len)
{
	void *p;

	if (*cur >= len)
		return 0;
	p = kvmalloc(len, GFP_KERNEL_ACCOUNT);
	if (!p)
		return -ENOMEM;
	kvfree(*buf);
	*buf = p;
	*cur = len;
	return 0;
}

/* Bits of tiles [t0, t1) of @sec now, clamped to the layout, into v->tile_bits. */
static int unit_bits(struct cxlms_view *v, struct cxlms_vsec *sec, u32 t0, u32 t1)
{
	u32 i, n = t1 - t0;
	int ret;

	if (n > v->tile_bits_len) {
		u8 *nb = kvmalloc(n, GFP_KERNEL);

		if (!nb)
			return -ENOMEM;
		kvfree(v->tile_bits);
		v->tile_bits = nb;
		v->tile_bits_len = n;
	}
	if (v->bits != CXLMS_BITS_POLICY) {
		memset(v->tile_bits, v->bits, n);
		return 0;
	}
	ret = cxlms_policy_tile_bits(v->cf, sec->t->index, t0, n, v->tile_bits);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		v->tile_bits[i] = cxlms_view_clamp_bits(&sec->vs, v->tile_bits[i]);
	return 0;
}

/* Decode unit @u of @sec into @dst (its bytes), counting into @sum. */
static int unit_decode(struct cxlms_view *v, struct cxlms_vsec *sec,
		       const struct cxlms_view_unit *u, u8 *dst,
		       struct cxlms_counters *sum)
{
	struct cxlms_store *s = v->dev->store;
	struct cxlms_tensor *t = sec->t;
	const struct cxlms_view_sec *vs = &sec->vs;
	struct cxlms_fetch_layout fl;
	u64 at, len, toff, lo, hi;
	u32 tile;
	s64 n;
	int ret;

	for (tile = u->t0; tile < u->t1; tile++) {
		u32 k = v->tile_bits[tile - u->t0];
		u32 ne = cxlms_dirent_tile_elems(&t->d, tile);

		ret = cxlms_fetch_layout(&t->g, ne, k, vs->out, v->recon, &fl);
		if (ret)
			return ret;
		ret = grow(&v->bounce, &v->bounce_len, fl.total);
		if (!ret)
			ret = grow(&v->stage, &v->stage_len, t->l.tile_bytes);
		if (!ret)
			ret = cxlms_stage_tile(s, t, tile, k, &fl, v->stage);
		if (ret)
			return ret;
		n = cxlms_fetch_tile(v->stage, &t->g, ne, k, vs->out, v->recon,
				     v->bounce, v->bounce_len);
		if (WARN_ON_ONCE(n < 0))
			return n;
		cxlms_counters_add(sum, &fl, k, n);
		ret = cxlms_view_tile_dst(&t->d, vs, tile, k, &at, &len);
		if (ret)
			return ret;
		cxlms_view_put(u, dst, at, v->bounce, len);
	}
	/* INT8 scales: straight from each tile, the same at every k. */
	if (!vs->scales_len || u->hi <= vs->scales_off ||
	    u->lo >= vs->scales_off + vs->scales_len)
		return 0;
	for (tile = 0; tile < t->d.n_tiles; tile++) {
		struct cxlms_tile_span sp;

		ret = cxlms_view_tile_scales(&t->d, vs, tile, &at, &len, &toff);
		if (!ret)
			ret = cxlms_dirent_tile(&t->d, tile, &sp, NULL);
		if (ret)
			return ret;
		/* Only the part in this unit: a scan reads each scale once. */
		lo = max(at, u->lo);
		hi = min(at + len, u->hi);
		if (lo >= hi)
			continue;
		ret = grow(&v->bounce, &v->bounce_len, hi - lo);
		if (!ret)
			ret = cxlms_media_read(s, v->bounce,
					       sp.off + toff + (lo - at), hi - lo);
		if (ret)
			return ret;
		atomic64_add(hi - lo, &sum->side_bytes);
		cxlms_view_put(u, dst, lo, v->bounce, hi - lo);
	}
	return 0;
}

/* Fill unit @u: fresh zeroed pages, decoded at one k per tile, stored. */
static int unit_fill(struct cxlms_view *v, struct cxlms_vsec *sec,
		     const struct cxlms_view_unit *u)
{
	unsigned long i, n = (u->hi - u->lo) >> PAGE_SHIFT;
	unsigned long first = u->lo >> PAGE_SHIFT;
	struct cxlms_counters sum = {};
	struct page **pages;
	void *dst = NULL;
	int ret = -ENOMEM;

	pages = kvcalloc(n, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		pages[i] = alloc_page(GFP_HIGHUSER | __GFP_ZERO | __GFP_ACCOUNT);
		if (!pages[i])
			goto out;
	}
	dst = vmap(pages, n, VM_MAP, PAGE_KERNEL);
	if (!dst)
		goto out;
	ret = u->t1 > u->t0 ? unit_bits(v, sec, u->t0, u->t1) : 0;
	if (!ret)
		ret = unit_decode(v, sec, u, dst, &sum);
	vunmap(dst);
	for (i = 0; !ret && i < n; i++) {
		ret = xa_err(xa_store(&v->pages, first + i, pages[i], GFP_KERNEL));
		if (ret) {
			while (i--)
				xa_erase(&v->pages, first + i);
		}
	}
	if (ret)
		goto out;
	for (i = u->t0; i < u->t1; i++)
		sec->filled[i] = v->tile_bits[i - u->t0];
	v->n_pages += n;
	atomic64_add(n, &v->dev->view_pages);
	atomic64_inc(&v->dev->view_fills);
	cxlms_counters_merge(&sec->t->stats, &sum);
	cxlms_counters_merge(&v->dev->stats, &sum);
	kvfree(pages);
	return 0;
out:
	for (i = 0; i < n; i++)
		if (pages[i])
			__free_page(pages[i]);
	kvfree(pages);
	return ret;
}

/* Map the pages of unit @u that lie in @vma. */
static int unit_insert(struct cxlms_view *v, struct vm_area_struct *vma,
		       const struct cxlms_view_unit *u)
{
	u64 base = (u64)(v->pgoff - vma->vm_pgoff) << PAGE_SHIFT;
	u64 off;

	for (off = u->lo; off < u->hi; off += PAGE_SIZE) {
		unsigned long addr = vma->vm_start + base + off;
		struct page *p;
		int ret;

		/* base wraps for views mapped from inside: unsigned compare. */
		if (addr < vma->vm_start || addr >= vma->vm_end)
			continue;
		p = xa_load(&v->pages, off >> PAGE_SHIFT);
		if (WARN_ON_ONCE(!p))
			return -EIO;
		ret = vm_insert_page(vma, addr, p);
		if (ret && ret != -EBUSY)	/* -EBUSY: mapped already */
			return ret;
	}
	return 0;
}

static vm_fault_t view_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct cxlms_view *v = vma->vm_private_data;
	u64 off = (u64)(vmf->pgoff - v->pgoff) << PAGE_SHIFT, done = 0;
	struct cxlms_view_unit u;
	struct cxlms_vsec *sec;
	int ret = 0;

	atomic64_inc(&v->dev->view_faults);
	mutex_lock(&v->lock);
	if (v->dead) {
		ret = -ENXIO;
		goto out;
	}
	/* The faulting unit, then whole units ahead within the VMA and the view. */
	while (off < v->len && done < CXLMS_VIEW_FAULT_AHEAD) {
		unsigned long addr = vma->vm_start +
			((vmf->pgoff - vma->vm_pgoff) << PAGE_SHIFT) + done;

		if (done && addr >= vma->vm_end)
			break;
		sec = sec_at(v, off);
		if (WARN_ON_ONCE(!sec) ||
		    cxlms_view_unit_at(&sec->t->d, &sec->vs, off, &u)) {
			ret = -EIO;
			break;
		}
		if (!xa_load(&v->pages, u.lo >> PAGE_SHIFT)) {
			ret = unit_fill(v, sec, &u);
			if (ret)
				break;
		} else if (done) {
			break;		/* ahead is there already */
		}
		ret = unit_insert(v, vma, &u);
		if (ret)
			break;
		done += u.hi - off;
		off = u.hi;
		if (fatal_signal_pending(current))
			break;
	}
out:
	mutex_unlock(&v->lock);
	/* A unit ahead that failed costs nothing: the faulting one is mapped. */
	if (ret && !done) {
		pr_warn_ratelimited("view fault at offset %llu: %d: SIGBUS\n",
				    (unsigned long long)off, ret);
		return ret == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
	}
	return VM_FAULT_NOPAGE;
}

/* --- lifetime ------------------------------------------------------------- */

static void view_free(struct cxlms_view *v)
{
	u32 i;

	mutex_lock(&v->lock);
	view_drop_all(v);
	mutex_unlock(&v->lock);
	xa_destroy(&v->pages);
	for (i = 0; i < v->n_secs; i++)
		kvfree(v->secs[i].filled);
	kvfree(v->secs);
	kvfree(v->stage);
	kvfree(v->bounce);
	kvfree(v->tile_bits);
	mutex_destroy(&v->lock);
	kfree(v);
}

/* kref_put_mutex() release: called with view_lock held, drops it. */
static void view_release(struct kref *ref)
{
	struct cxlms_view *v = container_of(ref, struct cxlms_view, ref);
	struct cxlms_dev *dev = v->dev;

	list_del(&v->node);
	mutex_unlock(&dev->view_lock);
	view_free(v);
}

static void view_put(struct cxlms_view *v)
{
	kref_put_mutex(&v->ref, view_release, &v->dev->view_lock);
}

static void view_vma_open(struct vm_area_struct *vma)
{
	struct cxlms_view *v = vma->vm_private_data;

	mutex_lock(&v->dev->view_lock);
	v->vmas++;
	kref_get(&v->ref);
	mutex_unlock(&v->dev->view_lock);
}

static void view_vma_close(struct vm_area_struct *vma)
{
	struct cxlms_view *v = vma->vm_private_data;

	mutex_lock(&v->dev->view_lock);
	v->vmas--;
	mutex_unlock(&v->dev->view_lock);
	view_put(v);
}

static const struct vm_operations_struct view_vm_ops = {
	.open = view_vma_open,
	.close = view_vma_close,
	.fault = view_fault,
};

int cxlms_view_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct cxlms_file *cf = file->private_data;
	struct cxlms_dev *dev = cf->dev;
	unsigned long pages = vma_pages(vma);
	struct cxlms_view *v, *found = NULL;
	int ret = -EINVAL;

	if (vma->vm_flags & VM_WRITE)
		return -EACCES;
	/*
	 * No private copy-on-write of a view.  VM_MAYSHARE: a MAP_SHARED map
	 * of a read-only fd has VM_SHARED cleared by the core.
	 */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	mutex_lock(&dev->view_lock);
	list_for_each_entry(v, &dev->views, node) {
		if (v->cf == cf && v->listed && vma->vm_pgoff >= v->pgoff &&
		    vma->vm_pgoff - v->pgoff < (v->len >> PAGE_SHIFT)) {
			found = v;
			break;
		}
	}
	if (!found)
		goto out;
	if (pages > (found->len >> PAGE_SHIFT) - (vma->vm_pgoff - found->pgoff))
		goto out;
	ret = -ENXIO;
	if (found->dead)
		goto out;
	vma->vm_flags &= ~VM_MAYWRITE;
	vma->vm_flags |= VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_private_data = found;
	vma->vm_ops = &view_vm_ops;
	found->vmas++;
	kref_get(&found->ref);
	ret = 0;
out:
	mutex_unlock(&dev->view_lock);
	return ret;
}

/* --- commands ------------------------------------------------------------- */

int cxlms_view_check_create(struct cxlms_ioc_view_create *c)
{
	c->sec_total = 0;
	c->offset = 0;
	c->length = 0;
	if (c->pad || c->reserved[0] || c->reserved[1])
		return -EINVAL;
	if (c->layout < CXLMS_VIEW_PACKED || c->layout > CXLMS_VIEW_INT16)
		return -EINVAL;
	if (c->recon > CXLMS_RECON_TABLE)
		return -EINVAL;
	if (c->sec_count &&
	    (c->sec_size < sizeof(struct cxlms_ioc_view_section) ||
	     c->sec_size % 8 || c->sec_size > PAGE_SIZE))
		return -EINVAL;
	return 0;
}

/* Sections of the view, set up from the attached store's tensors. */
static int view_setup(struct cxlms_view *v, struct cxlms_store *s, u32 tensor)
{
	u32 count = smp_load_acquire(&s->count), i, n;
	bool one = tensor != CXLMS_TENSOR_ALL;
	u64 off = 0;
	int ret;

	if (one && !cxlms_store_tensor(s, tensor))
		return -ENOENT;
	n = one ? 1 : count;
	v->secs = kvcalloc(n ?: 1, sizeof(*v->secs), GFP_KERNEL);
	if (!v->secs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct cxlms_tensor *t = cxlms_store_tensor(s, one ? tensor : i);
		struct cxlms_vsec *sec = &v->secs[v->n_secs];

		if (!t)
			continue;
		/* Sealed tensors never change: no tensor lock (fetch.c). */
		if (!(smp_load_acquire(&t->d.flags) & CXLMS_DIRENT_SEALED)) {
			if (one)
				return -EBUSY;
			continue;
		}
		ret = cxlms_view_sec_init(&t->d, v->layout, v->bits, v->recon,
					  off, &sec->vs);
		if (ret) {
			if (one)
				return ret;
			continue;	/* the store's view leaves it out */
		}
		if (check_add_overflow(off, sec->vs.len, &off))
			return -EOVERFLOW;
		sec->t = t;
		sec->filled = kvzalloc(t->d.n_tiles, GFP_KERNEL);
		if (!sec->filled)
			return -ENOMEM;
		v->n_secs++;
	}
	if (!v->n_secs)
		return -EOPNOTSUPP;
	/* The mmap offset space is 64-bit bytes: keep well inside it. */
	if (off > (1ull << 46))
		return -EFBIG;
	v->len = off;
	return 0;
}

static void *sections_build(struct cxlms_view *v, u32 count, u32 esize)
{
	u8 *out = kvcalloc(count, esize, GFP_KERNEL);
	u32 i;

	if (!out)
		return NULL;
	for (i = 0; i < count; i++) {
		const struct cxlms_view_sec *vs = &v->secs[i].vs;
		struct cxlms_ioc_view_section e = {
			.tensor = v->secs[i].t->index,
			.off = vs->off, .len = vs->len,
			.tile_stride = vs->tile_stride,
			.data_off = vs->data_off, .data_len = vs->data_len,
			.scales_off = vs->scales_off, .scales_len = vs->scales_len,
		};

		memcpy(out + (size_t)i * esize, &e, sizeof(e));
	}
	return out;
}

int cxlms_view_create(struct cxlms_file *cf, struct cxlms_store *s,
		      struct cxlms_ioc_view_create *c)
{
	struct cxlms_dev *dev = cf->dev;
	u64 gen = dev->attach_gen;
	struct cxlms_view *v;
	void *secs = NULL;
	u32 n_out;
	int ret;

	if (c->bits != CXLMS_BITS_POLICY &&
	    (!c->bits || c->bits > CXLMS_MAX_PLANES))
		return -EOPNOTSUPP;
	v = kzalloc(sizeof(*v), GFP_KERNEL);
	if (!v)
		return -ENOMEM;
	kref_init(&v->ref);
	INIT_LIST_HEAD(&v->node);
	mutex_init(&v->lock);
	xa_init(&v->pages);
	v->dev = dev;
	v->cf = cf;
	v->mapping = cf->mapping;
	v->layout = c->layout;
	v->bits = c->bits;
	v->recon = c->recon;
	ret = view_setup(v, s, c->tensor);
	if (!ret && c->bits == CXLMS_BITS_POLICY) {
		u8 b;

		/* The policy's errors (no maps, unknown context) up front. */
		ret = cxlms_policy_tile_bits(cf, v->secs[0].t->index, 0, 1, &b);
	}
	if (ret)
		goto err;
	n_out = min(c->sec_count, v->n_secs);
	if (n_out) {
		secs = sections_build(v, n_out, c->sec_size);
		ret = -ENOMEM;
		if (!secs)
			goto err;
		/* No lock across a user copy (it may fault for ever). */
		up_read(&dev->attach_lock);
		ret = copy_to_user(u64_to_user_ptr(c->sections), secs,
				   (size_t)n_out * c->sec_size) ? -EFAULT : 0;
		down_read(&dev->attach_lock);
		kvfree(secs);
		if (!ret && READ_ONCE(dev->attach_gen) != gen)
			ret = -ESTALE;
		if (ret)
			goto err;
	}
	mutex_lock(&dev->view_lock);
	if (cf->n_views >= CXLMS_VIEWS_PER_FD) {
		mutex_unlock(&dev->view_lock);
		ret = -EMFILE;
		goto err;
	}
	v->pgoff = dev->view_next_pgoff;
	/* Never reused; a guard page apart so ranges cannot run together. */
	dev->view_next_pgoff += (v->len >> PAGE_SHIFT) + 1;
	v->listed = true;
	cf->n_views++;
	list_add_tail(&v->node, &dev->views);
	mutex_unlock(&dev->view_lock);
	c->sec_count = n_out;
	c->sec_total = v->n_secs;
	c->offset = (u64)v->pgoff << PAGE_SHIFT;
	c->length = v->len;
	return 0;
err:
	view_free(v);
	return ret;
}

/*
 * Take one listed view of @cf off the list: the one at byte @offset, or any
 * with @any.  Returns it with the list's reference, or NULL.
 */
static struct cxlms_view *view_unlist(struct cxlms_file *cf, u64 offset, bool any)
{
	struct cxlms_dev *dev = cf->dev;
	struct cxlms_view *v, *found = NULL;

	mutex_lock(&dev->view_lock);
	list_for_each_entry(v, &dev->views, node) {
		if (v->cf == cf && v->listed &&
		    (any || ((u64)v->pgoff << PAGE_SHIFT) == offset)) {
			found = v;
			found->listed = false;
			cf->n_views--;
			break;
		}
	}
	mutex_unlock(&dev->view_lock);
	return found;
}

int cxlms_view_destroy(struct cxlms_file *cf, struct cxlms_ioc_view_destroy *d)
{
	struct cxlms_view *v;

	if (!PAGE_ALIGNED(d->offset))
		return -ENOENT;
	v = view_unlist(cf, d->offset, false);
	if (!v)
		return -ENOENT;
	view_put(v);
	return 0;
}

/* fd release: no VMA maps its views any more (each held the file). */
void cxlms_views_release(struct cxlms_file *cf)
{
	struct cxlms_view *v;

	while ((v = view_unlist(cf, 0, true)))
		view_put(v);
}

/* DETACH, with attach_lock held for write: -EBUSY while a view is mapped. */
int cxlms_views_detach(struct cxlms_dev *dev)
{
	struct cxlms_view *v;
	int ret = 0;

	mutex_lock(&dev->view_lock);
	list_for_each_entry(v, &dev->views, node)
		if (v->vmas)
			ret = -EBUSY;
	if (!ret) {
		list_for_each_entry(v, &dev->views, node) {
			mutex_lock(&v->lock);
			v->dead = true;
			view_drop_all(v);
			mutex_unlock(&v->lock);
		}
	}
	mutex_unlock(&dev->view_lock);
	return ret;
}

/*
 * New maps (@cf NULL) or @cf's new context: drop every filled unit of the
 * policy views concerned whose tiles get other bits now.
 */
void cxlms_views_policy_changed(struct cxlms_dev *dev, struct cxlms_file *cf)
{
	struct cxlms_view *v;
	u32 i, t;

	mutex_lock(&dev->view_lock);
	list_for_each_entry(v, &dev->views, node) {
		if (v->bits != CXLMS_BITS_POLICY || (cf && v->cf != cf))
			continue;
		mutex_lock(&v->lock);
		for (i = 0; !v->dead && i < v->n_secs; i++) {
			struct cxlms_vsec *sec = &v->secs[i];
			u32 n = sec->t->d.n_tiles;
			bool dropall = false;

			if (!memchr_inv(sec->filled, 0, n))
				continue;
			/* No bits for it now: nothing may stay at the old ones. */
			if (unit_bits(v, sec, 0, n))
				dropall = true;
			for (t = 0; t < n; t++) {
				struct cxlms_view_unit u;
				u64 at, len;

				if (!sec->filled[t] ||
				    (!dropall && sec->filled[t] == v->tile_bits[t]))
					continue;
				if (cxlms_view_tile_dst(&sec->t->d, &sec->vs, t,
							sec->filled[t], &at, &len) ||
				    cxlms_view_unit_at(&sec->t->d, &sec->vs, at, &u))
					continue;
				unit_drop(v, sec, &u);
			}
		}
		mutex_unlock(&v->lock);
	}
	mutex_unlock(&dev->view_lock);
}

/* --- reclaim -------------------------------------------------------------- */

static unsigned long view_count(struct shrinker *sh, struct shrink_control *sc)
{
	struct cxlms_dev *dev = container_of(sh, struct cxlms_dev, view_shrinker);
	u64 n = atomic64_read(&dev->view_pages);

	return n ? n : SHRINK_EMPTY;
}

/*
 * Reclaim may run with mm locks held that unmap_mapping_range() takes:
 * queue the drop for process context and report nothing freed now.
 */
static unsigned long view_scan(struct shrinker *sh, struct shrink_control *sc)
{
	struct cxlms_dev *dev = container_of(sh, struct cxlms_dev, view_shrinker);

	atomic_long_add(sc->nr_to_scan, &dev->view_reclaim_target);
	queue_work(system_unbound_wq, &dev->view_reclaim);
	return SHRINK_STOP;
}

/* Drop whole views' pages, oldest view first, until the target is met. */
static void view_reclaim_work(struct work_struct *w)
{
	struct cxlms_dev *dev = container_of(w, struct cxlms_dev, view_reclaim);
	long target = atomic_long_xchg(&dev->view_reclaim_target, 0);
	struct cxlms_view *v;

	mutex_lock(&dev->view_lock);
	list_for_each_entry(v, &dev->views, node) {
		if (target <= 0)
			break;
		mutex_lock(&v->lock);
		target -= view_drop_all(v);
		mutex_unlock(&v->lock);
	}
	mutex_unlock(&dev->view_lock);
}

int cxlms_views_init(struct cxlms_dev *dev)
{
	INIT_LIST_HEAD(&dev->views);
	mutex_init(&dev->view_lock);
	dev->view_next_pgoff = CXLMS_VIEW_PGOFF_BASE;
	INIT_WORK(&dev->view_reclaim, view_reclaim_work);
	dev->view_shrinker.count_objects = view_count;
	dev->view_shrinker.scan_objects = view_scan;
	dev->view_shrinker.seeks = DEFAULT_SEEKS;
	return register_shrinker(&dev->view_shrinker, "cxlms-views");
}

void cxlms_views_exit(struct cxlms_dev *dev)
{
	unregister_shrinker(&dev->view_shrinker);
	cancel_work_sync(&dev->view_reclaim);
	mutex_destroy(&dev->view_lock);
}
