// SPDX-License-Identifier: GPL-2.0
/* Stand-in for tools/ggml/peer.c in the bench-gemv built without ggml. */
#include <errno.h>

#include "peer.h"

const char *peer_info(void)
{
	return NULL;
}

int peer_open(unsigned int max_threads)
{
	return -ENOSYS;
}

void peer_close(void)
{
}

int peer_new(const char *type, int repack, uint64_t rows, uint64_t cols,
	     const float *w, const float *x, unsigned int copies,
	     struct peer **out)
{
	return -ENOSYS;
}

void peer_free(struct peer *p)
{
}

size_t peer_bytes(const struct peer *p)
{
	return 0;
}

const void *peer_data(const struct peer *p, unsigned int copy)
{
	return NULL;
}

int peer_gemv(struct peer *p, unsigned int copy, unsigned int threads)
{
	return -ENOSYS;
}

void peer_result(const struct peer *p, unsigned int copy, float *y)
{
}

void peer_resume(unsigned int threads)
{
}

void peer_pause(void)
{
}
