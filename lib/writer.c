// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Store writer.
 *
 * Layout of a new store (offsets grow downwards, see docs/format.md):
 *
 *	0		superblock slots 0 and 1 (CXLMS_SB_BYTES)
 *	4096		directory: two copies of dir_capacity entries, each
 *			rounded up to whole pages (CXLMS_FEAT_INCOMPAT_DUAL)
 *	...		tile CRC arrays, one per tensor, 64-byte aligned
 *	page		policy area, CXLMS_POLICY_DEFAULT_BYTES, zero
 *	64		metadata area, if there is metadata
 *	page		data: each tensor's tiles back to back, from a page
 *			boundary for tensors of CXLMS_TENSOR_PAGE_MIN bytes or
 *			more, from a 64-byte boundary for smaller ones
 *
 * Atomicity: the store is built in an unnamed O_TMPFILE inode in the
 * destination's directory and only gets a name once it is complete and on
 * disk: linkat() to a hidden temp name, rename() over the destination,
 * fsync() of the directory.  A process killed at any point before the
 * rename leaves the destination as it was, and (with O_TMPFILE) no file
 * behind.  Filesystems without O_TMPFILE get a hidden named temp file that
 * every error path unlinks.
 *
 * The store is crash-consistent in place too (format.md 1.5): it starts
 * at CXLMS_SB_FIRST_GENERATION, in superblock slot 0 with directory
 * copy 0; slot 1 and copy 1 stay zero until an update (cxlmsd never
 * rewrites them; the kernel's CREATE and SEAL do on a copied store).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "private.h"
#include "writer.h"

struct cxlms_writer {
	struct cxlms_ctx *ctx;
	unsigned int n;
	struct cxlms_dirent *dir;	/* planned entries */
	struct cxlms_tile_layout *layouts;
	bool *sealed;
	struct cxlms_sb sb;		/* planned superblock, sealed at commit */
	const void *meta;		/* metadata area image, caller's */

	char *path;
	char *base;			/* final name inside dirfd */
	int dirfd, fd;
	bool tmpfile;			/* O_TMPFILE: unnamed until commit */
	char tmp_name[NAME_MAX + 1];	/* named temp file, if any */
	uint8_t *map;
	bool committed;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static int plan_tensor(struct cxlms_writer *w, unsigned int i,
		       const struct cxlms_tensor_spec *s, unsigned int default_group)
{
	struct cxlms_dirent *d = &w->dir[i];
	const char *nm = s->name ? s->name : "";
	uint64_t elems = 1, rows, cols, tr, n_tiles;
	size_t len = s->name ? strnlen(s->name, CXLMS_NAME_MAX) : 0;
	unsigned int k;

	if (!len) {
		cxlms_err(w->ctx, "tensor %u: empty name", i);
		return -EINVAL;
	}
	if (len >= CXLMS_NAME_MAX) {
		cxlms_err(w->ctx, "tensor '%.64s...': name longer than %d bytes",
			  nm, CXLMS_NAME_MAX - 1);
		return -ENAMETOOLONG;
	}
	if (s->ndim < 1 || s->ndim > CXLMS_MAX_DIMS) {
		cxlms_err(w->ctx, "tensor '%s': rank %u outside 1..%d", nm,
			  s->ndim, CXLMS_MAX_DIMS);
		return -EINVAL;
	}
	for (k = 0; k < s->ndim; k++) {
		if (!s->shape[k]) {
			cxlms_err(w->ctx, "tensor '%s': dimension %u is zero", nm, k);
			return -EINVAL;
		}
		if (__builtin_mul_overflow(elems, s->shape[k], &elems)) {
			cxlms_err(w->ctx, "tensor '%s': shape overflows", nm);
			return -EINVAL;
		}
	}
	if (s->row_dims >= s->ndim && s->row_dims) {
		cxlms_err(w->ctx, "tensor '%s': fold of %u dims into rows leaves no column dim (rank %u)",
			  nm, s->row_dims, s->ndim);
		return -EINVAL;
	}
	rows = cxlms_shape_rows(s->shape, s->ndim, s->row_dims);
	cols = elems / rows;
	if (cols > CXLMS_TILE_MAX_ELEMS) {
		cxlms_err(w->ctx, "tensor '%s': rows of %llu elements exceed the %u-element tile limit",
			  nm, (unsigned long long)cols, CXLMS_TILE_MAX_ELEMS);
		return -EOPNOTSUPP;
	}
	tr = s->tile_rows ? s->tile_rows : cxlms_default_tile_rows(rows, cols);
	if (tr > rows)
		tr = rows;
	n_tiles = (rows + tr - 1) / tr;
	if (n_tiles > UINT32_MAX) {
		cxlms_err(w->ctx, "tensor '%s': %llu tiles, more than a directory entry holds",
			  nm, (unsigned long long)n_tiles);
		return -EINVAL;
	}

	memset(d, 0, sizeof(*d));
	memcpy(d->name, s->name, len);
	d->src_dtype = s->src_dtype;
	d->fmt = s->fmt;
	d->ndim = s->ndim;
	memcpy(d->shape, s->shape, s->ndim * sizeof(s->shape[0]));
	/* The legacy fold (every dim but the last) is stored as 0. */
	if (s->row_dims && s->row_dims != s->ndim - 1) {
		d->row_dims = s->row_dims;
		w->sb.feature_incompat |= CXLMS_FEAT_INCOMPAT_FOLD;
	}
	d->rows = rows;
	d->cols = cols;
	d->group_size = s->fmt == CXLMS_FMT_INT8 ?
			(s->group_size ? s->group_size : default_group) : 0;
	d->tile_rows = (uint32_t)tr;
	d->n_tiles = (uint32_t)n_tiles;
	if (rows % tr)
		d->flags |= CXLMS_DIRENT_SHORT_TAIL;	/* needs INCOMPAT_TIGHT */
	{
		struct cxlms_tile_geom g;

		cxlms_dirent_geom(d, &g);
		if (cxlms_tile_layout(&g, &w->layouts[i])) {
			cxlms_err(w->ctx, "tensor '%s': invalid tile geometry (format %u, group %u, %llu cols x %llu tile rows)",
				  nm, s->fmt, d->group_size, (unsigned long long)cols,
				  (unsigned long long)tr);
			return -EINVAL;
		}
	}
	return 0;
}

int cxlms_writer_new(struct cxlms_ctx *ctx, const struct cxlms_tensor_spec *specs,
		     unsigned int n, unsigned int default_group,
		     struct cxlms_writer **wp)
{
	return cxlms_writer_new_meta(ctx, specs, n, default_group, NULL, 0, wp);
}

int cxlms_writer_new_meta(struct cxlms_ctx *ctx,
			  const struct cxlms_tensor_spec *specs, unsigned int n,
			  unsigned int default_group, const void *meta,
			  size_t meta_len, struct cxlms_writer **wp)
{
	struct cxlms_writer *w;
	struct cxlms_sb *sb;
	uint64_t cap, off, tiles_len;
	unsigned int i;
	int rc;

	*wp = NULL;
	if (!default_group)
		default_group = CXLMS_GROUP_DEFAULT;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->ctx = cxlms_ref(ctx);
	w->dirfd = w->fd = -1;
	w->n = n;
	w->dir = calloc(n ? n : 1, sizeof(*w->dir));
	w->layouts = calloc(n ? n : 1, sizeof(*w->layouts));
	w->sealed = calloc(n ? n : 1, sizeof(*w->sealed));
	if (!w->dir || !w->layouts || !w->sealed) {
		rc = -ENOMEM;
		goto err;
	}
	for (i = 0; i < n; i++) {
		rc = plan_tensor(w, i, &specs[i], default_group);
		if (rc)
			goto err;
	}

	sb = &w->sb;
	memcpy(sb->magic, CXLMS_STORE_MAGIC, sizeof(sb->magic));
	sb->version = CXLMS_STORE_VERSION;
	sb->sb_len = sizeof(*sb);
	sb->feature_compat = CXLMS_FEAT_COMPAT_POLICY;
	/* Tensors below a page align to 64 bytes: a tight store. */
	sb->feature_incompat |= CXLMS_FEAT_INCOMPAT_TIGHT |
				CXLMS_FEAT_INCOMPAT_DUAL;
	sb->default_group = default_group;
	sb->generation = CXLMS_SB_FIRST_GENERATION;

	/* Directory: whole pages of entries, so the CRC area starts on a page. */
	cap = align_up((uint64_t)(n ? n : 1) * sizeof(struct cxlms_dirent),
		       CXLMS_DATA_ALIGN) / sizeof(struct cxlms_dirent);
	if (cap > UINT32_MAX) {
		rc = -EINVAL;
		goto err;
	}
	sb->dir_off = CXLMS_SB_BYTES;
	sb->dir_capacity = (uint32_t)cap;
	sb->dir_count = n;
	off = sb->dir_off + cxlms_sb_dir_bytes(sb);
	for (i = 0; i < n; i++) {
		off = align_up(off, CXLMS_ALIGN);
		w->dir[i].crc_off = off;
		off += 4ull * w->dir[i].n_tiles;
	}
	sb->policy_off = align_up(off, CXLMS_DATA_ALIGN);
	sb->policy_bytes = CXLMS_POLICY_DEFAULT_BYTES;
	off = sb->policy_off + sb->policy_bytes;
	if (meta_len) {
		sb->meta_off = align_up(off, CXLMS_ALIGN);
		sb->meta_bytes = meta_len;
		sb->feature_incompat |= CXLMS_FEAT_INCOMPAT_META;
		w->meta = meta;
		off = sb->meta_off + meta_len;
	}
	sb->data_off = align_up(off, CXLMS_DATA_ALIGN);
	off = sb->data_off;
	for (i = 0; i < n; i++) {
		/* tile_off 0 until planned: the bytes of the tiles themselves */
		tiles_len = cxlms_dirent_tiles_bytes(&w->dir[i]);
		off = align_up(off, tiles_len >= CXLMS_TENSOR_PAGE_MIN ?
				    CXLMS_DATA_ALIGN : CXLMS_ALIGN);
		w->dir[i].tile_off = off;
		if (!tiles_len ||
		    __builtin_add_overflow(off, tiles_len, &off) ||
		    off > (UINT64_MAX >> 2)) {
			cxlms_err(ctx, "tensor '%s': store size overflows", w->dir[i].name);
			rc = -EFBIG;
			goto err;
		}
	}
	sb->data_used = off - sb->data_off;
	sb->data_bytes = align_up(sb->data_used, CXLMS_DATA_ALIGN);
	sb->store_bytes = sb->data_off + sb->data_bytes;
	if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != sizeof(sb->uuid)) {
		rc = errno ? -errno : -EIO;
		cxlms_err(ctx, "getrandom: %s", strerror(-rc));
		goto err;
	}
	/* RFC 9562 version 4 (random) uuid */
	sb->uuid[6] = (sb->uuid[6] & 0x0f) | 0x40;
	sb->uuid[8] = (sb->uuid[8] & 0x3f) | 0x80;
	*wp = w;
	return 0;
err:
	cxlms_writer_free(w);
	return rc;
}

uint64_t cxlms_writer_store_bytes(const struct cxlms_writer *w)
{
	return w->sb.store_bytes;
}

const struct cxlms_dirent *cxlms_writer_dirent(const struct cxlms_writer *w,
					       unsigned int i)
{
	return i < w->n ? &w->dir[i] : NULL;
}

static void random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[16];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		/* Only uniqueness matters here, not unpredictability. */
		uint64_t x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uintptr_t)out;

		for (i = 0; i < sizeof(r); i++, x = x * 6364136223846793005ull + 1)
			r[i] = (uint8_t)(x >> 56);
	}
	for (i = 0; i < n && i < 2 * sizeof(r); i++)
		out[i] = hex[(r[i / 2] >> (4 * (i & 1))) & 0xf];
	out[i] = '\0';
}

/* ".<base>.<random>.tmp", the base cut so the whole fits NAME_MAX. */
static void make_tmp_name(struct cxlms_writer *w)
{
	char rnd[17];

	random_hex(rnd, 16);
	snprintf(w->tmp_name, sizeof(w->tmp_name), ".%.200s.%s.tmp", w->base, rnd);
}

/*
 * The destination may be new or a regular file (replaced by rename);
 * anything else (a device node, FIFO, socket, directory or symbolic link)
 * is refused with -EEXIST rather than replaced by the new store.
 */
static int check_dest(struct cxlms_writer *w)
{
	struct stat st;

	if (fstatat(w->dirfd, w->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode))
		return 0;
	cxlms_err(w->ctx, "%s: exists and is not a regular file: not replaced", w->path);
	return -EEXIST;
}

static int split_path(struct cxlms_writer *w, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (!*path || (slash && !slash[1])) {
		cxlms_err(w->ctx, "%s: not a file name", path);
		return -EINVAL;
	}
	w->base = strdup(slash ? slash + 1 : path);
	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!w->base || !dir) {
		free(dir);
		return -ENOMEM;
	}
	if (!strcmp(w->base, ".") || !strcmp(w->base, "..")) {
		cxlms_err(w->ctx, "%s: not a file name", path);
		free(dir);
		return -EINVAL;
	}
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		int rc = -errno;

		cxlms_err(w->ctx, "%s: directory %s: %s", path, dir, strerror(errno));
		free(dir);
		return rc;
	}
	free(dir);
	return check_dest(w);
}

static int open_temp(struct cxlms_writer *w)
{
	int tries;

	w->fd = openat(w->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (w->fd >= 0) {
		w->tmpfile = true;
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		cxlms_err(w->ctx, "%s: temporary file: %s", w->path, strerror(errno));
		return -errno;
	}
	/* No O_TMPFILE here: a hidden name, unlinked on every error path. */
	for (tries = 0; tries < 16; tries++) {
		make_tmp_name(w);
		w->fd = openat(w->dirfd, w->tmp_name,
			       O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
		if (w->fd >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	w->tmp_name[0] = '\0';
	cxlms_err(w->ctx, "%s: temporary file: %s", w->path, strerror(errno));
	return -errno;
}

int cxlms_writer_create(struct cxlms_writer *w, const char *path)
{
	uint64_t size = w->sb.store_bytes;
	unsigned int i;
	int rc;

	if (w->fd >= 0 || w->committed)
		return -EBUSY;
	w->path = strdup(path);
	if (!w->path)
		return -ENOMEM;
	rc = split_path(w, path);
	if (rc)
		return rc;
	rc = open_temp(w);
	if (rc)
		return rc;
	if (size > SIZE_MAX || (off_t)size < 0) {
		cxlms_err(w->ctx, "%s: store of %llu bytes too large", path,
			  (unsigned long long)size);
		return -EFBIG;
	}
	/*
	 * Reserve the blocks now: a shared mapping of a sparse file turns a
	 * full disk into SIGBUS on the first store to a page, not an error.
	 */
	if (fallocate(w->fd, 0, 0, (off_t)size) < 0) {
		if (errno != EOPNOTSUPP && errno != ENOSYS) {
			rc = -errno;
			cxlms_err(w->ctx, "%s: reserving %llu bytes: %s", path,
				  (unsigned long long)size, strerror(errno));
			return rc;
		}
		if (ftruncate(w->fd, (off_t)size) < 0) {
			rc = -errno;
			cxlms_err(w->ctx, "%s: ftruncate: %s", path, strerror(errno));
			return rc;
		}
	}
	w->map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      w->fd, 0);
	if (w->map == MAP_FAILED) {
		rc = -errno;
		w->map = NULL;
		cxlms_err(w->ctx, "%s: mmap: %s", path, strerror(errno));
		return rc;
	}
	if (w->sb.meta_bytes)
		memcpy(w->map + w->sb.meta_off, w->meta, w->sb.meta_bytes);
	/* Unsealed entries first; the superblock is written last, at commit. */
	for (i = 0; i < w->n; i++)
		memcpy(w->map + cxlms_sb_dir_copy(&w->sb) + (uint64_t)i * sizeof(*w->dir),
		       &w->dir[i], sizeof(*w->dir));
	return 0;
}

void *cxlms_writer_tile(struct cxlms_writer *w, unsigned int i,
			unsigned int tile)
{
	if (!w->map || i >= w->n || tile >= w->dir[i].n_tiles)
		return NULL;
	return w->map + w->dir[i].tile_off + (uint64_t)tile * w->layouts[i].tile_bytes;
}

uint64_t cxlms_writer_tile_bytes(const struct cxlms_writer *w, unsigned int i,
				 unsigned int tile)
{
	struct cxlms_tile_span sp;

	if (i >= w->n || cxlms_dirent_tile(&w->dir[i], tile, &sp, NULL))
		return 0;
	return sp.bytes;
}

int cxlms_writer_seal_tensor(struct cxlms_writer *w, unsigned int i)
{
	struct cxlms_dirent *d;
	unsigned int t;

	if (!w->map || i >= w->n)
		return -EINVAL;
	d = &w->dir[i];
	for (t = 0; t < d->n_tiles; t++) {
		uint32_t crc = cxlms_crc32c(0, cxlms_writer_tile(w, i, t),
					    cxlms_writer_tile_bytes(w, i, t));

		memcpy(w->map + d->crc_off + 4ull * t, &crc, 4);
	}
	d->flags |= CXLMS_DIRENT_SEALED;
	cxlms_dirent_seal(d);
	memcpy(w->map + cxlms_sb_dir_copy(&w->sb) + (uint64_t)i * sizeof(*d), d,
	       sizeof(*d));
	w->sealed[i] = true;
	return 0;
}

static int link_into_place(struct cxlms_writer *w)
{
	char proc[64];
	int tries, rc;

	if (w->tmpfile) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
		for (tries = 0; tries < 16; tries++) {
			make_tmp_name(w);
			rc = linkat(AT_FDCWD, proc, w->dirfd, w->tmp_name,
				    AT_SYMLINK_FOLLOW);
			/* Without /proc, AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH). */
			if (rc < 0 && errno == ENOENT)
				rc = linkat(w->fd, "", w->dirfd, w->tmp_name,
					    AT_EMPTY_PATH);
			if (!rc || errno != EEXIST)
				break;
		}
		if (rc < 0) {
			rc = -errno;
			w->tmp_name[0] = '\0';
			cxlms_err(w->ctx, "%s: linking the new store: %s",
				  w->path, strerror(errno));
			return rc;
		}
	}
	rc = check_dest(w);
	if (rc)
		return rc;	/* cxlms_writer_free() unlinks the temp name */
	if (renameat(w->dirfd, w->tmp_name, w->dirfd, w->base) < 0) {
		rc = -errno;
		cxlms_err(w->ctx, "%s: rename: %s", w->path, strerror(errno));
		return rc;	/* cxlms_writer_free() unlinks the temp name */
	}
	w->tmp_name[0] = '\0';
	w->committed = true;
	return 0;
}

int cxlms_writer_commit(struct cxlms_writer *w)
{
	uint64_t size = w->sb.store_bytes;
	unsigned int i;
	int rc;

	if (!w->map || w->committed)
		return -EINVAL;
	for (i = 0; i < w->n; i++) {
		if (!w->sealed[i]) {
			cxlms_err(w->ctx, "%s: tensor '%s' was never sealed",
				  w->path, w->dir[i].name);
			return -EINVAL;
		}
	}
	w->sb.dir_crc = cxlms_dir_crc((const struct cxlms_dirent *)
				      (w->map + cxlms_sb_dir_copy(&w->sb)), w->n);
	cxlms_sb_seal(&w->sb);
	/*
	 * Tiles, CRCs and directory durable before the superblock that makes
	 * them the store: a crash in between leaves no valid slot, never a
	 * valid slot over missing bytes (the file is not linked yet anyway).
	 */
	if (msync(w->map, (size_t)size, MS_SYNC) < 0) {
		rc = -errno;
		cxlms_err(w->ctx, "%s: syncing the new store: %s", w->path,
			  strerror(errno));
		return rc;
	}
	memcpy(w->map + cxlms_sb_slot_off(cxlms_sb_slot(&w->sb)), &w->sb,
	       sizeof(w->sb));

	if (msync(w->map, CXLMS_SB_BYTES, MS_SYNC) < 0 || fsync(w->fd) < 0) {
		rc = -errno;
		cxlms_err(w->ctx, "%s: syncing the new store: %s", w->path,
			  strerror(errno));
		return rc;
	}
	rc = link_into_place(w);
	if (rc)
		return rc;
	/* The rename is only durable once the directory is. */
	if (fsync(w->dirfd) < 0) {
		rc = -errno;
		cxlms_err(w->ctx, "%s: syncing the directory: %s", w->path,
			  strerror(errno));
		return rc;
	}
	return 0;
}

void cxlms_writer_free(struct cxlms_writer *w)
{
	if (!w)
		return;
	if (w->map)
		munmap(w->map, (size_t)w->sb.store_bytes);
	if (w->tmp_name[0] && w->dirfd >= 0)
		unlinkat(w->dirfd, w->tmp_name, 0);
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->path);
	free(w->base);
	free(w->dir);
	free(w->layouts);
	free(w->sealed);
	cxlms_unref(w->ctx);
	free(w);
}
