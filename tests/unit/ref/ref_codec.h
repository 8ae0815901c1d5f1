/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Independent reference of the bit-plane codec for the unit tests.
 * Written plainly from docs/format.md: one bit at a time, double precision
 * arithmetic, no transposes, no shared code with codec/.  Slow on purpose.
 */
#ifndef CXLMS_REF_CODEC_H
#define CXLMS_REF_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Byte layout of a tile as the spec states it. */
struct ref_layout {
	unsigned n_planes, elems, gpr;
	size_t scales_off, scales_len, table_off, table_len, planes_off;
	size_t plane_len, plane_stride, tile_bytes;
};

/* Returns 0 or -1 if the geometry is invalid. */
int ref_layout(unsigned fmt, unsigned cols, unsigned group, unsigned tile_rows,
	       struct ref_layout *l);

/* Value of an fp16 bit pattern (Inf/NaN as such). */
double ref_fp16_value(uint16_t h);
/* f32 bits of an fp16 pattern: the value through double; NaN payload << 13. */
uint32_t ref_fp16_to_f32(uint16_t h);
/* bfloat16 nearest to the binary32 value of @f, ties to even; NaN quieted. */
uint16_t ref_f32_to_bf16(uint32_t f);
/* level/256 * scale rounded once to binary32. */
uint32_t ref_dequant(int32_t level_q8, uint16_t scale);

/* Element i of plane p of a tile (the plane bit order of the spec). */
int ref_get_bit(const uint8_t *tile, const struct ref_layout *l, unsigned p,
		size_t i);
/* Place codes / 16-bit values bit by bit into a zeroed tile. */
void ref_place_int8(uint8_t *tile, const struct ref_layout *l,
		    const int8_t *codes, size_t n);
void ref_place_16(uint8_t *tile, const struct ref_layout *l, unsigned fmt,
		  const uint16_t *vals, size_t n);

/* Top k bits of element i as an unsigned pattern, read bit by bit. */
unsigned ref_top_bits(const uint8_t *tile, const struct ref_layout *l,
		      unsigned k, size_t i);

/*
 * Exact (double) centroid of bucket u at k bits over the tile's codes,
 * weighted by the squared scale; *tol gets the Q8.8 tolerance that the
 * rounding of the stored level and the integer truncation of the weights
 * explain (see the .c file).  Returns the level * 256, or the bucket
 * midpoint * 256 when the bucket has no weight.
 */
double ref_centroid_q8(const int8_t *codes, const uint16_t *scales, size_t n,
		       unsigned cols, unsigned group, unsigned k, unsigned u,
		       double *tol);

/* Q8.8 level of bucket u at k bits for FLOOR (1) / MIDPOINT (2); k = 8: code. */
int32_t ref_level_q8(unsigned k, unsigned u, unsigned recon);

/* Reconstructed 16-bit pattern from the top k bits (recon FLOOR/MIDPOINT). */
uint16_t ref_recon16(unsigned fmt, uint16_t top_k_pattern, unsigned k,
		     unsigned recon);

/*
 * The whole fetch output (data, side data and zero gaps) of one tile,
 * computed per element from the tile's planes, scales and table bytes.
 * @recon must be resolved (FLOOR, MIDPOINT, TABLE).  Returns the total
 * size written into @out, or -1 for a combination the spec refuses.
 */
long ref_fetch(const uint8_t *tile, const struct ref_layout *l, unsigned fmt,
	       unsigned cols, unsigned group, size_t n, unsigned k,
	       unsigned out, unsigned recon, uint8_t *dst);

#endif
