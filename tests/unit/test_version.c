// SPDX-License-Identifier: GPL-2.0
/*
 * Version macros, cxlms_version(), cxlms_strerror(), and that the shared
 * object exports both in the LIBCXLMS_1.2 version node.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <libcxlms.h>

static void test_macros(void **state)
{
	(void)state;
	assert_int_equal(LIBCXLMS_VERSION_MAJOR, 1);
	assert_int_equal(LIBCXLMS_VERSION_MINOR, 3);
	assert_true(LIBCXLMS_VERSION_CHECK(1, 0));
	assert_true(LIBCXLMS_VERSION_CHECK(1, 1));
	assert_true(LIBCXLMS_VERSION_CHECK(1, 2));
	assert_true(LIBCXLMS_VERSION_CHECK(1, 3));
	assert_false(LIBCXLMS_VERSION_CHECK(1, 4));
	assert_false(LIBCXLMS_VERSION_CHECK(2, 0));
	assert_false(LIBCXLMS_VERSION_CHECK(0, 9));
	/* Usable in #if, which is the point of a compile-time check. */
#if !LIBCXLMS_VERSION_CHECK(1, 1)
	fail_msg("LIBCXLMS_VERSION_CHECK(1, 1) false in #if");
#endif
	assert_true(LIBCXLMS_VERSION_ENCODE(1, 2) > LIBCXLMS_VERSION_ENCODE(1, 1));
	assert_true(LIBCXLMS_VERSION_ENCODE(2, 0) > LIBCXLMS_VERSION_ENCODE(1, 65535));
}

static void test_runtime_version(void **state)
{
	(void)state;
	assert_int_equal(cxlms_version(), LIBCXLMS_VERSION_NUMBER);
	assert_int_equal(cxlms_version() >> 16, LIBCXLMS_VERSION_MAJOR);
	assert_int_equal(cxlms_version() & 0xffff, LIBCXLMS_VERSION_MINOR);
}

static void test_store_codes(void **state)
{
	(void)state;
	assert_string_equal(cxlms_strerror(-EMEDIUMTYPE), "not a cxlms store");
	assert_string_equal(cxlms_strerror(-EPROTONOSUPPORT),
			    "unsupported store version or feature");
	assert_non_null(strstr(cxlms_strerror(-EBADMSG), "checksum"));
	assert_non_null(strstr(cxlms_strerror(-EUCLEAN), "invalid store contents"));
	assert_non_null(strstr(cxlms_strerror(-ENODATA), "truncated"));
	/* Not the generic libc text users complained about. */
	assert_string_not_equal(cxlms_strerror(-EUCLEAN), strerror(EUCLEAN));
	assert_string_not_equal(cxlms_strerror(-EBADMSG), strerror(EBADMSG));
}

static void test_sign_and_fallback(void **state)
{
	(void)state;
	/* -errno and errno give the same text. */
	assert_ptr_equal(cxlms_strerror(EMEDIUMTYPE), cxlms_strerror(-EMEDIUMTYPE));
	assert_ptr_equal(cxlms_strerror(ENOENT), cxlms_strerror(-ENOENT));
	/* Codes without a store meaning read as libc's. */
	assert_string_equal(cxlms_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(cxlms_strerror(-EACCES), strerror(EACCES));
	assert_string_equal(cxlms_strerror(-ENOMEM), strerror(ENOMEM));
	assert_string_equal(cxlms_strerror(0), "success");
	/* Unknown codes: a string, never NULL. */
	assert_non_null(cxlms_strerror(123456));
	assert_non_null(cxlms_strerror(-123456));
	assert_string_equal(cxlms_strerror(123456), "unknown error");
}

static const int codes[] = { EMEDIUMTYPE, EBADMSG, ENOENT, EIO, 123456 };
static const char *first_text[sizeof(codes) / sizeof(codes[0])];

/* Every thread gets the very same static strings: no per-call buffer. */
static void *strerror_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		size_t c = (size_t)i % (sizeof(codes) / sizeof(codes[0]));

		if (cxlms_strerror(-codes[c]) != first_text[c])
			return (void *)1;
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t th[4];
	void *ret;

	(void)state;
	for (size_t c = 0; c < sizeof(codes) / sizeof(codes[0]); c++)
		first_text[c] = cxlms_strerror(codes[c]);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, strerror_thread, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
}

/* The shared object exports both calls in the LIBCXLMS_1.2 node. */
static void test_symbol_versions(void **state)
{
	unsigned int (*ver)(void);
	const char *(*se)(int);
	void *h;

	(void)state;
	h = dlopen(LIBCXLMS_SO_PATH, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	*(void **)&ver = dlvsym(h, "cxlms_version", "LIBCXLMS_1.2");
	*(void **)&se = dlvsym(h, "cxlms_strerror", "LIBCXLMS_1.2");
	assert_non_null(ver);
	assert_non_null(se);
	assert_int_equal(ver(), LIBCXLMS_VERSION_NUMBER);
	assert_string_equal(se(-EMEDIUMTYPE), "not a cxlms store");
	/* Not in an older node. */
	assert_null(dlvsym(h, "cxlms_version", "LIBCXLMS_1.1"));
	/* The older nodes are still there. */
	assert_non_null(dlvsym(h, "cxlms_fetch_pieces", "LIBCXLMS_1.1"));
	assert_non_null(dlvsym(h, "cxlms_open", "LIBCXLMS_1"));
	dlclose(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_runtime_version),
		cmocka_unit_test(test_store_codes),
		cmocka_unit_test(test_sign_and_fallback),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_symbol_versions),
	};

	return cmocka_run_group_tests_name("version", tests, NULL, NULL);
}
