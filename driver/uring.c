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
 *   - anything else that would sleep, found by trying, not guessing: the
 *     tensor and the fd's bounce buffer are trylocked, a buffer that must
 *     grow is not allocated, and the user copy runs with page faults
 *     disabled.  Counters are added only on completion, so the retry from
 *     io-wq does not count a fetch twice.
 * The first (nowait) issue records the store's attach generation in the
 * command's pdu; the punted issue runs only against that same store
 * (-ESTALE after a DETACH, even if an ATTACH followed).
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

static bool link_model_on(struct cxlms_file *cf)
{
	struct cxlms_dev *dev = cf->dev;

	return READ_ONCE(dev->link_bytes_per_sec) ||
	       READ_ONCE(dev->link_latency_ns);
}

/* What the nowait issue leaves in the pdu for the punted one. */
struct cxlms_uring_pdu {
	u64 magic;
	u64 gen;
};
#define CXLMS_PDU_MAGIC	0x63786c6d73676e31ull	/* "cxlmsgn1" */
static_assert(sizeof(struct cxlms_uring_pdu) <=
	      sizeof_field(struct io_uring_cmd, pdu));

/* The generation this request must see: recorded at its first issue. */
static u64 uring_gen(struct io_uring_cmd *ioucmd, struct cxlms_file *cf,
		     bool nowait)
{
	struct cxlms_uring_pdu *pdu = (void *)ioucmd->pdu;
	u64 gen = 0;

	if (nowait) {
		pdu->magic = CXLMS_PDU_MAGIC;
		/* 0 while detached: the punted issue then fails like any. */
		pdu->gen = READ_ONCE(cf->dev->attach_gen);
	} else if (pdu->magic == CXLMS_PDU_MAGIC) {
		gen = pdu->gen;
		pdu->magic = 0;
	}
	return gen;
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
	u64 gen;
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
	case CXLMS_IOC(CXLMS_CMD_FETCH):
		gen = uring_gen(ioucmd, cf, nowait);
		if (nowait && link_model_on(cf))
			return -EAGAIN;
		/* The CQE's res is an s32: larger results fail up front. */
		ret = cxlms_cmd_fetch(cf, ioucmd->cmd_op, payload,
				      sizeof(payload), S32_MAX,
				      nowait, gen, &f);
		if (!ret)
			ret = f.bytes_written;
		break;
	case CXLMS_IOC_STATS:
	case CXLMS_IOC(CXLMS_CMD_STATS):
		ret = indirect_get(payload, &ind);
		if (!ret)
			ret = cxlms_cmd_user(cf, ioucmd->cmd_op,
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
