// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Independent reference of the bit-plane codec (see ref_codec.h).  Every
 * rule is transcribed from docs/format.md one element and one bit at a
 * time; numbers go through double, which holds every intermediate exactly.
 */
#include <math.h>
#include <string.h>
#include <linux/cxlms.h>
#include "ref_codec.h"

static size_t align64(size_t x)
{
	return (x + 63) / 64 * 64;
}

int ref_layout(unsigned fmt, unsigned cols, unsigned group, unsigned tile_rows,
	       struct ref_layout *l)
{
	unsigned long long elems = (unsigned long long)cols * tile_rows;

	memset(l, 0, sizeof(*l));
	if (fmt != CXLMS_FMT_INT8 && fmt != CXLMS_FMT_BF16 && fmt != CXLMS_FMT_FP16)
		return -1;
	if (!cols || !tile_rows || elems > (1u << 24))
		return -1;
	l->elems = (unsigned)elems;
	if (fmt == CXLMS_FMT_INT8) {
		if (!group)
			return -1;
		l->n_planes = 8;
		l->gpr = (cols + group - 1) / group;
		l->scales_len = (size_t)tile_rows * l->gpr * 2;
		l->table_off = align64(l->scales_len);
		l->table_len = 512;
		l->planes_off = align64(l->table_off + l->table_len);
	} else {
		if (group)
			return -1;
		l->n_planes = 16;
	}
	l->plane_len = (l->elems + 7) / 8;
	l->plane_stride = align64(l->plane_len);
	if (l->plane_stride % 4096 == 0)
		l->plane_stride += 64;
	l->tile_bytes = l->planes_off + l->n_planes * l->plane_stride;
	return 0;
}

double ref_fp16_value(uint16_t h)
{
	int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
	double v;

	if (e == 31)
		v = m ? NAN : INFINITY;
	else if (e == 0)
		v = ldexp(m, -24);
	else
		v = ldexp(1024 + m, e - 25);
	return sign ? -v : v;
}

static double bf16_value(uint16_t h)
{
	int sign = h >> 15, e = (h >> 7) & 255, m = h & 127;
	double v;

	if (e == 255)
		v = m ? NAN : INFINITY;
	else if (e == 0)
		v = ldexp(m, -133);
	else
		v = ldexp(128 + m, e - 134);
	return sign ? -v : v;
}

static uint32_t float_bits(float f)
{
	uint32_t b;

	memcpy(&b, &f, 4);
	return b;
}

static double bits_float(uint32_t b)
{
	float f;

	memcpy(&f, &b, 4);
	return f;
}

uint32_t ref_fp16_to_f32(uint16_t h)
{
	if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
		return ((uint32_t)(h >> 15) << 31) | 0x7f800000 | ((uint32_t)(h & 0x3ff) << 13);
	return float_bits((float)ref_fp16_value(h));
}

static uint32_t bf16_to_f32(uint16_t h)
{
	if ((h & 0x7f80) == 0x7f80 && (h & 0x7f))
		return (uint32_t)h << 16;	/* NaN: payload kept */
	return float_bits((float)bf16_value(h));
}

uint16_t ref_f32_to_bf16(uint32_t f)
{
	double v = fabs(bits_float(f)), lo_v, hi_v;
	uint16_t lo = f >> 16, hi = lo + 1;

	if (isnan(bits_float(f)))
		return (f >> 16) | 0x40;
	if (!(f & 0xffff) || isinf(v))
		return lo;
	/* The two bf16 neighbours; past the largest finite one, Inf counts as 2^128. */
	lo_v = fabs(bf16_value(lo));
	hi_v = (hi & 0x7fff) == 0x7f80 ? ldexp(1, 128) : fabs(bf16_value(hi));
	if (v - lo_v < hi_v - v)
		return lo;
	if (v - lo_v > hi_v - v)
		return hi;
	return (lo & 1) ? hi : lo;
}

uint32_t ref_dequant(int32_t level_q8, uint16_t scale)
{
	/* 16-bit level times 11-bit significand: exact in double, rounded once. */
	return float_bits((float)((double)level_q8 / 256.0 * ref_fp16_value(scale)));
}

int ref_get_bit(const uint8_t *tile, const struct ref_layout *l, unsigned p,
		size_t i)
{
	return (tile[l->planes_off + p * l->plane_stride + i / 8] >> (i % 8)) & 1;
}

static void set_bit(uint8_t *tile, const struct ref_layout *l, unsigned p,
		    size_t i, int bit)
{
	uint8_t *b = &tile[l->planes_off + p * l->plane_stride + i / 8];

	if (bit)
		*b |= 1u << (i % 8);
	else
		*b &= ~(1u << (i % 8));
}

void ref_place_int8(uint8_t *tile, const struct ref_layout *l,
		    const int8_t *codes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (unsigned p = 0; p < 8; p++)
			set_bit(tile, l, p, i, ((uint8_t)codes[i] >> (7 - p)) & 1);
}

void ref_place_16(uint8_t *tile, const struct ref_layout *l, unsigned fmt,
		  const uint16_t *vals, size_t n)
{
	unsigned e_bits = fmt == CXLMS_FMT_BF16 ? 8 : 5, m_bits = 15 - e_bits;
	uint16_t exp_all = ((1u << e_bits) - 1) << m_bits;

	for (size_t i = 0; i < n; i++) {
		uint16_t v = vals[i];

		/* Signalling NaN (top mantissa bit clear) is stored quiet. */
		if ((v & exp_all) == exp_all && (v & ((1u << m_bits) - 1)) &&
		    !(v & (1u << (m_bits - 1))))
			v |= 1u << (m_bits - 1);
		for (unsigned p = 0; p < 16; p++)
			set_bit(tile, l, p, i, (v >> (15 - p)) & 1);
	}
}

unsigned ref_top_bits(const uint8_t *tile, const struct ref_layout *l,
		      unsigned k, size_t i)
{
	unsigned u = 0;

	for (unsigned p = 0; p < k; p++)
		u = (u << 1) | ref_get_bit(tile, l, p, i);
	return u;
}

int32_t ref_level_q8(unsigned k, unsigned u, unsigned recon)
{
	int32_t s = u >= (1u << (k - 1)) ? (int32_t)u - (1 << k) : (int32_t)u;
	int32_t floor_q8 = s * (1 << (8 - k)) * 256;

	if (k == 8 || recon == CXLMS_RECON_FLOOR)
		return floor_q8;
	return floor_q8 + (1 << (7 - k)) * 256;
}

/*
 * Tolerance: the codec weights each element by w = floor(W) with
 * W = s^2 / 4^(emax - 25) (s^2 in units of the largest exponent's ulp^2),
 * so each weight is short by some d_i in [0, 1).  Moving weights by d_i
 * moves the centroid c by at most max|c_i - c| * sum d_i / sum w_i
 * <= (width - 1) * N / (sum W - N) codes (N elements in the bucket, width
 * codes per bucket).  Rounding the Q8.8 level adds half a unit.  If the
 * truncated weights may all be zero the codec falls back to the midpoint,
 * anywhere in the bucket: allow the bucket width.
 */
double ref_centroid_q8(const int8_t *codes, const uint16_t *scales, size_t n,
		       unsigned cols, unsigned group, unsigned k, unsigned u,
		       double *tol)
{
	unsigned gpr = (cols + group - 1) / group, width = 1u << (8 - k);
	int emax = 0;
	double s0 = 0, s1 = 0, cnt = 0;

	for (size_t i = 0; i < n / cols * gpr; i++) {
		int e = (scales[i] >> 10) & 31;

		if (scales[i] & 0x7fff)
			emax = e > emax ? e : emax;
	}
	if (!emax)
		emax = 1;
	for (size_t i = 0; i < n; i++) {
		size_t sidx = i / cols * gpr + (i % cols) / group;
		double s = ref_fp16_value(scales[sidx]);

		if ((unsigned)((uint8_t)codes[i] >> (8 - k)) != u)
			continue;
		/* Squared scale in units of 4^(emax - 25). */
		double w = ldexp(s * s, 2 * (25 - emax));

		s0 += w;
		s1 += codes[i] * w;
		cnt++;
	}
	if (s0 == 0) {
		*tol = 0;
		return ref_level_q8(k, u, CXLMS_RECON_MIDPOINT);
	}
	if (s0 <= cnt)
		*tol = 256.0 * width;
	else
		*tol = 0.5 + 256.0 * (width - 1) * cnt / (s0 - cnt) + 1e-9;
	return 256.0 * s1 / s0;
}

uint16_t ref_recon16(unsigned fmt, uint16_t top, unsigned k, unsigned recon)
{
	unsigned e_bits = fmt == CXLMS_FMT_BF16 ? 8 : 5, d = 16 - k;
	uint16_t v = (uint16_t)(top << d);
	unsigned exp = (v >> (15 - e_bits)) & ((1u << e_bits) - 1);

	if (recon != CXLMS_RECON_MIDPOINT || !d)
		return v;
	if (!(v & 0x7fff))		/* +-0 stays +-0 */
		return v;
	if (exp == (1u << e_bits) - 1)	/* Inf and NaN: dropped bits zero */
		return v;
	return v | (1u << (d - 1));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static int32_t int8_level(const uint8_t *tile, const struct ref_layout *l,
			  unsigned k, unsigned u, unsigned recon)
{
	const uint8_t *e;

	if (k == 8 || recon != CXLMS_RECON_TABLE)
		return ref_level_q8(k, u, recon);
	e = tile + l->table_off + 2 * ((1u << k) - 2 + u);
	return (int16_t)(e[0] | (e[1] << 8));
}

long ref_fetch(const uint8_t *tile, const struct ref_layout *l, unsigned fmt,
	       unsigned cols, unsigned group, size_t n, unsigned k,
	       unsigned out, unsigned recon, uint8_t *dst)
{
	unsigned e_bits = fmt == CXLMS_FMT_BF16 ? 8 : 5;
	size_t nb = (n + 7) / 8, data_len, end, total;
	int is8 = fmt == CXLMS_FMT_INT8;

	if (k < 1 || k > l->n_planes)
		return -1;
	if (!is8 && recon == CXLMS_RECON_TABLE)
		return -1;
	if (!is8 && out >= CXLMS_OUT_INT && k < 1 + e_bits)
		return -1;

	switch (out) {
	case CXLMS_OUT_PLANES:
		data_len = k * nb;
		memset(dst, 0, data_len);
		for (unsigned p = 0; p < k; p++)
			for (size_t i = 0; i < n; i++)
				if (ref_get_bit(tile, l, p, i))
					dst[p * nb + i / 8] |= 1u << (i % 8);
		break;
	case CXLMS_OUT_PACKED:
		data_len = (n * k + 7) / 8;
		memset(dst, 0, data_len);
		for (size_t i = 0; i < n; i++) {
			unsigned u = ref_top_bits(tile, l, k, i);

			for (unsigned b = 0; b < k; b++)
				if ((u >> b) & 1)
					dst[(i * k + b) / 8] |= 1u << ((i * k + b) % 8);
		}
		break;
	default:
		data_len = n * (out == CXLMS_OUT_F32 ? 4 : out == CXLMS_OUT_BF16 || !is8 ? 2 : 1);
		for (size_t i = 0; i < n; i++) {
			unsigned u = ref_top_bits(tile, l, k, i);
			uint32_t f;

			if (is8) {
				size_t sidx = i / cols * l->gpr + (i % cols) / group;
				const uint8_t *sp = tile + l->scales_off + 2 * sidx;
				int32_t lv = int8_level(tile, l, k, u, recon);

				if (out == CXLMS_OUT_INT) {
					double x = lv / 256.0;
					double r = x >= 0 ? floor(x + 0.5) : -floor(-x + 0.5);

					r = r > 127 ? 127 : r < -128 ? -128 : r;
					dst[i] = (uint8_t)(int8_t)r;
					continue;
				}
				f = ref_dequant(lv, sp[0] | (sp[1] << 8));
			} else {
				uint16_t v = ref_recon16(fmt, u, k, recon);

				if (out == CXLMS_OUT_INT) {
					put16(dst + 2 * i, v);
					continue;
				}
				f = fmt == CXLMS_FMT_BF16 ? bf16_to_f32(v) : ref_fp16_to_f32(v);
			}
			if (out == CXLMS_OUT_F32)
				put32(dst + 4 * i, f);
			else
				put16(dst + 2 * i, ref_f32_to_bf16(f));
		}
		break;
	}
	if (!is8)
		return (long)data_len;

	/* Side data of INT8 stores. */
	end = data_len;
	if (out == CXLMS_OUT_PLANES || out == CXLMS_OUT_PACKED || out == CXLMS_OUT_INT) {
		size_t off = align64(end), len = n / cols * l->gpr * 2;

		memset(dst + end, 0, off - end);
		memcpy(dst + off, tile + l->scales_off, len);
		end = off + len;
	}
	if (out == CXLMS_OUT_PLANES || out == CXLMS_OUT_PACKED) {
		size_t off = align64(end);

		memset(dst + end, 0, off - end);
		for (unsigned u = 0; u < (1u << k); u++)
			put16(dst + off + 2 * u, (uint16_t)int8_level(tile, l, k, u, recon));
		end = off + 2 * (1u << k);
	}
	total = end == data_len ? data_len : align64(end);
	memset(dst + end, 0, total - end);
	return (long)total;
}
