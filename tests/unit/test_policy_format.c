// SPDX-License-Identifier: GPL-2.0
/*
 * The policy area format (codec/policy_format.c): format and header
 * checks, publish and slot checks (one test per refusal), and the seqlock:
 * reader threads copying maps while the writer flips them must only ever
 * see a whole map of one generation.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "policy_format.h"
#include "store_format.h"

#define AREA_BYTES	(256u << 10)

static const cxlms_u8 uuid_a[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const cxlms_u8 uuid_b[16] = { 16, 15, 14 };
static const cxlms_u32 tiles3[3] = { 4, 1, 7 };	/* 12 tiles in all */

struct fx {
	cxlms_u8 *area;
	struct cxlms_policy_ctx ctx[3];
	cxlms_u8 maps[3 * 12];
	struct cxlms_policy_image img;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	unsigned int i;

	assert_non_null(f);
	f->area = aligned_alloc(4096, AREA_BYTES);
	assert_non_null(f->area);
	memset(f->area, 0, AREA_BYTES);
	assert_int_equal(cxlms_policy_format(f->area, AREA_BYTES, uuid_a), 0);
	strcpy(f->ctx[0].name, "quality");
	strcpy(f->ctx[1].name, "short");
	strcpy(f->ctx[2].name, "budget.v2");
	for (i = 0; i < sizeof(f->maps); i++)
		f->maps[i] = (cxlms_u8)(1 + (i * 7) % 8);
	f->img = (struct cxlms_policy_image){
		.n_contexts = 3, .default_context = 1, .ctx = f->ctx,
		.n_tensors = 3, .tiles = tiles3, .n_tiles = 12, .maps = f->maps,
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	free(f->area);
	free(f);
	return 0;
}

static int hdr_check(struct fx *f)
{
	char why[128];

	return cxlms_policy_hdr_check(f->area, AREA_BYTES, uuid_a, why, sizeof(why));
}

static struct cxlms_policy_hdr *hdr(struct fx *f)
{
	return (struct cxlms_policy_hdr *)f->area;
}

/* Re-CRC the header after a deliberate change, so the next check is reached. */
static void hdr_reseal(struct fx *f)
{
	struct cxlms_policy_hdr *h = hdr(f);
	cxlms_u32 zero = 0, crc;

	crc = cxlms_crc32c(0, h, offsetof(struct cxlms_policy_hdr, hdr_crc));
	h->hdr_crc = cxlms_crc32c(crc, &zero, sizeof(zero));
}

static void test_format_checks_clean(void **state)
{
	struct fx *f = *state;

	assert_int_equal(hdr_check(f), 0);
	assert_int_equal(cxlms_policy_read_begin(f->area), 0);
}

static void test_hdr_zeroed_is_foreign(void **state)
{
	struct fx *f = *state;

	memset(f->area, 0, AREA_BYTES);
	assert_int_equal(hdr_check(f), -CXLMS_EFOREIGN);
}

static void test_hdr_bad_crc(void **state)
{
	struct fx *f = *state;

	hdr(f)->slot_bytes -= 64;
	assert_int_equal(hdr_check(f), -CXLMS_ECHECKSUM);
}

static void test_hdr_bad_version(void **state)
{
	struct fx *f = *state;

	hdr(f)->version = 2;
	hdr_reseal(f);
	assert_int_equal(hdr_check(f), -CXLMS_EVERSION);
}

static void test_hdr_reserved_nonzero(void **state)
{
	struct fx *f = *state;

	hdr(f)->reserved[3] = 1;
	hdr_reseal(f);
	assert_int_equal(hdr_check(f), -CXLMS_EINVALID);
}

static void test_hdr_size_mismatch(void **state)
{
	struct fx *f = *state;
	char why[128];

	assert_int_equal(cxlms_policy_hdr_check(f->area, AREA_BYTES - 4096, uuid_a,
						why, sizeof(why)), -CXLMS_EINVALID);
	assert_non_null(strstr(why, "size"));
}

static void test_hdr_other_store(void **state)
{
	struct fx *f = *state;
	char why[128];

	assert_int_equal(cxlms_policy_hdr_check(f->area, AREA_BYTES, uuid_b, why,
						sizeof(why)), -CXLMS_EINVALID);
	assert_non_null(strstr(why, "uuid"));
}

static void test_hdr_slots_overlap(void **state)
{
	struct fx *f = *state;

	hdr(f)->slot_off[1] = hdr(f)->slot_off[0] + 64;
	hdr_reseal(f);
	assert_int_equal(hdr_check(f), -CXLMS_EINVALID);
}

static void test_hdr_slot_past_end(void **state)
{
	struct fx *f = *state;

	hdr(f)->slot_off[1] = AREA_BYTES - 64;
	hdr_reseal(f);
	assert_int_equal(hdr_check(f), -CXLMS_EINVALID);
}

static void test_format_too_small(void **state)
{
	struct fx *f = *state;

	assert_int_equal(cxlms_policy_format(f->area, CXLMS_POLICY_MIN_BYTES - 64,
					     uuid_a), -EINVAL);
}

static int slot_check(struct fx *f, cxlms_u64 gen)
{
	char why[128];

	return cxlms_policy_slot_check(f->area, gen, 3, tiles3, why, sizeof(why));
}

static void test_publish_roundtrip(void **state)
{
	struct fx *f = *state;
	const struct cxlms_policy_slot *s;
	char name[CXLMS_POLICY_NAME_MAX];
	cxlms_u64 gen = 0, off;
	int c;

	assert_int_equal(cxlms_policy_publish(f->area, &f->img, &gen), 0);
	assert_int_equal(gen, 1);
	assert_int_equal(cxlms_policy_read_begin(f->area), 1);
	assert_int_equal(slot_check(f, 1), 0);
	s = cxlms_policy_slot_of(f->area, 1);
	assert_int_equal(cxlms_policy_find_context(f->area, 1, "short"), 1);
	assert_int_equal(cxlms_policy_find_context(f->area, 1, "budget.v2"), 2);
	assert_int_equal(cxlms_policy_find_context(f->area, 1, NULL), 1);	/* default */
	assert_int_equal(cxlms_policy_find_context(f->area, 1, "nope"), -ENOENT);
	assert_int_equal(cxlms_policy_context_name(f->area, 1, 2, name), 0);
	assert_string_equal(name, "budget.v2");
	assert_int_equal(cxlms_policy_context_name(f->area, 1, 3, name), -ENOENT);
	assert_int_equal(cxlms_policy_map_offset(f->area, 1, 2, 12, &off), 0);
	assert_int_equal(off, hdr(f)->slot_off[1] + s->maps_off + 24);
	assert_int_equal(cxlms_policy_map_offset(f->area, 1, 2, 13, &off), -CXLMS_EINVALID);
	for (c = 0; c < 3; c++)
		assert_memory_equal((const cxlms_u8 *)s + s->maps_off + c * 12,
				    f->maps + c * 12, 12);

	/* The second publish goes to the other slot and leaves the first. */
	f->maps[0] = 2;
	assert_int_equal(cxlms_policy_publish(f->area, &f->img, &gen), 0);
	assert_int_equal(gen, 2);
	assert_ptr_not_equal(cxlms_policy_slot_of(f->area, 1), cxlms_policy_slot_of(f->area, 2));
	assert_int_equal(slot_check(f, 2), 0);
	s = cxlms_policy_slot_of(f->area, 2);
	assert_int_equal(((const cxlms_u8 *)s)[s->maps_off], 2);
}

static void test_slot_check_nothing_published(void **state)
{
	assert_int_equal(slot_check(*state, 0), -ENODATA);
}

static void test_publish_enospc(void **state)
{
	struct fx *f = *state;
	cxlms_u64 gen;
	cxlms_u32 big[1] = { 200000 };
	cxlms_u8 *maps = calloc(3, 200000);

	assert_non_null(maps);
	memset(maps, 4, 3 * 200000);
	f->img.n_tensors = 1;
	f->img.tiles = big;
	f->img.n_tiles = 200000;
	f->img.maps = maps;
	assert_int_equal(cxlms_policy_publish(f->area, &f->img, &gen), -ENOSPC);
	assert_int_equal(cxlms_policy_read_begin(f->area), 0);
	free(maps);
}

static void test_publish_zero_bits(void **state)
{
	struct fx *f = *state;
	cxlms_u64 gen;

	f->maps[5] = 0;
	assert_int_equal(cxlms_policy_publish(f->area, &f->img, &gen), -EINVAL);
}

static void test_publish_17_bits(void **state)
{
	struct fx *f = *state;
	cxlms_u64 gen;

	f->maps[5] = 17;
	assert_int_equal(cxlms_policy_publish(f->area, &f->img, &gen), -EINVAL);
}

static void test_publish_bad_name(void **state)
{
	struct fx *f = *state;
	cxlms_u64 gen;

	strcpy(f->ctx[2].name, "has space");
	assert_int_equal(cxlms_policy_publish(f->area, &f->img, &gen), -EINVAL);
}

static void test_publish_dup_name(void **state)
{
	struct fx *f = *state;
	cxlms_u64 gen;

	strcpy(f->ctx[2].name, "quality");
	assert_int_equal(cxlms_policy_publish(f->area, &f->img, &gen), -EINVAL);
}

static void test_publish_bad_default(void **state)
{
	struct fx *f = *state;
	cxlms_u64 gen;

	f->img.default_context = 3;
	assert_int_equal(cxlms_policy_publish(f->area, &f->img, &gen), -EINVAL);
}

static void test_publish_tile_sum_mismatch(void **state)
{
	struct fx *f = *state;
	cxlms_u64 gen;

	f->img.n_tiles = 11;
	assert_int_equal(cxlms_policy_publish(f->area, &f->img, &gen), -EINVAL);
}

/* Publish, then damage the live slot in one way and re-CRC it. */
static struct cxlms_policy_slot *published_slot(struct fx *f)
{
	cxlms_u64 gen;

	assert_int_equal(cxlms_policy_publish(f->area, &f->img, &gen), 0);
	return (struct cxlms_policy_slot *)cxlms_policy_slot_of(f->area, gen);
}

static void slot_reseal(struct cxlms_policy_slot *s)
{
	s->slot_crc = cxlms_crc32c(0, (cxlms_u8 *)s + 4, s->slot_len - 4);
}

static void test_slot_bad_crc(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_slot *s = published_slot(f);

	((cxlms_u8 *)s)[s->maps_off + 3] ^= 1;
	assert_int_equal(slot_check(f, 1), -CXLMS_ECHECKSUM);
}

static void test_slot_len_out_of_bounds(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_slot *s = published_slot(f);

	s->slot_len = (cxlms_u32)hdr(f)->slot_bytes + 64;
	assert_int_equal(slot_check(f, 1), -CXLMS_EINVALID);
}

static void test_slot_wrong_generation(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_slot *s = published_slot(f);

	s->generation = 3;
	slot_reseal(s);
	assert_int_equal(slot_check(f, 1), -CXLMS_EINVALID);
}

static void test_slot_other_directory(void **state)
{
	struct fx *f = *state;
	char why[128];
	cxlms_u32 other[3] = { 4, 2, 6 };	/* same total, other split */

	published_slot(f);
	assert_int_equal(cxlms_policy_slot_check(f->area, 1, 3, other, why, sizeof(why)),
			 -CXLMS_EINVALID);
	assert_non_null(strstr(why, "directory"));
}

static void test_slot_tensor_count(void **state)
{
	struct fx *f = *state;
	char why[128];

	published_slot(f);
	assert_int_equal(cxlms_policy_slot_check(f->area, 1, 2, tiles3, why, sizeof(why)),
			 -CXLMS_EINVALID);
}

static void test_slot_bits_zero(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_slot *s = published_slot(f);

	((cxlms_u8 *)s)[s->maps_off + 7] = 0;
	slot_reseal(s);
	assert_int_equal(slot_check(f, 1), -CXLMS_EINVALID);
}

static void test_slot_maps_out_of_bounds(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_slot *s = published_slot(f);

	s->maps_off = s->slot_len - 8;
	slot_reseal(s);
	assert_int_equal(slot_check(f, 1), -CXLMS_EINVALID);
}

static void test_slot_default_out_of_range(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_slot *s = published_slot(f);

	s->default_context = 3;
	slot_reseal(s);
	assert_int_equal(slot_check(f, 1), -CXLMS_EINVALID);
}

static void test_slot_dup_names(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_slot *s = published_slot(f);
	struct cxlms_policy_ctx *c = (void *)((cxlms_u8 *)s + s->ctx_off);

	strcpy(c[2].name, "short");
	slot_reseal(s);
	assert_int_equal(slot_check(f, 1), -CXLMS_EINVALID);
}

static void test_slot_unterminated_name(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_slot *s = published_slot(f);
	struct cxlms_policy_ctx *c = (void *)((cxlms_u8 *)s + s->ctx_off);

	memset(c[0].name, 'a', sizeof(c[0].name));
	slot_reseal(s);
	assert_int_equal(slot_check(f, 1), -CXLMS_EINVALID);
}

/* Lookups bound every offset by the slot, even when the head is garbage. */
static void test_lookups_bounded_on_torn_head(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_slot *s = published_slot(f);
	char name[CXLMS_POLICY_NAME_MAX];
	cxlms_u64 off;

	s->ctx_off = 0x7ffffff0;
	assert_int_equal(cxlms_policy_find_context(f->area, 1, "short"), -CXLMS_EINVALID);
	assert_int_equal(cxlms_policy_context_name(f->area, 1, 0, name), -CXLMS_EINVALID);
	s->ctx_off = 64;
	s->maps_off = 0xfffffff0u;
	assert_int_equal(cxlms_policy_map_offset(f->area, 1, 0, 12, &off), -CXLMS_EINVALID);
	s->maps_off = 320;
	s->n_contexts = 100000;
	assert_int_equal(cxlms_policy_find_context(f->area, 1, NULL), -CXLMS_EINVALID);
}

/*
 * A torn head with a context table that is misaligned (read as structs
 * with 4-byte members) or overlaps the head is refused by the lookups as
 * slot_check refuses it (found by tests/fuzz/fuzz_policy).
 */
static void test_lookups_refuse_misaligned_ctx_table(void **state)
{
	struct fx *f = *state;
	struct cxlms_policy_slot *s = published_slot(f);
	char name[CXLMS_POLICY_NAME_MAX];
	cxlms_u64 off;

	assert_int_equal(cxlms_policy_find_context(f->area, 1, "short"), 1);
	s->ctx_off = 64 + 3;
	assert_int_equal(cxlms_policy_find_context(f->area, 1, "short"), -CXLMS_EINVALID);
	assert_int_equal(cxlms_policy_find_context(f->area, 1, NULL), -CXLMS_EINVALID);
	assert_int_equal(cxlms_policy_context_name(f->area, 1, 0, name), -CXLMS_EINVALID);
	assert_int_equal(cxlms_policy_map_offset(f->area, 1, 0, 12, &off), -CXLMS_EINVALID);
	s->ctx_off = 8;	/* aligned, but inside the head */
	assert_int_equal(cxlms_policy_find_context(f->area, 1, "short"), -CXLMS_EINVALID);
	assert_int_equal(cxlms_policy_context_name(f->area, 1, 0, name), -CXLMS_EINVALID);
	s->ctx_off = 64;
	assert_int_equal(cxlms_policy_find_context(f->area, 1, "short"), 1);
}

static void test_name_valid(void **state)
{
	char long_name[CXLMS_POLICY_NAME_MAX + 1];

	assert_true(cxlms_policy_name_valid("a"));
	assert_true(cxlms_policy_name_valid("short-prompt_v1.2"));
	assert_false(cxlms_policy_name_valid(""));
	assert_false(cxlms_policy_name_valid("a b"));
	assert_false(cxlms_policy_name_valid("a/b"));
	memset(long_name, 'x', sizeof(long_name));
	long_name[CXLMS_POLICY_NAME_MAX - 1] = '\0';	/* 47 bytes: fits */
	assert_true(cxlms_policy_name_valid(long_name));
	long_name[CXLMS_POLICY_NAME_MAX - 1] = 'x';
	long_name[CXLMS_POLICY_NAME_MAX] = '\0';	/* 48 bytes: too long */
	assert_false(cxlms_policy_name_valid(long_name));
}

/* --- the seqlock under concurrent readers --------------------------------- */

#define RACE_TILES	60000	/* a big map: a torn read is likely if unguarded */
#define RACE_PUBLISHES	2000
#define RACE_READERS	3

struct race {
	cxlms_u8 *area;
	cxlms_u32 tiles[2];
	volatile int stop;
	unsigned long reads, retries, torn;
	unsigned long progress;		/* whole reads so far, all readers */
};

/* Map of generation g: every byte of context c is ((g + c) % 16) + 1. */
static cxlms_u8 race_value(cxlms_u64 g, unsigned int c)
{
	return (cxlms_u8)((g + c) % 16 + 1);
}

static void *race_reader(void *arg)
{
	struct race *r = arg;
	cxlms_u8 *copy = malloc(RACE_TILES);
	unsigned long reads = 0, retries = 0, torn = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		cxlms_u64 g, off;
		unsigned int i, c = reads % 2;

		g = cxlms_policy_read_begin(r->area);
		if (!g)
			continue;
		if (cxlms_policy_map_offset(r->area, g, c, RACE_TILES, &off)) {
			if (!cxlms_policy_read_retry(r->area, g))
				torn++;	/* a stable slot must look sound */
			continue;
		}
		memcpy(copy, r->area + off, RACE_TILES);
		if (cxlms_policy_read_retry(r->area, g)) {
			retries++;
			continue;
		}
		reads++;
		__atomic_fetch_add(&r->progress, 1, __ATOMIC_RELAXED);
		for (i = 0; i < RACE_TILES; i++)
			if (copy[i] != race_value(g, c)) {
				torn++;
				break;
			}
	}
	__atomic_fetch_add(&r->reads, reads, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->retries, retries, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->torn, torn, __ATOMIC_RELAXED);
	free(copy);
	return NULL;
}

static void test_seqlock_readers_see_whole_maps(void **state)
{
	struct fx *f = *state;
	struct race r = { .area = f->area, .tiles = { RACE_TILES / 2, RACE_TILES / 2 } };
	struct cxlms_policy_ctx ctx[2] = { { .name = "a" }, { .name = "b" } };
	cxlms_u8 *maps = malloc(2 * RACE_TILES);
	pthread_t th[RACE_READERS];
	struct cxlms_policy_image img = {
		.n_contexts = 2, .ctx = ctx, .n_tensors = 2, .tiles = r.tiles,
		.n_tiles = RACE_TILES, .maps = maps,
	};
	cxlms_u64 gen = 0, next;
	time_t t0 = time(NULL);
	int i;

	assert_non_null(maps);
	for (i = 0; i < RACE_READERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_reader, &r), 0);
	/* At least RACE_PUBLISHES, and until the readers got going (2 cores). */
	for (i = 0; i < RACE_PUBLISHES ||
		    (__atomic_load_n(&r.progress, __ATOMIC_RELAXED) < 20000 &&
		     time(NULL) - t0 < 5); i++) {
		next = gen + 1;
		memset(maps, race_value(next, 0), RACE_TILES);
		memset(maps + RACE_TILES, race_value(next, 1), RACE_TILES);
		assert_int_equal(cxlms_policy_publish(f->area, &img, &gen), 0);
		assert_int_equal(gen, next);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < RACE_READERS; i++)
		pthread_join(th[i], NULL);
	print_message("# %lu whole reads, %lu retried, %lu torn\n", r.reads,
		      r.retries, r.torn);
	assert_int_equal(r.torn, 0);
	assert_true(r.reads > 0);
	/* Every slot a reader could land on also passes the full check. */
	{
		cxlms_u32 t2[2] = { RACE_TILES / 2, RACE_TILES / 2 };
		char why[128];

		assert_int_equal(cxlms_policy_slot_check(f->area, gen, 2, t2, why,
							 sizeof(why)), 0);
	}
	free(maps);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_format_checks_clean),
		T(test_hdr_zeroed_is_foreign),
		T(test_hdr_bad_crc),
		T(test_hdr_bad_version),
		T(test_hdr_reserved_nonzero),
		T(test_hdr_size_mismatch),
		T(test_hdr_other_store),
		T(test_hdr_slots_overlap),
		T(test_hdr_slot_past_end),
		T(test_format_too_small),
		T(test_publish_roundtrip),
		T(test_slot_check_nothing_published),
		T(test_publish_enospc),
		T(test_publish_zero_bits),
		T(test_publish_17_bits),
		T(test_publish_bad_name),
		T(test_publish_dup_name),
		T(test_publish_bad_default),
		T(test_publish_tile_sum_mismatch),
		T(test_slot_bad_crc),
		T(test_slot_len_out_of_bounds),
		T(test_slot_wrong_generation),
		T(test_slot_other_directory),
		T(test_slot_tensor_count),
		T(test_slot_bits_zero),
		T(test_slot_maps_out_of_bounds),
		T(test_slot_default_out_of_range),
		T(test_slot_dup_names),
		T(test_slot_unterminated_name),
		T(test_lookups_bounded_on_torn_head),
		T(test_lookups_refuse_misaligned_ctx_table),
		T(test_name_valid),
		T(test_seqlock_readers_see_whole_maps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
