// SPDX-License-Identifier: GPL-2.0
/*
 * FETCH and STATS through io_uring (IORING_OP_URING_CMD, the Linux 6.1
 * interface): an engine queues hundreds of tile fetches and pays for one
 * io_uring_enter() instead of one ioctl() each.  The payload is validated
 * and run by the ioctl's own path (ioctl.c), so the two cannot disagree.
 *
 * Issue policy: io_uring first calls us with IO_URING_F_NONBLOCK from
 * io_uring_enter().  A fetch is CPU work on memory that is always present,
 * so it completes right there, in the submitter's context.  What would
 * sleep is handed back as -EAGAIN (nothing done yet) and io_uring re-issues
 * it, blocking allowed, from an io-wq worker:
 *   - the attach lock held for write (ATTACH/DETACH/validation running);
 *   - the link model on: its per-fetch stall then happens in parallel
 *     workers, so a batch's stalls overlap instead of adding up;
 *   - the fd's bounce buffer busy with another fetch (a hint only).
 * Punted requests can still be cancelled (IORING_OP_ASYNC_CANCEL) until a
 * worker starts them.  Nothing is queued inside the driver: a request is
 * either running in some task or owned by io_uring, which holds the file
 * reference until it completes, so process exit with requests in flight
 * needs no cleanup here.
 */
#include <linux/io_uring.h>
#include <linux/limits.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "cxlms_drv.h"

static_assert(sizeof(struct cxlms_ioc_fetch) <= CXLMS_URING_PAYLOAD);
static_assert(sizeof(struct cxlms_uring_indirect) <= CXLMS_URING_PAYLOAD);
static_assert(CXLMS_URING_PAYLOAD % sizeof(u64) == 0);

static bool fetch_would_sleep(struct cxlms_file *cf)
{
	struct cxlms_dev *dev = cf->dev;

	if (READ_ONCE(dev->link_bytes_per_sec) || READ_ONCE(dev->link_latency_ns))
		return true;
	/*
	 * Racy by design: a wrong guess costs a short wait on the mutex or a
	 * needless trip to io-wq, never a wrong result.
	 */
	return mutex_is_locked(&cf->bounce_lock);
}

/* The ioctl rules for the indirect payload's own header. */
static int indirect_get(const void *payload, struct cxlms_uring_indirect *ind)
{
	u32 size = ((const struct cxlms_ioc_hdr *)payload)->size;

	if (size < sizeof(*ind))
		return -EINVAL;
	if (size > CXLMS_URING_PAYLOAD)
		return -E2BIG;
	if (memchr_inv(payload + sizeof(*ind), 0, size - sizeof(*ind)))
		return -E2BIG;
	memcpy(ind, payload, sizeof(*ind));
	if (ind->flags)
		return -EOPNOTSUPP;
	return 0;
}

int cxlms_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags)
{
	struct cxlms_file *cf = ioucmd->file->private_data;
	bool nowait = issue_flags & IO_URING_F_NONBLOCK;
	/* u64s: the structs read from it need their natural alignment */
	u64 payload[CXLMS_URING_PAYLOAD / sizeof(u64)];
	struct cxlms_uring_indirect ind;
	struct cxlms_ioc_fetch f = {};
	long ret;

	/* Without SQE128 the command area is 16 bytes: no payload fits. */
	if (!(issue_flags & IO_URING_F_SQE128))
		return -EINVAL;
	/*
	 * On the first issue ->cmd is the SQE in the ring, which userspace
	 * may rewrite meanwhile: validate and use one private snapshot.
	 */
	memcpy(payload, ioucmd->cmd, sizeof(payload));

	switch (ioucmd->cmd_op) {
	case CXLMS_IOC_FETCH:
		if (nowait && fetch_would_sleep(cf))
			return -EAGAIN;
		/* The CQE's res is an s32: larger results fail up front. */
		ret = cxlms_cmd_fetch(cf, payload, sizeof(payload), S32_MAX,
				      nowait, &f);
		if (!ret)
			ret = f.bytes_written;
		break;
	case CXLMS_IOC_STATS:
		ret = indirect_get(payload, &ind);
		if (!ret)
			ret = cxlms_cmd_user(cf, CXLMS_IOC_STATS,
					     u64_to_user_ptr(ind.arg), nowait);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	/* Only a nowait issue sees -EAGAIN, and then nothing has happened. */
	if (ret == -EAGAIN && nowait)
		return -EAGAIN;
	/* Completing inline is allowed (ublk does too); res2 feeds CQE32. */
	io_uring_cmd_done(ioucmd, ret, f.bytes_read, issue_flags);
	return -EIOCBQUEUED;
}
