// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * safetensors parser: one test per error class (each checks the error code
 * and that the log names the culprit), plus well-formed files of every
 * supported dtype and of rank 0..4.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib_testutil.h"
#include "safetensors.h"

static struct logcap lc;

struct fx {
	struct cxlms_ctx *ctx;
	struct cxlms_st_file f;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->ctx = tu_ctx(&lc);
	if (!fx->ctx)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cxlms_st_release(&fx->f);
	cxlms_unref(fx->ctx);
	free(fx);
	return 0;
}

/* Parse a header text with @dlen bytes of data after it. */
static int parse_hdr(struct fx *fx, const char *hdr, size_t dlen)
{
	static uint8_t zeros[4096];
	size_t len;
	void *img;
	int rc;

	assert_true(dlen <= sizeof(zeros));
	img = tu_st_raw(hdr, strlen(hdr), zeros, dlen, &len);
	assert_non_null(img);
	cxlms_st_release(&fx->f);
	tu_log_clear(&lc);
	rc = cxlms_st_parse(fx->ctx, "t.safetensors", img, len, &fx->f);
	free(img);
	return rc;
}

static void expect_err(struct fx *fx, const char *hdr, size_t dlen, int err,
		       const char *msg1, const char *msg2)
{
	int rc = parse_hdr(fx, hdr, dlen);

	if (rc != err) {
		print_error("header %s: got %d, want %d; log:\n%s\n", hdr, rc, err, lc.buf);
		fail();
	}
	assert_int_equal(fx->f.n_tensors, 0);
	assert_true(lc.count >= 1);
	if (msg1)
		assert_logged(&lc, msg1);
	if (msg2)
		assert_logged(&lc, msg2);
}

#define T1(body) "{\"w\":{" body "}}"

/* --- framing ---------------------------------------------------------------- */

static void test_file_shorter_than_length_field(void **state)
{
	struct fx *fx = *state;
	uint8_t img[5] = { 1, 0, 0, 0, 0 };

	tu_log_clear(&lc);
	assert_int_equal(cxlms_st_parse(fx->ctx, "t", img, sizeof(img), &fx->f), -EINVAL);
	assert_logged(&lc, "too short");
}

static void test_header_length_past_eof(void **state)
{
	struct fx *fx = *state;
	const char *hdr = T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]");
	size_t len;
	/* claims 100 bytes more header than the file holds */
	void *img = tu_st_raw(hdr, strlen(hdr) + 100, "abcd", 4, &len);

	tu_log_clear(&lc);
	assert_int_equal(cxlms_st_parse(fx->ctx, "t", img, len, &fx->f), -EINVAL);
	assert_logged(&lc, "runs past the end of the file");
	free(img);
}

static void test_header_length_absurd(void **state)
{
	struct fx *fx = *state;
	size_t len;
	void *img = tu_st_raw("{}", CXLMS_ST_HEADER_MAX + 1, NULL, 0, &len);

	tu_log_clear(&lc);
	assert_int_equal(cxlms_st_parse(fx->ctx, "t", img, len, &fx->f), -EINVAL);
	assert_logged(&lc, "absurd");
	free(img);
}

/* --- JSON syntax (the log gives the header byte offset) -------------------- */

static void test_json_truncated(void **state)
{
	expect_err(*state, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1", 0, -EINVAL,
		   "header byte", "unexpected end of header");
}

static void test_json_truncated_string(void **state)
{
	expect_err(*state, "{\"w\":{\"dty", 0, -EINVAL, "header byte 6",
		   "unterminated string");
}

static void test_json_bad_escape(void **state)
{
	expect_err(*state, "{\"w\\q\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
		   4, -EINVAL, "header byte 4", "invalid escape");
}

static void test_json_bad_unicode_escape(void **state)
{
	expect_err(*state, "{\"w\\u12G4\":{}}", 0, -EINVAL, "header byte",
		   "4 hex digits");
}

static void test_json_lone_surrogate(void **state)
{
	expect_err(*state, "{\"w\\ud800x\":{}}", 0, -EINVAL, "header byte",
		   "surrogate");
}

static void test_json_invalid_utf8(void **state)
{
	static const char *const bad[] = {
		"{\"w\xc0\xaf\":{}}",		/* overlong '/', invalid lead byte */
		"{\"w\xe0\x80\xaf\":{}}",	/* overlong 3-byte '/' */
		"{\"w\xed\xa0\x80\":{}}",	/* UTF-8 encoded surrogate U+D800 */
		"{\"w\xf4\x90\x80\x80\":{}}",	/* beyond U+10FFFF */
		"{\"w\xc3\":{}}",		/* missing continuation */
		"{\"w\xbf\":{}}",		/* stray continuation */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_err(*state, bad[i], 0, -EINVAL, "header byte 3", "invalid UTF-8");
	/* the largest code point of each length is fine */
	assert_int_equal(parse_hdr(*state, "{\"__metadata__\":{\"\x7f\xdf\xbf\xef\xbf\xbf"
				   "\xf4\x8f\xbf\xbf\":\"\"}}", 0), 0);
}

static void test_json_control_char(void **state)
{
	expect_err(*state, "{\"w\n\":{}}", 0, -EINVAL, "header byte 3",
		   "control character");
}

static void test_json_trailing_garbage(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") " x",
		   4, -EINVAL, "header byte", "trailing garbage");
}

static void test_json_not_an_object(void **state)
{
	expect_err(*state, "[1,2]", 0, -EINVAL, "header byte 0", "not a JSON object");
}

static void test_json_missing_colon(void **state)
{
	expect_err(*state, "{\"w\" {}}", 0, -EINVAL, "header byte", "expected ':'");
}

static void test_json_bad_number(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]"),
		   4, -EINVAL, "header byte", "expected ',' or ']'");
}

/* --- schema ----------------------------------------------------------------- */

static void test_missing_dtype(void **state)
{
	expect_err(*state, T1("\"shape\":[1],\"data_offsets\":[0,4]"), 4, -EINVAL,
		   "tensor 'w'", "missing \"dtype\"");
}

static void test_missing_shape(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 4, -EINVAL,
		   "tensor 'w'", "missing \"shape\"");
}

static void test_missing_data_offsets(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[1]"), 4, -EINVAL,
		   "tensor 'w'", "missing \"data_offsets\"");
}

static void test_unknown_key(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"layout\":1"),
		   4, -EINVAL, "tensor 'w'", "unknown key \"layout\"");
}

static void test_duplicate_key_in_tensor(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[1],\"dtype\":\"F16\",\"data_offsets\":[0,4]"),
		   4, -EINVAL, "tensor 'w'", "duplicate key \"dtype\"");
}

static void test_tensor_not_object(void **state)
{
	expect_err(*state, "{\"w\":[1]}", 0, -EINVAL, "tensor 'w'", "must be an object");
}

static void test_dtype_not_string(void **state)
{
	expect_err(*state, T1("\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]"), 4,
		   -EINVAL, "tensor 'w'", "\"dtype\" must be a string");
}

static void test_data_offsets_not_pair(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]"), 8,
		   -EINVAL, "tensor 'w'", "[begin, end]");
}

static void test_unsupported_dtype(void **state)
{
	expect_err(*state, "{\"model.emb\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
		   8, -EOPNOTSUPP, "tensor 'model.emb'", "dtype \"F64\" is not supported");
}

static void test_unknown_dtype(void **state)
{
	expect_err(*state, T1("\"dtype\":\"Q4_K\",\"shape\":[1],\"data_offsets\":[0,1]"), 1,
		   -EOPNOTSUPP, "tensor 'w'", "\"Q4_K\"");
}

static void test_shape_negative(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4,
		   -EINVAL, "tensor 'w'", "\"shape\" must hold non-negative integers");
}

static void test_shape_not_integer(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]"), 10,
		   -EINVAL, "tensor 'w'", "\"shape\" must hold non-negative integers");
}

static void test_shape_exponent(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[1e1],\"data_offsets\":[0,40]"), 40,
		   -EINVAL, "tensor 'w'", "\"shape\" must hold non-negative integers");
}

static void test_shape_string(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]"), 8,
		   -EINVAL, "tensor 'w'", "\"shape\" must hold non-negative integers");
}

static void test_shape_too_big_number(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,4]"),
		   4, -EINVAL, "tensor 'w'", "does not fit 64 bits");
}

static void test_shape_elems_overflow(void **state)
{
	expect_err(*state, T1("\"dtype\":\"I8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]"),
		   4, -EINVAL, "tensor 'w'", "shape overflows");
}

static void test_shape_bytes_overflow(void **state)
{
	/* 2^62 elements fit, 2^62 * 4 bytes do not */
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]"),
		   4, -EINVAL, "tensor 'w'", "size in bytes overflows");
}

static void test_rank_too_large(void **state)
{
	expect_err(*state, T1("\"dtype\":\"I8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"),
		   1, -EOPNOTSUPP, "tensor 'w'", "rank 9");
}

/* Accepted with no elements, so the importer can skip it by name. */
static void test_empty_tensor(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(parse_hdr(fx, T1("\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]"), 0), 0);
	assert_int_equal(fx->f.n_tensors, 1);
	assert_int_equal(fx->f.tensors[0].elems, 0);
	assert_int_equal(fx->f.tensors[0].shape[0], 0);
}

static void test_offsets_past_end(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]"), 8,
		   -EINVAL, "tensor 'w'", "run past the end of the 8-byte data area");
}

static void test_offsets_reversed(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]"), 8,
		   -EINVAL, "tensor 'w'", "end before they begin");
}

static void test_offsets_size_mismatch(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"), 8,
		   -EINVAL, "tensor 'w'", "span 8 bytes, shape and dtype need 12");
}

static void test_overlapping_data(void **state)
{
	expect_err(*state,
		   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
		   12, -EINVAL, "tensor 'b' data [4, 12) overlaps tensor 'a'", NULL);
}

static void test_hole_in_data(void **state)
{
	expect_err(*state,
		   "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
		   12, -EINVAL, "bytes [4, 8) belong to no tensor", NULL);
}

static void test_trailing_data(void **state)
{
	expect_err(*state, T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), 6,
		   -EINVAL, "bytes [4, 6) belong to no tensor", NULL);
}

static void test_duplicate_names(void **state)
{
	expect_err(*state,
		   "{\"dup\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		   "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
		   "\"d\\u0075p\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
		   12, -EEXIST, "duplicate tensor name 'dup'", NULL);
}

static void test_duplicate_metadata(void **state)
{
	expect_err(*state,
		   "{\"__metadata__\":{\"a\":\"1\"},\"w\":{\"dtype\":\"I8\",\"shape\":[1],"
		   "\"data_offsets\":[0,1]},\"__metadata__\":{}}",
		   1, -EINVAL, "duplicate key \"__metadata__\"", NULL);
}

static void test_duplicate_metadata_key(void **state)
{
	expect_err(*state,
		   "{\"__metadata__\":{\"fmt\":\"pt\",\"x\":\"y\",\"fmt\":\"np\"},"
		   "\"w\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
		   1, -EINVAL, "duplicate \"__metadata__\" key \"fmt\"", NULL);
}

static void test_metadata_value_not_string(void **state)
{
	expect_err(*state, "{\"__metadata__\":{\"n\":1}}", 0, -EINVAL,
		   "header byte", "values must be strings");
}

static void test_name_too_long(void **state)
{
	struct fx *fx = *state;
	char hdr[1024], name[CXLMS_NAME_MAX + 1];

	memset(name, 'n', CXLMS_NAME_MAX);
	name[CXLMS_NAME_MAX] = '\0';	/* 256 bytes: one too many */
	snprintf(hdr, sizeof(hdr), "{\"%s\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
		 name);
	expect_err(fx, hdr, 1, -ENAMETOOLONG, "name is 256 bytes, the limit is 255", NULL);

	/* 255 bytes is fine */
	name[CXLMS_NAME_MAX - 1] = '\0';
	snprintf(hdr, sizeof(hdr), "{\"%s\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
		 name);
	assert_int_equal(parse_hdr(fx, hdr, 1), 0);
	assert_int_equal(strlen(fx->f.tensors[0].name), CXLMS_NAME_MAX - 1);
}

static void test_name_with_nul(void **state)
{
	expect_err(*state, "{\"a\\u0000b\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
		   1, -EINVAL, "NUL", NULL);
}

static void test_name_empty(void **state)
{
	expect_err(*state, "{\"\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
		   1, -EINVAL, "empty name", NULL);
}

/* --- valid files ------------------------------------------------------------- */

static void test_valid_dtypes(void **state)
{
	struct fx *fx = *state;
	static const struct { const char *name; unsigned int dtype, size; } dt[] = {
		{ "F32", CXLMS_DTYPE_F32, 4 }, { "F16", CXLMS_DTYPE_F16, 2 },
		{ "BF16", CXLMS_DTYPE_BF16, 2 }, { "I8", CXLMS_DTYPE_I8, 1 },
	};
	uint8_t data[4][12];
	struct tu_st_tensor t[4];
	size_t i, j, len;
	uint8_t *img;

	for (i = 0; i < 4; i++) {
		for (j = 0; j < sizeof(data[i]); j++)
			data[i][j] = (uint8_t)(i * 16 + j);
		t[i] = (struct tu_st_tensor){ .name = dt[i].name, .dtype = dt[i].name,
			.ndim = 1, .shape = { 12 / dt[i].size }, .data = data[i],
			.len = 12 };
	}
	img = tu_st_build(t, 4, &len);
	assert_int_equal(cxlms_st_parse(fx->ctx, "t", img, len, &fx->f), 0);
	assert_int_equal(fx->f.n_tensors, 4);
	for (i = 0; i < 4; i++) {
		const struct cxlms_st_tensor *p = &fx->f.tensors[i];

		assert_string_equal(p->name, dt[i].name);
		assert_int_equal(p->dtype, dt[i].dtype);
		assert_int_equal(p->ndim, 1);
		assert_int_equal(p->elems, 12 / dt[i].size);
		assert_int_equal(p->end - p->begin, 12);
		assert_memory_equal(p->data, data[i], 12);
	}
	free(img);
}

static void test_valid_ranks(void **state)
{
	struct fx *fx = *state;
	static const uint64_t shapes[5][4] = {
		{ 0 }, { 7 }, { 3, 5 }, { 2, 3, 4 }, { 2, 1, 3, 5 },
	};
	static const uint64_t elems[5] = { 1, 7, 15, 24, 30 };
	struct tu_st_tensor t[5];
	static uint8_t data[5][120];
	static const char *names[5] = { "r0", "r1", "r2", "r3", "r4" };
	size_t i, len;
	uint8_t *img;

	for (i = 0; i < 5; i++) {
		t[i] = (struct tu_st_tensor){ .name = names[i], .dtype = "F32",
			.ndim = (unsigned int)i, .data = data[i], .len = elems[i] * 4 };
		memcpy(t[i].shape, shapes[i], sizeof(shapes[i]));
	}
	img = tu_st_build(t, 5, &len);
	assert_int_equal(cxlms_st_parse(fx->ctx, "t", img, len, &fx->f), 0);
	assert_int_equal(fx->f.n_tensors, 5);
	for (i = 0; i < 5; i++) {
		const struct cxlms_st_tensor *p = &fx->f.tensors[i];

		assert_int_equal(p->ndim, i);
		assert_int_equal(p->elems, elems[i]);
		assert_memory_equal(p->shape, shapes[i], sizeof(shapes[i]));
	}
	free(img);
}

static void test_valid_odd_spacing_and_escapes(void **state)
{
	struct fx *fx = *state;
	/* whitespace everywhere, escaped and non-ASCII names, key order, metadata */
	const char *hdr =
		" \t\r\n{ \"__metadata__\" : { \"a\\\"b\" : \"\\u00e9\\ud83d\\ude00\" } ,\n"
		"  \"caf\xc3\xa9\\/\\u0041\" : { \"data_offsets\" : [ 0 , 2 ] , \"shape\" : [ ] ,"
		" \"dtype\" : \"BF16\" } }   ";

	assert_int_equal(parse_hdr(fx, hdr, 2), 0);
	assert_int_equal(fx->f.n_tensors, 1);
	assert_string_equal(fx->f.tensors[0].name, "caf\xc3\xa9/A");
	assert_int_equal(fx->f.tensors[0].ndim, 0);
	assert_int_equal(fx->f.tensors[0].elems, 1);
}

static void test_open_file(void **state)
{
	struct fx *fx = *state;
	char *dir = tu_mkdtemp(), *p;
	float v[3] = { 1, 2, 3 };
	struct tu_st_tensor t = { .name = "w", .dtype = "F32", .ndim = 1,
				  .shape = { 3 }, .data = v, .len = sizeof(v) };

	assert_non_null(dir);
	p = tu_path(dir, "m.safetensors");
	assert_int_equal(tu_st_write(p, &t, 1), 0);
	assert_int_equal(cxlms_st_open(fx->ctx, p, &fx->f), 0);
	assert_int_equal(fx->f.n_tensors, 1);
	assert_memory_equal(fx->f.tensors[0].data, v, sizeof(v));
	cxlms_st_release(&fx->f);

	/* a directory and a missing file */
	tu_log_clear(&lc);
	assert_int_equal(cxlms_st_open(fx->ctx, dir, &fx->f), -EISDIR);
	assert_logged(&lc, "not a regular file");
	unlink(p);
	assert_int_equal(cxlms_st_open(fx->ctx, p, &fx->f), -ENOENT);
	free(p);
	tu_rmtree(dir);
	free(dir);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_file_shorter_than_length_field),
		T(test_header_length_past_eof),
		T(test_header_length_absurd),
		T(test_json_truncated),
		T(test_json_truncated_string),
		T(test_json_bad_escape),
		T(test_json_bad_unicode_escape),
		T(test_json_lone_surrogate),
		T(test_json_invalid_utf8),
		T(test_json_control_char),
		T(test_json_trailing_garbage),
		T(test_json_not_an_object),
		T(test_json_missing_colon),
		T(test_json_bad_number),
		T(test_missing_dtype),
		T(test_missing_shape),
		T(test_missing_data_offsets),
		T(test_unknown_key),
		T(test_duplicate_key_in_tensor),
		T(test_tensor_not_object),
		T(test_dtype_not_string),
		T(test_data_offsets_not_pair),
		T(test_unsupported_dtype),
		T(test_unknown_dtype),
		T(test_shape_negative),
		T(test_shape_not_integer),
		T(test_shape_exponent),
		T(test_shape_string),
		T(test_shape_too_big_number),
		T(test_shape_elems_overflow),
		T(test_shape_bytes_overflow),
		T(test_rank_too_large),
		T(test_empty_tensor),
		T(test_offsets_past_end),
		T(test_offsets_reversed),
		T(test_offsets_size_mismatch),
		T(test_overlapping_data),
		T(test_hole_in_data),
		T(test_trailing_data),
		T(test_duplicate_names),
		T(test_duplicate_metadata),
		T(test_duplicate_metadata_key),
		T(test_metadata_value_not_string),
		T(test_name_too_long),
		T(test_name_with_nul),
		T(test_name_empty),
		T(test_valid_dtypes),
		T(test_valid_ranks),
		T(test_valid_odd_spacing_and_escapes),
		T(test_open_file),
	};

	return cmocka_run_group_tests_name("safetensors", tests, NULL, NULL);
}
