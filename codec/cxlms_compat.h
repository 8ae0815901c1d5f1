/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The only environment the shared codec sees: fixed-width integer types,
 * errno values, memcpy/memset, a 64-bit divide, a sort and a scratch
 * allocator (for validation only).  Everything else in
 * codec/ is freestanding C, so the same source builds into cxlms.ko and
 * into libcxlms.  No floating point may be used in codec/.
 */
#ifndef CXLMS_COMPAT_H
#define CXLMS_COMPAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/math64.h>
#include <linux/stddef.h>
#include <linux/kernel.h>
#include <linux/sort.h>
#include <linux/mm.h>
#include <linux/slab.h>

typedef s8 cxlms_s8;
typedef u8 cxlms_u8;
typedef s16 cxlms_s16;
typedef u16 cxlms_u16;
typedef s32 cxlms_s32;
typedef u32 cxlms_u32;
typedef s64 cxlms_s64;
typedef u64 cxlms_u64;

static inline cxlms_s64 cxlms_div_s64(cxlms_s64 a, cxlms_s64 b)
{
	return div64_s64(a, b);
}

/* Validation sorts directory ranges and names: O(n log n), no recursion. */
static inline void cxlms_sort(void *base, size_t num, size_t size,
			      int (*cmp)(const void *, const void *))
{
	sort(base, num, size, cmp, NULL);
}

/* Scratch for validation (directory sized, may be large: kvmalloc). */
static inline void *cxlms_alloc_array(size_t n, size_t size)
{
	return kvmalloc_array(n, size, GFP_KERNEL);
}

static inline void cxlms_free(void *p)
{
	kvfree(p);
}

/*
 * The kernel's own CRC32C (lib/crc32.c, built in whenever CONFIG_CRC32=y),
 * not the codec's table: one less copy in the module, no libcrc32c module
 * dependency.  __crc32c_le() is the raw register update; the codec's
 * convention (start 0, check value 0xe3069283) inverts in and out.
 */
#include <linux/crc32.h>
#define CXLMS_CRC32C_KERNEL 1
static inline cxlms_u32 cxlms_crc32c_kernel(cxlms_u32 crc, const void *buf,
					    cxlms_u64 len)
{
	return ~__crc32c_le(~crc, buf, len);
}
#else
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <errno.h>
#include <stdlib.h>

typedef int8_t cxlms_s8;
typedef uint8_t cxlms_u8;
typedef int16_t cxlms_s16;
typedef uint16_t cxlms_u16;
typedef int32_t cxlms_s32;
typedef uint32_t cxlms_u32;
typedef int64_t cxlms_s64;
typedef uint64_t cxlms_u64;

static inline cxlms_s64 cxlms_div_s64(cxlms_s64 a, cxlms_s64 b)
{
	return a / b;
}

static inline void cxlms_sort(void *base, size_t num, size_t size,
			      int (*cmp)(const void *, const void *))
{
	qsort(base, num, size, cmp);
}

static inline void *cxlms_alloc_array(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return malloc(n && size ? n * size : 1);
}

static inline void cxlms_free(void *p)
{
	free(p);
}
#endif

/* The store format is little-endian; so far only little-endian hosts run it. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cxlms: the store format is little-endian; big-endian hosts are not supported"
#endif

#define CXLMS_ALIGN_UP(x, a)	(((x) + (a) - 1) / (a) * (a))
#define CXLMS_DIV_UP(x, a)	(((x) + (a) - 1) / (a))

#endif /* CXLMS_COMPAT_H */
