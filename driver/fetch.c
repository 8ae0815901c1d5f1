// SPDX-License-Identifier: GPL-2.0
/*
 * FETCH: the memory controller's read path.  For each tile the codec reads
 * the top k planes (plus scales and table levels) from the backing memory
 * and assembles the requested output into the fd's bounce buffer, which is
 * then copied to the caller.
 *
 * The media is untrusted and may hold poison: the bytes of a tile that the
 * fetch reads (top k planes, scales, table) are first copied with
 * cxlms_media_read() into the fd's stage buffer at their tile offsets, and
 * the codec decodes the stage, never the media.  No lock is held while
 * copying to user memory (it may fault for ever): a sealed tensor needs no
 * tensor lock, and the attach lock is dropped around each copy_to_user and
 * retaken, the store's attach generation telling whether it is still the
 * same store (-ESTALE otherwise).  Counters are added at the end, so a
 * nowait attempt that gives up with -EAGAIN has changed nothing.  The counters add exactly what the codec's
 * fetch layout says it reads, so STATS proves the bytes moved.
 *
 * An optional link model (debugfs cxlms/link_bytes_per_sec and
 * link_latency_ns) stalls each FETCH for latency + bytes read / rate, to
 * show what precision does to transfer time on a slow link.
 */
#include <linux/delay.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cxlms_drv.h"

void cxlms_counters_add(struct cxlms_counters *c,
			const struct cxlms_fetch_layout *fl, u32 bits, u64 out)
{
	u32 p;

	atomic64_inc(&c->fetches);
	for (p = 0; p < bits; p++)
		atomic64_add(fl->read_planes, &c->plane_bytes[p]);
	atomic64_add(fl->read_side, &c->side_bytes);
	atomic64_add(out, &c->out_bytes);
}

void cxlms_counters_merge(struct cxlms_counters *c,
			  struct cxlms_counters *add)
{
	u32 p;

	atomic64_add(atomic64_read(&add->fetches), &c->fetches);
	for (p = 0; p < CXLMS_MAX_PLANES; p++)
		atomic64_add(atomic64_read(&add->plane_bytes[p]),
			     &c->plane_bytes[p]);
	atomic64_add(atomic64_read(&add->side_bytes), &c->side_bytes);
	atomic64_add(atomic64_read(&add->out_bytes), &c->out_bytes);
}

static u64 counter_get(atomic64_t *v, bool reset)
{
	return reset ? atomic64_xchg(v, 0) : atomic64_read(v);
}

void cxlms_counters_read(struct cxlms_counters *c, struct cxlms_ioc_stats *st,
			 bool reset)
{
	u32 p;

	st->fetches = counter_get(&c->fetches, reset);
	for (p = 0; p < CXLMS_MAX_PLANES; p++)
		st->plane_bytes[p] = counter_get(&c->plane_bytes[p], reset);
	st->side_bytes = counter_get(&c->side_bytes, reset);
	st->out_bytes = counter_get(&c->out_bytes, reset);
}

void cxlms_file_release_bounce(struct cxlms_file *cf)
{
	kvfree(cf->bounce);
	cf->bounce = NULL;
	cf->bounce_len = 0;
	kvfree(cf->stage);
	cf->stage = NULL;
	cf->stage_len = 0;
}

/*
 * Grow one of the fd's buffers to @len (bounded by the largest tile);
 * called with bounce_lock held.  Charged to the caller's memcg.
 */
static int buf_reserve(void **buf, size_t *cur, size_t len, bool nowait)
{
	void *p;

	if (*cur >= len)
		return 0;
	if (len > CXLMS_FETCH_TILE_MAX_BYTES)
		return -ENOMEM;
	if (nowait)
		return -EAGAIN;		/* an allocation may sleep */
	p = kvmalloc(len, GFP_KERNEL_ACCOUNT);
	if (!p)
		return -ENOMEM;
	kvfree(*buf);
	*buf = p;
	*cur = len;
	return 0;
}

/*
 * Copy what a fetch of @bits planes reads of tile @tile into the stage, at
 * the same offsets as in the tile: planes 0..bits-1, the scales and the
 * table.  The one place that knows which tile bytes a fetch touches.
 */
int cxlms_stage_tile(struct cxlms_store *s, const struct cxlms_tensor *t,
		     u32 tile, u32 bits, const struct cxlms_fetch_layout *fl,
		     u8 *stage)
{
	struct cxlms_tile_layout tl;	/* a short last tile has its own */
	const struct cxlms_tile_layout *l = &tl;
	struct cxlms_tile_span sp;
	u64 off;
	u32 p;
	int ret;

	ret = cxlms_dirent_tile(&t->d, tile, &sp, &tl);
	if (WARN_ON_ONCE(ret))		/* the snapshot was validated */
		return ret;
	off = sp.off;
	for (p = 0; p < bits && !ret; p++)
		ret = cxlms_media_read(s, stage + l->planes_off + (u64)p * l->plane_stride,
				       off + l->planes_off + (u64)p * l->plane_stride,
				       fl->read_planes);
	if (!ret && l->scales_len)
		ret = cxlms_media_read(s, stage + l->scales_off,
				       off + l->scales_off, l->scales_len);
	if (!ret && l->table_len)
		ret = cxlms_media_read(s, stage + l->table_off,
				       off + l->table_off, l->table_len);
	return ret;
}

/*
 * Drop the attach lock for a user copy and take it back; 0 if @s is still
 * the attached store, -ESTALE if a DETACH (and maybe an ATTACH) ran.
 */
static int copy_out(struct cxlms_dev *dev, u64 gen, void __user *dst,
		    const void *src, size_t len, bool nowait)
{
	unsigned long left;

	if (nowait) {
		/*
		 * The __ copy checks no range: without access_ok() a user's
		 * buf could name kernel memory, and the fetch would write it.
		 */
		if (!access_ok(dst, len))
			return -EFAULT;
		/* Sleeping on a fault is not allowed: let a worker redo it. */
		pagefault_disable();
		left = __copy_to_user_inatomic(dst, src, len);
		pagefault_enable();
		return left ? -EAGAIN : 0;
	}
	up_read(&dev->attach_lock);
	left = copy_to_user(dst, src, len);
	down_read(&dev->attach_lock);
	if (READ_ONCE(dev->attach_gen) != gen)
		return -ESTALE;
	return left ? -EFAULT : 0;
}

/* Stall for the modelled link: latency + bytes / rate, at most 1 s. */
static void link_delay(struct cxlms_dev *dev, u64 bytes)
{
	u64 rate = READ_ONCE(dev->link_bytes_per_sec);
	u64 ns = min_t(u64, READ_ONCE(dev->link_latency_ns), CXLMS_LINK_DELAY_MAX_NS);

	/* bytes < rate keeps the quotient below 1 s: no overflow anywhere. */
	if (rate)
		ns += bytes >= rate ? CXLMS_LINK_DELAY_MAX_NS :
		      mul_u64_u64_div_u64(bytes, NSEC_PER_SEC, rate);
	ns = min_t(u64, ns, CXLMS_LINK_DELAY_MAX_NS);
	if (!ns)
		return;
	if (ns < NSEC_PER_USEC)
		ndelay(ns);
	else
		fsleep(DIV_ROUND_UP_ULL(ns, NSEC_PER_USEC));
}

/*
 * Sizes of the request: total output bytes, the largest single-tile block
 * and the bytes read.  Also validates bits/out/recon through the codec
 * before anything is read or written.
 */
static int fetch_plan(const struct cxlms_tensor *t, const struct cxlms_ioc_fetch *f,
		      u64 *total, u64 *block_max)
{
	struct cxlms_fetch_layout fl;
	u32 i;
	int ret;

	*total = 0;
	*block_max = 0;
	for (i = 0; i < f->tile_count; i++) {
		u32 n = cxlms_dirent_tile_elems(&t->d, f->tile_first + i);

		ret = cxlms_fetch_layout(&t->g, n, f->bits, f->out, f->recon, &fl);
		if (ret)
			return ret;
		if (check_add_overflow(*total, fl.total, total))
			return -EOVERFLOW;
		*block_max = max(*block_max, fl.total);
	}
	return 0;
}

int cxlms_fetch(struct cxlms_file *cf, struct cxlms_store *s,
		struct cxlms_ioc_fetch *f, bool nowait)
{
	struct cxlms_dev *dev = cf->dev;
	struct cxlms_tensor *t = cxlms_store_tensor(s, f->tensor);
	u8 __user *dst = u64_to_user_ptr(f->buf);
	u64 total, block_max, written = 0, read = 0, gen = dev->attach_gen;
	struct cxlms_counters sum = {};
	struct cxlms_fetch_layout fl;
	u32 i, tile, n;
	s64 len;
	int ret;

	if (!t)
		return -ENOENT;
	/*
	 * A sealed tensor never changes again, so FETCH needs no tensor lock:
	 * the acquire pairs with SEAL's release of the flag; shape and
	 * geometry are fixed at CREATE.
	 */
	if (!(smp_load_acquire(&t->d.flags) & CXLMS_DIRENT_SEALED))
		return -EBUSY;
	if (f->tile_first >= t->d.n_tiles ||
	    f->tile_count > t->d.n_tiles - f->tile_first)
		return -EINVAL;
	ret = fetch_plan(t, f, &total, &block_max);
	if (ret)
		return ret;
	if (total > f->buf_len)
		return -ENOSPC;

	/* Taken by cmd_execute() before the attach lock (cxlms_drv.h). */
	lockdep_assert_held(&cf->bounce_lock);
	ret = buf_reserve(&cf->bounce, &cf->bounce_len, block_max, nowait);
	if (!ret)
		ret = buf_reserve(&cf->stage, &cf->stage_len, t->l.tile_bytes,
				  nowait);
	for (i = 0; !ret && i < f->tile_count; i++) {
		tile = f->tile_first + i;
		n = cxlms_dirent_tile_elems(&t->d, tile);
		cxlms_fetch_layout(&t->g, n, f->bits, f->out, f->recon, &fl);
		ret = cxlms_stage_tile(s, t, tile, f->bits, &fl, cf->stage);
		if (ret)
			break;
		len = cxlms_fetch_tile(cf->stage, &t->g, n, f->bits, f->out,
				       f->recon, cf->bounce, cf->bounce_len);
		if (WARN_ON_ONCE(len < 0)) {
			ret = len;
			break;
		}
		cxlms_counters_add(&sum, &fl, f->bits, len);
		read += fl.read_planes * f->bits + fl.read_side;
		ret = copy_out(dev, gen, dst + written, cf->bounce, len, nowait);
		if (ret)
			break;
		written += len;
		if (!nowait && fatal_signal_pending(current))
			ret = -EINTR;
		else if (!nowait)
			cond_resched();
	}
	if (ret == -EAGAIN || ret == -ESTALE)
		return ret;	/* nothing counted; the store may be gone */
	cxlms_counters_merge(&t->stats, &sum);
	cxlms_counters_merge(&dev->stats, &sum);
	f->bytes_written = written;
	f->bytes_read = read;
	if (read && !nowait) {
		/* The link model sleeps: not with the attach lock held. */
		up_read(&dev->attach_lock);
		link_delay(dev, read);
		down_read(&dev->attach_lock);
		if (READ_ONCE(dev->attach_gen) != gen)
			return ret ?: -ESTALE;
	}
	return ret;
}
