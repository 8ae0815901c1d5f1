/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The GEMV peer of tools/bench-gemv: llama.cpp's ggml CPU kernels on a
 * quantized copy of the same f32 weights (tools/ggml/peer.c).  Built only
 * into bench-gemv-ggml; tools/ggml/peer-none.c is the stand-in without ggml.
 * libcxlms never depends on this.
 */
#ifndef CXLMS_TOOLS_GGML_PEER_H
#define CXLMS_TOOLS_GGML_PEER_H

#include <stddef.h>
#include <stdint.h>

struct peer;

/* What is linked ("ggml 0.23.0 (80fb11a), CPU ..."), NULL without ggml. */
const char *peer_info(void);
/* Backends and threadpools for 1 .. @max_threads threads; 0 or -errno. */
int peer_open(unsigned int max_threads);
void peer_close(void);

/*
 * ggml type @type ("Q8_0", "Q4_K", ...) of the @rows x @cols row-major
 * weights @w, quantized by ggml itself (no importance matrix, as
 * llama-quantize without --imatrix), in @copies separate buffers so that
 * cycling them defeats the caches.  @repack: in llama.cpp's CPU_REPACK
 * buffer (the interleaved layout it uses by default for the types that
 * have one); -EOPNOTSUPP if the type has none on this CPU.  @x (cols
 * floats) is the activation every call multiplies.
 */
int peer_new(const char *type, int repack, uint64_t rows, uint64_t cols,
	     const float *w, const float *x, unsigned int copies,
	     struct peer **out);
void peer_free(struct peer *p);
/* Bytes of one copy of the quantized weights, and where they are. */
size_t peer_bytes(const struct peer *p);
const void *peer_data(const struct peer *p, unsigned int copy);
/* y = W x through ggml's MUL_MAT on copy @copy, @threads threads; 0 or -EIO. */
int peer_gemv(struct peer *p, unsigned int copy, unsigned int threads);
/* The last result of copy @copy into @y (rows floats). */
void peer_result(const struct peer *p, unsigned int copy, float *y);
/* Wake the workers of the @threads pool (untimed) before peer_gemv(). */
void peer_resume(unsigned int threads);
/* Park ggml's worker threads (they spin after a call) before timing others. */
void peer_pause(void);

#endif
