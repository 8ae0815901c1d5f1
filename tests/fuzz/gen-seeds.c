// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * gen-seeds DIR - write the seed corpus of the fuzz harnesses into
 * DIR/NAME/ (tests/fuzz/corpus; `make fuzz-seeds`).  Everything comes from
 * our own code: store images from the unit tests' store builder
 * (tests/unit/store_builder.c) with a policy area formatted and published
 * by codec/policy_format.c and a metadata area from lib/metadata.c;
 * safetensors files, configs and control sessions written out here.
 * Deterministic: the same seeds on every run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_builder.h"
#include "policy_format.h"
#include "metadata.h"

#define ALIGN_UP(x, a) (((x) + (a) - 1) / (a) * (a))

static const char *outdir;

static void put(const char *name, const char *file, const void *p, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, name, file);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void put_str(const char *name, const char *file, const char *s)
{
	put(name, file, s, strlen(s));
}

/* --- safetensors ------------------------------------------------------ */

static void put_st(const char *file, const char *json, size_t data_len)
{
	size_t hlen = strlen(json), i;
	uint8_t *b = malloc(8 + hlen + data_len);
	uint64_t h = hlen;

	memcpy(b, &h, 8);	/* little-endian host */
	memcpy(b + 8, json, hlen);
	for (i = 0; i < data_len; i++)
		b[8 + hlen + i] = (uint8_t)(i * 37 + 11);
	put("safetensors", file, b, 8 + hlen + data_len);
	free(b);
}

static void safetensors_seeds(void)
{
	put_st("f32-2x2", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16);
	put_st("mixed",
	       "{\"__metadata__\":{\"format\":\"pt\",\"k\\u00e9y\":\"v\\n\\\"q\\\"\"},"
	       " \"layers.0.w\" : {\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},\n"
	       "\"layers.0.b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[12,18]},"
	       "\"s\":{\"dtype\":\"I8\",\"shape\":[],\"data_offsets\":[18,19]},"
	       "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[19,19]}}   ", 19);
	put_st("i8-3d-escaped",
	       "{\"t\\u0041\\/x\":{\"shape\":[1,2,2,2],\"data_offsets\":[0,8],\"dtype\":\"I8\"}}", 8);
	put_st("empty", "{}", 0);
	put_st("meta-only", "{\"__metadata__\":{}}", 0);
	put_st("bad-overlap",
	       "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
	       "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[2,6]}}", 6);
	put_st("bad-dtype", "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
}

/* --- stores and policy areas ------------------------------------------- */

static const struct sbuild_tensor tensors[] = {
	{ "layers.0.w", CXLMS_FMT_INT8, CXLMS_DTYPE_F32, 2, { 8, 64 }, 32, 4 },
	{ "layers.0.b", CXLMS_FMT_BF16, CXLMS_DTYPE_BF16, 1, { 40 }, 0, 0 },
	{ "emb", CXLMS_FMT_FP16, CXLMS_DTYPE_F16, 3, { 2, 3, 16 }, 0, 2 },
	{ "layers.1.w", CXLMS_FMT_INT8, CXLMS_DTYPE_I8, 2, { 5, 33 }, 16, 0 },
};
#define N_TENSORS (sizeof(tensors) / sizeof(tensors[0]))

static void put_store(const char *file, const struct sbuild_image *img)
{
	uint8_t *b = malloc(img->len + 1);

	b[0] = 0;	/* flags: no reseal, the image is consistent as it is */
	memcpy(b + 1, img->mem, img->len);
	put("store", file, b, img->len + 1);
	free(b);
}

/*
 * @img with a policy area of CXLMS_POLICY_MIN_BYTES (maps published for
 * two contexts) and a metadata area inserted before the data area.
 */
static void with_areas(struct sbuild_image *img, uint8_t **area_out)
{
	static const char cfg[] = "{\"dim\":64,\"n_layers\":2}";
	struct cxlms_meta_kv kv[2] = {
		{ "config.json", cfg, sizeof(cfg) - 1 },
		{ "safetensors.__metadata__", "{\"format\":\"pt\"}", 15 },
	};
	struct cxlms_sb *sb = img->sb;
	uint64_t pol_off = sb->data_off, meta_off, data_off, delta, gen;
	struct cxlms_policy_ctx ctx[2];
	struct cxlms_policy_image pi;
	uint32_t tiles[N_TENSORS], n_tiles = 0, i;
	uint8_t *mem, *maps;
	void *meta;
	size_t meta_len;

	if (cxlms_meta_build(kv, 2, &meta, &meta_len))
		exit(1);
	meta_off = pol_off + CXLMS_POLICY_MIN_BYTES;
	data_off = ALIGN_UP(meta_off + meta_len, CXLMS_DATA_ALIGN);
	delta = data_off - sb->data_off;
	mem = calloc(1, img->len + delta);
	memcpy(mem, img->mem, sb->data_off);
	memcpy(mem + data_off, img->mem + sb->data_off, img->len - sb->data_off);
	memcpy(mem + meta_off, meta, meta_len);
	free(meta);
	free(img->mem);
	img->mem = mem;
	img->len += delta;
	img->sb = sb = (struct cxlms_sb *)mem;
	img->dir = (struct cxlms_dirent *)(mem + sb->dir_off);
	sb->store_bytes = img->len;
	sb->data_off = data_off;
	sb->policy_off = pol_off;
	sb->policy_bytes = CXLMS_POLICY_MIN_BYTES;
	sb->feature_compat |= CXLMS_FEAT_COMPAT_POLICY;
	sb->meta_off = meta_off;
	sb->meta_bytes = meta_len;
	sb->feature_incompat |= CXLMS_FEAT_INCOMPAT_META;
	for (i = 0; i < sb->dir_count; i++) {
		img->dir[i].tile_off += delta;
		tiles[i] = img->dir[i].n_tiles;
		n_tiles += tiles[i];
	}
	sbuild_reseal(img);

	if (cxlms_policy_format(mem + pol_off, CXLMS_POLICY_MIN_BYTES, sb->uuid))
		exit(1);
	memset(ctx, 0, sizeof(ctx));
	strcpy(ctx[0].name, "quality");
	strcpy(ctx[1].name, "short");
	ctx[1].mode = CXLMS_POLICY_MODE_BUDGET;
	maps = malloc(2 * n_tiles);
	for (i = 0; i < 2 * n_tiles; i++)
		maps[i] = (uint8_t)(i < n_tiles ? 8 : 1 + i % 8);
	pi = (struct cxlms_policy_image) {
		.n_contexts = 2, .default_context = 0, .ctx = ctx,
		.n_tensors = sb->dir_count, .tiles = tiles, .n_tiles = n_tiles,
		.maps = maps,
	};
	if (cxlms_policy_publish(mem + pol_off, &pi, &gen) ||
	    cxlms_policy_publish(mem + pol_off, &pi, &gen))	/* both slots */
		exit(1);
	free(maps);

	/* The policy harness's input: flags, tensor count, tiles, area. */
	{
		size_t n = 2 + 2 * sb->dir_count + CXLMS_POLICY_MIN_BYTES;
		uint8_t *p = malloc(n);

		p[0] = 0;
		p[1] = (uint8_t)sb->dir_count;
		for (i = 0; i < sb->dir_count; i++) {
			p[2 + 2 * i] = (uint8_t)tiles[i];
			p[3 + 2 * i] = (uint8_t)(tiles[i] >> 8);
		}
		memcpy(p + 2 + 2 * sb->dir_count, mem + pol_off, CXLMS_POLICY_MIN_BYTES);
		*area_out = p;
		put("policy", "published-2ctx", p, n);
	}
}

static void store_seeds(void)
{
	struct sbuild_image img;
	uint8_t *area, *p;
	uint32_t one = 3;

	if (sbuild(tensors, N_TENSORS, &img))
		exit(1);
	put_store("four-tensors", &img);
	with_areas(&img, &area);
	put_store("policy-meta", &img);
	sbuild_free(&img);
	free(area);

	if (sbuild(tensors + 1, 1, &img))
		exit(1);
	put_store("one-bf16", &img);
	sbuild_free(&img);
	if (sbuild(NULL, 0, &img))
		exit(1);
	put_store("empty", &img);
	sbuild_free(&img);

	/* Policy: a freshly formatted area (no maps yet), one tensor of 3 tiles. */
	p = calloc(1, 4 + CXLMS_POLICY_MIN_BYTES * 2);
	p[0] = 0;
	p[1] = 1;
	memcpy(p + 2, &one, 2);
	{
		static const uint8_t uuid[16] = {
			0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
			0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
		};
		uint8_t *a = aligned_alloc(64, CXLMS_POLICY_MIN_BYTES * 2);

		if (cxlms_policy_format(a, CXLMS_POLICY_MIN_BYTES * 2, uuid))
			exit(1);
		memcpy(p + 4, a, CXLMS_POLICY_MIN_BYTES * 2);
		free(a);
	}
	put("policy", "formatted-8k", p, 4 + CXLMS_POLICY_MIN_BYTES * 2);
	free(p);
}

/* --- cxlmsd config and control --------------------------------------- */

static void daemon_seeds(void)
{
	put_str("config", "minimal",
		"[store]\npath = /var/lib/cxlms/m.cxlms\n[context quality]\ndefault_bits = full\n");
	put_str("config", "all-modes",
		"; every mode\n[store]\npath = /s.cxlms\ndefault_context = short\n"
		"[daemon]\nsocket = /run/x.sock\nsocket_mode = 0600\nsocket_group = cxlms\n"
		"interval_ms = 250\n"
		"[context short]\nmode = fixed\ndefault_bits = 4\n"
		"rule = model.embed_tokens.weight bits=8\n"
		"rule = model.layers.0-1.* bits=6\nrule = *.self_attn.[qk]_proj.* bits=3\n"
		"rule = *norm* bits=full\n"
		"[context balanced]\nmode = budget\nbudget_bits = 4.5\nobjective = relative\n"
		"min_bits = 2\nmax_bits = 8\nrule = lm_head.weight importance=8 min=6\n"
		"rule = *.mlp.down_proj.weight tiles=0-7 importance=16\n"
		"[context busy]\nmode = pressure\ndefault_bits = 6\nmin_bits = 3\n"
		"pressure_high = 2G\npressure_low = 500M\npressure_step = 0.5\n"
		"rule = model.layers.[!0]* min=2 max=6\n");
	put_str("config", "with-dropins",
		"[store]\npath = /s.cxlms\n[context a]\ndefault_bits = 8\n"
		"\n--8<--\n[context a]\nrule = lm_head.weight bits=16\n"
		"\n--8<--\n[store]\ndefault_context = b\n[context b]\nmode = budget\n"
		"budget_bits = 3.25\n"
		"\n--8<--\n[daemon]\ninterval_ms = 10\n");
	put_str("config", "errors",
		"key = outside\n[store]\npath = relative\n[context bad name]\n"
		"[context x]\nmode = warp\nrule = [a-\nrule = a tiles=9-1 bits=0\n[nosuch]\n");

	put_str("control", "session",
		"help\nshow\nset-context balanced\nset-context nosuch\n"
		"report output.weight 0 2.5\nreport tok_embeddings.weight * 1e3\n"
		"report layers.0.attention.wq.weight 7 1\nload 1048576\nsync\n");
	put_str("control", "errors",
		"\nreport a\nload 99999999999999999999\nload -1\nreport x 1 nan\r\n"
		"set-context bad!name\nfrobnicate\nshow extra\nsync now\n"
		"report output.weight 4294967296 1\nload 18446744073709551615\nload 1\n");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen-seeds DIR\n");
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	safetensors_seeds();
	store_seeds();
	daemon_seeds();
	return 0;
}
