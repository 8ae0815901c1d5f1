// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Batched tile fetches (docs/async.md).  An engine submits many requests
 * per call and reaps completions, so a forward pass costs a few system
 * calls instead of one per tile.
 *
 * Two ways to serve a queue, chosen once in cxlms_async_new():
 *   uring: kernel stores, when io_uring works and the module answers a
 *	STATS probe through IORING_OP_URING_CMD.  Each request is one SQE
 *	whose 80-byte payload is struct cxlms_ioc_fetch; the CQE's res is the
 *	result.
 *   sync: everything else (file stores, old kernels, io_uring disabled,
 *	$CXLMS_ASYNC=sync).  Requests run inline in submit through
 *	cxlms_fetch_tiles(); the file backend's fetch is CPU work in this
 *	process either way, and inline keeps results and order deterministic.
 *
 * Either way a queue holds at most @depth requests between submit and
 * reap (in flight + completed-not-reaped), so back-pressure is -EAGAIN at
 * submit and every completion has a place to go: the CQ ring never
 * overflows and a cancel can always wait for its own answer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <liburing.h>
#include <sys/eventfd.h>

#include "private.h"

#define ASYNC_DEPTH_MAX		4096
/* SQE user_data of our own cancel requests; fetches use their slot. */
#define CANCEL_TAG		UINT64_MAX

struct async_slot {
	uint64_t user_data;
	bool busy;
};

struct cxlms_async {
	struct cxlms_store *store;
	unsigned int depth;
	bool uring;
	struct io_uring ring;
	int efd;
	/* Requests in the ring, indexed by SQE user_data. */
	struct async_slot *slots;
	unsigned int *free_slots;	/* stack of free slot numbers */
	unsigned int n_free;
	unsigned int inflight;
	/* Completions not yet reaped: a ring of @depth entries. */
	struct cxlms_async_cqe *done;
	unsigned int done_head, done_n;
	/* Answer of the cancel being waited for. */
	bool cancel_seen;
	int cancel_res;
};

static void done_push(struct cxlms_async *q, uint64_t user_data, int64_t result)
{
	unsigned int i = (q->done_head + q->done_n) % q->depth;

	q->done[i].user_data = user_data;
	q->done[i].result = result;
	q->done_n++;
}

static void efd_signal(struct cxlms_async *q)
{
	uint64_t one = 1;

	/* Only fails when the counter is saturated: readable anyway. */
	if (write(q->efd, &one, sizeof(one)) < 0)
		return;
}

static void efd_drain(struct cxlms_async *q)
{
	uint64_t v;

	if (read(q->efd, &v, sizeof(v)) < 0)
		return;		/* EAGAIN: nothing to drain */
}

/* Move every CQE the kernel has posted into the done ring. */
static void harvest(struct cxlms_async *q)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;

	io_uring_for_each_cqe(&q->ring, head, cqe) {
		seen++;
		if (cqe->user_data == CANCEL_TAG) {
			q->cancel_seen = true;
			q->cancel_res = cqe->res;
			continue;
		}
		if (cqe->user_data >= q->depth || !q->slots[cqe->user_data].busy)
			continue;	/* cannot happen: we issue every tag */
		q->slots[cqe->user_data].busy = false;
		q->free_slots[q->n_free++] = (unsigned int)cqe->user_data;
		q->inflight--;
		done_push(q, q->slots[cqe->user_data].user_data, cqe->res);
	}
	io_uring_cq_advance(&q->ring, seen);
}

/* Submit what is in the SQ ring; SQEs the kernel did not take stay there. */
static int flush_sq(struct cxlms_async *q)
{
	int rc;

	if (!io_uring_sq_ready(&q->ring))
		return 0;
	rc = io_uring_submit(&q->ring);
	return rc < 0 ? rc : 0;
}

/* Wait for one CQE (submitting leftovers first) and harvest. */
static int wait_one(struct cxlms_async *q)
{
	struct io_uring_cqe *cqe;
	int rc;

	rc = flush_sq(q);
	if (rc && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
		return rc;
	rc = io_uring_wait_cqe(&q->ring, &cqe);
	if (rc)
		return rc;
	harvest(q);
	return 0;
}

static void fill_sqe_cmd(struct io_uring_sqe *sqe, int fd, unsigned int cmd,
			 const void *payload, size_t len, uint64_t tag)
{
	/* SQE128: the command area is the second 64 bytes plus sqe->cmd. */
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = cmd;
	sqe->user_data = tag;
	memcpy(sqe->cmd, payload, len);
}

/*
 * Does the module take uring_cmd?  Device STATS is the cheapest command
 * and needs no store.  An old kernel (-EINVAL: unknown opcode), a module
 * without ->uring_cmd (-EOPNOTSUPP) or without STATS in it (-ENOTTY) all
 * mean: use the ioctl.
 */
static int probe_uring(struct cxlms_async *q)
{
	struct cxlms_ioc_stats st = {
		.size = sizeof(st), .tensor = CXLMS_TENSOR_ALL,
	};
	struct cxlms_uring_indirect ind = {
		.size = sizeof(ind), .arg = (uintptr_t)&st,
	};
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	struct io_uring_cqe *cqe;
	int rc, res;

	if (!sqe)
		return -EBUSY;
	fill_sqe_cmd(sqe, q->store->fd, cxlms_kernel_cmd(CXLMS_CMD_STATS, st.size),
		     &ind, sizeof(ind), 0);
	rc = io_uring_submit_and_wait(&q->ring, 1);
	if (rc < 0)
		return rc;
	rc = io_uring_wait_cqe(&q->ring, &cqe);
	if (rc)
		return rc;
	res = cqe->res;
	io_uring_cqe_seen(&q->ring, cqe);
	return res;
}

static int setup_uring(struct cxlms_async *q)
{
	struct cxlms_ctx *ctx = q->store->ctx;
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 };
	unsigned int i;
	int rc;

	/* One SQE per request plus our cancel; the CQ is twice that. */
	rc = io_uring_queue_init_params(q->depth + 1, &q->ring, &p);
	if (rc) {
		cxlms_info(ctx, "%s: io_uring unavailable (%s): async uses the ioctl",
			   q->store->path, strerror(-rc));
		return rc;
	}
	rc = probe_uring(q);
	if (rc) {
		cxlms_info(ctx, "%s: module refuses uring_cmd (%s): async uses the ioctl",
			   q->store->path, strerror(-rc));
		goto err;
	}
	rc = io_uring_register_eventfd(&q->ring, q->efd);
	if (rc) {
		cxlms_info(ctx, "%s: io_uring eventfd: %s: async uses the ioctl",
			   q->store->path, strerror(-rc));
		goto err;
	}
	q->slots = calloc(q->depth, sizeof(*q->slots));
	q->free_slots = calloc(q->depth, sizeof(*q->free_slots));
	if (!q->slots || !q->free_slots) {
		rc = -ENOMEM;
		goto err;
	}
	for (i = 0; i < q->depth; i++)
		q->free_slots[i] = q->depth - 1 - i;
	q->n_free = q->depth;
	q->uring = true;
	return 0;
err:
	free(q->slots);
	free(q->free_slots);
	q->slots = NULL;
	q->free_slots = NULL;
	io_uring_queue_exit(&q->ring);
	return rc;
}

static bool want_sync(void)
{
	const char *env = getenv("CXLMS_ASYNC");

	return env && !strcmp(env, "sync");
}

int cxlms_async_new(struct cxlms_store *store, unsigned int depth,
		    struct cxlms_async **qp)
{
	struct cxlms_async *q;
	int rc;

	if (!store || !qp || !depth || depth > ASYNC_DEPTH_MAX)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->depth = depth;
	q->done = calloc(depth, sizeof(*q->done));
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!q->done || q->efd < 0) {
		rc = q->done ? -errno : -ENOMEM;
		goto err;
	}
	q->store = cxlms_store_ref(store);
	if (!strcmp(store->ops->name, "kernel") && !want_sync())
		setup_uring(q);		/* failure: the sync path serves */
	cxlms_dbg(store->ctx, "%s: async queue, depth %u, %s", store->path,
		  depth, cxlms_async_get_mode(q));
	*qp = q;
	return 0;
err:
	if (q->efd >= 0)
		close(q->efd);
	free(q->done);
	free(q);
	return rc;
}

void cxlms_async_free(struct cxlms_async *q)
{
	struct io_uring_sqe *sqe;

	if (!q)
		return;
	if (q->uring) {
		/*
		 * Closing the ring would not wait for requests running in
		 * io-wq, which may still write to the caller's buffers.
		 */
		if (q->inflight) {
			sqe = io_uring_get_sqe(&q->ring);
			if (sqe) {
				io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
				sqe->user_data = CANCEL_TAG;
			}
		}
		while (q->inflight) {
			int rc = wait_one(q);

			/* A signal is no reason to leave early; a dead ring is. */
			if (rc && rc != -EINTR && rc != -EAGAIN) {
				cxlms_err(q->store->ctx, "%s: async free: %s",
					  q->store->path, strerror(-rc));
				break;
			}
		}
		io_uring_queue_exit(&q->ring);
	}
	close(q->efd);
	free(q->slots);
	free(q->free_slots);
	free(q->done);
	cxlms_store_unref(q->store);
	free(q);
}

const char *cxlms_async_get_mode(struct cxlms_async *q)
{
	if (!q)
		return NULL;
	return q->uring ? "uring" : "sync";
}

int cxlms_async_get_fd(struct cxlms_async *q)
{
	return q ? q->efd : -EINVAL;
}

/*
 * Can this request go to the kernel as it is?  The module runs the same
 * codec checks as cxlms_fetch_tiles(), in the same order, so its errors are
 * the sync path's; what the kernel would answer differently (a NULL buf:
 * -EFAULT there, -EINVAL here), what one CQE cannot carry (a result above
 * INT32_MAX) and policy bits go through the sync path inline instead.
 * Sizing a request costs a codec layout, so it is done only when the
 * buffer is large enough for the answer to matter.
 * Returns 1: send it; 0: run it inline.
 */
static int uring_eligible(const struct cxlms_async_req *r)
{
	int64_t size;

	if (r->bits == CXLMS_BITS_POLICY || !r->buf)
		return 0;
	if (r->len <= INT32_MAX)
		return 1;
	size = cxlms_fetch_size(r->tensor, r->first, r->count, r->bits, r->out,
				r->recon);
	return size <= INT32_MAX;
}

static void submit_uring(struct cxlms_async *q, const struct cxlms_async_req *r)
{
	struct cxlms_ioc_fetch f = {
		.size = sizeof(f),
		.tensor = r->tensor->index,
		.tile_first = r->first,
		.tile_count = r->count,
		.bits = r->bits,
		.out = r->out,
		.recon = r->recon,
		.buf = (uintptr_t)r->buf,
		.buf_len = r->len,
	};
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	unsigned int slot;

	/* The SQ ring has depth + 1 entries and holds at most depth. */
	if (!sqe) {
		done_push(q, r->user_data, -EBUSY);
		return;
	}
	slot = q->free_slots[--q->n_free];
	q->slots[slot].user_data = r->user_data;
	q->slots[slot].busy = true;
	q->inflight++;
	fill_sqe_cmd(sqe, q->store->fd, cxlms_kernel_cmd(CXLMS_CMD_FETCH, f.size),
		     &f, sizeof(f), slot);
}

int cxlms_async_submit(struct cxlms_async *q, const struct cxlms_async_req *reqs,
		       unsigned int n)
{
	unsigned int room, take, i, posted = 0;
	int rc;

	if (!q || (!reqs && n))
		return -EINVAL;
	if (!n)
		return 0;
	room = q->depth - q->inflight - q->done_n;
	if (!room)
		return -EAGAIN;
	take = n < room ? n : room;

	for (i = 0; i < take; i++) {
		const struct cxlms_async_req *r = &reqs[i];
		int64_t res;

		if (!r->tensor || r->tensor->store != q->store) {
			done_push(q, r->user_data, -EINVAL);
			posted++;
			continue;
		}
		/*
		 * Verify on (cxlms_store_set_verify): the CRC check is a
		 * VERIFY ioctl before the fetch, so the request runs inline.
		 */
		if (q->uring && uring_eligible(r) &&
		    !__atomic_load_n(&q->store->verify, __ATOMIC_RELAXED)) {
			submit_uring(q, r);
			continue;
		}
		res = cxlms_fetch_tiles(q->store, r->tensor, r->first, r->count,
					r->bits, r->out, r->recon, r->buf, r->len);
		done_push(q, r->user_data, res);
		posted++;
	}
	if (q->uring) {
		rc = flush_sq(q);
		/* Left in the SQ ring, they go with the next reap or submit. */
		if (rc && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)
			cxlms_err(q->store->ctx, "%s: io_uring_submit: %s",
				  q->store->path, strerror(-rc));
	}
	if (posted)
		efd_signal(q);
	return (int)take;
}

int cxlms_async_reap(struct cxlms_async *q, struct cxlms_async_cqe *cqes,
		     unsigned int max, unsigned int min_wait)
{
	unsigned int want, i;
	int rc = 0;

	if (!q || (!cqes && max))
		return -EINVAL;
	/* Before harvesting: a completion posted after this signals anew. */
	efd_drain(q);
	if (q->uring) {
		harvest(q);
		want = min_wait < max ? min_wait : max;
		if (want > q->done_n + q->inflight)
			want = q->done_n + q->inflight;
		while (q->done_n < want) {
			rc = wait_one(q);
			if (rc)
				break;
		}
		if (rc && (rc != -EINTR || !q->done_n)) {
			if (q->done_n)
				efd_signal(q);
			return rc;
		}
	}
	for (i = 0; i < max && q->done_n; i++) {
		cqes[i] = q->done[q->done_head];
		q->done_head = (q->done_head + 1) % q->depth;
		q->done_n--;
	}
	/* Keep the fd readable while anything is left to reap. */
	if (q->done_n || (q->uring && io_uring_cq_ready(&q->ring)))
		efd_signal(q);
	return (int)i;
}

int cxlms_async_cancel(struct cxlms_async *q, uint64_t user_data)
{
	int best = -ENOENT, rc;
	unsigned int slot;

	if (!q)
		return -EINVAL;
	if (!q->uring)
		return -ENOENT;		/* nothing is ever in flight */
	for (slot = 0; slot < q->depth; slot++) {
		struct io_uring_sqe *sqe;

		if (!q->slots[slot].busy || q->slots[slot].user_data != user_data)
			continue;
		sqe = io_uring_get_sqe(&q->ring);
		if (!sqe)
			return -EBUSY;
		io_uring_prep_cancel64(sqe, slot, 0);
		sqe->user_data = CANCEL_TAG;
		q->cancel_seen = false;
		while (!q->cancel_seen) {
			rc = wait_one(q);
			if (rc && rc != -EINTR)
				return rc;
		}
		/* 0 beats -EALREADY beats -ENOENT (finished meanwhile). */
		rc = q->cancel_res;
		if (rc == 0 || (rc == -EALREADY && best == -ENOENT))
			best = rc;
		else if (rc != -ENOENT && rc != -EALREADY)
			return rc;
	}
	if (q->done_n)
		efd_signal(q);
	return best;
}
