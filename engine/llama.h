/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Llama-architecture decoder on a cxlms store (docs/engine.md).
 *
 * Written only against the installed libcxlms API (<libcxlms.h>): it is
 * what an outside engine would write.  Every weight matrix is used
 * through cxlms_gemm() straight from the store's bit-planes, at the bits
 * chosen per tensor (explicit, per-tensor overrides or the store's
 * precision policy); norms are read once at full precision.  The
 * architecture comes from the config.json kept in the store's metadata
 * (or one passed in: stores on /dev/cxlmsN have no metadata area).
 *
 * Errors are -errno, never printed; cxlms_llama_last_error() says which
 * tensor or field (per thread).  -ENOEXEC the store is not a Llama model
 * (a tensor or config field missing or of the wrong shape), -ENOENT no
 * config.json, -ERANGE a token outside the vocabulary, -ENOSPC the
 * sequence would pass the context length.
 */
#ifndef CXLMS_LLAMA_H
#define CXLMS_LLAMA_H

#include <stddef.h>
#include <stdint.h>
#include <libcxlms.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cxlms_llama;

/* RoPE conventions: config.json key "cxlms_rope" ("half" when absent). */
enum cxlms_llama_rope {
	CXLMS_LLAMA_ROPE_HALF = 0,		/* HF rotate-half: (i, i + d/2) */
	CXLMS_LLAMA_ROPE_INTERLEAVED = 1,	/* llama2.c / Meta: (2i, 2i + 1) */
};

/**
 * struct cxlms_llama_config - the architecture, from config.json
 * Keys: hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, vocab_size (required); num_key_value_heads
 * (default: heads), rms_norm_eps (1e-6), rope_theta (10000),
 * max_position_embeddings (2048), tie_word_embeddings (false),
 * cxlms_rope ("half" | "interleaved").
 */
struct cxlms_llama_config {
	uint32_t dim, hidden, n_layers, n_heads, n_kv_heads, head_dim;
	uint32_t vocab, max_seq;
	float eps, rope_theta;
	int tied, rope;
};

/*
 * Hook: called with the input of every weight GEMV/GEMM before it runs:
 * @n_vec vectors of @cols floats, contiguous.  For calibration (the mean
 * squared activation per column a tile meets).
 */
typedef void (*cxlms_llama_hook_fn)(void *arg, struct cxlms_tensor *w,
				    const float *x, unsigned int n_vec,
				    unsigned int cols);

/**
 * struct cxlms_llama_opts - how to open
 * @size: sizeof(struct cxlms_llama_opts)
 * @bits: planes of the matrices: 0 all planes; 1..8 the int8 matrices'
 *	precision (16-bit ones stay at all planes); 9..15 also 16-bit
 *	matrices whose format serves it (fp16 >= 6, bf16 >= 9); or
 *	CXLMS_BITS_POLICY (each tile as the handle's context says:
 *	cxlms_set_context()).  cxlms_llama_set_tensor_bits() sets any tensor
 *	to any bits its format serves.
 * @gemv_flags: cxlms_gemv_opts.flags (CXLMS_GEMV_Q8_ACT)
 * @threads: GEMV threads (0, 1: the caller's only)
 * @max_seq: KV cache length (0: the config's max_position_embeddings)
 * @config_json, @config_len: a config.json to use instead of the store's
 * @hook, @hook_arg: see cxlms_llama_hook_fn (NULL: none)
 * @reserved: must be zero
 */
struct cxlms_llama_opts {
	uint32_t size;
	uint32_t bits;
	uint32_t gemv_flags;
	uint32_t threads;
	uint32_t max_seq;
	uint32_t reserved0;
	const char *config_json;
	size_t config_len;
	cxlms_llama_hook_fn hook;
	void *hook_arg;
	uint64_t reserved[2];
};

/* Parse a config.json (exposed for tools and tests). */
int cxlms_llama_parse_config(const char *json, size_t len,
			     struct cxlms_llama_config *cfg);

int cxlms_llama_open(struct cxlms_store *store, const struct cxlms_llama_opts *o,
		     struct cxlms_llama **model);
void cxlms_llama_free(struct cxlms_llama *m);
const struct cxlms_llama_config *cxlms_llama_get_config(struct cxlms_llama *m);

/*
 * Read the tensors whose names match @pattern (fnmatch) at @bits (0: all
 * planes, CXLMS_BITS_POLICY), overriding the default.  Returns how many
 * tensors of the model matched (0 is not an error), or -EINVAL.
 */
int cxlms_llama_set_tensor_bits(struct cxlms_llama *m, const char *pattern,
				unsigned int bits);
/* The bits tensor @name is read at (0: all planes), or -ENOENT. */
int cxlms_llama_get_tensor_bits(struct cxlms_llama *m, const char *name);

/* Forward flags */
#define CXLMS_LLAMA_LAST_ONLY	(1u << 0)	/* logits of the last token only */

/*
 * Run @n tokens at positions pos .. pos + n - 1 (pos: the tokens run
 * since the last reset), appending to the KV cache.  @logits gets
 * vocab floats per token ([n, vocab]), or of the last token only with
 * CXLMS_LLAMA_LAST_ONLY.  On an error nothing is appended.
 */
int cxlms_llama_forward(struct cxlms_llama *m, const int32_t *tokens,
			unsigned int n, float *logits, unsigned int flags);
/* Tokens in the KV cache. */
unsigned int cxlms_llama_get_pos(struct cxlms_llama *m);
/* Empty the KV cache. */
void cxlms_llama_reset(struct cxlms_llama *m);

/* What the last failing call of this thread was about ("" if nothing). */
const char *cxlms_llama_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* CXLMS_LLAMA_H */
