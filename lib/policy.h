/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcxlms internals for precision maps (codec/policy_format.h has the
 * bytes, docs/policies.md the why).  Readers: the fetch path resolves
 * CXLMS_BITS_POLICY here.  Writer: cxlmsd, which links libcxlms.a; the
 * writer calls are not in the version script on purpose: the policy area
 * has one writer per store, and everybody else talks to that daemon.
 */
#ifndef LIBCXLMS_POLICY_H
#define LIBCXLMS_POLICY_H

#include <stdint.h>
#include "libcxlms.h"
#include "policy_format.h"

struct cxlms_policy_handle;
struct cxlms_policy_writer;

/* Free the per-handle policy state; store_free() calls it first. */
void cxlms_policy_release(struct cxlms_store *s);

/*
 * Bits the handle's active context assigns to tiles [first, first + count)
 * of tensor @tensor, all from one published generation (stored in @gen if
 * not NULL).  -EINVAL bad range, -EOPNOTSUPP no policy area (or a backend
 * without maps), -ENODATA nothing published yet, -ENOENT the handle's
 * context is gone from the maps, -EBADMSG/-EUCLEAN damaged maps.
 */
int cxlms_policy_bits(struct cxlms_store *s, unsigned int tensor,
		      unsigned int first, unsigned int count, uint8_t *bits,
		      uint64_t *gen);

/* cxlms_fetch_tiles / _size / _info with bits == CXLMS_BITS_POLICY. */
int64_t cxlms_policy_fetch_tiles(struct cxlms_store *s, struct cxlms_tensor *t,
				 unsigned int first, unsigned int count,
				 unsigned int out, unsigned int recon,
				 void *buf, size_t len);
int64_t cxlms_policy_fetch_size(struct cxlms_tensor *t, unsigned int first,
				unsigned int count, unsigned int out,
				unsigned int recon);
int cxlms_policy_fetch_info(struct cxlms_tensor *t, unsigned int tile,
			    unsigned int out, unsigned int recon,
			    struct cxlms_fetch_info *info);

/* --- the writer (cxlmsd) --------------------------------------------------- */

/*
 * Take the maps of @s (opened CXLMS_OPEN_RDWR) for writing.  File backend:
 * the policy area, with an exclusive lock (-EBUSY if another writer holds
 * it), a shared writable mapping, and a format if the area has none (or a
 * damaged one).  Kernel backend: publishing is SET_MAP on the device.
 * -EOPNOTSUPP: no policy area (or a module without maps); -EROFS: read-only.
 */
int cxlms_policy_writer_open(struct cxlms_store *s,
			     struct cxlms_policy_writer **w);
void cxlms_policy_writer_close(struct cxlms_policy_writer *w);
/* Bytes one slot holds: the bound for n_contexts * n_tiles + tables. */
uint64_t cxlms_policy_writer_slot_bytes(struct cxlms_policy_writer *w);
/* Total tiles of the store: the length of one map. */
unsigned int cxlms_policy_writer_tiles(struct cxlms_policy_writer *w);
/* Generation now live (0: none). */
uint64_t cxlms_policy_writer_generation(struct cxlms_policy_writer *w);
/*
 * Publish @n_contexts maps (@maps: map c at c * tiles bytes) with their
 * context entries; readers switch atomically.  0 and the new generation,
 * -ENOSPC if they do not fit a slot, -EINVAL bad names/counts/bits.
 */
int cxlms_policy_writer_publish(struct cxlms_policy_writer *w,
				unsigned int n_contexts,
				unsigned int default_context,
				const struct cxlms_policy_ctx *ctx,
				const uint8_t *maps, uint64_t *gen);

#endif /* LIBCXLMS_POLICY_H */
