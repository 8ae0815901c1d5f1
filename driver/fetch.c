// SPDX-License-Identifier: GPL-2.0
/*
 * FETCH: the memory controller's read path.  For each tile the codec reads
 * the top k planes (plus scales and table levels) from the backing memory
 * and assembles the requested output into the fd's bounce buffer, which is
 * then copied to the caller.  The counters add exactly what the codec's
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

static void counters_add(struct cxlms_counters *c,
			 const struct cxlms_fetch_layout *fl, u32 bits, u64 out)
{
	u32 p;

	atomic64_inc(&c->fetches);
	for (p = 0; p < bits; p++)
		atomic64_add(fl->read_planes, &c->plane_bytes[p]);
	atomic64_add(fl->read_side, &c->side_bytes);
	atomic64_add(out, &c->out_bytes);
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
}

/* Grow the fd's bounce buffer to @len; called with bounce_lock held. */
static int bounce_reserve(struct cxlms_file *cf, size_t len)
{
	void *p;

	if (cf->bounce_len >= len)
		return 0;
	if (len > CXLMS_FETCH_TILE_MAX_BYTES)
		return -ENOMEM;
	p = kvmalloc(len, GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	kvfree(cf->bounce);
	cf->bounce = p;
	cf->bounce_len = len;
	return 0;
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
		struct cxlms_ioc_fetch *f)
{
	struct cxlms_tensor *t = cxlms_store_tensor(s, f->tensor);
	u8 __user *dst = u64_to_user_ptr(f->buf);
	u64 total, block_max, written = 0, read = 0;
	u32 i;
	int ret;

	if (!t)
		return -ENOENT;
	down_read(&t->rwsem);
	ret = -EBUSY;
	if (!(t->d.flags & CXLMS_DIRENT_SEALED))
		goto out_unlock;
	ret = -EINVAL;
	if (f->tile_first >= t->d.n_tiles ||
	    f->tile_count > t->d.n_tiles - f->tile_first)
		goto out_unlock;
	ret = fetch_plan(t, f, &total, &block_max);
	if (ret)
		goto out_unlock;
	ret = -ENOSPC;
	if (total > f->buf_len)
		goto out_unlock;

	mutex_lock(&cf->bounce_lock);
	ret = bounce_reserve(cf, block_max);
	if (ret)
		goto out_bounce;
	for (i = 0; i < f->tile_count; i++) {
		u32 tile = f->tile_first + i;
		u32 n = cxlms_dirent_tile_elems(&t->d, tile);
		const u8 *src = s->base + t->d.tile_off + (u64)tile * t->l.tile_bytes;
		struct cxlms_fetch_layout fl;
		s64 len;

		cxlms_fetch_layout(&t->g, n, f->bits, f->out, f->recon, &fl);
		len = cxlms_fetch_tile(src, &t->g, n, f->bits, f->out, f->recon,
				       cf->bounce, cf->bounce_len);
		if (WARN_ON_ONCE(len < 0)) {
			ret = len;
			goto out_bounce;
		}
		counters_add(&t->stats, &fl, f->bits, len);
		counters_add(&cf->dev->stats, &fl, f->bits, len);
		read += fl.read_planes * f->bits + fl.read_side;
		if (copy_to_user(dst + written, cf->bounce, len)) {
			ret = -EFAULT;
			goto out_bounce;
		}
		written += len;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto out_bounce;
		}
		cond_resched();
	}
	ret = 0;
out_bounce:
	mutex_unlock(&cf->bounce_lock);
out_unlock:
	up_read(&t->rwsem);
	f->bytes_written = written;
	f->bytes_read = read;
	if (read)
		link_delay(cf->dev, read);
	return ret;
}
