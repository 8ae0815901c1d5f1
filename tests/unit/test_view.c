// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_view_map() on the file backend: for every layout, every k the
 * format serves and both fill paths (userfaultfd, eager), on INT8, BF16 and
 * FP16 tensors with short last tiles, the mapped bytes equal the view the
 * test builds itself from cxlms_fetch() of the same bits and the layout
 * formulas of docs/format.md "Views" (never the library's own fill).  Also:
 * whole-store views, lazy fills (one tile decoded per touched slot), the
 * policy (a new map is seen after cxlms_view_refresh(), and only then),
 * read-only pages, and each refused argument.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lib_testutil.h"
#include "policy.h"
#include "writer.h"

#define N_T	4
#define PAGE	4096u

struct fx {
	struct cxlms_ctx *ctx;
	char *dir, *path;
	struct cxlms_store *s, *rw;
	struct cxlms_tensor *t[N_T];
	struct cxlms_policy_writer *w;
};

static struct logcap lc;

/*
 * a: INT8 300 x 1000, groups of 128, tiles of 40 rows (the last 20; tiles
 * share pages in the INT8 layout); p: INT8 24 x 512, tiles of 8 rows (a
 * tile is exactly one page of s8); b: BF16 70 x 700, tiles of 32 (the last
 * 6); c: FP16 101 x 333 (odd columns), tiles of 50 (the last 1 row).
 */
static const struct cxlms_tensor_spec spec[N_T] = {
	{ .name = "a", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
	  .ndim = 2, .shape = { 300, 1000 }, .group_size = 128, .tile_rows = 40 },
	{ .name = "p", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
	  .ndim = 2, .shape = { 24, 512 }, .group_size = 64, .tile_rows = 8 },
	{ .name = "b", .src_dtype = CXLMS_DTYPE_BF16, .fmt = CXLMS_FMT_BF16,
	  .ndim = 2, .shape = { 70, 700 }, .tile_rows = 32 },
	{ .name = "c", .src_dtype = CXLMS_DTYPE_F16, .fmt = CXLMS_FMT_FP16,
	  .ndim = 2, .shape = { 101, 333 }, .tile_rows = 50 },
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	uint64_t seed = 23;
	unsigned int k;

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir)
		return -1;
	fx->path = tu_path(fx->dir, "v.cxlms");
	if (tu_write_random_store(fx->path, spec, N_T, &seed, 9) ||
	    cxlms_open(fx->ctx, fx->path, 0, &fx->s))
		return -1;
	for (k = 0; k < N_T; k++)
		if (cxlms_tensor_lookup(fx->s, spec[k].name, &fx->t[k]))
			return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cxlms_policy_writer_close(fx->w);
	cxlms_store_unref(fx->rw);
	cxlms_store_unref(fx->s);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->path);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

static uint64_t up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* The lowest k docs/format.md lets the INT layout of @fmt hold a value in. */
static unsigned int int_min_bits(unsigned int fmt)
{
	return fmt == CXLMS_FMT_BF16 ? 9 : fmt == CXLMS_FMT_FP16 ? 6 : 1;
}

static unsigned int planes_of(unsigned int fmt)
{
	return fmt == CXLMS_FMT_INT8 ? 8 : 16;
}

/*
 * The section of @t in a view of @layout whose slots are sized for
 * @slot_bits, each tile decoded at @bits[tile], built from cxlms_fetch()
 * and the documented formulas.  *@len gets the section's length.
 */
static uint8_t *expect_section(struct cxlms_store *s, struct cxlms_tensor *t,
			       unsigned int layout, unsigned int slot_bits,
			       const uint8_t *bits, uint64_t *len)
{
	unsigned int tiles = cxlms_tensor_get_tile_count(t), i;
	uint64_t rows = cxlms_tensor_get_rows(t), cols = cxlms_tensor_get_cols(t);
	unsigned int fmt = cxlms_tensor_get_format(t);
	uint64_t gpr = fmt == CXLMS_FMT_INT8 ?
		(cols + cxlms_tensor_get_group_size(t) - 1) / cxlms_tensor_get_group_size(t) : 0;
	uint64_t stride = 0, scales_off = 0, w = layout == CXLMS_VIEW_INT16 ? 2 : 1;
	uint8_t *sec, *tb;
	uint64_t row = 0;

	if (layout == CXLMS_VIEW_PACKED) {
		int64_t n = cxlms_fetch_size(t, 0, 1, slot_bits, CXLMS_OUT_PACKED, 0);

		assert_true(n > 0);
		stride = up((uint64_t)n, PAGE);
		*len = stride * tiles;
	} else {
		*len = up(rows * cols * w, PAGE);
		if (fmt == CXLMS_FMT_INT8) {
			scales_off = *len;
			*len = up(scales_off + rows * gpr * 2, PAGE);
		}
	}
	sec = calloc(1, *len);
	tb = malloc(1 << 22);
	assert_non_null(sec);
	assert_non_null(tb);
	for (i = 0; i < tiles; i++) {
		unsigned int out = layout == CXLMS_VIEW_PACKED ? CXLMS_OUT_PACKED : CXLMS_OUT_INT;
		uint64_t trows = cxlms_tensor_get_tile_elems(t, i) / cols;
		struct cxlms_fetch_info fi;
		int64_t n = cxlms_fetch(s, t, i, bits[i], out, 0, tb, 1 << 22);

		assert_true(n > 0);
		assert_int_equal(cxlms_fetch_info(t, i, bits[i], out, 0, &fi), 0);
		if (layout == CXLMS_VIEW_PACKED) {
			assert_true((uint64_t)n <= stride);
			memcpy(sec + i * stride, tb, (size_t)n);
		} else {
			memcpy(sec + row * cols * w, tb, fi.data_len);
			if (fmt == CXLMS_FMT_INT8) {
				assert_int_equal(fi.scales_len, trows * gpr * 2);
				memcpy(sec + scales_off + row * gpr * 2, tb + fi.scales_off,
				       fi.scales_len);
			}
		}
		row += trows;
	}
	free(tb);
	return sec;
}

static int map(struct cxlms_store *s, struct cxlms_tensor *t, unsigned int layout,
	       unsigned int bits, unsigned int flags, struct cxlms_view **v)
{
	struct cxlms_view_opts o = { .size = sizeof(o), .flags = flags,
				     .layout = layout, .bits = bits };

	return cxlms_view_map(s, t, &o, v);
}

static bool layout_fits(unsigned int layout, unsigned int fmt)
{
	if (layout == CXLMS_VIEW_INT8)
		return fmt == CXLMS_FMT_INT8;
	if (layout == CXLMS_VIEW_INT16)
		return fmt != CXLMS_FMT_INT8;
	return true;
}

/* Every tensor, layout, k and path against the fetch-built view. */
static void check_all(struct fx *fx, unsigned int flags, const char *mode)
{
	static const unsigned int layouts[] = { CXLMS_VIEW_PACKED, CXLMS_VIEW_INT8,
						CXLMS_VIEW_INT16 };
	unsigned int i, li, k, checked = 0;

	for (i = 0; i < N_T; i++) {
		struct cxlms_tensor *t = fx->t[i];
		unsigned int fmt = cxlms_tensor_get_format(t);

		for (li = 0; li < 3; li++) {
			unsigned int layout = layouts[li];

			for (k = 1; k <= planes_of(fmt); k++) {
				struct cxlms_view *v = NULL;
				struct cxlms_view_tensor vi;
				uint8_t bits[64];
				uint64_t len;
				uint8_t *want;
				int rc = map(fx->s, t, layout, k, flags, &v);

				if (!layout_fits(layout, fmt)) {
					assert_int_equal(rc, -EINVAL);
					continue;
				}
				if (layout != CXLMS_VIEW_PACKED && k < int_min_bits(fmt)) {
					assert_int_equal(rc, -EOPNOTSUPP);
					continue;
				}
				assert_int_equal(rc, 0);
				assert_string_equal(cxlms_view_get_mode(v), mode);
				memset(bits, (int)k, sizeof(bits));
				want = expect_section(fx->s, t, layout, k, bits, &len);
				assert_int_equal(cxlms_view_get_size(v), len);
				assert_int_equal(cxlms_view_get_tensor(v, t, &vi), 0);
				assert_int_equal(vi.off, 0);
				assert_int_equal(vi.len, len);
				if (memcmp(cxlms_view_get_addr(v), want, len)) {
					print_error("tensor %s layout %u k %u: view != fetch\n",
						    cxlms_tensor_get_name(t), layout, k);
					fail();
				}
				assert_int_equal(cxlms_view_get_error(v), 0);
				free(want);
				cxlms_view_unmap(v);
				checked++;
			}
		}
	}
	/* a, p: 8 packed + 8 int8; b: 16 + 8; c: 16 + 11 */
	assert_int_equal(checked, 16 + 16 + 24 + 27);
}

static bool have_uffd(struct fx *fx)
{
	struct cxlms_view *v;
	bool yes;

	assert_int_equal(map(fx->s, fx->t[0], CXLMS_VIEW_PACKED, 4, 0, &v), 0);
	yes = !strcmp(cxlms_view_get_mode(v), "userfaultfd");
	cxlms_view_unmap(v);
	return yes;
}

static void test_eager_equals_fetch(void **state)
{
	check_all(*state, CXLMS_VIEW_EAGER, "eager");
}

static void test_uffd_equals_fetch(void **state)
{
	struct fx *fx = *state;

	if (!have_uffd(fx)) {
		print_message("userfaultfd refused by this kernel: eager path only\n");
		skip();
	}
	check_all(fx, 0, "userfaultfd");
}

/* The two paths give the same bytes for a whole-store view. */
static void test_paths_agree_whole_store(void **state)
{
	struct fx *fx = *state;
	struct cxlms_view *e, *u;

	if (!have_uffd(fx))
		skip();
	assert_int_equal(map(fx->s, NULL, CXLMS_VIEW_PACKED, 7, CXLMS_VIEW_EAGER, &e), 0);
	assert_int_equal(map(fx->s, NULL, CXLMS_VIEW_PACKED, 7, 0, &u), 0);
	assert_int_equal(cxlms_view_get_size(e), cxlms_view_get_size(u));
	assert_memory_equal(cxlms_view_get_addr(e), cxlms_view_get_addr(u),
			    cxlms_view_get_size(e));
	cxlms_view_unmap(e);
	cxlms_view_unmap(u);
}

/* Sections in index order; tensors the layout or bits cannot serve left out. */
static void test_whole_store(void **state)
{
	struct fx *fx = *state;
	struct cxlms_view *v;
	struct cxlms_view_tensor vi;
	uint64_t off = 0, len;
	uint8_t bits[64];
	unsigned int i;

	memset(bits, 12, sizeof(bits));
	/* k = 12: only the 16-bit tensors have 12 planes */
	assert_int_equal(map(fx->s, NULL, CXLMS_VIEW_PACKED, 12, CXLMS_VIEW_EAGER, &v), 0);
	assert_int_equal(cxlms_view_get_tensor(v, fx->t[0], &vi), -ENOENT);
	assert_int_equal(cxlms_view_get_tensor(v, fx->t[1], &vi), -ENOENT);
	for (i = 2; i < N_T; i++) {
		uint8_t *want = expect_section(fx->s, fx->t[i], CXLMS_VIEW_PACKED, 12,
					       bits, &len);

		assert_int_equal(cxlms_view_get_tensor(v, fx->t[i], &vi), 0);
		assert_int_equal(vi.off, off);
		assert_int_equal(vi.len, len);
		assert_memory_equal((const uint8_t *)cxlms_view_get_addr(v) + off, want, len);
		off += len;
		free(want);
	}
	assert_int_equal(cxlms_view_get_size(v), off);
	cxlms_view_unmap(v);

	/* INT8 layout: the INT8 tensors, a then p */
	memset(bits, 5, sizeof(bits));
	assert_int_equal(map(fx->s, NULL, CXLMS_VIEW_INT8, 5, CXLMS_VIEW_EAGER, &v), 0);
	assert_int_equal(cxlms_view_get_tensor(v, fx->t[2], &vi), -ENOENT);
	off = 0;
	for (i = 0; i < 2; i++) {
		uint8_t *want = expect_section(fx->s, fx->t[i], CXLMS_VIEW_INT8, 5,
					       bits, &len);

		assert_int_equal(cxlms_view_get_tensor(v, fx->t[i], &vi), 0);
		assert_int_equal(vi.off, off);
		assert_int_equal(vi.data_off, off);
		assert_int_equal(vi.data_len, cxlms_tensor_get_elems(fx->t[i]));
		assert_int_equal(vi.scales_off, off + up(vi.data_len, PAGE));
		assert_memory_equal((const uint8_t *)cxlms_view_get_addr(v) + off, want, len);
		off += len;
		free(want);
	}
	cxlms_view_unmap(v);

	/* No tensor can be served: refused. */
	assert_int_equal(map(fx->s, NULL, CXLMS_VIEW_INT16, 3, CXLMS_VIEW_EAGER, &v),
			 -EOPNOTSUPP);
}

/* userfaultfd: nothing is decoded before a load; a load decodes its tile only. */
static void test_uffd_lazy(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *t = fx->t[1];	/* p: one page per INT8 tile */
	struct cxlms_view *v;
	struct cxlms_view_tensor vi;
	struct cxlms_stats st;
	volatile const uint8_t *b;
	uint64_t tile_bytes = cxlms_tensor_get_tile_elems(t, 0) / 8;
	unsigned int k;

	if (!have_uffd(fx))
		skip();
	assert_int_equal(cxlms_store_reset_stats(fx->s), 0);
	assert_int_equal(map(fx->s, t, CXLMS_VIEW_INT8, 3, 0, &v), 0);
	assert_int_equal(cxlms_tensor_get_stats(t, &st), 0);
	assert_int_equal(st.fetches, 0);
	assert_int_equal(cxlms_view_get_tensor(v, t, &vi), 0);
	b = cxlms_view_get_addr(v);
	/* one load in tile 1's page */
	(void)b[vi.data_off + PAGE + 17];
	assert_int_equal(cxlms_tensor_get_stats(t, &st), 0);
	assert_int_equal(st.fetches, 1);
	for (k = 0; k < 8; k++)
		assert_int_equal(st.plane_bytes[k], k < 3 ? tile_bytes : 0);
	/* again: present, no new decode */
	(void)b[vi.data_off + PAGE + 4000];
	assert_int_equal(cxlms_tensor_get_stats(t, &st), 0);
	assert_int_equal(st.fetches, 1);
	/* scales: read from the tiles, no plane decoded */
	(void)b[vi.scales_off];
	assert_int_equal(cxlms_tensor_get_stats(t, &st), 0);
	assert_int_equal(st.fetches, 1);
	cxlms_view_unmap(v);
}

/* A store without RDWR writing maps; @bits[tile] for the whole store. */
static void publish(struct fx *fx, const uint8_t *maps, unsigned int n_ctx)
{
	struct cxlms_policy_ctx pctx[2];
	uint64_t gen;

	memset(pctx, 0, sizeof(pctx));
	strcpy(pctx[0].name, "one");
	strcpy(pctx[1].name, "two");
	if (!fx->w) {
		assert_int_equal(cxlms_open(fx->ctx, fx->path, CXLMS_OPEN_RDWR, &fx->rw), 0);
		assert_int_equal(cxlms_policy_writer_open(fx->rw, &fx->w), 0);
	}
	assert_int_equal(cxlms_policy_writer_publish(fx->w, n_ctx, 0, pctx, maps, &gen), 0);
}

static unsigned int tile_base(struct fx *fx, unsigned int ti)
{
	unsigned int i, n = 0;

	for (i = 0; i < ti; i++)
		n += cxlms_tensor_get_tile_count(fx->t[i]);
	return n;
}

static void check_policy_view(struct fx *fx, struct cxlms_view *v, unsigned int ti,
			      unsigned int layout)
{
	struct cxlms_tensor *t = fx->t[ti];
	unsigned int fmt = cxlms_tensor_get_format(t);
	unsigned int n = cxlms_tensor_get_tile_count(t), i;
	uint8_t bits[64];
	uint64_t len;
	uint8_t *want;

	assert_int_equal(cxlms_policy_get_bits(t, 0, n, bits, NULL), 0);
	for (i = 0; i < n; i++) {
		if (layout != CXLMS_VIEW_PACKED && bits[i] < int_min_bits(fmt))
			bits[i] = (uint8_t)int_min_bits(fmt);
		assert_int_equal(cxlms_view_get_tile_bits(v, t, i), bits[i]);
	}
	want = expect_section(fx->s, t, layout, planes_of(fmt), bits, &len);
	assert_int_equal(cxlms_view_get_size(v), len);
	assert_memory_equal(cxlms_view_get_addr(v), want, len);
	free(want);
}

static void policy_case(struct fx *fx, unsigned int flags)
{
	unsigned int total = tile_base(fx, N_T), i, ti;
	static const unsigned int layout[N_T] = { CXLMS_VIEW_INT8, CXLMS_VIEW_PACKED,
						  CXLMS_VIEW_INT16, CXLMS_VIEW_PACKED };
	struct cxlms_view *v[N_T];
	uint8_t maps[2 * 64];
	int dropped;

	assert_true(total <= 64);
	/* two: other bits than one for every tile, also above an INT16 clamp */
	for (i = 0; i < total; i++) {
		bool wide = i >= tile_base(fx, 2);

		maps[i] = (uint8_t)(2 + i % 6);			/* one */
		maps[total + i] = (uint8_t)(wide ? 10 + i % 6 : 8);	/* two */
	}
	publish(fx, maps, 2);
	assert_int_equal(cxlms_set_context(fx->s, "one"), 0);
	for (ti = 0; ti < N_T; ti++) {
		assert_int_equal(map(fx->s, fx->t[ti], layout[ti], CXLMS_BITS_POLICY,
				     flags, &v[ti]), 0);
		check_policy_view(fx, v[ti], ti, layout[ti]);
		assert_int_equal(cxlms_view_refresh(v[ti]), 0);
	}
	/* A new map: old bytes until refresh, the new bits after it. */
	for (i = 0; i < total; i++)
		maps[i] = (uint8_t)(i % 3 ? maps[i] : 1 + i % 8);
	publish(fx, maps, 2);
	for (ti = 0; ti < N_T; ti++) {
		dropped = cxlms_view_refresh(v[ti]);
		assert_true(dropped >= 0);
		check_policy_view(fx, v[ti], ti, layout[ti]);
	}
	/* A context switch is a change of bits too. */
	assert_int_equal(cxlms_set_context(fx->s, "two"), 0);
	for (ti = 0; ti < N_T; ti++) {
		dropped = cxlms_view_refresh(v[ti]);
		assert_true(dropped > 0);
		check_policy_view(fx, v[ti], ti, layout[ti]);
		assert_int_equal(cxlms_view_refresh(v[ti]), 0);
		cxlms_view_unmap(v[ti]);
	}
}

static void test_policy_eager(void **state)
{
	policy_case(*state, CXLMS_VIEW_EAGER);
}

static void test_policy_uffd(void **state)
{
	struct fx *fx = *state;

	if (!have_uffd(fx))
		skip();
	policy_case(fx, 0);
}

/* Exactly the tiles whose bits changed are dropped (p: one unit per tile). */
static void test_policy_drops_changed_tiles(void **state)
{
	struct fx *fx = *state;
	unsigned int base = tile_base(fx, 1), total = tile_base(fx, N_T);
	struct cxlms_view *v;
	uint8_t maps[64];

	memset(maps, 4, total);
	publish(fx, maps, 1);
	assert_int_equal(cxlms_set_context(fx->s, NULL), 0);
	assert_int_equal(map(fx->s, fx->t[1], CXLMS_VIEW_INT8, CXLMS_BITS_POLICY,
			     CXLMS_VIEW_EAGER, &v), 0);
	maps[base + 2] = 6;
	maps[0] = 7;		/* another tensor's tile: not this view's */
	publish(fx, maps, 1);
	assert_int_equal(cxlms_view_refresh(v), 1);
	assert_int_equal(cxlms_view_get_tile_bits(v, fx->t[1], 2), 6);
	assert_int_equal(cxlms_view_get_tile_bits(v, fx->t[1], 1), 4);
	check_policy_view(fx, v, 1, CXLMS_VIEW_INT8);
	cxlms_view_unmap(v);
}

/* A store of explicit bits has nothing to follow. */
static void test_refresh_fixed_bits(void **state)
{
	struct fx *fx = *state;
	struct cxlms_view *v;

	assert_int_equal(map(fx->s, fx->t[0], CXLMS_VIEW_PACKED, 3, 0, &v), 0);
	assert_int_equal(cxlms_view_refresh(v), 0);
	assert_int_equal(cxlms_view_get_tile_bits(v, fx->t[0], 0), 3);
	assert_int_equal(cxlms_view_get_tile_bits(v, fx->t[0], 8), -EINVAL);
	assert_int_equal(cxlms_view_get_tile_bits(v, fx->t[1], 0), -ENOENT);
	cxlms_view_unmap(v);
}

/* The pages are read-only: a store kills the writer with SIGSEGV. */
static void write_dies(unsigned int flags, struct fx *fx)
{
	struct cxlms_view *v;
	volatile uint8_t *p;
	int status;
	pid_t pid;

	assert_int_equal(map(fx->s, fx->t[0], CXLMS_VIEW_PACKED, 2, flags, &v), 0);
	p = (volatile uint8_t *)cxlms_view_get_addr(v);
	(void)p[0];	/* filled */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka's handler would carry on with the parent's tests */
		signal(SIGSEGV, SIG_DFL);
		p[0] = 1;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	cxlms_view_unmap(v);
}

static void test_read_only(void **state)
{
	struct fx *fx = *state;

	write_dies(CXLMS_VIEW_EAGER, fx);
	if (have_uffd(fx))
		write_dies(0, fx);
}

static void test_refused(void **state)
{
	struct fx *fx = *state;
	struct cxlms_view_opts o = { .size = sizeof(o), .layout = CXLMS_VIEW_PACKED,
				     .bits = 4 };
	struct {
		struct cxlms_view_opts o;
		uint64_t more;
	} big = { .o = o, .more = 1 };
	struct cxlms_view *v = (struct cxlms_view *)&o;	/* must stay untouched */
	struct cxlms_view_opts b;

	b = o, b.layout = 0;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -EINVAL);
	b = o, b.layout = CXLMS_VIEW_INT16 + 1;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -EINVAL);
	b = o, b.bits = 0;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -EOPNOTSUPP);
	b = o, b.bits = 9;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -EOPNOTSUPP);
	b = o, b.reserved0 = 1;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -EINVAL);
	b = o, b.reserved[1] = 1;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -EINVAL);
	b = o, b.size = sizeof(b) - 8;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -EINVAL);
	b = o, b.flags = 1u << 7;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -EOPNOTSUPP);
	b = o, b.recon = 9;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -EINVAL);
	/* TABLE is INT8's: a 16-bit tensor refuses it */
	b = o, b.recon = CXLMS_RECON_TABLE;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[2], &b, &v), -EOPNOTSUPP);
	b = o, b.layout = CXLMS_VIEW_INT16;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -EINVAL);
	b = o, b.layout = CXLMS_VIEW_INT8;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[2], &b, &v), -EINVAL);
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], NULL, &v), -EINVAL);
	big.o.size = sizeof(big);
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &big.o, &v), -E2BIG);
	assert_ptr_equal(v, (struct cxlms_view *)&o);
	/* zero bytes past the struct are fine */
	big.more = 0;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &big.o, &v), 0);
	cxlms_view_unmap(v);
	/* a policy view before any map is published */
	b = o, b.bits = CXLMS_BITS_POLICY;
	assert_int_equal(cxlms_view_map(fx->s, fx->t[0], &b, &v), -ENODATA);
	cxlms_view_unmap(NULL);
}

/* userfaultfd(2) fails with EPERM from here on (a seccomp filter, as in a container). */
static int deny_userfaultfd(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* Refused userfaultfd: the same call decodes eagerly, the same bytes. */
static void test_fallback_when_refused(void **state)
{
	struct fx *fx = *state;
	uint8_t bits[64];
	uint64_t len;
	uint8_t *want;
	int status;
	pid_t pid;

	memset(bits, 3, sizeof(bits));
	want = expect_section(fx->s, fx->t[2], CXLMS_VIEW_PACKED, 3, bits, &len);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cxlms_view *v;

		if (deny_userfaultfd())
			_exit(77);
		if (syscall(__NR_userfaultfd, 0) != -1 || errno != EPERM)
			_exit(3);
		if (map(fx->s, fx->t[2], CXLMS_VIEW_PACKED, 3, 0, &v))
			_exit(4);
		if (strcmp(cxlms_view_get_mode(v), "eager"))
			_exit(5);
		if (cxlms_view_get_size(v) != len || memcmp(cxlms_view_get_addr(v), want, len))
			_exit(6);
		cxlms_view_unmap(v);
		_exit(0);
	}
	free(want);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		print_message("seccomp filters not available: fallback not exercised\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A child gets an eager view's bytes, but no userfaultfd view (never zeros). */
static void test_fork(void **state)
{
	struct fx *fx = *state;
	unsigned int flags[2] = { CXLMS_VIEW_EAGER, 0 }, i;

	for (i = 0; i < 2; i++) {
		struct cxlms_view *v;
		const volatile uint8_t *p;
		uint8_t first;
		int status;
		pid_t pid;

		if (!flags[i] && !have_uffd(fx))
			break;
		assert_int_equal(map(fx->s, fx->t[0], CXLMS_VIEW_INT8, 8, flags[i], &v), 0);
		p = cxlms_view_get_addr(v);
		first = p[0];
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			signal(SIGSEGV, SIG_DFL);
			_exit(p[0] == first ? 0 : 1);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (flags[i]) {
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		} else {
			assert_true(WIFSIGNALED(status));
			assert_int_equal(WTERMSIG(status), SIGSEGV);
		}
		cxlms_view_unmap(v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: no maps are published yet */
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_eager_equals_fetch),
		cmocka_unit_test(test_uffd_equals_fetch),
		cmocka_unit_test(test_paths_agree_whole_store),
		cmocka_unit_test(test_whole_store),
		cmocka_unit_test(test_uffd_lazy),
		cmocka_unit_test(test_refresh_fixed_bits),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_fallback_when_refused),
		cmocka_unit_test(test_fork),
		cmocka_unit_test(test_policy_eager),
		cmocka_unit_test(test_policy_uffd),
		cmocka_unit_test(test_policy_drops_changed_tiles),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup, teardown);
}
