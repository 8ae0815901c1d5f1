// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Views: a store mapped at k bits for plain loads (docs/design.md "Views"; the bytes:
 * docs/format.md "Views").
 *
 * The view is cut into fill units: page ranges that each hold whole tiles
 * (a PACKED slot, or the pages a run of INT tiles covers; tiles that share
 * a page share a unit) or only bits-independent bytes (scales, padding).
 * A unit is always decoded whole, at one map generation, so a tile never
 * holds bytes of two maps.  Two ways to fill them:
 *
 * - userfaultfd: the view is an anonymous PROT_READ mapping registered for
 *   MISSING faults; a handler thread of the library (started by
 *   cxlms_view_map(), stopped by cxlms_view_unmap()) decodes the unit of
 *   the faulting address and installs it with one UFFDIO_COPY.  Opened with
 *   UFFD_USER_MODE_ONLY, which needs no privilege even when
 *   vm.unprivileged_userfaultfd is 0 (Debian 12's default): only faults of
 *   user-space loads are served, a syscall handed an unfilled page of the
 *   view gets EFAULT.
 * - eager: where the kernel refuses userfaultfd (EPERM, ENOSYS, EINVAL:
 *   older kernels, seccomp) or the caller asks, every unit is decoded at
 *   map time into anonymous memory, which is then made read-only: the cost
 *   is the whole view's decode up front and its size in memory.
 *
 * Following the policy (CXLMS_BITS_POLICY): cxlms_view_refresh() compares
 * the bits every filled tile was decoded at with the bits the maps give
 * now and drops the units that differ: userfaultfd: MADV_DONTNEED, so the
 * next load faults them in again at the new bits; eager: a new decode in a
 * fresh mapping moved over the old pages with one mremap().  Units not
 * filled yet are decoded at the bits of the moment they fault.
 *
 * Kernel backend: the module serves the same bytes (VIEW_CREATE, then an
 * mmap of the device at the offset it returns; driver/view.c) and follows
 * the policy itself: SET_MAP and SET_CONTEXT unmap the changed units.  The
 * library computes the sections with the same codec rule and refuses a
 * module whose sections differ (-EPROTO), so both backends place a tensor
 * at the same bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/userfaultfd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "private.h"
#include "policy.h"
#include "view_layout.h"

#define VIEW_ALIGN	CXLMS_VIEW_ALIGN

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY	1
#endif

/* userfaultfd: bytes filled ahead of a sequential scan's fault. */
#define VIEW_READAHEAD	(4u << 20)

enum view_mode { VIEW_MODE_UFFD, VIEW_MODE_EAGER, VIEW_MODE_KERNEL };

/* One tensor of the view: its section (the codec's layout rule). */
struct vsec {
	struct cxlms_tensor *t;
	struct cxlms_view_sec vs;
	uint8_t *filled;		/* per tile: bits in memory, 0 = none; NULL: kernel */
};

/* A fill unit: view bytes [lo, hi), page aligned; data tiles [t0, t1) of sec. */
struct vunit {
	uint64_t lo, hi;
	unsigned int sec;
	unsigned int t0, t1;
	bool present;
};

struct cxlms_view {
	struct cxlms_store *s;
	uint8_t *base;
	uint64_t len;
	uint64_t dev_offset;		/* kernel: VIEW_CREATE's mmap offset */
	enum view_mode mode;
	unsigned int layout, bits, recon;
	struct vsec *secs;
	unsigned int n_secs;
	struct vunit *units;
	unsigned int n_units;
	uint64_t max_unit;		/* largest unit, bytes */
	size_t tile_buf_len;		/* largest fetch of one tile */
	uint8_t *tile_buf;		/* fetch output; under @lock */
	uint8_t *scratch;		/* uffd: one unit, page aligned; under @lock */
	pthread_mutex_t lock;		/* fills, refresh, @filled, @present */
	int err;
	int uffd, stop_fd;
	pthread_t thread;
	bool thread_started;
};

/* --- geometry: the codec's (view_layout.h), units listed once -------- */

static int add_unit(struct cxlms_view *v, unsigned int *cap,
		    const struct cxlms_view_unit *cu, unsigned int sec)
{
	struct vunit *u;

	if (v->n_units == *cap) {
		unsigned int ncap = *cap ? *cap * 2 : 64;
		struct vunit *nu = realloc(v->units, ncap * sizeof(*nu));

		if (!nu)
			return -ENOMEM;
		v->units = nu;
		*cap = ncap;
	}
	u = &v->units[v->n_units++];
	*u = (struct vunit){ .lo = cu->lo, .hi = cu->hi, .sec = sec,
			     .t0 = cu->t0, .t1 = cu->t1 };
	return 0;
}

static int build_units(struct cxlms_view *v)
{
	unsigned int cap = 0, i;
	int rc;

	for (i = 0; i < v->n_secs; i++) {
		const struct cxlms_view_sec *vs = &v->secs[i].vs;
		struct cxlms_view_unit cu;
		uint64_t pos;

		for (pos = vs->off; pos < vs->off + vs->len; pos = cu.hi) {
			rc = cxlms_view_unit_at(&v->secs[i].t->d, vs, pos, &cu);
			if (rc)
				return rc;
			rc = add_unit(v, &cap, &cu, i);
			if (rc)
				return rc;
		}
	}
	for (i = 0; i < v->n_units; i++)
		if (v->units[i].hi - v->units[i].lo > v->max_unit)
			v->max_unit = v->units[i].hi - v->units[i].lo;
	return 0;
}

/* Unit holding view offset @off (units tile the view in order). */
static struct vunit *find_unit(struct cxlms_view *v, uint64_t off)
{
	unsigned int lo = 0, hi = v->n_units;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (off < v->units[mid].lo)
			hi = mid;
		else if (off >= v->units[mid].hi)
			lo = mid + 1;
		else
			return &v->units[mid];
	}
	return NULL;
}

/* --- decoding ----------------------------------------------------------- */

/* Bits for data tiles [t0, t1) of @sec now, one generation; clamped to the layout. */
static int resolve_bits(struct cxlms_view *v, struct vsec *sec, unsigned int t0,
			unsigned int t1, uint8_t *bits)
{
	unsigned int i;
	int rc;

	if (v->bits != CXLMS_BITS_POLICY) {
		memset(bits, (int)v->bits, t1 - t0);
		return 0;
	}
	rc = cxlms_policy_bits(v->s, sec->t->index, t0, t1 - t0, bits, NULL);
	if (rc)
		return rc;
	/* A map may ask for fewer bits than an INT view can hold a value in. */
	for (i = 0; i < t1 - t0; i++)
		bits[i] = (uint8_t)cxlms_view_clamp_bits(&sec->vs, bits[i]);
	return 0;
}

/*
 * Decode unit @u into @dst (u->hi - u->lo bytes) and, on success, note the
 * bits of its tiles in @bits_out (t1 - t0 entries).  Caller holds the lock
 * or owns the view alone.
 */
static int fill_unit(struct cxlms_view *v, const struct vunit *u, uint8_t *dst,
		     uint8_t *bits_out)
{
	struct vsec *sec = &v->secs[u->sec];
	const struct cxlms_view_sec *vs = &sec->vs;
	struct cxlms_tensor *t = sec->t;
	struct cxlms_view_unit cu = { .lo = u->lo, .hi = u->hi };
	uint64_t at, len, toff;
	unsigned int tile;
	int rc;

	memset(dst, 0, u->hi - u->lo);
	if (u->t1 > u->t0) {
		rc = resolve_bits(v, sec, u->t0, u->t1, bits_out);
		if (rc)
			return rc;
	}
	for (tile = u->t0; tile < u->t1; tile++) {
		unsigned int k = bits_out[tile - u->t0];
		int64_t n = cxlms_fetch(v->s, t, tile, k, vs->out, v->recon,
					v->tile_buf, v->tile_buf_len);

		if (n < 0)
			return (int)n;
		rc = cxlms_view_tile_dst(&t->d, vs, tile, k, &at, &len);
		if (rc)
			return rc;
		cxlms_view_put(&cu, dst, at, v->tile_buf, len);
	}
	/* Scales straight from the tiles: they do not depend on k. */
	if (vs->scales_len && u->hi > vs->scales_off &&
	    u->lo < vs->scales_off + vs->scales_len) {
		for (tile = 0; tile < t->d.n_tiles; tile++) {
			const uint8_t *tp;

			rc = cxlms_view_tile_scales(&t->d, vs, tile, &at, &len, &toff);
			if (rc)
				return rc;
			tp = v->s->ops->tile_map(v->s, t, tile);
			if (!tp)
				return -EIO;
			cxlms_view_put(&cu, dst, at, tp + toff, len);
		}
	}
	return 0;
}

/* --- userfaultfd -------------------------------------------------------- */

static int uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd, rc;

	fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void uffd_wake(struct cxlms_view *v, const struct vunit *u)
{
	struct uffdio_range r = { .start = (uintptr_t)(v->base + u->lo),
				  .len = u->hi - u->lo };

	ioctl(v->uffd, UFFDIO_WAKE, &r);
}

/* Install @v->scratch as unit @u; 0 or -errno. */
static int uffd_copy(struct cxlms_view *v, const struct vunit *u)
{
	uint64_t done = 0, len = u->hi - u->lo;

	while (done < len) {
		struct uffdio_copy c = {
			.dst = (uintptr_t)(v->base + u->lo + done),
			.src = (uintptr_t)(v->scratch + done),
			.len = len - done,
		};

		if (!ioctl(v->uffd, UFFDIO_COPY, &c)) {
			done += (uint64_t)c.copy;
			continue;
		}
		if (c.copy > 0)
			done += (uint64_t)c.copy;
		if (errno == EAGAIN)
			continue;
		/* Present already (a second fault on the same unit): just wake. */
		if (errno == EEXIST) {
			uffd_wake(v, u);
			return 0;
		}
		return -errno;
	}
	return 0;
}

static void set_err(struct cxlms_view *v, int rc)
{
	if (!v->err)
		v->err = rc;
	cxlms_err(v->s->ctx, "%s: view fill failed: %s", v->s->path,
		  cxlms_strerror(rc));
}

/*
 * Decode and install unit @u unless it is there; under the lock.  A unit
 * that was faulted (@faulted) and cannot be decoded is made PROT_NONE so
 * its loads get SIGSEGV, never wrong bytes; a read-ahead just stops.
 */
static int fill_present(struct cxlms_view *v, struct vunit *u, bool faulted)
{
	struct vsec *sec = &v->secs[u->sec];
	int rc;

	if (u->present) {
		if (faulted)
			uffd_wake(v, u);
		return 0;
	}
	rc = fill_unit(v, u, v->scratch, sec->filled + u->t0);
	if (!rc)
		rc = uffd_copy(v, u);
	if (!rc) {
		u->present = true;
		return 0;
	}
	memset(sec->filled + u->t0, 0, u->t1 - u->t0);
	if (faulted) {
		set_err(v, rc);
		mprotect(v->base + u->lo, u->hi - u->lo, PROT_NONE);
		uffd_wake(v, u);
	}
	return rc;
}

/* A fault is waiting: it goes before any read-ahead. */
static bool fault_pending(struct cxlms_view *v)
{
	struct pollfd p = { .fd = v->uffd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

static void handle_fault(struct cxlms_view *v, uint64_t addr)
{
	struct vunit *u = find_unit(v, addr - (uintptr_t)v->base);
	uint64_t ahead = 0;
	unsigned int i;
	int rc;

	if (!u)
		return;
	pthread_mutex_lock(&v->lock);
	rc = fill_present(v, u, true);
	pthread_mutex_unlock(&v->lock);
	i = (unsigned int)(u - v->units);
	/*
	 * Read-ahead on a sequential scan (the unit before is there, or this
	 * is the first): fill the next units up to VIEW_READAHEAD bytes while
	 * the loader works on this one, so a scan mostly finds its pages.
	 */
	if (rc || (i && !v->units[i - 1].present))
		return;
	for (i++; i < v->n_units && ahead < VIEW_READAHEAD; i++) {
		if (fault_pending(v))
			return;
		pthread_mutex_lock(&v->lock);
		rc = fill_present(v, &v->units[i], false);
		pthread_mutex_unlock(&v->lock);
		if (rc)
			return;
		ahead += v->units[i].hi - v->units[i].lo;
	}
}

static void *uffd_thread(void *arg)
{
	struct cxlms_view *v = arg;
	struct pollfd p[2] = { { .fd = v->uffd, .events = POLLIN },
			       { .fd = v->stop_fd, .events = POLLIN } };

	for (;;) {
		struct uffd_msg msg;
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & (POLLERR | POLLHUP))
			break;
		n = read(v->uffd, &msg, sizeof(msg));
		if (n != sizeof(msg))
			continue;
		if (msg.event == UFFD_EVENT_PAGEFAULT)
			handle_fault(v, msg.arg.pagefault.address);
	}
	return NULL;
}

static int start_uffd(struct cxlms_view *v, int uffd)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)v->base, .len = v->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int rc;

	v->uffd = uffd;
	/* A child would see the unfilled pages as zeros: it does not get them. */
	if (madvise(v->base, v->len, MADV_DONTFORK))
		return -errno;
	/* Page granularity: khugepaged must not fill holes behind our back. */
	madvise(v->base, v->len, MADV_NOHUGEPAGE);
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	if (!(reg.ioctls & (1ull << _UFFDIO_COPY)))
		return -EOPNOTSUPP;
	v->scratch = mmap(NULL, v->max_unit, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v->scratch == MAP_FAILED) {
		v->scratch = NULL;
		return -ENOMEM;
	}
	v->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (v->stop_fd < 0)
		return -errno;
	rc = pthread_create(&v->thread, NULL, uffd_thread, v);
	if (rc)
		return -rc;
	v->thread_started = true;
	return 0;
}

/* --- eager -------------------------------------------------------------- */

#define HUGE_ALIGN	(2u << 20)

/*
 * Anonymous memory for an eager view, 2 MiB aligned and asked for in
 * transparent huge pages: one fault per 2 MiB instead of per 4 KiB while
 * it is filled (a hint; 4 KiB pages where THP is off).  NULL on failure.
 */
static uint8_t *map_huge(uint64_t len)
{
	uint64_t span = len + HUGE_ALIGN;
	uint8_t *p, *a;

	p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
	if (a > p)
		munmap(p, a - p);
	if (a + len < p + span)
		munmap(a + len, p + span - (a + len));
	madvise(a, len, MADV_HUGEPAGE);
	return a;
}

static int fill_all(struct cxlms_view *v, uint8_t *base)
{
	unsigned int i;
	int rc;

	for (i = 0; i < v->n_units; i++) {
		struct vunit *u = &v->units[i];

		rc = fill_unit(v, u, base + u->lo, v->secs[u->sec].filled + u->t0);
		if (rc)
			return rc;
		u->present = true;
	}
	return 0;
}

/* Replace unit @u of an eager view with a fresh decode in one step. */
static int eager_replace(struct cxlms_view *v, struct vunit *u)
{
	uint64_t len = u->hi - u->lo;
	uint8_t *tmp, *nb, *bits = v->secs[u->sec].filled + u->t0;
	int rc;

	nb = malloc(u->t1 - u->t0);
	if (!nb)
		return -ENOMEM;
	tmp = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (tmp == MAP_FAILED) {
		free(nb);
		return -ENOMEM;
	}
	rc = fill_unit(v, u, tmp, nb);
	if (!rc && mprotect(tmp, len, PROT_READ))
		rc = -errno;
	if (!rc && mremap(tmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
			  v->base + u->lo) == MAP_FAILED)
		rc = -errno;
	if (rc)
		munmap(tmp, len);
	else
		memcpy(bits, nb, u->t1 - u->t0);
	free(nb);
	return rc;
}

/* --- public API --------------------------------------------------------- */

static int check_opts(const struct cxlms_view_opts *o)
{
	if (!o || o->size < sizeof(*o))
		return -EINVAL;
	/* A newer caller's fields must be zero for this library to ignore them. */
	if (o->size > sizeof(*o) &&
	    !cxlms_all_zero((const uint8_t *)o + sizeof(*o), o->size - sizeof(*o)))
		return -E2BIG;
	if (o->reserved0 || o->reserved[0] || o->reserved[1])
		return -EINVAL;
	if (o->flags & ~CXLMS_VIEW_EAGER)
		return -EOPNOTSUPP;
	if (o->layout < CXLMS_VIEW_PACKED || o->layout > CXLMS_VIEW_INT16)
		return -EINVAL;
	if (o->recon > CXLMS_RECON_TABLE)
		return -EINVAL;
	return 0;
}

void cxlms_view_unmap(struct cxlms_view *v)
{
	unsigned int i;

	if (!v)
		return;
	if (v->thread_started) {
		uint64_t one = 1;

		if (write(v->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(v->thread, NULL);
		else
			pthread_cancel(v->thread), pthread_join(v->thread, NULL);
	}
	if (v->stop_fd >= 0)
		close(v->stop_fd);
	if (v->uffd >= 0)
		close(v->uffd);
	if (v->base)
		munmap(v->base, v->len);
	if (v->mode == VIEW_MODE_KERNEL && v->dev_offset) {
		struct cxlms_ioc_view_destroy d = {
			.size = sizeof(d), .offset = v->dev_offset,
		};

		cxlms_kernel_ioctl(v->s->fd, CXLMS_CMD_VIEW_DESTROY, &d);
	}
	if (v->scratch)
		munmap(v->scratch, v->max_unit);
	for (i = 0; i < v->n_secs; i++)
		free(v->secs[i].filled);
	free(v->secs);
	free(v->units);
	free(v->tile_buf);
	pthread_mutex_destroy(&v->lock);
	cxlms_store_unref(v->s);
	free(v);
}

/* The tensors of the view, their sections and the units. */
static int view_setup(struct cxlms_view *v, struct cxlms_tensor *only)
{
	struct cxlms_store *s = v->s;
	unsigned int i, n = only ? 1 : s->n_tensors;
	uint64_t off = 0;
	int rc;

	v->secs = calloc(n, sizeof(*v->secs));
	if (!v->secs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct cxlms_tensor *t = only ? only : &s->tensors[i];
		struct vsec *sec = &v->secs[v->n_secs];
		int64_t tb;

		sec->t = t;
		rc = cxlms_view_sec_init(&t->d, v->layout, v->bits, v->recon,
					 off, &sec->vs);
		if (rc) {
			if (only)
				return rc;
			continue;	/* the store's view leaves it out */
		}
		off += sec->vs.len;
		sec->filled = calloc(t->d.n_tiles, 1);
		if (!sec->filled)
			return -ENOMEM;
		tb = cxlms_fetch_size(t, 0, 1, sec->vs.bits, sec->vs.out, v->recon);
		if (tb < 0)
			return (int)tb;
		if ((size_t)tb > v->tile_buf_len)
			v->tile_buf_len = (size_t)tb;
		v->n_secs++;
	}
	if (!v->n_secs)
		return -EOPNOTSUPP;
	v->len = off;
	v->tile_buf = malloc(v->tile_buf_len);
	if (!v->tile_buf)
		return -ENOMEM;
	return build_units(v);
}

/* Section @ks of the module: the codec's section of that tensor, or -EPROTO. */
static int kernel_sec(struct cxlms_view *v, const struct cxlms_ioc_view_section *ks,
		      struct vsec *sec)
{
	struct cxlms_store *s = v->s;
	const struct cxlms_view_sec *vs = &sec->vs;
	int rc;

	if (ks->tensor >= s->n_tensors)
		goto bad;
	sec->t = &s->tensors[ks->tensor];
	rc = cxlms_view_sec_init(&sec->t->d, v->layout, v->bits, v->recon,
				 ks->off, &sec->vs);
	if (rc)
		goto bad;
	if (ks->len != vs->len || ks->tile_stride != vs->tile_stride ||
	    ks->data_off != vs->data_off || ks->data_len != vs->data_len ||
	    ks->scales_off != vs->scales_off || ks->scales_len != vs->scales_len)
		goto bad;
	return 0;	/* no @filled: the module keeps what it decoded */
bad:
	cxlms_err(s->ctx, "%s: VIEW_CREATE section of tensor %u differs from the view layout this library knows",
		  s->path, ks->tensor);
	return -EPROTO;
}

/* Kernel backend: VIEW_CREATE, the sections checked, the device mmapped. */
static int kernel_map(struct cxlms_view *v, struct cxlms_tensor *t, bool eager)
{
	struct cxlms_store *s = v->s;
	unsigned int n = t ? 1 : s->n_tensors, i;
	struct cxlms_ioc_view_section *ks;
	struct cxlms_ioc_view_create c = {
		.size = sizeof(c), .tensor = t ? t->index : CXLMS_TENSOR_ALL,
		.layout = v->layout, .bits = v->bits, .recon = v->recon,
		.sec_count = n, .sec_size = sizeof(*ks),
	};
	void *p;
	int rc;

	v->mode = VIEW_MODE_KERNEL;
	ks = calloc(n ? n : 1, sizeof(*ks));
	v->secs = calloc(n ? n : 1, sizeof(*v->secs));
	if (!ks || !v->secs) {
		rc = -ENOMEM;
		goto out;
	}
	c.sections = (uintptr_t)ks;
	rc = cxlms_kernel_ioctl(s->fd, CXLMS_CMD_VIEW_CREATE, &c);
	if (rc == -ENOTTY) {
		cxlms_err(s->ctx, "%s: the module has no views (ABI revision 4 adds them)",
			  s->path);
		rc = -EOPNOTSUPP;
	}
	if (rc)
		goto out;
	v->dev_offset = c.offset;
	v->len = c.length;
	/* The store cannot change under an open handle: all sections fit. */
	if (c.sec_total > n) {
		cxlms_err(s->ctx, "%s: VIEW_CREATE reports %u sections for %u tensors",
			  s->path, c.sec_total, n);
		rc = -EPROTO;
		goto out;
	}
	for (i = 0; i < c.sec_total; i++) {
		rc = kernel_sec(v, &ks[i], &v->secs[i]);
		if (rc)
			goto out;
		v->n_secs++;
	}
	/* EAGER: every page decoded now (the module's faults, populated). */
	p = mmap(NULL, v->len, PROT_READ,
		 MAP_SHARED | (eager ? MAP_POPULATE : 0), s->fd, (off_t)c.offset);
	if (p == MAP_FAILED) {
		rc = -errno;
		cxlms_err(s->ctx, "%s: mmap of a %llu-byte view: %s", s->path,
			  (unsigned long long)v->len, cxlms_strerror(rc));
		goto out;
	}
	v->base = p;
out:
	free(ks);
	return rc;
}

int cxlms_view_map(struct cxlms_store *s, struct cxlms_tensor *t,
		   const struct cxlms_view_opts *o, struct cxlms_view **view)
{
	struct cxlms_view *v;
	int rc, uffd = -1;

	if (!s || !view || (t && t->store != s))
		return -EINVAL;
	rc = check_opts(o);
	if (rc)
		return rc;
	/* The layout's 4096-byte sections are served as whole pages. */
	if (sysconf(_SC_PAGESIZE) != VIEW_ALIGN)
		return -EOPNOTSUPP;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->s = cxlms_store_ref(s);
	v->layout = o->layout;
	v->bits = o->bits;
	v->recon = o->recon;
	v->uffd = v->stop_fd = -1;
	pthread_mutex_init(&v->lock, NULL);
	if (o->bits == CXLMS_BITS_POLICY) {
		uint8_t b;

		/* The policy's errors (no maps, unknown context) at map time. */
		rc = cxlms_policy_bits(s, t ? t->index : 0, 0, 1, &b, NULL);
		if (rc)
			goto err;
	}
	if (s->ops == &cxlms_kernel_backend) {
		rc = kernel_map(v, t, o->flags & CXLMS_VIEW_EAGER);
		if (rc)
			goto err;
		*view = v;
		return 0;
	}
	rc = view_setup(v, t);
	if (rc)
		goto err;

	if (!(o->flags & CXLMS_VIEW_EAGER)) {
		uffd = uffd_open();
		if (uffd < 0 && uffd != -EPERM && uffd != -ENOSYS &&
		    uffd != -EINVAL && uffd != -EOPNOTSUPP) {
			rc = uffd;
			goto err;
		}
		if (uffd < 0)
			cxlms_info(s->ctx, "%s: userfaultfd unavailable (%s): decoding the view eagerly",
				   s->path, cxlms_strerror(uffd));
	}
	if (uffd >= 0) {
		v->mode = VIEW_MODE_UFFD;
		v->base = mmap(NULL, v->len, PROT_READ,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (v->base == MAP_FAILED) {
			v->base = NULL;
			close(uffd);
			rc = -ENOMEM;
			goto err;
		}
		rc = start_uffd(v, uffd);
		if (rc)
			goto err;
	} else {
		v->mode = VIEW_MODE_EAGER;
		v->base = map_huge(v->len);
		if (!v->base) {
			rc = -ENOMEM;
			goto err;
		}
		rc = fill_all(v, v->base);
		if (!rc && mprotect(v->base, v->len, PROT_READ))
			rc = -errno;
		if (rc)
			goto err;
	}
	*view = v;
	return 0;
err:
	cxlms_view_unmap(v);
	return rc;
}

const void *cxlms_view_get_addr(struct cxlms_view *v)
{
	return v ? v->base : NULL;
}

uint64_t cxlms_view_get_size(struct cxlms_view *v)
{
	return v ? v->len : 0;
}

const char *cxlms_view_get_mode(struct cxlms_view *v)
{
	if (!v)
		return NULL;
	switch (v->mode) {
	case VIEW_MODE_UFFD:
		return "userfaultfd";
	case VIEW_MODE_EAGER:
		return "eager";
	default:
		return "kernel";
	}
}

static struct vsec *find_sec(struct cxlms_view *v, struct cxlms_tensor *t)
{
	unsigned int i;

	for (i = 0; v && t && i < v->n_secs; i++)
		if (v->secs[i].t == t)
			return &v->secs[i];
	return NULL;
}

int cxlms_view_get_tensor(struct cxlms_view *v, struct cxlms_tensor *t,
			  struct cxlms_view_tensor *info)
{
	struct vsec *sec = find_sec(v, t);

	if (!sec)
		return -ENOENT;
	if (info)
		*info = (struct cxlms_view_tensor){
			.off = sec->vs.off, .len = sec->vs.len,
			.tile_stride = sec->vs.tile_stride,
			.data_off = sec->vs.data_off, .data_len = sec->vs.data_len,
			.scales_off = sec->vs.scales_off,
			.scales_len = sec->vs.scales_len,
		};
	return 0;
}

int cxlms_view_get_tile_bits(struct cxlms_view *v, struct cxlms_tensor *t,
			     unsigned int tile)
{
	struct vsec *sec = find_sec(v, t);
	uint8_t b;
	int rc;

	if (!sec)
		return -ENOENT;
	if (tile >= t->d.n_tiles)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	/* Kernel: the module follows the maps, so the bits now are the bits. */
	b = sec->filled ? sec->filled[tile] : 0;
	rc = b ? 0 : resolve_bits(v, sec, tile, tile + 1, &b);
	pthread_mutex_unlock(&v->lock);
	return rc ? rc : b;
}

int cxlms_view_get_error(struct cxlms_view *v)
{
	int rc;

	if (!v)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	rc = v->err;
	pthread_mutex_unlock(&v->lock);
	return rc;
}

int cxlms_view_refresh(struct cxlms_view *v)
{
	unsigned int i, j, dropped = 0;
	uint8_t *now = NULL;
	size_t now_len = 0;
	int rc = 0;

	if (!v)
		return -EINVAL;
	/* The module drops changed units itself at SET_MAP / SET_CONTEXT. */
	if (v->bits != CXLMS_BITS_POLICY || v->mode == VIEW_MODE_KERNEL)
		return 0;
	pthread_mutex_lock(&v->lock);
	for (i = 0; i < v->n_units && !rc; i++) {
		struct vunit *u = &v->units[i];
		struct vsec *sec = &v->secs[u->sec];
		unsigned int n = u->t1 - u->t0;
		bool same = true;

		if (!u->present || !n)
			continue;
		if (n > now_len) {
			uint8_t *p = realloc(now, n);

			if (!p) {
				rc = -ENOMEM;
				break;
			}
			now = p;
			now_len = n;
		}
		rc = resolve_bits(v, sec, u->t0, u->t1, now);
		if (rc)
			break;
		for (j = 0; j < n; j++)
			same &= now[j] == sec->filled[u->t0 + j];
		if (same)
			continue;
		if (v->mode == VIEW_MODE_UFFD) {
			if (madvise(v->base + u->lo, u->hi - u->lo, MADV_DONTNEED)) {
				rc = -errno;
				break;
			}
			u->present = false;
			memset(sec->filled + u->t0, 0, n);
		} else {
			rc = eager_replace(v, u);
			if (rc)
				break;
		}
		dropped += n;
	}
	pthread_mutex_unlock(&v->lock);
	free(now);
	return rc ? rc : (int)dropped;
}
