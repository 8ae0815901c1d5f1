/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SIMD variants of the bit-plane codec, chosen once at run time.
 *
 * Same signatures and byte-identical results as the portable codec
 * (codec/bitplane.h), which stays the reference and the kernel's path.
 * The library is built for baseline x86-64; each variant lives in its own
 * object compiled with its own -m flags and is only called when
 * __builtin_cpu_supports() says the CPU has it.  Anything a variant does
 * not handle (bad arguments, rare output/recon combinations, invalid
 * scales) goes to the portable codec, so errors are the codec's own.
 *
 * CXLMS_FORCE_ISA=portable|avx2|avx512|gfni forces a variant (tests,
 * comparisons).  An unknown or unsupported value falls back to the best
 * variant; cxlms_simd_isa_note() then says why.  The library never prints.
 */
#ifndef CXLMS_SIMD_H
#define CXLMS_SIMD_H

#include "bitplane.h"

enum cxlms_simd_isa {
	CXLMS_ISA_PORTABLE,
	CXLMS_ISA_AVX2,
	CXLMS_ISA_AVX512,	/* AVX-512 F+BW: mask-register kernels */
	CXLMS_ISA_GFNI,		/* AVX-512 BW+VBMI+GFNI: 8x8 bit transposes */
	CXLMS_ISA_COUNT,
};

cxlms_s64 cxlms_simd_fetch_tile(const void *tile, const struct cxlms_tile_geom *g,
				cxlms_u32 n_elems, cxlms_u32 bits, cxlms_u32 out,
				cxlms_u32 recon, void *dst, cxlms_u64 dst_len);
/*
 * A tile's data in pieces of @piece_elems elements (a multiple of 512),
 * each decoded into @buf and handed to @fn(@arg, first, count, buf, len)
 * while it is still in L1, never written to memory: what an engine that
 * consumes weights right away wants.  @side gets the fetch's side data
 * (output bytes [data_len, total) of cxlms_fetch_tile) before the first
 * piece.  @buf needs the piece's bytes plus CXLMS_SIMD_PIECE_SLACK.
 * Returns 0 when every piece went to @fn, @fn's non-zero answer (which
 * stops the fetch), the codec's error for a request it refuses, -EINVAL
 * for @piece_elems not a positive multiple of 512, -ENOSPC,
 * or -EOPNOTSUPP (before any piece) when the variant in use cannot:
 * the caller then fetches the whole tile and slices it.
 */
#define CXLMS_SIMD_PIECE_SLACK 128
typedef int (*cxlms_simd_piece_fn)(void *arg, cxlms_u32 first, cxlms_u32 count,
				   const void *data, cxlms_u64 len);
int cxlms_simd_fetch_pieces(const void *tile, const struct cxlms_tile_geom *g,
			    cxlms_u32 n_elems, cxlms_u32 bits, cxlms_u32 out,
			    cxlms_u32 recon, cxlms_u32 piece_elems, void *buf,
			    cxlms_u64 buf_len, void *side, cxlms_u64 side_len,
			    cxlms_simd_piece_fn fn, void *arg);
int cxlms_simd_place_int8(void *tile, const struct cxlms_tile_geom *g,
			  cxlms_u32 n_elems, cxlms_u32 elem_off,
			  const cxlms_s8 *codes, cxlms_u32 count);
int cxlms_simd_place_16(void *tile, const struct cxlms_tile_geom *g,
			cxlms_u32 n_elems, cxlms_u32 elem_off,
			const cxlms_u16 *vals, cxlms_u32 count);

/*
 * cxlms_crc32c() with SSE4.2's crc32 instruction where the CPU has it
 * (independent of CXLMS_FORCE_ISA: the result is the same either way).
 */
cxlms_u32 cxlms_simd_crc32c(cxlms_u32 crc, const void *buf, cxlms_u64 len);
/* Name of the variant in use ("portable", "avx2", "avx512", "gfni"). */
const char *cxlms_simd_isa_name(void);
/* Why CXLMS_FORCE_ISA was not honoured, or NULL. */
const char *cxlms_simd_isa_note(void);

/* For tests and the bench: does this CPU (and build) have @isa? */
int cxlms_simd_isa_supported(enum cxlms_simd_isa isa);
const char *cxlms_simd_isa_str(enum cxlms_simd_isa isa);
/*
 * Use @isa from now on (tests, bench); -EOPNOTSUPP if the CPU lacks it.
 * Not thread-safe against concurrent codec calls: call it between runs.
 */
int cxlms_simd_set_isa(enum cxlms_simd_isa isa);

/*
 * Valid calls handed whole to the portable codec since start (a kernel
 * declined or none exists).  Tests use it to prove the SIMD path ran.
 */
unsigned long cxlms_simd_portable_calls(void);

#endif /* CXLMS_SIMD_H */
