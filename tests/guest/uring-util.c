// SPDX-License-Identifier: GPL-2.0
/* Helpers of the io_uring guest programs (see uring-util.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "uring-util.h"

#define LINK_DIR	"/sys/kernel/debug/cxlms/"
#define UT_RAM_BYTES	(32ull << 20)

char ut_skip_reason[256];

int ut_run(const char *prog, const struct ut_case *cases, unsigned int n)
{
	unsigned int i, pass = 0, fail = 0, skip = 0;
	int rc;

	printf("TAP version 13\n1..%u\n", n);
	for (i = 0; i < n; i++) {
		ut_skip_reason[0] = '\0';
		fflush(stdout);
		rc = cases[i].fn();
		if (rc == UT_PASS) {
			pass++;
			printf("ok %u - %s\n", i + 1, cases[i].name);
		} else if (rc == UT_SKIP) {
			skip++;
			printf("ok %u - %s # SKIP %s\n", i + 1, cases[i].name,
			       ut_skip_reason);
		} else {
			fail++;
			printf("not ok %u - %s\n", i + 1, cases[i].name);
		}
	}
	printf("# %s: %u passed, %u failed, %u skipped\n", prog, pass, fail, skip);
	fflush(stdout);
	if (fail)
		return UT_FAIL;
	return pass ? UT_PASS : UT_SKIP;
}

int ut_ring(struct io_uring *ring, unsigned int entries, unsigned int flags)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 | flags };

	return io_uring_queue_init_params(entries, ring, &p);
}

void ut_prep_cmd(struct io_uring_sqe *sqe, int fd, uint32_t cmd_op,
		 const void *payload, size_t len, uint64_t user_data)
{
	memset(sqe, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = cmd_op;
	sqe->user_data = user_data;
	memcpy(sqe->cmd, payload, len);
}

void ut_prep_fetch(struct io_uring_sqe *sqe, int fd,
		   const struct cxlms_ioc_fetch *f, uint64_t user_data)
{
	ut_prep_cmd(sqe, fd, CXLMS_IOC_FETCH, f, sizeof(*f), user_data);
}

struct cxlms_ioc_fetch ut_fetch(uint32_t tensor, uint32_t first, uint32_t count,
				uint32_t bits, uint32_t out, uint32_t recon,
				void *buf, uint64_t len)
{
	struct cxlms_ioc_fetch f = {
		.size = sizeof(f), .tensor = tensor, .tile_first = first,
		.tile_count = count, .bits = bits, .out = out, .recon = recon,
		.buf = (uintptr_t)buf, .buf_len = len,
	};

	return f;
}

int ut_knob_set(const char *name, unsigned long long v)
{
	char path[128];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), LINK_DIR "%s", name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	ret = fprintf(f, "%llu\n", v) < 0 ? -EIO : 0;
	if (fclose(f))
		ret = -errno;
	return ret;
}

bool ut_have_link_model(void)
{
	return !access(LINK_DIR "link_latency_ns", W_OK);
}

int ut_store_setup(struct ut_store *s, uint64_t seed)
{
	static const uint64_t s8[2] = { 45, 96 }, s16[2] = { 20, 40 },
			      s1[1] = { 333 };
	struct cxlms_ioc_query q;
	char name[64];
	unsigned int i;
	int ret;

	memset(s, 0, sizeof(*s));
	s->fd = cxt_open();
	if (s->fd < 0)
		return s->fd;
	ret = cxt_query(s->fd, &q);
	if (!ret && !(q.state & CXLMS_STATE_ATTACHED)) {
		ret = cxt_attach_ram(s->fd, UT_RAM_BYTES, 0);
		s->own = !ret;
		if (!ret)
			ret = cxt_query(s->fd, &q);
	}
	if (ret)
		return ret;
	cxt_name(name, sizeof(name), "uring.i8");
	ret = cxt_tensor_gen(&s->t[0], name, CXLMS_FMT_INT8, 2, s8, 32,
			     q.default_group, 8, seed);
	cxt_name(name, sizeof(name), "uring.bf16");
	if (!ret)
		ret = cxt_tensor_gen(&s->t[1], name, CXLMS_FMT_BF16, 2, s16, 0,
				     q.default_group, 6, seed + 1);
	cxt_name(name, sizeof(name), "uring.fp16");
	if (!ret)
		ret = cxt_tensor_gen(&s->t[2], name, CXLMS_FMT_FP16, 1, s1, 0,
				     q.default_group, 0, seed + 2);
	for (i = 0; !ret && i < UT_N_TENSORS; i++)
		ret = cxt_tensor_upload(s->fd, &s->t[i], true);
	return ret;
}

int ut_store_setup_tap(struct ut_store *s, uint64_t seed)
{
	int ret = ut_store_setup(s, seed);

	if (ret == -ENOENT || ret == -ENXIO) {
		printf("1..0 # SKIP " CXLMS_NO_DEV_REASON "\n");
		return UT_SKIP;
	}
	if (ret) {
		printf("Bail out! store setup: %s\n", strerror(-ret));
		return UT_FAIL;
	}
	return 0;
}

void ut_store_teardown(struct ut_store *s)
{
	unsigned int i;

	for (i = 0; i < UT_N_TENSORS; i++)
		cxt_tensor_free(&s->t[i]);
	if (s->fd >= 0) {
		if (s->own)
			cxt_detach(s->fd);
		close(s->fd);
	}
	s->fd = -1;
}

