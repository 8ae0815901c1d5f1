/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Shared bits of the libFuzzer harnesses (tests/fuzz/README.md): a log
 * function that formats every library message (so the messages' own code
 * runs under the sanitizers too) and a memfd that holds one input as a
 * file, for the parsers that only take a path.
 */
#ifndef CXLMS_FUZZ_COMMON_H
#define CXLMS_FUZZ_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libcxlms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A violated harness invariant is a finding: abort so libFuzzer keeps it. */
#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
			__FILE__, __LINE__, #cond);			\
		abort();						\
	}								\
} while (0)

static inline void fuzz_log(struct cxlms_ctx *ctx, int priority,
			    const char *file, int line, const char *fn,
			    const char *format, va_list args)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), format, args);
	if (getenv("CXLMS_FUZZ_VERBOSE"))
		fprintf(stderr, "log: %s\n", buf);
}

static inline struct cxlms_ctx *fuzz_ctx(void)
{
	struct cxlms_ctx *ctx;

	if (cxlms_new(&ctx))
		abort();
	cxlms_set_log_fn(ctx, fuzz_log);
	cxlms_set_log_priority(ctx, LOG_DEBUG);
	return ctx;
}

/*
 * Replace the contents of memfd @fd by @len bytes at @p; its path is
 * /proc/self/fd/@fd.  Aborts on failure (not a finding of the target).
 */
static inline void fuzz_memfd_set(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET))
		abort();
	while (len) {
		ssize_t n = write(fd, b, len);

		if (n <= 0)
			abort();
		b += n;
		len -= (size_t)n;
	}
}

static inline int fuzz_memfd(const char *name, char *path, size_t path_len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		abort();
	snprintf(path, path_len, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
