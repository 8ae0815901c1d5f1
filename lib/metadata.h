/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store's metadata area (docs/format.md, section 1.4): a versioned,
 * CRC-checked list of (key, value) byte strings the importer keeps, e.g.
 * the model's config.json and the safetensors "__metadata__" object.
 */
#ifndef LIBCXLMS_METADATA_H
#define LIBCXLMS_METADATA_H

#include <stddef.h>
#include <stdint.h>

#include "libcxlms.h"

#define CXLMS_META_MAGIC	"CXLMSMET"
#define CXLMS_META_VERSION	1
#define CXLMS_META_HDR_BYTES	64
#define CXLMS_META_KEY_MAX	255
/* A store keeps at most this much metadata (a config.json is kilobytes). */
#define CXLMS_META_MAX_BYTES	(64ull << 20)

/**
 * struct cxlms_meta_hdr - start of the metadata area (64 bytes)
 * @magic: CXLMS_META_MAGIC; @version: CXLMS_META_VERSION
 * @hdr_len: 64; @n_entries: records that follow; @flags: 0
 * @payload_bytes: bytes of records after the header
 * @payload_crc: CRC32C of those bytes
 * @hdr_crc: CRC32C of the header with this field read as zero
 */
struct cxlms_meta_hdr {
	uint8_t magic[8];
	uint32_t version;
	uint32_t hdr_len;
	uint32_t n_entries;
	uint32_t flags;
	uint64_t payload_bytes;
	uint32_t payload_crc;
	uint32_t pad;
	uint64_t reserved[2];
	uint32_t pad2;
	uint32_t hdr_crc;
};

struct cxlms_meta_kv {
	const char *key;	/* 1..CXLMS_META_KEY_MAX bytes, no NUL */
	const void *value;
	size_t len;
};

/* The parsed, validated copy a store handle keeps. */
struct cxlms_meta {
	unsigned int n;
	struct cxlms_meta_kv *kv;	/* keys and values NUL-terminated */
	void *mem;
};

/* A metadata area image of @n entries: malloc'd into *@img, *@len bytes. */
int cxlms_meta_build(const struct cxlms_meta_kv *kv, unsigned int n,
		     void **img, size_t *len);
/*
 * Validate the area at @img (@len bytes, the sb's meta_bytes) and copy it.
 * -EMEDIUMTYPE bad magic, -EPROTONOSUPPORT unknown version (the caller may
 * ignore the area), -EBADMSG a CRC mismatch, -EUCLEAN impossible contents.
 */
int cxlms_meta_parse(struct cxlms_ctx *ctx, const char *what, const void *img,
		     uint64_t len, struct cxlms_meta **out);
void cxlms_meta_free(struct cxlms_meta *m);

#endif /* LIBCXLMS_METADATA_H */
