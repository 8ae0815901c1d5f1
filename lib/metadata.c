// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Metadata area: build (import) and parse (open).  Records are
 *	u32 key_len, u32 value_len, key bytes, value bytes, zero pad to 8
 * after a 64-byte header; keys unique.  A reader copies the area before it
 * checks it, so a store in shared memory cannot change it under the check.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"
#include "metadata.h"

static size_t rec_bytes(size_t klen, size_t vlen)
{
	return (8 + klen + vlen + 7) & ~(size_t)7;
}

static uint32_t hdr_crc(const struct cxlms_meta_hdr *h)
{
	struct cxlms_meta_hdr c = *h;

	c.hdr_crc = 0;
	return cxlms_crc32c(0, &c, sizeof(c));
}

int cxlms_meta_build(const struct cxlms_meta_kv *kv, unsigned int n,
		     void **img, size_t *len)
{
	struct cxlms_meta_hdr *h;
	size_t total = sizeof(*h), klen, off;
	unsigned int i, j;
	uint8_t *p;

	*img = NULL;
	*len = 0;
	for (i = 0; i < n; i++) {
		klen = strlen(kv[i].key);
		if (!klen || klen > CXLMS_META_KEY_MAX || kv[i].len > UINT32_MAX)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (!strcmp(kv[i].key, kv[j].key))
				return -EEXIST;
		total += rec_bytes(klen, kv[i].len);
		if (total > CXLMS_META_MAX_BYTES)
			return -EFBIG;
	}
	p = calloc(1, total);
	if (!p)
		return -ENOMEM;
	h = (struct cxlms_meta_hdr *)p;
	memcpy(h->magic, CXLMS_META_MAGIC, sizeof(h->magic));
	h->version = CXLMS_META_VERSION;
	h->hdr_len = sizeof(*h);
	h->n_entries = n;
	h->payload_bytes = total - sizeof(*h);
	off = sizeof(*h);
	for (i = 0; i < n; i++) {
		uint32_t kl = (uint32_t)strlen(kv[i].key), vl = (uint32_t)kv[i].len;

		memcpy(p + off, &kl, 4);
		memcpy(p + off + 4, &vl, 4);
		memcpy(p + off + 8, kv[i].key, kl);
		if (vl)
			memcpy(p + off + 8 + kl, kv[i].value, vl);
		off += rec_bytes(kl, vl);
	}
	h->payload_crc = cxlms_crc32c(0, p + sizeof(*h), h->payload_bytes);
	h->hdr_crc = hdr_crc(h);
	*img = p;
	*len = total;
	return 0;
}

void cxlms_meta_free(struct cxlms_meta *m)
{
	if (!m)
		return;
	free(m->kv);
	free(m->mem);
	free(m);
}

static int bad(struct cxlms_ctx *ctx, const char *what, int err, const char *why)
{
	cxlms_err(ctx, "%s: metadata area: %s", what, why);
	return err;
}

int cxlms_meta_parse(struct cxlms_ctx *ctx, const char *what, const void *img,
		     uint64_t len, struct cxlms_meta **out)
{
	struct cxlms_meta_hdr h;
	struct cxlms_meta *m = NULL;
	uint64_t off;
	uint8_t *copy, *strs;
	unsigned int i, j;
	int rc;

	*out = NULL;
	if (len < sizeof(h))
		return bad(ctx, what, -EUCLEAN, "shorter than its header");
	if (len > CXLMS_META_MAX_BYTES)
		return bad(ctx, what, -EUCLEAN, "larger than the 64 MiB limit");
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, img, len);
	memcpy(&h, copy, sizeof(h));
	rc = -EMEDIUMTYPE;
	if (memcmp(h.magic, CXLMS_META_MAGIC, sizeof(h.magic))) {
		bad(ctx, what, rc, "bad magic");
		goto err;
	}
	rc = -EBADMSG;
	if (h.hdr_crc != hdr_crc(&h)) {
		bad(ctx, what, rc, "header checksum mismatch");
		goto err;
	}
	/* A later version may lay records out differently: not ours to read. */
	rc = -EPROTONOSUPPORT;
	if (h.version != CXLMS_META_VERSION) {
		cxlms_info(ctx, "%s: metadata area version %u ignored", what, h.version);
		goto err;
	}
	rc = -EUCLEAN;
	if (h.hdr_len != sizeof(h) || h.flags || h.pad || h.pad2 ||
	    h.reserved[0] || h.reserved[1] ||
	    h.payload_bytes != len - sizeof(h)) {
		bad(ctx, what, rc, "header fields impossible");
		goto err;
	}
	rc = -EBADMSG;
	if (h.payload_crc != cxlms_crc32c(0, copy + sizeof(h), h.payload_bytes)) {
		bad(ctx, what, rc, "checksum mismatch");
		goto err;
	}
	rc = -ENOMEM;
	m = calloc(1, sizeof(*m));
	/* Each record has 8 bytes at least: n_entries is bounded by len. */
	if (!m || h.n_entries > len / 8 ||
	    !(m->kv = calloc(h.n_entries ? h.n_entries : 1, sizeof(*m->kv))))
		goto err;
	/* Keys and values are copied once more, each with a NUL after it. */
	strs = malloc(len + 2ull * h.n_entries);
	if (!strs)
		goto err;
	m->mem = strs;
	m->n = h.n_entries;
	rc = -EUCLEAN;
	off = sizeof(h);
	for (i = 0; i < h.n_entries; i++) {
		uint32_t kl, vl;

		if (len - off < 8) {
			bad(ctx, what, rc, "record header past the end");
			goto err;
		}
		memcpy(&kl, copy + off, 4);
		memcpy(&vl, copy + off + 4, 4);
		if (!kl || kl > CXLMS_META_KEY_MAX || vl > len - off - 8 - kl ||
		    kl > len - off - 8 ||
		    rec_bytes(kl, vl) > len - off ||
		    memchr(copy + off + 8, 0, kl)) {
			bad(ctx, what, rc, "record out of bounds or bad key");
			goto err;
		}
		memcpy(strs, copy + off + 8, kl);
		strs[kl] = 0;
		m->kv[i].key = (const char *)strs;
		strs += kl + 1;
		memcpy(strs, copy + off + 8 + kl, vl);
		strs[vl] = 0;
		m->kv[i].value = strs;
		m->kv[i].len = vl;
		strs += vl + 1;
		if (!cxlms_all_zero(copy + off + 8 + kl + vl,
				    rec_bytes(kl, vl) - 8 - kl - vl)) {
			bad(ctx, what, rc, "record padding not zero");
			goto err;
		}
		off += rec_bytes(kl, vl);
		for (j = 0; j < i; j++)
			if (!strcmp(m->kv[i].key, m->kv[j].key)) {
				bad(ctx, what, rc, "duplicate key");
				goto err;
			}
	}
	if (off != len) {
		bad(ctx, what, rc, "bytes after the last record");
		goto err;
	}
	free(copy);
	*out = m;
	return 0;
err:
	cxlms_meta_free(m);
	free(copy);
	return rc;
}

int cxlms_store_get_metadata_count(struct cxlms_store *s)
{
	if (!s)
		return -EINVAL;
	if (s->meta_err)
		return s->meta_err;
	return s->meta ? (int)s->meta->n : 0;
}

int cxlms_store_get_metadata(struct cxlms_store *s, unsigned int i,
			     const char **key, const void **value, size_t *len)
{
	if (!s)
		return -EINVAL;
	if (s->meta_err)
		return s->meta_err;
	if (!s->meta || i >= s->meta->n)
		return -ENOENT;
	if (key)
		*key = s->meta->kv[i].key;
	if (value)
		*value = s->meta->kv[i].value;
	if (len)
		*len = s->meta->kv[i].len;
	return 0;
}

int cxlms_store_get_metadata_key(struct cxlms_store *s, const char *key,
				 const void **value, size_t *len)
{
	unsigned int i;

	if (!s || !key)
		return -EINVAL;
	if (s->meta_err)
		return s->meta_err;
	for (i = 0; s->meta && i < s->meta->n; i++)
		if (!strcmp(s->meta->kv[i].key, key))
			return cxlms_store_get_metadata(s, i, NULL, value, len);
	return -ENOENT;
}
