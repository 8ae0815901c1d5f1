// SPDX-License-Identifier: GPL-2.0
/*
 * The attached store: backing memory (a CXL window range or kernel RAM),
 * formatting and validation with the shared store-format code, and the
 * tensor directory (list, create, tile write, seal, verify).
 *
 * The bytes follow codec/store_format.h exactly, so a store written here is
 * byte-identical to a store file and the file backend can read a copy.
 * Allocation is bump-style: tiles after data_used, CRC arrays after the
 * last one; nothing is ever freed inside a store.
 *
 * Crash consistency (format.md 1.5): a store made here has two superblock
 * slots and two directory copies.  CREATE and SEAL never write the
 * committed slot or copy: they write the other copy, make it durable,
 * then the other slot (generation + 1), durable too (store_commit()).
 * Tiles and CRC arrays of an unsealed tensor are written in place: no
 * sealed tensor's bytes are ever written again, so a crash anywhere
 * leaves the last committed state with every sealed tensor intact.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/libnvdimm.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/reboot.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uuid.h>
#include <linux/vmalloc.h>
#include <asm/unaligned.h>

#include "cxlms_drv.h"

/* CRC arrays start on a cache line: a tensor's CRCs never share one. */
#define CXLMS_CRC_ALIGN		64

/*
 * Write back what we stored to a CXL range so it survives power loss (the
 * region is persistent memory); RAM stores need nothing.
 */
static void store_persist(struct cxlms_store *s, const void *p, size_t len)
{
	if (s->backing != CXLMS_BACKING_CXL || !len)
		return;
	arch_wb_cache_pmem((void *)p, len);
	/* Order the cache write-backs before whatever is stored next. */
	wmb();
}

/* Store bytes at @off, inside the store (offsets come from kernel state). */
static u8 *media(struct cxlms_store *s, u64 off)
{
	return s->base + off;
}

/*
 * Every read of the backing memory comes here: copy_mc_to_kernel() turns a
 * poisoned line into a short copy (x86 with machine-check recovery; a plain
 * memcpy elsewhere), which fails this request with -EIO, counts it in
 * STATS.media_errors and leaves the host running.  debugfs
 * cxlms/inject_media_error makes the next N reads fail the same way.
 */
int cxlms_media_read(struct cxlms_store *s, void *dst, u64 off, size_t len)
{
	struct cxlms_dev *dev = s->dev;
	unsigned long left = 0;
	u64 start = off;

	/* Offsets are from validated kernel state: outside is a driver bug. */
	if (WARN_ON_ONCE(off > s->bytes || len > s->bytes - off))
		return -EIO;
	if (atomic_add_unless(&dev->inject_media_error, -1, 0))
		left = len ?: 1;
	while (!left && len) {
		unsigned int n = min_t(size_t, len, SZ_1G);

		left = copy_mc_to_kernel(dst, media(s, off), n);
		dst += n;
		off += n;
		len -= n;
	}
	if (!left)
		return 0;
	atomic64_inc(&dev->media_errors);
	pr_err_ratelimited("media error reading %zu bytes at store offset %llu\n",
			   len, start);
	return -EIO;
}

/* Write a kernel-built object to the media and make it durable. */
static void media_write(struct cxlms_store *s, u64 off, const void *src,
			size_t len)
{
	memcpy(media(s, off), src, len);
	store_persist(s, media(s, off), len);
}

/*
 * A metadata write (CRC array, directory entries, superblock): @src, or
 * zeroes when NULL, durable before the function returns.  debugfs
 * crash_after_meta_writes resets the machine right after the Nth one
 * (crash_torn: after half of it), to test recovery at every step.
 */
static void meta_write(struct cxlms_store *s, u64 off, const void *src,
		       size_t len)
{
	struct cxlms_dev *dev = s->dev;
	bool crash = false;

	lockdep_assert_held(&s->meta_lock);
	if (dev->crash_after_meta_writes && !--dev->crash_after_meta_writes) {
		crash = true;
		if (dev->crash_torn)
			len = len > 1 ? len / 2 : len;
	}
	if (src)
		memcpy(media(s, off), src, len);
	else
		memset(media(s, off), 0, len);
	store_persist(s, media(s, off), len);
	if (crash) {
		pr_emerg("crash injection: reset after a%s metadata write of %zu bytes at %llu\n",
			 dev->crash_torn ? " torn" : "", len, off);
		emergency_restart();
	}
}

/*
 * Commit the kernel copies (s->sb with the committed generation, s->dir)
 * to the media as the next generation.  @changed: the entry this update
 * changed.  Single-copy stores (made before format 1.5) are updated in
 * place as they always were: not crash consistent.
 */
static void store_commit(struct cxlms_store *s, u32 changed)
{
	struct cxlms_meta_write w[2];
	int i, n;

	lockdep_assert_held(&s->meta_lock);
	n = cxlms_update_plan(&s->sb, s->dir, changed, &s->track, w);
	for (i = 0; i < n; i++)
		meta_write(s, w[i].off, w[i].src, w[i].len);
}

/*
 * Where tile @tile lies and how long it is: cxlms_dirent_tile() of the
 * validated snapshot (a short last tile is smaller, format.md 1.2).
 */
static u64 tile_off(const struct cxlms_tensor *t, u32 tile)
{
	struct cxlms_tile_span sp;

	return cxlms_dirent_tile(&t->d, tile, &sp, NULL) ? 0 : sp.off;
}

static u64 tile_len(const struct cxlms_tensor *t, u32 tile)
{
	struct cxlms_tile_span sp;

	return cxlms_dirent_tile(&t->d, tile, &sp, NULL) ? 0 : sp.bytes;
}

static struct cxlms_tensor *tensor_new(const struct cxlms_dirent *d, u32 index)
{
	struct cxlms_tensor *t;

	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return NULL;
	init_rwsem(&t->rwsem);
	t->index = index;
	t->d = *d;
	cxlms_dirent_geom(&t->d, &t->g);
	/* The entry passed validation (or was built by CREATE). */
	if (WARN_ON_ONCE(cxlms_tile_layout(&t->g, &t->l)))
		goto err;
	if (!(t->d.flags & CXLMS_DIRENT_SEALED)) {
		/* n_tiles can reach 2^32: kvcalloc, never a huge kmalloc. */
		t->written = kvcalloc(BITS_TO_LONGS(t->d.n_tiles),
				      sizeof(unsigned long), GFP_KERNEL_ACCOUNT);
		if (!t->written)
			goto err;
	}
	return t;
err:
	kfree(t);
	return NULL;
}

static void tensor_free(struct cxlms_tensor *t)
{
	if (!t)
		return;
	kvfree(t->written);
	kfree(t);
}

static bool tensor_sealed(const struct cxlms_tensor *t)
{
	return t->d.flags & CXLMS_DIRENT_SEALED;
}

struct cxlms_tensor *cxlms_store_tensor(struct cxlms_store *s, u32 index)
{
	/* Pairs with the release in cxlms_tensor_create(). */
	u32 count = smp_load_acquire(&s->count);

	if (index >= count)
		return NULL;
	return s->tensors[index];
}

/* --- attach / detach ---------------------------------------------------- */

static void store_free(struct cxlms_store *s)
{
	u32 i;

	if (s->tensors) {
		for (i = 0; i < s->count; i++)
			tensor_free(s->tensors[i]);
		kvfree(s->tensors);
	}
	if (s->backing == CXLMS_BACKING_RAM) {
		vfree(s->base);
	} else if (s->backing == CXLMS_BACKING_CXL) {
		memunmap(s->base);
		release_mem_region(s->start, s->bytes);
	}
	kvfree(s->dir);
	mutex_destroy(&s->meta_lock);
	kfree(s);
}

/*
 * Write an empty store: superblock, a directory of @cap entries, a CRC area
 * big enough for the smallest possible tiles filling the data area (4 bytes
 * per tile, a tile is at least 8 planes of 64 bytes), the policy area, and
 * the data area (the rest).  Only the metadata areas are cleared; a tile is
 * cleared when it is written.
 */
static int store_format(struct cxlms_store *s, const struct cxlms_ioc_attach *a,
			char *why)
{
	u32 cap = a->dir_capacity ?: CXLMS_DIR_CAPACITY_DEFAULT;
	u64 dir_off = CXLMS_SB_BYTES;
	/* Two directory copies (CXLMS_FEAT_INCOMPAT_DUAL). */
	u64 dir_end = dir_off + 2 * (u64)cap * sizeof(struct cxlms_dirent);
	u64 crc_bytes = ALIGN(s->bytes / 128 + (u64)CXLMS_CRC_ALIGN * cap, PAGE_SIZE);
	u64 policy_off = ALIGN(dir_end + crc_bytes, PAGE_SIZE);
	u64 data_off = policy_off + CXLMS_POLICY_BYTES;
	struct cxlms_sb *sb = &s->sb;

	if (data_off + PAGE_SIZE > s->bytes) {
		strscpy(why, "range too small for the directory capacity",
			CXLMS_WHY_LEN);
		return -EINVAL;
	}
	memset(s->base, 0, data_off);
	memcpy(sb->magic, CXLMS_STORE_MAGIC, sizeof(sb->magic));
	sb->version = CXLMS_STORE_VERSION;
	sb->sb_len = sizeof(*sb);
	sb->feature_compat = CXLMS_FEAT_COMPAT_POLICY;
	sb->feature_incompat = CXLMS_FEAT_INCOMPAT_DUAL;
	sb->store_bytes = s->bytes;
	generate_random_uuid(sb->uuid);
	sb->generation = CXLMS_SB_FIRST_GENERATION;
	sb->dir_off = dir_off;
	sb->dir_capacity = cap;
	sb->dir_count = 0;
	sb->dir_crc = cxlms_dir_crc(NULL, 0);
	sb->default_group = a->default_group ?: CXLMS_GROUP_DEFAULT;
	sb->data_off = data_off;
	sb->data_bytes = s->bytes - data_off;
	sb->data_used = 0;
	sb->policy_off = policy_off;
	sb->policy_bytes = CXLMS_POLICY_BYTES;
	cxlms_sb_seal(sb);
	/* Slot 0 (generation 2); slot 1 and both copies stay zero. */
	memcpy(s->base + cxlms_sb_slot_off(cxlms_sb_slot(sb)), sb, sizeof(*sb));
	store_persist(s, s->base, data_off);
	s->track.copy_gen[cxlms_sb_slot(sb)] = sb->generation;
	return 0;
}

/*
 * Snapshot, then validate: the superblock slots and the used directory
 * entries are copied out of the media once and only the copies are
 * checked and used, so a writer on a shared pool cannot change them in
 * between.  Of the two slots of a DUAL store the newest that validates
 * with its directory copy is the store (cxlms_slot_order(), format.md
 * 1.5); a single-copy store is slot 0.  The reason shown is slot 0's
 * when no slot is valid, else the newest valid slot's.
 */
static int store_snapshot(struct cxlms_store *s, char *why)
{
	struct cxlms_sb *cand;
	u32 order[2], i, n;
	int r[2], ret;

	cand = kcalloc(2, sizeof(*cand), GFP_KERNEL);
	if (!cand)
		return -ENOMEM;
	for (i = 0; i < 2; i++) {
		r[i] = -CXLMS_ETRUNCATED;
		if (i && s->bytes < cxlms_sb_slot_off(i) + sizeof(cand[i]))
			continue;
		ret = cxlms_media_read(s, &cand[i], cxlms_sb_slot_off(i),
				       sizeof(cand[i]));
		if (ret) {
			strscpy(why, "media error reading the superblock",
				CXLMS_WHY_LEN);
			goto out;
		}
		r[i] = cxlms_sb_slot_check(&cand[i], i, s->bytes,
					   i ? NULL : why, i ? 0 : CXLMS_WHY_LEN);
	}
	n = cxlms_slot_order(&cand[0], !r[0], &cand[1], !r[1], order);
	ret = r[0];
	for (i = 0; i < n; i++) {
		struct cxlms_sb *sb = &cand[order[i]];
		int rc;

		if (sb->dir_capacity > CXLMS_DIR_CAPACITY_MAX) {
			snprintf(why, CXLMS_WHY_LEN,
				 "directory capacity %u above the module's limit %u",
				 sb->dir_capacity, CXLMS_DIR_CAPACITY_MAX);
			ret = -EOPNOTSUPP;
			goto out;
		}
		kvfree(s->dir);
		s->dir = kvcalloc(max(sb->dir_capacity, 1u), sizeof(*s->dir),
				  GFP_KERNEL_ACCOUNT);
		if (!s->dir) {
			ret = -ENOMEM;
			goto out;
		}
		/* sb_check bounded dir_count <= dir_capacity inside the store. */
		rc = cxlms_media_read(s, s->dir, cxlms_sb_dir_copy(sb),
				      (size_t)sb->dir_count * sizeof(*s->dir));
		if (rc) {
			strscpy(why, "media error reading the directory",
				CXLMS_WHY_LEN);
			ret = rc;
			goto out;
		}
		rc = cxlms_dir_check_at(sb, s->dir, s->bytes, i ? NULL : why,
					i ? 0 : CXLMS_WHY_LEN);
		if (!rc) {
			if (i)
				pr_info("superblock slot %u (generation %llu) is not valid: using slot %u (generation %llu)\n",
					order[0], cand[order[0]].generation,
					order[i], sb->generation);
			why[0] = '\0';
			s->sb = *sb;
			/* What each copy holds is unknown until we write it. */
			ret = 0;
			goto out;
		}
		if (!i)
			ret = rc;
	}
out:
	kfree(cand);
	return ret;
}

/* Build the kernel view (tensors, cursors) from the validated copies. */
static int store_load(struct cxlms_store *s, char *why)
{
	const struct cxlms_sb *sb = &s->sb;
	u32 i;

	s->dir_capacity = sb->dir_capacity;
	s->readonly = sb->feature_ro_compat & ~CXLMS_FEAT_RO_COMPAT_KNOWN;
	/* The CRC area as the store format defines it. */
	cxlms_sb_crc_area(sb, &s->crc_next, &s->crc_end);
	s->tensors = kvcalloc(max(s->dir_capacity, 1u), sizeof(*s->tensors),
			      GFP_KERNEL_ACCOUNT);
	if (!s->tensors)
		return -ENOMEM;
	for (i = 0; i < sb->dir_count; i++) {
		const struct cxlms_dirent *d = &s->dir[i];

		s->tensors[i] = tensor_new(d, i);
		if (!s->tensors[i])
			return -ENOMEM;
		s->count = i + 1;
		s->crc_next = max(s->crc_next, d->crc_off + 4ull * d->n_tiles);
	}
	return 0;
}

/*
 * Is our claim inside a CXL region, not just a window?  request_mem_region()
 * nests the claim in the deepest resource covering the whole range; cxl_core
 * (6.1) gives each region's HPA range a "regionN" child of its window's
 * IORES_DESC_CXL resource.  Unbacked window space has no such parent.  The
 * region's commit state lives in cxl_core's private struct cxl_region (not
 * in the headers a module builds against): libcxl checks it before ATTACH
 * (cxlms attach).  Checked at ATTACH only: nothing here pins the region
 * (cxl_core exports no reference on it to modules in 6.1).
 */
static bool in_cxl_region(const struct resource *claim)
{
	const struct resource *p, *region = NULL;

	/* Other users (e.g. a pmem driver) may nest between region and us. */
	for (p = claim->parent; p; p = p->parent) {
		if (p->desc == IORES_DESC_CXL)
			return region;
		if (!region && p->name && !strncmp(p->name, "region", 6))
			region = p;
	}
	return false;
}

int cxlms_store_attach(struct cxlms_dev *dev, const struct cxlms_ioc_attach *a,
		       char *why)
{
	u64 ram_max = (u64)(totalram_pages() / 4) << PAGE_SHIFT;
	struct cxlms_store *s;
	int ret;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	mutex_init(&s->meta_lock);
	s->dev = dev;
	s->bytes = a->bytes;

	if (a->flags & CXLMS_ATTACH_RAM) {
		if (a->bytes > ram_max) {
			ret = -ENOMEM;
			goto err;
		}
		s->base = vzalloc(a->bytes);
		if (!s->base) {
			ret = -ENOMEM;
			goto err;
		}
		s->backing = CXLMS_BACKING_RAM;
	} else {
		/* Only CXL memory: never scribble on RAM or device MMIO. */
		if (region_intersects(a->start, a->bytes, IORESOURCE_MEM,
				      IORES_DESC_CXL) != REGION_INTERSECTS) {
			strscpy(why, "range is not inside a CXL memory window",
				CXLMS_WHY_LEN);
			ret = -EINVAL;
			goto err;
		}
		s->res = request_mem_region(a->start, a->bytes, "cxlms");
		if (!s->res) {
			strscpy(why, "range is in use", CXLMS_WHY_LEN);
			ret = -EBUSY;
			goto err;
		}
		if (!in_cxl_region(s->res)) {
			snprintf(why, CXLMS_WHY_LEN,
				 "range is not inside one CXL region (it lies in '%s')",
				 s->res->parent && s->res->parent->name ?
				 s->res->parent->name : "?");
			release_mem_region(a->start, a->bytes);
			ret = -EINVAL;
			goto err;
		}
		s->base = memremap(a->start, a->bytes, MEMREMAP_WB);
		if (!s->base) {
			release_mem_region(a->start, a->bytes);
			ret = -ENOMEM;
			goto err;
		}
		s->start = a->start;
		s->backing = CXLMS_BACKING_CXL;
	}

	if (a->flags & CXLMS_ATTACH_FORMAT) {
		ret = store_format(s, a, why);
		if (!ret) {
			s->dir = kvcalloc(s->sb.dir_capacity, sizeof(*s->dir),
					  GFP_KERNEL_ACCOUNT);
			if (!s->dir)
				ret = -ENOMEM;
		}
	} else {
		ret = store_snapshot(s, why);
	}
	if (ret)
		goto err;
	ret = store_load(s, why);
	if (ret)
		goto err;

	dev->store = s;
	dev->attach_gen++;
	pr_info("attached %s store: %llu bytes, %u tensors, generation %llu%s%s\n",
		s->backing == CXLMS_BACKING_CXL ? "CXL" : "RAM", s->bytes,
		s->count, s->sb.generation,
		s->sb.feature_incompat & CXLMS_FEAT_INCOMPAT_DUAL ? "" :
		", single-copy metadata (not crash consistent)",
		s->readonly ? ", read-only" : "");
	return 0;

err:
	if (why[0])
		pr_info_ratelimited("attach refused: %s\n", why);
	store_free(s);
	return ret;
}

void cxlms_store_detach(struct cxlms_dev *dev)
{
	struct cxlms_store *s = dev->store;

	dev->store = NULL;
	dev->attach_gen++;
	if (s)
		store_free(s);
}

/* --- query / list --------------------------------------------------------- */

void cxlms_store_query(struct cxlms_store *s, struct cxlms_ioc_query *q)
{
	const struct cxlms_sb *sb = &s->sb;

	mutex_lock(&s->meta_lock);
	q->state = CXLMS_STATE_ATTACHED;
	if (s->readonly)
		q->state |= CXLMS_STATE_READONLY;
	q->backing = s->backing;
	q->tensor_count = sb->dir_count;
	/* A physical address is for the administrator only. */
	q->backing_start = s->backing == CXLMS_BACKING_CXL &&
			   capable(CAP_SYS_ADMIN) ? s->start : 0;
	q->backing_bytes = s->bytes;
	q->store_bytes = sb->store_bytes;
	q->generation = sb->generation;
	memcpy(q->uuid, sb->uuid, sizeof(q->uuid));
	q->dir_capacity = sb->dir_capacity;
	q->default_group = sb->default_group ?: CXLMS_GROUP_DEFAULT;
	q->data_bytes = sb->data_bytes;
	q->data_used = sb->data_used;
	mutex_unlock(&s->meta_lock);
}

static void tensor_info(const struct cxlms_tensor *t,
			struct cxlms_ioc_tensor_info *info)
{
	const struct cxlms_dirent *d = &t->d;

	memset(info, 0, sizeof(*info));
	memcpy(info->name, d->name, sizeof(info->name));
	info->index = t->index;
	info->fmt = d->fmt;
	info->src_dtype = d->src_dtype;
	info->ndim = d->ndim;
	memcpy(info->shape, d->shape, sizeof(info->shape));
	info->rows = d->rows;
	info->cols = d->cols;
	info->group_size = d->group_size;
	info->tile_rows = d->tile_rows;
	info->n_tiles = d->n_tiles;
	info->planes = t->l.n_planes;
	info->flags = tensor_sealed(t) ? CXLMS_TENSOR_SEALED : 0;
	if (t->d.flags & CXLMS_DIRENT_SHORT_TAIL)
		info->flags |= CXLMS_TENSOR_SHORT_TAIL;
	info->tile_elems = t->l.elems;
	info->tile_bytes = t->l.tile_bytes;
}

/* Entries built per batch under meta_lock, copied out after dropping it. */
#define CXLMS_LIST_BATCH	64

int cxlms_store_list(struct cxlms_store *s, struct cxlms_ioc_tensor_list *tl)
{
	u8 __user *dst = u64_to_user_ptr(tl->entries);
	struct cxlms_dev *dev = s->dev;
	struct cxlms_ioc_tensor_info *info;
	u32 i, n, done, batch, count;
	u64 generation, gen = dev->attach_gen;
	int ret = 0;

	info = kvcalloc(CXLMS_LIST_BATCH, sizeof(*info), GFP_KERNEL_ACCOUNT);
	if (!info)
		return -ENOMEM;
	/*
	 * The user buffer may fault for ever (userfaultfd, FUSE): no lock is
	 * held across copy_to_user, not even the attach lock (a DETACH queued
	 * behind it would block every command); after the copy the attach
	 * generation says whether @s is still attached (-ESTALE if not).
	 * Each batch is consistent; the generation is the one of the first
	 * batch, so a caller that sees it change on the next call re-lists
	 * (CREATE/SEAL only append and set a flag).
	 */
	mutex_lock(&s->meta_lock);
	count = s->count;
	generation = s->sb.generation;
	mutex_unlock(&s->meta_lock);
	if (tl->first > count) {
		ret = -EINVAL;
		goto out;
	}
	n = min(tl->count, count - tl->first);
	for (done = 0; done < n; done += batch) {
		batch = min_t(u32, CXLMS_LIST_BATCH, n - done);
		mutex_lock(&s->meta_lock);
		for (i = 0; i < batch; i++)
			tensor_info(s->tensors[tl->first + done + i], &info[i]);
		mutex_unlock(&s->meta_lock);
		up_read(&dev->attach_lock);
		for (i = 0; i < batch && !ret; i++, dst += tl->entry_size) {
			if (copy_to_user(dst, &info[i], sizeof(info[i])) ||
			    clear_user(dst + sizeof(info[i]),
				       tl->entry_size - sizeof(info[i])))
				ret = -EFAULT;
		}
		down_read(&dev->attach_lock);
		if (READ_ONCE(dev->attach_gen) != gen)
			ret = -ESTALE;	/* @s may be freed: touch nothing */
		if (ret)
			goto out;
	}
	tl->count = n;
	tl->total = count;
	tl->generation = generation;
out:
	kvfree(info);
	return ret;
}

/* --- create --------------------------------------------------------------- */

static bool name_taken(struct cxlms_store *s, const char *name)
{
	u32 i;

	for (i = 0; i < s->count; i++)
		if (!memcmp(s->tensors[i]->d.name, name, CXLMS_NAME_MAX))
			return true;
	return false;
}

/* Fill @d (zeroed) from a checked CREATE request; 0 or -EINVAL. */
static int create_dirent(const struct cxlms_store *s,
			 const struct cxlms_ioc_tensor_create *c,
			 struct cxlms_dirent *d, struct cxlms_tile_layout *l)
{
	struct cxlms_tile_geom g;
	u64 rows = 1, n_tiles;
	u32 i;

	for (i = 0; i + 1 < c->ndim; i++)
		if (check_mul_overflow(rows, c->shape[i], &rows))
			return -EINVAL;
	if (c->shape[c->ndim - 1] > CXLMS_TILE_MAX_ELEMS)
		return -EINVAL;

	memcpy(d->name, c->name, sizeof(d->name));
	d->src_dtype = c->src_dtype;
	d->fmt = c->fmt;
	d->ndim = c->ndim;
	memcpy(d->shape, c->shape, sizeof(d->shape));
	d->rows = rows;
	d->cols = c->shape[c->ndim - 1];
	if (c->fmt == CXLMS_FMT_INT8)
		d->group_size = c->group_size ?: s->sb.default_group ?:
				CXLMS_GROUP_DEFAULT;
	d->tile_rows = c->tile_rows ?: cxlms_default_tile_rows(rows, d->cols);
	if (!d->tile_rows || d->tile_rows > rows)
		return -EINVAL;
	cxlms_dirent_geom(d, &g);
	if (cxlms_tile_layout(&g, l))
		return -EINVAL;
	n_tiles = DIV_ROUND_UP_ULL(rows, d->tile_rows);
	if (n_tiles > U32_MAX)
		return -EINVAL;
	d->n_tiles = n_tiles;
	if ((c->flags & CXLMS_CREATE_SHORT_TAIL) && rows % d->tile_rows)
		d->flags |= CXLMS_DIRENT_SHORT_TAIL;
	return 0;
}

int cxlms_tensor_create(struct cxlms_store *s, struct cxlms_ioc_tensor_create *c)
{
	struct cxlms_dirent d = {};
	struct cxlms_tile_layout l;
	struct cxlms_tensor *t;
	struct cxlms_sb *sb = &s->sb;
	u64 tiles_len, tile_off, tile_end, crc_off, crc_len;
	u32 index;
	int ret;

	if (s->readonly)
		return -EROFS;
	mutex_lock(&s->meta_lock);
	ret = create_dirent(s, c, &d, &l);
	if (ret)
		goto out;
	if (name_taken(s, d.name)) {
		ret = -EEXIST;
		goto out;
	}
	ret = -ENOSPC;
	index = s->count;
	if (index >= s->dir_capacity)
		goto out;
	tiles_len = cxlms_dirent_tiles_bytes(&d);
	if (!tiles_len)
		goto out;
	tile_off = sb->data_off + ALIGN(sb->data_used, CXLMS_DATA_ALIGN);
	if (check_add_overflow(tile_off, tiles_len, &tile_end) ||
	    tile_end > sb->data_off + sb->data_bytes)
		goto out;
	crc_off = ALIGN(s->crc_next, CXLMS_CRC_ALIGN);
	crc_len = 4ull * d.n_tiles;
	if (crc_off > s->crc_end || crc_len > s->crc_end - crc_off)
		goto out;
	d.tile_off = tile_off;
	d.crc_off = crc_off;
	cxlms_dirent_seal(&d);

	ret = -ENOMEM;
	t = tensor_new(&d, index);
	if (!t)
		goto out;

	/* Not referenced by the committed directory: free space until then. */
	meta_write(s, crc_off, NULL, crc_len);
	s->dir[index] = d;
	sb->dir_count = index + 1;
	sb->data_used = tile_end - sb->data_off;
	/* A short last tile is a layout readers must know (format.md 1.2). */
	if (d.flags & CXLMS_DIRENT_SHORT_TAIL)
		sb->feature_incompat |= CXLMS_FEAT_INCOMPAT_TIGHT;
	store_commit(s, index);
	s->crc_next = crc_off + crc_len;
	s->tensors[index] = t;
	/* Publish after the tensor is complete (cxlms_store_tensor). */
	smp_store_release(&s->count, index + 1);

	c->index = index;
	c->n_tiles = d.n_tiles;
	c->tile_elems = l.elems;
	c->tile_bytes = l.tile_bytes;
	ret = 0;
out:
	mutex_unlock(&s->meta_lock);
	return ret;
}

/* --- tile write ------------------------------------------------------------ */

/* Copy @count elements of @esize bytes from user memory and place them. */
static int write_elems(struct cxlms_tensor *t, u8 *tile, u32 n_elems,
		       const u8 __user *src, void *chunk)
{
	u32 esize = t->l.n_planes / 8, off, cnt;
	int ret;

	for (off = 0; off < n_elems; off += cnt) {
		cnt = min_t(u32, CXLMS_WRITE_CHUNK_ELEMS, n_elems - off);
		if (copy_from_user(chunk, src + (u64)off * esize, (u64)cnt * esize))
			return -EFAULT;
		if (t->g.fmt == CXLMS_FMT_INT8)
			ret = cxlms_place_int8(tile, &t->g, n_elems, off, chunk, cnt);
		else
			ret = cxlms_place_16(tile, &t->g, n_elems, off, chunk, cnt);
		if (ret)
			return ret;
		cond_resched();
	}
	return 0;
}

int cxlms_tile_write(struct cxlms_store *s, const struct cxlms_ioc_tile_write *w)
{
	struct cxlms_tensor *t = cxlms_store_tensor(s, w->tensor);
	u32 n_elems, n_scales = 0, esize;
	void *chunk = NULL;
	u8 *tile = NULL;
	int ret;

	if (!t)
		return -ENOENT;
	if (s->readonly)
		return -EROFS;
	down_write(&t->rwsem);
	ret = -EBUSY;
	if (tensor_sealed(t))
		goto out;
	ret = -EINVAL;
	if (w->tile >= t->d.n_tiles)
		goto out;
	n_elems = cxlms_dirent_tile_elems(&t->d, w->tile);
	esize = t->l.n_planes / 8;
	if (w->data_len != (u64)n_elems * esize)
		goto out;
	if (t->g.fmt == CXLMS_FMT_INT8)
		n_scales = n_elems / t->g.cols * t->l.groups_per_row;
	if (w->scales_len != 2ull * n_scales || !w->scales != !n_scales)
		goto out;

	ret = -ENOMEM;
	chunk = kvmalloc(CXLMS_WRITE_CHUNK_ELEMS * 2, GFP_KERNEL_ACCOUNT);
	/*
	 * The tile is built in kernel memory (placement and finalize read
	 * what they wrote) and copied to the media once: the media is never
	 * read here, so neither poison nor another host's writes matter.
	 */
	tile = kvzalloc(tile_len(t, w->tile), GFP_KERNEL_ACCOUNT);
	if (!chunk || !tile)
		goto out;

	__clear_bit(w->tile, t->written);
	ret = write_elems(t, tile, n_elems, u64_to_user_ptr(w->data), chunk);
	if (ret)
		goto out;
	if (n_scales) {
		/*
		 * The scales' bytes are the user's fp16 array as is (row-major
		 * at scales_off); copying it straight in bounds the kernel
		 * memory, and finalize refuses Inf/NaN scales.
		 */
		if (copy_from_user(tile + t->l.scales_off,
				   u64_to_user_ptr(w->scales), w->scales_len)) {
			ret = -EFAULT;
			goto out;
		}
		ret = cxlms_tile_finalize(tile, &t->g, n_elems);
		if (ret)
			goto out;
	}
	media_write(s, tile_off(t, w->tile), tile, tile_len(t, w->tile));
	__set_bit(w->tile, t->written);
	ret = 0;
out:
	up_write(&t->rwsem);
	kvfree(tile);
	kvfree(chunk);
	return ret;
}

/* --- seal / verify --------------------------------------------------------- */

/*
 * CRC32C of tile @tile as it is on the media, read into @buf (a tile
 * buffer); -EIO on a media error.
 */
static int tile_crc(struct cxlms_store *s, const struct cxlms_tensor *t,
		    u32 tile, void *buf, u32 *crc)
{
	int ret = cxlms_media_read(s, buf, tile_off(t, tile), tile_len(t, tile));

	if (!ret)
		*crc = cxlms_crc32c(0, buf, tile_len(t, tile));
	return ret;
}

/* Between tiles: let others run; a fatal signal ends the command. */
static int tile_yield(void)
{
	cond_resched();
	return fatal_signal_pending(current) ? -EINTR : 0;
}

int cxlms_tensor_seal(struct cxlms_store *s, u32 index)
{
	struct cxlms_tensor *t = cxlms_store_tensor(s, index);
	struct cxlms_dirent d;
	__le32 *crcs = NULL;
	void *buf = NULL;
	u32 i, crc;
	int ret = 0;

	if (!t)
		return -ENOENT;
	if (s->readonly)
		return -EROFS;
	down_write(&t->rwsem);
	if (tensor_sealed(t)) {
		ret = -EBUSY;
		goto out;
	}
	if (!bitmap_full(t->written, t->d.n_tiles)) {
		ret = -ENODATA;
		goto out;
	}
	ret = -ENOMEM;
	crcs = kvmalloc_array(t->d.n_tiles, sizeof(*crcs), GFP_KERNEL_ACCOUNT);
	buf = kvmalloc(t->l.tile_bytes, GFP_KERNEL_ACCOUNT);
	if (!crcs || !buf)
		goto out;
	/* CRCs of what the media holds now: a later VERIFY compares to it. */
	for (i = 0; i < t->d.n_tiles; i++) {
		ret = tile_crc(s, t, i, buf, &crc);
		if (!ret)
			ret = tile_yield();
		if (ret)
			goto out;	/* still unsealed: SEAL can be retried */
		crcs[i] = cpu_to_le32(crc);
	}
	/* Lock order: tensor rwsem, then meta_lock (cxlms_drv.h). */
	mutex_lock(&s->meta_lock);
	/* The array of an unsealed tensor: no committed state checks it. */
	meta_write(s, t->d.crc_off, crcs, 4ull * t->d.n_tiles);
	d = t->d;
	d.flags |= CXLMS_DIRENT_SEALED;
	cxlms_dirent_seal(&d);
	s->dir[index] = d;
	store_commit(s, index);
	/*
	 * FETCH reads the flag without the rwsem (fetch.c): release, so the
	 * tiles and CRCs written before are visible to whoever sees SEALED.
	 * Every other field of t->d is fixed at CREATE.
	 */
	t->d.entry_crc = d.entry_crc;
	smp_store_release(&t->d.flags, d.flags);
	mutex_unlock(&s->meta_lock);
	kvfree(t->written);
	t->written = NULL;
	ret = 0;
out:
	up_write(&t->rwsem);
	kvfree(buf);
	kvfree(crcs);
	return ret;
}

/* Recompute every tile CRC of a sealed tensor against its CRC array. */
static int verify_tiles(struct cxlms_store *s, struct cxlms_tensor *t,
			struct cxlms_ioc_verify *v)
{
	void *buf = kvmalloc(t->l.tile_bytes, GFP_KERNEL_ACCOUNT);
	__le32 want;
	u32 i, got;
	int ret = -ENOMEM;

	if (!buf)
		return ret;
	for (i = 0; i < t->d.n_tiles; i++) {
		ret = cxlms_media_read(s, &want, t->d.crc_off + 4ull * i,
				       sizeof(want));
		if (!ret)
			ret = tile_crc(s, t, i, buf, &got);
		if (ret == -EIO)
			snprintf(v->why, sizeof(v->why),
				 "tensor %.*s tile %u: media error",
				 CXLMS_NAME_MAX, t->d.name, i);
		if (!ret && got != le32_to_cpu(want)) {
			snprintf(v->why, sizeof(v->why),
				 "tensor %.*s tile %u checksum mismatch",
				 CXLMS_NAME_MAX, t->d.name, i);
			ret = -EBADMSG;
		}
		if (!ret)
			ret = tile_yield();
		if (ret)
			break;
	}
	kvfree(buf);
	return ret;
}

static int verify_one(struct cxlms_store *s, struct cxlms_tensor *t,
		      struct cxlms_ioc_verify *v)
{
	int ret;

	if (down_read_killable(&t->rwsem))
		return -EINTR;
	if (!tensor_sealed(t)) {
		ret = -EBUSY;
	} else {
		ret = verify_tiles(s, t, v);
		if (ret == -EBADMSG || ret == -EIO)
			v->bad_tensor = t->index;
		else if (!ret)
			v->checked++;
	}
	up_read(&t->rwsem);
	return ret;
}

int cxlms_store_verify(struct cxlms_store *s, struct cxlms_ioc_verify *v)
{
	struct cxlms_tensor *t;
	u32 i, count;
	int ret;

	if (v->tensor != CXLMS_TENSOR_ALL) {
		t = cxlms_store_tensor(s, v->tensor);
		return t ? verify_one(s, t, v) : -ENOENT;
	}
	/* Pairs with the release in cxlms_tensor_create(). */
	count = smp_load_acquire(&s->count);
	for (i = 0; i < count; i++) {
		ret = verify_one(s, s->tensors[i], v);
		if (ret == -EBUSY) {
			v->skipped++;
			continue;
		}
		if (ret)
			return ret;
		cond_resched();
	}
	return 0;
}
