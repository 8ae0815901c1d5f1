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
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/libnvdimm.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
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

static void store_update_sb(struct cxlms_store *s)
{
	struct cxlms_sb *sb = s->sb;

	lockdep_assert_held(&s->meta_lock);
	sb->dir_crc = cxlms_dir_crc(s->dir, sb->dir_count);
	sb->generation++;
	cxlms_sb_seal(sb);
	store_persist(s, sb, sizeof(*sb));
}

static struct cxlms_tensor *tensor_new(const struct cxlms_dirent *d, u32 index)
{
	struct cxlms_tensor *t;

	t = kzalloc(sizeof(*t), GFP_KERNEL);
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
		t->written = bitmap_zalloc(t->d.n_tiles, GFP_KERNEL);
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
	bitmap_free(t->written);
	kfree(t);
}

static bool tensor_sealed(const struct cxlms_tensor *t)
{
	return t->d.flags & CXLMS_DIRENT_SEALED;
}

static u8 *tile_ptr(struct cxlms_store *s, const struct cxlms_tensor *t, u32 tile)
{
	return s->base + t->d.tile_off + (u64)tile * t->l.tile_bytes;
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
	u64 dir_end = dir_off + (u64)cap * sizeof(struct cxlms_dirent);
	u64 crc_bytes = ALIGN(s->bytes / 128 + (u64)CXLMS_CRC_ALIGN * cap, PAGE_SIZE);
	u64 policy_off = ALIGN(dir_end + crc_bytes, PAGE_SIZE);
	u64 data_off = policy_off + CXLMS_POLICY_BYTES;
	struct cxlms_sb *sb = (struct cxlms_sb *)s->base;

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
	sb->store_bytes = s->bytes;
	generate_random_uuid(sb->uuid);
	sb->generation = 1;
	sb->dir_off = dir_off;
	sb->dir_capacity = cap;
	sb->dir_count = 0;
	sb->dir_crc = cxlms_dir_crc((struct cxlms_dirent *)(s->base + dir_off), 0);
	sb->default_group = a->default_group ?: CXLMS_GROUP_DEFAULT;
	sb->data_off = data_off;
	sb->data_bytes = s->bytes - data_off;
	sb->data_used = 0;
	sb->policy_off = policy_off;
	sb->policy_bytes = CXLMS_POLICY_BYTES;
	cxlms_sb_seal(sb);
	store_persist(s, s->base, data_off);
	return 0;
}

/* Build the kernel view (tensors, allocation cursors) of a valid store. */
static int store_load(struct cxlms_store *s, char *why)
{
	struct cxlms_sb *sb = (struct cxlms_sb *)s->base;
	u32 i;

	if (sb->dir_capacity > CXLMS_DIR_CAPACITY_MAX) {
		snprintf(why, CXLMS_WHY_LEN,
			 "directory capacity %u above the module's limit %u",
			 sb->dir_capacity, CXLMS_DIR_CAPACITY_MAX);
		return -EOPNOTSUPP;
	}
	s->sb = sb;
	s->dir = (struct cxlms_dirent *)(s->base + sb->dir_off);
	s->dir_capacity = sb->dir_capacity;
	s->readonly = sb->feature_ro_compat & ~CXLMS_FEAT_RO_COMPAT_KNOWN;
	/* The CRC area as the store format defines it. */
	s->crc_next = sb->dir_off + (u64)sb->dir_capacity * sizeof(struct cxlms_dirent);
	s->crc_end = sb->policy_bytes ? sb->policy_off : sb->data_off;
	s->tensors = kvcalloc(max(s->dir_capacity, 1u), sizeof(*s->tensors),
			      GFP_KERNEL);
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
		s->base = memremap(a->start, a->bytes, MEMREMAP_WB);
		if (!s->base) {
			release_mem_region(a->start, a->bytes);
			ret = -ENOMEM;
			goto err;
		}
		s->start = a->start;
		s->backing = CXLMS_BACKING_CXL;
	}

	if (a->flags & CXLMS_ATTACH_FORMAT)
		ret = store_format(s, a, why);
	else
		ret = cxlms_dir_check(s->base, s->bytes, why, CXLMS_WHY_LEN);
	if (ret)
		goto err;
	ret = store_load(s, why);
	if (ret)
		goto err;

	dev->store = s;
	pr_info("attached %s store: %llu bytes, %u tensors%s\n",
		s->backing == CXLMS_BACKING_CXL ? "CXL" : "RAM", s->bytes,
		s->count, s->readonly ? ", read-only" : "");
	return 0;

err:
	if (why[0])
		pr_info("attach refused: %s\n", why);
	store_free(s);
	return ret;
}

void cxlms_store_detach(struct cxlms_dev *dev)
{
	struct cxlms_store *s = dev->store;

	dev->store = NULL;
	if (s)
		store_free(s);
}

/* --- query / list --------------------------------------------------------- */

void cxlms_store_query(struct cxlms_store *s, struct cxlms_ioc_query *q)
{
	const struct cxlms_sb *sb = s->sb;

	mutex_lock(&s->meta_lock);
	q->state = CXLMS_STATE_ATTACHED;
	if (s->readonly)
		q->state |= CXLMS_STATE_READONLY;
	q->backing = s->backing;
	q->tensor_count = sb->dir_count;
	q->backing_start = s->backing == CXLMS_BACKING_CXL ? s->start : 0;
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

int cxlms_store_list(struct cxlms_store *s, struct cxlms_ioc_tensor_list *tl)
{
	u8 __user *dst = u64_to_user_ptr(tl->entries);
	struct cxlms_ioc_tensor_info info;
	u32 i, n;
	int ret = 0;

	/* Under meta_lock: entries and the generation form one snapshot. */
	mutex_lock(&s->meta_lock);
	if (tl->first > s->count) {
		ret = -EINVAL;
		goto out;
	}
	n = min(tl->count, s->count - tl->first);
	for (i = 0; i < n; i++, dst += tl->entry_size) {
		tensor_info(s->tensors[tl->first + i], &info);
		if (copy_to_user(dst, &info, sizeof(info)) ||
		    clear_user(dst + sizeof(info), tl->entry_size - sizeof(info))) {
			ret = -EFAULT;
			goto out;
		}
	}
	tl->count = n;
	tl->total = s->count;
	tl->generation = s->sb->generation;
out:
	mutex_unlock(&s->meta_lock);
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
		d->group_size = c->group_size ?: s->sb->default_group ?:
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

/* Bytes of tile @tile of @t: a short last tile is smaller (format.md 1.2). */
static u64 tile_len(const struct cxlms_tensor *t, u32 tile)
{
	struct cxlms_tile_span sp;

	return cxlms_dirent_tile(&t->d, tile, &sp, NULL) ? 0 : sp.bytes;
}

int cxlms_tensor_create(struct cxlms_store *s, struct cxlms_ioc_tensor_create *c)
{
	struct cxlms_dirent d = {};
	struct cxlms_tile_layout l;
	struct cxlms_tensor *t;
	struct cxlms_sb *sb = s->sb;
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

	memset(s->base + crc_off, 0, crc_len);
	store_persist(s, s->base + crc_off, crc_len);
	s->dir[index] = d;
	store_persist(s, &s->dir[index], sizeof(d));
	sb->dir_count = index + 1;
	sb->data_used = tile_end - sb->data_off;
	/* A short last tile is a layout readers must know (format.md 1.2). */
	if (d.flags & CXLMS_DIRENT_SHORT_TAIL)
		sb->feature_incompat |= CXLMS_FEAT_INCOMPAT_TIGHT;
	store_update_sb(s);
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
	u8 *tile;
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
	chunk = kvmalloc(CXLMS_WRITE_CHUNK_ELEMS * 2, GFP_KERNEL);
	if (!chunk)
		goto out;

	/* Placement leaves unused bytes alone: start from a clear tile. */
	__clear_bit(w->tile, t->written);
	tile = tile_ptr(s, t, w->tile);
	memset(tile, 0, tile_len(t, w->tile));
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
	store_persist(s, tile, tile_len(t, w->tile));
	__set_bit(w->tile, t->written);
	ret = 0;
out:
	up_write(&t->rwsem);
	kvfree(chunk);
	return ret;
}

/* --- seal / verify --------------------------------------------------------- */

int cxlms_tensor_seal(struct cxlms_store *s, u32 index)
{
	struct cxlms_tensor *t = cxlms_store_tensor(s, index);
	struct cxlms_dirent d;
	u8 *crcs;
	u32 i;
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
	crcs = s->base + t->d.crc_off;
	for (i = 0; i < t->d.n_tiles; i++) {
		u32 crc = cxlms_crc32c(0, tile_ptr(s, t, i), tile_len(t, i));

		put_unaligned_le32(crc, crcs + 4ull * i);
		cond_resched();
	}
	store_persist(s, crcs, 4ull * t->d.n_tiles);

	mutex_lock(&s->meta_lock);
	d = t->d;
	d.flags |= CXLMS_DIRENT_SEALED;
	cxlms_dirent_seal(&d);
	s->dir[index] = d;
	store_persist(s, &s->dir[index], sizeof(d));
	store_update_sb(s);
	t->d = d;
	mutex_unlock(&s->meta_lock);
	bitmap_free(t->written);
	t->written = NULL;
out:
	up_write(&t->rwsem);
	return ret;
}

static int verify_one(struct cxlms_store *s, struct cxlms_tensor *t,
		      struct cxlms_ioc_verify *v)
{
	int ret;

	down_read(&t->rwsem);
	if (!tensor_sealed(t)) {
		ret = -EBUSY;
	} else {
		ret = cxlms_tile_crc_check(s->base, &t->d, v->why, sizeof(v->why));
		if (ret)
			v->bad_tensor = t->index;
		else
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
