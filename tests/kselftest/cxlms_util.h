/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the cxlms kselftests and the guest store tool: ioctl
 * wrappers that return 0 or -errno, deterministic test tensors, and the
 * userspace reference for a fetch (the same codec source the module runs,
 * compiled for userspace).
 */
#ifndef CXLMS_UTIL_H
#define CXLMS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/cxlms.h>

#include "bitplane.h"
#include "store_format.h"

#define CXLMS_DEV_PATH	"/dev/cxlms0"
/* Skip reason when the device is missing; guest-run.sh fails on it. */
#define CXLMS_NO_DEV_REASON	"no " CXLMS_DEV_PATH " (module not loaded)"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* All return 0 (or a count) or -errno. */
int cxt_open(void);
int cxt_ioctl(int fd, unsigned long cmd, void *arg);
/* The same in a child running as nobody (no privileges); 0 or -errno. */
#define CXT_NOBODY	65534
int cxt_ioctl_as_nobody(int fd, unsigned long cmd, void *arg);
int cxt_query(int fd, struct cxlms_ioc_query *q);
int cxt_attach_ram(int fd, uint64_t bytes, uint32_t dir_capacity);
int cxt_attach_cxl(int fd, uint64_t start, uint64_t bytes, bool format,
		   uint32_t dir_capacity, char *why, size_t why_len);
int cxt_detach(int fd);
int cxt_seal(int fd, uint32_t tensor);
int cxt_fetch(int fd, uint32_t tensor, uint32_t first, uint32_t count,
	      uint32_t bits, uint32_t out, uint32_t recon, void *buf,
	      uint64_t len, uint64_t *written, uint64_t *read);
int cxt_stats(int fd, uint32_t tensor, uint32_t flags, struct cxlms_ioc_stats *st);
int cxt_verify(int fd, uint32_t tensor, struct cxlms_ioc_verify *v);

/* splitmix64: a small, seedable, well-mixed generator. */
uint64_t cxt_rand(uint64_t *state);

/**
 * struct cxt_tensor - a test tensor: its request, data and geometry
 * @name: unique name in the store
 * @fmt, @dtype, @ndim, @shape, @group, @tile_rows: the CREATE request
 *	(@group and @tile_rows as given; 0 = module default)
 * @rows, @cols: 2-D view
 * @data: rows * cols elements in natural order (int8 codes or u16 patterns)
 * @scales: INT8: rows * groups-per-row fp16 scales (the effective group)
 * @g, @l: effective tile geometry and layout (after CREATE)
 * @n_tiles, @index: from CREATE
 */
struct cxt_tensor {
	char name[CXLMS_NAME_MAX];
	uint32_t fmt, dtype, ndim, group, tile_rows;
	uint64_t shape[CXLMS_MAX_DIMS];
	uint64_t rows, cols;
	void *data;
	uint16_t *scales;
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout l;
	uint32_t n_tiles, index;
	uint32_t create_flags;	/* CXLMS_CREATE_* for cxt_tensor_create() */
};

/*
 * Fill @t with pseudo-random data: INT8 codes mostly small with outliers at
 * +-127/-128 and some all-zero groups (scale 0); 16-bit patterns with
 * zeros, subnormals, Inf and NaN (signalling too) among normal values.
 * @group and @tile_rows as for CREATE (0 = default; @group is resolved to
 * @default_group).  Returns 0 or -ENOMEM.
 */
int cxt_tensor_gen(struct cxt_tensor *t, const char *name, uint32_t fmt,
		   uint32_t ndim, const uint64_t *shape, uint32_t group,
		   uint32_t default_group, uint32_t tile_rows, uint64_t seed);
void cxt_tensor_free(struct cxt_tensor *t);
/* CREATE, TILE_WRITE of every tile, SEAL (unless !seal). */
int cxt_tensor_upload(int fd, struct cxt_tensor *t, bool seal);
int cxt_tensor_create(int fd, struct cxt_tensor *t);
int cxt_tile_write(int fd, const struct cxt_tensor *t, uint32_t tile);
uint32_t cxt_tile_elems(const struct cxt_tensor *t, uint32_t tile);
/* Bytes of one tile's fetch block, or -errno. */
int64_t cxt_ref_size(const struct cxt_tensor *t, uint32_t tile, uint32_t bits,
		     uint32_t out, uint32_t recon);
/*
 * The reference: place tile @tile in a userspace tile buffer with the codec
 * (whole tile at once) and fetch it.  Returns bytes or -errno.
 */
int64_t cxt_ref_fetch(const struct cxt_tensor *t, uint32_t tile, uint32_t bits,
		      uint32_t out, uint32_t recon, void *dst, uint64_t len);

/*
 * Plain TAP for the guest programs outside the kselftest harness: one
 * "ok N - PREFIX..." line per check, counted in @t (start @t->n at a base
 * to continue another program's numbering).
 */
struct cxt_tap {
	const char *prefix;
	unsigned int n, fail;
};
void cxt_tap(struct cxt_tap *t, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

double cxt_now(void);	/* CLOCK_MONOTONIC seconds */

/* Read the kernel log and report the first line that shows a kernel bug. */
int cxt_dmesg_bad(char *line, size_t len);

/* Unique names per process: "<prefix>.<pid>.<n>". */
void cxt_name(char *buf, size_t len, const char *prefix);

#endif /* CXLMS_UTIL_H */
