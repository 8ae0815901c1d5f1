// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms view tests (ABI revision 4, CXLMS_CAP_VIEWS, issue 14): mmap of
 * /dev/cxlms0 at a VIEW_CREATE offset.
 *
 * The expected bytes of every view are built here from FETCH output and the
 * layout formulas of docs/format.md section 7 ("Views"),
 * never from codec/view_layout.c, so a module that places bytes wrongly
 * fails.  What is checked:
 *   - every tensor (INT8 groups of 32 and 128, BF16, FP16, a short last tile,
 *     tiles smaller than a page sharing fill units, tiles of whole pages),
 *     every layout it has, every k (a subset for 16-bit), several recons:
 *     bytes through the mapping, the sections VIEW_CREATE reports;
 *   - whole-store views (CXLMS_TENSOR_ALL): which tensors, sections, bytes;
 *   - STATS: plane bytes of a scan equal a FETCH of the same tiles at k,
 *     planes >= k untouched; view_faults / view_fills / view_pages;
 *   - reclaim through drop_caches, mincore, re-scan;
 *   - CXLMS_BITS_POLICY views following SET_MAP and SET_CONTEXT, only the
 *     changed units decoded again;
 *   - lifetime: munmap, close, fork, SIGKILL, DETACH, VIEW_DESTROY, SIGBUS
 *     on an injected media error;
 *   - every refusal of VIEW_CREATE, VIEW_DESTROY, mmap, mprotect, mremap,
 *     and 200 random (offset, length) mmaps.
 * Prints "# faults per MiB: N" (view_faults per MiB scanned cold).
 *
 * Uses the attached store, or a RAM store of its own (needed by the cases
 * that DETACH or need "no maps yet").  Exits KSFT_SKIP (4) when the module
 * has no CXLMS_CAP_VIEWS.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "cxlms_util.h"

#define PAGE		4096ull
#define MIB		(1ull << 20)
#define TEST_RAM_BYTES	(32ull << 20)
#define FBUF_BYTES	(4u << 20)
/* Whole-store views of a shared store larger than this are not checked. */
#define EXPECT_MAX	(64ull << 20)
#define DBG_DIR		"/sys/kernel/debug/cxlms"
#define N_CTX		2

/* --- the test tensors ---------------------------------------------------- */

enum { T_I8S, T_I8P, T_BF, T_FP, T_SHORT, N_T };

static const struct tspec {
	const char *tag;
	uint32_t fmt, group, tile_rows, flags;
	uint64_t shape[2];
} specs[N_T] = {
	/* INT8 groups of 32, tiles of 3 x 100: 300-byte tiles share one unit */
	[T_I8S] = { "i8s", CXLMS_FMT_INT8, 32, 3, 0, { 37, 100 } },
	/* INT8 groups of 128, tiles of 16 x 512 = 2 pages, last 8 rows */
	[T_I8P] = { "i8p", CXLMS_FMT_INT8, 128, 16, 0, { 72, 512 } },
	/* BF16, tiles of 2 x 384: 1536 bytes of u16, units of 8 tiles */
	[T_BF] = { "bf", CXLMS_FMT_BF16, 0, 2, 0, { 30, 384 } },
	/* FP16, tiles of 2 x 2048 = 2 pages of u16, last 1 row */
	[T_FP] = { "fp", CXLMS_FMT_FP16, 0, 2, 0, { 9, 2048 } },
	/* INT8 with a short last tile (10 of 30 rows) */
	[T_SHORT] = { "short", CXLMS_FMT_INT8, 32, 30, CXLMS_CREATE_SHORT_TAIL, { 70, 96 } },
};

static uint64_t up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t r = a % b;

		a = b;
		b = r;
	}
	return a;
}

static int tensor_info(int fd, uint32_t index, struct cxlms_ioc_tensor_info *ti)
{
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl), .first = index, .count = 1,
		.entry_size = sizeof(*ti), .entries = (uintptr_t)ti,
	};
	int ret = cxt_ioctl(fd, CXLMS_IOC_TENSOR_LIST, &tl);

	return ret ? ret : tl.count == 1 ? 0 : -ENOENT;
}

/* The whole directory; *@ti malloc'ed. */
static int list_dir(int fd, struct cxlms_ioc_tensor_info **ti, uint32_t *n)
{
	struct cxlms_ioc_tensor_list tl = { .size = sizeof(tl) };
	int ret = cxt_ioctl(fd, CXLMS_IOC_TENSOR_LIST, &tl);

	*ti = NULL;
	*n = 0;
	if (ret)
		return ret;
	*ti = calloc(tl.total + 1, sizeof(**ti));
	if (!*ti)
		return -ENOMEM;
	tl.count = tl.total;
	tl.entry_size = sizeof(**ti);
	tl.entries = (uintptr_t)*ti;
	ret = cxt_ioctl(fd, CXLMS_IOC_TENSOR_LIST, &tl);
	*n = tl.count;
	return ret;
}

/* CREATE (with @flags), TILE_WRITE of every tile, SEAL unless !seal. */
static int upload(int fd, struct cxt_tensor *t, uint32_t flags, bool seal,
		  struct cxlms_ioc_tensor_info *ti)
{
	uint32_t i;
	int ret;

	t->create_flags = flags;
	ret = cxt_tensor_create(fd, t);
	for (i = 0; !ret && i < t->n_tiles; i++)
		ret = cxt_tile_write(fd, t, i);
	if (!ret && seal)
		ret = cxt_seal(fd, t->index);
	return ret ? ret : tensor_info(fd, t->index, ti);
}

/* --- the layout, from docs/format.md "Views" ----------------------------- */

static bool layout_fits(uint32_t layout, uint32_t fmt)
{
	switch (layout) {
	case CXLMS_VIEW_PACKED:
		return true;
	case CXLMS_VIEW_INT8:
		return fmt == CXLMS_FMT_INT8;
	case CXLMS_VIEW_INT16:
		return fmt == CXLMS_FMT_BF16 || fmt == CXLMS_FMT_FP16;
	}
	return false;
}

/* The lowest k a layout serves: INT16 needs the sign and the exponent. */
static uint32_t min_bits(uint32_t layout, uint32_t fmt)
{
	if (layout == CXLMS_VIEW_INT16)
		return fmt == CXLMS_FMT_BF16 ? 9 : 6;
	return 1;
}

static uint32_t clamp_bits(uint32_t layout, const struct cxlms_ioc_tensor_info *ti,
			   uint32_t k)
{
	uint32_t lo = min_bits(layout, ti->fmt);

	return k < lo ? lo : k > ti->planes ? ti->planes : k;
}

static bool serves(uint32_t layout, uint32_t bits, const struct cxlms_ioc_tensor_info *ti)
{
	if (!(ti->flags & CXLMS_TENSOR_SEALED) || !layout_fits(layout, ti->fmt))
		return false;
	return bits == CXLMS_BITS_POLICY ||
	       (bits >= min_bits(layout, ti->fmt) && bits <= ti->planes);
}

static uint32_t rows_of(const struct cxlms_ioc_tensor_info *ti, uint32_t tile)
{
	uint64_t first = (uint64_t)tile * ti->tile_rows, rows = ti->rows - first;

	return (uint32_t)(rows < ti->tile_rows ? rows : ti->tile_rows);
}

static uint64_t gpr_of(const struct cxlms_ioc_tensor_info *ti)
{
	return ti->fmt == CXLMS_FMT_INT8 ?
	       (ti->cols + ti->group_size - 1) / ti->group_size : 0;
}

static uint32_t width_of(uint32_t layout)
{
	return layout == CXLMS_VIEW_INT16 ? 2 : layout == CXLMS_VIEW_INT8 ? 1 : 0;
}

/* One section as the docs place it (view offsets). */
struct esec {
	struct cxlms_ioc_tensor_info ti;
	uint64_t off, len, stride, data_off, data_len, scales_off, scales_len;
	uint8_t *bits;		/* per tile, the k it is decoded at */
};

struct eview {
	uint32_t layout, bits, recon, n;
	struct esec *sec;
	uint64_t len;
	uint8_t *bytes;
};

static void eview_free(struct eview *ev)
{
	uint32_t i;

	for (i = 0; i < ev->n; i++)
		free(ev->sec[i].bits);
	free(ev->sec);
	free(ev->bytes);
	memset(ev, 0, sizeof(*ev));
}

/* The bits of @fd's context for every tile of @ti (GET_MAP). */
static int map_bits(int fd, const struct cxlms_ioc_tensor_info *ti, uint8_t *bits)
{
	struct cxlms_ioc_get_map g = {
		.size = sizeof(g), .tensor = ti->index, .tile_count = ti->n_tiles,
		.bits = (uintptr_t)bits,
	};

	return cxt_ioctl(fd, CXLMS_IOC_GET_MAP, &g);
}

/*
 * Section geometry at view offset @off.  PACKED: stride = align4096 of the
 * PACKED FETCH of tile 0 at k (at planes for a policy view).  INT8: s8
 * elements, scales at align4096(rows * cols).  INT16: u16 elements.
 */
static int sec_geom(int fd, uint32_t layout, uint32_t bits, uint32_t recon,
		    uint64_t off, struct esec *s, uint8_t *fbuf)
{
	uint64_t w = 0;
	int ret;

	s->off = off;
	s->data_off = off;
	if (layout == CXLMS_VIEW_PACKED) {
		ret = cxt_fetch(fd, s->ti.index, 0, 1,
				bits == CXLMS_BITS_POLICY ? s->ti.planes : bits,
				CXLMS_OUT_PACKED, recon, fbuf, FBUF_BYTES, &w, NULL);
		if (ret)
			return ret;
		s->stride = up(w, PAGE);
		s->len = s->stride * s->ti.n_tiles;
		return 0;
	}
	s->data_len = s->ti.rows * s->ti.cols * width_of(layout);
	s->len = up(s->data_len, PAGE);
	if (layout == CXLMS_VIEW_INT8) {
		s->scales_off = off + s->len;
		s->scales_len = s->ti.rows * gpr_of(&s->ti) * 2;
		s->len = up(s->len + s->scales_len, PAGE);
	}
	return 0;
}

/* Each tile's FETCH output at its bits, placed in @view (indexed by view offset). */
static int sec_fill(int fd, uint32_t layout, uint32_t recon, const struct esec *s,
		    uint8_t *view, uint8_t *fbuf)
{
	const struct cxlms_ioc_tensor_info *ti = &s->ti;
	uint32_t tile, wd = width_of(layout);
	uint64_t row0 = 0, gpr = gpr_of(ti);

	for (tile = 0; tile < ti->n_tiles; tile++) {
		uint64_t n = (uint64_t)rows_of(ti, tile) * ti->cols, w = 0;
		uint32_t out = layout == CXLMS_VIEW_PACKED ? CXLMS_OUT_PACKED : CXLMS_OUT_INT;
		int ret = cxt_fetch(fd, ti->index, tile, 1, s->bits[tile], out, recon,
				    fbuf, FBUF_BYTES, &w, NULL);

		if (ret)
			return ret;
		if (layout == CXLMS_VIEW_PACKED) {
			if (w > s->stride)
				return -EOVERFLOW;
			memcpy(view + s->off + tile * s->stride, fbuf, w);
		} else {
			memcpy(view + s->data_off + row0 * ti->cols * wd, fbuf, n * wd);
			if (layout == CXLMS_VIEW_INT8) {
				/* INT output: codes, then the scales at align64(n) */
				uint64_t sl = (uint64_t)rows_of(ti, tile) * gpr * 2;

				if (w < up(n, 64) + sl)
					return -EMSGSIZE;
				memcpy(view + s->scales_off + row0 * gpr * 2,
				       fbuf + up(n, 64), sl);
			}
		}
		row0 += rows_of(ti, tile);
	}
	return 0;
}

/*
 * The expected view of @tensor (or CXLMS_TENSOR_ALL: every sealed tensor
 * the layout and bits serve, index order) as @fd would create it.
 * -EOPNOTSUPP when no tensor is served, -EFBIG past EXPECT_MAX.
 */
static int expect_view(int fd, uint32_t tensor, uint32_t layout, uint32_t bits,
		       uint32_t recon, struct eview *ev, uint8_t *fbuf)
{
	struct cxlms_ioc_tensor_info *dir = NULL, one;
	uint32_t n = 0, i, t;
	int ret;

	memset(ev, 0, sizeof(*ev));
	ev->layout = layout;
	ev->bits = bits;
	ev->recon = recon;
	if (tensor == CXLMS_TENSOR_ALL) {
		ret = list_dir(fd, &dir, &n);
	} else {
		ret = tensor_info(fd, tensor, &one);
		dir = &one;
		n = 1;
	}
	if (ret)
		goto out;
	ev->sec = calloc(n ? n : 1, sizeof(*ev->sec));
	ret = -ENOMEM;
	if (!ev->sec)
		goto out;
	for (i = 0; i < n; i++) {
		struct esec *s = &ev->sec[ev->n];

		if (!serves(layout, bits, &dir[i]))
			continue;
		s->ti = dir[i];
		s->bits = malloc(dir[i].n_tiles);
		if (!s->bits)
			goto out;
		ev->n++;
		if (bits == CXLMS_BITS_POLICY) {
			ret = map_bits(fd, &s->ti, s->bits);
			if (ret)
				goto out;
			for (t = 0; t < s->ti.n_tiles; t++)
				s->bits[t] = (uint8_t)clamp_bits(layout, &s->ti, s->bits[t]);
		} else {
			memset(s->bits, (int)bits, s->ti.n_tiles);
		}
		ret = sec_geom(fd, layout, bits, recon, ev->len, s, fbuf);
		if (ret)
			goto out;
		ev->len += s->len;
	}
	ret = -EOPNOTSUPP;
	if (!ev->n)
		goto out;
	ret = -EFBIG;
	if (ev->len > EXPECT_MAX)
		goto out;
	ret = -ENOMEM;
	ev->bytes = calloc(1, ev->len);
	if (!ev->bytes)
		goto out;
	for (i = 0; i < ev->n; i++) {
		ret = sec_fill(fd, layout, recon, &ev->sec[i], ev->bytes, fbuf);
		if (ret)
			goto out;
	}
	ret = 0;
out:
	if (dir != &one)
		free(dir);
	return ret;
}

/* Fill units of a section holding tiles (design.md "Filling"). */
static uint32_t unit_of(const struct esec *s, uint32_t layout, uint32_t tile)
{
	uint64_t tb, m;

	if (layout == CXLMS_VIEW_PACKED)
		return tile;
	tb = (uint64_t)s->ti.tile_rows * s->ti.cols * width_of(layout);
	m = PAGE / gcd64(tb, PAGE);
	return (uint32_t)(tile / m);
}

static uint32_t units_of(const struct esec *s, uint32_t layout)
{
	return unit_of(s, layout, s->ti.n_tiles - 1) + 1;
}

/* A bits-independent unit after the elements' last page (INT8 scales). */
static bool rest_unit(const struct esec *s, uint32_t layout)
{
	return layout != CXLMS_VIEW_PACKED && s->data_len % PAGE == 0 &&
	       s->len > s->data_len;
}

/* --- ioctls ------------------------------------------------------------- */

static struct cxlms_ioc_view_create vc_req(uint32_t tensor, uint32_t layout,
					   uint32_t bits, uint32_t recon,
					   struct cxlms_ioc_view_section *secs,
					   uint32_t n)
{
	struct cxlms_ioc_view_create vc = {
		.size = sizeof(vc), .tensor = tensor, .layout = layout,
		.bits = bits, .recon = recon, .sec_count = n,
		.sec_size = n ? sizeof(*secs) : 0, .sections = (uintptr_t)secs,
	};

	return vc;
}

static int vcreate(int fd, struct cxlms_ioc_view_create *vc)
{
	return cxt_ioctl(fd, CXLMS_IOC_VIEW_CREATE, vc);
}

static int view_create(int fd, uint32_t tensor, uint32_t layout, uint32_t bits,
		       uint32_t recon, struct cxlms_ioc_view_create *vc)
{
	*vc = vc_req(tensor, layout, bits, recon, NULL, 0);
	return vcreate(fd, vc);
}

static int view_destroy(int fd, uint64_t offset)
{
	struct cxlms_ioc_view_destroy d = { .size = sizeof(d), .offset = offset };

	return cxt_ioctl(fd, CXLMS_IOC_VIEW_DESTROY, &d);
}

/* mmap of a view range: the mapping, or NULL with errno set. */
static uint8_t *vmap(int fd, uint64_t off, uint64_t len)
{
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

struct vstat {
	uint64_t faults, fills, pages, media;
};

static struct vstat vstats(int fd)
{
	struct cxlms_ioc_stats st;
	struct vstat v = { 0 };

	if (!cxt_stats(fd, CXLMS_TENSOR_ALL, 0, &st)) {
		v.faults = st.view_faults;
		v.fills = st.view_fills;
		v.pages = st.view_pages;
		v.media = st.media_errors;
	}
	return v;
}

/*
 * @got (the mapping of view bytes [@from, @from + @n)) equals the expected
 * view; on a difference log where it is.
 */
static bool same_bytes(struct __test_metadata *_metadata, const uint8_t *got,
		       const struct eview *ev, uint64_t from, uint64_t n,
		       const char *what)
{
	const uint8_t *want = ev->bytes + from;
	uint64_t i, bad = 0, first = 0;
	uint32_t s;

	if (!memcmp(got, want, n))
		return true;
	for (i = 0; i < n; i++)
		if (got[i] != want[i] && !bad++)
			first = i;
	i = from + first;
	for (s = 0; s < ev->n && i >= ev->sec[s].off + ev->sec[s].len; s++)
		;
	TH_LOG("%s: %llu bytes differ, first at view offset %#llx (tensor %u '%s', +%#llx in its section): got %#x, want %#x",
	       what, (unsigned long long)bad, (unsigned long long)i,
	       s < ev->n ? ev->sec[s].ti.index : ~0u,
	       s < ev->n ? ev->sec[s].ti.name : "?",
	       s < ev->n ? (unsigned long long)(i - ev->sec[s].off) : 0ull,
	       got[first], want[first]);
	return false;
}

/* VIEW_CREATE's outputs against the expected sections. */
static bool same_sections(struct __test_metadata *_metadata,
			  const struct cxlms_ioc_view_create *vc,
			  const struct cxlms_ioc_view_section *got, uint32_t room,
			  const struct eview *ev)
{
	uint32_t i, n = ev->n < room ? ev->n : room;
	bool ok = true;

#define SEC_EQ(want, have) do {						\
		if ((uint64_t)(want) != (uint64_t)(have)) {		\
			TH_LOG("section %u (tensor %u): " #have " is %llu, want %llu", \
			       i, ev->sec[i].ti.index,			\
			       (unsigned long long)(have),		\
			       (unsigned long long)(want));		\
			ok = false;					\
		}							\
	} while (0)
	if (vc->sec_total != ev->n || vc->sec_count != n || vc->length != ev->len ||
	    !vc->offset || vc->offset % PAGE || vc->length % PAGE) {
		TH_LOG("view: sec_total %u sec_count %u length %llu offset %#llx, want %u %u %llu (offset page aligned, not 0)",
		       vc->sec_total, vc->sec_count, (unsigned long long)vc->length,
		       (unsigned long long)vc->offset, ev->n, n,
		       (unsigned long long)ev->len);
		return false;
	}
	for (i = 0; i < n; i++) {
		const struct esec *s = &ev->sec[i];

		SEC_EQ(s->ti.index, got[i].tensor);
		SEC_EQ(0, got[i].pad);
		SEC_EQ(s->off, got[i].off);
		SEC_EQ(s->len, got[i].len);
		SEC_EQ(s->stride, got[i].tile_stride);
		SEC_EQ(s->data_len, got[i].data_len);
		SEC_EQ(s->scales_len, got[i].scales_len);
		if (ev->layout != CXLMS_VIEW_PACKED)
			SEC_EQ(s->data_off, got[i].data_off);
		if (ev->layout == CXLMS_VIEW_INT8)
			SEC_EQ(s->scales_off, got[i].scales_off);
	}
#undef SEC_EQ
	return ok;
}

/* --- debugfs, maps, signals --------------------------------------------- */

static int inject(unsigned int n)
{
	char s[16];
	int fd = open(DBG_DIR "/inject_media_error", O_WRONLY), len, ok;

	if (fd < 0 && errno == ENOENT) {
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
		fd = open(DBG_DIR "/inject_media_error", O_WRONLY);
	}
	if (fd < 0)
		return -errno;
	len = snprintf(s, sizeof(s), "%u\n", n);
	ok = write(fd, s, len) == len;
	close(fd);
	return ok ? 0 : -EIO;
}

static int drop_caches(const char *how)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY), ok;

	if (fd < 0)
		return -errno;
	sync();
	ok = write(fd, how, strlen(how)) == (ssize_t)strlen(how);
	close(fd);
	return ok ? 0 : -EIO;
}

/* Pages of [p, p + len) with a present page table entry. */
static long resident(const uint8_t *p, uint64_t len)
{
	size_t n = len / PAGE, i;
	unsigned char *vec = malloc(n);
	long r = 0;

	if (!vec || mincore((void *)p, len, vec)) {
		free(vec);
		return -1;
	}
	for (i = 0; i < n; i++)
		r += vec[i] & 1;
	free(vec);
	return r;
}

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_seen;

static void on_sigbus(int sig)
{
	(void)sig;
	bus_seen++;
	siglongjmp(bus_jmp, 1);
}

/* Load one byte of @p; 0 and the byte, or -EFAULT after a SIGBUS. */
static int load_byte(const volatile uint8_t *p, uint8_t *v)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	int ret = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_jmp, 1))
		ret = -EFAULT;
	else
		*v = *p;
	sigaction(SIGBUS, &old, NULL);
	return ret;
}

/* --- the fixture ---------------------------------------------------------- */

static unsigned long long fault_total, fault_bytes;

FIXTURE(view) {
	int fd;
	bool own_store;
	struct cxlms_ioc_query q;
	struct cxt_tensor t[N_T];
	struct cxlms_ioc_tensor_info ti[N_T];
	uint8_t *fbuf;
	/* precision maps: the directory, N_CTX maps of n_tiles */
	uint32_t n_tensors, n_tiles;
	uint32_t *dtiles, *dplanes, *dbase;
	struct cxlms_ioc_map_context ctx[N_CTX];
	uint8_t *maps;
};

static int setup_store(FIXTURE_DATA(view) *self)
{
	int ret = cxt_query(self->fd, &self->q);

	self->own_store = false;
	if (ret || (self->q.state & CXLMS_STATE_ATTACHED))
		return ret;
	ret = cxt_attach_ram(self->fd, TEST_RAM_BYTES, 0);
	self->own_store = !ret;
	return ret ? ret : cxt_query(self->fd, &self->q);
}

FIXTURE_SETUP(view)
{
	char name[64];
	int i;

	self->fd = cxt_open();
	if (self->fd < 0)
		SKIP(_exit(255), CXLMS_NO_DEV_REASON);
	ASSERT_EQ(0, cxt_query(self->fd, &self->q));
	if (!(self->q.caps & CXLMS_CAP_VIEWS))
		SKIP(_exit(255), "module without CXLMS_CAP_VIEWS");
	ASSERT_LE(4u, self->q.abi_revision);
	ASSERT_EQ(PAGE, (uint64_t)sysconf(_SC_PAGESIZE));
	ASSERT_EQ(0, setup_store(self));
	for (i = 0; i < N_T; i++) {
		const struct tspec *sp = &specs[i];

		if ((sp->flags & CXLMS_CREATE_SHORT_TAIL) &&
		    !(self->q.caps & CXLMS_CAP_SHORT_TAIL))
			continue;	/* created without: still a ragged tail */
		cxt_name(name, sizeof(name), sp->tag);
		ASSERT_EQ(0, cxt_tensor_gen(&self->t[i], name, sp->fmt, 2, sp->shape,
					    sp->group, self->q.default_group,
					    sp->tile_rows, 0x71e3 + i));
		ASSERT_EQ(0, upload(self->fd, &self->t[i],
				    self->q.caps & CXLMS_CAP_SHORT_TAIL ? sp->flags : 0,
				    true, &self->ti[i]));
	}
	for (i = 0; i < N_T; i++)
		if (!self->t[i].data) {
			cxt_name(name, sizeof(name), specs[i].tag);
			ASSERT_EQ(0, cxt_tensor_gen(&self->t[i], name, specs[i].fmt, 2,
						    specs[i].shape, specs[i].group,
						    self->q.default_group,
						    specs[i].tile_rows, 0x71e3 + i));
			ASSERT_EQ(0, upload(self->fd, &self->t[i], 0, true, &self->ti[i]));
		}
	ASSERT_EQ(13u, self->ti[T_I8S].n_tiles);
	ASSERT_EQ(5u, self->ti[T_I8P].n_tiles);
	ASSERT_EQ(15u, self->ti[T_BF].n_tiles);
	ASSERT_EQ(5u, self->ti[T_FP].n_tiles);
	ASSERT_EQ(3u, self->ti[T_SHORT].n_tiles);
	self->fbuf = malloc(FBUF_BYTES);
	ASSERT_NE(NULL, self->fbuf);
}

FIXTURE_TEARDOWN(view)
{
	int i;

	for (i = 0; i < N_T; i++)
		cxt_tensor_free(&self->t[i]);
	free(self->fbuf);
	free(self->maps);
	free(self->dtiles);
	free(self->dplanes);
	free(self->dbase);
	if (self->own_store)
		cxt_detach(self->fd);
	close(self->fd);
}

/* Map, scan and compare the whole view; counts faults for the figure. */
static void check_view(struct __test_metadata *_metadata, FIXTURE_DATA(view) *self,
		       uint32_t tensor, uint32_t layout, uint32_t bits, uint32_t recon,
		       bool count)
{
	struct cxlms_ioc_view_section secs[8];
	struct cxlms_ioc_view_create vc = vc_req(tensor, layout, bits, recon, secs, 8);
	struct vstat s0, s1;
	struct eview ev;
	uint64_t units = 0, rest = 0;
	uint8_t *p;
	uint32_t i;
	int ret;

	ret = expect_view(self->fd, tensor, layout, bits, recon, &ev, self->fbuf);
	ASSERT_EQ(0, ret) TH_LOG("tensor %u layout %u bits %u recon %u", tensor,
				 layout, bits, recon);
	ASSERT_EQ(0, vcreate(self->fd, &vc))
		TH_LOG("tensor %u layout %u bits %u recon %u", tensor, layout, bits, recon);
	EXPECT_TRUE(same_sections(_metadata, &vc, secs, 8, &ev))
		TH_LOG("tensor %u layout %u bits %u", tensor, layout, bits);
	for (i = 0; i < ev.n; i++) {
		units += units_of(&ev.sec[i], layout);
		rest += rest_unit(&ev.sec[i], layout);
	}
	s0 = vstats(self->fd);
	p = vmap(self->fd, vc.offset, vc.length);
	ASSERT_NE(NULL, p) TH_LOG("mmap: %s", strerror(errno));
	EXPECT_TRUE(same_bytes(_metadata, p, &ev, 0, ev.len, "scan"))
		TH_LOG("tensor %u layout %u bits %u recon %u", tensor, layout, bits, recon);
	s1 = vstats(self->fd);
	/*
	 * Each unit is decoded once; a fault maps its unit and may fill
	 * whole units after it (fault-around), so faults <= fills.
	 */
	EXPECT_LE(units, s1.fills - s0.fills);
	EXPECT_GE(units + rest, s1.fills - s0.fills);
	EXPECT_LE(1ull, s1.faults - s0.faults);
	EXPECT_GE(s1.fills - s0.fills, s1.faults - s0.faults);
	EXPECT_LE(vc.length / PAGE, s1.pages - s0.pages + (s0.pages > s1.pages ? 0 : 0));
	if (count) {
		fault_total += s1.faults - s0.faults;
		fault_bytes += vc.length;
	}
	EXPECT_EQ(0, munmap(p, vc.length));
	EXPECT_EQ(0, view_destroy(self->fd, vc.offset));
	eview_free(&ev);
}

/* The k each layout is checked at for @ti. */
static uint32_t ks_of(const struct cxlms_ioc_tensor_info *ti, uint32_t layout,
		      uint32_t *ks)
{
	uint32_t n = 0, k, lo = min_bits(layout, ti->fmt);

	if (ti->planes == 8) {
		for (k = 1; k <= 8; k++)
			ks[n++] = k;
		return n;
	}
	if (layout == CXLMS_VIEW_PACKED) {
		ks[n++] = 1;
		ks[n++] = 3;
		ks[n++] = ti->fmt == CXLMS_FMT_BF16 ? 9 : 6;
		ks[n++] = 8;
	} else {
		ks[n++] = lo;
		ks[n++] = lo + 1;
	}
	ks[n++] = 12;
	ks[n++] = 16;
	return n;
}

/* --- bytes ----------------------------------------------------------------- */

TEST_F_TIMEOUT(view, every_tensor_layout_k, 600)
{
	static const uint32_t layouts[] = { CXLMS_VIEW_PACKED, CXLMS_VIEW_INT8,
					    CXLMS_VIEW_INT16 };
	unsigned int checked = 0;
	uint32_t i, l, j, n, ks[16];

	for (i = 0; i < N_T; i++)
	for (l = 0; l < ARRAY_SIZE(layouts); l++) {
		if (!layout_fits(layouts[l], self->ti[i].fmt))
			continue;
		n = ks_of(&self->ti[i], layouts[l], ks);
		for (j = 0; j < n; j++) {
			check_view(_metadata, self, self->ti[i].index, layouts[l], ks[j],
				   CXLMS_RECON_DEFAULT, true);
			checked++;
		}
	}
	TH_LOG("%u views byte-identical to their FETCH-built bytes", checked);
	if (fault_bytes)
		printf("# faults per MiB, small views (each < 1 MiB: at least one fault per view): %.1f (%llu faults, %.2f MiB scanned cold)\n",
		       fault_total / ((double)fault_bytes / MIB), fault_total,
		       (double)fault_bytes / MIB);
	fflush(stdout);
}

/* Every recon: the view serves it exactly when FETCH does, same bytes. */
TEST_F_TIMEOUT(view, recon_modes, 120)
{
	uint32_t i, r, l;

	for (i = 0; i < N_T; i++)
	for (l = CXLMS_VIEW_PACKED; l <= CXLMS_VIEW_INT16; l++)
	for (r = 0; r <= CXLMS_RECON_TABLE + 1; r++) {
		const struct cxlms_ioc_tensor_info *ti = &self->ti[i];
		uint32_t k = l == CXLMS_VIEW_INT16 ? min_bits(l, ti->fmt) + 2 : 5;
		uint32_t out = l == CXLMS_VIEW_PACKED ? CXLMS_OUT_PACKED : CXLMS_OUT_INT;
		struct cxlms_ioc_view_create vc;
		int want;

		if (!layout_fits(l, ti->fmt))
			continue;
		want = cxt_fetch(self->fd, ti->index, 0, 1, k, out, r, self->fbuf,
				 FBUF_BYTES, NULL, NULL);
		if (want) {
			EXPECT_EQ(want, view_create(self->fd, ti->index, l, k, r, &vc))
				TH_LOG("tensor %s layout %u recon %u", ti->name, l, r);
			continue;
		}
		check_view(_metadata, self, ti->index, l, k, r, false);
	}
}

/* The INT8 layout's scales are the scales TILE_WRITE stored. */
TEST_F(view, int8_scales_as_written)
{
	uint32_t ids[] = { T_I8S, T_I8P, T_SHORT }, i;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		const struct cxt_tensor *t = &self->t[ids[i]];
		struct cxlms_ioc_view_section sec;
		struct cxlms_ioc_view_create vc = vc_req(t->index, CXLMS_VIEW_INT8, 2, 0,
							 &sec, 1);
		uint64_t slen = t->rows * ((t->cols + t->g.group_size - 1) / t->g.group_size) * 2;
		uint8_t *p;

		ASSERT_EQ(0, vcreate(self->fd, &vc));
		ASSERT_EQ(slen, sec.scales_len);
		p = vmap(self->fd, vc.offset, vc.length);
		ASSERT_NE(NULL, p);
		EXPECT_EQ(0, memcmp(p + sec.scales_off - sec.off, t->scales, slen))
			TH_LOG("%s", t->name);
		/* and the s8 codes at 8 bits are the codes written */
		munmap(p, vc.length);
		view_destroy(self->fd, vc.offset);
		vc = vc_req(t->index, CXLMS_VIEW_INT8, 8, 0, &sec, 1);
		ASSERT_EQ(0, vcreate(self->fd, &vc));
		p = vmap(self->fd, vc.offset, vc.length);
		ASSERT_NE(NULL, p);
		EXPECT_EQ(0, memcmp(p, t->data, t->rows * t->cols)) TH_LOG("%s", t->name);
		munmap(p, vc.length);
		view_destroy(self->fd, vc.offset);
	}
}

/* A whole-store view: the tensors the layout and bits serve, in index order. */
TEST_F_TIMEOUT(view, whole_store, 300)
{
	static const struct { uint32_t layout, bits; } c[] = {
		{ CXLMS_VIEW_PACKED, 8 }, { CXLMS_VIEW_PACKED, 12 },
		{ CXLMS_VIEW_PACKED, 1 }, { CXLMS_VIEW_INT8, 4 },
		{ CXLMS_VIEW_INT8, 8 }, { CXLMS_VIEW_INT16, 7 },
		{ CXLMS_VIEW_INT16, 12 },
	};
	struct cxt_tensor uns = { 0 };
	struct cxlms_ioc_tensor_info uti;
	struct cxlms_ioc_view_section *secs;
	char name[64];
	uint32_t i, j, room = 4096;

	/* an unsealed tensor is never part of it */
	cxt_name(name, sizeof(name), "unsealed");
	ASSERT_EQ(0, cxt_tensor_gen(&uns, name, CXLMS_FMT_INT8, 2,
				    (const uint64_t[]){ 8, 64 }, 32,
				    self->q.default_group, 4, 5));
	ASSERT_EQ(0, upload(self->fd, &uns, 0, false, &uti));
	secs = calloc(room, sizeof(*secs));
	ASSERT_NE(NULL, secs);
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		struct cxlms_ioc_view_create vc = vc_req(CXLMS_TENSOR_ALL, c[i].layout,
							 c[i].bits, 0, secs, room);
		struct eview ev;
		bool mine[N_T] = { 0 };
		uint8_t *p;
		int ret = expect_view(self->fd, CXLMS_TENSOR_ALL, c[i].layout, c[i].bits,
				      0, &ev, self->fbuf);

		if (ret == -EFBIG) {
			TH_LOG("layout %u bits %u: shared store too large to check", c[i].layout,
			       c[i].bits);
			eview_free(&ev);
			continue;
		}
		ASSERT_EQ(0, ret);
		ASSERT_EQ(0, vcreate(self->fd, &vc)) TH_LOG("layout %u bits %u",
							    c[i].layout, c[i].bits);
		EXPECT_TRUE(same_sections(_metadata, &vc, secs, room, &ev))
			TH_LOG("layout %u bits %u", c[i].layout, c[i].bits);
		/* my tensors: in exactly when the documented rule says */
		for (j = 0; j < vc.sec_count && j < room; j++) {
			uint32_t t;

			EXPECT_NE(uti.index, secs[j].tensor);
			for (t = 0; t < N_T; t++)
				if (secs[j].tensor == self->ti[t].index)
					mine[t] = true;
			if (j)
				EXPECT_LT(secs[j - 1].tensor, secs[j].tensor);
		}
		for (j = 0; j < N_T; j++)
			EXPECT_EQ(serves(c[i].layout, c[i].bits, &self->ti[j]), mine[j])
				TH_LOG("layout %u bits %u tensor %s", c[i].layout, c[i].bits,
				       self->ti[j].name);
		p = vmap(self->fd, vc.offset, vc.length);
		ASSERT_NE(NULL, p);
		EXPECT_TRUE(same_bytes(_metadata, p, &ev, 0, ev.len, "whole store"))
			TH_LOG("layout %u bits %u", c[i].layout, c[i].bits);
		munmap(p, vc.length);
		EXPECT_EQ(0, view_destroy(self->fd, vc.offset));
		eview_free(&ev);
	}
	free(secs);
	cxt_tensor_free(&uns);
}

/* A whole-store view nothing is served in. */
TEST_F(view, whole_store_none)
{
	struct cxlms_ioc_view_create vc;

	/* INT16 at 3 bits: BF16 needs 9, FP16 6 */
	EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, CXLMS_TENSOR_ALL, CXLMS_VIEW_INT16,
					   3, 0, &vc));
	/* INT8 at 12 bits: INT8 has 8 planes */
	EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, CXLMS_TENSOR_ALL, CXLMS_VIEW_INT8,
					   12, 0, &vc));
	EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, CXLMS_TENSOR_ALL, CXLMS_VIEW_PACKED,
					   17, 0, &vc));
}

/* sec_count below sec_total: that many written, the total still reported. */
TEST_F(view, sections_two_calls)
{
	struct cxlms_ioc_view_section secs[3];
	struct cxlms_ioc_view_create vc = vc_req(CXLMS_TENSOR_ALL, CXLMS_VIEW_PACKED,
						 8, 0, NULL, 0);
	struct cxlms_ioc_view_create vc1;
	uint8_t ff[sizeof(secs[0])];

	ASSERT_EQ(0, vcreate(self->fd, &vc));
	EXPECT_GE(vc.sec_total, (uint32_t)N_T);
	EXPECT_EQ(0u, vc.sec_count);
	memset(secs, 0xa5, sizeof(secs));
	memset(ff, 0xa5, sizeof(ff));
	vc1 = vc_req(CXLMS_TENSOR_ALL, CXLMS_VIEW_PACKED, 8, 0, secs, 1);
	ASSERT_EQ(0, vcreate(self->fd, &vc1));
	EXPECT_EQ(vc.sec_total, vc1.sec_total);
	EXPECT_EQ(1u, vc1.sec_count);
	EXPECT_EQ(0u, secs[0].off);
	EXPECT_EQ(0, memcmp(&secs[1], ff, sizeof(ff)));	/* past the room: untouched */
	EXPECT_EQ(vc.length, vc1.length);
	EXPECT_NE(vc.offset, vc1.offset);
	/* two views of one fd never overlap */
	EXPECT_TRUE(vc1.offset >= vc.offset + vc.length ||
		    vc.offset >= vc1.offset + vc1.length);
	EXPECT_EQ(0, view_destroy(self->fd, vc.offset));
	EXPECT_EQ(0, view_destroy(self->fd, vc1.offset));
}

/* Output fields given on input are ignored. */
TEST_F(view, create_outputs_not_read)
{
	struct cxlms_ioc_view_create vc = vc_req(self->ti[T_FP].index, CXLMS_VIEW_INT16,
						 12, 0, NULL, 0);

	vc.offset = 12345;
	vc.length = 7;
	vc.sec_total = 99;
	ASSERT_EQ(0, vcreate(self->fd, &vc));
	EXPECT_EQ(1u, vc.sec_total);
	EXPECT_EQ(up(self->ti[T_FP].rows * self->ti[T_FP].cols * 2, PAGE), vc.length);
	EXPECT_EQ(0ull, vc.offset % PAGE);
	EXPECT_NE(0ull, vc.offset);
}

/*
 * A cold sequential scan of a view larger than the fault-around window (a
 * 4 MiB INT8 tensor at 4 bits): each fault maps its unit and whole units
 * after it up to 1 MiB, so faults stay near one per MiB, and a tile in the
 * middle reads as FETCH gives it.  Prints the figure.
 */
TEST_F_TIMEOUT(view, fault_around_large, 300)
{
	static const uint64_t shape[2] = { 1024, 4096 };
	struct cxlms_ioc_tensor_info ti;
	struct cxlms_ioc_view_create vc;
	struct cxt_tensor t;
	struct vstat v0, v1;
	volatile uint8_t sum = 0;
	uint64_t i, mib;
	uint8_t *m;
	char name[64];

	cxt_name(name, sizeof(name), "big");
	ASSERT_EQ(0, cxt_tensor_gen(&t, name, CXLMS_FMT_INT8, 2, shape, 128,
				    self->q.default_group, 16, 0xb16));
	ASSERT_EQ(0, upload(self->fd, &t, 0, true, &ti));
	ASSERT_EQ(0, view_create(self->fd, ti.index, CXLMS_VIEW_INT8, 4, 0, &vc));
	m = vmap(self->fd, vc.offset, vc.length);
	ASSERT_NE(NULL, m);
	v0 = vstats(self->fd);
	for (i = 0; i < vc.length; i += PAGE)
		sum += m[i];
	v1 = vstats(self->fd);
	mib = (vc.length + MIB - 1) / MIB;
	printf("# faults per MiB, cold sequential scan of a %.2f MiB int8 view at 4 bits: %.2f (%llu faults, %llu fills)\n",
	       (double)vc.length / MIB, (double)(v1.faults - v0.faults) * MIB / vc.length,
	       (unsigned long long)(v1.faults - v0.faults),
	       (unsigned long long)(v1.fills - v0.fills));
	fflush(stdout);		/* the harness's child ends with _exit() */
	/* A unit may straddle a window's end: at most one extra per MiB. */
	EXPECT_LE(v1.faults - v0.faults, 2 * mib);
	EXPECT_LE(mib, v1.faults - v0.faults);
	/* tile 33 (rows 528..543) equals its INT fetch at 4 bits */
	ASSERT_EQ(0, cxt_fetch(self->fd, ti.index, 33, 1, 4, CXLMS_OUT_INT, 0,
			       self->fbuf, FBUF_BYTES, NULL, NULL));
	EXPECT_EQ(0, memcmp(m + 528 * 4096ull, self->fbuf, 16 * 4096));
	munmap(m, vc.length);
	EXPECT_EQ(0, view_destroy(self->fd, vc.offset));
	cxt_tensor_free(&t);
}

/* --- STATS ----------------------------------------------------------------- */

TEST_F_TIMEOUT(view, stats_read_k_planes, 120)
{
	uint32_t i, l;

	for (i = 0; i < N_T; i++)
	for (l = CXLMS_VIEW_PACKED; l <= CXLMS_VIEW_INT16; l++) {
		const struct cxlms_ioc_tensor_info *ti = &self->ti[i];
		uint32_t k = ti->planes == 8 ? 3 : l == CXLMS_VIEW_PACKED ? 5 :
			     min_bits(l, ti->fmt) + 1, p;
		uint32_t out = l == CXLMS_VIEW_PACKED ? CXLMS_OUT_PACKED : CXLMS_OUT_INT;
		struct cxlms_ioc_stats sv, sf, z;
		struct cxlms_ioc_view_create vc;
		struct vstat v0, v1;
		struct eview ev;
		uint64_t units;
		uint8_t *m;

		if (!layout_fits(l, ti->fmt))
			continue;
		ASSERT_EQ(0, expect_view(self->fd, ti->index, l, k, 0, &ev, self->fbuf));
		units = units_of(&ev.sec[0], l);
		ASSERT_EQ(0, view_create(self->fd, ti->index, l, k, 0, &vc));
		m = vmap(self->fd, vc.offset, vc.length);
		ASSERT_NE(NULL, m);
		ASSERT_EQ(0, cxt_stats(self->fd, ti->index, CXLMS_STATS_RESET, &z));
		ASSERT_EQ(0, cxt_stats(self->fd, ti->index, 0, &z));
		ASSERT_EQ(0ull, z.fetches);
		v0 = vstats(self->fd);
		EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "stats scan"));
		v1 = vstats(self->fd);
		ASSERT_EQ(0, cxt_stats(self->fd, ti->index, CXLMS_STATS_RESET, &sv));
		/* the same tiles by FETCH */
		ASSERT_EQ(0, cxt_fetch(self->fd, ti->index, 0, ti->n_tiles, k, out, 0,
				       self->fbuf, FBUF_BYTES, NULL, NULL));
		ASSERT_EQ(0, cxt_stats(self->fd, ti->index, 0, &sf));
		for (p = 0; p < CXLMS_MAX_PLANES; p++) {
			EXPECT_EQ(sf.plane_bytes[p], sv.plane_bytes[p]) {
				TH_LOG("%s layout %u k %u plane %u", ti->name, l, k, p);
			}
			if (p >= k) {
				EXPECT_EQ(0ull, sv.plane_bytes[p]);
			} else {
				EXPECT_LT(0ull, sv.plane_bytes[p]);
			}
		}
		/*
		 * The INT8 scales section is read from the tiles once more (a
		 * scan reads each scale once there): FETCH's side bytes plus it.
		 */
		EXPECT_EQ(sf.side_bytes + ev.sec[0].scales_len, sv.side_bytes)
			TH_LOG("%s layout %u", ti->name, l);
		EXPECT_EQ((uint64_t)ti->n_tiles, sv.fetches) TH_LOG("%s layout %u", ti->name, l);
		EXPECT_LE(units, v1.fills - v0.fills);
		EXPECT_GE(units + rest_unit(&ev.sec[0], l), v1.fills - v0.fills);
		EXPECT_LE(1ull, v1.faults - v0.faults);
		EXPECT_GE(v1.fills - v0.fills, v1.faults - v0.faults);
		EXPECT_EQ(vc.length / PAGE, v1.pages - v0.pages)
			TH_LOG("%s layout %u: view_pages %llu -> %llu", ti->name, l,
			       (unsigned long long)v0.pages, (unsigned long long)v1.pages);
		/* a second scan is served from the mapped pages */
		EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "second scan"));
		EXPECT_EQ(v1.fills, vstats(self->fd).fills);
		EXPECT_EQ(v1.faults, vstats(self->fd).faults);
		/* reset leaves the gauge */
		ASSERT_EQ(0, cxt_stats(self->fd, CXLMS_TENSOR_ALL, CXLMS_STATS_RESET, &z));
		EXPECT_EQ(v1.pages, vstats(self->fd).pages);
		/* gone with the view */
		munmap(m, vc.length);
		EXPECT_EQ(0, view_destroy(self->fd, vc.offset));
		EXPECT_EQ(v0.pages, vstats(self->fd).pages)
			TH_LOG("%s layout %u: view pages left after munmap + VIEW_DESTROY",
			       ti->name, l);
		eview_free(&ev);
	}
}

/* drop_caches lets the shrinker take view pages; a re-scan reads the same. */
TEST_F_TIMEOUT(view, reclaim, 120)
{
	static const struct { int t; uint32_t layout, bits; } c[] = {
		{ T_I8P, CXLMS_VIEW_INT8, 4 }, { T_FP, CXLMS_VIEW_INT16, 12 },
		{ T_BF, CXLMS_VIEW_PACKED, 7 },
	};
	struct cxlms_ioc_view_create vc[3];
	struct eview ev[3];
	uint8_t *m[3];
	struct vstat v0, v1, v2;
	long before = 0, after = 0;
	uint64_t pages = 0;
	int i;

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, expect_view(self->fd, self->ti[c[i].t].index, c[i].layout,
					 c[i].bits, 0, &ev[i], self->fbuf));
		ASSERT_EQ(0, view_create(self->fd, self->ti[c[i].t].index, c[i].layout,
					 c[i].bits, 0, &vc[i]));
		m[i] = vmap(self->fd, vc[i].offset, vc[i].length);
		ASSERT_NE(NULL, m[i]);
		EXPECT_TRUE(same_bytes(_metadata, m[i], &ev[i], 0, ev[i].len, "first scan"));
		before += resident(m[i], vc[i].length);
		pages += vc[i].length / PAGE;
	}
	EXPECT_EQ((long)pages, before);
	v0 = vstats(self->fd);
	EXPECT_LE(pages, v0.pages);
	if (drop_caches("2\n"))
		SKIP(return, "cannot write /proc/sys/vm/drop_caches");
	v1 = vstats(self->fd);
	if (v1.pages >= v0.pages) {
		ASSERT_EQ(0, drop_caches("3\n"));
		v1 = vstats(self->fd);
	}
	EXPECT_LT(v1.pages, v0.pages) TH_LOG("view_pages %llu after drop_caches (was %llu)",
					     (unsigned long long)v1.pages,
					     (unsigned long long)v0.pages);
	for (i = 0; i < 3; i++)
		after += resident(m[i], vc[i].length);
	EXPECT_LT(after, before) TH_LOG("mincore: %ld of %ld pages still present", after,
					before);
	TH_LOG("reclaim: view_pages %llu -> %llu, mapped present %ld -> %ld",
	       (unsigned long long)v0.pages, (unsigned long long)v1.pages, before, after);
	for (i = 0; i < 3; i++)
		EXPECT_TRUE(same_bytes(_metadata, m[i], &ev[i], 0, ev[i].len, "re-scan"));
	v2 = vstats(self->fd);
	EXPECT_LT(v1.fills, v2.fills);
	EXPECT_EQ((long)pages, resident(m[0], vc[0].length) + resident(m[1], vc[1].length) +
			       resident(m[2], vc[2].length));
	for (i = 0; i < 3; i++) {
		munmap(m[i], vc[i].length);
		view_destroy(self->fd, vc[i].offset);
		eview_free(&ev[i]);
	}
}

/* --- policy ---------------------------------------------------------------- */

static int read_directory(FIXTURE_DATA(view) *self)
{
	struct cxlms_ioc_tensor_info *ti;
	uint32_t i, n;
	int ret = list_dir(self->fd, &ti, &n);

	if (ret) {
		free(ti);
		return ret;
	}
	free(self->dtiles);
	free(self->dplanes);
	free(self->dbase);
	self->dtiles = calloc(n + 1, sizeof(uint32_t));
	self->dplanes = calloc(n + 1, sizeof(uint32_t));
	self->dbase = calloc(n + 1, sizeof(uint32_t));
	if (!self->dtiles || !self->dplanes || !self->dbase) {
		free(ti);
		return -ENOMEM;
	}
	self->n_tensors = n;
	self->n_tiles = 0;
	for (i = 0; i < n; i++) {
		self->dbase[i] = self->n_tiles;
		self->dtiles[i] = ti[i].n_tiles;
		self->dplanes[i] = ti[i].planes;
		self->n_tiles += ti[i].n_tiles;
	}
	self->dbase[n] = self->n_tiles;
	free(ti);
	return 0;
}

static uint8_t *mapb(FIXTURE_DATA(view) *self, uint32_t c, int t, uint32_t tile)
{
	return self->maps + (size_t)c * self->n_tiles + self->dbase[self->ti[t].index] + tile;
}

/*
 * "wide" (default): i8s 1 + t % 8, i8p 8 - t, bf 16 - t (below 9 from tile
 * 8: INT16 raises those), fp 16 - 2t, short 2 + t.  "narrow": INT8 6,
 * bf 12, fp 7.  Every other tensor: full precision.
 */
static int build_maps(FIXTURE_DATA(view) *self)
{
	uint32_t c, i, t;
	int ret = read_directory(self);

	if (ret)
		return ret;
	free(self->maps);
	self->maps = malloc((size_t)N_CTX * self->n_tiles + 1);
	if (!self->maps)
		return -ENOMEM;
	memset(self->ctx, 0, sizeof(self->ctx));
	strcpy(self->ctx[0].name, "wide");
	strcpy(self->ctx[1].name, "narrow");
	for (c = 0; c < N_CTX; c++)
		for (i = 0; i < self->n_tensors; i++)
			for (t = 0; t < self->dtiles[i]; t++)
				self->maps[(size_t)c * self->n_tiles + self->dbase[i] + t] =
					(uint8_t)self->dplanes[i];
	for (t = 0; t < self->ti[T_I8S].n_tiles; t++) {
		*mapb(self, 0, T_I8S, t) = 1 + t % 8;
		*mapb(self, 1, T_I8S, t) = 6;
	}
	for (t = 0; t < self->ti[T_I8P].n_tiles; t++) {
		*mapb(self, 0, T_I8P, t) = 8 - t;
		*mapb(self, 1, T_I8P, t) = 6;
	}
	for (t = 0; t < self->ti[T_BF].n_tiles; t++) {
		*mapb(self, 0, T_BF, t) = 16 - t;
		*mapb(self, 1, T_BF, t) = 12;
	}
	for (t = 0; t < self->ti[T_FP].n_tiles; t++) {
		*mapb(self, 0, T_FP, t) = 16 - 2 * t;
		*mapb(self, 1, T_FP, t) = 7;
	}
	for (t = 0; t < self->ti[T_SHORT].n_tiles; t++) {
		*mapb(self, 0, T_SHORT, t) = 2 + t;
		*mapb(self, 1, T_SHORT, t) = 6;
	}
	return 0;
}

static int set_maps(FIXTURE_DATA(view) *self)
{
	struct cxlms_ioc_set_map m = {
		.size = sizeof(m), .n_contexts = N_CTX, .n_tensors = self->n_tensors,
		.n_tiles = self->n_tiles, .ctx_size = sizeof(self->ctx[0]),
		.contexts = (uintptr_t)self->ctx, .maps = (uintptr_t)self->maps,
		.maps_len = (uint64_t)N_CTX * self->n_tiles,
	};

	return cxt_ioctl(self->fd, CXLMS_IOC_SET_MAP, &m);
}

static int set_context(int fd, const char *name)
{
	struct cxlms_ioc_set_context c = { .size = sizeof(c) };

	strncpy(c.name, name, sizeof(c.name) - 1);
	return cxt_ioctl(fd, CXLMS_IOC_SET_CONTEXT, &c);
}

/* A mapped policy view of one tensor and its expected bytes. */
struct pview {
	int t;
	uint32_t layout;
	struct cxlms_ioc_view_create vc;
	struct eview ev;
	uint8_t *m;
};

static void pview_open(struct __test_metadata *_metadata, FIXTURE_DATA(view) *self,
		       struct pview *pv, int t, uint32_t layout)
{
	pv->t = t;
	pv->layout = layout;
	ASSERT_EQ(0, view_create(self->fd, self->ti[t].index, layout, CXLMS_BITS_POLICY,
				 0, &pv->vc)) TH_LOG("%s layout %u", self->ti[t].name, layout);
	pv->m = vmap(self->fd, pv->vc.offset, pv->vc.length);
	ASSERT_NE(NULL, pv->m);
}

/*
 * Re-build the expected bytes at @fd's current bits and scan; returns the
 * units whose tiles' bits differ from the previous expectation (@prev
 * bits, NULL: none before).
 */
static uint32_t pview_scan(struct __test_metadata *_metadata, FIXTURE_DATA(view) *self,
			   struct pview *pv, const char *what)
{
	struct eview ev;
	uint32_t changed = 0, t, last = ~0u;

	if (expect_view(self->fd, self->ti[pv->t].index, pv->layout, CXLMS_BITS_POLICY,
			0, &ev, self->fbuf)) {
		TH_LOG("expect_view failed");
		_metadata->passed = 0;
		return 0;
	}
	EXPECT_EQ(ev.len, pv->vc.length);
	if (pv->ev.n) {
		for (t = 0; t < ev.sec[0].ti.n_tiles; t++)
			if (ev.sec[0].bits[t] != pv->ev.sec[0].bits[t] &&
			    unit_of(&ev.sec[0], pv->layout, t) != last) {
				last = unit_of(&ev.sec[0], pv->layout, t);
				changed++;
			}
	}
	EXPECT_TRUE(same_bytes(_metadata, pv->m, &ev, 0, ev.len, what))
		TH_LOG("%s layout %u", self->ti[pv->t].name, pv->layout);
	eview_free(&pv->ev);
	pv->ev = ev;
	return changed;
}

static void pview_close(FIXTURE_DATA(view) *self, struct pview *pv)
{
	if (pv->m)
		munmap(pv->m, pv->vc.length);
	view_destroy(self->fd, pv->vc.offset);
	eview_free(&pv->ev);
}

#define N_PV	10

/* A packed and an int policy view of every tensor, each scanned once. */
static uint32_t pviews_open_scanned(struct __test_metadata *_metadata,
				    FIXTURE_DATA(view) *self, struct pview *pv)
{
	uint32_t i, n = 0;

	for (i = 0; i < N_T; i++) {
		pview_open(_metadata, self, &pv[n++], i, CXLMS_VIEW_PACKED);
		pview_open(_metadata, self, &pv[n++], i, self->ti[i].planes == 8 ?
			   CXLMS_VIEW_INT8 : CXLMS_VIEW_INT16);
	}
	for (i = 0; i < n; i++)
		pview_scan(_metadata, self, &pv[i], "policy scan");
	return n;
}

TEST_F_TIMEOUT(view, policy_follows_set_map, 120)
{
	struct pview pv[N_PV] = { 0 };
	struct vstat v0, v1;
	uint32_t i, want = 0, n;

	ASSERT_EQ(0, build_maps(self));
	ASSERT_EQ(0, set_maps(self));
	n = pviews_open_scanned(_metadata, self, pv);
	/* new bits for a few tiles; bf only in its first unit (tiles 0..7) */
	*mapb(self, 0, T_I8S, 2) = 7;
	*mapb(self, 0, T_I8P, 1) = 2;
	*mapb(self, 0, T_I8P, 3) = 8;
	*mapb(self, 0, T_BF, 0) = 10;
	*mapb(self, 0, T_BF, 2) = 11;
	*mapb(self, 0, T_FP, 4) = 6;
	*mapb(self, 0, T_SHORT, 0) = 8;
	/* and changes in the narrow context, which nobody uses, change nothing */
	*mapb(self, 1, T_BF, 14) = 1;
	v0 = vstats(self->fd);
	ASSERT_EQ(0, set_maps(self));
	for (i = 0; i < n; i++)
		want += pview_scan(_metadata, self, &pv[i], "after SET_MAP");
	v1 = vstats(self->fd);
	/* i8s 1+1, i8p 2+2, bf 2+1, fp 1+1, short 1+1 */
	EXPECT_EQ(13u, want);
	EXPECT_EQ(want, v1.fills - v0.fills) TH_LOG("units decoded again after SET_MAP");
	/* the same maps again: nothing changes */
	ASSERT_EQ(0, set_maps(self));
	v0 = vstats(self->fd);
	for (i = 0; i < n; i++)
		EXPECT_EQ(0u, pview_scan(_metadata, self, &pv[i], "same maps"));
	EXPECT_EQ(v0.fills, vstats(self->fd).fills);
	for (i = 0; i < n; i++)
		pview_close(self, &pv[i]);
}

TEST_F_TIMEOUT(view, policy_follows_set_context, 120)
{
	struct pview pv[N_PV] = { 0 };
	struct vstat v0, v1;
	uint32_t i, want = 0, n;
	int fd2;

	ASSERT_EQ(0, build_maps(self));
	ASSERT_EQ(0, set_maps(self));
	n = pviews_open_scanned(_metadata, self, pv);
	/* another fd's context is not ours */
	fd2 = cxt_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, set_context(fd2, "narrow"));
	v0 = vstats(self->fd);
	for (i = 0; i < n; i++)
		EXPECT_EQ(0u, pview_scan(_metadata, self, &pv[i], "other fd's context"));
	EXPECT_EQ(v0.fills, vstats(self->fd).fills);
	close(fd2);
	/* ours */
	ASSERT_EQ(0, set_context(self->fd, "narrow"));
	for (i = 0; i < n; i++)
		want += pview_scan(_metadata, self, &pv[i], "after SET_CONTEXT");
	v1 = vstats(self->fd);
	EXPECT_LT(0u, want);
	EXPECT_EQ(want, v1.fills - v0.fills) TH_LOG("units decoded again after SET_CONTEXT");
	/* and back to the default */
	ASSERT_EQ(0, set_context(self->fd, ""));
	v0 = vstats(self->fd);
	want = 0;
	for (i = 0; i < n; i++)
		want += pview_scan(_metadata, self, &pv[i], "back to the default");
	EXPECT_EQ(want, vstats(self->fd).fills - v0.fills);
	for (i = 0; i < n; i++)
		pview_close(self, &pv[i]);
}

/* A map's k below an INT layout's minimum is raised to it. */
TEST_F(view, policy_int_minimum)
{
	struct pview pv[2] = { 0 };
	uint32_t t;

	ASSERT_EQ(0, build_maps(self));
	for (t = 0; t < self->ti[T_BF].n_tiles; t++)
		*mapb(self, 0, T_BF, t) = 1 + t % 8;
	for (t = 0; t < self->ti[T_FP].n_tiles; t++)
		*mapb(self, 0, T_FP, t) = 1 + t;
	ASSERT_EQ(0, set_maps(self));
	pview_open(_metadata, self, &pv[0], T_BF, CXLMS_VIEW_INT16);
	pview_open(_metadata, self, &pv[1], T_FP, CXLMS_VIEW_INT16);
	pview_scan(_metadata, self, &pv[0], "bf16 at 9");
	pview_scan(_metadata, self, &pv[1], "fp16 at 6");
	for (t = 0; t < self->ti[T_BF].n_tiles; t++)
		EXPECT_EQ(9, pv[0].ev.sec[0].bits[t]);
	pview_close(self, &pv[0]);
	pview_close(self, &pv[1]);
}

/* Whole-store policy view: every sealed tensor, slots sized at planes. */
TEST_F_TIMEOUT(view, policy_whole_store, 120)
{
	struct cxlms_ioc_view_section *secs = calloc(4096, sizeof(*secs));
	struct cxlms_ioc_view_create vc = vc_req(CXLMS_TENSOR_ALL, CXLMS_VIEW_PACKED,
						 CXLMS_BITS_POLICY, 0, secs, 4096);
	struct eview ev;
	uint8_t *m;
	int ret;

	ASSERT_NE(NULL, secs);
	ASSERT_EQ(0, build_maps(self));
	ASSERT_EQ(0, set_maps(self));
	ret = expect_view(self->fd, CXLMS_TENSOR_ALL, CXLMS_VIEW_PACKED,
			  CXLMS_BITS_POLICY, 0, &ev, self->fbuf);
	if (ret == -EFBIG)
		SKIP(return, "shared store too large to check");
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, vcreate(self->fd, &vc));
	EXPECT_TRUE(same_sections(_metadata, &vc, secs, 4096, &ev));
	m = vmap(self->fd, vc.offset, vc.length);
	ASSERT_NE(NULL, m);
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "policy whole store"));
	munmap(m, vc.length);
	eview_free(&ev);
	free(secs);
}

TEST_F(view, policy_without_maps)
{
	struct cxlms_ioc_view_create vc;

	if (!self->own_store)
		SKIP(return, "maps may be live on a shared store");
	EXPECT_EQ(-ENODATA, view_create(self->fd, self->ti[T_I8P].index,
					CXLMS_VIEW_PACKED, CXLMS_BITS_POLICY, 0, &vc));
	EXPECT_EQ(-ENODATA, view_create(self->fd, CXLMS_TENSOR_ALL,
					CXLMS_VIEW_INT8, CXLMS_BITS_POLICY, 0, &vc));
}

/* --- lifetime -------------------------------------------------------------- */

/* A mapped view of i8p in the INT8 layout at 5 bits and its expected bytes. */
static void lview(struct __test_metadata *_metadata, FIXTURE_DATA(view) *self,
		  struct cxlms_ioc_view_create *vc, struct eview *ev, uint8_t **m)
{
	ASSERT_EQ(0, expect_view(self->fd, self->ti[T_I8P].index, CXLMS_VIEW_INT8, 5, 0,
				 ev, self->fbuf));
	ASSERT_EQ(0, view_create(self->fd, self->ti[T_I8P].index, CXLMS_VIEW_INT8, 5, 0, vc));
	*m = vmap(self->fd, vc->offset, vc->length);
	ASSERT_NE(NULL, *m);
}

TEST_F(view, munmap_and_map_again)
{
	struct cxlms_ioc_view_create vc;
	struct eview ev;
	struct vstat v0 = vstats(self->fd);
	uint8_t *m, *m2;

	lview(_metadata, self, &vc, &ev, &m);
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "first mapping"));
	/* two mappings of one view at once */
	m2 = vmap(self->fd, vc.offset, vc.length);
	ASSERT_NE(NULL, m2);
	EXPECT_TRUE(same_bytes(_metadata, m2, &ev, 0, ev.len, "second mapping"));
	EXPECT_EQ(0, munmap(m, vc.length));
	EXPECT_TRUE(same_bytes(_metadata, m2, &ev, 0, ev.len, "second after first's munmap"));
	EXPECT_EQ(0, munmap(m2, vc.length));
	m = vmap(self->fd, vc.offset, vc.length);
	ASSERT_NE(NULL, m);
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "mapped again"));
	EXPECT_EQ(0, munmap(m, vc.length));
	EXPECT_EQ(0, view_destroy(self->fd, vc.offset));
	EXPECT_EQ(v0.pages, vstats(self->fd).pages);
	eview_free(&ev);
}

TEST_F(view, close_while_mapped)
{
	struct cxlms_ioc_view_create vc;
	struct eview ev;
	uint8_t *m, b;

	lview(_metadata, self, &vc, &ev, &m);
	b = m[0];		/* the first unit only */
	(void)b;
	close(self->fd);
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "after close"));
	self->fd = cxt_open();
	ASSERT_LE(0, self->fd);
	/* the view went with the fd: this fd cannot map it */
	EXPECT_EQ(NULL, vmap(self->fd, vc.offset, vc.length));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "still"));
	EXPECT_EQ(0, munmap(m, vc.length));
	eview_free(&ev);
}

TEST_F(view, fork_child_reads)
{
	struct cxlms_ioc_view_create vc;
	struct eview ev;
	uint8_t *m;
	int status;
	pid_t pid;

	lview(_metadata, self, &vc, &ev, &m);
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, PAGE, "parent, first page"));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(memcmp(m, ev.bytes, ev.len) ? 1 : 0);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x", status);
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "parent after the child"));
	munmap(m, vc.length);
	eview_free(&ev);
}

TEST_F(view, child_sigkill_while_mapped)
{
	struct cxlms_ioc_view_create vc;
	struct eview ev;
	uint8_t *m;
	char c;
	int pfd[2], status, round;
	pid_t pid;

	lview(_metadata, self, &vc, &ev, &m);
	for (round = 0; round < 4; round++) {
		ASSERT_EQ(0, pipe(pfd));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			/* its own fd and views, scanning until killed */
			struct cxlms_ioc_view_create cv;
			volatile uint8_t sum = 0;
			uint8_t *cm;
			uint64_t i;
			int fd = cxt_open();

			close(pfd[0]);
			if (fd < 0 || view_create(fd, self->ti[T_BF].index, CXLMS_VIEW_PACKED,
						  3 + round, 0, &cv))
				_exit(2);
			cm = vmap(fd, cv.offset, cv.length);
			if (!cm)
				_exit(3);
			sum += cm[0] + m[0];
			if (write(pfd[1], "r", 1) != 1)
				_exit(4);
			for (;;) {
				for (i = 0; i < cv.length; i += 512)
					sum += cm[i];
				for (i = 0; i < vc.length; i += 512)
					sum += m[i];
				if (round % 2)
					madvise(cm, cv.length, MADV_DONTNEED);
			}
		}
		close(pfd[1]);
		ASSERT_EQ(1, read(pfd[0], &c, 1));
		close(pfd[0]);
		usleep(1000 * (1 + round * 5));
		ASSERT_EQ(0, kill(pid, SIGKILL));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			TH_LOG("child status %#x", status);
	}
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "parent after the kills"));
	check_view(_metadata, self, self->ti[T_BF].index, CXLMS_VIEW_PACKED, 3, 0, false);
	munmap(m, vc.length);
	eview_free(&ev);
}

TEST_F(view, detach_busy_while_mapped)
{
	struct cxlms_ioc_view_create vc, vc2;
	struct eview ev;
	uint8_t *m;
	int fd2;

	if (!self->own_store)
		SKIP(return, "needs a store of its own to detach");
	lview(_metadata, self, &vc, &ev, &m);
	EXPECT_EQ(-EBUSY, cxt_detach(self->fd));
	/* mapped through another fd, and that fd closed: still busy */
	fd2 = cxt_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, view_create(fd2, self->ti[T_FP].index, CXLMS_VIEW_INT16, 12, 0, &vc2));
	EXPECT_EQ(0, munmap(m, vc.length));
	m = vmap(fd2, vc2.offset, vc2.length);
	ASSERT_NE(NULL, m);
	close(fd2);
	EXPECT_EQ(-EBUSY, cxt_detach(self->fd));
	EXPECT_EQ(0, munmap(m, vc2.length));
	/* a view that is not mapped does not hold the store */
	EXPECT_EQ(0, cxt_detach(self->fd));
	EXPECT_EQ(-ENXIO, view_create(self->fd, 0, CXLMS_VIEW_PACKED, 8, 0, &vc2));
	ASSERT_EQ(0, cxt_attach_ram(self->fd, TEST_RAM_BYTES, 0));
	eview_free(&ev);
}

TEST_F(view, detached_view_is_enxio)
{
	struct cxlms_ioc_view_create vc;

	if (!self->own_store)
		SKIP(return, "needs a store of its own to detach");
	ASSERT_EQ(0, view_create(self->fd, self->ti[T_I8S].index, CXLMS_VIEW_PACKED, 4, 0,
				 &vc));
	ASSERT_EQ(0, cxt_detach(self->fd));
	EXPECT_EQ(NULL, vmap(self->fd, vc.offset, vc.length));
	EXPECT_EQ(ENXIO, errno);
	ASSERT_EQ(0, cxt_attach_ram(self->fd, TEST_RAM_BYTES, 0));
	/* a new store does not bring the old view back */
	EXPECT_EQ(NULL, vmap(self->fd, vc.offset, vc.length));
	EXPECT_EQ(ENXIO, errno);
}

TEST_F(view, create_without_store)
{
	struct cxlms_ioc_view_create vc;

	if (!self->own_store)
		SKIP(return, "needs a store of its own to detach");
	ASSERT_EQ(0, cxt_detach(self->fd));
	EXPECT_EQ(-ENXIO, view_create(self->fd, 0, CXLMS_VIEW_PACKED, 8, 0, &vc));
	EXPECT_EQ(-ENXIO, view_create(self->fd, CXLMS_TENSOR_ALL, CXLMS_VIEW_PACKED, 8, 0, &vc));
	ASSERT_EQ(0, cxt_attach_ram(self->fd, TEST_RAM_BYTES, 0));
}

TEST_F(view, destroy_while_mapped)
{
	struct cxlms_ioc_view_create vc;
	struct eview ev;
	uint8_t *m, b;

	lview(_metadata, self, &vc, &ev, &m);
	b = m[0];
	(void)b;
	ASSERT_EQ(0, view_destroy(self->fd, vc.offset));
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "after VIEW_DESTROY"));
	EXPECT_EQ(NULL, vmap(self->fd, vc.offset, vc.length));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-ENOENT, view_destroy(self->fd, vc.offset));
	EXPECT_EQ(0, munmap(m, vc.length));
	eview_free(&ev);
}

TEST_F(view, destroy_unknown)
{
	struct cxlms_ioc_view_create vc;
	int fd2;

	EXPECT_EQ(-ENOENT, view_destroy(self->fd, 0));
	EXPECT_EQ(-ENOENT, view_destroy(self->fd, 1ull << 40));
	ASSERT_EQ(0, view_create(self->fd, self->ti[T_I8P].index, CXLMS_VIEW_INT8, 8, 0, &vc));
	ASSERT_LT(PAGE, vc.length);
	EXPECT_EQ(-ENOENT, view_destroy(self->fd, vc.offset + PAGE));
	EXPECT_EQ(-ENOENT, view_destroy(self->fd, vc.offset + 1));
	/* another fd's view */
	fd2 = cxt_open();
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-ENOENT, view_destroy(fd2, vc.offset));
	close(fd2);
	EXPECT_EQ(0, view_destroy(self->fd, vc.offset));
	EXPECT_EQ(-ENOENT, view_destroy(self->fd, vc.offset));
}

TEST_F(view, destroy_checks)
{
	struct cxlms_ioc_view_create vc;
	struct cxlms_ioc_view_destroy d = { .size = sizeof(d) };

	ASSERT_EQ(0, view_create(self->fd, self->ti[T_I8P].index, CXLMS_VIEW_INT8, 8, 0, &vc));
	d.offset = vc.offset;
	d.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, cxt_ioctl(self->fd, CXLMS_IOC_VIEW_DESTROY, &d));
	d.flags = 0;
	d.size = sizeof(struct cxlms_ioc_hdr);
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, CXLMS_IOC_VIEW_DESTROY, &d));
	d.size = sizeof(d);
	EXPECT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC_VIEW_DESTROY, &d));
}

/* An injected media error on a fault: SIGBUS, never wrong bytes. */
TEST_F(view, media_error_sigbus)
{
	static const uint32_t layouts[] = { CXLMS_VIEW_INT8, CXLMS_VIEW_PACKED };
	uint32_t l;

	if (inject(0))
		SKIP(return, "no debugfs " DBG_DIR "/inject_media_error");
	for (l = 0; l < ARRAY_SIZE(layouts); l++) {
		struct cxlms_ioc_view_create vc;
		struct eview ev;
		struct vstat v0;
		uint64_t at = 2 * PAGE;	/* tile 1's unit */
		uint8_t *m, b = 0;

		ASSERT_EQ(0, expect_view(self->fd, self->ti[T_I8P].index, layouts[l], 6, 0,
					 &ev, self->fbuf));
		ASSERT_EQ(0, view_create(self->fd, self->ti[T_I8P].index, layouts[l], 6, 0,
					 &vc));
		m = vmap(self->fd, vc.offset, vc.length);
		ASSERT_NE(NULL, m);
		if (layouts[l] == CXLMS_VIEW_PACKED)
			at = vc.length / 5;	/* tile 1's slot */
		v0 = vstats(self->fd);
		ASSERT_EQ(0, inject(1));
		bus_seen = 0;
		EXPECT_EQ(-EFAULT, load_byte(m + at, &b))
			TH_LOG("layout %u: load after an injected media error gave %#x, no SIGBUS",
			       layouts[l], b);
		inject(0);
		EXPECT_EQ(v0.media + 1, vstats(self->fd).media);
		/* the next load decodes the unit properly */
		EXPECT_EQ(0, load_byte(m + at, &b));
		EXPECT_EQ(ev.bytes[at], b);
		EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "after the media error"));
		munmap(m, vc.length);
		view_destroy(self->fd, vc.offset);
		eview_free(&ev);
	}
}

/* --- mmap refusals ----------------------------------------------------------- */

static void small_view(struct __test_metadata *_metadata, FIXTURE_DATA(view) *self,
		       struct cxlms_ioc_view_create *vc)
{
	ASSERT_EQ(0, view_create(self->fd, self->ti[T_I8P].index, CXLMS_VIEW_INT8, 7, 0, vc));
	ASSERT_LT(2 * PAGE, vc->length);
}

TEST_F(view, mmap_not_a_view)
{
	struct cxlms_ioc_view_create vc;

	small_view(_metadata, self, &vc);
	EXPECT_EQ(NULL, vmap(self->fd, 0, PAGE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(NULL, vmap(self->fd, vc.offset + vc.length + (1ull << 30), PAGE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(NULL, vmap(self->fd, vc.offset - PAGE, PAGE));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(view, mmap_other_fd)
{
	struct cxlms_ioc_view_create vc;
	int fd2 = cxt_open();

	ASSERT_LE(0, fd2);
	small_view(_metadata, self, &vc);
	EXPECT_EQ(NULL, vmap(fd2, vc.offset, vc.length));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(NULL, vmap(fd2, vc.offset, PAGE));
	EXPECT_EQ(EINVAL, errno);
	close(fd2);
}

TEST_F(view, mmap_past_end)
{
	struct cxlms_ioc_view_create vc;

	small_view(_metadata, self, &vc);
	EXPECT_EQ(NULL, vmap(self->fd, vc.offset, vc.length + PAGE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(NULL, vmap(self->fd, vc.offset + PAGE, vc.length));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(NULL, vmap(self->fd, vc.offset + vc.length - PAGE, 2 * PAGE));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(view, mmap_write)
{
	struct cxlms_ioc_view_create vc;
	void *p;

	small_view(_metadata, self, &vc);
	p = mmap(NULL, vc.length, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		 (off_t)vc.offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EACCES, errno);
	p = mmap(NULL, vc.length, PROT_WRITE, MAP_SHARED, self->fd, (off_t)vc.offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EACCES, errno);
}

TEST_F(view, mmap_private)
{
	struct cxlms_ioc_view_create vc;
	void *p;

	small_view(_metadata, self, &vc);
	p = mmap(NULL, vc.length, PROT_READ, MAP_PRIVATE, self->fd, (off_t)vc.offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
}

/* A read-only open of the device maps views too (MAP_SHARED, PROT_READ). */
TEST_F(view, mmap_readonly_fd)
{
	struct cxlms_ioc_view_create vc;
	struct eview ev;
	uint8_t *m;
	int fd = open(CXLMS_DEV_PATH, O_RDONLY | O_CLOEXEC);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, expect_view(fd, self->ti[T_I8P].index, CXLMS_VIEW_INT8, 7, 0, &ev,
				 self->fbuf));
	ASSERT_EQ(0, view_create(fd, self->ti[T_I8P].index, CXLMS_VIEW_INT8, 7, 0, &vc));
	m = vmap(fd, vc.offset, vc.length);
	ASSERT_NE(NULL, m) TH_LOG("mmap of an O_RDONLY fd: %s", strerror(errno));
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "read-only fd"));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, vc.length, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				   (off_t)vc.offset));
	EXPECT_EQ(-1, mprotect(m, vc.length, PROT_READ | PROT_WRITE));
	munmap(m, vc.length);
	eview_free(&ev);
	close(fd);
}

TEST_F(view, mprotect_write)
{
	struct cxlms_ioc_view_create vc;
	uint8_t *m;

	small_view(_metadata, self, &vc);
	m = vmap(self->fd, vc.offset, vc.length);
	ASSERT_NE(NULL, m);
	EXPECT_EQ(-1, mprotect(m, vc.length, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(-1, mprotect(m, PAGE, PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(0, mprotect(m, PAGE, PROT_NONE));	/* less is fine */
	EXPECT_EQ(0, mprotect(m, PAGE, PROT_READ));
	munmap(m, vc.length);
}

TEST_F(view, mremap_grow)
{
	struct cxlms_ioc_view_create vc;
	struct eview ev;
	uint8_t *m;
	void *p;

	lview(_metadata, self, &vc, &ev, &m);
	p = mremap(m, vc.length, vc.length + PAGE, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, p);
	if (p != MAP_FAILED)
		m = p;
	p = mremap(m, vc.length, vc.length + PAGE, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_TRUE(same_bytes(_metadata, m, &ev, 0, ev.len, "after refused mremap"));
	munmap(m, vc.length);
	eview_free(&ev);
}

TEST_F(view, mmap_subranges)
{
	struct cxlms_ioc_view_create vc;
	struct eview ev;
	uint8_t *m, *whole;
	uint64_t pages, a, n;

	lview(_metadata, self, &vc, &ev, &whole);
	munmap(whole, vc.length);
	pages = vc.length / PAGE;
	for (a = 0; a < pages; a++)
		for (n = 1; a + n <= pages; n += 2) {
			m = vmap(self->fd, vc.offset + a * PAGE, n * PAGE);
			ASSERT_NE(NULL, m) TH_LOG("pages %llu+%llu: %s",
						  (unsigned long long)a,
						  (unsigned long long)n, strerror(errno));
			EXPECT_TRUE(same_bytes(_metadata, m, &ev, a * PAGE, n * PAGE,
					       "sub-range"));
			munmap(m, n * PAGE);
		}
	eview_free(&ev);
}

/* Random (offset, length): maps and reads right, or EINVAL, nothing else. */
TEST_F_TIMEOUT(view, mmap_random_ranges, 120)
{
	struct cxlms_ioc_view_create vc;
	struct eview ev;
	uint64_t st = 0x5eed, pages, lo, i;
	unsigned int mapped = 0, refused = 0;
	int fd2 = cxt_open();

	ASSERT_LE(0, fd2);
	/* the one view of a fresh fd: nothing else of fd2 nearby */
	ASSERT_EQ(0, expect_view(self->fd, self->ti[T_I8S].index, CXLMS_VIEW_PACKED, 8, 0,
				 &ev, self->fbuf));
	ASSERT_EQ(0, view_create(fd2, self->ti[T_I8S].index, CXLMS_VIEW_PACKED, 8, 0, &vc));
	pages = vc.length / PAGE;
	lo = vc.offset / PAGE > 6 ? vc.offset / PAGE - 6 : 0;
	for (i = 0; i < 200; i++) {
		uint64_t a = lo + cxt_rand(&st) % (vc.offset / PAGE - lo + pages + 6);
		uint64_t n = cxt_rand(&st) % (pages + 4);
		bool valid = n && a >= vc.offset / PAGE &&
			     a + n <= (vc.offset + vc.length) / PAGE;
		uint8_t *m;

		errno = 0;
		m = vmap(fd2, a * PAGE, n * PAGE);
		if (valid) {
			ASSERT_NE(NULL, m) TH_LOG("offset %#llx len %#llx: %s",
						  (unsigned long long)(a * PAGE),
						  (unsigned long long)(n * PAGE),
						  strerror(errno));
			EXPECT_TRUE(same_bytes(_metadata, m, &ev, a * PAGE - vc.offset,
					       n * PAGE, "random range"));
			munmap(m, n * PAGE);
			mapped++;
		} else {
			EXPECT_EQ(NULL, m) TH_LOG("offset %#llx len %#llx mapped",
						  (unsigned long long)(a * PAGE),
						  (unsigned long long)(n * PAGE));
			if (m)
				munmap(m, n * PAGE);
			EXPECT_EQ(EINVAL, errno) TH_LOG("offset %#llx len %#llx",
							(unsigned long long)(a * PAGE),
							(unsigned long long)(n * PAGE));
			refused++;
		}
	}
	TH_LOG("%u ranges mapped right, %u refused with EINVAL", mapped, refused);
	EXPECT_LT(20u, mapped);
	EXPECT_LT(20u, refused);
	close(fd2);
	eview_free(&ev);
}

/* --- VIEW_CREATE refusals, one per error ------------------------------------ */

static struct cxlms_ioc_view_create good_vc(FIXTURE_DATA(view) *self)
{
	return vc_req(self->ti[T_I8P].index, CXLMS_VIEW_INT8, 4, 0, NULL, 0);
}

/* VIEW_CREATE encoded with a given struct size. */
static unsigned long vc_cmd(uint32_t size)
{
	return _IOC(_IOC_READ | _IOC_WRITE, CXLMS_IOC_TYPE, CXLMS_CMD_VIEW_CREATE,
		    size & _IOC_SIZEMASK);
}

TEST_F(view, create_size)
{
	struct cxlms_ioc_view_create vc = good_vc(self);
	uint8_t big[sizeof(vc) + 16] = { 0 };

	vc.size = sizeof(struct cxlms_ioc_hdr);
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, vc_cmd(vc.size), &vc));
	vc.size = sizeof(vc) - 8;
	EXPECT_EQ(-EINVAL, cxt_ioctl(self->fd, vc_cmd(vc.size), &vc));
	vc = good_vc(self);
	vc.size = sizeof(big);
	memcpy(big, &vc, sizeof(vc));
	big[sizeof(vc) + 5] = 1;
	EXPECT_EQ(-E2BIG, cxt_ioctl(self->fd, vc_cmd(sizeof(big)), big));
	big[sizeof(vc) + 5] = 0;
	EXPECT_EQ(0, cxt_ioctl(self->fd, vc_cmd(sizeof(big)), big));
	/* the pre-revision-3 encoding */
	vc = good_vc(self);
	EXPECT_EQ(0, cxt_ioctl(self->fd, CXLMS_IOC(CXLMS_CMD_VIEW_CREATE), &vc));
}

TEST_F(view, create_flags)
{
	struct cxlms_ioc_view_create vc = good_vc(self);

	vc.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, vcreate(self->fd, &vc));
	vc.flags = 1u << 31;
	EXPECT_EQ(-EOPNOTSUPP, vcreate(self->fd, &vc));
}

TEST_F(view, create_pad)
{
	struct cxlms_ioc_view_create vc = good_vc(self);

	vc.pad = 1;
	EXPECT_EQ(-EINVAL, vcreate(self->fd, &vc));
}

TEST_F(view, create_reserved)
{
	struct cxlms_ioc_view_create vc = good_vc(self);

	vc.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, vcreate(self->fd, &vc));
	vc.reserved[0] = 0;
	vc.reserved[1] = 1ull << 63;
	EXPECT_EQ(-EINVAL, vcreate(self->fd, &vc));
}

TEST_F(view, create_unknown_tensor)
{
	struct cxlms_ioc_view_create vc = good_vc(self);
	struct cxlms_ioc_query q;

	ASSERT_EQ(0, cxt_query(self->fd, &q));
	vc.tensor = q.tensor_count;
	EXPECT_EQ(-ENOENT, vcreate(self->fd, &vc));
	vc.tensor = CXLMS_TENSOR_ALL - 1;
	EXPECT_EQ(-ENOENT, vcreate(self->fd, &vc));
}

TEST_F(view, create_unsealed)
{
	struct cxlms_ioc_view_create vc;
	struct cxlms_ioc_tensor_info uti;
	struct cxt_tensor uns = { 0 };
	char name[64];

	cxt_name(name, sizeof(name), "unsealed");
	ASSERT_EQ(0, cxt_tensor_gen(&uns, name, CXLMS_FMT_FP16, 2,
				    (const uint64_t[]){ 4, 64 }, 0, 0, 2, 9));
	ASSERT_EQ(0, upload(self->fd, &uns, 0, false, &uti));
	EXPECT_EQ(-EBUSY, view_create(self->fd, uns.index, CXLMS_VIEW_INT16, 12, 0, &vc));
	EXPECT_EQ(-EBUSY, view_create(self->fd, uns.index, CXLMS_VIEW_PACKED, 3, 0, &vc));
	cxt_tensor_free(&uns);
}

TEST_F(view, create_layout_not_of_format)
{
	struct cxlms_ioc_view_create vc;

	EXPECT_EQ(-EINVAL, view_create(self->fd, self->ti[T_BF].index, CXLMS_VIEW_INT8,
				       8, 0, &vc));
	EXPECT_EQ(-EINVAL, view_create(self->fd, self->ti[T_FP].index, CXLMS_VIEW_INT8,
				       8, 0, &vc));
	EXPECT_EQ(-EINVAL, view_create(self->fd, self->ti[T_I8S].index, CXLMS_VIEW_INT16,
				       8, 0, &vc));
}

TEST_F(view, create_unknown_layout)
{
	struct cxlms_ioc_view_create vc;

	EXPECT_EQ(-EINVAL, view_create(self->fd, self->ti[T_I8P].index, 0, 4, 0, &vc));
	EXPECT_EQ(-EINVAL, view_create(self->fd, self->ti[T_I8P].index, 4, 4, 0, &vc));
	EXPECT_EQ(-EINVAL, view_create(self->fd, self->ti[T_I8P].index, ~0u, 4, 0, &vc));
	EXPECT_EQ(-EINVAL, view_create(self->fd, CXLMS_TENSOR_ALL, 4, 4, 0, &vc));
}

TEST_F(view, create_bits)
{
	struct cxlms_ioc_view_create vc;
	uint32_t l, i8 = self->ti[T_I8P].index, bf = self->ti[T_BF].index,
		 fp = self->ti[T_FP].index;

	for (l = CXLMS_VIEW_PACKED; l <= CXLMS_VIEW_INT8; l++) {
		EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, i8, l, 0, 0, &vc));
		EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, i8, l, 9, 0, &vc));
		EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, i8, l, 16, 0, &vc));
		EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, i8, l, 0xfe, 0, &vc));
	}
	EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, bf, CXLMS_VIEW_PACKED, 17, 0, &vc));
	EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, bf, CXLMS_VIEW_PACKED, 0, 0, &vc));
	EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, bf, CXLMS_VIEW_INT16, 8, 0, &vc));
	EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, bf, CXLMS_VIEW_INT16, 1, 0, &vc));
	EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, bf, CXLMS_VIEW_INT16, 17, 0, &vc));
	EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, fp, CXLMS_VIEW_INT16, 5, 0, &vc));
	EXPECT_EQ(-EOPNOTSUPP, view_create(self->fd, fp, CXLMS_VIEW_INT16, 0, 0, &vc));
	/* the edges that work */
	EXPECT_EQ(0, view_create(self->fd, bf, CXLMS_VIEW_INT16, 9, 0, &vc));
	EXPECT_EQ(0, view_create(self->fd, fp, CXLMS_VIEW_INT16, 6, 0, &vc));
	EXPECT_EQ(0, view_create(self->fd, bf, CXLMS_VIEW_PACKED, 1, 0, &vc));
	EXPECT_EQ(0, view_create(self->fd, i8, CXLMS_VIEW_INT8, 1, 0, &vc));
}

TEST_F(view, create_sec_size)
{
	struct cxlms_ioc_view_section secs[2];
	struct cxlms_ioc_view_create vc = vc_req(self->ti[T_I8P].index, CXLMS_VIEW_INT8,
						 4, 0, secs, 1);

	vc.sec_size = 0;
	EXPECT_EQ(-EINVAL, vcreate(self->fd, &vc));
	vc.sec_size = sizeof(secs[0]) - 4;
	EXPECT_EQ(-EINVAL, vcreate(self->fd, &vc));
	vc.sec_size = sizeof(secs[0]) - 8;
	EXPECT_EQ(-EINVAL, vcreate(self->fd, &vc));
	vc.sec_size = 12;
	EXPECT_EQ(-EINVAL, vcreate(self->fd, &vc));
	vc.sec_size = sizeof(secs[0]) + 4;
	EXPECT_EQ(-EINVAL, vcreate(self->fd, &vc));
	vc.sec_size = sizeof(secs[0]);
	EXPECT_EQ(0, vcreate(self->fd, &vc));
}

TEST_F(view, create_sections_fault)
{
	struct cxlms_ioc_view_create vc = vc_req(self->ti[T_I8P].index, CXLMS_VIEW_INT8,
						 4, 0, (void *)16, 1);

	EXPECT_EQ(-EFAULT, vcreate(self->fd, &vc));
}

TEST_F_TIMEOUT(view, create_emfile, 60)
{
	struct cxlms_ioc_view_create vc, first = { 0 };
	uint32_t i;
	int fd2;

	fd2 = cxt_open();
	ASSERT_LE(0, fd2);
	for (i = 0; i < CXLMS_VIEWS_PER_FD; i++) {
		ASSERT_EQ(0, view_create(fd2, self->ti[T_I8S].index, CXLMS_VIEW_PACKED,
					 1 + i % 8, 0, &vc)) TH_LOG("view %u", i);
		if (!i)
			first = vc;
	}
	EXPECT_EQ(-EMFILE, view_create(fd2, self->ti[T_I8S].index, CXLMS_VIEW_PACKED, 3, 0,
				       &vc));
	/* per fd */
	EXPECT_EQ(0, view_create(self->fd, self->ti[T_I8S].index, CXLMS_VIEW_PACKED, 3, 0,
				 &vc));
	EXPECT_EQ(0, view_destroy(fd2, first.offset));
	EXPECT_EQ(0, view_create(fd2, self->ti[T_I8S].index, CXLMS_VIEW_PACKED, 3, 0, &vc));
	EXPECT_EQ(-EMFILE, view_create(fd2, self->ti[T_I8S].index, CXLMS_VIEW_PACKED, 3, 0,
				       &vc));
	close(fd2);
}

/*
 * Last (the harness runs a fixture's tests in file order, the global ones
 * first): nothing above left a WARN, BUG or oops.
 */
TEST_F(view, zz_dmesg_clean)
{
	char line[256];

	EXPECT_EQ(0, cxt_dmesg_bad(line, sizeof(line))) TH_LOG("dmesg: %s", line);
}

/*
 * The harness's main, after a look at QUERY: a module without views skips
 * the whole program with KSFT_SKIP (4) and the reason.  Without a device the
 * fixtures skip with CXLMS_NO_DEV_REASON (guest-run.sh fails on that).
 */
int main(int argc, char **argv)
{
	struct cxlms_ioc_query q;
	int fd = cxt_open();

	if (fd >= 0) {
		int ret = cxt_query(fd, &q);

		close(fd);
		if (!ret && !(q.caps & CXLMS_CAP_VIEWS)) {
			ksft_print_header();
			ksft_set_plan(1);
			ksft_exit_skip("module without CXLMS_CAP_VIEWS (ABI revision %u, caps %#llx)\n",
				       q.abi_revision, (unsigned long long)q.caps);
		}
	}
	return test_harness_run(argc, argv);
}
