// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Store format core: validation of the superblock and directory, tile CRCs,
 * sealing, and the geometry helpers writers share.  Shared by libcxlms and
 * cxlms.ko, so it must never trust a byte of the store: every offset is
 * checked against the store size with overflow-checked arithmetic before
 * anything behind it is read.
 */
#include "store_format.h"

_Static_assert(sizeof(struct cxlms_sb) == 256, "superblock is 256 bytes");
_Static_assert(sizeof(struct cxlms_sb) <= CXLMS_SB_BYTES, "sb fits its area");
_Static_assert(sizeof(struct cxlms_dirent) == 512, "dirent is 512 bytes");

/* --- messages without snprintf (freestanding) ----------------------- */

struct msg {
	char *buf;
	cxlms_u32 len, pos;
};

static void msg_init(struct msg *m, char *buf, cxlms_u32 len)
{
	m->buf = buf;
	m->len = buf ? len : 0;
	m->pos = 0;
	if (m->len)
		buf[0] = '\0';
}

static void msg_c(struct msg *m, char c)
{
	if (m->pos + 1 < m->len) {
		m->buf[m->pos++] = c;
		m->buf[m->pos] = '\0';
	}
}

static void msg_s(struct msg *m, const char *s)
{
	while (*s)
		msg_c(m, *s++);
}

static void msg_u(struct msg *m, cxlms_u64 v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		msg_c(m, tmp[--n]);
}

/* A name from the store, bounded and with unprintable bytes as '?'. */
static void msg_name(struct msg *m, const char *name)
{
	cxlms_u32 i;

	msg_s(m, "tensor '");
	for (i = 0; i < CXLMS_NAME_MAX && name[i]; i++)
		msg_c(m, name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?');
	msg_c(m, '\'');
}

/* "tensor 'x': <what>" */
static int fail_d(struct msg *m, int err, const struct cxlms_dirent *d,
		  const char *what)
{
	msg_init(m, m->buf, m->len);
	msg_name(m, d->name);
	msg_s(m, ": ");
	msg_s(m, what);
	return -err;
}

static int fail(struct msg *m, int err, const char *what)
{
	msg_init(m, m->buf, m->len);
	msg_s(m, what);
	return -err;
}

/* --- CRCs and sealing ------------------------------------------------ */

static cxlms_u32 sb_crc(const struct cxlms_sb *sb)
{
	struct cxlms_sb tmp = *sb;

	tmp.sb_crc = 0;
	return cxlms_crc32c(0, &tmp, sizeof(tmp));
}

static cxlms_u32 dirent_crc(const struct cxlms_dirent *d)
{
	static const cxlms_u32 zero;
	cxlms_u32 crc;

	/* Everything up to entry_crc, which is the last field, then a zero. */
	crc = cxlms_crc32c(0, d, offsetof(struct cxlms_dirent, entry_crc));
	return cxlms_crc32c(crc, &zero, sizeof(zero));
}

void cxlms_sb_seal(struct cxlms_sb *sb)
{
	sb->sb_crc = sb_crc(sb);
}

void cxlms_dirent_seal(struct cxlms_dirent *d)
{
	d->entry_crc = dirent_crc(d);
}

cxlms_u32 cxlms_dir_crc(const struct cxlms_dirent *dir, cxlms_u32 count)
{
	return cxlms_crc32c(0, dir, (cxlms_u64)count * sizeof(*dir));
}

/* --- geometry helpers ------------------------------------------------- */

void cxlms_dirent_geom(const struct cxlms_dirent *d, struct cxlms_tile_geom *g)
{
	g->fmt = d->fmt;
	/* cols > 2^24 cannot pass cxlms_tile_layout; saturate, never wrap. */
	g->cols = d->cols > 0xffffffffull ? 0xffffffffu : (cxlms_u32)d->cols;
	g->group_size = d->group_size;
	g->tile_rows = d->tile_rows;
	g->flags = d->flags & CXLMS_DIRENT_SHORT_TAIL ? CXLMS_GEOM_SHORT_TAIL : 0;
}

cxlms_u64 cxlms_shape_rows(const cxlms_u64 *shape, cxlms_u32 ndim,
			   cxlms_u32 row_dims)
{
	cxlms_u64 rows = 1;
	cxlms_u32 i;

	if (!row_dims)
		row_dims = ndim ? ndim - 1 : 0;
	for (i = 0; i < row_dims && i < ndim; i++)
		if (__builtin_mul_overflow(rows, shape[i], &rows))
			return 0;
	return rows;
}

int cxlms_dirent_tile(const struct cxlms_dirent *d, cxlms_u32 t,
		      struct cxlms_tile_span *s, struct cxlms_tile_layout *l)
{
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout full, mine;
	cxlms_u32 n = cxlms_dirent_tile_elems(d, t);

	cxlms_dirent_geom(d, &g);
	if (!n || cxlms_tile_layout(&g, &full) || cxlms_tile_layout_n(&g, n, &mine))
		return -EINVAL;
	/* Only the last tile can be short, so every tile before it is full. */
	s->off = d->tile_off + (cxlms_u64)t * full.tile_bytes;
	s->bytes = mine.tile_bytes;
	s->first_row = (cxlms_u64)t * d->tile_rows;
	s->elems = n;
	s->rows = (cxlms_u32)(n / g.cols);
	if (l)
		*l = mine;
	return 0;
}

/* Bytes of all tiles, 0 and false on a bad geometry or overflow. */
static int tiles_bytes(const struct cxlms_dirent *d, cxlms_u64 *len)
{
	struct cxlms_tile_span last;
	cxlms_u64 before;

	*len = 0;
	if (!d->n_tiles || cxlms_dirent_tile(d, d->n_tiles - 1, &last, NULL))
		return 0;
	before = last.off - d->tile_off;	/* (n_tiles - 1) full tiles */
	if (last.off < d->tile_off ||
	    __builtin_add_overflow(before, last.bytes, len))
		return 0;
	return 1;
}

cxlms_u64 cxlms_dirent_tiles_bytes(const struct cxlms_dirent *d)
{
	cxlms_u64 len;

	return tiles_bytes(d, &len) ? len : 0;
}

cxlms_u32 cxlms_dirent_tile_elems(const struct cxlms_dirent *d, cxlms_u32 t)
{
	cxlms_u64 first, rows;

	if (t >= d->n_tiles || !d->tile_rows)
		return 0;
	first = (cxlms_u64)t * d->tile_rows;
	if (first >= d->rows)
		return 0;
	rows = d->rows - first;
	if (rows > d->tile_rows)
		rows = d->tile_rows;
	/* Validated entries keep tile_rows * cols <= CXLMS_TILE_MAX_ELEMS. */
	if (rows * d->cols > CXLMS_TILE_MAX_ELEMS)
		return 0;
	return (cxlms_u32)(rows * d->cols);
}

cxlms_u32 cxlms_default_tile_rows(cxlms_u64 rows, cxlms_u64 cols)
{
	cxlms_u64 tr;

	if (!rows || !cols || cols > CXLMS_TILE_MAX_ELEMS)
		return 0;
	tr = CXLMS_DIV_UP((cxlms_u64)CXLMS_TILE_TARGET_ELEMS, cols);
	if (tr > rows)
		tr = rows;
	if (tr * cols > CXLMS_TILE_MAX_ELEMS)
		tr = CXLMS_TILE_MAX_ELEMS / cols;
	return tr ? (cxlms_u32)tr : 1;
}

/* --- superblock ------------------------------------------------------ */

int cxlms_all_zero(const void *p, cxlms_u64 len)
{
	const cxlms_u8 *b = p;
	cxlms_u64 i;

	for (i = 0; i < len; i++)
		if (b[i])
			return 0;
	return 1;
}

/* [off, off + len) inside [lo, hi); false on overflow. */
static int range_in(cxlms_u64 off, cxlms_u64 len, cxlms_u64 lo, cxlms_u64 hi)
{
	cxlms_u64 end;

	if (__builtin_add_overflow(off, len, &end))
		return 0;
	return off >= lo && end <= hi;
}

cxlms_u64 cxlms_sb_slot_off(cxlms_u32 slot)
{
	return (cxlms_u64)(slot & 1) * CXLMS_SB_SLOT_BYTES;
}

static int sb_dual(const struct cxlms_sb *sb)
{
	return !!(sb->feature_incompat & CXLMS_FEAT_INCOMPAT_DUAL);
}

cxlms_u32 cxlms_sb_slot(const struct cxlms_sb *sb)
{
	return sb_dual(sb) ? (cxlms_u32)(sb->generation & 1) : 0;
}

cxlms_u64 cxlms_sb_dir_bytes(const struct cxlms_sb *sb)
{
	cxlms_u64 copy = (cxlms_u64)sb->dir_capacity * sizeof(struct cxlms_dirent);

	return sb_dual(sb) ? 2 * copy : copy;
}

cxlms_u64 cxlms_sb_dir_copy(const struct cxlms_sb *sb)
{
	return sb->dir_off + cxlms_sb_slot(sb) *
	       ((cxlms_u64)sb->dir_capacity * sizeof(struct cxlms_dirent));
}

/* The crc area: from the directory's end to the policy area or tiles. */
void cxlms_sb_crc_area(const struct cxlms_sb *sb, cxlms_u64 *lo, cxlms_u64 *hi)
{
	*lo = sb->dir_off + cxlms_sb_dir_bytes(sb);
	*hi = sb->policy_bytes ? sb->policy_off :
	      sb->meta_bytes ? sb->meta_off : sb->data_off;
}

int cxlms_sb_check(const void *store, cxlms_u64 avail, char *why,
		   cxlms_u32 why_len)
{
	const struct cxlms_sb *sb = store;
	struct msg m;
	cxlms_u64 dir_len, dir_end, next;

	msg_init(&m, why, why_len);
	if (avail < sizeof(sb->magic) ||
	    memcmp(sb->magic, CXLMS_STORE_MAGIC, sizeof(sb->magic)))
		return fail(&m, CXLMS_EFOREIGN, "not a cxlms store (bad magic)");
	if (avail < sizeof(*sb))
		return fail(&m, CXLMS_ETRUNCATED, "store shorter than its superblock");
	if (sb->version != CXLMS_STORE_VERSION) {
		fail(&m, CXLMS_EVERSION, "unsupported store format version ");
		msg_u(&m, sb->version);
		return -CXLMS_EVERSION;
	}
	if (sb->feature_incompat & ~CXLMS_FEAT_INCOMPAT_KNOWN)
		return fail(&m, CXLMS_EVERSION, "store uses unknown incompatible features");
	if (sb->sb_crc != sb_crc(sb))
		return fail(&m, CXLMS_ECHECKSUM, "superblock checksum mismatch");
	if (avail < sb->store_bytes) {
		fail(&m, CXLMS_ETRUNCATED, "store truncated: superblock says ");
		msg_u(&m, sb->store_bytes);
		msg_s(&m, " bytes, only ");
		msg_u(&m, avail);
		msg_s(&m, " available");
		return -CXLMS_ETRUNCATED;
	}
	if (sb->sb_len != sizeof(*sb))
		return fail(&m, CXLMS_EINVALID, "superblock length mismatch");
	if (!cxlms_all_zero(sb->reserved, sizeof(sb->reserved)) || sb->pad)
		return fail(&m, CXLMS_EINVALID, "superblock reserved fields not zero");
	if (sb->store_bytes < CXLMS_SB_BYTES)
		return fail(&m, CXLMS_EINVALID, "store smaller than its superblock area");

	/* Areas in order: sb, directory, crc area, policy (optional), tiles. */
	dir_len = cxlms_sb_dir_bytes(sb);
	if (sb->dir_off % CXLMS_ALIGN ||
	    !range_in(sb->dir_off, dir_len, CXLMS_SB_BYTES, sb->store_bytes))
		return fail(&m, CXLMS_EINVALID, "directory area out of bounds or misaligned");
	if (sb->dir_count > sb->dir_capacity)
		return fail(&m, CXLMS_EINVALID, "directory count exceeds its capacity");
	dir_end = sb->dir_off + dir_len;
	next = dir_end;
	if (!sb->policy_bytes != !sb->policy_off)
		return fail(&m, CXLMS_EINVALID, "policy area offset and size disagree");
	if (sb->policy_bytes) {
		if (sb->policy_off % CXLMS_ALIGN ||
		    !range_in(sb->policy_off, sb->policy_bytes, dir_end, sb->store_bytes))
			return fail(&m, CXLMS_EINVALID,
				    "policy area out of bounds, misaligned or overlapping");
		next = sb->policy_off + sb->policy_bytes;
	}
	if (!sb->meta_bytes != !sb->meta_off ||
	    !sb->meta_bytes != !(sb->feature_incompat & CXLMS_FEAT_INCOMPAT_META))
		return fail(&m, CXLMS_EINVALID,
			    "metadata area offset, size and feature bit disagree");
	if (sb->meta_bytes) {
		if (sb->meta_off % CXLMS_ALIGN ||
		    !range_in(sb->meta_off, sb->meta_bytes, next, sb->store_bytes))
			return fail(&m, CXLMS_EINVALID,
				    "metadata area out of bounds, misaligned or overlapping");
		next = sb->meta_off + sb->meta_bytes;
	}
	if (sb->data_off % CXLMS_DATA_ALIGN ||
	    !range_in(sb->data_off, sb->data_bytes, next, sb->store_bytes))
		return fail(&m, CXLMS_EINVALID,
			    "data area out of bounds, misaligned or overlapping");
	if (sb->data_used > sb->data_bytes)
		return fail(&m, CXLMS_EINVALID, "data area use exceeds its size");
	return 0;
}

/* --- directory ------------------------------------------------------- */

/* A byte range owned by one tensor, for the overlap check. */
struct owned_range {
	cxlms_u64 start, end;
	cxlms_u32 idx;
};

static int cmp_range(const void *a, const void *b)
{
	const struct owned_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_name(const void *a, const void *b)
{
	const struct cxlms_dirent *x = *(const struct cxlms_dirent * const *)a;
	const struct cxlms_dirent *y = *(const struct cxlms_dirent * const *)b;

	/* Names are validated NUL-padded, so memcmp orders them like strcmp. */
	return memcmp(x->name, y->name, CXLMS_NAME_MAX);
}

/* Checks of one entry that need no other entry. */
static int dirent_check(const struct cxlms_sb *sb, const struct cxlms_dirent *d,
			cxlms_u32 idx, struct msg *m)
{
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout l;
	cxlms_u64 rows, elems = 1, n_tiles, tiles_len, data_end, lo, hi;
	cxlms_u32 i, len;

	if (d->entry_crc != dirent_crc(d)) {
		msg_init(m, m->buf, m->len);
		msg_s(m, "directory entry ");
		msg_u(m, idx);
		msg_s(m, " (");
		msg_name(m, d->name);
		msg_s(m, "): entry checksum mismatch");
		return -CXLMS_ECHECKSUM;
	}
	for (len = 0; len < CXLMS_NAME_MAX && d->name[len]; len++)
		;
	if (len == CXLMS_NAME_MAX || !len) {
		msg_init(m, m->buf, m->len);
		msg_s(m, "directory entry ");
		msg_u(m, idx);
		msg_s(m, len ? ": name not NUL-terminated" : ": empty name");
		return -CXLMS_EINVALID;
	}
	if (!cxlms_all_zero(d->name + len, CXLMS_NAME_MAX - len))
		return fail_d(m, CXLMS_EINVALID, d, "bytes after the name's NUL not zero");
	if (d->src_dtype < CXLMS_DTYPE_F32 || d->src_dtype > CXLMS_DTYPE_I8)
		return fail_d(m, CXLMS_EINVALID, d, "unknown source dtype");
	if (!cxlms_fmt_planes(d->fmt))
		return fail_d(m, CXLMS_EINVALID, d, "unknown stored format");
	if (d->flags & ~CXLMS_DIRENT_FLAGS_KNOWN)
		return fail_d(m, CXLMS_EINVALID, d, "unknown flags");
	if ((d->flags & CXLMS_DIRENT_SHORT_TAIL) &&
	    !(sb->feature_incompat & CXLMS_FEAT_INCOMPAT_TIGHT))
		return fail_d(m, CXLMS_EINVALID, d,
			      "short last tile in a store without the feature bit");
	if (d->pad0 || d->pad1 || d->pad2 ||
	    !cxlms_all_zero(d->reserved, sizeof(d->reserved)))
		return fail_d(m, CXLMS_EINVALID, d, "reserved fields not zero");
	if (d->row_dims && !(sb->feature_incompat & CXLMS_FEAT_INCOMPAT_FOLD))
		return fail_d(m, CXLMS_EINVALID, d,
			      "row_dims set in a store without the feature bit");

	if (d->ndim < 1 || d->ndim > CXLMS_MAX_DIMS)
		return fail_d(m, CXLMS_EINVALID, d, "ndim outside 1..8");
	for (i = 0; i < CXLMS_MAX_DIMS; i++) {
		if (i >= d->ndim) {
			if (d->shape[i])
				return fail_d(m, CXLMS_EINVALID, d,
					      "shape entries past ndim not zero");
			continue;
		}
		if (!d->shape[i])
			return fail_d(m, CXLMS_EINVALID, d, "shape has a zero dimension");
		if (__builtin_mul_overflow(elems, d->shape[i], &elems))
			return fail_d(m, CXLMS_EINVALID, d, "shape overflows");
	}
	if (d->row_dims >= d->ndim && d->row_dims)
		return fail_d(m, CXLMS_EINVALID, d, "row_dims not below ndim");
	rows = cxlms_shape_rows(d->shape, d->ndim, d->row_dims);
	if (!rows || rows != d->rows || elems / rows != d->cols || elems % rows)
		return fail_d(m, CXLMS_EINVALID, d,
			      "rows/cols do not match the shape (leading dims folded)");

	cxlms_dirent_geom(d, &g);
	if (cxlms_tile_layout(&g, &l))
		return fail_d(m, CXLMS_EINVALID, d,
			      "invalid tile geometry (format, group size, tile rows, cols)");
	n_tiles = CXLMS_DIV_UP(d->rows, (cxlms_u64)d->tile_rows);
	if (n_tiles != d->n_tiles)
		return fail_d(m, CXLMS_EINVALID, d, "n_tiles is not ceil(rows / tile_rows)");

	data_end = sb->data_off + sb->data_used;
	if (sb->feature_incompat & CXLMS_FEAT_INCOMPAT_TIGHT ?
	    d->tile_off % CXLMS_ALIGN : d->tile_off % CXLMS_DATA_ALIGN)
		return fail_d(m, CXLMS_EINVALID, d, "tile offset misaligned");
	if (!tiles_bytes(d, &tiles_len) ||
	    !range_in(d->tile_off, tiles_len, sb->data_off, data_end)) {
		fail_d(m, CXLMS_EINVALID, d, "tile range [");
		msg_u(m, d->tile_off);
		msg_s(m, ", ");
		msg_u(m, d->tile_off + tiles_len);	/* may wrap: shown as is */
		msg_s(m, ") outside the used data area [");
		msg_u(m, sb->data_off);
		msg_s(m, ", ");
		msg_u(m, data_end);
		msg_c(m, ')');
		return -CXLMS_EINVALID;
	}
	cxlms_sb_crc_area(sb, &lo, &hi);
	if (d->crc_off % 4)
		return fail_d(m, CXLMS_EINVALID, d, "tile CRC array misaligned");
	if (!range_in(d->crc_off, 4 * n_tiles, lo, hi)) {
		fail_d(m, CXLMS_EINVALID, d, "tile CRC array [");
		msg_u(m, d->crc_off);
		msg_s(m, ", ");
		msg_u(m, d->crc_off + 4 * n_tiles);
		msg_s(m, ") outside the CRC area [");
		msg_u(m, lo);
		msg_s(m, ", ");
		msg_u(m, hi);
		msg_c(m, ')');
		return -CXLMS_EINVALID;
	}
	return 0;
}

/* Sorted ranges: report the first two that overlap. */
static int overlap_check(const struct cxlms_dirent *dir, struct owned_range *r,
			 cxlms_u32 n, const char *what, struct msg *m)
{
	cxlms_u32 i, max_i = 0;

	cxlms_sort(r, n, sizeof(*r), cmp_range);
	for (i = 1; i < n; i++) {
		if (r[i].start < r[max_i].end) {
			fail_d(m, CXLMS_EINVALID, &dir[r[i].idx], what);
			msg_s(m, " overlaps that of ");
			msg_name(m, dir[r[max_i].idx].name);
			return -CXLMS_EINVALID;
		}
		if (r[i].end > r[max_i].end)
			max_i = i;
	}
	return 0;
}

int cxlms_dir_check(const void *store, cxlms_u64 avail, char *why,
		    cxlms_u32 why_len)
{
	struct cxlms_sb sb;

	return cxlms_store_pick(store, avail, &sb, NULL, why, why_len);
}

int cxlms_sb_slot_check(const struct cxlms_sb *sb, cxlms_u32 slot,
			cxlms_u64 avail, char *why, cxlms_u32 why_len)
{
	struct msg m;
	int ret;

	ret = cxlms_sb_check(sb, avail, why, why_len);
	if (ret)
		return ret;
	msg_init(&m, why, why_len);
	if (slot > 1 || (slot && !sb_dual(sb)))
		return fail(&m, CXLMS_EINVALID, "single-copy superblock in slot 1");
	if (cxlms_sb_slot(sb) != slot)
		return fail(&m, CXLMS_EINVALID,
			    "superblock generation does not match its slot");
	return 0;
}

int cxlms_sb_newer(const struct cxlms_sb *a, const struct cxlms_sb *b)
{
	/* Serial number arithmetic: a wrapped counter still moves forward. */
	return (long long)(a->generation - b->generation) > 0;
}

cxlms_u32 cxlms_slot_order(const struct cxlms_sb *s0, int ok0,
			   const struct cxlms_sb *s1, int ok1, cxlms_u32 order[2])
{
	cxlms_u32 n = 0;

	/* A single-copy store is slot 0 alone, whatever sits at slot 1. */
	if (ok0 && !sb_dual(s0)) {
		order[0] = 0;
		return 1;
	}
	/* The slot checks keep the parities apart: never equal generations. */
	if (ok0 && ok1 && cxlms_sb_newer(s1, s0)) {
		order[n++] = 1;
		order[n++] = 0;
		return n;
	}
	if (ok0)
		order[n++] = 0;
	if (ok1)
		order[n++] = 1;
	return n;
}

int cxlms_store_pick(const void *store, cxlms_u64 avail, struct cxlms_sb *sb,
		     cxlms_u32 *slot, char *why, cxlms_u32 why_len)
{
	const cxlms_u8 *base = store;
	struct cxlms_sb s[2];
	cxlms_u32 order[2], n, i;
	int r[2], ret;

	/* Slot 0 first on the store itself: that check bounds short stores. */
	r[0] = cxlms_sb_check(store, avail, why, why_len);
	if (!r[0]) {
		memcpy(&s[0], base, sizeof(s[0]));
		r[0] = cxlms_sb_slot_check(&s[0], 0, avail, why, why_len);
	}
	/* Slot 1 can only help a DUAL store: its reason is never shown. */
	r[1] = -CXLMS_ETRUNCATED;
	if (avail >= CXLMS_SB_SLOT_BYTES + sizeof(s[1])) {
		memcpy(&s[1], base + CXLMS_SB_SLOT_BYTES, sizeof(s[1]));
		r[1] = cxlms_sb_slot_check(&s[1], 1, avail, NULL, 0);
	}
	n = cxlms_slot_order(&s[0], !r[0], &s[1], !r[1], order);
	ret = r[0];
	for (i = 0; i < n; i++) {
		const struct cxlms_sb *c = &s[order[i]];
		/* Only the first candidate's reason is worth telling. */
		int rc = cxlms_dir_check_at(c, (const struct cxlms_dirent *)
					    (base + cxlms_sb_dir_copy(c)), avail,
					    i ? NULL : why, i ? 0 : why_len);

		if (!rc) {
			if (why && why_len)
				why[0] = '\0';
			*sb = *c;
			if (slot)
				*slot = order[i];
			return 0;
		}
		if (!i)
			ret = rc;
	}
	return ret;
}

int cxlms_update_plan(struct cxlms_sb *sb, const struct cxlms_dirent *dir,
		      cxlms_u32 changed, struct cxlms_update_track *t,
		      struct cxlms_meta_write w[2])
{
	cxlms_u32 n = 0, first = 0, copy;

	sb->generation++;
	copy = cxlms_sb_slot(sb);
	if (!sb_dual(sb))
		first = changed;
	else if (t && t->copy_gen[copy] && t->copy_gen[copy] == sb->generation - 2)
		first = changed < t->last_changed ? changed : t->last_changed;
	sb->dir_crc = cxlms_dir_crc(dir, sb->dir_count);
	cxlms_sb_seal(sb);
	if (first < sb->dir_count) {
		w[n].off = cxlms_sb_dir_copy(sb) +
			   (cxlms_u64)first * sizeof(struct cxlms_dirent);
		w[n].len = (cxlms_u64)(sb->dir_count - first) *
			   sizeof(struct cxlms_dirent);
		w[n].src = dir + first;
		n++;
	}
	w[n].off = cxlms_sb_slot_off(cxlms_sb_slot(sb));
	w[n].len = sizeof(*sb);
	w[n].src = sb;
	if (t) {
		t->copy_gen[copy] = sb->generation;
		t->last_changed = changed;
	}
	return (int)(n + 1);
}

int cxlms_dir_check_at(const struct cxlms_sb *sb, const struct cxlms_dirent *dir,
		       cxlms_u64 avail, char *why, cxlms_u32 why_len)
{
	const struct cxlms_dirent **names = NULL;
	struct owned_range *r = NULL;
	struct msg m;
	cxlms_u32 i, n;
	int ret;

	/* Again, on this copy: the caller may have re-read the superblock. */
	ret = cxlms_sb_check(sb, avail, why, why_len);
	if (ret)
		return ret;
	msg_init(&m, why, why_len);
	n = sb->dir_count;
	if (cxlms_dir_crc(dir, n) != sb->dir_crc)
		return fail(&m, CXLMS_ECHECKSUM, "directory checksum mismatch");
	for (i = 0; i < n; i++) {
		ret = dirent_check(sb, &dir[i], i, &m);
		if (ret)
			return ret;
	}
	if (n < 2)
		return 0;

	/* Cross-entry checks: sort instead of comparing every pair. */
	r = cxlms_alloc_array(n, sizeof(*r));
	names = cxlms_alloc_array(n, sizeof(*names));
	if (!r || !names) {
		ret = fail(&m, ENOMEM, "out of memory validating the directory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		r[i].start = dir[i].tile_off;
		r[i].end = dir[i].tile_off + cxlms_dirent_tiles_bytes(&dir[i]);
		r[i].idx = i;
	}
	ret = overlap_check(dir, r, n, "tile range", &m);
	if (ret)
		goto out;
	for (i = 0; i < n; i++) {
		r[i].start = dir[i].crc_off;
		r[i].end = dir[i].crc_off + 4ull * dir[i].n_tiles;
		r[i].idx = i;
	}
	ret = overlap_check(dir, r, n, "tile CRC array", &m);
	if (ret)
		goto out;

	for (i = 0; i < n; i++)
		names[i] = &dir[i];
	cxlms_sort(names, n, sizeof(*names), cmp_name);
	for (i = 1; i < n; i++) {
		if (!cmp_name(&names[i - 1], &names[i])) {
			ret = fail_d(&m, CXLMS_EINVALID, names[i], "duplicate name");
			goto out;
		}
	}
out:
	cxlms_free(r);
	cxlms_free(names);
	return ret;
}

int cxlms_tile_crc_check(const void *store, const struct cxlms_dirent *d,
			 char *why, cxlms_u32 why_len)
{
	const cxlms_u8 *base = store;
	struct cxlms_tile_span sp;
	struct msg m;
	cxlms_u32 t;

	msg_init(&m, why, why_len);
	if (cxlms_dirent_tile(d, 0, &sp, NULL))
		return fail_d(&m, CXLMS_EINVALID, d, "invalid tile geometry");
	if (!(d->flags & CXLMS_DIRENT_SEALED))
		return fail_d(&m, CXLMS_EINVALID, d, "not sealed: tile CRCs not valid");
	for (t = 0; t < d->n_tiles; t++) {
		cxlms_u32 want, got;

		cxlms_dirent_tile(d, t, &sp, NULL);
		memcpy(&want, base + d->crc_off + 4ull * t, sizeof(want));
		got = cxlms_crc32c(0, base + sp.off, sp.bytes);
		if (got != want) {
			fail_d(&m, CXLMS_ECHECKSUM, d, "tile ");
			msg_u(&m, t);
			msg_s(&m, " checksum mismatch");
			return -CXLMS_ECHECKSUM;
		}
	}
	return 0;
}
