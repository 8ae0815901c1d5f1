// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * safetensors reader.
 *
 * The header is JSON, parsed here by hand against the one schema it has:
 *
 *   { "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24] },
 *     ...,
 *     "__metadata__": { "<key>": "<string>", ... } }
 *
 * A general JSON library would merge duplicate keys silently; a duplicate
 * tensor name must instead fail the import.  Parsing runs in three passes so
 * that the error reported is the most basic one: JSON syntax and the shape
 * of the schema first (any error names the header byte offset), then each
 * tensor on its own (naming the tensor), then what involves several tensors
 * (duplicate names, overlapping data, holes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "private.h"
#include "quant.h"
#include "safetensors.h"

/* A tensor as the header spells it, before any semantic check. */
struct raw_tensor {
	char name[CXLMS_NAME_MAX];	/* first bytes of the decoded name */
	size_t name_len;		/* full decoded length */
	bool name_has_nul;
	size_t key_off;			/* header offset of the name */
	char dtype[16];
	size_t dtype_len;
	size_t ndim;			/* may exceed CXLMS_MAX_DIMS */
	uint64_t shape[CXLMS_MAX_DIMS];
	uint64_t off[2];
};

struct jp {
	struct cxlms_ctx *ctx;
	const char *what;
	const uint8_t *base, *p, *end;
	struct raw_tensor *raw;
	size_t n_raw, cap_raw;
	char **meta_keys;
	size_t n_meta, cap_meta;
	const uint8_t *meta_begin, *meta_end;	/* "__metadata__" object text */
};

/* Names in messages: control bytes shown as '?', long names cut. */
static const char *shown(char *buf, size_t cap, const char *s, size_t len)
{
	size_t i, n = len < cap - 4 ? len : cap - 4;

	for (i = 0; i < n; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (n < len)
		memcpy(buf + n, "...", 3), n += 3;
	buf[n] = '\0';
	return buf;
}

static size_t jp_off(const struct jp *j)
{
	return (size_t)(j->p - j->base);
}

static int jp_syntax(struct jp *j, const char *msg)
{
	size_t off = jp_off(j);

	cxlms_err(j->ctx, "%s: invalid safetensors header at header byte %zu (file offset %zu): %s",
		  j->what, off, off + 8, msg);
	return -EINVAL;
}

/* A schema error inside tensor @t's entry. */
static int jp_tensor_err(struct jp *j, const struct raw_tensor *t,
			 const char *msg)
{
	char nm[96];

	cxlms_err(j->ctx, "%s: tensor '%s' (header byte %zu): %s", j->what,
		  shown(nm, sizeof(nm), t->name, t->name_len), jp_off(j), msg);
	return -EINVAL;
}

static void jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int jp_expect(struct jp *j, char c, const char *msg)
{
	jp_ws(j);
	if (j->p >= j->end || *j->p != (uint8_t)c)
		return jp_syntax(j, j->p >= j->end ? "unexpected end of header" : msg);
	j->p++;
	return 0;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int jp_hex4(struct jp *j, uint32_t *cp)
{
	int i, v;

	*cp = 0;
	for (i = 0; i < 4; i++) {
		if (j->p >= j->end)
			return jp_syntax(j, "unexpected end of header in \\u escape");
		v = hexval(*j->p);
		if (v < 0)
			return jp_syntax(j, "bad \\u escape: expected 4 hex digits");
		*cp = (*cp << 4) | (uint32_t)v;
		j->p++;
	}
	return 0;
}

struct sbuf {
	char *out;	/* may be NULL: validate and measure only */
	size_t cap, len;
	bool has_nul;
};

static void sb_put(struct sbuf *s, uint8_t c)
{
	if (s->out && s->len + 1 < s->cap)
		s->out[s->len] = (char)c;
	if (!c)
		s->has_nul = true;
	s->len++;
}

static void sb_put_cp(struct sbuf *s, uint32_t cp)
{
	if (cp < 0x80) {
		sb_put(s, (uint8_t)cp);
	} else if (cp < 0x800) {
		sb_put(s, (uint8_t)(0xc0 | (cp >> 6)));
		sb_put(s, (uint8_t)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		sb_put(s, (uint8_t)(0xe0 | (cp >> 12)));
		sb_put(s, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
		sb_put(s, (uint8_t)(0x80 | (cp & 0x3f)));
	} else {
		sb_put(s, (uint8_t)(0xf0 | (cp >> 18)));
		sb_put(s, (uint8_t)(0x80 | ((cp >> 12) & 0x3f)));
		sb_put(s, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
		sb_put(s, (uint8_t)(0x80 | (cp & 0x3f)));
	}
}

/* Length of the valid UTF-8 sequence at @p (RFC 3629), 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end)
{
	size_t n, i;
	uint8_t lo = 0x80, hi = 0xbf;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;	/* ASCII is not handled here; 0x80..0xc1, 0xf5.. invalid */
	if ((size_t)(end - p) < n)
		return 0;
	/* Second-byte limits exclude overlongs, surrogates and > U+10FFFF. */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Decode the JSON string at j->p into @s (NUL-terminated when s->out). */
static int jp_string(struct jp *j, struct sbuf *s)
{
	const uint8_t *start = j->p;
	uint32_t cp, lo;
	size_t n, i;
	int rc;

	s->len = 0;
	s->has_nul = false;
	if (j->p >= j->end || *j->p != '"')
		return jp_syntax(j, "expected a string");
	j->p++;
	for (;;) {
		uint8_t c;

		if (j->p >= j->end) {
			j->p = start;	/* point at where it began */
			return jp_syntax(j, "unterminated string");
		}
		c = *j->p;
		if (c == '"') {
			j->p++;
			break;
		}
		if (c < 0x20)
			return jp_syntax(j, "control character in string");
		if (c >= 0x80) {
			n = utf8_seq(j->p, j->end);
			if (!n)
				return jp_syntax(j, "invalid UTF-8 in string");
			for (i = 0; i < n; i++)
				sb_put(s, j->p[i]);
			j->p += n;
			continue;
		}
		j->p++;
		if (c != '\\') {
			sb_put(s, c);
			continue;
		}
		if (j->p >= j->end)
			return jp_syntax(j, "unterminated escape");
		c = *j->p++;
		switch (c) {
		case '"': case '\\': case '/':
			sb_put(s, c);
			continue;
		case 'b': sb_put(s, '\b'); continue;
		case 'f': sb_put(s, '\f'); continue;
		case 'n': sb_put(s, '\n'); continue;
		case 'r': sb_put(s, '\r'); continue;
		case 't': sb_put(s, '\t'); continue;
		case 'u':
			break;
		default:
			j->p--;
			return jp_syntax(j, "invalid escape in string");
		}
		rc = jp_hex4(j, &cp);
		if (rc)
			return rc;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return jp_syntax(j, "lone low surrogate in \\u escape");
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
				return jp_syntax(j, "high surrogate not followed by a low one");
			j->p += 2;
			rc = jp_hex4(j, &lo);
			if (rc)
				return rc;
			if (lo < 0xdc00 || lo > 0xdfff)
				return jp_syntax(j, "high surrogate not followed by a low one");
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		sb_put_cp(s, cp);
	}
	if (s->out)
		s->out[s->len < s->cap ? s->len : s->cap - 1] = '\0';
	return 0;
}

enum num_kind { NUM_UINT, NUM_NOT_UINT, NUM_TOO_BIG };

/* A JSON number (RFC 8259 grammar); *kind says whether it is a u64. */
static int jp_number(struct jp *j, uint64_t *v, enum num_kind *kind)
{
	bool neg = false, frac = false, exp = false, big = false;
	uint64_t val = 0;

	if (j->p < j->end && *j->p == '-') {
		neg = true;
		j->p++;
	}
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return jp_syntax(j, "invalid number");
	if (*j->p == '0') {
		j->p++;
	} else {
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
			if (__builtin_mul_overflow(val, 10, &val) ||
			    __builtin_add_overflow(val, (uint64_t)(*j->p - '0'), &val))
				big = true;
			j->p++;
		}
	}
	if (j->p < j->end && *j->p == '.') {
		frac = true;
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return jp_syntax(j, "invalid number: no digits after '.'");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		exp = true;
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return jp_syntax(j, "invalid number: no digits in exponent");
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	*v = val;
	if (neg || frac || exp)
		*kind = NUM_NOT_UINT;
	else
		*kind = big ? NUM_TOO_BIG : NUM_UINT;
	return 0;
}

static bool at_number(const struct jp *j)
{
	return j->p < j->end && (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'));
}

/* A JSON array of u64: "[ n, n, ... ]"; stores the first @max values. */
static int jp_uint_array(struct jp *j, struct raw_tensor *t, const char *key,
			 uint64_t *vals, size_t max, size_t *count)
{
	char msg[96];
	enum num_kind kind;
	uint64_t v = 0;
	int rc;

	*count = 0;
	jp_ws(j);
	if (j->p >= j->end || *j->p != '[') {
		snprintf(msg, sizeof(msg), "\"%s\" must be an array of non-negative integers", key);
		return jp_tensor_err(j, t, msg);
	}
	j->p++;
	jp_ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return 0;
	}
	for (;;) {
		jp_ws(j);
		if (!at_number(j)) {
			snprintf(msg, sizeof(msg), "\"%s\" must hold non-negative integers", key);
			return j->p >= j->end ? jp_syntax(j, "unexpected end of header") :
						jp_tensor_err(j, t, msg);
		}
		rc = jp_number(j, &v, &kind);
		if (rc)
			return rc;
		if (kind != NUM_UINT) {
			snprintf(msg, sizeof(msg), kind == NUM_TOO_BIG ?
				 "\"%s\" value does not fit 64 bits" :
				 "\"%s\" must hold non-negative integers", key);
			return jp_tensor_err(j, t, msg);
		}
		if (*count < max)
			vals[*count] = v;
		(*count)++;
		jp_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		return jp_expect(j, ']', "expected ',' or ']' in array");
	}
}

/* The value of one tensor: { "dtype": ..., "shape": ..., "data_offsets": ... } */
static int jp_tensor(struct jp *j, struct raw_tensor *t)
{
	bool seen_dtype = false, seen_shape = false, seen_off = false;
	char key[32], msg[96], kshown[48];
	struct sbuf ks = { .out = key, .cap = sizeof(key) };
	size_t n;
	int rc;

	if (j->p >= j->end || *j->p != '{')
		return j->p >= j->end ? jp_syntax(j, "unexpected end of header") :
					jp_tensor_err(j, t, "value must be an object");
	j->p++;
	jp_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		goto done;
	}
	for (;;) {
		bool *seen;

		jp_ws(j);
		rc = jp_string(j, &ks);
		if (rc)
			return rc;
		rc = jp_expect(j, ':', "expected ':' after key");
		if (rc)
			return rc;
		jp_ws(j);
		if (ks.len == 5 && !memcmp(key, "dtype", 5))
			seen = &seen_dtype;
		else if (ks.len == 5 && !memcmp(key, "shape", 5))
			seen = &seen_shape;
		else if (ks.len == 12 && !memcmp(key, "data_offsets", 12))
			seen = &seen_off;
		else {
			snprintf(msg, sizeof(msg), "unknown key \"%s\"",
				 shown(kshown, sizeof(kshown), key,
				       ks.len < sizeof(key) ? ks.len : sizeof(key) - 1));
			return jp_tensor_err(j, t, msg);
		}
		if (*seen) {
			snprintf(msg, sizeof(msg), "duplicate key \"%s\"", key);
			return jp_tensor_err(j, t, msg);
		}
		*seen = true;
		if (seen == &seen_dtype) {
			struct sbuf ds = { .out = t->dtype, .cap = sizeof(t->dtype) };

			if (j->p >= j->end || *j->p != '"')
				return jp_tensor_err(j, t, "\"dtype\" must be a string");
			rc = jp_string(j, &ds);
			if (rc)
				return rc;
			t->dtype_len = ds.has_nul ? sizeof(t->dtype) : ds.len;
		} else if (seen == &seen_shape) {
			rc = jp_uint_array(j, t, "shape", t->shape, CXLMS_MAX_DIMS,
					   &t->ndim);
			if (rc)
				return rc;
		} else {
			rc = jp_uint_array(j, t, "data_offsets", t->off, 2, &n);
			if (rc)
				return rc;
			if (n != 2)
				return jp_tensor_err(j, t, "\"data_offsets\" must be [begin, end]");
		}
		jp_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		rc = jp_expect(j, '}', "expected ',' or '}' in tensor entry");
		if (rc)
			return rc;
		break;
	}
done:
	if (!seen_dtype)
		return jp_tensor_err(j, t, "missing \"dtype\"");
	if (!seen_shape)
		return jp_tensor_err(j, t, "missing \"shape\"");
	if (!seen_off)
		return jp_tensor_err(j, t, "missing \"data_offsets\"");
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "__metadata__": an object of string -> string, keys unique. */
static int jp_metadata(struct jp *j)
{
	struct sbuf s;
	const uint8_t *start;
	size_t i;
	int rc;

	if (j->p >= j->end || *j->p != '{')
		return j->p >= j->end ? jp_syntax(j, "unexpected end of header") :
			jp_syntax(j, "\"__metadata__\" must be an object of strings");
	j->p++;
	jp_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return 0;
	}
	for (;;) {
		char *key;

		jp_ws(j);
		/* Measure, then decode: keys are compared in full. */
		start = j->p;
		memset(&s, 0, sizeof(s));
		rc = jp_string(j, &s);
		if (rc)
			return rc;
		key = malloc(s.len + 1);
		if (!key)
			return -ENOMEM;
		if (j->n_meta == j->cap_meta) {
			size_t cap = j->cap_meta ? 2 * j->cap_meta : 16;
			char **nk = realloc(j->meta_keys, cap * sizeof(*nk));

			if (!nk) {
				free(key);
				return -ENOMEM;
			}
			j->meta_keys = nk;
			j->cap_meta = cap;
		}
		j->meta_keys[j->n_meta++] = key;
		j->p = start;
		s = (struct sbuf){ .out = key, .cap = s.len + 1 };
		rc = jp_string(j, &s);
		if (rc)
			return rc;
		if (s.has_nul)
			return jp_syntax(j, "\"__metadata__\" key contains NUL");
		rc = jp_expect(j, ':', "expected ':' after key");
		if (rc)
			return rc;
		jp_ws(j);
		if (j->p < j->end && *j->p != '"')
			return jp_syntax(j, "\"__metadata__\" values must be strings");
		memset(&s, 0, sizeof(s));
		rc = jp_string(j, &s);
		if (rc)
			return rc;
		jp_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		rc = jp_expect(j, '}', "expected ',' or '}' in \"__metadata__\"");
		if (rc)
			return rc;
		break;
	}
	qsort(j->meta_keys, j->n_meta, sizeof(*j->meta_keys), cmp_str);
	for (i = 1; i < j->n_meta; i++) {
		if (!strcmp(j->meta_keys[i - 1], j->meta_keys[i])) {
			char nm[96];

			cxlms_err(j->ctx, "%s: invalid safetensors header: duplicate \"__metadata__\" key \"%s\"",
				  j->what, shown(nm, sizeof(nm), j->meta_keys[i],
						 strlen(j->meta_keys[i])));
			return -EINVAL;
		}
	}
	return 0;
}

/* Pass 1: JSON syntax and the schema's structure. */
static int jp_header(struct jp *j)
{
	bool seen_meta = false;
	int rc;

	jp_ws(j);
	if (j->p >= j->end || *j->p != '{')
		return jp_syntax(j, "header is not a JSON object");
	j->p++;
	jp_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		goto tail;
	}
	for (;;) {
		struct raw_tensor *t;
		struct sbuf ns;
		size_t key_off;

		jp_ws(j);
		key_off = jp_off(j);
		if (j->n_raw == j->cap_raw) {
			size_t cap = j->cap_raw ? 2 * j->cap_raw : 64;
			struct raw_tensor *nr = realloc(j->raw, cap * sizeof(*nr));

			if (!nr)
				return -ENOMEM;
			j->raw = nr;
			j->cap_raw = cap;
		}
		t = &j->raw[j->n_raw];
		memset(t, 0, sizeof(*t));
		ns = (struct sbuf){ .out = t->name, .cap = sizeof(t->name) };
		if (j->p < j->end && *j->p != '"')
			return jp_syntax(j, "expected a string key");
		rc = jp_string(j, &ns);
		if (rc)
			return rc;
		rc = jp_expect(j, ':', "expected ':' after key");
		if (rc)
			return rc;
		jp_ws(j);
		if (ns.len == 12 && !ns.has_nul && !memcmp(t->name, "__metadata__", 12)) {
			if (seen_meta)
				return jp_syntax(j, "duplicate key \"__metadata__\"");
			seen_meta = true;
			j->meta_begin = j->p;
			rc = jp_metadata(j);
			j->meta_end = j->p;
		} else {
			t->name_len = ns.len;
			t->name_has_nul = ns.has_nul;
			t->key_off = key_off;
			j->n_raw++;
			rc = jp_tensor(j, t);
		}
		if (rc)
			return rc;
		jp_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		rc = jp_expect(j, '}', "expected ',' or '}' after a top-level entry");
		if (rc)
			return rc;
		break;
	}
tail:
	/* The format pads the header with spaces; anything else is garbage. */
	jp_ws(j);
	if (j->p != j->end)
		return jp_syntax(j, "trailing garbage after the header object");
	return 0;
}

static unsigned int dtype_of(const char *s, size_t len)
{
	static const struct { const char *name; unsigned int dtype; } map[] = {
		{ "F32", CXLMS_DTYPE_F32 }, { "F16", CXLMS_DTYPE_F16 },
		{ "BF16", CXLMS_DTYPE_BF16 }, { "I8", CXLMS_DTYPE_I8 },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].name) == len && !memcmp(map[i].name, s, len))
			return map[i].dtype;
	return 0;
}

/* Pass 2: one tensor on its own. */
static int check_tensor(struct cxlms_ctx *ctx, const char *what,
			const struct raw_tensor *r, uint64_t data_len,
			struct cxlms_st_tensor *t)
{
	char nm[96], dt[24];
	uint64_t elems = 1, bytes;
	size_t i;

	shown(nm, sizeof(nm), r->name, r->name_len);
	if (r->name_has_nul) {
		cxlms_err(ctx, "%s: tensor '%s' (header byte %zu): name contains a NUL character",
			  what, nm, r->key_off);
		return -EINVAL;
	}
	if (!r->name_len) {
		cxlms_err(ctx, "%s: tensor at header byte %zu has an empty name",
			  what, r->key_off);
		return -EINVAL;
	}
	if (r->name_len >= CXLMS_NAME_MAX) {
		cxlms_err(ctx, "%s: tensor '%s' (header byte %zu): name is %zu bytes, the limit is %d",
			  what, nm, r->key_off, r->name_len, CXLMS_NAME_MAX - 1);
		return -ENAMETOOLONG;
	}
	t->dtype = dtype_of(r->dtype, r->dtype_len);
	if (!t->dtype) {
		cxlms_err(ctx, "%s: tensor '%s': dtype \"%s\" is not supported (F32, F16, BF16 and I8 are)",
			  what, nm, shown(dt, sizeof(dt), r->dtype,
					  r->dtype_len < sizeof(r->dtype) ?
					  r->dtype_len : sizeof(r->dtype) - 1));
		return -EOPNOTSUPP;
	}
	if (r->ndim > CXLMS_MAX_DIMS) {
		cxlms_err(ctx, "%s: tensor '%s': rank %zu is not supported (at most %d dimensions)",
			  what, nm, r->ndim, CXLMS_MAX_DIMS);
		return -EOPNOTSUPP;
	}
	for (i = 0; i < r->ndim; i++) {
		if (__builtin_mul_overflow(elems, r->shape[i], &elems)) {
			cxlms_err(ctx, "%s: tensor '%s': shape overflows 64 bits", what, nm);
			return -EINVAL;
		}
	}
	if (__builtin_mul_overflow(elems, (uint64_t)cxlms_dtype_size(t->dtype), &bytes)) {
		cxlms_err(ctx, "%s: tensor '%s': size in bytes overflows 64 bits", what, nm);
		return -EINVAL;
	}
	if (r->off[0] > r->off[1]) {
		cxlms_err(ctx, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
			  what, nm, (unsigned long long)r->off[0],
			  (unsigned long long)r->off[1]);
		return -EINVAL;
	}
	if (r->off[1] > data_len) {
		cxlms_err(ctx, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the %llu-byte data area",
			  what, nm, (unsigned long long)r->off[0],
			  (unsigned long long)r->off[1], (unsigned long long)data_len);
		return -EINVAL;
	}
	if (r->off[1] - r->off[0] != bytes) {
		cxlms_err(ctx, "%s: tensor '%s': data_offsets span %llu bytes, shape and dtype need %llu",
			  what, nm, (unsigned long long)(r->off[1] - r->off[0]),
			  (unsigned long long)bytes);
		return -EINVAL;
	}
	/* No elements: kept (elems 0) so the importer can skip it by name. */
	memcpy(t->name, r->name, r->name_len + 1);
	t->ndim = (unsigned int)r->ndim;
	memset(t->shape, 0, sizeof(t->shape));
	memcpy(t->shape, r->shape, r->ndim * sizeof(r->shape[0]));
	t->elems = elems;
	t->begin = r->off[0];
	t->end = r->off[1];
	return 0;
}

static int cmp_tensor_name(const void *a, const void *b)
{
	const struct cxlms_st_tensor *x = *(const struct cxlms_st_tensor *const *)a;
	const struct cxlms_st_tensor *y = *(const struct cxlms_st_tensor *const *)b;

	return strcmp(x->name, y->name);
}

static int cmp_tensor_begin(const void *a, const void *b)
{
	const struct cxlms_st_tensor *x = *(const struct cxlms_st_tensor *const *)a;
	const struct cxlms_st_tensor *y = *(const struct cxlms_st_tensor *const *)b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* Pass 3: across tensors. */
static int check_all(struct cxlms_ctx *ctx, const char *what,
		     struct cxlms_st_file *f)
{
	struct cxlms_st_tensor **v;
	uint64_t covered = 0;
	char a[96], b[96];
	size_t i, n = f->n_tensors;
	int rc = 0;

	if (!n)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		v[i] = &f->tensors[i];

	qsort(v, n, sizeof(*v), cmp_tensor_name);
	for (i = 1; i < n; i++) {
		if (!strcmp(v[i - 1]->name, v[i]->name)) {
			cxlms_err(ctx, "%s: duplicate tensor name '%s'", what,
				  shown(a, sizeof(a), v[i]->name, strlen(v[i]->name)));
			rc = -EEXIST;
			goto out;
		}
	}

	/* safetensors forbids overlapping data and holes in the data area. */
	qsort(v, n, sizeof(*v), cmp_tensor_begin);
	for (i = 1; i < n; i++) {
		if (v[i]->begin < v[i - 1]->end) {
			cxlms_err(ctx, "%s: tensor '%s' data [%llu, %llu) overlaps tensor '%s' data [%llu, %llu)",
				  what, shown(a, sizeof(a), v[i]->name, strlen(v[i]->name)),
				  (unsigned long long)v[i]->begin,
				  (unsigned long long)v[i]->end,
				  shown(b, sizeof(b), v[i - 1]->name, strlen(v[i - 1]->name)),
				  (unsigned long long)v[i - 1]->begin,
				  (unsigned long long)v[i - 1]->end);
			rc = -EINVAL;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (v[i]->begin != covered)
			break;
		covered = v[i]->end;
	}
	if (covered != f->data_len) {
		cxlms_err(ctx, "%s: data area bytes [%llu, %llu) belong to no tensor",
			  what, (unsigned long long)covered,
			  (unsigned long long)(i < n ? v[i]->begin : f->data_len));
		rc = -EINVAL;
	}
out:
	free(v);
	return rc;
}

void cxlms_st_release(struct cxlms_st_file *f)
{
	if (!f)
		return;
	free(f->tensors);
	if (f->map)
		munmap(f->map, f->map_len);
	memset(f, 0, sizeof(*f));
}

int cxlms_st_parse(struct cxlms_ctx *ctx, const char *what, const void *buf,
		   uint64_t len, struct cxlms_st_file *f)
{
	const uint8_t *b = buf;
	struct jp j = { .ctx = ctx, .what = what ? what : "safetensors" };
	uint64_t hlen;
	size_t i;
	int rc;

	memset(f, 0, sizeof(*f));
	if (len < 8) {
		cxlms_err(ctx, "%s: %llu bytes: too short for a safetensors header",
			  j.what, (unsigned long long)len);
		return -EINVAL;
	}
	memcpy(&hlen, b, 8);	/* little-endian, like the store format */
	if (hlen > CXLMS_ST_HEADER_MAX) {
		cxlms_err(ctx, "%s: header length %llu is absurd (limit %llu bytes)",
			  j.what, (unsigned long long)hlen, CXLMS_ST_HEADER_MAX);
		return -EINVAL;
	}
	if (hlen > len - 8) {
		cxlms_err(ctx, "%s: header length %llu runs past the end of the file (%llu bytes)",
			  j.what, (unsigned long long)hlen, (unsigned long long)len);
		return -EINVAL;
	}
	j.base = j.p = b + 8;
	j.end = j.base + hlen;
	f->header_len = hlen;
	f->data = b + 8 + hlen;
	f->data_len = len - 8 - hlen;

	rc = jp_header(&j);
	if (rc)
		goto out;
	f->tensors = calloc(j.n_raw ? j.n_raw : 1, sizeof(*f->tensors));
	if (!f->tensors) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < j.n_raw; i++) {
		rc = check_tensor(ctx, j.what, &j.raw[i], f->data_len, &f->tensors[i]);
		if (rc)
			goto out;
		f->tensors[i].data = f->data + f->tensors[i].begin;
	}
	f->n_tensors = j.n_raw;
	if (j.meta_begin) {
		f->meta_json = j.meta_begin;
		f->meta_len = (size_t)(j.meta_end - j.meta_begin);
	}
	rc = check_all(ctx, j.what, f);
out:
	free(j.raw);
	for (i = 0; i < j.n_meta; i++)
		free(j.meta_keys[i]);
	free(j.meta_keys);
	if (rc) {
		free(f->tensors);
		memset(f, 0, sizeof(*f));
	}
	return rc;
}

int cxlms_st_open(struct cxlms_ctx *ctx, const char *path,
		  struct cxlms_st_file *f)
{
	struct stat st;
	void *map = NULL;
	size_t len = 0;
	int fd, rc;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		cxlms_err(ctx, "%s: open: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		cxlms_err(ctx, "%s: fstat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cxlms_err(ctx, "%s: not a regular file", path);
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		cxlms_err(ctx, "%s: too large to map", path);
		rc = -EFBIG;
		goto out;
	}
	len = (size_t)st.st_size;
	if (len) {
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			rc = -errno;
			cxlms_err(ctx, "%s: mmap: %s", path, strerror(errno));
			goto out;
		}
	}
	rc = cxlms_st_parse(ctx, path, map, len, f);
	if (rc) {
		if (map)
			munmap(map, len);
		goto out;
	}
	madvise(map, len, MADV_SEQUENTIAL);
	f->map = map;
	f->map_len = len;
out:
	close(fd);
	return rc;
}
