/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers for the libcxlms unit tests: a log sink that records what the
 * library said, scratch directories, and a small safetensors writer (the
 * test's own, independent of lib/safetensors.c).
 */
#ifndef CXLMS_LIB_TESTUTIL_H
#define CXLMS_LIB_TESTUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libcxlms.h"

/* --- log capture --------------------------------------------------------- */

struct logcap {
	char buf[16384];
	size_t len;
	unsigned int count;	/* messages received */
};

/* A context whose log goes to @lc (LOG_ERR and up unless $CXLMS_LOG). */
struct cxlms_ctx *tu_ctx(struct logcap *lc);
void tu_log_clear(struct logcap *lc);
/* true if some logged message contains @needle */
bool tu_log_has(const struct logcap *lc, const char *needle);
/* cmocka-style check with the log printed on failure */
#define assert_logged(lc, needle)					\
	do {								\
		if (!tu_log_has(lc, needle)) {				\
			print_error("log lacks \"%s\"; log was:\n%s\n",	\
				    needle, (lc)->buf);			\
			fail();						\
		}							\
	} while (0)

/* --- files --------------------------------------------------------------- */

/* mkdtemp under $TMPDIR (or /tmp); tu_rmtree removes it with its contents. */
char *tu_mkdtemp(void);
void tu_rmtree(const char *dir);
char *tu_path(const char *dir, const char *name);	/* malloc'd */
int tu_write_file(const char *path, const void *buf, size_t len);
/* malloc'd contents, *len set; NULL on error */
void *tu_read_file(const char *path, size_t *len);
/* entries in @dir other than . and .. */
int tu_count_entries(const char *dir);

/* --- safetensors writer ---------------------------------------------------- */

struct tu_st_tensor {
	const char *name;
	const char *dtype;	/* "F32", "F16", "BF16", "I8", ... */
	unsigned int ndim;
	uint64_t shape[8];
	const void *data;
	size_t len;
};

/*
 * A well-formed safetensors image: header with data_offsets laid out back
 * to back in array order, space-padded to 8 bytes.  malloc'd, *len set.
 */
void *tu_st_build(const struct tu_st_tensor *t, size_t n, size_t *len);
int tu_st_write(const char *path, const struct tu_st_tensor *t, size_t n);
/* An image from a raw header text (length field @hlen_field) and data. */
void *tu_st_raw(const char *header, uint64_t hlen_field, const void *data,
		size_t dlen, size_t *len);

/* Deterministic PRNG (xorshift64*) and a heavy-tailed sample from it. */
uint64_t tu_rng(uint64_t *s);
double tu_uniform(uint64_t *s);		/* (0, 1) */
double tu_heavy(uint64_t *s);		/* Student-t-like, kurtosis >> 3 */

struct cxlms_tensor_spec;
/*
 * Write a store of @n tensors with the library's store writer, filled from
 * the rng at *@seed: INT8 tensors get heavy-tailed codes and finite scales
 * (every @zero_every-th scale 0: an all-zero group), 16-bit tensors random
 * patterns, all placed by the codec.  0 or -errno.
 */
int tu_write_random_store(const char *path,
			  const struct cxlms_tensor_spec *spec, unsigned int n,
			  uint64_t *seed, unsigned int zero_every);

/*
 * cxlms_fetch_pieces() of one tile checked against cxlms_fetch() of it:
 * the pieces come in order, cover the tile, carry the tile's bits, and
 * their data and side bytes are the fetch's.  Returns what
 * cxlms_fetch_pieces() returned (0, or the fetch's error, which must then
 * be cxlms_fetch()'s own and come before any piece); @mismatch says what
 * differed (NULL: nothing), @n_pieces how many came, @reused whether
 * every piece came in the same buffer (the cache-resident path).
 */
struct tu_pieces_result {
	const char *mismatch;
	unsigned int n_pieces;
	bool reused;
};

int tu_check_pieces(struct cxlms_store *s, struct cxlms_tensor *t,
		    unsigned int tile, unsigned int bits, unsigned int out,
		    unsigned int recon, size_t piece_bytes,
		    struct tu_pieces_result *res);

#endif /* CXLMS_LIB_TESTUTIL_H */
