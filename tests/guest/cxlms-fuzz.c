// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms-fuzz: a multi-threaded, structure-aware fuzzer of cxlms.ko, run in
 * the QEMU guest (tests/guest/guest-run.sh, boot 1).
 *
 * Every command of include/uapi/linux/cxlms.h is built as a valid-looking
 * struct (right size, fields that name live tensors, tiles, precisions and
 * buffers of the right length) and then, most of the time, mutated: sizes
 * off by one, zero, huge; reserved fields and flags non-zero; names of any
 * length, unterminated or not NUL-padded; indices just past the end or ~0;
 * tile ranges across the tensor's end and overflowing; bits 0..17; user
 * pointers that are NULL, unmapped, read-only (outputs), misaligned or
 * running into a PROT_NONE guard page.  Calls go through ioctl() in both
 * encodings and through io_uring uring_cmd (inline and IOSQE_ASYNC).
 *
 * Threads: --threads N workers share one fd, N/2 (at least 1) more have
 * their own fds (one of them runs as nobody, per thread), and one thread
 * keeps attaching a RAM store of its own, filling it (create, tile write,
 * seal), checking a fetch against the userspace codec, and detaching,
 * racing the others.  After the run: the module still serves a clean
 * attach / create / seal / fetch round trip byte for byte, the device is
 * detached again, and the kernel log of this boot has no WARNING, BUG,
 * Oops, KASAN, general protection fault, soft lockup or hung task.
 *
 * Refuses (skips) to run when a store is already attached: it would detach
 * somebody else's store.  Output is TAP; exit 0 pass, 1 fail, 4 skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>

#include "cxlms_util.h"

#define KSFT_PASS	0
#define KSFT_FAIL	1
#define KSFT_SKIP	4

#define DEFAULT_SEED	0xc0ffee5eedull
#define DEFAULT_CALLS	300000
#define DEFAULT_THREADS	4
#define MAX_THREADS	32

#define STORE_BYTES	(2ull << 20)	/* the attach thread's RAM store */
#define STRUCT_AREA	(64 * 1024)	/* per thread: struct arguments */
#define OUT_AREA	(1024 * 1024)	/* per thread: buffers */
#define RO_AREA		(64 * 1024)	/* per thread: read-only view */
#define PAGE		4096

#define N_KNOWN		64		/* tensors remembered */
#define N_CMDS		(CXLMS_CMD_VIEW_DESTROY + 1)
#define ERRNO_SLOTS	256

/* --- what the threads know about the store (racy on purpose) ----------- */

struct known {
	_Atomic uint32_t epoch;		/* 0: empty slot */
	uint32_t index, fmt, n_tiles, tile_rows, group, planes, flags;
	uint64_t rows, cols;
	_Atomic uint32_t sealed;
};

static struct known known[N_KNOWN];
static _Atomic uint32_t known_next;
static _Atomic uint32_t epoch = 1;	/* bumped by the attach thread */
static _Atomic long calls_left;
static _Atomic int stop;
static int shared_fd = -1;
static uint64_t g_seed;
static int verbose;
/* Load from the views mapped (--no-view-loads: map and unmap only). */
static int view_loads = 1;

/* --- counters -------------------------------------------------------------- */

enum path { P_IOCTL, P_URING, P_ASYNC, N_PATHS };

struct counts {
	unsigned long cmd[N_CMDS + 1][N_PATHS];	/* [N_CMDS]: other numbers */
	unsigned long err[ERRNO_SLOTS];
	unsigned long total;
	unsigned long bad;			/* wrong results found */
};

static struct counts all_counts;
static pthread_mutex_t counts_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t bad_lock = PTHREAD_MUTEX_INITIALIZER;
static char bad_msg[512];
static _Atomic unsigned long bad_total;
static _Atomic unsigned long rings_dropped;

static void report_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report_bad(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&bad_lock);
	if (!bad_total) {
		va_start(ap, fmt);
		vsnprintf(bad_msg, sizeof(bad_msg), fmt, ap);
		va_end(ap);
	}
	bad_total++;
	pthread_mutex_unlock(&bad_lock);
}

/* --- per-thread state ---------------------------------------------------------- */

struct thr {
	int id;
	int fd;
	bool own_fd, nobody, attacher;
	uint64_t rng;
	uint8_t *sarea;		/* STRUCT_AREA rw, then a guard page */
	uint8_t *out;		/* OUT_AREA rw, then a guard page, then hole */
	uint8_t *ro;		/* RO_AREA read-only view of rw_alias */
	uint8_t *rw_alias;	/* the same pages, writable */
	uint8_t *hole;		/* a page that never maps anything */
	struct io_uring ring;
	bool have_ring, ring_cqe32;
	unsigned int name_seq;
	struct counts c;
};

static uint64_t rnd(struct thr *t)
{
	return cxt_rand(&t->rng);
}

static uint32_t rn(struct thr *t, uint32_t n)
{
	return n ? (uint32_t)(rnd(t) % n) : 0;
}

/* True with probability 1/n. */
static bool one_in(struct thr *t, uint32_t n)
{
	return rn(t, n) == 0;
}

static void count(struct thr *t, uint32_t nr, enum path p, int ret)
{
	/* -(INT_MIN) overflows: anything past the table is its last slot. */
	int e = ret < 0 && ret > -ERRNO_SLOTS ? -ret : ret < 0 ? ERRNO_SLOTS - 1 : 0;

	t->c.cmd[nr < N_CMDS ? nr : N_CMDS][p]++;
	t->c.err[e]++;
	t->c.total++;
}

/* Reserve one call of the budget; false when it is spent. */
static bool take_call(void)
{
	return atomic_fetch_sub(&calls_left, 1) > 0 && !atomic_load(&stop);
}

/* --- value generators ---------------------------------------------------------- */

/* A u32 near interesting edges of @valid (an in-range value, or n). */
static uint32_t mut_u32(struct thr *t, uint32_t n)
{
	switch (rn(t, 10)) {
	case 0: return 0;
	case 1: return n;
	case 2: return n + 1;
	case 3: return n ? n - 1 : 0;
	case 4: return ~0u;
	case 5: return ~0u - rn(t, 4);
	case 6: return 0x80000000u;
	case 7: return (uint32_t)rnd(t);
	default: return rn(t, n + 2);
	}
}

static uint64_t mut_u64(struct thr *t, uint64_t v)
{
	switch (rn(t, 10)) {
	case 0: return 0;
	case 1: return v + 1;
	case 2: return v ? v - 1 : 0;
	case 3: return ~0ull;
	case 4: return ~0ull - rn(t, 64);
	case 5: return 1ull << 63;
	case 6: return (uint64_t)UINT32_MAX + 1;
	case 7: return rnd(t);
	case 8: return v * 2 + rn(t, 4096);
	default: return v << (1 + rn(t, 40));
	}
}

/* An fp16 scale: finite (the normal case), now and then Inf/NaN or zero. */
static uint16_t gen_scale(struct thr *t)
{
	switch (rn(t, 40)) {
	case 0: return 0x7c00;			/* +Inf: refused */
	case 1: return 0x7e00 | rn(t, 256);	/* NaN: refused */
	case 2: return 0;
	default: return (uint16_t)(((5 + rn(t, 12)) << 10) | rn(t, 1024));
	}
}

/*
 * A user pointer for @len bytes of input or output.  Mostly a valid buffer
 * (in the rw area, maybe ending exactly at its guard page, maybe
 * misaligned); else NULL, tiny, kernel, unmapped, read-only (faults only
 * for outputs), or running into the guard page.
 */
static uint64_t gen_ptr(struct thr *t, uint64_t len, bool output)
{
	uint64_t span = len < OUT_AREA ? len : OUT_AREA;

	switch (rn(t, 24)) {
	case 0: return 0;
	case 1: return 8 + rn(t, 4096);
	case 2: return 0xffff888000000000ull + (rnd(t) & 0xfffff000);
	case 3: return (uintptr_t)t->hole + rn(t, PAGE);
	case 4:	/* read-only view: fine for inputs, EFAULT for outputs */
		return (uintptr_t)t->ro + rn(t, 64);
	case 5:	/* into the guard page after the area */
		return (uintptr_t)t->out + OUT_AREA - (span ? rn(t, (uint32_t)span) : 0);
	case 6:	/* misaligned */
		return (uintptr_t)t->out + 1 + rn(t, 7);
	case 7: case 8:	/* ends exactly at the guard page */
		return (uintptr_t)t->out + OUT_AREA - span;
	case 9:
		return ~0ull - rn(t, 4096);
	default:
		(void)output;
		return (uintptr_t)t->out + 64 * rn(t, 64);
	}
}

/* A tensor name: unique and valid, or one of the ways names go wrong. */
static void gen_name(struct thr *t, char *name, size_t size)
{
	uint32_t len, i;

	memset(name, 0, size);
	switch (rn(t, 16)) {
	case 0:		/* empty */
		return;
	case 1:		/* fills the array: no NUL */
		memset(name, 'a' + rn(t, 26), size);
		return;
	case 2:		/* longest valid */
		memset(name, 'b', size - 1);
		name[0] = (char)('A' + t->id);
		snprintf(name + 1, size - 1, "%u", t->name_seq++);
		name[strlen(name)] = 'z';
		return;
	case 3:		/* NUL then junk: not NUL-padded */
		snprintf(name, size, "f%d.%u", t->id, t->name_seq++);
		name[size - 1 - rn(t, 8)] = 'x';
		return;
	case 4:		/* a name another thread may use too */
		snprintf(name, size, "dup%u", rn(t, 4));
		return;
	case 5:		/* random bytes of random length */
		len = 1 + rn(t, (uint32_t)size);
		for (i = 0; i < len && i < size; i++)
			name[i] = (char)(1 + rn(t, 255));
		return;
	default:
		snprintf(name, size, "f%d.%u.%u", t->id, atomic_load(&epoch),
			 t->name_seq++);
		return;
	}
}

/* A context name for SET_MAP / SET_CONTEXT / GET_MAP. */
static void gen_ctx_name(struct thr *t, char *name, size_t size, uint32_t i)
{
	memset(name, 0, size);
	switch (rn(t, 12)) {
	case 0: return;					/* "" */
	case 1: memset(name, 'c', size); return;	/* unterminated */
	case 2: snprintf(name, size, "bad name"); return;
	case 3: memset(name, 'd', size - 1); return;	/* longest */
	case 4: snprintf(name, size, "c%u", i); name[size - 1] = 'q'; return;
	default: snprintf(name, size, "c%u", i); return;
	}
}

/* A live tensor of this store epoch (or any slot now and then). */
static struct known *pick_known(struct thr *t, bool want_sealed)
{
	uint32_t n = atomic_load(&known_next), i, start;
	uint32_t ep = atomic_load(&epoch);

	if (!n)
		return NULL;
	if (n > N_KNOWN)
		n = N_KNOWN;
	start = rn(t, n);
	for (i = 0; i < n; i++) {
		struct known *k = &known[(start + i) % n];

		if (atomic_load(&k->epoch) != ep)
			continue;
		if (want_sealed && !atomic_load(&k->sealed) && !one_in(t, 8))
			continue;
		return k;
	}
	return NULL;
}

/*
 * The attach thread's tensors are checked against the codec: workers never
 * learn them, and their TILE_WRITEs wait while it uploads (a racing write
 * before its SEAL would change the data, rightly).
 */
static pthread_rwlock_t upload_gate = PTHREAD_RWLOCK_INITIALIZER;

static void remember(uint32_t ep, const struct cxlms_ioc_tensor_info *info)
{
	if (!strncmp(info->name, "att.", 4))
		return;
	uint32_t slot = atomic_fetch_add(&known_next, 1) % N_KNOWN;
	struct known *k = &known[slot];

	atomic_store(&k->epoch, 0);
	k->index = info->index;
	k->fmt = info->fmt;
	k->n_tiles = info->n_tiles;
	k->tile_rows = info->tile_rows;
	k->group = info->group_size;
	k->planes = info->planes;
	k->flags = info->flags;
	k->rows = info->rows;
	k->cols = info->cols;
	atomic_store(&k->sealed, !!(info->flags & CXLMS_TENSOR_SEALED));
	atomic_store(&k->epoch, ep);
}

static uint32_t tile_elems(const struct known *k, uint32_t tile)
{
	uint64_t first = (uint64_t)tile * k->tile_rows;
	uint64_t rows = first < k->rows ? k->rows - first : 0;

	if (rows > k->tile_rows)
		rows = k->tile_rows;
	return (uint32_t)(rows * k->cols);
}

static struct cxlms_tile_geom known_geom(const struct known *k)
{
	struct cxlms_tile_geom g = {
		.fmt = k->fmt, .cols = (uint32_t)k->cols,
		.group_size = k->group, .tile_rows = k->tile_rows,
		.flags = k->flags & CXLMS_TENSOR_SHORT_TAIL ? CXLMS_GEOM_SHORT_TAIL : 0,
	};

	return g;
}

/* Output bytes of a fetch, 0 if the codec refuses it (or it overflows). */
static uint64_t fetch_need(const struct known *k, uint32_t first, uint32_t count,
			   uint32_t bits, uint32_t out, uint32_t recon)
{
	struct cxlms_tile_geom g = known_geom(k);
	struct cxlms_fetch_layout fl;
	uint64_t total = 0;
	uint32_t i;

	if (first >= k->n_tiles || count > k->n_tiles - first || count > 64)
		return 0;
	for (i = 0; i < count; i++) {
		if (cxlms_fetch_layout(&g, tile_elems(k, first + i), bits, out,
				       recon, &fl))
			return 0;
		total += fl.total;
	}
	return total;
}

/* --- submitting ----------------------------------------------------------------- */

/* The struct size a mutated call claims. */
static uint32_t gen_size(struct thr *t, uint32_t size)
{
	if (!one_in(t, 5))
		return size;
	switch (rn(t, 12)) {
	case 0: return 0;
	case 1: return 4;
	case 2: return 8;
	case 3: return size - 1;
	case 4: return size + 1;
	case 5: return size - 8;
	case 6: return size + 8;	/* zero tail: accepted */
	case 7: return PAGE;
	case 8: return PAGE + 8;
	case 9: return ~0u;
	case 10: return size + 8 * rn(t, 64);
	default: return rn(t, 2 * size + 16);
	}
}

/*
 * Issue ioctl @nr with the @size bytes at @s (already filled): picks the
 * encoding, the claimed size, a tail, and where the struct lives.
 * Returns 0 or -errno; @back (if any) receives what the kernel wrote back.
 */
static int submit_ioctl(struct thr *t, uint32_t nr, void *s, uint32_t size,
			void *back)
{
	uint32_t usize = gen_size(t, size), place = rn(t, 40);
	uint8_t *arg = t->sarea;
	unsigned long cmd;
	int ret;

	memcpy(t->sarea, s, size);
	/* What lies past the struct: zeros (mostly) or junk. */
	memset(t->sarea + size, 0, 128);
	if (one_in(t, 12))
		t->sarea[size + rn(t, 64)] = (uint8_t)(1 + rn(t, 255));
	((struct cxlms_ioc_hdr *)t->sarea)->size = usize;

	switch (rn(t, 16)) {
	case 0: case 1: case 2: case 3: case 4:
		cmd = CXLMS_IOC(nr);
		break;
	case 5:
		cmd = _IOC(rn(t, 4), CXLMS_IOC_TYPE, nr, rn(t, 0x4000));
		break;
	case 6:
		cmd = _IOWR(CXLMS_IOC_TYPE, N_CMDS + rn(t, 256 - N_CMDS), uint64_t);
		nr = N_CMDS;
		break;
	case 7:
		cmd = _IOC(_IOC_READ | _IOC_WRITE, rn(t, 256), nr, size);
		break;
	default:	/* the sized encoding, agreeing with the size field */
		cmd = _IOC(_IOC_READ | _IOC_WRITE, CXLMS_IOC_TYPE, nr,
			   usize < 0x4000 && !one_in(t, 8) ? usize : size);
		break;
	}
	if (place == 0) {
		arg = (uint8_t *)(uintptr_t)gen_ptr(t, size, true);
	} else if (place == 1 && size <= RO_AREA) {
		memcpy(t->rw_alias, t->sarea, size + 128);
		arg = t->ro;		/* readable: the copy back faults */
	} else if (place == 2) {
		uint32_t off = 1 + rn(t, 7);	/* misaligned, otherwise valid */

		memmove(t->sarea + off, t->sarea, size + 128);
		arg = t->sarea + off;
	} else if (place == 3) {
		/* the struct runs into the guard page after the area */
		uint32_t in = 8 + rn(t, size);

		memcpy(t->sarea + STRUCT_AREA - in, t->sarea, in);
		arg = t->sarea + STRUCT_AREA - in;
	}
	ret = ioctl(t->fd, cmd, arg) < 0 ? -errno : 0;
	if (back && arg == t->sarea)
		memcpy(back, t->sarea, size);
	count(t, nr, P_IOCTL, ret);
	return ret;
}

/* A valid ioctl (for the attach thread and setup): no mutation. */
static int plain_ioctl(struct thr *t, uint32_t nr, void *s, uint32_t size)
{
	int ret = ioctl(t->fd, _IOC(_IOC_READ | _IOC_WRITE, CXLMS_IOC_TYPE, nr, size),
			s) < 0 ? -errno : 0;

	count(t, nr, P_IOCTL, ret);
	return ret;
}

/*
 * A batch of uring_cmd SQEs: FETCH (inline payload, mutated like the
 * ioctl struct) and STATS (indirect), some IOSQE_ASYNC, some with cmd_ops
 * the driver does not know.  Waits for all completions.
 */
static void gen_fetch(struct thr *t, struct cxlms_ioc_fetch *f, uint64_t *need);
static void gen_stats(struct thr *t, struct cxlms_ioc_stats *st);

static void submit_uring(struct thr *t)
{
	struct cxlms_ioc_stats *stats = (void *)(t->sarea + PAGE);
	unsigned int n = 1 + rn(t, 8), i, done = 0, submitted = 0, tries = 0;
	uint32_t nrs[8], ops[8];
	uint8_t sent[8][CXLMS_URING_PAYLOAD];	/* what each SQE carried */
	bool seen[8] = { false };
	char miss[160];
	size_t ml;
	int ret;
	enum path paths[8];

	for (i = 0; i < n; i++) {
		uint8_t payload[CXLMS_URING_PAYLOAD] = { 0 };
		struct io_uring_sqe *sqe;
		uint32_t op, len;

		/* Budget first: an SQE taken from the ring is always filled. */
		if (!take_call())
			break;
		sqe = io_uring_get_sqe(&t->ring);
		if (!sqe) {
			atomic_fetch_add(&calls_left, 1);
			break;
		}
		if (!one_in(t, 4)) {
			struct cxlms_ioc_fetch f;
			uint64_t need;

			gen_fetch(t, &f, &need);
			f.size = gen_size(t, sizeof(f));
			memcpy(payload, &f, sizeof(f));
			if (one_in(t, 16))
				payload[sizeof(f) + rn(t, 16)] = 1;
			op = one_in(t, 3) ? CXLMS_IOC(CXLMS_CMD_FETCH) : CXLMS_IOC_FETCH;
			nrs[i] = CXLMS_CMD_FETCH;
		} else {
			struct cxlms_uring_indirect ind = {
				.size = sizeof(ind), .arg = (uintptr_t)&stats[i],
			};

			gen_stats(t, &stats[i]);
			if (one_in(t, 8))
				ind.arg = gen_ptr(t, sizeof(*stats), true);
			if (one_in(t, 10))
				ind.size = gen_size(t, sizeof(ind));
			if (one_in(t, 20))
				ind.flags = 1u << rn(t, 32);
			memcpy(payload, &ind, sizeof(ind));
			op = one_in(t, 3) ? CXLMS_IOC(CXLMS_CMD_STATS) : CXLMS_IOC_STATS;
			nrs[i] = CXLMS_CMD_STATS;
		}
		len = sizeof(payload);
		if (one_in(t, 20)) {		/* a command uring does not take */
			nrs[i] = rn(t, N_CMDS);
			op = _IOC(_IOC_READ | _IOC_WRITE, CXLMS_IOC_TYPE, nrs[i], 64);
		}
		memset(sqe, 0, 2 * sizeof(*sqe));
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = t->fd;
		sqe->cmd_op = op;
		ops[i] = op;
		sqe->user_data = i;
		memcpy(sqe->cmd, payload, len);
		memcpy(sent[i], payload, len);
		paths[i] = P_URING;
		if (one_in(t, 3)) {
			sqe->flags |= IOSQE_ASYNC;
			paths[i] = P_ASYNC;
		}
	}
	n = i;
	if (!n)
		return;
	while (done < n) {
		struct __kernel_timespec ts = { .tv_sec = 20 };
		struct io_uring_cqe *cqe;

		/*
		 * io_uring may take fewer SQEs than queued (request allocation
		 * is non-blocking): the rest stay in the ring, submit again.
		 */
		if (submitted < n) {
			ret = io_uring_submit(&t->ring);
			if (ret < 0 && ret != -EAGAIN && ret != -EBUSY) {
				report_bad("thread %d: io_uring_submit: %s", t->id,
					   strerror(-ret));
				t->have_ring = false;
				return;
			}
			if (ret > 0)
				submitted += ret;
			if (done == submitted) {
				if (++tries > 10000) {
					/*
					 * io_uring took no SQE for a second.  Dropped
					 * SQEs (a bad index in the SQ array) mean the
					 * ring was written over: a failure.  Else drop
					 * the ring, go on with ioctls, say so.
					 */
					if (*t->ring.sq.kdropped)
						report_bad("thread %d: io_uring dropped %u SQEs: "
							   "its SQ array was written over",
							   t->id, *t->ring.sq.kdropped);
					printf("# thread %d: io_uring took %u of %u SQEs in 1 s "
					       "(last io_uring_submit %d; SQ head %u tail %u "
					       "dropped %u flags %#x), ring dropped\n",
					       t->id, submitted, n, ret, *t->ring.sq.khead,
					       *t->ring.sq.ktail, *t->ring.sq.kdropped,
					       *t->ring.sq.kflags);
					atomic_fetch_add(&rings_dropped, 1);
					t->have_ring = false;
					return;
				}
				usleep(100);
				continue;
			}
		}

		/* Every request completes: one that does not is a driver bug. */
		ret = io_uring_wait_cqe_timeout(&t->ring, &cqe, &ts);
		if (ret) {
			for (i = 0, ml = 0, miss[0] = 0; i < n && ml < sizeof(miss) - 32; i++)
				if (!seen[i])
					ml += snprintf(miss + ml, sizeof(miss) - ml, " %#x%s",
						       ops[i], paths[i] == P_ASYNC ? "/async" : "");
			report_bad("thread %d: %u of %u uring_cmd completions missing "
				   "after 20 s (%s):%s", t->id, n - done, n, strerror(-ret), miss);
			t->have_ring = false;
			return;
		}
		if (cqe->user_data < n)
			seen[cqe->user_data] = true;
		/* A result is a byte count (FETCH) or 0, else -errno. */
		if (cqe->user_data < n && cqe->res < -4095) {
			const struct cxlms_ioc_fetch *f = (const void *)sent[cqe->user_data];

			report_bad("thread %d: uring_cmd %#x%s completed with res %d "
				   "(payload: size %u flags %#x tensor %u tiles %u+%u "
				   "bits %u out %u recon %u buf_len %llu)", t->id,
				   ops[cqe->user_data],
				   paths[cqe->user_data] == P_ASYNC ? "/async" : "",
				   cqe->res, f->size, f->flags, f->tensor, f->tile_first,
				   f->tile_count, f->bits, f->out, f->recon,
				   (unsigned long long)f->buf_len);
		}
		if (cqe->user_data < n)
			count(t, nrs[cqe->user_data], paths[cqe->user_data],
			      cqe->res > 0 ? 0 : cqe->res);
		io_uring_cqe_seen(&t->ring, cqe);
		done++;
	}
}

/*
 * liburing (2.3) sets the SQ index array to the identity once and never
 * writes it again: any other entry means something wrote into the ring's
 * pages (a stray kernel copy to user memory, say).  The 64 bytes around
 * it go into the report: what was written says who wrote it.
 */
static void ring_check(struct thr *t)
{
	unsigned int i, j, n = t->ring.sq.ring_entries;
	const uint32_t *w;
	char hex[16 * 9 + 1];

	for (i = 0; i < n && t->ring.sq.array[i] == i; i++)
		;
	if (i == n)
		return;
	w = (const uint32_t *)((uintptr_t)&t->ring.sq.array[i] & ~63ul);
	for (j = 0; j < 16; j++)
		snprintf(hex + 9 * j, sizeof(hex) - 9 * j, " %08x", w[j]);
	report_bad("thread %d: io_uring SQ array[%u] = %#x, written by someone:%s",
		   t->id, i, t->ring.sq.array[i], hex);
	t->have_ring = false;
}

/* --- per-command generators --------------------------------------------------------- */

static void hdr_flags(struct thr *t, uint32_t *flags, uint32_t valid)
{
	switch (rn(t, 10)) {
	case 0: *flags = 1u << rn(t, 32); break;
	case 1: *flags = (uint32_t)rnd(t); break;
	case 2: case 3: *flags = valid & (uint32_t)rnd(t); break;
	default: *flags = 0; break;
	}
}

static void do_query(struct thr *t)
{
	struct cxlms_ioc_query q = { .size = sizeof(q) };

	hdr_flags(t, &q.flags, 0);
	submit_ioctl(t, CXLMS_CMD_QUERY, &q, sizeof(q), NULL);
}

static void gen_attach(struct thr *t, struct cxlms_ioc_attach *a)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->flags = CXLMS_ATTACH_RAM | CXLMS_ATTACH_FORMAT;
	a->bytes = (1 + rn(t, 3)) << 20;
	a->dir_capacity = (uint32_t[]){ 0, 1, 2, 8, 64, 65536 }[rn(t, 6)];
	a->default_group = (uint32_t[]){ 0, 8, 16, 32, 128, 1 }[rn(t, 6)];
	if (one_in(t, 2))
		return;
	switch (rn(t, 10)) {
	case 0: hdr_flags(t, &a->flags, 3); break;
	/*
	 * Never a plausible CXL range: the window at 0x110000000 holds the
	 * suite's region.  Low RAM, odd or huge addresses only.
	 */
	case 1: a->flags = CXLMS_ATTACH_FORMAT; a->start = (uint64_t)rn(t, 256) << 12; break;
	case 2: a->flags = 0; a->start = ~0ull << rn(t, 12); break;
	case 3: a->start = 1 + rn(t, 4095); break;
	case 4: a->bytes = mut_u64(t, a->bytes); break;
	case 5: a->bytes = rn(t, 1 << 20); break;
	case 6: a->dir_capacity = mut_u32(t, 65536); break;
	case 7: a->default_group = mut_u32(t, 1u << 24); break;
	case 8: a->why[rn(t, CXLMS_WHY_LEN)] = 'w'; break;
	default: a->flags = CXLMS_ATTACH_RAM; break;
	}
}

static void do_attach(struct thr *t)
{
	struct cxlms_ioc_attach a;

	gen_attach(t, &a);
	if (!(a.flags & CXLMS_ATTACH_RAM) && a.start >= (1ull << 32) &&
	    a.start < (1ull << 40))
		a.start = 0x1000;	/* see gen_attach */
	submit_ioctl(t, CXLMS_CMD_ATTACH, &a, sizeof(a), NULL);
}

static void do_detach(struct thr *t)
{
	struct cxlms_ioc_detach d = { .size = sizeof(d) };

	/* A valid DETACH from a worker now and then; mostly refused ones. */
	if (!one_in(t, 40))
		d.flags = 1u << rn(t, 32);
	submit_ioctl(t, CXLMS_CMD_DETACH, &d, sizeof(d), NULL);
}

static void do_list(struct thr *t)
{
	struct cxlms_ioc_tensor_list tl = { .size = sizeof(tl) };
	uint32_t es = sizeof(struct cxlms_ioc_tensor_info);
	struct cxlms_ioc_tensor_list back;
	uint32_t i;
	int ret;

	tl.first = one_in(t, 2) ? 0 : rn(t, 8);
	tl.count = (uint32_t[]){ 0, 1, 8, 64, 65, 100 }[rn(t, 6)];
	tl.entry_size = one_in(t, 4) ? es + 8 * rn(t, 4) : es;
	tl.entries = (uintptr_t)t->out;
	if (one_in(t, 3)) {
		switch (rn(t, 8)) {
		case 0: tl.first = mut_u32(t, atomic_load(&known_next)); break;
		case 1: tl.count = mut_u32(t, 64); break;
		case 2: tl.entry_size = mut_u32(t, es); break;
		case 3: tl.entry_size = es - 8; break;
		case 4: tl.entry_size = es + 1; break;
		case 5: tl.entry_size = (uint32_t[]){ 0, PAGE, PAGE + 8 }[rn(t, 3)]; break;
		case 6: hdr_flags(t, &tl.flags, 0); break;
		default:
			tl.entries = gen_ptr(t, (uint64_t)tl.count * tl.entry_size, true);
			break;
		}
	}
	if (tl.entries == (uintptr_t)t->out &&
	    (uint64_t)tl.count * tl.entry_size > OUT_AREA)
		tl.count = OUT_AREA / (tl.entry_size ? tl.entry_size : 1);
	ret = submit_ioctl(t, CXLMS_CMD_TENSOR_LIST, &tl, sizeof(tl), &back);
	/* Learn live tensors from a clean listing into our own buffer. */
	if (ret || tl.entries != (uintptr_t)t->out || tl.entry_size != es ||
	    back.count > 64 || tl.first)
		return;
	for (i = 0; i < back.count; i++) {
		const struct cxlms_ioc_tensor_info *info = (void *)(t->out + (size_t)i * es);

		if (one_in(t, 4) && info->rows * info->cols <= (1u << 16))
			remember(atomic_load(&epoch), info);
	}
}

static void gen_create(struct thr *t, struct cxlms_ioc_tensor_create *c)
{
	uint32_t i;
	uint64_t rows = 1;

	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	gen_name(t, c->name, sizeof(c->name));
	if (one_in(t, 2))	/* mostly valid names */
		snprintf(c->name, sizeof(c->name), "f%d.%u.%u", t->id,
			 atomic_load(&epoch), t->name_seq++);
	c->fmt = 1 + rn(t, 3);
	c->src_dtype = 1 + rn(t, 4);
	c->ndim = 1 + rn(t, 3);
	for (i = 0; i < c->ndim; i++) {
		c->shape[i] = i + 1 == c->ndim ? 1 + rn(t, 200) : 1 + rn(t, 6);
		if (i + 1 < c->ndim)
			rows *= c->shape[i];
	}
	if (c->fmt == CXLMS_FMT_INT8)
		c->group_size = (uint32_t[]){ 0, 8, 16, 32, 64, 128 }[rn(t, 6)];
	c->tile_rows = one_in(t, 3) ? 0 : 1 + rn(t, (uint32_t)rows);
	if (one_in(t, 4))
		c->flags = CXLMS_CREATE_SHORT_TAIL;
	if (one_in(t, 2))
		return;
	switch (rn(t, 16)) {
	case 0: c->fmt = mut_u32(t, 3); break;
	case 1: c->src_dtype = mut_u32(t, 4); break;
	case 2: c->ndim = mut_u32(t, CXLMS_MAX_DIMS); break;
	case 3: c->shape[rn(t, c->ndim)] = 0; break;
	case 4: c->shape[c->ndim + rn(t, CXLMS_MAX_DIMS - c->ndim + 1) % CXLMS_MAX_DIMS] = 1 + rn(t, 9); break;
	case 5: c->shape[rn(t, c->ndim)] = mut_u64(t, c->shape[0]); break;
	case 6: c->shape[c->ndim - 1] = (1u << 24) + rn(t, 2); break;
	case 7: c->group_size = mut_u32(t, 128); break;
	case 8: c->tile_rows = mut_u32(t, (uint32_t)rows); break;
	case 9: hdr_flags(t, &c->flags, CXLMS_CREATE_SHORT_TAIL); break;
	case 10:	/* rows * cols overflow, or a tile of 2^24+ elements */
		c->ndim = 3;
		c->shape[0] = 1ull << rn(t, 64);
		c->shape[1] = ~0ull >> rn(t, 64);
		c->shape[2] = 1 + rn(t, 4096);
		c->tile_rows = rn(t, 2) ? 0 : ~0u;
		break;
	case 11: c->index = 1 + rn(t, 100); c->tile_bytes = rnd(t); break;
	case 12:	/* big but valid: ENOSPC in a small store */
		c->ndim = 2;
		c->shape[0] = 1 + rn(t, 4096);
		c->shape[1] = 1 + rn(t, 4096);
		c->tile_rows = 0;
		break;
	default:
		gen_name(t, c->name, sizeof(c->name));
		break;
	}
}

static void learn_index(struct thr *t, uint32_t index)
{
	struct cxlms_ioc_tensor_info info;
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl), .first = index, .count = 1,
		.entry_size = sizeof(info), .entries = (uintptr_t)&info,
	};
	uint32_t ep = atomic_load(&epoch);

	if (!take_call())
		return;
	if (!plain_ioctl(t, CXLMS_CMD_TENSOR_LIST, &tl, sizeof(tl)) && tl.count == 1 &&
	    info.rows * info.cols <= (1u << 16))
		remember(ep, &info);
}

static void do_create(struct thr *t)
{
	struct cxlms_ioc_tensor_create c, back;

	gen_create(t, &c);
	if (!submit_ioctl(t, CXLMS_CMD_TENSOR_CREATE, &c, sizeof(c), &back) &&
	    back.size == c.size && back.index < 65536)
		learn_index(t, back.index);
}

/* A TILE_WRITE of tile @tile of @k, right (unless @mutate). */
static int write_tile(struct thr *t, const struct known *k, uint32_t tile, bool mutate)
{
	struct cxlms_ioc_tile_write w = { .size = sizeof(w) };
	uint32_t n = tile_elems(k, tile), esize = k->fmt == CXLMS_FMT_INT8 ? 1 : 2;
	uint32_t gpr = k->group ? (uint32_t)((k->cols + k->group - 1) / k->group) : 0;
	uint32_t n_scales = k->fmt == CXLMS_FMT_INT8 ? (uint32_t)(n / k->cols) * gpr : 0;
	uint16_t *scales = (uint16_t *)(t->out + OUT_AREA / 2);
	uint32_t i;
	int ret;

	w.tensor = k->index;
	w.tile = tile;
	w.data_len = (uint64_t)n * esize;
	w.data = (uintptr_t)t->out + rn(t, 4096);	/* random bytes are fine codes */
	if (n_scales) {
		if ((uint64_t)n_scales * 2 > OUT_AREA / 4)
			return -E2BIG;
		for (i = 0; i < n_scales; i++)
			scales[i] = one_in(t, 200) ? gen_scale(t) : (uint16_t)((12u << 10) | rn(t, 1024));
		w.scales = (uintptr_t)scales;
		w.scales_len = 2ull * n_scales;
	}
	if (mutate && one_in(t, 2)) {
		switch (rn(t, 14)) {
		case 0: w.tensor = mut_u32(t, k->index); break;
		case 1: w.tile = mut_u32(t, k->n_tiles); break;
		case 2: w.data_len = mut_u64(t, w.data_len); break;
		case 3: w.data_len += one_in(t, 2) ? 1 : -1; break;
		case 4: w.data = gen_ptr(t, w.data_len, false); break;
		case 5: w.scales = gen_ptr(t, w.scales_len, false); break;
		case 6: w.scales_len = mut_u64(t, w.scales_len); break;
		case 7: w.scales = 0; break;
		case 8: w.scales = (uintptr_t)scales; w.scales_len = 2 + 2 * rn(t, 8); break;
		case 9: hdr_flags(t, &w.flags, 0); break;
		case 10:	/* data ending in the guard page */
			w.data = (uintptr_t)t->out + OUT_AREA - w.data_len + 1 + rn(t, 8);
			break;
		case 11:	/* scales ending in the guard page */
			w.scales = (uintptr_t)t->out + OUT_AREA - w.scales_len + 2;
			break;
		case 12: scales[rn(t, n_scales ? n_scales : 1)] = 0x7c00; break;
		default: w.data = (uintptr_t)t->ro; break;	/* read-only input: fine */
		}
	}
	pthread_rwlock_rdlock(&upload_gate);
	ret = mutate ? submit_ioctl(t, CXLMS_CMD_TILE_WRITE, &w, sizeof(w), NULL) :
		       plain_ioctl(t, CXLMS_CMD_TILE_WRITE, &w, sizeof(w));
	pthread_rwlock_unlock(&upload_gate);
	return ret;
}

static void do_tile_write(struct thr *t)
{
	struct known *k = pick_known(t, false);
	struct cxlms_ioc_tile_write w = { .size = sizeof(w) };

	if (!k || one_in(t, 20)) {
		w.tensor = mut_u32(t, 8);
		w.tile = mut_u32(t, 4);
		w.data = gen_ptr(t, 4096, false);
		w.data_len = mut_u64(t, 64);
		pthread_rwlock_rdlock(&upload_gate);
		submit_ioctl(t, CXLMS_CMD_TILE_WRITE, &w, sizeof(w), NULL);
		pthread_rwlock_unlock(&upload_gate);
		return;
	}
	write_tile(t, k, rn(t, k->n_tiles + 1), true);
}

static int seal(struct thr *t, uint32_t index, bool mutate)
{
	struct cxlms_ioc_tensor_seal s = { .size = sizeof(s), .tensor = index };

	if (!mutate)
		return plain_ioctl(t, CXLMS_CMD_TENSOR_SEAL, &s, sizeof(s));
	if (one_in(t, 6))
		s.pad = 1u << rn(t, 32);
	if (one_in(t, 6))
		s.tensor = mut_u32(t, index);
	if (one_in(t, 10))
		hdr_flags(t, &s.flags, 0);
	return submit_ioctl(t, CXLMS_CMD_TENSOR_SEAL, &s, sizeof(s), NULL);
}

/* Write every tile of an unsealed tensor, then seal it: the success path. */
static void do_complete(struct thr *t)
{
	struct known *k = pick_known(t, false);
	uint32_t i;
	int ret = 0;

	if (!k || atomic_load(&k->sealed) || k->n_tiles > 16)
		return;
	for (i = 0; i < k->n_tiles && !ret; i++) {
		if (!take_call())
			return;
		ret = write_tile(t, k, i, false);
	}
	if (ret || !take_call())
		return;
	if (!seal(t, k->index, one_in(t, 4)))
		atomic_store(&k->sealed, 1);
}

static void do_seal(struct thr *t)
{
	struct known *k = pick_known(t, false);

	if (!seal(t, k ? k->index : mut_u32(t, 8), true) && k)
		atomic_store(&k->sealed, 1);
}

/* A FETCH struct; *@need is the exact output size when it is valid. */
static void gen_fetch(struct thr *t, struct cxlms_ioc_fetch *f, uint64_t *need)
{
	struct known *k = pick_known(t, true);
	uint32_t planes = k ? k->planes : 8;

	memset(f, 0, sizeof(*f));
	f->size = sizeof(*f);
	*need = 0;
	f->tensor = k ? k->index : mut_u32(t, 8);
	if (k && k->n_tiles) {
		f->tile_first = rn(t, k->n_tiles);
		f->tile_count = 1 + rn(t, k->n_tiles - f->tile_first);
	} else {
		f->tile_count = 1;
	}
	if (f->tile_count > 8)
		f->tile_count = 8;
	f->bits = 1 + rn(t, planes);
	f->out = 1 + rn(t, 5);
	f->recon = rn(t, 4);
	if (one_in(t, 10))
		f->bits = CXLMS_BITS_POLICY;
	if (k)
		*need = fetch_need(k, f->tile_first, f->tile_count, f->bits,
				   f->out, f->recon);
	f->buf = (uintptr_t)t->out;
	f->buf_len = OUT_AREA;
	if (*need && one_in(t, 4)) {
		/* exactly the output, ending at the guard page */
		f->buf = (uintptr_t)t->out + OUT_AREA - *need;
		f->buf_len = *need;
	}
	if (one_in(t, 2))
		return;
	switch (rn(t, 20)) {
	case 0: f->tensor = mut_u32(t, f->tensor); break;
	case 1: f->tile_first = mut_u32(t, k ? k->n_tiles : 1); break;
	case 2: f->tile_count = mut_u32(t, k ? k->n_tiles : 1); break;
	case 3:	/* across the end */
		f->tile_first = k ? k->n_tiles - 1 : 0;
		f->tile_count = 2;
		break;
	case 4:	/* first + count overflows */
		f->tile_first = ~0u - rn(t, 3);
		f->tile_count = 2 + rn(t, 4);
		break;
	case 5: f->bits = rn(t, 18); break;
	case 6: f->bits = mut_u32(t, planes); break;
	case 7: f->out = rn(t, 8); break;
	case 8: f->recon = rn(t, 6); break;
	case 9: f->buf_len = *need ? *need - 1 : 0; break;
	case 10: f->buf_len = mut_u64(t, *need); break;
	case 11: f->buf = gen_ptr(t, *need, true); break;
	case 12:	/* ends one byte into the guard page */
		f->buf = (uintptr_t)t->out + OUT_AREA - *need + 1;
		f->buf_len = *need;
		break;
	case 13: f->buf = (uintptr_t)t->ro; break;
	case 14: hdr_flags(t, &f->flags, 0); break;
	case 15: f->bytes_written = rnd(t); f->bytes_read = rnd(t); break;
	case 16: f->buf_len = ~0ull; break;
	case 17: f->bits = CXLMS_BITS_POLICY; break;
	default: f->buf = (uintptr_t)t->out + 1 + rn(t, 7); f->buf_len = *need; break;
	}
}

static void do_fetch(struct thr *t)
{
	struct cxlms_ioc_fetch f;
	uint64_t need;

	gen_fetch(t, &f, &need);
	submit_ioctl(t, CXLMS_CMD_FETCH, &f, sizeof(f), NULL);
}

static void gen_stats(struct thr *t, struct cxlms_ioc_stats *st)
{
	struct known *k = pick_known(t, false);

	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->tensor = one_in(t, 2) || !k ? CXLMS_TENSOR_ALL : k->index;
	switch (rn(t, 12)) {
	case 0: st->tensor = mut_u32(t, 8); break;
	case 1: st->pad = 1u << rn(t, 32); break;
	case 2: hdr_flags(t, &st->flags, CXLMS_STATS_RESET); break;
	case 3: st->fetches = rnd(t); st->media_errors = rnd(t); break;
	default: break;
	}
	/* RESET zeroes counters later suites may read: rare, and mostly not. */
	if ((st->flags & CXLMS_STATS_RESET) && !one_in(t, 8))
		st->flags &= ~CXLMS_STATS_RESET;
}

static void do_stats(struct thr *t)
{
	struct cxlms_ioc_stats st;
	uint32_t size = sizeof(st);

	gen_stats(t, &st);
	/* Revision 2 callers send the struct without media_errors. */
	if (one_in(t, 6))
		size = offsetof(struct cxlms_ioc_stats, media_errors);
	st.size = size;
	submit_ioctl(t, CXLMS_CMD_STATS, &st, size, NULL);
}

static void do_verify(struct thr *t)
{
	struct known *k = pick_known(t, true);
	struct cxlms_ioc_verify v = { .size = sizeof(v) };

	v.tensor = one_in(t, 3) || !k ? CXLMS_TENSOR_ALL : k->index;
	switch (rn(t, 10)) {
	case 0: v.tensor = mut_u32(t, v.tensor); break;
	case 1: hdr_flags(t, &v.flags, 0); break;
	case 2: v.checked = rnd(t); v.bad_tensor = rnd(t); v.why[rn(t, 128)] = 1; break;
	default: break;
	}
	submit_ioctl(t, CXLMS_CMD_VERIFY, &v, sizeof(v), NULL);
}

/*
 * SET_MAP: a directory snapshot (QUERY + LIST), then contexts and maps that
 * fit it, then maybe one mutation.
 */
static void do_set_map(struct thr *t)
{
	struct cxlms_ioc_map_context *ctx = (void *)(t->out + OUT_AREA / 2);
	uint8_t *maps = t->out + OUT_AREA / 2 + 64 * 1024;
	struct cxlms_ioc_tensor_info *info = (void *)t->out;
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl), .count = 64, .entry_size = sizeof(*info),
		.entries = (uintptr_t)info,
	};
	struct cxlms_ioc_set_map m = { .size = sizeof(m) };
	uint32_t n_tiles = 0, i, c, j, n_ctx = 1 + rn(t, 4);
	uint8_t *p;

	if (!take_call())
		return;
	if (plain_ioctl(t, CXLMS_CMD_TENSOR_LIST, &tl, sizeof(tl)))
		memset(&tl, 0, sizeof(tl));
	for (i = 0; i < tl.count; i++)
		n_tiles += info[i].n_tiles;
	if ((uint64_t)n_tiles * n_ctx > 256 * 1024)
		n_tiles = 1;
	memset(ctx, 0, n_ctx * sizeof(*ctx));
	for (c = 0; c < n_ctx; c++) {
		snprintf(ctx[c].name, sizeof(ctx[c].name), "c%u", c);
		ctx[c].mode = rn(t, 3);
		ctx[c].avg_bits_x100 = rn(t, 1600);
	}
	for (c = 0, p = maps; c < n_ctx; c++)
		for (i = 0; i < tl.count; i++)
			for (j = 0; j < info[i].n_tiles && p < maps + n_tiles * (c + 1); j++)
				*p++ = (uint8_t)(1 + rn(t, info[i].planes ? info[i].planes : 8));
	m.n_contexts = n_ctx;
	m.default_context = rn(t, n_ctx);
	m.n_tensors = tl.count < tl.total ? tl.total : tl.count;
	m.n_tiles = n_tiles;
	m.ctx_size = sizeof(*ctx);
	m.contexts = (uintptr_t)ctx;
	m.maps = (uintptr_t)maps;
	m.maps_len = (uint64_t)n_ctx * n_tiles;
	if (!one_in(t, 3)) {
		switch (rn(t, 20)) {
		case 0: m.n_contexts = mut_u32(t, 256); break;
		case 1: m.default_context = mut_u32(t, n_ctx); break;
		case 2: m.n_tensors = mut_u32(t, m.n_tensors); break;
		case 3: m.n_tiles = mut_u32(t, n_tiles); break;
		case 4: m.ctx_size = mut_u32(t, 64); break;
		case 5: m.pad = 1u << rn(t, 32); break;
		case 6: m.contexts = gen_ptr(t, n_ctx * 64, false); break;
		case 7: m.maps = gen_ptr(t, m.maps_len, false); break;
		case 8: m.maps_len = mut_u64(t, m.maps_len); break;
		case 9: m.generation_expected = mut_u64(t, 1); break;
		case 10: gen_ctx_name(t, ctx[rn(t, n_ctx)].name, CXLMS_MAP_NAME_MAX, 0); break;
		case 11: ctx[rn(t, n_ctx)].mode = mut_u32(t, 2); break;
		case 12: ctx[rn(t, n_ctx)].reserved = 1; break;
		case 13: if (n_ctx > 1) memcpy(ctx[1].name, ctx[0].name, 48); break;
		case 14: if (m.maps_len) maps[rn(t, (uint32_t)m.maps_len)] = rn(t, 2) ? 0 : 17; break;
		case 15: m.n_tensors = 65537 + rn(t, 1000); break;
		case 16: hdr_flags(t, &m.flags, 0); break;
		case 17:	/* maps ending in the guard page */
			m.maps = (uintptr_t)t->out + OUT_AREA - m.maps_len + 1;
			break;
		case 18: m.n_contexts = 257; m.n_tiles = 1u << 16; m.maps_len = 257ull << 16; break;
		default: m.generation = rnd(t); break;
		}
	}
	submit_ioctl(t, CXLMS_CMD_SET_MAP, &m, sizeof(m), NULL);
}

static void do_set_context(struct thr *t)
{
	struct cxlms_ioc_set_context c = { .size = sizeof(c) };

	gen_ctx_name(t, c.name, sizeof(c.name), rn(t, 5));
	if (one_in(t, 10))
		hdr_flags(t, &c.flags, 0);
	submit_ioctl(t, CXLMS_CMD_SET_CONTEXT, &c, sizeof(c), NULL);
}

static void do_get_map(struct thr *t)
{
	struct known *k = pick_known(t, false);
	struct cxlms_ioc_get_map g = { .size = sizeof(g) };

	g.tensor = k ? k->index : mut_u32(t, 8);
	if (k && k->n_tiles && !one_in(t, 4)) {
		g.tile_first = rn(t, k->n_tiles);
		g.tile_count = 1 + rn(t, k->n_tiles - g.tile_first);
	}
	g.bits = (uintptr_t)t->out;
	if (one_in(t, 2)) {
		g.flags = CXLMS_GET_MAP_NAMED;
		gen_ctx_name(t, g.context, sizeof(g.context), rn(t, 5));
	}
	switch (rn(t, 10)) {
	case 0: g.tile_first = mut_u32(t, k ? k->n_tiles : 1); break;
	case 1: g.tile_count = mut_u32(t, k ? k->n_tiles : 1); break;
	case 2: g.bits = gen_ptr(t, g.tile_count, true); break;
	case 3: hdr_flags(t, &g.flags, CXLMS_GET_MAP_NAMED); break;
	case 4: g.context[rn(t, 48)] = 'x'; break;
	case 5: g.tensor = mut_u32(t, g.tensor); break;
	case 6: g.n_contexts = rnd(t); g.generation = rnd(t); break;
	default: break;
	}
	submit_ioctl(t, CXLMS_CMD_GET_MAP, &g, sizeof(g), NULL);
}

/*
 * mmap of @fd at @off: a view's range (maybe cut short or running past
 * its end), or anything; touch what maps (read only), unmap at once, so a
 * DETACH waits only briefly (-EBUSY while mapped).
 */
static __thread sigjmp_buf bus_jmp;
static __thread volatile sig_atomic_t bus_armed;
static _Atomic unsigned long bus_seen;

static void on_sigbus(int sig)
{
	if (!bus_armed)
		_exit(135);	/* not a view load: the default's exit code */
	siglongjmp(bus_jmp, 1);
}

/*
 * Load from pages of @m.  A load the module cannot serve is SIGBUS (a
 * policy view whose tile has no bits in the maps of the moment): counted,
 * not a failure.  False if it happened.
 */
static bool touch(struct thr *t, const uint8_t *m, uint64_t len)
{
	volatile uint8_t sum = 0;
	uint64_t i;

	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		atomic_fetch_add(&bus_seen, 1);
		return false;
	}
	bus_armed = 1;
	for (i = 0; i < len; i += PAGE * (1 + rn(t, 16)))
		sum += m[i];
	bus_armed = 0;
	(void)sum;
	return true;
}

/*
 * @fixed: the range is a view of explicit bits (no policy, no media error
 * injected here), so a SIGBUS loading it is a module bug, unless the offset
 * was replaced by a random one (another view of the shared fd).
 */
static void try_mmap(struct thr *t, uint64_t off, uint64_t len, bool fixed)
{
	int prot = one_in(t, 8) ? PROT_READ | PROT_WRITE : PROT_READ;
	int flags = one_in(t, 8) ? MAP_PRIVATE : MAP_SHARED;
	uint32_t how = rn(t, 8);
	uint8_t *m;

	switch (how) {
	case 0: off += PAGE * rn(t, 4); break;
	case 1: len += PAGE * (1 + rn(t, 4)); break;
	case 2: off = (uint64_t)rnd(t) & ~(PAGE - 1); break;
	case 3: off += 1 + rn(t, PAGE - 1); break;
	default: break;
	}
	if (!len || len > (64u << 20))
		len = PAGE;
	m = mmap(NULL, len, prot, flags, t->fd, (off_t)off);
	if (m == MAP_FAILED)
		return;
	if (view_loads && !touch(t, m, len)) {
		if (fixed && how != 2)
			report_bad("SIGBUS loading a view of explicit bits at offset %#llx",
				   (unsigned long long)off);
		else if (verbose)
			printf("# SIGBUS in a view at offset %#llx len %llu\n",
			       (unsigned long long)off, (unsigned long long)len);
	}
	if (one_in(t, 4))
		madvise(m, len, MADV_DONTNEED);
	munmap(m, len);
}

static void do_view_create(struct thr *t)
{
	struct known *k = pick_known(t, true);
	struct cxlms_ioc_view_create c = { .size = sizeof(c) }, back = { 0 };
	uint32_t n = 1 + rn(t, 8);

	c.tensor = one_in(t, 3) || !k ? CXLMS_TENSOR_ALL : k->index;
	c.layout = 1 + rn(t, 3);
	c.bits = one_in(t, 4) ? CXLMS_BITS_POLICY : 1 + rn(t, k ? k->planes : 16);
	c.recon = rn(t, 3);
	c.sec_count = n;
	c.sec_size = sizeof(struct cxlms_ioc_view_section);
	c.sections = (uintptr_t)t->out;
	switch (rn(t, 12)) {
	case 0: c.tensor = mut_u32(t, c.tensor); break;
	case 1: c.layout = mut_u32(t, 3); break;
	case 2: c.bits = mut_u32(t, 17); break;
	case 3: c.recon = mut_u32(t, 3); break;
	case 4: c.sec_count = mut_u32(t, n); break;
	case 5: c.sec_size = mut_u32(t, c.sec_size); break;
	case 6: c.sections = gen_ptr(t, (uint64_t)n * c.sec_size, true); break;
	case 7: hdr_flags(t, &c.flags, 0); break;
	case 8: c.pad = 1; c.reserved[rn(t, 2)] = rnd(t); break;
	case 9: c.offset = rnd(t); c.length = rnd(t); c.sec_total = rnd(t); break;
	default: break;
	}
	if (submit_ioctl(t, CXLMS_CMD_VIEW_CREATE, &c, sizeof(c), &back))
		return;
	if (back.length && !one_in(t, 3))
		try_mmap(t, back.offset, back.length, c.bits != CXLMS_BITS_POLICY);
	if (!one_in(t, 4)) {
		struct cxlms_ioc_view_destroy d = {
			.size = sizeof(d), .offset = back.offset,
		};

		submit_ioctl(t, CXLMS_CMD_VIEW_DESTROY, &d, sizeof(d), NULL);
	}
}

static void do_view_destroy(struct thr *t)
{
	struct cxlms_ioc_view_destroy d = { .size = sizeof(d) };

	d.offset = one_in(t, 2) ? (uint64_t)rnd(t) : (1ull << 32) + PAGE * rn(t, 1u << 16);
	if (one_in(t, 6))
		hdr_flags(t, &d.flags, 0);
	if (one_in(t, 3))
		try_mmap(t, d.offset, PAGE * (1 + rn(t, 4)), false);
	submit_ioctl(t, CXLMS_CMD_VIEW_DESTROY, &d, sizeof(d), NULL);
}

/* A number the driver does not implement, or random bytes as a struct. */
static void do_other(struct thr *t)
{
	uint8_t s[256];
	uint32_t i, nr = rn(t, N_CMDS);

	for (i = 0; i < sizeof(s); i++)
		s[i] = one_in(t, 3) ? (uint8_t)rnd(t) : 0;
	submit_ioctl(t, nr, s, 8 + 8 * rn(t, 24), NULL);
}

/* --- the threads --------------------------------------------------------------- */

static int setup_mem(struct thr *t)
{
	int mfd;

	t->sarea = mmap(NULL, STRUCT_AREA + PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->out = mmap(NULL, OUT_AREA + 2 * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->sarea == MAP_FAILED || t->out == MAP_FAILED)
		return -errno;
	/*
	 * The hole stays reserved (PROT_NONE), never unmapped: the next
	 * one-page mmap (an io_uring ring) would land in an unmapped page,
	 * and the kernel's writes to "the hole" would then go into it.
	 */
	t->hole = t->out + OUT_AREA + PAGE;
	if (mprotect(t->sarea + STRUCT_AREA, PAGE, PROT_NONE) ||
	    mprotect(t->out + OUT_AREA, 2 * PAGE, PROT_NONE))
		return -errno;
	/* One set of pages, seen writable by us and read-only by the kernel. */
	mfd = memfd_create("cxlms-fuzz", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, RO_AREA))
		return -errno;
	t->rw_alias = mmap(NULL, RO_AREA, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	t->ro = mmap(NULL, RO_AREA, PROT_READ, MAP_SHARED, mfd, 0);
	close(mfd);
	if (t->rw_alias == MAP_FAILED || t->ro == MAP_FAILED)
		return -errno;
	/* random bytes: codes and 16-bit patterns for TILE_WRITE */
	for (size_t i = 0; i < OUT_AREA; i += 8) {
		uint64_t v = rnd(t);

		memcpy(t->out + i, &v, 8);
	}
	return 0;
}

static void *worker(void *arg)
{
	struct io_uring_params p = { 0 };
	struct thr *t = arg;

	if (t->nobody &&
	    (syscall(SYS_setresgid, CXT_NOBODY, CXT_NOBODY, CXT_NOBODY) ||
	     syscall(SYS_setresuid, CXT_NOBODY, CXT_NOBODY, CXT_NOBODY)))
		report_bad("thread %d: cannot drop to nobody: %s", t->id, strerror(errno));
	/* Each worker's own ring, made by the thread that submits to it. */
	p.flags = IORING_SETUP_SQE128 | (t->id % 2 ? IORING_SETUP_CQE32 : 0);
	t->have_ring = !io_uring_queue_init_params(16, &t->ring, &p);
	while (take_call()) {
		uint32_t r = rn(t, 100);

		if (t->have_ring)
			ring_check(t);
		if (t->have_ring && r < 15) {
			atomic_fetch_add(&calls_left, 1);	/* counted per SQE */
			submit_uring(t);
			continue;
		}
		if (r < 32) do_fetch(t);
		else if (r < 39) do_list(t);
		else if (r < 47) do_create(t);
		else if (r < 55) do_tile_write(t);
		else if (r < 61) { atomic_fetch_add(&calls_left, 1); do_complete(t); }
		else if (r < 65) do_seal(t);
		else if (r < 69) do_stats(t);
		else if (r < 73) do_verify(t);
		else if (r < 77) do_set_map(t);
		else if (r < 81) do_set_context(t);
		else if (r < 85) do_get_map(t);
		else if (r < 89) do_view_create(t);
		else if (r < 90) do_view_destroy(t);
		else if (r < 92) do_query(t);
		else if (r < 93) do_attach(t);
		else if (r < 94) do_detach(t);
		else do_other(t);
	}
	return NULL;
}

/* The attach thread's own tensor, checked against the userspace codec. */
static int attacher_check(struct thr *t, struct cxt_tensor *ct, const uint8_t *uuid)
{
	static const uint32_t outs[] = { CXLMS_OUT_PLANES, CXLMS_OUT_INT, CXLMS_OUT_F32 };
	struct cxlms_ioc_query q;
	uint8_t *kb = t->out, *rb = t->out + OUT_AREA / 2;
	uint32_t tile = rn(t, ct->n_tiles), bits = 1 + rn(t, 8);
	uint32_t out = outs[rn(t, 3)];
	uint64_t w = 0;
	int64_t n;
	int ret;

	n = cxt_ref_fetch(ct, tile, bits, out, 0, rb, OUT_AREA / 2);
	if (n <= 0)
		return 0;
	memset(kb, 0x5a, n);
	ret = cxt_fetch(t->fd, ct->index, tile, 1, bits, out, 0, kb, OUT_AREA / 2, &w, NULL);
	count(t, CXLMS_CMD_FETCH, P_IOCTL, ret);
	if (ret)
		return 0;	/* a worker may have detached: ENXIO, ESTALE, ENOENT */
	/* Only the store this thread filled counts: same uuid before and after. */
	if (cxt_query(t->fd, &q) || memcmp(q.uuid, uuid, 16))
		return 0;
	if ((int64_t)w != n || memcmp(kb, rb, n)) {
		report_bad("fetch of %s tile %u k=%u out=%u: %llu bytes, reference %lld%s",
			   ct->name, tile, bits, out, (unsigned long long)w, (long long)n,
			   (int64_t)w == n ? ", bytes differ" : "");
		return -1;
	}
	return 0;
}

static void *attacher(void *arg)
{
	static const uint64_t s8[2] = { 12, 40 }, s16[2] = { 6, 24 };
	struct thr *t = arg;
	unsigned long rounds = 0;

	while (!atomic_load(&stop)) {
		struct cxlms_ioc_attach a = {
			.size = sizeof(a),
			.flags = CXLMS_ATTACH_RAM | CXLMS_ATTACH_FORMAT,
			.bytes = STORE_BYTES,
			.dir_capacity = 32 + rn(t, 64),
		};
		struct cxlms_ioc_detach d = { .size = sizeof(d) };
		struct cxlms_ioc_query q;
		struct cxt_tensor ct[2];
		char name[64];
		int i, ret, lap;

		ret = plain_ioctl(t, CXLMS_CMD_ATTACH, &a, sizeof(a));
		if (ret && ret != -EBUSY) {
			report_bad("attach thread: RAM ATTACH failed: %s (%s)",
				   strerror(-ret), a.why);
			break;
		}
		/* Attached by us or (EBUSY) by a worker: either is a store to fill. */
		atomic_fetch_add(&epoch, 1);
		if (cxt_query(t->fd, &q))
			continue;
		memset(ct, 0, sizeof(ct));
		snprintf(name, sizeof(name), "att.%lu.i8", rounds);
		ret = cxt_tensor_gen(&ct[0], name, CXLMS_FMT_INT8, 2, s8, 16,
				     q.default_group, 5, g_seed + rounds);
		snprintf(name, sizeof(name), "att.%lu.bf16", rounds);
		if (!ret)
			ret = cxt_tensor_gen(&ct[1], name, CXLMS_FMT_BF16, 2, s16, 0,
					     q.default_group, 4, g_seed + rounds + 1);
		for (i = 0; !ret && i < 2; i++) {
			pthread_rwlock_wrlock(&upload_gate);
			ret = cxt_tensor_upload(t->fd, &ct[i], true);
			pthread_rwlock_unlock(&upload_gate);
			count(t, CXLMS_CMD_TENSOR_CREATE, P_IOCTL, ret);
			if (!ret)
				learn_index(t, ct[i].index);
		}
		/* Let the workers at it, check our tensors now and then. */
		for (lap = 0; !ret && lap < 20 && !atomic_load(&stop); lap++) {
			if (attacher_check(t, &ct[rn(t, 2)], q.uuid))
				break;
			usleep(2000 + rn(t, 8000));
		}
		cxt_tensor_free(&ct[0]);
		cxt_tensor_free(&ct[1]);
		ret = plain_ioctl(t, CXLMS_CMD_DETACH, &d, sizeof(d));
		/* A worker's view mapped for a moment: DETACH refused meanwhile. */
		for (i = 0; ret == -EBUSY && i < 1000; i++) {
			usleep(1000);
			ret = plain_ioctl(t, CXLMS_CMD_DETACH, &d, sizeof(d));
		}
		if (ret && ret != -ENXIO)
			report_bad("attach thread: DETACH failed: %s", strerror(-ret));
		atomic_fetch_add(&epoch, 1);
		rounds++;
		/* Now and then leave the device detached for a while: ENXIO paths. */
		if (one_in(t, 4))
			usleep(5000);
	}
	if (verbose)
		printf("# attach thread: %lu attach/detach rounds\n", rounds);
	t->name_seq = (unsigned int)rounds;
	return NULL;
}

/* --- checks after the run ------------------------------------------------------------ */

static const char *const bad_words[] = {
	"WARNING:", "BUG:", "Oops", "KASAN", "general protection",
	"soft lockup", "hung task", "Call Trace", "UBSAN",
};

/* Print every offending line of this boot's kernel log; 1 if any. */
static int dmesg_check(void)
{
	int size = klogctl(10, NULL, 0), n, found = 0;
	char *buf, *p, *nl;
	size_t i;

	if (size <= 0)
		size = 1 << 20;
	buf = malloc((size_t)size + 1);
	if (!buf)
		return -ENOMEM;
	n = klogctl(3, buf, size);
	if (n < 0) {
		free(buf);
		return -errno;
	}
	buf[n] = '\0';
	for (p = buf; p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		for (i = 0; i < ARRAY_SIZE(bad_words); i++) {
			if (strstr(p, bad_words[i])) {
				printf("# kernel log: %s\n", p);
				found = 1;
				break;
			}
		}
	}
	free(buf);
	return found;
}

/* A clean attach / create / write / seal / fetch round trip, then detach. */
static int round_trip(int fd, char *why, size_t len)
{
	static const uint64_t shape[2] = { 20, 72 };
	static const uint32_t fmts[] = { CXLMS_FMT_INT8, CXLMS_FMT_BF16, CXLMS_FMT_FP16 };
	static uint8_t kb[65536], rb[65536];
	struct cxlms_ioc_query q;
	struct cxt_tensor ct;
	uint32_t f, tile, bits;
	int64_t n;
	int ret;

	ret = cxt_attach_ram(fd, STORE_BYTES, 0);
	if (ret) {
		snprintf(why, len, "RAM ATTACH: %s", strerror(-ret));
		return -1;
	}
	ret = cxt_query(fd, &q);
	for (f = 0; !ret && f < ARRAY_SIZE(fmts); f++) {
		char name[32];

		snprintf(name, sizeof(name), "rt%u", f);
		ret = cxt_tensor_gen(&ct, name, fmts[f], 2, shape,
				     fmts[f] == CXLMS_FMT_INT8 ? 24 : 0,
				     q.default_group, 6, 42 + f);
		if (ret)
			break;
		ret = cxt_tensor_upload(fd, &ct, true);
		if (ret) {
			snprintf(why, len, "upload %s: %s", name, strerror(-ret));
			cxt_tensor_free(&ct);
			break;
		}
		for (tile = 0; !ret && tile < ct.n_tiles; tile++) {
			for (bits = 1; !ret && bits <= cxlms_fmt_planes(fmts[f]); bits += 3) {
				uint32_t out = fmts[f] == CXLMS_FMT_INT8 ? CXLMS_OUT_F32 :
					       CXLMS_OUT_PLANES;
				uint64_t w = 0;

				n = cxt_ref_fetch(&ct, tile, bits, out, 0, rb, sizeof(rb));
				if (n <= 0) {
					snprintf(why, len, "reference %s tile %u: %lld", name,
						 tile, (long long)n);
					ret = -1;
					break;
				}
				ret = cxt_fetch(fd, ct.index, tile, 1, bits, out, 0, kb,
						sizeof(kb), &w, NULL);
				if (ret)
					snprintf(why, len, "FETCH %s tile %u k=%u: %s", name,
						 tile, bits, strerror(-ret));
				else if ((int64_t)w != n || memcmp(kb, rb, n)) {
					snprintf(why, len, "FETCH %s tile %u k=%u: wrong bytes",
						 name, tile, bits);
					ret = -1;
				}
			}
		}
		cxt_tensor_free(&ct);
	}
	if (cxt_detach(fd) && !ret) {
		snprintf(why, len, "DETACH failed");
		ret = -1;
	}
	return ret ? -1 : 0;
}

/*
 * io_uring's request slots are reused: a FETCH completed inline must not
 * leave anything behind that a later IOSQE_ASYNC FETCH on the same slot
 * mistakes for its own first issue (it would see the store generation of
 * the old request and fail with -ESTALE after a re-attach).
 */
static int uring_reuse_check(int fd, char *why, size_t len)
{
	static const uint64_t shape[2] = { 8, 64 };
	static uint8_t buf[65536];
	struct cxlms_ioc_query q;
	struct cxt_tensor ct;
	struct io_uring ring;
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 };
	int ret, round, res[2] = { 0, 0 };

	if (io_uring_queue_init_params(4, &ring, &p))
		return 1;	/* no io_uring: nothing to check */
	for (round = 0; round < 2; round++) {
		struct io_uring_sqe *sqe;
		struct io_uring_cqe *cqe;
		struct cxlms_ioc_fetch f = {
			.size = sizeof(f), .tile_count = 1, .bits = 3,
			.out = CXLMS_OUT_INT, .buf = (uintptr_t)buf, .buf_len = sizeof(buf),
		};

		ret = cxt_attach_ram(fd, STORE_BYTES, 0);
		if (!ret)
			ret = cxt_query(fd, &q);
		if (!ret)
			ret = cxt_tensor_gen(&ct, "reuse", CXLMS_FMT_INT8, 2, shape, 32,
					     q.default_group, 4, 9);
		if (!ret) {
			ret = cxt_tensor_upload(fd, &ct, true);
			f.tensor = ct.index;
			cxt_tensor_free(&ct);
		}
		if (ret) {
			snprintf(why, len, "setup: %s", strerror(-ret));
			break;
		}
		sqe = io_uring_get_sqe(&ring);
		if (!sqe) {
			ret = -EBUSY;
			snprintf(why, len, "no SQE");
			break;
		}
		memset(sqe, 0, 2 * sizeof(*sqe));
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = fd;
		sqe->cmd_op = CXLMS_IOC_FETCH;
		memcpy(sqe->cmd, &f, sizeof(f));
		if (round)	/* first issue from io-wq */
			sqe->flags |= IOSQE_ASYNC;
		ret = io_uring_submit(&ring) == 1 ? io_uring_wait_cqe(&ring, &cqe) : -EIO;
		if (ret) {
			snprintf(why, len, "io_uring: %s", strerror(-ret));
			break;
		}
		res[round] = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		cxt_detach(fd);
	}
	io_uring_queue_exit(&ring);
	if (ret)
		return -1;
	if (res[0] <= 0 || res[1] != res[0]) {
		snprintf(why, len, "inline FETCH res %d, then IOSQE_ASYNC FETCH after a "
			 "re-attach res %d (%s)", res[0], res[1],
			 res[1] < 0 ? strerror(-res[1]) : "bytes");
		return -1;
	}
	return 0;
}

static void merge(struct counts *dst, const struct counts *src)
{
	int i, p;

	for (i = 0; i <= N_CMDS; i++)
		for (p = 0; p < N_PATHS; p++)
			dst->cmd[i][p] += src->cmd[i][p];
	for (i = 0; i < ERRNO_SLOTS; i++)
		dst->err[i] += src->err[i];
	dst->total += src->total;
}

static const char *cmd_name(int nr)
{
	static const char *const names[N_CMDS + 1] = {
		"QUERY", "ATTACH", "DETACH", "TENSOR_LIST", "TENSOR_CREATE",
		"TILE_WRITE", "TENSOR_SEAL", "FETCH", "STATS", "VERIFY", "SET_MAP",
		"SET_CONTEXT", "GET_MAP", "VIEW_CREATE", "VIEW_DESTROY",
		"(other numbers)",
	};

	return names[nr];
}

static void usage(const char *prog, FILE *f)
{
	fprintf(f,
		"usage: %s [--seed N] [--calls N] [--threads N] [--verbose] [--no-view-loads]\n"
		"Structure-aware fuzzer of /dev/cxlms0 (ioctl and io_uring uring_cmd).\n"
		"  --seed N     PRNG seed (default %#llx; printed either way)\n"
		"  --calls N    commands in all threads together (default %d)\n"
		"  --threads N  workers sharing one fd (default %d); N/2 (at least 1)\n"
		"               more have their own fd, one of them as nobody; plus\n"
		"               one thread attaching/detaching its own RAM store\n"
		"  --no-view-loads\n"
		"               map and unmap views, never load from them\n"
		"Needs an unattached /dev/cxlms0 (skips otherwise) and root.\n"
		"Exit 0 pass, 1 fail, 4 skip.\n",
		prog, (unsigned long long)DEFAULT_SEED, DEFAULT_CALLS, DEFAULT_THREADS);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "calls", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-view-loads", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long calls = DEFAULT_CALLS;
	int n_shared = DEFAULT_THREADS, n_own, n_all, i, o, fails = 0, tap = 0, ret;
	struct thr *thr;
	pthread_t *tid;
	struct cxlms_ioc_query q;
	char why[256] = "";
	double t0, t1;

	g_seed = DEFAULT_SEED;
	while ((o = getopt_long(argc, argv, "s:c:t:vh", opts, NULL)) != -1) {
		switch (o) {
		case 's': g_seed = strtoull(optarg, NULL, 0); break;
		case 'c': calls = strtol(optarg, NULL, 0); break;
		case 't': n_shared = atoi(optarg); break;
		case 'v': verbose = 1; break;
		case 'L': view_loads = 0; break;
		case 'h': usage(argv[0], stdout); return 0;
		default: usage(argv[0], stderr); return KSFT_FAIL;
		}
	}
	if (calls < 1 || n_shared < 1 || n_shared > MAX_THREADS) {
		usage(argv[0], stderr);
		return KSFT_FAIL;
	}
	n_own = n_shared / 2 ? n_shared / 2 : 1;
	n_all = n_shared + n_own + 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");

	shared_fd = cxt_open();
	if (shared_fd < 0) {
		printf("1..0 # SKIP %s\n", CXLMS_NO_DEV_REASON);
		return KSFT_SKIP;
	}
	if (cxt_query(shared_fd, &q)) {
		printf("1..0 # SKIP QUERY failed: %s\n", strerror(errno));
		return KSFT_SKIP;
	}
	if (q.state & CXLMS_STATE_ATTACHED) {
		printf("1..0 # SKIP a store is attached already (backing %u): "
		       "the fuzzer would detach it\n", q.backing);
		return KSFT_SKIP;
	}
	printf("1..4\n");
	printf("# seed %#llx, %ld calls, %d threads on one fd + %d with their own fd "
	       "(one as nobody) + 1 attach/detach thread\n",
	       (unsigned long long)g_seed, calls, n_shared, n_own);

	ret = uring_reuse_check(shared_fd, why, sizeof(why));
	if (ret < 0) {
		printf("not ok %d - uring: IOSQE_ASYNC FETCH after an inline FETCH and a re-attach # %s\n",
		       ++tap, why);
		fails++;
	} else {
		printf("ok %d - uring: IOSQE_ASYNC FETCH after an inline FETCH and a re-attach%s\n",
		       ++tap, ret ? " # SKIP no io_uring" : "");
	}

	thr = calloc(n_all, sizeof(*thr));
	tid = calloc(n_all, sizeof(*tid));
	if (!thr || !tid)
		return KSFT_FAIL;
	atomic_store(&calls_left, calls);
	for (i = 0; i < n_all; i++) {
		struct thr *t = &thr[i];
		int p = 0;

		t->id = i;
		t->rng = g_seed ^ (0x9e3779b97f4a7c15ull * (i + 1));
		t->attacher = i == n_all - 1;
		t->own_fd = i >= n_shared;
		t->nobody = t->own_fd && !t->attacher && i == n_shared && n_own > 1;
		t->fd = t->own_fd ? cxt_open() : shared_fd;
		if (t->fd < 0 || setup_mem(t)) {
			printf("Bail out! thread %d setup: %s\n", i, strerror(errno));
			return KSFT_FAIL;
		}
		(void)p;
	}
	{
		struct sigaction sa = { .sa_handler = on_sigbus };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, NULL);
	}
	t0 = cxt_now();
	/* The attach thread goes first so the workers find a store. */
	ret = pthread_create(&tid[n_all - 1], NULL, attacher, &thr[n_all - 1]);
	usleep(20000);
	for (i = 0; !ret && i < n_all - 1; i++)
		ret = pthread_create(&tid[i], NULL, worker, &thr[i]);
	if (ret) {
		printf("Bail out! pthread_create: %s\n", strerror(ret));
		return KSFT_FAIL;
	}
	for (i = 0; i < n_all - 1; i++)
		pthread_join(tid[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(tid[n_all - 1], NULL);
	t1 = cxt_now();

	for (i = 0; i < n_all; i++) {
		merge(&all_counts, &thr[i].c);
		if (thr[i].have_ring)
			io_uring_queue_exit(&thr[i].ring);
		if (thr[i].own_fd)
			close(thr[i].fd);
	}
	printf("# %lu calls in %.1f s (%.0f/s), %lu io_uring ring(s) dropped, %lu view loads SIGBUS\n",
	       all_counts.total, t1 - t0, all_counts.total / (t1 - t0),
	       (unsigned long)atomic_load(&rings_dropped),
	       (unsigned long)atomic_load(&bus_seen));
	for (i = 0; i <= N_CMDS; i++)
		printf("# cmd %-16s ioctl %7lu  uring %6lu  uring async %6lu\n", cmd_name(i),
		       all_counts.cmd[i][P_IOCTL], all_counts.cmd[i][P_URING],
		       all_counts.cmd[i][P_ASYNC]);
	for (i = 0; i < ERRNO_SLOTS; i++)
		if (all_counts.err[i])
			printf("# result %-12s %7lu\n", i ? strerrorname_np(i) : "ok",
			       all_counts.err[i]);
	(void)pthread_mutex_lock(&counts_lock);
	if (bad_total || all_counts.total < (unsigned long)calls / 2 ||
	    !all_counts.err[0]) {
		printf("not ok %d - %lu fuzzed calls # %lu wrong result(s)%s%s\n", ++tap,
		       all_counts.total, (unsigned long)bad_total, bad_total ? ": " : "",
		       bad_msg);
		fails++;
	} else {
		printf("ok %d - %lu fuzzed calls, seed %#llx, %.1f s\n", ++tap,
		       all_counts.total, (unsigned long long)g_seed, t1 - t0);
	}
	pthread_mutex_unlock(&counts_lock);

	/* The device after the storm: detach whatever a worker left attached. */
	cxt_detach(shared_fd);
	if (round_trip(shared_fd, why, sizeof(why))) {
		printf("not ok %d - clean attach/create/seal/fetch round trip # %s\n", ++tap, why);
		fails++;
	} else {
		printf("ok %d - clean attach/create/seal/fetch round trip\n", ++tap);
	}
	if (!cxt_query(shared_fd, &q) && (q.state & CXLMS_STATE_ATTACHED)) {
		printf("# device still attached at the end\n");
		fails++;
	}
	ret = dmesg_check();
	if (ret) {
		printf("not ok %d - kernel log clean (no WARNING/BUG/Oops/KASAN/...)%s\n",
		       ++tap, ret < 0 ? " # cannot read it" : "");
		fails++;
	} else {
		printf("ok %d - kernel log clean (no WARNING/BUG/Oops/KASAN/...)\n", ++tap);
	}
	close(shared_fd);
	printf("# cxlms-fuzz: %d passed, %d failed\n", tap - fails, fails);
	return fails ? KSFT_FAIL : KSFT_PASS;
}
