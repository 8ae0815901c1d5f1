// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the cxlms kselftests and the guest store tool.  The
 * reference fetch runs the same codec source as the module, compiled for
 * userspace, so "byte-identical to the codec" is checked directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <sys/klog.h>
#include <unistd.h>

#include "cxlms_util.h"

int cxt_open(void)
{
	int fd = open(CXLMS_DEV_PATH, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int cxt_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

int cxt_query(int fd, struct cxlms_ioc_query *q)
{
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	return cxt_ioctl(fd, CXLMS_IOC_QUERY, q);
}

int cxt_attach_ram(int fd, uint64_t bytes, uint32_t dir_capacity)
{
	struct cxlms_ioc_attach a = {
		.size = sizeof(a),
		.flags = CXLMS_ATTACH_RAM | CXLMS_ATTACH_FORMAT,
		.bytes = bytes,
		.dir_capacity = dir_capacity,
	};

	return cxt_ioctl(fd, CXLMS_IOC_ATTACH, &a);
}

int cxt_attach_cxl(int fd, uint64_t start, uint64_t bytes, bool format,
		   uint32_t dir_capacity, char *why, size_t why_len)
{
	struct cxlms_ioc_attach a = {
		.size = sizeof(a),
		.flags = format ? CXLMS_ATTACH_FORMAT : 0,
		.start = start,
		.bytes = bytes,
		.dir_capacity = format ? dir_capacity : 0,
	};
	int ret = cxt_ioctl(fd, CXLMS_IOC_ATTACH, &a);

	if (why && why_len)
		snprintf(why, why_len, "%s", a.why);
	return ret;
}

int cxt_detach(int fd)
{
	struct cxlms_ioc_detach d = { .size = sizeof(d) };

	return cxt_ioctl(fd, CXLMS_IOC_DETACH, &d);
}

int cxt_seal(int fd, uint32_t tensor)
{
	struct cxlms_ioc_tensor_seal s = { .size = sizeof(s), .tensor = tensor };

	return cxt_ioctl(fd, CXLMS_IOC_TENSOR_SEAL, &s);
}

int cxt_fetch(int fd, uint32_t tensor, uint32_t first, uint32_t count,
	      uint32_t bits, uint32_t out, uint32_t recon, void *buf,
	      uint64_t len, uint64_t *written, uint64_t *read)
{
	struct cxlms_ioc_fetch f = {
		.size = sizeof(f),
		.tensor = tensor,
		.tile_first = first,
		.tile_count = count,
		.bits = bits,
		.out = out,
		.recon = recon,
		.buf = (uintptr_t)buf,
		.buf_len = len,
	};
	int ret = cxt_ioctl(fd, CXLMS_IOC_FETCH, &f);

	if (written)
		*written = f.bytes_written;
	if (read)
		*read = f.bytes_read;
	return ret;
}

int cxt_stats(int fd, uint32_t tensor, uint32_t flags, struct cxlms_ioc_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->flags = flags;
	st->tensor = tensor;
	return cxt_ioctl(fd, CXLMS_IOC_STATS, st);
}

int cxt_verify(int fd, uint32_t tensor, struct cxlms_ioc_verify *v)
{
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	v->tensor = tensor;
	return cxt_ioctl(fd, CXLMS_IOC_VERIFY, v);
}

uint64_t cxt_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void cxt_name(char *buf, size_t len, const char *prefix)
{
	static unsigned int n;

	snprintf(buf, len, "%s.%d.%u", prefix, (int)getpid(), n++);
}

/* --- test tensors ------------------------------------------------------ */

static uint32_t eff_group(const struct cxt_tensor *t)
{
	return t->g.group_size;
}

static uint32_t groups_per_row(const struct cxt_tensor *t)
{
	return (uint32_t)((t->cols + eff_group(t) - 1) / eff_group(t));
}

/* A positive fp16 scale: normal in [2^-10, 2^-1), now and then subnormal. */
static uint16_t gen_scale(uint64_t *st)
{
	uint64_t r = cxt_rand(st);

	if (r % 32 == 0)
		return (uint16_t)(1 + (r >> 8) % 0x3ff);	/* subnormal */
	return (uint16_t)(((5 + (r >> 8) % 9) << 10) | ((r >> 20) & 0x3ff));
}

static int8_t gen_code(uint64_t *st)
{
	uint64_t r = cxt_rand(st);
	int v;

	if (r % 64 == 0)	/* outliers, both ends */
		return (r >> 8) & 1 ? 127 : -128;
	if (r % 16 == 1)	/* anywhere */
		return (int8_t)(r >> 16);
	/* Mostly small: a sum of four small uniforms. */
	v = (int)((r >> 8) & 31) + (int)((r >> 13) & 31) +
	    (int)((r >> 18) & 31) + (int)((r >> 23) & 31) - 62;
	return (int8_t)v;
}

static uint16_t gen_16(uint64_t *st, uint32_t fmt)
{
	uint64_t r = cxt_rand(st);
	uint32_t e_bits = fmt == CXLMS_FMT_BF16 ? 8 : 5, m_bits = 15 - e_bits;
	uint16_t sign = (uint16_t)((r >> 63) << 15);
	uint16_t exp_all = (uint16_t)(((1u << e_bits) - 1) << m_bits);
	uint16_t man = (uint16_t)((r >> 20) & ((1u << m_bits) - 1));
	uint32_t bias = (1u << (e_bits - 1)) - 1, e;

	switch (r % 64) {
	case 0:
		return sign;					/* +-0 */
	case 1:
		return sign | (man ? man : 1);			/* subnormal */
	case 2:
		return sign | exp_all;				/* +-Inf */
	case 3:							/* quiet NaN */
		return sign | exp_all | (uint16_t)(1u << (m_bits - 1)) | man;
	case 4:							/* signalling NaN */
		return sign | exp_all | (uint16_t)((man & ((1u << (m_bits - 1)) - 1)) | 1);
	default:
		/* Exponents around 1.0, like trained weights. */
		e = bias - 8 + (uint32_t)((r >> 8) % 10);
		return sign | (uint16_t)(e << m_bits) | man;
	}
}

int cxt_tensor_gen(struct cxt_tensor *t, const char *name, uint32_t fmt,
		   uint32_t ndim, const uint64_t *shape, uint32_t group,
		   uint32_t default_group, uint32_t tile_rows, uint64_t seed)
{
	uint64_t st = seed, n, r, i;
	uint32_t gi, gpr, d;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->fmt = fmt;
	t->dtype = fmt == CXLMS_FMT_INT8 ? CXLMS_DTYPE_F32 :
		   fmt == CXLMS_FMT_BF16 ? CXLMS_DTYPE_BF16 : CXLMS_DTYPE_F16;
	t->ndim = ndim;
	t->rows = 1;
	for (d = 0; d < ndim; d++) {
		t->shape[d] = shape[d];
		if (d + 1 < ndim)
			t->rows *= shape[d];
	}
	t->cols = shape[ndim - 1];
	t->group = group;
	t->tile_rows = tile_rows;
	t->g.fmt = fmt;
	t->g.cols = (uint32_t)t->cols;
	t->g.group_size = fmt == CXLMS_FMT_INT8 ? (group ? group : default_group) : 0;
	t->g.tile_rows = tile_rows;
	n = t->rows * t->cols;

	if (fmt == CXLMS_FMT_INT8) {
		int8_t *codes = malloc(n);

		gpr = groups_per_row(t);
		t->scales = malloc(t->rows * gpr * sizeof(uint16_t));
		t->data = codes;
		if (!codes || !t->scales)
			goto nomem;
		for (r = 0; r < t->rows; r++) {
			for (gi = 0; gi < gpr; gi++) {
				uint64_t c0 = (uint64_t)gi * eff_group(t);
				uint64_t c1 = c0 + eff_group(t) < t->cols ?
					      c0 + eff_group(t) : t->cols;
				bool zero = cxt_rand(&st) % 8 == 0;

				t->scales[r * gpr + gi] = zero ? 0 : gen_scale(&st);
				for (i = c0; i < c1; i++)
					codes[r * t->cols + i] = zero ? 0 : gen_code(&st);
			}
		}
	} else {
		uint16_t *v = malloc(n * sizeof(uint16_t));

		t->data = v;
		if (!v)
			goto nomem;
		for (i = 0; i < n; i++)
			v[i] = gen_16(&st, fmt);
	}
	return 0;
nomem:
	cxt_tensor_free(t);
	return -ENOMEM;
}

void cxt_tensor_free(struct cxt_tensor *t)
{
	free(t->data);
	free(t->scales);
	t->data = NULL;
	t->scales = NULL;
}

uint32_t cxt_tile_elems(const struct cxt_tensor *t, uint32_t tile)
{
	uint64_t first = (uint64_t)tile * t->g.tile_rows;
	uint64_t rows = t->rows - first;

	if (rows > t->g.tile_rows)
		rows = t->g.tile_rows;
	return (uint32_t)(rows * t->cols);
}

static int tensor_lookup(int fd, uint32_t index, struct cxlms_ioc_tensor_info *info)
{
	struct cxlms_ioc_tensor_list tl = {
		.size = sizeof(tl),
		.first = index,
		.count = 1,
		.entry_size = sizeof(*info),
		.entries = (uintptr_t)info,
	};
	int ret = cxt_ioctl(fd, CXLMS_IOC_TENSOR_LIST, &tl);

	if (ret)
		return ret;
	return tl.count == 1 ? 0 : -ENOENT;
}

int cxt_tensor_create(int fd, struct cxt_tensor *t)
{
	struct cxlms_ioc_tensor_create c = {
		.size = sizeof(c),
		.flags = t->create_flags,
		.fmt = t->fmt,
		.src_dtype = t->dtype,
		.ndim = t->ndim,
		.group_size = t->group,
		.tile_rows = t->tile_rows,
	};
	struct cxlms_ioc_tensor_info info;
	int ret;

	snprintf(c.name, sizeof(c.name), "%s", t->name);
	memcpy(c.shape, t->shape, sizeof(c.shape));
	ret = cxt_ioctl(fd, CXLMS_IOC_TENSOR_CREATE, &c);
	if (ret)
		return ret;
	t->index = c.index;
	t->n_tiles = c.n_tiles;
	/* The effective geometry as the module recorded it. */
	ret = tensor_lookup(fd, c.index, &info);
	if (ret)
		return ret;
	if (info.group_size != t->g.group_size)
		return -EPROTO;	/* the data was generated for another group */
	t->g.tile_rows = info.tile_rows;
	return cxlms_tile_layout(&t->g, &t->l);
}

int cxt_tile_write(int fd, const struct cxt_tensor *t, uint32_t tile)
{
	uint64_t row0 = (uint64_t)tile * t->g.tile_rows;
	uint32_t n = cxt_tile_elems(t, tile), esize = t->fmt == CXLMS_FMT_INT8 ? 1 : 2;
	struct cxlms_ioc_tile_write w = {
		.size = sizeof(w),
		.tensor = t->index,
		.tile = tile,
		.data = (uintptr_t)((const uint8_t *)t->data + row0 * t->cols * esize),
		.data_len = (uint64_t)n * esize,
	};

	if (t->fmt == CXLMS_FMT_INT8) {
		w.scales = (uintptr_t)(t->scales + row0 * groups_per_row(t));
		w.scales_len = (uint64_t)n / t->cols * groups_per_row(t) * 2;
	}
	return cxt_ioctl(fd, CXLMS_IOC_TILE_WRITE, &w);
}

int cxt_tensor_upload(int fd, struct cxt_tensor *t, bool seal)
{
	uint32_t i;
	int ret = cxt_tensor_create(fd, t);

	for (i = 0; !ret && i < t->n_tiles; i++)
		ret = cxt_tile_write(fd, t, i);
	if (!ret && seal)
		ret = cxt_seal(fd, t->index);
	return ret;
}

int64_t cxt_ref_size(const struct cxt_tensor *t, uint32_t tile, uint32_t bits,
		     uint32_t out, uint32_t recon)
{
	struct cxlms_fetch_layout fl;
	int ret = cxlms_fetch_layout(&t->g, cxt_tile_elems(t, tile), bits, out,
				     recon, &fl);

	return ret ? ret : (int64_t)fl.total;
}

int64_t cxt_ref_fetch(const struct cxt_tensor *t, uint32_t tile, uint32_t bits,
		      uint32_t out, uint32_t recon, void *dst, uint64_t len)
{
	uint64_t row0 = (uint64_t)tile * t->g.tile_rows;
	uint32_t n = cxt_tile_elems(t, tile);
	uint8_t *buf = calloc(1, t->l.tile_bytes);
	int64_t ret;

	if (!buf)
		return -ENOMEM;
	if (t->fmt == CXLMS_FMT_INT8) {
		uint32_t gpr = groups_per_row(t);

		ret = cxlms_place_int8(buf, &t->g, n, 0,
				       (const int8_t *)t->data + row0 * t->cols, n);
		if (!ret)
			ret = cxlms_place_scales(buf, &t->g, n,
						 t->scales + row0 * gpr,
						 n / (uint32_t)t->cols * gpr);
		if (!ret)
			ret = cxlms_tile_finalize(buf, &t->g, n);
	} else {
		ret = cxlms_place_16(buf, &t->g, n, 0,
				     (const uint16_t *)t->data + row0 * t->cols, n);
	}
	if (!ret)
		ret = cxlms_fetch_tile(buf, &t->g, n, bits, out, recon, dst, len);
	free(buf);
	return ret;
}

int cxt_dmesg_bad(char *line, size_t len)
{
	static const char *const bad[] = {
		"Oops", "WARNING:", "BUG:", "general protection", "KASAN",
		"UBSAN", "Call Trace",
	};
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf, *p, *nl;
	size_t i;
	int n;

	if (size <= 0)
		size = 1 << 20;
	buf = malloc((size_t)size + 1);
	if (!buf)
		return -ENOMEM;
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, size);
	if (n < 0) {
		n = -errno;
		free(buf);
		return n;
	}
	buf[n] = '\0';
	for (p = buf; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p) - 1;
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			char *hit = memmem(p, (size_t)(nl - p + 1), bad[i], strlen(bad[i]));

			if (hit) {
				snprintf(line, len, "%.*s", (int)(nl - p), p);
				free(buf);
				return 1;
			}
		}
		if (!nl[1])
			break;
	}
	free(buf);
	return 0;
}

int cxt_ioctl_as_nobody(int fd, unsigned long cmd, void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int ret;

		if (setresgid(CXT_NOBODY, CXT_NOBODY, CXT_NOBODY) ||
		    setresuid(CXT_NOBODY, CXT_NOBODY, CXT_NOBODY))
			_exit(250);
		ret = cxt_ioctl(fd, cmd, arg);
		_exit(ret < 0 ? -ret : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) == 250)
		return -ECHILD;
	return -WEXITSTATUS(status);
}

void cxt_tap(struct cxt_tap *t, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %u - %s", ok ? "" : "not ", ++t->n, t->prefix ? t->prefix : "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		t->fail++;
}

double cxt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}
