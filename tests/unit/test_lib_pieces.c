// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_fetch_pieces() on the file backend under every SIMD variant the
 * CPU has: the pieces are the bytes of cxlms_fetch(), and with the SIMD
 * variants each piece is decoded into the same small buffer (the
 * cache-resident path; with the portable codec the library slices a whole
 * fetch, whose pieces sit at increasing addresses).  Tiles here are not multiples
 * of a block, rows are not multiples of a group, and piece sizes range
 * from one block to more than a tile.  Counters of a complete pieces
 * fetch equal those of cxlms_fetch().
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "lib_testutil.h"
#include "simd/simd.h"
#include "writer.h"

#define N_T 3

struct fx {
	struct cxlms_ctx *ctx;
	char *dir, *path;
	struct cxlms_store *s;
	struct cxlms_tensor *t[N_T];
};

static struct logcap lc;

/*
 * a: INT8 300 x 1000, groups of 128 (the last of a row 104), tiles of 40
 * rows = 40000 elements (78 blocks and a part); b: BF16 64 x 700 in tiles
 * of 32 rows; c: FP16 100 x 333 in tiles of 50 rows.
 */
static int setup(void **state)
{
	static const struct cxlms_tensor_spec spec[N_T] = {
		{ .name = "a", .src_dtype = CXLMS_DTYPE_F32, .fmt = CXLMS_FMT_INT8,
		  .ndim = 2, .shape = { 300, 1000 }, .group_size = 128, .tile_rows = 40 },
		{ .name = "b", .src_dtype = CXLMS_DTYPE_BF16, .fmt = CXLMS_FMT_BF16,
		  .ndim = 2, .shape = { 64, 700 }, .tile_rows = 32 },
		{ .name = "c", .src_dtype = CXLMS_DTYPE_F16, .fmt = CXLMS_FMT_FP16,
		  .ndim = 2, .shape = { 100, 333 }, .tile_rows = 50 },
	};
	static const char *const names[N_T] = { "a", "b", "c" };
	struct fx *fx = calloc(1, sizeof(*fx));
	uint64_t seed = 5;
	unsigned int k;

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir)
		return -1;
	fx->path = tu_path(fx->dir, "p.cxlms");
	if (tu_write_random_store(fx->path, spec, N_T, &seed, 9) ||
	    cxlms_open(fx->ctx, fx->path, 0, &fx->s))
		return -1;
	for (k = 0; k < N_T; k++)
		if (cxlms_tensor_lookup(fx->s, names[k], &fx->t[k]))
			return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cxlms_store_unref(fx->s);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->path);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

/* Does @isa decode pieces in place for this request? */
static int in_place(enum cxlms_simd_isa isa, unsigned int fmt, unsigned int out,
		    unsigned int bits)
{
	if (isa == CXLMS_ISA_PORTABLE)
		return 0;
	/* Odd-width 16-bit streams need VBMI: the avx512 variant declines. */
	return !(isa == CXLMS_ISA_AVX512 && fmt != CXLMS_FMT_INT8 &&
		 out == CXLMS_OUT_PACKED && bits > 8 && bits < 16);
}

static void test_every_isa(void **state)
{
	static const size_t sizes[] = { 1, 3000, 0, SIZE_MAX };
	struct fx *fx = *state;
	unsigned int isa, k, bits, out, i, ran = 0, in_cache = 0;

	for (isa = 0; isa < CXLMS_ISA_COUNT; isa++) {
		if (!cxlms_simd_isa_supported(isa)) {
			print_message("# %s: not on this CPU, skipped\n",
				      cxlms_simd_isa_str(isa));
			continue;
		}
		assert_int_equal(cxlms_simd_set_isa(isa), 0);
		ran++;
		for (k = 0; k < N_T; k++) {
			struct cxlms_tensor *t = fx->t[k];
			unsigned int last = cxlms_tensor_get_tile_count(t) - 1;
			unsigned int tiles[2] = { 0, last }, ti;

			for (ti = 0; ti < 2; ti++)
			for (bits = 1; bits <= cxlms_tensor_get_planes(t); bits++)
			for (out = CXLMS_OUT_PACKED; out <= CXLMS_OUT_BF16; out++)
			for (i = 0; i < 4; i++) {
				struct tu_pieces_result r;
				int rc = tu_check_pieces(fx->s, t, tiles[ti], bits, out,
							 CXLMS_RECON_DEFAULT, sizes[i], &r);

				if (r.mismatch)
					fail_msg("%s: %s tile %u bits %u out %u piece %zu: %s (rc %d)",
						 cxlms_simd_isa_str(isa),
						 cxlms_tensor_get_name(t), tiles[ti],
						 bits, out, sizes[i], r.mismatch, rc);
				if (rc || r.n_pieces < 2)
					continue;
				if (r.reused != in_place(isa, cxlms_tensor_get_format(t),
							 out, bits))
					fail_msg("%s: %s bits %u out %u: pieces %s one buffer",
						 cxlms_simd_isa_str(isa),
						 cxlms_tensor_get_name(t), bits, out,
						 r.reused ? "came in" : "did not come in");
				in_cache += r.reused;
			}
		}
	}
	assert_true(ran >= 1);
	/* A SIMD variant ran: the in-cache path must have run. */
	if (ran > 1)
		assert_true(in_cache > 100);
	else
		print_message("# no SIMD variant: only the whole-fetch path ran\n");
}

static int count_pieces(void *arg, const struct cxlms_piece *p)
{
	(void)p;
	++*(unsigned int *)arg;
	return 0;
}

/* A complete pieces fetch counts what cxlms_fetch() of the tile counts. */
static void test_counters_as_fetch(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *a = fx->t[0];
	struct cxlms_stats p, f;
	unsigned int calls = 0;
	static uint8_t buf[1 << 20];

	assert_int_equal(cxlms_store_reset_stats(fx->s), 0);
	assert_int_equal(cxlms_fetch_pieces(fx->s, a, 7, 5, CXLMS_OUT_PACKED, 0, 1000,
					    count_pieces, &calls), 0);
	assert_true(calls > 1);
	assert_int_equal(cxlms_tensor_get_stats(a, &p), 0);
	assert_int_equal(cxlms_store_reset_stats(fx->s), 0);
	assert_true(cxlms_fetch(fx->s, a, 7, 5, CXLMS_OUT_PACKED, 0, buf, sizeof(buf)) > 0);
	assert_int_equal(cxlms_tensor_get_stats(a, &f), 0);
	assert_memory_equal(&p, &f, sizeof(p));
	assert_int_equal(p.fetches, 1);
	assert_int_equal(p.plane_bytes[4], (20 * 1000 + 7) / 8);
}

static int never(void *arg, cxlms_u32 first, cxlms_u32 count, const void *data,
		 cxlms_u64 len)
{
	(void)first;
	(void)count;
	(void)data;
	(void)len;
	++*(unsigned int *)arg;
	return 0;
}

/*
 * The in-cache entry point refuses before any piece: the codec's error for
 * a bad request, -EINVAL for a piece size that is not whole blocks,
 * -ENOSPC for buffers too small, -EOPNOTSUPP where the variant has no
 * pieces (then the library slices a whole fetch).
 */
static void test_simd_pieces_errors(void **state)
{
	static uint8_t buf[1 << 16], side[1 << 16];
	struct cxlms_tile_geom g = { CXLMS_FMT_INT8, 1000, 128, 40, 0 };
	struct cxlms_tile_layout l;
	unsigned int calls = 0, isa;
	uint8_t *tile;

	(void)state;
	assert_int_equal(cxlms_tile_layout(&g, &l), 0);
	tile = calloc(1, l.tile_bytes);
	assert_non_null(tile);
	for (isa = 0; isa < CXLMS_ISA_COUNT; isa++) {
		int has = isa != CXLMS_ISA_PORTABLE;

		if (!cxlms_simd_isa_supported(isa))
			continue;
		assert_int_equal(cxlms_simd_set_isa(isa), 0);
		assert_int_equal(cxlms_simd_fetch_pieces(tile, &g, 40000, 9, CXLMS_OUT_INT, 0,
							 512, buf, sizeof(buf), side, sizeof(side),
							 never, &calls), -EOPNOTSUPP);
		assert_int_equal(cxlms_simd_fetch_pieces(tile, &g, 40001, 8, CXLMS_OUT_INT, 0,
							 512, buf, sizeof(buf), side, sizeof(side),
							 never, &calls), -EINVAL);
		assert_int_equal(cxlms_simd_fetch_pieces(tile, &g, 40000, 8, 99, 0,
							 512, buf, sizeof(buf), side, sizeof(side),
							 never, &calls), -EINVAL);
		assert_int_equal(cxlms_simd_fetch_pieces(tile, &g, 40000, 8, CXLMS_OUT_INT, 0,
							 500, buf, sizeof(buf), side, sizeof(side),
							 never, &calls), -EINVAL);
		assert_int_equal(cxlms_simd_fetch_pieces(tile, &g, 40000, 8, CXLMS_OUT_INT, 0,
							 0, buf, sizeof(buf), side, sizeof(side),
							 never, &calls), -EINVAL);
		assert_int_equal(cxlms_simd_fetch_pieces(tile, &g, 40000, 8, CXLMS_OUT_PLANES, 0,
							 512, buf, sizeof(buf), side, sizeof(side),
							 never, &calls), -EOPNOTSUPP);
		assert_int_equal(cxlms_simd_fetch_pieces(tile, &g, 40000, 8, CXLMS_OUT_INT, 0,
							 512, buf, sizeof(buf), side, sizeof(side),
							 never, &calls), has ? 0 : -EOPNOTSUPP);
		if (!has)
			continue;
		/* One byte short of a piece plus slack; side data short by one. */
		assert_int_equal(cxlms_simd_fetch_pieces(tile, &g, 40000, 8, CXLMS_OUT_INT, 0,
							 1024, buf, 1024 + CXLMS_SIMD_PIECE_SLACK - 1,
							 side, sizeof(side), never, &calls), -ENOSPC);
		assert_int_equal(cxlms_simd_fetch_pieces(tile, &g, 40000, 8, CXLMS_OUT_INT, 0,
							 1024, buf, sizeof(buf), side,
							 40 * 8 * 2 - 1, never, &calls), -ENOSPC);
	}
	/* Only the successful calls reached the consumer: 40000 / 512 rounded up each. */
	assert_int_equal(calls % 79, 0);
	free(tile);
}

#if defined(__x86_64__)
struct csr_check {
	unsigned int want, bad;
	const uint8_t *ref;
	size_t off;
	int differs;
};

static int csr_consumer(void *arg, cxlms_u32 first, cxlms_u32 count, const void *data,
			cxlms_u64 len)
{
	struct csr_check *c = arg;

	(void)first;
	(void)count;
	c->bad += _mm_getcsr() != c->want;
	c->differs |= memcmp(data, c->ref + c->off, len) != 0;
	c->off += len;
	return 0;
}

/*
 * F32 pieces under the caller's odd MXCSR (round toward zero, FTZ, DAZ):
 * the bytes are the codec's, the consumer runs under the caller's MXCSR
 * (a variant that switches it for its multiplies switches back first),
 * and it is unchanged after the call.
 */
static void test_pieces_mxcsr(void **state)
{
	const unsigned int odd = 0x1f80 | 0x6000 | 0x8000 | 0x0040;
	struct cxlms_tile_geom g = { CXLMS_FMT_INT8, 1000, 128, 20, 0 };
	static uint8_t ref[4 * 20000 + 64], buf[1 << 16], side[1 << 12];
	struct cxlms_tile_layout l;
	int8_t codes[20000];
	uint16_t scales[20 * 8];
	uint64_t seed = 3;
	unsigned int isa, i, saved;
	uint8_t *tile;

	(void)state;
	assert_int_equal(cxlms_tile_layout(&g, &l), 0);
	tile = calloc(1, l.tile_bytes);
	assert_non_null(tile);
	for (i = 0; i < 20000; i++)
		codes[i] = (int8_t)(tu_rng(&seed) % 255 - 127);
	for (i = 0; i < 20 * 8; i++)
		scales[i] = (uint16_t)(0x2000 + tu_rng(&seed) % 0x3000);
	assert_int_equal(cxlms_place_int8(tile, &g, 20000, 0, codes, 20000), 0);
	assert_int_equal(cxlms_place_scales(tile, &g, 20000, scales, 20 * 8), 0);
	assert_int_equal(cxlms_tile_finalize(tile, &g, 20000), 0);
	assert_int_equal(cxlms_fetch_tile(tile, &g, 20000, 5, CXLMS_OUT_F32, 0, ref,
					  sizeof(ref)), 4 * 20000);
	for (isa = CXLMS_ISA_AVX2; isa < CXLMS_ISA_COUNT; isa++) {
		struct csr_check c = { .want = odd, .ref = ref };
		unsigned int after;
		int rc;

		if (!cxlms_simd_isa_supported(isa))
			continue;
		assert_int_equal(cxlms_simd_set_isa(isa), 0);
		saved = _mm_getcsr();
		_mm_setcsr(odd);
		rc = cxlms_simd_fetch_pieces(tile, &g, 20000, 5, CXLMS_OUT_F32, 0, 1024,
					     buf, sizeof(buf), side, sizeof(side),
					     csr_consumer, &c);
		after = _mm_getcsr();
		_mm_setcsr(saved);
		assert_int_equal(rc, 0);
		assert_int_equal(after, odd);
		assert_int_equal(c.bad, 0);
		assert_false(c.differs);
		assert_int_equal(c.off, 4 * 20000);
	}
	free(tile);
}
#endif

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_every_isa),
		T(test_counters_as_fetch),
		cmocka_unit_test(test_simd_pieces_errors),
#if defined(__x86_64__)
		cmocka_unit_test(test_pieces_mxcsr),
#endif
	};

	return cmocka_run_group_tests_name("lib_pieces", tests, NULL, NULL);
}
