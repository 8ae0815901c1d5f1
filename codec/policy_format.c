// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Policy area: format, validation, the seqlock read side and the single
 * writer's publish.  Shared by libcxlms, cxlmsd and (later) cxlms.ko, so
 * like store_format.c it trusts no byte of the area: every offset is
 * checked against the slot size before anything behind it is read, and a
 * slot may change under a reader at any time (the seqlock says when).
 */
#include "policy_format.h"
#include "store_format.h"

_Static_assert(sizeof(struct cxlms_policy_hdr) == 128, "policy header is 128 bytes");
_Static_assert(sizeof(struct cxlms_policy_seq) == 64, "seq word owns a cache line");
_Static_assert(sizeof(struct cxlms_policy_ctx) == 64, "context entry is 64 bytes");
_Static_assert(sizeof(struct cxlms_policy_slot) == 64, "slot head is 64 bytes");
_Static_assert(CXLMS_POLICY_SEQ_OFF + sizeof(struct cxlms_policy_seq) <=
	       CXLMS_POLICY_SLOTS_OFF, "seq word before the slots");

/*
 * Ordering primitives.  The writer's stores into a slot must be visible
 * before the generation that publishes it (release); a reader's loads of
 * the slot must complete before it re-reads the generation (read barrier).
 */
#ifdef __KERNEL__
#include <asm/barrier.h>
#define seq_load_acquire(p)	smp_load_acquire(p)
#define seq_load(p)		READ_ONCE(*(p))
#define seq_store_release(p, v)	smp_store_release(p, v)
#define seq_rmb()		smp_rmb()
#define seq_mb()		smp_mb()
#else
#define seq_load_acquire(p)	__atomic_load_n(p, __ATOMIC_ACQUIRE)
#define seq_load(p)		__atomic_load_n(p, __ATOMIC_RELAXED)
#define seq_store_release(p, v)	__atomic_store_n(p, v, __ATOMIC_RELEASE)
#define seq_rmb()		__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define seq_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

/* --- messages without snprintf (freestanding) ----------------------- */

static int fail(char *why, cxlms_u32 why_len, int err, const char *what)
{
	cxlms_u32 i = 0;

	if (why && why_len) {
		while (what[i] && i + 1 < why_len) {
			why[i] = what[i];
			i++;
		}
		why[i] = '\0';
	}
	return -err;
}

/* --- helpers --------------------------------------------------------- */

static const cxlms_u8 *area_at(const void *area, cxlms_u64 off)
{
	return (const cxlms_u8 *)area + off;
}

static struct cxlms_policy_seq *seq_of(const void *area)
{
	return (struct cxlms_policy_seq *)((cxlms_u8 *)area + CXLMS_POLICY_SEQ_OFF);
}

static cxlms_u32 hdr_crc(const struct cxlms_policy_hdr *h)
{
	static const cxlms_u32 zero;
	cxlms_u32 crc;

	crc = cxlms_crc32c(0, h, offsetof(struct cxlms_policy_hdr, hdr_crc));
	return cxlms_crc32c(crc, &zero, sizeof(zero));
}

static cxlms_u32 slot_crc(const struct cxlms_policy_slot *s, cxlms_u32 len)
{
	return cxlms_crc32c(0, (const cxlms_u8 *)s + sizeof(s->slot_crc),
			    len - sizeof(s->slot_crc));
}

int cxlms_policy_name_valid(const char *name)
{
	cxlms_u32 i;

	if (!name || !name[0])
		return 0;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (i + 1 >= CXLMS_POLICY_NAME_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static int name_eq(const char *a, const char *b)
{
	cxlms_u32 i;

	for (i = 0; i < CXLMS_POLICY_NAME_MAX; i++) {
		if (a[i] != b[i])
			return 0;
		if (!a[i])
			return 1;
	}
	return 0;
}

cxlms_u64 cxlms_policy_slot_need(cxlms_u32 n_contexts, cxlms_u32 n_tensors,
				 cxlms_u32 n_tiles)
{
	cxlms_u64 need = sizeof(struct cxlms_policy_slot);

	need += (cxlms_u64)n_contexts * sizeof(struct cxlms_policy_ctx);
	need += ((cxlms_u64)n_tensors + 1) * sizeof(cxlms_u32);
	need = CXLMS_ALIGN_UP(need, 64);
	need += (cxlms_u64)n_contexts * n_tiles;
	return need;
}

/* --- format and header check ----------------------------------------- */

int cxlms_policy_format(void *area, cxlms_u64 len, const cxlms_u8 uuid[16])
{
	struct cxlms_policy_hdr *h = area;
	cxlms_u64 slot_bytes;

	if (len < CXLMS_POLICY_MIN_BYTES || ((cxlms_u64)(unsigned long)area % 64))
		return -EINVAL;
	slot_bytes = (len - CXLMS_POLICY_SLOTS_OFF) / 2 / 64 * 64;
	/* Generation 0 first: a reader that races the format sees "no maps". */
	seq_store_release(&seq_of(area)->generation, 0);
	memset(area, 0, CXLMS_POLICY_SLOTS_OFF);
	memset((cxlms_u8 *)area + CXLMS_POLICY_SLOTS_OFF, 0,
	       sizeof(struct cxlms_policy_slot));
	memset((cxlms_u8 *)area + CXLMS_POLICY_SLOTS_OFF + slot_bytes, 0,
	       sizeof(struct cxlms_policy_slot));
	memcpy(h->magic, CXLMS_POLICY_MAGIC, sizeof(h->magic));
	h->version = CXLMS_POLICY_VERSION;
	h->hdr_len = sizeof(*h);
	h->area_bytes = len;
	h->slot_off[0] = CXLMS_POLICY_SLOTS_OFF;
	h->slot_off[1] = CXLMS_POLICY_SLOTS_OFF + slot_bytes;
	h->slot_bytes = slot_bytes;
	memcpy(h->store_uuid, uuid, sizeof(h->store_uuid));
	h->hdr_crc = hdr_crc(h);
	return 0;
}

int cxlms_policy_hdr_check(const void *area, cxlms_u64 len,
			   const cxlms_u8 uuid[16], char *why,
			   cxlms_u32 why_len)
{
	const struct cxlms_policy_hdr *h = area;
	cxlms_u64 s0, s1, sb;

	if (len < CXLMS_POLICY_MIN_BYTES)
		return fail(why, why_len, CXLMS_EINVALID, "policy area too small");
	if (memcmp(h->magic, CXLMS_POLICY_MAGIC, sizeof(h->magic)))
		return fail(why, why_len, CXLMS_EFOREIGN,
			    "policy area not formatted (no cxlmsd maps yet)");
	if (h->hdr_crc != hdr_crc(h))
		return fail(why, why_len, CXLMS_ECHECKSUM, "policy header checksum mismatch");
	if (h->version != CXLMS_POLICY_VERSION)
		return fail(why, why_len, CXLMS_EVERSION, "unknown policy area version");
	if (h->hdr_len != sizeof(*h) || h->pad ||
	    !cxlms_all_zero(h->reserved, sizeof(h->reserved)))
		return fail(why, why_len, CXLMS_EINVALID, "policy header has unknown fields");
	if (h->area_bytes != len)
		return fail(why, why_len, CXLMS_EINVALID,
			    "policy header size disagrees with the superblock");
	if (memcmp(h->store_uuid, uuid, sizeof(h->store_uuid)))
		return fail(why, why_len, CXLMS_EINVALID,
			    "policy area belongs to another store (uuid)");
	s0 = h->slot_off[0];
	s1 = h->slot_off[1];
	sb = h->slot_bytes;
	if (s0 % 64 || s1 % 64 || sb % 64 || sb < sizeof(struct cxlms_policy_slot) ||
	    sb > len || s0 < CXLMS_POLICY_SLOTS_OFF || s0 > len - sb ||
	    s1 < s0 + sb || s1 > len - sb)
		return fail(why, why_len, CXLMS_EINVALID,
			    "policy slots out of bounds, misaligned or overlapping");
	return 0;
}

/* --- readers --------------------------------------------------------- */

cxlms_u64 cxlms_policy_read_begin(const void *area)
{
	return seq_load_acquire(&seq_of(area)->generation);
}

int cxlms_policy_read_retry(const void *area, cxlms_u64 gen)
{
	seq_rmb();
	return seq_load(&seq_of(area)->generation) != gen;
}

const struct cxlms_policy_slot *cxlms_policy_slot_of(const void *area,
						     cxlms_u64 gen)
{
	const struct cxlms_policy_hdr *h = area;

	return (const struct cxlms_policy_slot *)area_at(area, h->slot_off[gen & 1]);
}

/*
 * The slot may be rewritten while we look at it, so the head is copied
 * once and every check uses the copy: a torn head can fail a check, but
 * never send a read out of the slot.
 */
int cxlms_policy_slot_check(const void *area, cxlms_u64 gen,
			    cxlms_u32 n_tensors, const cxlms_u32 *tiles,
			    char *why, cxlms_u32 why_len)
{
	const struct cxlms_policy_hdr *h = area;
	const struct cxlms_policy_slot *live = cxlms_policy_slot_of(area, gen);
	struct cxlms_policy_slot s;
	const struct cxlms_policy_ctx *ctx;
	const cxlms_u8 *base_p, *maps;
	cxlms_u64 maps_end, sum = 0, n;
	cxlms_u32 i, j;

	if (!gen)
		return fail(why, why_len, ENODATA, "no precision maps published yet");
	memcpy(&s, live, sizeof(s));
	if (s.slot_len < sizeof(s) || s.slot_len > h->slot_bytes)
		return fail(why, why_len, CXLMS_EINVALID, "policy slot length out of bounds");
	if (s.slot_crc != slot_crc(live, s.slot_len))
		return fail(why, why_len, CXLMS_ECHECKSUM, "policy slot checksum mismatch");
	if (s.generation != gen)
		return fail(why, why_len, CXLMS_EINVALID,
			    "policy slot generation disagrees with the header");
	if (s.pad || !cxlms_all_zero(s.reserved, sizeof(s.reserved)))
		return fail(why, why_len, CXLMS_EINVALID, "policy slot has unknown fields");
	if (!s.n_contexts || s.n_contexts > CXLMS_POLICY_MAX_CONTEXTS ||
	    s.default_context >= s.n_contexts)
		return fail(why, why_len, CXLMS_EINVALID, "policy slot context count invalid");
	if (s.n_tensors != n_tensors)
		return fail(why, why_len, CXLMS_EINVALID,
			    "policy maps cover a different tensor count than the directory");
	if (s.ctx_off < sizeof(s) || s.ctx_off % 8 ||
	    (cxlms_u64)s.ctx_off + (cxlms_u64)s.n_contexts * sizeof(*ctx) > s.slot_len ||
	    s.base_off % 4 ||
	    (cxlms_u64)s.base_off + ((cxlms_u64)s.n_tensors + 1) * 4 > s.slot_len)
		return fail(why, why_len, CXLMS_EINVALID, "policy slot tables out of bounds");
	maps_end = (cxlms_u64)s.maps_off + (cxlms_u64)s.n_contexts * s.n_tiles;
	if (maps_end > s.slot_len)
		return fail(why, why_len, CXLMS_EINVALID, "policy maps out of bounds");

	ctx = (const struct cxlms_policy_ctx *)((const cxlms_u8 *)live + s.ctx_off);
	for (i = 0; i < s.n_contexts; i++) {
		char name[CXLMS_POLICY_NAME_MAX];

		memcpy(name, ctx[i].name, sizeof(name));
		if (name[CXLMS_POLICY_NAME_MAX - 1] || !cxlms_policy_name_valid(name))
			return fail(why, why_len, CXLMS_EINVALID, "policy context name invalid");
		for (j = 0; j < i; j++)
			if (name_eq(name, ctx[j].name))
				return fail(why, why_len, CXLMS_EINVALID,
					    "policy context names not unique");
	}
	/* The tile table must be the directory's, tensor by tensor. */
	base_p = (const cxlms_u8 *)live + s.base_off;
	for (i = 0; i <= n_tensors; i++) {
		cxlms_u32 b;

		memcpy(&b, base_p + (cxlms_u64)i * 4, 4);
		if (b != sum)
			return fail(why, why_len, CXLMS_EINVALID,
				    "policy maps were made for a different directory");
		if (i < n_tensors)
			sum += tiles[i];
	}
	if (sum != s.n_tiles)
		return fail(why, why_len, CXLMS_EINVALID,
			    "policy map size disagrees with the directory");
	maps = (const cxlms_u8 *)live + s.maps_off;
	n = (cxlms_u64)s.n_contexts * s.n_tiles;
	for (i = 0; i < n; i++)
		if (maps[i] == 0 || maps[i] > CXLMS_MAX_PLANES)
			return fail(why, why_len, CXLMS_EINVALID,
				    "policy map holds a bit count outside 1..16");
	return 0;
}

/* A copy of the slot head of @gen whose context table lies inside the slot. */
static int slot_head(const void *area, cxlms_u64 gen, struct cxlms_policy_slot *s)
{
	const struct cxlms_policy_hdr *h = area;

	memcpy(s, cxlms_policy_slot_of(area, gen), sizeof(*s));
	/* The context table is read as structs: aligned, after the head. */
	if (s->slot_len > h->slot_bytes || !s->n_contexts ||
	    s->ctx_off < sizeof(*s) || s->ctx_off % 8 ||
	    s->n_contexts > CXLMS_POLICY_MAX_CONTEXTS ||
	    s->default_context >= s->n_contexts ||
	    (cxlms_u64)s->ctx_off + (cxlms_u64)s->n_contexts *
	    sizeof(struct cxlms_policy_ctx) > s->slot_len)
		return -CXLMS_EINVALID;
	return 0;
}

int cxlms_policy_find_context(const void *area, cxlms_u64 gen,
			      const char *name)
{
	const struct cxlms_policy_ctx *ctx;
	struct cxlms_policy_slot s;
	cxlms_u32 i;
	int rc = slot_head(area, gen, &s);

	if (rc)
		return rc;
	if (!name || !name[0])
		return (int)s.default_context;
	ctx = (const struct cxlms_policy_ctx *)((const cxlms_u8 *)
		cxlms_policy_slot_of(area, gen) + s.ctx_off);
	for (i = 0; i < s.n_contexts; i++)
		if (name_eq(ctx[i].name, name))
			return (int)i;
	return -ENOENT;
}

int cxlms_policy_context_name(const void *area, cxlms_u64 gen, cxlms_u32 idx,
			      char name[CXLMS_POLICY_NAME_MAX])
{
	const struct cxlms_policy_ctx *ctx;
	struct cxlms_policy_slot s;
	int rc = slot_head(area, gen, &s);

	if (rc)
		return rc;
	if (idx >= s.n_contexts)
		return -ENOENT;
	ctx = (const struct cxlms_policy_ctx *)((const cxlms_u8 *)
		cxlms_policy_slot_of(area, gen) + s.ctx_off);
	memcpy(name, ctx[idx].name, CXLMS_POLICY_NAME_MAX);
	name[CXLMS_POLICY_NAME_MAX - 1] = '\0';
	return 0;
}

int cxlms_policy_map_offset(const void *area, cxlms_u64 gen, cxlms_u32 idx,
			    cxlms_u32 n_tiles, cxlms_u64 *off)
{
	const struct cxlms_policy_hdr *h = area;
	struct cxlms_policy_slot s;
	cxlms_u64 start;
	int rc = slot_head(area, gen, &s);

	if (rc)
		return rc;
	if (idx >= s.n_contexts || s.n_tiles != n_tiles)
		return -CXLMS_EINVALID;
	start = (cxlms_u64)s.maps_off + (cxlms_u64)idx * n_tiles;
	if (start + n_tiles > s.slot_len)
		return -CXLMS_EINVALID;
	*off = h->slot_off[gen & 1] + start;
	return 0;
}

/* --- the writer ------------------------------------------------------ */

int cxlms_policy_publish(void *area, const struct cxlms_policy_image *img,
			 cxlms_u64 *gen)
{
	const struct cxlms_policy_hdr *h = area;
	struct cxlms_policy_seq *seq = seq_of(area);
	struct cxlms_policy_slot head, *slot;
	cxlms_u8 *p;
	cxlms_u64 cur, next, need, sum = 0;
	cxlms_u32 i, j, base;

	if (!img->n_contexts || img->n_contexts > CXLMS_POLICY_MAX_CONTEXTS ||
	    img->default_context >= img->n_contexts || !img->ctx || !img->maps ||
	    (img->n_tensors && !img->tiles))
		return -EINVAL;
	for (i = 0; i < img->n_tensors; i++)
		sum += img->tiles[i];
	if (sum != img->n_tiles)
		return -EINVAL;
	for (i = 0; i < img->n_contexts; i++) {
		if (!cxlms_policy_name_valid(img->ctx[i].name))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (name_eq(img->ctx[i].name, img->ctx[j].name))
				return -EINVAL;
	}
	for (sum = 0; sum < (cxlms_u64)img->n_contexts * img->n_tiles; sum++)
		if (img->maps[sum] == 0 || img->maps[sum] > CXLMS_MAX_PLANES)
			return -EINVAL;
	need = cxlms_policy_slot_need(img->n_contexts, img->n_tensors, img->n_tiles);
	if (need > h->slot_bytes)
		return -ENOSPC;

	cur = seq_load(&seq->generation);
	next = cur + 1;
	slot = (struct cxlms_policy_slot *)((cxlms_u8 *)area + h->slot_off[next & 1]);
	/*
	 * Readers still in this slot started before generation @cur was
	 * stored; the full barrier orders that store before our first write
	 * here, so each of them sees the generation move and reads again.
	 */
	seq_mb();

	memset(&head, 0, sizeof(head));
	head.slot_len = (cxlms_u32)need;
	head.generation = next;
	head.n_contexts = img->n_contexts;
	head.default_context = img->default_context;
	head.n_tensors = img->n_tensors;
	head.n_tiles = img->n_tiles;
	head.ctx_off = sizeof(head);
	head.base_off = head.ctx_off + img->n_contexts * sizeof(struct cxlms_policy_ctx);
	head.maps_off = (cxlms_u32)CXLMS_ALIGN_UP(head.base_off +
						   ((cxlms_u64)img->n_tensors + 1) * 4, 64);
	p = (cxlms_u8 *)slot;
	memcpy(p, &head, sizeof(head));
	memcpy(p + head.ctx_off, img->ctx,
	       img->n_contexts * sizeof(struct cxlms_policy_ctx));
	for (i = 0, base = 0; i <= img->n_tensors; i++) {
		memcpy(p + head.base_off + (cxlms_u64)i * 4, &base, 4);
		if (i < img->n_tensors)
			base += img->tiles[i];
	}
	memset(p + head.base_off + ((cxlms_u64)img->n_tensors + 1) * 4, 0,
	       head.maps_off - head.base_off - ((cxlms_u64)img->n_tensors + 1) * 4);
	memcpy(p + head.maps_off, img->maps, (cxlms_u64)img->n_contexts * img->n_tiles);
	slot->slot_crc = slot_crc(slot, head.slot_len);

	seq_store_release(&seq->generation, next);
	*gen = next;
	return 0;
}
