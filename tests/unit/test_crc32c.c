// SPDX-License-Identifier: GPL-2.0 OR MIT
/* CRC32C: published check values, a bit-at-a-time reference, chaining. */
#include "codec_test_util.h"
#include "store_format.h"

/* The definition: reflected polynomial 0x82f63b78, one bit at a time. */
static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
	}
	return ~crc;
}

static void test_check_value(void **state)
{
	(void)state;
	assert_int_equal(cxlms_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(cxlms_crc32c(0, "", 0), 0);
	assert_int_equal(cxlms_crc32c(0x12345678u, "", 0), 0x12345678u);
}

/* The iSCSI test patterns (RFC 3720, appendix B.4). */
static void test_rfc3720_vectors(void **state)
{
	uint8_t buf[48];

	(void)state;
	memset(buf, 0, 32);
	assert_int_equal(cxlms_crc32c(0, buf, 32), 0x8a9136aau);
	memset(buf, 0xff, 32);
	assert_int_equal(cxlms_crc32c(0, buf, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(cxlms_crc32c(0, buf, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(cxlms_crc32c(0, buf, 32), 0x113fdb5cu);
}

/* Every length and alignment up to a few words against the bitwise definition. */
static void test_against_bitwise(void **state)
{
	uint8_t buf[4096 + 16];
	uint64_t rng = 1;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng_next(&rng);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len < 100; len++)
			assert_int_equal(cxlms_crc32c(0, buf + off, len),
					 crc32c_bitwise(0, buf + off, len));
	assert_int_equal(cxlms_crc32c(0, buf + 3, 4096), crc32c_bitwise(0, buf + 3, 4096));
	assert_int_equal(cxlms_crc32c(0xdeadbeef, buf, 777), crc32c_bitwise(0xdeadbeef, buf, 777));
}

static void test_chaining(void **state)
{
	uint8_t buf[1000];
	uint64_t rng = 2;
	uint32_t one;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng_next(&rng);
	one = cxlms_crc32c(0, buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf); cut += 37)
		assert_int_equal(cxlms_crc32c(cxlms_crc32c(0, buf, cut), buf + cut,
					      sizeof(buf) - cut), one);
	/* a flipped bit anywhere changes the CRC */
	for (size_t bit = 0; bit < 8 * sizeof(buf); bit += 61) {
		buf[bit / 8] ^= 1u << (bit % 8);
		assert_int_not_equal(cxlms_crc32c(0, buf, sizeof(buf)), one);
		buf[bit / 8] ^= 1u << (bit % 8);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_rfc3720_vectors),
		cmocka_unit_test(test_against_bitwise),
		cmocka_unit_test(test_chaining),
	};

	return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
