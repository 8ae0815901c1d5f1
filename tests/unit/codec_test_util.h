/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Small helpers shared by the codec unit tests (header-only, static). */
#ifndef CXLMS_CODEC_TEST_UTIL_H
#define CXLMS_CODEC_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Deterministic PRNG (xorshift64*), so a failure reproduces. */
static inline uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

/* Fail with the first differing byte, so a mismatch is easy to locate. */
static inline void assert_bytes_equal(const void *got, const void *want,
				      size_t len, const char *what)
{
	const uint8_t *g = got, *w = want;

	for (size_t i = 0; i < len; i++) {
		if (g[i] != w[i]) {
			print_error("%s: byte %zu of %zu: got 0x%02x, want 0x%02x\n",
				    what, i, len, g[i], w[i]);
			fail();
		}
	}
}

static inline void *xcalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	assert_non_null(p);
	return p;
}

#endif
