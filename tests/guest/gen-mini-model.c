// SPDX-License-Identifier: GPL-2.0
/*
 * gen-mini-model - a tiny transformer-shaped safetensors file for the guest
 * tests of the kernel backend (tests/guest/lib-kernel.sh): the shapes the
 * store must handle (2-D, folded 3-D, 1-D, ragged last tiles) in F32, F16
 * and BF16, heavy-tailed like trained weights, a few KiB each so the
 * guest can fetch every tensor at every precision quickly.
 *
 *	gen-mini-model [--prefix P] [--seed N] OUT.safetensors
 *
 * --prefix names every tensor "P.<name>", so stores of several variants
 * can live side by side in one device store.  Deterministic per seed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum dtype { DT_F32, DT_F16, DT_BF16 };
static const char *const dtype_names[] = { "F32", "F16", "BF16" };
static const unsigned int dtype_size[] = { 4, 2, 2 };

struct mini_tensor {
	const char *name;
	enum dtype dtype;
	unsigned int ndim;
	uint64_t shape[3];
	float gain;
};

static const struct mini_tensor tensors[] = {
	{ "embed.weight", DT_F32, 2, { 96, 64 }, 0.05f },
	{ "blk0.attn.q.weight", DT_F16, 2, { 64, 64 }, 0.02f },
	{ "blk0.ffn.up.weight", DT_F32, 3, { 3, 40, 50 }, 0.03f },
	{ "blk0.norm.weight", DT_BF16, 1, { 64 }, 1.0f },
	{ "lm_head.weight", DT_BF16, 2, { 200, 48 }, 0.04f },
};
#define N_TENSORS	(sizeof(tensors) / sizeof(tensors[0]))

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: enough for test weights, identical everywhere. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Uniform in (-1, 1) cubed: most weights small, a few large (heavy tail). */
static float heavy(void)
{
	float u = (float)((double)(rng() >> 11) / 9007199254740992.0) * 2.0f - 1.0f;

	return u * u * u * 4.0f + u * 0.25f;
}

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static uint16_t to_bf16(float f)
{
	uint32_t u = f32_bits(f);

	return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* Finite, normal-range values only: round to nearest, no overflow here. */
static uint16_t to_f16(float f)
{
	uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000, mant;
	int exp = (int)((u >> 23) & 0xff) - 127 + 15;

	if (exp <= 0)
		return (uint16_t)sign;		/* tiny: flush to zero */
	mant = u & 0x7fffff;
	mant += 0xfff + ((mant >> 13) & 1);
	if (mant & 0x800000) {
		mant = 0;
		exp++;
	}
	return (uint16_t)(sign | (uint32_t)exp << 10 | mant >> 13);
}

static uint64_t elems_of(const struct mini_tensor *t)
{
	uint64_t n = 1;

	for (unsigned int i = 0; i < t->ndim; i++)
		n *= t->shape[i];
	return n;
}

int main(int argc, char **argv)
{
	const char *prefix = NULL, *out = NULL;
	uint64_t seed = 1, off = 0;
	char header[4096];
	size_t hlen = 0;
	uint64_t hlen_le;
	FILE *f;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
			prefix = argv[++i];
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (argv[i][0] != '-' && !out)
			out = argv[i];
		else
			goto usage;
	}
	if (!out)
		goto usage;
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;

	hlen += (size_t)snprintf(header + hlen, sizeof(header) - hlen, "{");
	for (size_t t = 0; t < N_TENSORS; t++) {
		uint64_t len = elems_of(&tensors[t]) * dtype_size[tensors[t].dtype];

		hlen += (size_t)snprintf(header + hlen, sizeof(header) - hlen,
				 "%s\"%s%s%s\":{\"dtype\":\"%s\",\"shape\":[", t ? "," : "",
				 prefix ? prefix : "", prefix ? "." : "", tensors[t].name,
				 dtype_names[tensors[t].dtype]);
		for (unsigned int d = 0; d < tensors[t].ndim; d++)
			hlen += (size_t)snprintf(header + hlen, sizeof(header) - hlen,
					 "%s%" PRIu64, d ? "," : "", tensors[t].shape[d]);
		hlen += (size_t)snprintf(header + hlen, sizeof(header) - hlen,
				 "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off,
				 off + len);
		off += len;
	}
	hlen += (size_t)snprintf(header + hlen, sizeof(header) - hlen, "}");
	if (hlen >= sizeof(header) - 8)
		return fprintf(stderr, "gen-mini-model: header too long\n"), 1;
	while (hlen % 8)		/* the format pads the header with spaces */
		header[hlen++] = ' ';

	f = fopen(out, "wb");
	if (!f)
		return fprintf(stderr, "gen-mini-model: %s: %s\n", out, strerror(errno)), 1;
	hlen_le = hlen;			/* x86/arm64 hosts: little-endian */
	fwrite(&hlen_le, 8, 1, f);
	fwrite(header, 1, hlen, f);
	for (size_t t = 0; t < N_TENSORS; t++) {
		const struct mini_tensor *mt = &tensors[t];
		uint64_t n = elems_of(mt), cols = mt->shape[mt->ndim - 1];

		for (uint64_t e = 0; e < n; e++) {
			/* Per-column gains give the INT8 groups different scales. */
			float v = mt->gain * (1.0f + (float)(e % cols % 7) * 0.3f) * heavy();
			uint32_t u32;
			uint16_t u16;

			if (mt->ndim == 1)
				v += 1.0f;	/* a norm gain, centred on one */
			switch (mt->dtype) {
			case DT_F32:
				u32 = f32_bits(v);
				fwrite(&u32, 4, 1, f);
				break;
			case DT_F16:
				u16 = to_f16(v);
				fwrite(&u16, 2, 1, f);
				break;
			case DT_BF16:
				u16 = to_bf16(v);
				fwrite(&u16, 2, 1, f);
				break;
			}
		}
	}
	if (fclose(f))
		return fprintf(stderr, "gen-mini-model: %s: write failed\n", out), 1;
	return 0;
usage:
	fprintf(stderr, "usage: gen-mini-model [--prefix P] [--seed N] OUT.safetensors\n");
	return 2;
}
