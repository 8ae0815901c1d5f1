/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the io_uring guest programs (uring-raw, uring-lib, uring-bench):
 * a minimal TAP runner (exit 0 pass, 77 all skipped, 1 a failure), SQE
 * builders for the cxlms uring_cmd payloads, the link-model knobs and a
 * RAM store with test tensors of every format.
 */
#ifndef CXLMS_URING_UTIL_H
#define CXLMS_URING_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <liburing.h>

#include "cxlms_util.h"

#define UT_PASS	0
#define UT_FAIL	1
#define UT_SKIP	77

/* Fail the current case with a reason (file:line in the TAP comment). */
#define UT_CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			printf("# %s:%d: check failed: %s: ", __FILE__,	\
			       __LINE__, #cond);			\
			printf(__VA_ARGS__);				\
			printf("\n");					\
			return UT_FAIL;					\
		}							\
	} while (0)

/* Skip the current case; the reason goes in the TAP line. */
extern char ut_skip_reason[256];
#define UT_SKIP_IF(cond, ...)						\
	do {								\
		if (cond) {						\
			snprintf(ut_skip_reason, sizeof(ut_skip_reason),	\
				 __VA_ARGS__);				\
			return UT_SKIP;					\
		}							\
	} while (0)

struct ut_case {
	const char *name;
	int (*fn)(void);
};

/* Run @cases as TAP; returns the exit code. */
int ut_run(const char *prog, const struct ut_case *cases, unsigned int n);

/* A ring with SQE128 (and @flags); 0 or -errno. */
int ut_ring(struct io_uring *ring, unsigned int entries, unsigned int flags);
/* An IORING_OP_URING_CMD SQE carrying @len bytes of @payload. */
void ut_prep_cmd(struct io_uring_sqe *sqe, int fd, uint32_t cmd_op,
		 const void *payload, size_t len, uint64_t user_data);
void ut_prep_fetch(struct io_uring_sqe *sqe, int fd,
		   const struct cxlms_ioc_fetch *f, uint64_t user_data);
/* A FETCH struct as the ioctl takes it. */
struct cxlms_ioc_fetch ut_fetch(uint32_t tensor, uint32_t first, uint32_t count,
				uint32_t bits, uint32_t out, uint32_t recon,
				void *buf, uint64_t len);

/* debugfs link model: -errno if the knobs are missing. */
int ut_knob_set(const char *name, unsigned long long v);
bool ut_have_link_model(void);

/*
 * Test tensors on the device: INT8 (group 32, several tiles, short last
 * tile), BF16 and FP16, sealed.  Attaches a RAM store if none is there
 * (*own set: detach it when done).
 */
#define UT_N_TENSORS	3
struct ut_store {
	int fd;
	bool own;
	struct cxt_tensor t[UT_N_TENSORS];
};
int ut_store_setup(struct ut_store *s, uint64_t seed);
/*
 * ut_store_setup() for a TAP suite: 0, or after printing the plan's SKIP
 * (no device) or a Bail out, the exit code the suite returns.
 */
int ut_store_setup_tap(struct ut_store *s, uint64_t seed);
void ut_store_teardown(struct ut_store *s);


#endif /* CXLMS_URING_UTIL_H */
