// SPDX-License-Identifier: GPL-2.0
/*
 * Read-only safetensors parser for the demo tools: u64 LE header length,
 * a JSON object {name: {dtype, shape, data_offsets}, "__metadata__": {...}},
 * then the data.  Only what the demo needs; strict about bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st-read.h"

struct parser {
	const char *p, *end;
	char *why;
	size_t why_len;
};

static int fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->why, ps->why_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool eat(struct parser *ps, char c)
{
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return true;
	}
	return false;
}

static int hex4(struct parser *ps, unsigned int *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++, ps->p++) {
		char c = ps->p < ps->end ? *ps->p : 0;

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned int)(c - 'A' + 10);
		else
			return fail(ps, "bad \\u escape");
	}
	return 0;
}

/* Parse a JSON string into a malloc'd UTF-8 C string (NULL @out: skip). */
static int parse_string(struct parser *ps, char **out)
{
	size_t cap = 32, len = 0;
	char *s = NULL;

	if (!eat(ps, '"'))
		return fail(ps, "expected a string");
	if (out) {
		s = malloc(cap);
		if (!s)
			return -ENOMEM;
	}
	for (;;) {
		unsigned char buf[4];
		size_t n = 1;
		unsigned int cp;

		if (ps->p >= ps->end) {
			free(s);
			return fail(ps, "unterminated string");
		}
		buf[0] = (unsigned char)*ps->p++;
		if (buf[0] == '"')
			break;
		if (buf[0] < 0x20) {
			free(s);
			return fail(ps, "control character in string");
		}
		if (buf[0] == '\\') {
			char e = ps->p < ps->end ? *ps->p++ : 0;

			switch (e) {
			case '"': case '\\': case '/':
				buf[0] = (unsigned char)e;
				break;
			case 'b': buf[0] = '\b'; break;
			case 'f': buf[0] = '\f'; break;
			case 'n': buf[0] = '\n'; break;
			case 'r': buf[0] = '\r'; break;
			case 't': buf[0] = '\t'; break;
			case 'u':
				if (hex4(ps, &cp))
					goto bad;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					unsigned int lo;

					if (ps->end - ps->p < 6 || ps->p[0] != '\\' ||
					    ps->p[1] != 'u')
						goto bad_sur;
					ps->p += 2;
					if (hex4(ps, &lo))
						goto bad;
					if (lo < 0xdc00 || lo > 0xdfff)
						goto bad_sur;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				} else if (cp >= 0xdc00 && cp <= 0xdfff) {
					goto bad_sur;
				}
				if (cp == 0) {
					free(s);
					return fail(ps, "NUL in string");
				}
				if (cp < 0x80) {
					buf[0] = (unsigned char)cp;
				} else if (cp < 0x800) {
					buf[0] = (unsigned char)(0xc0 | (cp >> 6));
					buf[1] = (unsigned char)(0x80 | (cp & 0x3f));
					n = 2;
				} else if (cp < 0x10000) {
					buf[0] = (unsigned char)(0xe0 | (cp >> 12));
					buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
					buf[2] = (unsigned char)(0x80 | (cp & 0x3f));
					n = 3;
				} else {
					buf[0] = (unsigned char)(0xf0 | (cp >> 18));
					buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
					buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
					buf[3] = (unsigned char)(0x80 | (cp & 0x3f));
					n = 4;
				}
				break;
			default:
				free(s);
				return fail(ps, "bad escape in string");
			}
		}
		if (!out)
			continue;
		if (len + n + 1 > cap) {
			char *ns;

			cap *= 2;
			ns = realloc(s, cap);
			if (!ns) {
				free(s);
				return -ENOMEM;
			}
			s = ns;
		}
		memcpy(s + len, buf, n);
		len += n;
	}
	if (out) {
		s[len] = '\0';
		*out = s;
	}
	return 0;
bad_sur:
	free(s);
	return fail(ps, "bad surrogate pair in string");
bad:
	free(s);
	return -EINVAL;
}

static int parse_u64(struct parser *ps, uint64_t *v)
{
	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
		return fail(ps, "expected an unsigned integer");
	*v = 0;
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		unsigned int d = (unsigned int)(*ps->p++ - '0');

		if (*v > (UINT64_MAX - d) / 10)
			return fail(ps, "integer overflow");
		*v = *v * 10 + d;
	}
	return 0;
}

/* Skip any JSON value (for __metadata__ and unknown keys). */
static int skip_value(struct parser *ps, int depth)
{
	skip_ws(ps);
	if (depth > 32)
		return fail(ps, "nesting too deep");
	if (ps->p >= ps->end)
		return fail(ps, "unexpected end of header");
	if (*ps->p == '"')
		return parse_string(ps, NULL);
	if (*ps->p == '{' || *ps->p == '[') {
		char close = *ps->p == '{' ? '}' : ']';
		bool obj = close == '}';

		ps->p++;
		if (eat(ps, close))
			return 0;
		do {
			int err;

			if (obj) {
				err = parse_string(ps, NULL);
				if (err)
					return err;
				if (!eat(ps, ':'))
					return fail(ps, "expected ':'");
			}
			err = skip_value(ps, depth + 1);
			if (err)
				return err;
		} while (eat(ps, ','));
		return eat(ps, close) ? 0 : fail(ps, "expected '%c'", close);
	}
	/* numbers, true, false, null */
	while (ps->p < ps->end && strchr("+-.0123456789eEtruefalsn", *ps->p))
		ps->p++;
	return 0;
}

static int parse_u64_array(struct parser *ps, uint64_t *v, unsigned int max,
			   unsigned int *n)
{
	*n = 0;
	if (!eat(ps, '['))
		return fail(ps, "expected '['");
	if (eat(ps, ']'))
		return 0;
	do {
		if (*n == max)
			return fail(ps, "array longer than %u", max);
		if (parse_u64(ps, &v[(*n)++]))
			return -EINVAL;
	} while (eat(ps, ','));
	return eat(ps, ']') ? 0 : fail(ps, "expected ']'");
}

static int parse_tensor(struct parser *ps, struct st_tensor *t)
{
	bool have_dtype = false, have_shape = false, have_off = false;

	if (!eat(ps, '{'))
		return fail(ps, "tensor '%s': expected an object", t->name);
	do {
		char *key, *dt;
		uint64_t off[2];
		unsigned int n;
		int err = parse_string(ps, &key);

		if (err)
			return err;
		if (!eat(ps, ':')) {
			free(key);
			return fail(ps, "expected ':'");
		}
		if (!strcmp(key, "dtype")) {
			err = parse_string(ps, &dt);
			if (!err) {
				if (!strcmp(dt, "F32"))
					t->dtype = ST_F32;
				else if (!strcmp(dt, "F16"))
					t->dtype = ST_F16;
				else if (!strcmp(dt, "BF16"))
					t->dtype = ST_BF16;
				else if (!strcmp(dt, "I8"))
					t->dtype = ST_I8;
				else
					err = fail(ps, "tensor '%s': dtype %s not supported",
						   t->name, dt);
				free(dt);
			}
			have_dtype = true;
		} else if (!strcmp(key, "shape")) {
			err = parse_u64_array(ps, t->shape, ST_MAX_DIMS, &t->ndim);
			have_shape = true;
		} else if (!strcmp(key, "data_offsets")) {
			err = parse_u64_array(ps, off, 2, &n);
			if (!err && n != 2)
				err = fail(ps, "tensor '%s': data_offsets needs 2 numbers",
					   t->name);
			t->begin = off[0];
			t->end = off[1];
			have_off = true;
		} else {
			err = skip_value(ps, 1);
		}
		free(key);
		if (err)
			return err;
	} while (eat(ps, ','));
	if (!eat(ps, '}'))
		return fail(ps, "tensor '%s': expected '}'", t->name);
	if (!have_dtype || !have_shape || !have_off)
		return fail(ps, "tensor '%s': needs dtype, shape and data_offsets", t->name);
	return 0;
}

static unsigned int dtype_bytes(enum st_dtype d)
{
	return d == ST_F32 ? 4 : d == ST_I8 ? 1 : 2;
}

static int parse_header(struct parser *ps, struct st_file *f)
{
	unsigned int cap = 0;

	if (!eat(ps, '{'))
		return fail(ps, "header is not a JSON object");
	if (eat(ps, '}'))
		return 0;
	do {
		struct st_tensor *t;
		char *name;
		int err = parse_string(ps, &name);

		if (err)
			return err;
		if (!eat(ps, ':')) {
			free(name);
			return fail(ps, "expected ':'");
		}
		if (!strcmp(name, "__metadata__")) {
			free(name);
			err = skip_value(ps, 1);
			if (err)
				return err;
			continue;
		}
		if (f->n == cap) {
			struct st_tensor *nt;

			cap = cap ? 2 * cap : 64;
			nt = realloc(f->t, cap * sizeof(*nt));
			if (!nt) {
				free(name);
				return -ENOMEM;
			}
			f->t = nt;
		}
		t = &f->t[f->n++];
		memset(t, 0, sizeof(*t));
		t->name = name;
		err = parse_tensor(ps, t);
		if (err)
			return err;
		t->elems = 1;
		for (unsigned int i = 0; i < t->ndim; i++) {
			if (t->shape[i] && t->elems > UINT64_MAX / t->shape[i])
				return fail(ps, "tensor '%s': shape overflows", name);
			t->elems *= t->shape[i];
		}
		if (t->end < t->begin || t->end > f->data_len ||
		    t->end - t->begin != t->elems * dtype_bytes(t->dtype))
			return fail(ps, "tensor '%s': data_offsets do not match shape and file",
				    name);
	} while (eat(ps, ','));
	if (!eat(ps, '}'))
		return fail(ps, "expected '}' at end of header");
	return 0;
}

int st_open(const char *path, struct st_file *f, char *why, size_t why_len)
{
	struct parser ps = { .why = why, .why_len = why_len };
	struct stat st;
	uint64_t hlen;
	int fd, err;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		snprintf(why, why_len, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	if (st.st_size < 8) {
		close(fd);
		snprintf(why, why_len, "too short for a safetensors file");
		return -EINVAL;
	}
	f->size = (size_t)st.st_size;
	f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (f->map == MAP_FAILED) {
		f->map = NULL;
		snprintf(why, why_len, "mmap: %s", strerror(errno));
		return -errno;
	}
	memcpy(&hlen, f->map, 8);
	if (hlen > f->size - 8) {
		st_close(f);
		snprintf(why, why_len, "header length %llu past end of file",
			 (unsigned long long)hlen);
		return -EINVAL;
	}
	ps.p = (const char *)f->map + 8;
	ps.end = ps.p + hlen;
	f->data = (const uint8_t *)f->map + 8 + hlen;
	f->data_len = f->size - 8 - hlen;
	err = parse_header(&ps, f);
	if (!err) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			err = fail(&ps, "trailing bytes after the header object");
	}
	if (err) {
		if (err == -ENOMEM)
			snprintf(why, why_len, "out of memory");
		st_close(f);
		return err;
	}
	return 0;
}

void st_close(struct st_file *f)
{
	for (unsigned int i = 0; i < f->n; i++)
		free(f->t[i].name);
	free(f->t);
	if (f->map)
		munmap(f->map, f->size);
	memset(f, 0, sizeof(*f));
}

const struct st_tensor *st_find(const struct st_file *f, const char *name)
{
	for (unsigned int i = 0; i < f->n; i++)
		if (!strcmp(f->t[i].name, name))
			return &f->t[i];
	return NULL;
}

static float f32_from_bits(uint32_t u)
{
	float x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

/* binary16 -> binary32, exact (subnormals normalised). */
static float f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;

	if (exp == 0x1f)
		return f32_from_bits(sign | 0x7f800000 | (man << 13));
	if (exp == 0) {
		if (!man)
			return f32_from_bits(sign);
		exp = 113;	/* 127 - 14 */
		while (!(man & 0x400)) {
			man <<= 1;
			exp--;
		}
		return f32_from_bits(sign | (exp << 23) | ((man & 0x3ff) << 13));
	}
	return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

void st_read_f32(const struct st_file *f, const struct st_tensor *t, float *out)
{
	const uint8_t *p = f->data + t->begin;

	for (uint64_t i = 0; i < t->elems; i++) {
		uint16_t h;
		uint32_t u;

		switch (t->dtype) {
		case ST_F32:
			memcpy(&out[i], p + 4 * i, 4);
			break;
		case ST_F16:
			memcpy(&h, p + 2 * i, 2);
			out[i] = f16_to_f32(h);
			break;
		case ST_BF16:
			memcpy(&h, p + 2 * i, 2);
			u = (uint32_t)h << 16;
			out[i] = f32_from_bits(u);
			break;
		case ST_I8:
			out[i] = (float)(int8_t)p[i];
			break;
		}
	}
}
