// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libFuzzer harness: the policy area readers of codec/policy_format.c,
 * as lib/policy.c and cxlms.ko use them on a store's policy area that
 * anything with write access to the store may have scribbled on.
 *
 * Input: a flags byte, a tensor count byte T (mod 17), T little-endian
 * 16-bit tile counts (the store directory the maps must match), then the
 * area itself (copied to a 64-byte aligned buffer).  Flags bit 0 reseals
 * the header CRC, bit 1 both slot CRCs (over each slot's own slot_len when
 * that is inside the slot), as a writer would, so mutation gets past the
 * checksums; with the bits clear the checksum checks are fuzzed as well.
 *
 * The readers run in the order the library uses them: header check, then
 * the slot of the current generation; context lookups and map offsets
 * run on whatever slot the header points at (they validate the slot head
 * themselves), and when the slot checks out, every map byte must lie
 * inside the area and hold 1..16 bits.
 */
#include <errno.h>

#include "fuzz_common.h"
#include "policy_format.h"
#include "store_format.h"

#define MAX_TENSORS	16

static const uint8_t uuid[16] = {
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static void reseal_slot(uint8_t *area, uint64_t len, uint64_t off, uint64_t bytes)
{
	struct cxlms_policy_slot s;
	uint32_t crc;

	if (off > len || bytes > len - off || bytes < sizeof(s) || off % 64)
		return;
	memcpy(&s, area + off, sizeof(s));
	if (s.slot_len < sizeof(s) || s.slot_len > bytes)
		return;
	crc = cxlms_crc32c(0, area + off + 4, s.slot_len - 4);
	memcpy(area + off, &crc, 4);
}

static void reseal(uint8_t *area, uint64_t len, unsigned int flags)
{
	struct cxlms_policy_hdr h;
	static const uint32_t zero;

	if (len < sizeof(h))
		return;
	memcpy(&h, area, sizeof(h));
	if (flags & 2) {
		reseal_slot(area, len, h.slot_off[0], h.slot_bytes);
		reseal_slot(area, len, h.slot_off[1], h.slot_bytes);
	}
	if (flags & 1) {
		h.hdr_crc = cxlms_crc32c(0, &h, offsetof(struct cxlms_policy_hdr, hdr_crc));
		h.hdr_crc = cxlms_crc32c(h.hdr_crc, &zero, sizeof(zero));
		memcpy(area, &h, sizeof(h));
	}
}

/*
 * The writer on an area whose header checked out (what cxlmsd does with
 * a store's area): what it publishes must then pass the reader's checks.
 */
static void publish(uint8_t *area, uint64_t len, unsigned int n_tensors,
		    const uint32_t *tiles, uint32_t n_tiles)
{
	struct cxlms_policy_ctx ctx[2];
	struct cxlms_policy_image img;
	char why[128];
	uint64_t gen;
	uint8_t *maps;
	uint32_t i;
	int rc;

	if (n_tiles > 4096)
		return;
	maps = malloc(2 * (size_t)n_tiles + 1);
	if (!maps)
		return;
	for (i = 0; i < 2 * n_tiles; i++)
		maps[i] = (uint8_t)(1 + i % CXLMS_MAX_PLANES);
	memset(ctx, 0, sizeof(ctx));
	strcpy(ctx[0].name, "default");
	strcpy(ctx[1].name, "fast");
	img = (struct cxlms_policy_image) {
		.n_contexts = 2, .default_context = 1, .ctx = ctx,
		.n_tensors = n_tensors, .tiles = tiles, .n_tiles = n_tiles,
		.maps = maps,
	};
	rc = cxlms_policy_publish(area, &img, &gen);
	/*
	 * A generation word of UINT64_MAX (only a corrupt area has one) wraps
	 * to 0, which readers take as "nothing published": benign, not
	 * checked here (tests/fuzz/README.md).
	 */
	if (!rc && gen) {
		rc = cxlms_policy_slot_check(area, gen, n_tensors, tiles, why, sizeof(why));
		if (rc)
			fprintf(stderr, "published slot refused: %s\n", why);
		FUZZ_ASSERT(!rc);
		FUZZ_ASSERT(cxlms_policy_find_context(area, gen, "fast") == 1);
		FUZZ_ASSERT(cxlms_policy_find_context(area, gen, NULL) == 1);
	} else if (rc) {
		FUZZ_ASSERT(rc == -ENOSPC);
	}
	(void)len;
	free(maps);
}

static const char *const probe_names[] = { "", "default", "a", "fast", "x.y-z_0" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t tiles[MAX_TENSORS], n_tiles = 0;
	char why[128], name[CXLMS_POLICY_NAME_MAX];
	unsigned int flags, n_tensors, i;
	uint8_t *area;
	uint64_t len, gen, off;
	int rc, idx;

	if (size < 2)
		return 0;
	flags = data[0];
	n_tensors = data[1] % (MAX_TENSORS + 1);
	data += 2;
	size -= 2;
	if (size < 2ull * n_tensors)
		return 0;
	for (i = 0; i < n_tensors; i++) {
		tiles[i] = (uint32_t)data[2 * i] | (uint32_t)data[2 * i + 1] << 8;
		n_tiles += tiles[i];
	}
	data += 2 * n_tensors;
	size -= 2 * n_tensors;
	len = size;
	/* The area is 64-byte aligned in a store (the format relies on it). */
	area = aligned_alloc(64, (size + 63) / 64 * 64 + 64);
	if (!area)
		return 0;
	memcpy(area, data, size);
	reseal(area, len, flags);

	rc = cxlms_policy_hdr_check(area, len, uuid, why, sizeof(why));
	FUZZ_ASSERT(rc <= 0 && strlen(why) < sizeof(why));
	if (rc)
		goto out;
	gen = cxlms_policy_read_begin(area);
	rc = cxlms_policy_slot_check(area, gen, n_tensors, tiles, why, sizeof(why));
	FUZZ_ASSERT(rc <= 0);
	if (getenv("CXLMS_FUZZ_VERBOSE"))
		fprintf(stderr, "policy: generation %llu slot check %d %s\n",
			(unsigned long long)gen, rc, rc ? why : "");
	/* Lookups validate the slot head themselves: run them either way. */
	for (i = 0; i < sizeof(probe_names) / sizeof(probe_names[0]); i++)
		(void)cxlms_policy_find_context(area, gen, probe_names[i]);
	for (i = 0; i < CXLMS_POLICY_MAX_CONTEXTS + 1; i++) {
		int r = cxlms_policy_context_name(area, gen, i, name);

		if (r)
			break;
		FUZZ_ASSERT(strlen(name) < CXLMS_POLICY_NAME_MAX);
		if (!rc) {
			/* A valid slot: every name is found again, at its index. */
			FUZZ_ASSERT(cxlms_policy_find_context(area, gen, name) == (int)i);
		}
		if (!cxlms_policy_map_offset(area, gen, i, n_tiles, &off)) {
			FUZZ_ASSERT(off <= len && n_tiles <= len - off);
			if (!rc) {
				uint32_t t;

				for (t = 0; t < n_tiles; t++)
					FUZZ_ASSERT(area[off + t] >= 1 &&
						    area[off + t] <= CXLMS_MAX_PLANES);
			}
		}
	}
	if (!rc) {
		idx = cxlms_policy_find_context(area, gen, NULL);
		FUZZ_ASSERT(idx >= 0);
	}
	(void)cxlms_policy_read_retry(area, gen);
	publish(area, len, n_tensors, tiles, n_tiles);
out:
	free(area);
	return 0;
}
