/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * DOC: cxlms user ABI
 *
 * One header shared by the kernel module (driver/), libcxlms (lib/) and the
 * bit-plane codec (codec/).  It defines the numbers both sides of the ABI
 * must agree on: stored formats, output formats, reconstruction modes and
 * precision limits.  The ioctl interface of /dev/cxlmsN is defined below
 * them (see docs/uapi.md).
 *
 * Rules (Documentation/process/botching-up-ioctls.rst): fixed-width types
 * only, __aligned_u64 for pointers and lengths, every struct starts with
 * size and flags, reserved fields must be zero, numbers only ever grow.
 */
#ifndef _UAPI_LINUX_CXLMS_H
#define _UAPI_LINUX_CXLMS_H

#include <linux/types.h>

/**
 * DOC: stored formats (CXLMS_FMT_*)
 *
 * How a tensor's elements are kept in the store.
 * @CXLMS_FMT_INT8: 8 planes of two's complement codes, symmetric per-group
 *	fp16 scales (value = code * scale), per-tile centroid tables.
 * @CXLMS_FMT_BF16: 16 planes of bfloat16 bit patterns.
 * @CXLMS_FMT_FP16: 16 planes of IEEE binary16 bit patterns.
 */
#define CXLMS_FMT_INT8		1
#define CXLMS_FMT_BF16		2
#define CXLMS_FMT_FP16		3

/**
 * DOC: source dtypes (CXLMS_DTYPE_*)
 *
 * The element type a tensor had in the file it was imported from; kept in
 * the tensor directory so tools can report it.
 */
#define CXLMS_DTYPE_F32		1
#define CXLMS_DTYPE_F16		2
#define CXLMS_DTYPE_BF16	3
#define CXLMS_DTYPE_I8		4

/**
 * DOC: output formats (CXLMS_OUT_*)
 *
 * What a fetch of the top k planes of a tile hands back.  n is the number of
 * elements in the tile, in row-major order.
 * @CXLMS_OUT_PLANES: k planes of ceil(n/8) bytes each, most significant
 *	plane first; element i is bit (i % 8) of byte (i / 8) of a plane.
 * @CXLMS_OUT_PACKED: the top k bits of every element as an unsigned k-bit
 *	pattern, packed LSB-first: element i occupies stream bits
 *	[i*k, i*k + k), stream bit j being bit (j % 8) of byte (j / 8).
 *	ceil(n*k/8) bytes.
 * @CXLMS_OUT_INT: one stored-width word per element (int8 for INT8 stores,
 *	the 16-bit pattern for BF16/FP16), reconstructed per the recon mode.
 * @CXLMS_OUT_F32: dequantized IEEE binary32.
 * @CXLMS_OUT_BF16: dequantized bfloat16 (round-to-nearest-even of F32).
 *
 * For INT8 stores, PLANES, PACKED and INT outputs are followed by side data
 * (see docs/format.md, "fetch output"): the tile's fp16 group scales and,
 * for PLANES and PACKED, the 2^k reconstruction levels of the chosen mode.
 */
#define CXLMS_OUT_PLANES	1
#define CXLMS_OUT_PACKED	2
#define CXLMS_OUT_INT		3
#define CXLMS_OUT_F32		4
#define CXLMS_OUT_BF16		5

/**
 * DOC: reconstruction modes (CXLMS_RECON_*)
 *
 * The value given back for the planes that were not read.
 * @CXLMS_RECON_DEFAULT: TABLE for INT8, MIDPOINT for BF16/FP16.
 * @CXLMS_RECON_FLOOR: dropped bits read as zero.
 * @CXLMS_RECON_MIDPOINT: dropped bits read as 100..0 (half a step up).
 * @CXLMS_RECON_TABLE: per-tile, per-k centroid of the codes in each bucket,
 *	weighted by the squared group scale (INT8 only).
 */
#define CXLMS_RECON_DEFAULT	0
#define CXLMS_RECON_FLOOR	1
#define CXLMS_RECON_MIDPOINT	2
#define CXLMS_RECON_TABLE	3

/* Largest plane count of any format; valid bits are 1..n_planes. */
#define CXLMS_MAX_PLANES	16
/* Fetch at the precision the handle's active context assigns (cxlmsd). */
#define CXLMS_BITS_POLICY	0xff

/* Tensor names are at most this long, terminating NUL included. */
#define CXLMS_NAME_MAX		256
/* Tensors have at most this many dimensions. */
#define CXLMS_MAX_DIMS		8

#endif /* _UAPI_LINUX_CXLMS_H */
