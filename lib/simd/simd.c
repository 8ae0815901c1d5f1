// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Run-time dispatch of the bit-plane kernels.
 *
 * This file is built for baseline x86-64: it only asks the CPU what it
 * has and calls into the per-ISA objects when it may.  Every request is
 * validated with the portable codec's own functions first, and anything
 * invalid or unusual is handed to the portable codec whole, so errors and
 * edge cases are the reference's by construction.  Placement splits a
 * range into an unaligned head (portable), whole 512-element blocks
 * (SIMD, streaming stores) and a tail (portable): the codec guarantees
 * any split gives the same planes.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simd_priv.h"
#include "store_format.h"

static const char *const isa_names[CXLMS_ISA_COUNT] = {
	[CXLMS_ISA_PORTABLE] = "portable",
	[CXLMS_ISA_AVX2] = "avx2",
	[CXLMS_ISA_AVX512] = "avx512",
	[CXLMS_ISA_GFNI] = "gfni",
};

static pthread_once_t simd_once = PTHREAD_ONCE_INIT;
static enum cxlms_simd_isa cur_isa;
static const struct simd_ops *cur_ops;	/* NULL: portable */
static char isa_note[160];
static unsigned long portable_calls;

unsigned long cxlms_simd_portable_calls(void)
{
	return __atomic_load_n(&portable_calls, __ATOMIC_RELAXED);
}

/* Count only valid requests: invalid ones go to the codec for its error. */
static inline void count_portable(void)
{
	__atomic_fetch_add(&portable_calls, 1, __ATOMIC_RELAXED);
}

const char *cxlms_simd_isa_str(enum cxlms_simd_isa isa)
{
	return (unsigned int)isa < CXLMS_ISA_COUNT ? isa_names[isa] : "unknown";
}

int cxlms_simd_isa_supported(enum cxlms_simd_isa isa)
{
#if defined(__x86_64__) && defined(CXLMS_HAVE_SIMD)
	__builtin_cpu_init();
	switch (isa) {
	case CXLMS_ISA_PORTABLE:
		return 1;
	case CXLMS_ISA_AVX2:
		return __builtin_cpu_supports("avx2");
	case CXLMS_ISA_AVX512:
		return __builtin_cpu_supports("avx512f") &&
		       __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512vl");
	case CXLMS_ISA_GFNI:
		return __builtin_cpu_supports("avx512f") &&
		       __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512vl") &&
		       __builtin_cpu_supports("avx512vbmi") &&
		       __builtin_cpu_supports("gfni");
	default:
		return 0;
	}
#else
	return isa == CXLMS_ISA_PORTABLE;
#endif
}

static const struct simd_ops *isa_ops(enum cxlms_simd_isa isa)
{
#if defined(__x86_64__) && defined(CXLMS_HAVE_SIMD)
	switch (isa) {
	case CXLMS_ISA_AVX2:
		return cxlms_simd_ops_avx2();
	case CXLMS_ISA_AVX512:
		return cxlms_simd_ops_avx512();
	case CXLMS_ISA_GFNI:
		return cxlms_simd_ops_gfni();
	default:
		break;
	}
#endif
	return NULL;
}

static enum cxlms_simd_isa best_isa(void)
{
	int isa;

	for (isa = CXLMS_ISA_COUNT - 1; isa > CXLMS_ISA_PORTABLE; isa--)
		if (cxlms_simd_isa_supported((enum cxlms_simd_isa)isa))
			return (enum cxlms_simd_isa)isa;
	return CXLMS_ISA_PORTABLE;
}

static void simd_init(void)
{
	const char *force = getenv("CXLMS_FORCE_ISA");
	enum cxlms_simd_isa isa = best_isa();
	int i;

	if (force && *force) {
		for (i = 0; i < CXLMS_ISA_COUNT; i++)
			if (!strcmp(force, isa_names[i]))
				break;
		if (i == CXLMS_ISA_COUNT)
			snprintf(isa_note, sizeof(isa_note),
				 "CXLMS_FORCE_ISA=%.40s is unknown "
				 "(portable, avx2, avx512, gfni); using %s",
				 force, isa_names[isa]);
		else if (!cxlms_simd_isa_supported((enum cxlms_simd_isa)i))
			snprintf(isa_note, sizeof(isa_note),
				 "CXLMS_FORCE_ISA=%s is not supported by this CPU; using %s",
				 force, isa_names[isa]);
		else
			isa = (enum cxlms_simd_isa)i;
	}
	cur_isa = isa;
	cur_ops = isa_ops(isa);
}

static inline const struct simd_ops *simd_ops(void)
{
	pthread_once(&simd_once, simd_init);
	return cur_ops;
}

const char *cxlms_simd_isa_name(void)
{
	simd_ops();
	return isa_names[cur_isa];
}

const char *cxlms_simd_isa_note(void)
{
	simd_ops();
	return isa_note[0] ? isa_note : NULL;
}

int cxlms_simd_set_isa(enum cxlms_simd_isa isa)
{
	simd_ops();
	if (!cxlms_simd_isa_supported(isa))
		return -EOPNOTSUPP;
	cur_isa = isa;
	cur_ops = isa_ops(isa);
	return 0;
}

/* --- fetch ------------------------------------------------------------ */

static inline cxlms_u16 get_le16(const cxlms_u8 *p)
{
	return (cxlms_u16)(p[0] | (p[1] << 8));
}

/* Q8.8 levels of the 2^k buckets, as the codec defines them. */
static void int8_levels(const cxlms_u8 *tile, const struct cxlms_tile_layout *l,
			cxlms_u32 k, int recon, cxlms_s16 *lv)
{
	cxlms_u32 u;

	for (u = 0; u < (1u << k); u++) {
		/* Sign-extended k-bit pattern scaled back to a code. */
		cxlms_s32 s = (cxlms_s32)(u << (32 - k)) >> (32 - k);
		cxlms_s32 floor_q8 = s * (1 << (8 - k)) * 256;

		if (k == 8)
			lv[u] = (cxlms_s16)floor_q8;
		else if (recon == CXLMS_RECON_FLOOR)
			lv[u] = (cxlms_s16)floor_q8;
		else if (recon == CXLMS_RECON_MIDPOINT)
			lv[u] = (cxlms_s16)(floor_q8 + (1 << (7 - k)) * 256);
		else
			lv[u] = (cxlms_s16)get_le16(tile + l->table_off +
						    2 * ((1u << k) - 2 + u));
	}
}

/* Inf/NaN scales are invalid input; their corner cases stay portable. */
static int scales_special(const cxlms_u8 *scales, cxlms_u64 len)
{
	cxlms_u64 i;

	for (i = 0; i < len; i += 2)
		if ((get_le16(scales + i) & 0x7c00) == 0x7c00)
			return 1;
	return 0;
}

/*
 * Scales and levels after the data, alignment gaps zeroed (as the codec):
 * the fetch's output bytes [data_len, total), written from @side on.
 */
static void int8_side_data(const struct simd_fetch *f,
			   const struct cxlms_fetch_layout *fl, cxlms_u8 *side)
{
	cxlms_u64 base = fl->data_len, end = fl->data_len;
	cxlms_u32 j;

	if (fl->scales_len) {
		memset(side, 0, fl->scales_off - end);
		memcpy(side + (fl->scales_off - base), f->tile + f->l->scales_off,
		       fl->scales_len);
		end = fl->scales_off + fl->scales_len;
	}
	if (fl->levels_len) {
		cxlms_u8 *lv = side + (fl->levels_off - base);

		memset(side + (end - base), 0, fl->levels_off - end);
		for (j = 0; j < (1u << f->k); j++) {
			lv[2 * j] = (cxlms_u8)f->levels[j];
			lv[2 * j + 1] = (cxlms_u8)((cxlms_u16)f->levels[j] >> 8);
		}
		end = fl->levels_off + fl->levels_len;
	}
	if (fl->total > end)
		memset(side + (end - base), 0, fl->total - end);
}

/*
 * Check a fetch and fill @f for the variant in use: 0, or 1 when the
 * portable codec must do it (invalid request, PLANES output, no kernel,
 * Inf/NaN scales for a float output).  @lv backs f->levels.
 */
static int fetch_prepare(const struct simd_ops *ops, const void *tile,
			 const struct cxlms_tile_geom *g, cxlms_u32 n_elems,
			 cxlms_u32 bits, cxlms_u32 out, cxlms_u32 recon,
			 struct cxlms_tile_layout *l, struct cxlms_fetch_layout *fl,
			 struct simd_fetch *f, cxlms_s16 lv[256])
{
	if (cxlms_fetch_layout(g, n_elems, bits, out, recon, fl) ||
	    cxlms_tile_layout_n(g, n_elems, l))
		return 1;
	/* PLANES is a memcpy per plane; the codec does that as well as anyone. */
	if (!ops || out == CXLMS_OUT_PLANES)
		return 1;
	memset(f, 0, sizeof(*f));
	f->tile = tile;
	f->g = g;
	f->l = l;
	f->n = n_elems;
	f->pf_n = n_elems;
	f->k = bits;
	f->out = out;
	f->recon = cxlms_recon_resolve(g->fmt, recon);
	f->levels = lv;
	if (g->fmt != CXLMS_FMT_INT8)
		return !ops->fetch_16;
	if (!ops->fetch_int8)
		return 1;
	if ((out == CXLMS_OUT_F32 || out == CXLMS_OUT_BF16) &&
	    scales_special(f->tile + l->scales_off,
			   (cxlms_u64)n_elems / g->cols * l->groups_per_row * 2))
		return 1;
	int8_levels(tile, l, bits, f->recon, lv);
	/*
	 * The scales are copied after the data: ask for them now, so
	 * their run is not a cold DRAM stream at the end (it costs
	 * ~20 % at k = 1, where the data is only 8x their size).
	 */
	for (cxlms_u64 o = 0; o < fl->scales_len; o += 64)
		__builtin_prefetch(f->tile + l->scales_off + o, 0, 2);
	return 0;
}

static int fetch_run(const struct simd_ops *ops, const struct simd_fetch *f)
{
	return f->g->fmt == CXLMS_FMT_INT8 ? ops->fetch_int8(f) : ops->fetch_16(f);
}

cxlms_s64 cxlms_simd_fetch_tile(const void *tile, const struct cxlms_tile_geom *g,
				cxlms_u32 n_elems, cxlms_u32 bits, cxlms_u32 out,
				cxlms_u32 recon, void *dst, cxlms_u64 dst_len)
{
	const struct simd_ops *ops = simd_ops();
	struct cxlms_fetch_layout fl;
	struct cxlms_tile_layout l;
	struct simd_fetch f;
	cxlms_s16 lv[256];

	if (fetch_prepare(ops, tile, g, n_elems, bits, out, recon, &l, &fl, &f, lv) ||
	    dst_len < fl.total)
		goto portable;
	f.dst = dst;
	if (fetch_run(ops, &f))
		goto portable;
	if (g->fmt == CXLMS_FMT_INT8)
		int8_side_data(&f, &fl, (cxlms_u8 *)dst + fl.data_len);
	return (cxlms_s64)fl.total;

portable:
	/* Invalid requests land here too: their errors are the codec's own. */
	if (!cxlms_fetch_layout(g, n_elems, bits, out, recon, &fl) && dst_len >= fl.total)
		count_portable();
	return cxlms_fetch_tile(tile, g, n_elems, bits, out, recon, dst, dst_len);
}

struct piece_ctx {
	cxlms_simd_piece_fn fn;
	void *arg;
	const cxlms_u8 *buf;
	cxlms_u32 elem_bits;	/* output bits per element */
	int ret;
};

static int piece_done(void *arg, cxlms_u32 first, cxlms_u32 count)
{
	struct piece_ctx *c = arg;

	c->ret = c->fn(c->arg, first, count, c->buf,
		       ((cxlms_u64)count * c->elem_bits + 7) / 8);
	return c->ret;
}

int cxlms_simd_fetch_pieces(const void *tile, const struct cxlms_tile_geom *g,
			    cxlms_u32 n_elems, cxlms_u32 bits, cxlms_u32 out,
			    cxlms_u32 recon, cxlms_u32 piece_elems, void *buf,
			    cxlms_u64 buf_len, void *side, cxlms_u64 side_len,
			    cxlms_simd_piece_fn fn, void *arg)
{
	const struct simd_ops *ops = simd_ops();
	struct cxlms_fetch_layout fl;
	struct cxlms_tile_layout l;
	struct piece_ctx c;
	struct simd_fetch f;
	cxlms_s16 lv[256];
	cxlms_u32 elem_bits;
	int rc = cxlms_fetch_layout(g, n_elems, bits, out, recon, &fl);

	if (rc)
		return rc;	/* the codec's own error */
	if (!piece_elems || piece_elems % SIMD_BLOCK)
		return -EINVAL;
	if (fetch_prepare(ops, tile, g, n_elems, bits, out, recon, &l, &fl, &f, lv) ||
	    !ops->pieces)
		return -EOPNOTSUPP;
	elem_bits = cxlms_out_elem_bits(l.n_planes, bits, out);
	if (side_len < fl.total - fl.data_len ||
	    buf_len < ((cxlms_u64)piece_elems * elem_bits + 7) / 8 + CXLMS_SIMD_PIECE_SLACK)
		return -ENOSPC;
	/* Side data first: the consumer may use the scales from the first piece on. */
	if (g->fmt == CXLMS_FMT_INT8)
		int8_side_data(&f, &fl, side);
	c = (struct piece_ctx){ fn, arg, buf, elem_bits, 0 };
	f.dst = buf;
	f.piece_elems = piece_elems;
	f.piece_fn = piece_done;
	f.piece_arg = &c;
	if (fetch_run(ops, &f))
		return -EOPNOTSUPP;	/* declined before any piece */
	return c.ret;
}

/* --- placement -------------------------------------------------------- */

/*
 * Split [elem_off, elem_off + count) so the middle starts on a 64-byte
 * aligned plane byte: plane starts and strides are multiples of 64, so
 * one plane's alignment is every plane's.  Returns the number of whole
 * blocks of the middle, 0 when there is none.
 */
static cxlms_u32 place_split(const cxlms_u8 *planes, cxlms_u32 elem_off,
			     cxlms_u32 count, cxlms_u32 *head)
{
	uintptr_t addr = (uintptr_t)(planes + elem_off / 8);
	cxlms_u32 pad = (cxlms_u32)(-addr & (SIMD_BLOCK_BYTES - 1));

	if ((cxlms_u64)pad * 8 >= count)
		return 0;
	*head = pad * 8;
	return (count - *head) / SIMD_BLOCK;
}

/* One format's placement: the codec's function and its kernel. */
typedef int (*place_codec_fn)(void *tile, const struct cxlms_tile_geom *g,
			      cxlms_u32 n_elems, cxlms_u32 elem_off,
			      const void *src, cxlms_u32 count);
typedef void (*place_kernel_fn)(const struct simd_ops *ops, cxlms_u8 *planes,
				cxlms_u32 stride, const void *src, cxlms_u32 nblk,
				cxlms_u32 fmt);

static int codec_int8(void *tile, const struct cxlms_tile_geom *g, cxlms_u32 n_elems,
		      cxlms_u32 elem_off, const void *src, cxlms_u32 count)
{
	return cxlms_place_int8(tile, g, n_elems, elem_off, src, count);
}

static int codec_16(void *tile, const struct cxlms_tile_geom *g, cxlms_u32 n_elems,
		    cxlms_u32 elem_off, const void *src, cxlms_u32 count)
{
	return cxlms_place_16(tile, g, n_elems, elem_off, src, count);
}

static void kernel_int8(const struct simd_ops *ops, cxlms_u8 *planes, cxlms_u32 stride,
			const void *src, cxlms_u32 nblk, cxlms_u32 fmt)
{
	ops->place_int8(planes, stride, src, nblk);
}

static void kernel_16(const struct simd_ops *ops, cxlms_u8 *planes, cxlms_u32 stride,
		      const void *src, cxlms_u32 nblk, cxlms_u32 fmt)
{
	ops->place_16(planes, stride, src, nblk, fmt);
}

/*
 * A valid range (@esize bytes per element at @src) placed as codec head,
 * kernel middle of whole aligned blocks, codec tail; the codec whole when
 * there is no kernel (@kernel NULL) or no middle.  Any split of a range
 * gives the codec's planes.
 */
static int place_split_run(void *tile, const struct cxlms_tile_geom *g,
			   const struct cxlms_tile_layout *l, cxlms_u32 n_elems,
			   cxlms_u32 elem_off, const cxlms_u8 *src, cxlms_u32 count,
			   cxlms_u32 esize, place_codec_fn codec, place_kernel_fn kernel)
{
	cxlms_u8 *planes = (cxlms_u8 *)tile + l->planes_off;
	cxlms_u32 head = 0, nblk = 0, mid, rest;
	int ret;

	if (kernel)
		nblk = place_split(planes, elem_off, count, &head);
	if (!nblk) {
		count_portable();
		return codec(tile, g, n_elems, elem_off, src, count);
	}
	mid = nblk * SIMD_BLOCK;
	if (head) {
		ret = codec(tile, g, n_elems, elem_off, src, head);
		if (ret)
			return ret;
	}
	kernel(simd_ops(), planes + (elem_off + head) / 8, l->plane_stride,
	       src + (cxlms_u64)head * esize, nblk, g->fmt);
	rest = count - head - mid;
	if (rest)
		return codec(tile, g, n_elems, elem_off + head + mid,
			     src + (cxlms_u64)(head + mid) * esize, rest);
	return 0;
}

int cxlms_simd_place_int8(void *tile, const struct cxlms_tile_geom *g,
			  cxlms_u32 n_elems, cxlms_u32 elem_off,
			  const cxlms_s8 *codes, cxlms_u32 count)
{
	const struct simd_ops *ops = simd_ops();
	struct cxlms_tile_layout l;

	/* Invalid calls go to the codec whole, for its own error. */
	if (g->fmt != CXLMS_FMT_INT8 || cxlms_place_check(g, n_elems, elem_off, count, &l))
		return cxlms_place_int8(tile, g, n_elems, elem_off, codes, count);
	return place_split_run(tile, g, &l, n_elems, elem_off, (const cxlms_u8 *)codes,
			       count, 1, codec_int8,
			       ops && ops->place_int8 ? kernel_int8 : NULL);
}

int cxlms_simd_place_16(void *tile, const struct cxlms_tile_geom *g,
			cxlms_u32 n_elems, cxlms_u32 elem_off,
			const cxlms_u16 *vals, cxlms_u32 count)
{
	const struct simd_ops *ops = simd_ops();
	struct cxlms_tile_layout l;

	if ((g->fmt != CXLMS_FMT_BF16 && g->fmt != CXLMS_FMT_FP16) ||
	    cxlms_place_check(g, n_elems, elem_off, count, &l))
		return cxlms_place_16(tile, g, n_elems, elem_off, vals, count);
	return place_split_run(tile, g, &l, n_elems, elem_off, (const cxlms_u8 *)vals,
			       count, 2, codec_16,
			       ops && ops->place_16 ? kernel_16 : NULL);
}

/* --- CRC32C --------------------------------------------------------------- */

#if defined(__x86_64__)
/* SSE4.2's crc32 instruction computes CRC32C: the codec's CRC, 8 bytes a step. */
__attribute__((target("sse4.2")))
static cxlms_u32 crc32c_sse42(cxlms_u32 crc, const cxlms_u8 *p, cxlms_u64 len)
{
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((cxlms_u32)c, *p++);
		len--;
	}
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v));
		c = __builtin_ia32_crc32di(c, v);
	}
	while (len--)
		c = __builtin_ia32_crc32qi((cxlms_u32)c, *p++);
	return ~(cxlms_u32)c;
}
#endif

cxlms_u32 cxlms_simd_crc32c(cxlms_u32 crc, const void *buf, cxlms_u64 len)
{
#if defined(__x86_64__)
	static int have = -1;

	if (have < 0)
		have = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	if (have)
		return crc32c_sse42(crc, buf, len);
#endif
	return cxlms_crc32c(crc, buf, len);
}
