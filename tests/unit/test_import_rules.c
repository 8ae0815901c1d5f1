// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cxlms_import(): defaults (16 bits for 1-D and tiny tensors, int8 -> bf16
 * fallback, conv folds, empty tensors skipped), rules (format, group, fold,
 * skip, order), --no-defaults, several inputs, sharded indexes, and the
 * metadata area (config.json, __metadata__, CRC, version).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib_testutil.h"
#include "store_format.h"

static struct logcap lc;

struct fx {
	struct cxlms_ctx *ctx;
	char *dir, *in, *out;
	struct cxlms_store *st;
	unsigned int notices;
	char last_notice[256];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	fx->dir = tu_mkdtemp();
	if (!fx->ctx || !fx->dir)
		return -1;
	fx->in = tu_path(fx->dir, "model.safetensors");
	fx->out = tu_path(fx->dir, "model.cxlms");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->st)
		cxlms_store_unref(fx->st);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx->in);
	free(fx->out);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

static void on_notice(void *arg, const char *tensor, const char *msg)
{
	struct fx *fx = arg;

	fx->notices++;
	snprintf(fx->last_notice, sizeof(fx->last_notice), "%s: %s", tensor, msg);
}

static float *randn(size_t n, uint64_t seed, float scale)
{
	float *v = malloc(n * sizeof(*v));
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++)
		v[i] = (float)tu_heavy(&seed) * scale;
	return v;
}

/* The model most tests import: one tensor of every kind the defaults treat. */
static void write_model(struct fx *fx)
{
	float *w = randn(256 * 64, 1, 0.02f), *conv = randn(32 * 16 * 3 * 3, 2, 0.1f);
	float *stack = randn(4 * 32 * 64, 3, 0.05f), *norm = randn(64, 4, 1.0f);
	float *tiny = randn(30 * 40, 5, 1.0f), mask[64 * 64];
	struct tu_st_tensor t[] = {
		{ "w", "F32", 2, { 256, 64 }, w, 256 * 64 * 4 },
		{ "conv", "F32", 4, { 32, 16, 3, 3 }, conv, 32 * 16 * 9 * 4 },
		{ "experts", "F32", 3, { 4, 32, 64 }, stack, 4 * 32 * 64 * 4 },
		{ "norm", "F32", 1, { 64 }, norm, 64 * 4 },
		{ "tiny", "F32", 2, { 30, 40 }, tiny, 30 * 40 * 4 },
		{ "mask", "F32", 2, { 64, 64 }, mask, sizeof(mask) },
		{ "empty", "F32", 2, { 0, 8 }, NULL, 0 },
	};
	size_t i;

	for (i = 0; i < 64 * 64; i++)
		mask[i] = -1e9f;
	assert_int_equal(tu_st_write(fx->in, t, sizeof(t) / sizeof(t[0])), 0);
	free(w);
	free(conv);
	free(stack);
	free(norm);
	free(tiny);
}

static int run(struct fx *fx, unsigned int flags, const struct cxlms_import_rule *r,
	       unsigned int n_rules)
{
	struct cxlms_import_config c = {
		.size = sizeof(c), .flags = flags, .rules = r, .n_rules = n_rules,
		.notice = on_notice, .notice_arg = fx,
	};
	const char *in = fx->in;
	int rc = cxlms_import(fx->ctx, &in, 1, fx->out, &c);

	if (!rc)
		assert_int_equal(cxlms_open(fx->ctx, fx->out, 0, &fx->st), 0);
	return rc;
}

static struct cxlms_tensor *get(struct fx *fx, const char *name)
{
	struct cxlms_tensor *t = NULL;

	assert_int_equal(cxlms_tensor_lookup(fx->st, name, &t), 0);
	return t;
}

static void test_defaults(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *t, *none;

	write_model(fx);
	assert_int_equal(run(fx, 0, NULL, 0), 0);
	assert_int_equal(cxlms_tensor_get_format(get(fx, "w")), CXLMS_FMT_INT8);
	/* f32 norms near 1: fp16 holds them (normal range) */
	assert_int_equal(cxlms_tensor_get_format(get(fx, "norm")), CXLMS_FMT_FP16);
	assert_int_equal(cxlms_tensor_get_format(get(fx, "tiny")), CXLMS_FMT_FP16);
	assert_int_equal(cxlms_tensor_get_format(get(fx, "mask")), CXLMS_FMT_BF16);
	t = get(fx, "conv");
	assert_int_equal(cxlms_tensor_get_format(t), CXLMS_FMT_INT8);
	assert_int_equal(cxlms_tensor_get_rows(t), 32);
	assert_int_equal(cxlms_tensor_get_cols(t), 16 * 9);
	assert_int_equal(cxlms_tensor_get_dim(t, 3), 3);	/* true shape kept */
	t = get(fx, "experts");
	assert_int_equal(cxlms_tensor_get_rows(t), 4 * 32);
	assert_int_equal(cxlms_tensor_get_cols(t), 64);
	assert_int_equal(cxlms_tensor_lookup(fx->st, "empty", &none), -ENOENT);
	assert_int_equal(cxlms_store_get_tensor_count(fx->st), 6);
	/* two notices: the int8 fallback and the skipped empty tensor */
	assert_int_equal(fx->notices, 2);
	assert_int_equal(cxlms_store_verify(fx->st), 0);
}

/* The mask comes back exactly: bf16 holds -1e9's nearest bf16 value. */
static void test_fallback_values(void **state)
{
	struct fx *fx = *state;
	struct cxlms_tensor *t;
	float *out = malloc(64 * 64 * 4);
	int64_t n;

	assert_non_null(out);
	write_model(fx);
	assert_int_equal(run(fx, 0, NULL, 0), 0);
	t = get(fx, "mask");
	n = cxlms_fetch(fx->st, t, 0, 16, CXLMS_OUT_F32, CXLMS_RECON_DEFAULT,
			out, 64 * 64 * 4);
	assert_int_equal(n, 64 * 64 * 4);
	/* bf16(-1e9) = -998244352 (round to nearest even of 0xce6e6b28) */
	assert_true(out[0] == -998244352.0f && out[4095] == out[0]);
	free(out);
}

static void test_no_defaults_fails_on_mask(void **state)
{
	struct fx *fx = *state;

	write_model(fx);
	assert_int_equal(run(fx, CXLMS_IMPORT_NO_DEFAULTS, NULL, 0), -ERANGE);
	assert_logged(&lc, "tensor 'mask'");
}

static void test_no_defaults_int8_everywhere(void **state)
{
	struct fx *fx = *state;
	struct cxlms_import_rule skip = { .pattern = "mask", .flags = CXLMS_RULE_SKIP };
	struct cxlms_tensor *t;

	write_model(fx);
	assert_int_equal(run(fx, CXLMS_IMPORT_NO_DEFAULTS, &skip, 1), 0);
	assert_int_equal(cxlms_tensor_get_format(get(fx, "norm")), CXLMS_FMT_INT8);
	assert_int_equal(cxlms_tensor_get_format(get(fx, "tiny")), CXLMS_FMT_INT8);
	t = get(fx, "conv");	/* legacy fold: every dim but the last */
	assert_int_equal(cxlms_tensor_get_rows(t), 32 * 16 * 3);
	assert_int_equal(cxlms_tensor_get_cols(t), 3);
}

static void test_rules(void **state)
{
	struct fx *fx = *state;
	struct cxlms_import_rule r[] = {
		{ .pattern = "*", .format = CXLMS_FMT_BF16 },
		{ .pattern = "w", .format = CXLMS_FMT_INT8, .group_size = 32 },
		{ .pattern = "conv", .fold = 3 },
		{ .pattern = "t*", .flags = CXLMS_RULE_SKIP },
		{ .pattern = "experts", .format = CXLMS_FMT_KEEP, .fold = 1 },
	};
	struct cxlms_tensor *t;

	write_model(fx);
	assert_int_equal(run(fx, 0, r, 5), 0);
	t = get(fx, "w");
	assert_int_equal(cxlms_tensor_get_format(t), CXLMS_FMT_INT8);
	assert_int_equal(cxlms_tensor_get_group_size(t), 32);
	t = get(fx, "conv");
	assert_int_equal(cxlms_tensor_get_format(t), CXLMS_FMT_BF16);
	assert_int_equal(cxlms_tensor_get_rows(t), 32 * 16 * 3);
	assert_int_equal(cxlms_tensor_lookup(fx->st, "tiny", &t), -ENOENT);
	t = get(fx, "experts");
	/* keep of f32 with values below fp16's normals (heavy-tailed, ~0): bf16 */
	assert_int_equal(cxlms_tensor_get_format(t), CXLMS_FMT_BF16);
	assert_int_equal(cxlms_tensor_get_rows(t), 4);
	assert_int_equal(cxlms_tensor_get_cols(t), 32 * 64);
	assert_int_equal(cxlms_store_verify(fx->st), 0);
}

/* A later matching rule without skip brings a skipped tensor back. */
static void test_rule_order(void **state)
{
	struct fx *fx = *state;
	struct cxlms_import_rule r[] = {
		{ .pattern = "*", .flags = CXLMS_RULE_SKIP },
		{ .pattern = "w", .format = CXLMS_FMT_FP16 },
	};

	write_model(fx);
	assert_int_equal(run(fx, 0, r, 2), 0);
	assert_int_equal(cxlms_store_get_tensor_count(fx->st), 1);
	assert_int_equal(cxlms_tensor_get_format(get(fx, "w")), CXLMS_FMT_FP16);
}

static void test_all_skipped(void **state)
{
	struct fx *fx = *state;
	struct cxlms_import_rule r = { .pattern = "*", .flags = CXLMS_RULE_SKIP };

	write_model(fx);
	assert_int_equal(run(fx, 0, &r, 1), -EINVAL);
	assert_logged(&lc, "every tensor was skipped");
}

static void test_bad_config(void **state)
{
	struct fx *fx = *state;
	struct cxlms_import_config c = { .size = 8 };
	const char *in = fx->in;

	write_model(fx);
	assert_int_equal(cxlms_import(fx->ctx, &in, 1, fx->out, &c), -EINVAL);
	c.size = sizeof(c);
	c.flags = 1u << 7;
	assert_int_equal(cxlms_import(fx->ctx, &in, 1, fx->out, &c), -EINVAL);
	c.flags = 0;
	c.format = 77;
	assert_int_equal(cxlms_import(fx->ctx, &in, 1, fx->out, &c), -EINVAL);
}

/* Two shards and an index, as Hugging Face ships them, and config.json. */
static void write_sharded(struct fx *fx, const char *weight_map)
{
	float *a = randn(128 * 64, 9, 0.02f), *b = randn(64 * 128, 10, 0.02f);
	struct tu_st_tensor ta[] = { { "a", "F32", 2, { 128, 64 }, a, 128 * 64 * 4 } };
	struct tu_st_tensor tb[] = { { "b", "F32", 2, { 64, 128 }, b, 64 * 128 * 4 } };
	char *p1 = tu_path(fx->dir, "model-00001-of-00002.safetensors");
	char *p2 = tu_path(fx->dir, "model-00002-of-00002.safetensors");
	char *idx = tu_path(fx->dir, "model.safetensors.index.json");
	char *cfg = tu_path(fx->dir, "config.json");
	static const char config[] = "{\"architectures\": [\"LlamaForCausalLM\"], \"dim\": 64}\n";

	assert_int_equal(tu_st_write(p1, ta, 1), 0);
	assert_int_equal(tu_st_write(p2, tb, 1), 0);
	assert_int_equal(tu_write_file(idx, weight_map, strlen(weight_map)), 0);
	assert_int_equal(tu_write_file(cfg, config, strlen(config)), 0);
	free(fx->in);
	fx->in = idx;
	free(p1);
	free(p2);
	free(cfg);
	free(a);
	free(b);
}

static void test_sharded(void **state)
{
	struct fx *fx = *state;
	const void *v;
	size_t len;

	write_sharded(fx, "{\"metadata\": {\"total_size\": 65536},\n \"weight_map\": {"
		      "\"a\": \"model-00001-of-00002.safetensors\",\n"
		      "\"b\": \"model-00002-of-00002.safetensors\"}}\n");
	assert_int_equal(run(fx, 0, NULL, 0), 0);
	assert_int_equal(cxlms_store_get_tensor_count(fx->st), 2);
	get(fx, "a");
	get(fx, "b");
	assert_int_equal(cxlms_store_get_metadata_key(fx->st, "config.json", &v, &len), 0);
	assert_int_equal(len, strlen("{\"architectures\": [\"LlamaForCausalLM\"], \"dim\": 64}\n"));
	assert_non_null(strstr(v, "LlamaForCausalLM"));
	assert_int_equal(((const char *)v)[len], '\0');
}

static void test_sharded_missing_shard(void **state)
{
	struct fx *fx = *state;

	write_sharded(fx, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
		      "\"c\": \"model-00003-of-00003.safetensors\"}}");
	assert_int_equal(run(fx, 0, NULL, 0), -ENOENT);
	assert_logged(&lc, "model-00003-of-00003.safetensors");
}

static void test_sharded_wrong_shard(void **state)
{
	struct fx *fx = *state;

	write_sharded(fx, "{\"weight_map\": {\"a\": \"model-00002-of-00002.safetensors\","
		      "\"b\": \"model-00002-of-00002.safetensors\"}}");
	assert_int_equal(run(fx, 0, NULL, 0), -EINVAL);
	assert_logged(&lc, "puts tensor 'a' in this shard, which does not hold it");
}

static void test_sharded_bad_index(void **state)
{
	struct fx *fx = *state;

	write_sharded(fx, "{\"weight_map\": {\"a\": ");
	assert_int_equal(run(fx, 0, NULL, 0), -EINVAL);
	assert_logged(&lc, "malformed sharded checkpoint index");
	write_sharded(fx, "{\"metadata\": {}}");
	assert_int_equal(run(fx, 0, NULL, 0), -EINVAL);
	assert_logged(&lc, "without a \"weight_map\"");
	write_sharded(fx, "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
	assert_int_equal(run(fx, 0, NULL, 0), -EINVAL);
	assert_logged(&lc, "not a file beside the index");
}

static void test_two_inputs_duplicate_name(void **state)
{
	struct fx *fx = *state;
	float v[64] = { 1 };
	struct tu_st_tensor t[] = { { "x", "F32", 2, { 8, 8 }, v, sizeof(v) } };
	char *p2 = tu_path(fx->dir, "other.safetensors");
	const char *in[2] = { fx->in, p2 };

	assert_int_equal(tu_st_write(fx->in, t, 1), 0);
	assert_int_equal(tu_st_write(p2, t, 1), 0);
	assert_int_equal(cxlms_import(fx->ctx, in, 2, fx->out, NULL), -EEXIST);
	assert_logged(&lc, "tensor 'x' is in more than one input");
	free(p2);
}

static void test_metadata_kept(void **state)
{
	struct fx *fx = *state;
	float v[64] = { 1 };
	struct tu_st_tensor t[] = { { "x", "F32", 2, { 8, 8 }, v, sizeof(v) } };
	char *hdr;
	const char *key;
	const void *val;
	size_t len, img_len;
	void *img;

	/* tu_st_build writes no __metadata__: build one by hand. */
	hdr = "{\"__metadata__\":{\"format\":\"pt\"},\"x\":{\"dtype\":\"F32\",\"shape\":[8,8],\"data_offsets\":[0,256]}}";
	img = tu_st_raw(hdr, strlen(hdr), v, sizeof(v), &img_len);
	assert_non_null(img);
	assert_int_equal(tu_write_file(fx->in, img, img_len), 0);
	free(img);
	(void)t;
	assert_int_equal(run(fx, 0, NULL, 0), 0);
	assert_int_equal(cxlms_store_get_metadata_count(fx->st), 1);
	assert_int_equal(cxlms_store_get_metadata(fx->st, 0, &key, &val, &len), 0);
	assert_string_equal(key, "safetensors.__metadata__");
	assert_string_equal(val, "{\"format\":\"pt\"}");
	assert_int_equal(cxlms_store_get_metadata_key(fx->st, "config.json", &val, &len),
			 -ENOENT);
	assert_int_equal(cxlms_store_get_metadata(fx->st, 1, &key, &val, &len), -ENOENT);
}

static void test_no_metadata(void **state)
{
	struct fx *fx = *state;
	const struct cxlms_sb *sb;
	float v[64] = { 1 };
	const char *hdr = "{\"x\":{\"dtype\":\"F32\",\"shape\":[8,8],\"data_offsets\":[0,256]}}";
	size_t len;
	void *img;

	/* no __metadata__ (tu_st_write always writes one) and no config.json */
	img = tu_st_raw(hdr, strlen(hdr), v, sizeof(v), &len);
	assert_non_null(img);
	assert_int_equal(tu_write_file(fx->in, img, len), 0);
	free(img);
	assert_int_equal(run(fx, CXLMS_IMPORT_NO_CONFIG, NULL, 0), 0);
	assert_int_equal(cxlms_store_get_metadata_count(fx->st), 0);
	img = tu_read_file(fx->out, &len);
	assert_non_null(img);
	sb = img;
	assert_int_equal(sb->meta_bytes, 0);
	assert_false(sb->feature_incompat & CXLMS_FEAT_INCOMPAT_META);
	free(img);
}

/* Helpers that damage the metadata area of a written store. */
static void *store_with_config(struct fx *fx, size_t *len)
{
	char *cfg = tu_path(fx->dir, "config.json");
	void *img;

	write_model(fx);
	assert_int_equal(tu_write_file(cfg, "{\"a\":1}", 7), 0);
	free(cfg);
	assert_int_equal(run(fx, 0, NULL, 0), 0);
	cxlms_store_unref(fx->st);
	fx->st = NULL;
	img = tu_read_file(fx->out, len);
	assert_non_null(img);
	assert_true(((struct cxlms_sb *)img)->meta_bytes > 64);
	return img;
}

static void test_metadata_crc(void **state)
{
	struct fx *fx = *state;
	size_t len;
	uint8_t *img = store_with_config(fx, &len);
	const struct cxlms_sb *sb = (const void *)img;

	img[sb->meta_off + sb->meta_bytes - 8] ^= 1;	/* in the last record */
	assert_int_equal(tu_write_file(fx->out, img, len), 0);
	assert_int_equal(cxlms_open(fx->ctx, fx->out, 0, &fx->st), -EBADMSG);
	assert_logged(&lc, "metadata area: checksum mismatch");
	free(img);
}

static void test_metadata_newer_version_ignored(void **state)
{
	struct fx *fx = *state;
	size_t len;
	uint8_t *img = store_with_config(fx, &len);
	const struct cxlms_sb *sb = (const void *)img;
	uint32_t ver = 2, crc = 0;
	const void *v;
	size_t vl;

	memcpy(img + sb->meta_off + 8, &ver, 4);
	memcpy(img + sb->meta_off + 60, &crc, 4);
	crc = cxlms_crc32c(0, img + sb->meta_off, 64);
	memcpy(img + sb->meta_off + 60, &crc, 4);
	assert_int_equal(tu_write_file(fx->out, img, len), 0);
	assert_int_equal(cxlms_open(fx->ctx, fx->out, 0, &fx->st), 0);
	assert_int_equal(cxlms_store_get_metadata_key(fx->st, "config.json", &v, &vl),
			 -EPROTONOSUPPORT);
	get(fx, "w");	/* the tensors are readable */
	free(img);
}

/* Readers that do not know the metadata feature bit refuse the store. */
static void test_metadata_bit_required(void **state)
{
	struct fx *fx = *state;
	size_t len;
	uint8_t *img = store_with_config(fx, &len);
	struct cxlms_sb *sb = (void *)img;

	sb->feature_incompat &= ~CXLMS_FEAT_INCOMPAT_META;
	cxlms_sb_seal(sb);
	assert_int_equal(tu_write_file(fx->out, img, len), 0);
	assert_int_equal(cxlms_open(fx->ctx, fx->out, 0, &fx->st), -EUCLEAN);
	assert_logged(&lc, "metadata area offset, size and feature bit disagree");
	sb->feature_incompat |= 1ull << 40;	/* what an old reader sees */
	cxlms_sb_seal(sb);
	assert_int_equal(tu_write_file(fx->out, img, len), 0);
	assert_int_equal(cxlms_open(fx->ctx, fx->out, 0, &fx->st), -EPROTONOSUPPORT);
	free(img);
}

static void test_config_path(void **state)
{
	struct fx *fx = *state;
	char *cfg = tu_path(fx->dir, "my-config.json");
	struct cxlms_import_config c = { .size = sizeof(c), .config_path = cfg };
	const char *in = fx->in;
	const void *v;
	size_t len;

	write_model(fx);
	assert_int_equal(cxlms_import(fx->ctx, &in, 1, fx->out, &c), -ENOENT);
	assert_logged(&lc, "my-config.json");
	assert_int_equal(tu_write_file(cfg, "{\"x\":2}", 7), 0);
	assert_int_equal(cxlms_import(fx->ctx, &in, 1, fx->out, &c), 0);
	assert_int_equal(cxlms_open(fx->ctx, fx->out, 0, &fx->st), 0);
	assert_int_equal(cxlms_store_get_metadata_key(fx->st, "config.json", &v, &len), 0);
	assert_memory_equal(v, "{\"x\":2}", 7);
	free(cfg);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_fallback_values),
		T(test_no_defaults_fails_on_mask),
		T(test_no_defaults_int8_everywhere),
		T(test_rules),
		T(test_rule_order),
		T(test_all_skipped),
		T(test_bad_config),
		T(test_sharded),
		T(test_sharded_missing_shard),
		T(test_sharded_wrong_shard),
		T(test_sharded_bad_index),
		T(test_two_inputs_duplicate_name),
		T(test_metadata_kept),
		T(test_no_metadata),
		T(test_metadata_crc),
		T(test_metadata_newer_version_ignored),
		T(test_metadata_bit_required),
		T(test_config_path),
	};

	return cmocka_run_group_tests_name("import_rules", tests, NULL, NULL);
}
