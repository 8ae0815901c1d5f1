// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Import-time conversion of source elements to stored formats.
 *
 * Sources come from a mapped safetensors file at arbitrary byte offsets,
 * so every load goes through memcpy.  The rounding here is spelled out in
 * integer bit manipulation rather than left to the FPU's current mode:
 * the result must not depend on what the caller did to fesetround().
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "bitplane.h"
#include "quant.h"

unsigned int cxlms_dtype_size(unsigned int dtype)
{
	switch (dtype) {
	case CXLMS_DTYPE_F32:
		return 4;
	case CXLMS_DTYPE_F16:
	case CXLMS_DTYPE_BF16:
		return 2;
	case CXLMS_DTYPE_I8:
		return 1;
	}
	return 0;
}

static uint32_t load_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t load_le16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

/* Element @i of @src as binary32 bits (f16, bf16 and i8 are exact in f32). */
static uint32_t load_f32_bits(const uint8_t *src, unsigned int dtype,
			      uint64_t i)
{
	float f;
	uint32_t bits;

	switch (dtype) {
	case CXLMS_DTYPE_F32:
		return load_le32(src + 4 * i);
	case CXLMS_DTYPE_F16:
		return cxlms_fp16_to_f32_bits(load_le16(src + 2 * i));
	case CXLMS_DTYPE_BF16:
		return (uint32_t)load_le16(src + 2 * i) << 16;
	default:
		f = (float)(int8_t)src[i];
		memcpy(&bits, &f, 4);
		return bits;
	}
}

static float bits_to_f32(uint32_t bits)
{
	float f;

	memcpy(&f, &bits, 4);
	return f;
}

/*
 * Round a significand to fp16.  The value is sig * 2^exp2 with sig > 0 and
 * exact; returns the fp16 magnitude bits, 0x7c00 on overflow.
 */
static uint16_t round_to_fp16(uint64_t sig, int exp2)
{
	int len = 64 - __builtin_clzll(sig);
	/* Unbiased exponent of the leading bit, and where fp16's ulp sits. */
	int e = len - 1 + exp2;
	int ulp_exp = e < -14 ? -24 : e - 10;
	int shift = ulp_exp - exp2;
	uint64_t q, rem, half;

	if (e > 15)
		return 0x7c00;
	if (shift <= 0) {
		q = sig << -shift;	/* exact, no rounding */
	} else if (shift > 63) {
		return 0;		/* far below half the smallest subnormal */
	} else {
		q = sig >> shift;
		rem = sig & ((1ull << shift) - 1);
		half = 1ull << (shift - 1);
		if (rem > half || (rem == half && (q & 1)))
			q++;
	}
	/*
	 * q counts ulps of 2^ulp_exp.  For subnormals that is the encoding;
	 * for normals q is 1.m * 2^10 and may have carried to 2^11.
	 */
	if (ulp_exp == -24)
		return (uint16_t)q;	/* q == 0x400 is the smallest normal */
	if (q >> 11) {
		q >>= 1;
		e++;
	}
	if (e > 15)
		return 0x7c00;
	return (uint16_t)(((e + 15) << 10) | (q & 0x3ff));
}

uint16_t cxlms_f32_bits_to_fp16(uint32_t f)
{
	uint16_t sign = (uint16_t)((f >> 16) & 0x8000);
	uint32_t exp = (f >> 23) & 0xff, man = f & 0x7fffff;

	if (exp == 0xff) {
		if (!man)
			return sign | 0x7c00;
		/* NaN: keep the top payload bits, quiet, never turn into Inf. */
		return sign | 0x7e00 | (uint16_t)(man >> 13);
	}
	if (exp == 0) {
		if (!man)
			return sign;
		return sign | round_to_fp16(man, -149);
	}
	return sign | round_to_fp16(man | 0x800000, (int)exp - 150);
}

uint16_t cxlms_f64_to_fp16(double v)
{
	uint64_t bits, man;
	uint16_t sign;
	int exp;

	memcpy(&bits, &v, 8);
	sign = (uint16_t)((bits >> 48) & 0x8000);
	exp = (int)((bits >> 52) & 0x7ff);
	man = bits & ((1ull << 52) - 1);
	if (exp == 0x7ff)
		return man ? (sign | 0x7e00 | (uint16_t)(man >> 42)) : (sign | 0x7c00);
	if (exp == 0)
		return man ? sign | round_to_fp16(man, -1074) : sign;
	return sign | round_to_fp16(man | (1ull << 52), exp - 1075);
}

/* Round half to even for |v| well below 2^52 (v - trunc(v) is exact there). */
static int32_t rne_small(double v)
{
	int64_t t = (int64_t)v;
	double frac = v - (double)t;

	if (frac > 0.5 || (frac == 0.5 && (t & 1)))
		t++;
	else if (frac < -0.5 || (frac == -0.5 && (t & 1)))
		t--;
	return (int32_t)t;
}

static int quant_group_float(const uint8_t *src, unsigned int dtype,
			     uint64_t base, uint32_t n, int8_t *codes,
			     uint16_t *scale, uint64_t *bad)
{
	float amax = 0.0f, x;
	double s16;
	uint32_t j;
	uint16_t s;

	for (j = 0; j < n; j++) {
		x = bits_to_f32(load_f32_bits(src, dtype, base + j));
		if (!isfinite(x)) {
			*bad = base + j;
			return -EINVAL;
		}
		x = fabsf(x);
		if (x > amax)
			amax = x;
	}
	if (amax == 0.0f) {
		*scale = 0;
		memset(codes, 0, n);
		return 0;
	}
	/* amax is a float, so amax / 127 in double is exact enough: see below. */
	if ((double)amax / 127.0 > 65504.0) {
		*bad = base;
		return -ERANGE;
	}
	/*
	 * amax has 24 significant bits and 127 * (an fp16 midpoint) at most
	 * 19, so the quotient is either an fp16 tie exactly or at least 2^-24
	 * relative away from one: the double result rounds like the exact one.
	 */
	s = cxlms_f64_to_fp16((double)amax / 127.0);
	if (s == 0)
		s = 0x0001;	/* smallest subnormal: never lose a non-zero group */
	*scale = s;
	s16 = (double)bits_to_f32(cxlms_fp16_to_f32_bits(s));
	for (j = 0; j < n; j++) {
		int32_t q;

		x = bits_to_f32(load_f32_bits(src, dtype, base + j));
		q = rne_small((double)x / s16);
		if (q > 127)
			q = 127;
		if (q < -127)
			q = -127;
		codes[j] = (int8_t)q;
	}
	return 0;
}

int cxlms_quant_int8(const void *src, unsigned int dtype, uint64_t rows,
		     uint64_t cols, unsigned int group, int8_t *codes,
		     uint16_t *scales, uint64_t *bad)
{
	const uint8_t *s = src;
	uint64_t r, c;
	int rc;

	if (!group || !cxlms_dtype_size(dtype))
		return -EINVAL;
	for (r = 0; r < rows; r++) {
		for (c = 0; c < cols; c += group) {
			uint64_t base = r * cols + c;
			uint32_t n = cols - c < group ? (uint32_t)(cols - c) : group;
			uint32_t j;

			if (dtype != CXLMS_DTYPE_I8) {
				rc = quant_group_float(s, dtype, base, n,
						       codes + base, scales, bad);
				if (rc)
					return rc;
				scales++;
				continue;
			}
			/* int8 codes are stored as they are, scale 1.0 (0 if all zero). */
			*scales = 0;
			for (j = 0; j < n; j++) {
				codes[base + j] = (int8_t)s[base + j];
				if (s[base + j])
					*scales = 0x3c00;
			}
			scales++;
		}
	}
	return 0;
}

int cxlms_convert_16(const void *src, unsigned int dtype, unsigned int fmt,
		     uint64_t n, uint16_t *dst, uint64_t *bad)
{
	const uint8_t *s = src;
	uint64_t i;

	if (fmt != CXLMS_FMT_BF16 && fmt != CXLMS_FMT_FP16)
		return -EINVAL;
	if (!cxlms_dtype_size(dtype))
		return -EINVAL;
	/* Same format in and out: the bit patterns as they are. */
	if ((fmt == CXLMS_FMT_BF16 && dtype == CXLMS_DTYPE_BF16) ||
	    (fmt == CXLMS_FMT_FP16 && dtype == CXLMS_DTYPE_F16)) {
		for (i = 0; i < n; i++)
			dst[i] = load_le16(s + 2 * i);
		return 0;
	}
	for (i = 0; i < n; i++) {
		uint32_t f = load_f32_bits(s, dtype, i);
		uint16_t h;

		if (fmt == CXLMS_FMT_BF16) {
			h = cxlms_f32_bits_to_bf16(f);
			/* A finite value rounding up past the largest bf16. */
			if ((h & 0x7fff) == 0x7f80 && (f & 0x7f800000) != 0x7f800000) {
				*bad = i;
				return -ERANGE;
			}
		} else {
			h = cxlms_f32_bits_to_fp16(f);
			if ((h & 0x7fff) == 0x7c00 && (f & 0x7f800000) != 0x7f800000) {
				*bad = i;
				return -ERANGE;
			}
		}
		dst[i] = h;
	}
	return 0;
}
