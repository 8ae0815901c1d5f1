// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Precision maps in libcxlms: a handle's context, the CXLMS_BITS_POLICY
 * fetch path, and the single writer cxlmsd uses.
 *
 * Each handle maps the store's policy area on its own (MAP_SHARED on the
 * store fd, read-only for fetchers), so it sees cxlmsd's publishes without
 * any call.  The hot path is one acquire load of the generation, one load
 * of a per-handle cache word, a memcpy of the tile bits and a re-check of
 * the generation: no lock, no syscall.  The cache word packs the low 32
 * bits of the generation it was computed for with the offset of the
 * handle's map in the area; a new generation (or a new context) takes the
 * mutex once to validate the slot (CRC, directory match) and re-resolve
 * the context name.
 *
 * On a kernel store (/dev/cxlmsN) the maps live in the module: the
 * context is the fd's (SET_CONTEXT), a policy fetch is one FETCH ioctl
 * with CXLMS_BITS_POLICY (the module takes all tiles' bits from one
 * generation), bits are read back with GET_MAP and the writer publishes
 * with SET_MAP.  Same calls, same errors.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>

#include "private.h"
#include "policy.h"

_Static_assert(CXLMS_CONTEXT_NAME_MAX == CXLMS_POLICY_NAME_MAX,
	       "public and on-store context name limits agree");
_Static_assert(sizeof(struct cxlms_ioc_map_context) == sizeof(struct cxlms_policy_ctx) &&
	       CXLMS_MAP_NAME_MAX == CXLMS_POLICY_NAME_MAX,
	       "SET_MAP carries the policy area's context entries unchanged");

static bool is_kernel(const struct cxlms_store *s)
{
	return s->ops == &cxlms_kernel_backend;
}

struct cxlms_policy_handle {
	pthread_mutex_t lock;		/* slow path: validation, set_context */
	uint8_t *map;			/* page-aligned mapping */
	size_t map_len;
	const uint8_t *area;		/* the policy area inside it */
	uint64_t area_len;
	bool hdr_ok;			/* static header checked once */
	uint32_t *tiles;		/* tiles per tensor, directory order */
	uint32_t *base;			/* first map byte of each tensor */
	char context[CXLMS_POLICY_NAME_MAX];	/* "" = follow the default */
	uint64_t cache;			/* gen_lo32 << 32 | map offset; 0 = none */
	uint64_t checked_gen;		/* slot of this generation validated */
};

/* Serialises lazy creation of handles (rare: first policy call per store). */
static pthread_mutex_t policy_init_lock = PTHREAD_MUTEX_INITIALIZER;

static int map_area(struct cxlms_store *s, int prot, uint8_t **map,
		    size_t *map_len, uint8_t **area)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t off, delta;
	void *p;

	if (page <= 0)
		page = 4096;
	off = s->sb.policy_off / (uint64_t)page * (uint64_t)page;
	delta = s->sb.policy_off - off;
	p = mmap(NULL, (size_t)(delta + s->sb.policy_bytes), prot, MAP_SHARED,
		 s->fd, (off_t)off);
	if (p == MAP_FAILED) {
		int err = -errno;

		cxlms_err(s->ctx, "%s: mmap policy area: %s", s->path, strerror(-err));
		return err;
	}
	*map = p;
	*map_len = (size_t)(delta + s->sb.policy_bytes);
	*area = (uint8_t *)p + delta;
	return 0;
}

/* Stores without maps (old imports, other backends) say so clearly. */
static int policy_supported(struct cxlms_store *s)
{
	if (s->ops != &cxlms_file_backend) {
		cxlms_err(s->ctx, "%s: precision maps on the %s backend come with the kernel SET_MAP ioctl",
			  s->path, s->ops->name);
		return -EOPNOTSUPP;
	}
	if (!(s->sb.feature_compat & CXLMS_FEAT_COMPAT_POLICY) ||
	    s->sb.policy_bytes < CXLMS_POLICY_MIN_BYTES ||
	    s->sb.policy_bytes > UINT32_MAX) {
		cxlms_err(s->ctx, "%s: store has no policy area (re-import it to get one)",
			  s->path);
		return -EOPNOTSUPP;
	}
	return 0;
}

static uint32_t *tile_table(struct cxlms_store *s, uint32_t **base)
{
	uint32_t *tiles = calloc(s->n_tensors + 1, sizeof(*tiles));
	uint64_t sum = 0;
	unsigned int i;

	*base = calloc(s->n_tensors + 1, sizeof(**base));
	if (!tiles || !*base) {
		free(tiles);
		free(*base);
		*base = NULL;
		return NULL;
	}
	for (i = 0; i < s->n_tensors; i++) {
		tiles[i] = s->tensors[i].d.n_tiles;
		(*base)[i] = (uint32_t)sum;
		sum += tiles[i];
	}
	(*base)[s->n_tensors] = (uint32_t)sum;
	return tiles;
}

static void handle_free(struct cxlms_policy_handle *h)
{
	if (!h)
		return;
	if (h->map)
		munmap(h->map, h->map_len);
	free(h->tiles);
	free(h->base);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static int handle_get(struct cxlms_store *s, struct cxlms_policy_handle **out)
{
	struct cxlms_policy_handle *h;
	uint8_t *area;
	int rc;

	h = __atomic_load_n(&s->policy, __ATOMIC_ACQUIRE);
	if (h) {
		*out = h;
		return 0;
	}
	rc = policy_supported(s);
	if (rc)
		return rc;
	pthread_mutex_lock(&policy_init_lock);
	h = s->policy;
	if (h)
		goto done;
	h = calloc(1, sizeof(*h));
	if (!h) {
		rc = -ENOMEM;
		goto done;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->tiles = tile_table(s, &h->base);
	if (!h->tiles) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = map_area(s, PROT_READ, &h->map, &h->map_len, &area);
	if (rc)
		goto fail;
	h->area = area;
	h->area_len = s->sb.policy_bytes;
	__atomic_store_n(&s->policy, h, __ATOMIC_RELEASE);
	goto done;
fail:
	handle_free(h);
	h = NULL;
done:
	pthread_mutex_unlock(&policy_init_lock);
	*out = h;
	return h ? 0 : rc;
}

void cxlms_policy_release(struct cxlms_store *s)
{
	handle_free(s->policy);
	s->policy = NULL;
}

/*
 * Slow path, under h->lock: make sure the header and the slot of @gen are
 * sound, resolve @name in it and compute the cache word.  -EAGAIN when the
 * generation moved meanwhile (the caller starts over).
 */
static int resolve_locked(struct cxlms_store *s, struct cxlms_policy_handle *h,
			  uint64_t gen, const char *name, uint64_t *cache)
{
	char why[128];
	uint64_t map_off;
	int rc, idx;

	if (!h->hdr_ok) {
		rc = cxlms_policy_hdr_check(h->area, h->area_len, s->sb.uuid,
					    why, sizeof(why));
		if (rc == -CXLMS_EFOREIGN)
			return -ENODATA;	/* zeroed area: no daemon yet */
		if (rc) {
			cxlms_err(s->ctx, "%s: %s", s->path, why);
			return rc;
		}
		h->hdr_ok = true;
	}
	if (h->checked_gen != gen) {
		rc = cxlms_policy_slot_check(h->area, gen, s->n_tensors, h->tiles,
					     why, sizeof(why));
		if (cxlms_policy_read_retry(h->area, gen))
			return -EAGAIN;
		if (rc) {
			cxlms_err(s->ctx, "%s: %s", s->path, why);
			return rc;
		}
		h->checked_gen = gen;
	}
	idx = cxlms_policy_find_context(h->area, gen, name);
	rc = idx < 0 ? idx : cxlms_policy_map_offset(h->area, gen, (uint32_t)idx,
						     h->base[s->n_tensors], &map_off);
	if (cxlms_policy_read_retry(h->area, gen))
		return -EAGAIN;
	if (rc)
		return rc;
	*cache = (gen << 32) | map_off;
	return 0;
}

/* Cache word valid for @gen?  (map offsets are never 0: slots start at 256.) */
static bool cache_fresh(uint64_t cache, uint64_t gen)
{
	return cache && (uint32_t)(cache >> 32) == (uint32_t)gen;
}

int cxlms_policy_bits(struct cxlms_store *s, unsigned int tensor,
		      unsigned int first, unsigned int count, uint8_t *bits,
		      uint64_t *gen_out)
{
	struct cxlms_policy_handle *h;
	unsigned int tries = 0, i, planes;
	uint64_t gen, cache;
	int rc;

	if (!s || !bits || tensor >= s->n_tensors)
		return -EINVAL;
	if (count == 0 || first >= s->tensors[tensor].d.n_tiles ||
	    count > s->tensors[tensor].d.n_tiles - first)
		return -EINVAL;
	if (is_kernel(s)) {
		rc = cxlms_kernel_get_map(s, tensor, first, count, bits, &gen, NULL);
		if (rc == -ENOENT)
			cxlms_err(s->ctx, "%s: this handle's context is no longer in the precision maps",
				  s->path);
		if (rc)
			return rc;
		goto check;
	}
	rc = handle_get(s, &h);
	if (rc)
		return rc;
	for (;; tries++) {
		if (tries > 16)
			sched_yield();	/* a publish storm: let the writer finish */
		gen = cxlms_policy_read_begin(h->area);
		if (!gen)
			return -ENODATA;
		cache = __atomic_load_n(&h->cache, __ATOMIC_ACQUIRE);
		if (!cache_fresh(cache, gen)) {
			pthread_mutex_lock(&h->lock);
			rc = resolve_locked(s, h, gen, h->context, &cache);
			if (!rc)
				__atomic_store_n(&h->cache, cache, __ATOMIC_RELEASE);
			pthread_mutex_unlock(&h->lock);
			if (rc == -EAGAIN)
				continue;
			if (rc == -ENOENT)
				cxlms_err(s->ctx, "%s: context '%s' is no longer in the precision maps",
					  s->path, h->context);
			if (rc)
				return rc;
		}
		/* Offsets are the handle's own (validated): never out of the area. */
		memcpy(bits, h->area + (uint32_t)cache + h->base[tensor] + first, count);
		if (!cxlms_policy_read_retry(h->area, gen))
			break;
	}
check:
	/* The slot CRC held for this generation, but check what we hand out. */
	planes = s->tensors[tensor].layout.n_planes;
	for (i = 0; i < count; i++)
		if (bits[i] == 0 || bits[i] > planes) {
			cxlms_err(s->ctx, "%s: tensor '%s' tile %u: map says %u bits, tensor has %u planes",
				  s->path, s->tensors[tensor].d.name, first + i,
				  bits[i], planes);
			return -CXLMS_EINVALID;
		}
	if (gen_out)
		*gen_out = gen;
	return 0;
}

/* --- public calls -------------------------------------------------------- */

int cxlms_set_context(struct cxlms_store *store, const char *name)
{
	struct cxlms_policy_handle *h;
	uint64_t gen, cache;
	int rc;

	if (!store)
		return -EINVAL;
	if (!name)
		name = "";
	if (name[0] && !cxlms_policy_name_valid(name))
		return -ENOENT;		/* could never be in a map */
	if (is_kernel(store))
		return cxlms_kernel_set_context(store, name);
	rc = handle_get(store, &h);
	if (rc)
		return rc;
	pthread_mutex_lock(&h->lock);
	do {
		gen = cxlms_policy_read_begin(h->area);
		rc = gen ? resolve_locked(store, h, gen, name, &cache) : -ENODATA;
	} while (rc == -EAGAIN);
	if (!rc) {
		memset(h->context, 0, sizeof(h->context));
		memcpy(h->context, name, strlen(name));
		__atomic_store_n(&h->cache, cache, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&h->lock);
	if (rc == -ENOENT)
		cxlms_dbg(store->ctx, "%s: no context '%s' in the precision maps",
			  store->path, name);
	return rc;
}

int cxlms_get_context(struct cxlms_store *store, char *buf, size_t len)
{
	struct cxlms_policy_handle *h;
	char name[CXLMS_POLICY_NAME_MAX];
	uint64_t gen, cache;
	int rc, idx;

	if (!store || !buf)
		return -EINVAL;
	if (is_kernel(store)) {
		rc = cxlms_kernel_get_map(store, 0, 0, 0, NULL, NULL, name);
		if (rc)
			return rc;
		goto copy;
	}
	rc = handle_get(store, &h);
	if (rc)
		return rc;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		gen = cxlms_policy_read_begin(h->area);
		if (!gen) {
			rc = -ENODATA;
			break;
		}
		rc = resolve_locked(store, h, gen, h->context, &cache);
		if (rc == -EAGAIN)
			continue;
		if (rc)
			break;
		idx = cxlms_policy_find_context(h->area, gen, h->context);
		rc = idx < 0 ? idx : cxlms_policy_context_name(h->area, gen,
							       (uint32_t)idx, name);
		if (cxlms_policy_read_retry(h->area, gen))
			continue;
		break;
	}
	pthread_mutex_unlock(&h->lock);
	if (rc)
		return rc;
copy:
	name[sizeof(name) - 1] = '\0';
	if (strlen(name) + 1 > len)
		return -ERANGE;
	memcpy(buf, name, strlen(name) + 1);
	return 0;
}

int cxlms_policy_get_bits(struct cxlms_tensor *t, unsigned int first,
			  unsigned int count, uint8_t *bits,
			  uint64_t *generation)
{
	if (!t)
		return -EINVAL;
	return cxlms_policy_bits(t->store, t->index, first, count, bits,
				 generation);
}

/* --- the fetch path ------------------------------------------------------ */

/* One generation's bits for the range; caller frees. */
static int range_bits(struct cxlms_tensor *t, unsigned int first,
		      unsigned int count, uint8_t **bits)
{
	int rc;

	if (count == 0 || first >= t->d.n_tiles || count > t->d.n_tiles - first)
		return -EINVAL;
	*bits = malloc(count);
	if (!*bits)
		return -ENOMEM;
	rc = cxlms_policy_bits(t->store, t->index, first, count, *bits, NULL);
	if (rc) {
		free(*bits);
		*bits = NULL;
	}
	return rc;
}

/* Bytes the fetch of the range at @bits needs, run by run of equal bits. */
static int64_t bits_size(struct cxlms_tensor *t, unsigned int first,
			 unsigned int count, const uint8_t *bits,
			 unsigned int out, unsigned int recon)
{
	unsigned int i = 0, j;
	int64_t total = 0, n;

	while (i < count) {
		for (j = i + 1; j < count && bits[j] == bits[i]; j++)
			;
		n = cxlms_fetch_size(t, first + i, j - i, bits[i], out, recon);
		if (n < 0)
			return n;
		if (__builtin_add_overflow(total, n, &total))
			return -EOVERFLOW;
		i = j;
	}
	return total;
}

int64_t cxlms_policy_fetch_size(struct cxlms_tensor *t, unsigned int first,
				unsigned int count, unsigned int out,
				unsigned int recon)
{
	uint8_t *bits;
	int64_t n;
	int rc;

	if (!t)
		return -EINVAL;
	rc = range_bits(t, first, count, &bits);
	if (rc)
		return rc;
	n = bits_size(t, first, count, bits, out, recon);
	free(bits);
	return n;
}

int cxlms_policy_fetch_info(struct cxlms_tensor *t, unsigned int tile,
			    unsigned int out, unsigned int recon,
			    struct cxlms_fetch_info *info)
{
	uint8_t bits;
	int rc;

	if (!t || !info || tile >= t->d.n_tiles)
		return -EINVAL;
	rc = cxlms_policy_bits(t->store, t->index, tile, 1, &bits, NULL);
	if (rc)
		return rc;
	return cxlms_fetch_info(t, tile, bits, out, recon, info);
}

/*
 * The whole range uses one generation's bits: the size check and every
 * tile agree, and a concurrent publish cannot mix two maps in one call.
 */
int64_t cxlms_policy_fetch_tiles(struct cxlms_store *s, struct cxlms_tensor *t,
				 unsigned int first, unsigned int count,
				 unsigned int out, unsigned int recon,
				 void *buf, size_t len)
{
	unsigned int i = 0, j;
	uint8_t *bits;
	int64_t total, n, done = 0;
	int rc;

	if (!s || !t || t->store != s)
		return -EINVAL;
	/* The module sizes, checks and fetches the range under one generation. */
	if (is_kernel(s) && buf) {
		if (count == 0 || first >= t->d.n_tiles || count > t->d.n_tiles - first)
			return -EINVAL;
		return s->ops->fetch_tiles(s, t, first, count, CXLMS_BITS_POLICY, out,
					   recon, buf, len);
	}
	rc = range_bits(t, first, count, &bits);
	if (rc)
		return rc;
	total = bits_size(t, first, count, bits, out, recon);
	if (total < 0) {
		free(bits);
		return total;
	}
	if (len < (uint64_t)total) {
		free(bits);
		return -ENOSPC;		/* before a single byte is written */
	}
	if (!buf) {
		free(bits);
		return -EINVAL;
	}
	while (i < count) {
		for (j = i + 1; j < count && bits[j] == bits[i]; j++)
			;
		n = cxlms_fetch_tiles(s, t, first + i, j - i, bits[i], out, recon,
				      (uint8_t *)buf + done, len - (size_t)done);
		if (n < 0) {
			free(bits);
			return n;
		}
		done += n;
		i = j;
	}
	free(bits);
	return done;
}

/* --- the writer ------------------------------------------------------------ */

struct cxlms_policy_writer {
	struct cxlms_store *s;
	bool kernel;			/* publish with SET_MAP, no mapping */
	uint8_t *map;
	size_t map_len;
	uint8_t *area;
	uint32_t *tiles, *base;
	uint32_t n_tiles;
	int lock_fd;
};

int cxlms_policy_writer_open(struct cxlms_store *s,
			     struct cxlms_policy_writer **wp)
{
	struct cxlms_policy_writer *w;
	char why[128];
	int rc;

	if (!s || !wp)
		return -EINVAL;
	*wp = NULL;
	rc = is_kernel(s) ? 0 : policy_supported(s);
	if (rc)
		return rc;
	if (!(s->flags & CXLMS_OPEN_RDWR)) {
		cxlms_err(s->ctx, "%s: policy writer needs the store opened read-write",
			  s->path);
		return -EROFS;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->lock_fd = -1;
	w->s = cxlms_store_ref(s);
	/* Own open file description: the lock is ours, not the handle's. */
	w->lock_fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (w->lock_fd < 0 || flock(w->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		cxlms_err(s->ctx, "%s: %s", s->path, rc == -EBUSY ?
			  "another policy writer (cxlmsd) serves this store" :
			  strerror(-rc));
		goto fail;
	}
	w->tiles = tile_table(s, &w->base);
	if (!w->tiles) {
		rc = -ENOMEM;
		goto fail;
	}
	w->n_tiles = w->base[s->n_tensors];
	if (is_kernel(s)) {
		/* A module without maps fails here, not at the first publish. */
		uint64_t g;

		w->kernel = true;
		rc = cxlms_kernel_get_map(s, 0, 0, 0, NULL, &g, NULL);
		if (rc && rc != -ENODATA)
			goto fail;
		*wp = w;
		return 0;
	}
	rc = map_area(s, PROT_READ | PROT_WRITE, &w->map, &w->map_len, &w->area);
	if (rc)
		goto fail;
	rc = cxlms_policy_hdr_check(w->area, s->sb.policy_bytes, s->sb.uuid,
				    why, sizeof(why));
	if (rc) {
		/* Readers of a damaged header stop at the check; start afresh. */
		cxlms_info(s->ctx, "%s: formatting policy area (%s)", s->path, why);
		rc = cxlms_policy_format(w->area, s->sb.policy_bytes, s->sb.uuid);
		if (rc)
			goto fail;
	}
	*wp = w;
	return 0;
fail:
	cxlms_policy_writer_close(w);
	return rc;
}

void cxlms_policy_writer_close(struct cxlms_policy_writer *w)
{
	if (!w)
		return;
	if (w->map)
		munmap(w->map, w->map_len);
	if (w->lock_fd >= 0)
		close(w->lock_fd);	/* drops the flock */
	free(w->tiles);
	free(w->base);
	cxlms_store_unref(w->s);
	free(w);
}

uint64_t cxlms_policy_writer_slot_bytes(struct cxlms_policy_writer *w)
{
	/* The module's bound is on the maps; the tables come on top. */
	if (w->kernel)
		return CXLMS_MAP_MAX_BYTES +
		       cxlms_policy_slot_need(CXLMS_MAP_MAX_CONTEXTS, w->s->n_tensors, 0);
	return ((const struct cxlms_policy_hdr *)w->area)->slot_bytes;
}

unsigned int cxlms_policy_writer_tiles(struct cxlms_policy_writer *w)
{
	return w->n_tiles;
}

uint64_t cxlms_policy_writer_generation(struct cxlms_policy_writer *w)
{
	uint64_t g = 0;

	if (w->kernel)
		return cxlms_kernel_get_map(w->s, 0, 0, 0, NULL, &g, NULL) ? 0 : g;
	return cxlms_policy_read_begin(w->area);
}

int cxlms_policy_writer_publish(struct cxlms_policy_writer *w,
				unsigned int n_contexts,
				unsigned int default_context,
				const struct cxlms_policy_ctx *ctx,
				const uint8_t *maps, uint64_t *gen)
{
	struct cxlms_policy_image img = {
		.n_contexts = n_contexts,
		.default_context = default_context,
		.ctx = ctx,
		.n_tensors = w->s->n_tensors,
		.tiles = w->tiles,
		.n_tiles = w->n_tiles,
		.maps = maps,
	};
	uint64_t g = 0;
	int rc;

	if (w->kernel) {
		if (!ctx || !maps || !n_contexts)
			return -EINVAL;
		rc = cxlms_kernel_set_map(w->s, n_contexts, default_context,
					  (const struct cxlms_ioc_map_context *)ctx,
					  w->n_tiles, maps, &g);
		if (rc == -ENOSPC)
			cxlms_err(w->s->ctx, "%s: %u maps of %u tiles exceed the module's %u bytes",
				  w->s->path, n_contexts, w->n_tiles, CXLMS_MAP_MAX_BYTES);
		if (!rc && gen)
			*gen = g;
		return rc;
	}
	rc = cxlms_policy_publish(w->area, &img, &g);
	if (rc == -ENOSPC)
		cxlms_err(w->s->ctx, "%s: %u maps of %u tiles do not fit the policy area (%llu bytes per slot)",
			  w->s->path, n_contexts, w->n_tiles,
			  (unsigned long long)cxlms_policy_writer_slot_bytes(w));
	if (!rc && gen)
		*gen = g;
	return rc;
}
