// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "lib_testutil.h"
#include "writer.h"

static void tu_log_fn(struct cxlms_ctx *ctx, int priority, const char *file,
		      int line, const char *fn, const char *format, va_list args)
{
	struct logcap *lc = cxlms_get_userdata(ctx);
	int n;

	if (!lc)
		return;
	lc->count++;
	if (lc->len >= sizeof(lc->buf) - 2)
		return;
	n = vsnprintf(lc->buf + lc->len, sizeof(lc->buf) - 1 - lc->len, format, args);
	if (n < 0)
		return;
	lc->len += (size_t)n;
	if (lc->len > sizeof(lc->buf) - 2)
		lc->len = sizeof(lc->buf) - 2;
	lc->buf[lc->len++] = '\n';
	lc->buf[lc->len] = '\0';
}

struct cxlms_ctx *tu_ctx(struct logcap *lc)
{
	struct cxlms_ctx *ctx = NULL;

	if (cxlms_new(&ctx))
		return NULL;
	tu_log_clear(lc);
	cxlms_set_userdata(ctx, lc);
	cxlms_set_log_fn(ctx, tu_log_fn);
	if (cxlms_get_log_priority(ctx) < LOG_ERR)
		cxlms_set_log_priority(ctx, LOG_ERR);
	return ctx;
}

void tu_log_clear(struct logcap *lc)
{
	lc->len = 0;
	lc->count = 0;
	lc->buf[0] = '\0';
}

bool tu_log_has(const struct logcap *lc, const char *needle)
{
	return strstr(lc->buf, needle) != NULL;
}

char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/cxlms-test-XXXXXX", base) < 0)
		return NULL;
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

void tu_rmtree(const char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

int tu_write_file(const char *path, const void *buf, size_t len)
{
	const char *b = buf;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, b, len);

		if (n < 0) {
			close(fd);
			return -errno;
		}
		b += n;
		len -= (size_t)n;
	}
	return close(fd) ? -errno : 0;
}

void *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long sz;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto out;
	buf = malloc(sz ? (size_t)sz : 1);
	if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		free(buf);
		buf = NULL;
	}
	*len = (size_t)sz;
out:
	fclose(f);
	return buf;
}

int tu_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Append to a growing string. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
}

void *tu_st_raw(const char *header, uint64_t hlen_field, const void *data,
		size_t dlen, size_t *len)
{
	size_t hl = strlen(header);
	uint8_t *buf = malloc(8 + hl + dlen + 1);

	if (!buf)
		return NULL;
	memcpy(buf, &hlen_field, 8);
	memcpy(buf + 8, header, hl);
	if (dlen)
		memcpy(buf + 8 + hl, data, dlen);
	*len = 8 + hl + dlen;
	return buf;
}

void *tu_st_build(const struct tu_st_tensor *t, size_t n, size_t *len)
{
	struct sbuf h = { 0 };
	size_t i, off = 0, dlen = 0;
	unsigned int k;
	uint8_t *img, *p;

	sb_addf(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
	for (i = 0; i < n; i++) {
		sb_addf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name, t[i].dtype);
		for (k = 0; k < t[i].ndim; k++)
			sb_addf(&h, "%s%llu", k ? "," : "", (unsigned long long)t[i].shape[k]);
		sb_addf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].len);
		off += t[i].len;
	}
	sb_addf(&h, "}");
	while (h.len % 8)
		sb_addf(&h, " ");
	dlen = off;
	img = malloc(8 + h.len + dlen + 1);
	if (!img)
		abort();
	{
		uint64_t hl = h.len;

		memcpy(img, &hl, 8);
	}
	memcpy(img + 8, h.s, h.len);
	p = img + 8 + h.len;
	for (i = 0; i < n; i++) {
		if (t[i].len)
			memcpy(p, t[i].data, t[i].len);
		p += t[i].len;
	}
	*len = 8 + h.len + dlen;
	free(h.s);
	return img;
}

int tu_st_write(const char *path, const struct tu_st_tensor *t, size_t n)
{
	size_t len;
	void *img = tu_st_build(t, n, &len);
	int rc = tu_write_file(path, img, len);

	free(img);
	return rc;
}

uint64_t tu_rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

double tu_uniform(uint64_t *s)
{
	return ((double)(tu_rng(s) >> 11) + 0.5) / 9007199254740992.0;
}

double tu_heavy(uint64_t *s)
{
	/* Gaussian over a random scale: a scale mixture with heavy tails. */
	double g = sqrt(-2.0 * log(tu_uniform(s))) * cos(6.283185307179586 * tu_uniform(s));
	double scale = exp(1.5 * (tu_uniform(s) - 0.5) * 2.0);

	return g * scale * scale;
}

int tu_write_random_store(const char *path,
			  const struct cxlms_tensor_spec *spec, unsigned int n,
			  uint64_t *seed, unsigned int zero_every)
{
	struct cxlms_writer *w;
	unsigned int k, tile, i;
	int rc;

	rc = cxlms_writer_new(NULL, spec, n, 0, &w);
	if (!rc)
		rc = cxlms_writer_create(w, path);
	for (k = 0; !rc && k < n; k++) {
		const struct cxlms_dirent *d = cxlms_writer_dirent(w, k);
		struct cxlms_tile_geom g;

		cxlms_dirent_geom(d, &g);
		for (tile = 0; !rc && tile < d->n_tiles; tile++) {
			void *mem = cxlms_writer_tile(w, k, tile);
			uint32_t ne = cxlms_dirent_tile_elems(d, tile);

			if (d->fmt == CXLMS_FMT_INT8) {
				uint32_t ns = ne / g.cols *
					      ((g.cols + g.group_size - 1) / g.group_size);
				int8_t *codes = malloc(ne);
				uint16_t *scales = malloc(ns * sizeof(*scales));

				if (!codes || !scales)
					rc = -ENOMEM;
				/* Heavy tails saturate at the code range (an
				 * out-of-range float-to-int8 cast is undefined). */
				for (i = 0; !rc && i < ne; i++)
					codes[i] = (int8_t)fmax(-127.0, fmin(127.0,
						   tu_heavy(seed) * 20));
				for (i = 0; !rc && i < ns; i++)	/* finite, some zero */
					scales[i] = i % zero_every ? (uint16_t)(0x2000 +
						    tu_rng(seed) % 0x3000) : 0;
				if (!rc)
					rc = cxlms_place_int8(mem, &g, ne, 0, codes, ne);
				if (!rc)
					rc = cxlms_place_scales(mem, &g, ne, scales, ns);
				if (!rc)
					rc = cxlms_tile_finalize(mem, &g, ne);
				free(codes);
				free(scales);
			} else {
				uint16_t *vals = malloc(ne * sizeof(*vals));

				if (!vals)
					rc = -ENOMEM;
				for (i = 0; !rc && i < ne; i++)
					vals[i] = (uint16_t)tu_rng(seed);
				if (!rc)
					rc = cxlms_place_16(mem, &g, ne, 0, vals, ne);
				free(vals);
			}
		}
		if (!rc)
			rc = cxlms_writer_seal_tensor(w, k);
	}
	if (!rc)
		rc = cxlms_writer_commit(w);
	cxlms_writer_free(w);
	return rc;
}

struct tu_pieces_state {
	const uint8_t *ref;		/* the whole fetch */
	struct cxlms_fetch_info info;
	unsigned int tile, bits, out_bits;
	uint64_t next;			/* element the next piece must start at */
	const void *first_data;
	struct tu_pieces_result *res;
};

static int tu_piece_check(void *arg, const struct cxlms_piece *p)
{
	struct tu_pieces_state *st = arg;
	struct tu_pieces_result *res = st->res;
	uint64_t off = p->elem_first * st->out_bits / 8;

	if (res->mismatch)
		return 0;
	if (!res->n_pieces++)
		st->first_data = p->data;
	else if (p->data != st->first_data)
		res->reused = false;
	if (p->tile != st->tile || p->bits != st->bits)
		res->mismatch = "tile or bits";
	else if (p->elem_first != st->next || !p->elem_count)
		res->mismatch = "piece order";
	else if (p->data_len != (p->elem_count * st->out_bits + 7) / 8 ||
		 off + p->data_len > st->info.data_len)
		res->mismatch = "piece length";
	else if (memcmp(p->data, st->ref + off, p->data_len)) {
		const uint8_t *d = p->data;
		size_t i = 0;

		while (d[i] == st->ref[off + i])
			i++;
		fprintf(stderr, "# piece at element %llu: byte %zu of %zu differs: 0x%02x, want 0x%02x\n",
			(unsigned long long)p->elem_first, i, p->data_len, d[i],
			st->ref[off + i]);
		res->mismatch = "piece data";
	}
	else if (p->side_len != st->info.total - st->info.data_len ||
		 (p->side_len && memcmp(p->side, st->ref + st->info.data_len, p->side_len)))
		res->mismatch = "side data";
	st->next = p->elem_first + p->elem_count;
	return 0;
}

int tu_check_pieces(struct cxlms_store *s, struct cxlms_tensor *t,
		    unsigned int tile, unsigned int bits, unsigned int out,
		    unsigned int recon, size_t piece_bytes,
		    struct tu_pieces_result *res)
{
	struct tu_pieces_state st = { .tile = tile, .bits = bits, .res = res };
	uint8_t *ref;
	int64_t got;
	int rc, want;

	memset(res, 0, sizeof(*res));
	res->reused = true;
	want = cxlms_fetch_info(t, tile, bits, out, recon, &st.info);
	if (out == CXLMS_OUT_PLANES)
		want = -EINVAL;		/* pieces of planes do not exist */
	if (want) {
		rc = cxlms_fetch_pieces(s, t, tile, bits, out, recon, piece_bytes,
					tu_piece_check, &st);
		if (rc != want)
			res->mismatch = "error differs from cxlms_fetch_info()'s";
		else if (res->n_pieces)
			res->mismatch = "consumer called on an error";
		return rc;
	}
	ref = malloc(st.info.total);
	if (!ref)
		return -ENOMEM;
	got = cxlms_fetch(s, t, tile, bits, out, recon, ref, st.info.total);
	if (got != (int64_t)st.info.total) {
		free(ref);
		res->mismatch = "reference fetch failed";
		return got < 0 ? (int)got : -EIO;
	}
	st.ref = ref;
	st.out_bits = out == CXLMS_OUT_PACKED ? bits :
		      out == CXLMS_OUT_INT ? cxlms_tensor_get_planes(t) :
		      out == CXLMS_OUT_F32 ? 32 : 16;
	rc = cxlms_fetch_pieces(s, t, tile, bits, out, recon, piece_bytes,
				tu_piece_check, &st);
	if (!rc && !res->mismatch && st.next != cxlms_tensor_get_tile_elems(t, tile))
		res->mismatch = "pieces do not cover the tile";
	free(ref);
	return rc;
}
