// SPDX-License-Identifier: GPL-2.0
/*
 * The map engine: from a context's rules and a store's tiles to one byte
 * of bits per tile.
 *
 * fixed:    bits of the first matching rule, else default_bits, clamped to
 *           [min, max] and to what the tensor's format can serve.
 * budget:   greedy by marginal gain under an average-bits budget.  The
 *           gain model is rate-distortion, not "6 dB per bit": one more
 *           bit quarters a tile's quantization error, so the gain of
 *           b -> b+1 is importance * elems * 0.75 * 4^-b * sigma^2 and its
 *           cost is elems element-bits.  Per unit of cost that is
 *           importance * sigma^2 * 4^-b.  sigma^2 is the tile's error
 *           power estimated from the store (objective = mse, the default:
 *           minimise the squared error in weight units) or 1 (objective =
 *           relative: every tile's error relative to its own size).
 *           With a flat "6 dB per bit" every bit of a
 *           tile would be worth the same and greedy would pour all bits
 *           into the most important tiles up to max; the 4^-b model gives
 *           reverse water-filling instead: a tile 4x as important gets
 *           one bit more.
 * pressure: the fixed map at level 0; at level L the budget engine runs
 *           with every tile capped at its fixed bits and the average
 *           lowered by L * pressure_step, so the least important tiles
 *           lose bits first.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libcxlms.h>
#include "bitplane.h"
#include "cxlmsd.h"

/* --- the greedy allocator ----------------------------------------------------- */

struct heap_ent {
	double key;
	uint32_t tile;
};

/* Max-heap on key; ties go to the lower tile index (deterministic maps). */
static bool before(const struct heap_ent *a, const struct heap_ent *b)
{
	if (a->key != b->key)
		return a->key > b->key;
	return a->tile < b->tile;
}

static void sift_down(struct heap_ent *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct heap_ent t;

		if (l < n && before(&h[l], &h[m]))
			m = l;
		if (r < n && before(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static double gain_key(double importance, unsigned int bits)
{
	return ldexp(importance, -2 * (int)bits);
}

int cxlmsd_allocate(unsigned int n, const uint64_t *elems,
		    const uint8_t *lo, const uint8_t *hi,
		    const double *importance, uint64_t budget_eb,
		    uint8_t *bits)
{
	struct heap_ent *heap;
	uint64_t used = 0;
	size_t hn = 0, i;

	for (i = 0; i < n; i++) {
		bits[i] = lo[i];
		used += elems[i] * lo[i];
	}
	if (used > budget_eb)
		return -ERANGE;
	heap = malloc((n ? n : 1) * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (bits[i] < hi[i] && importance[i] > 0)
			heap[hn++] = (struct heap_ent){
				gain_key(importance[i], bits[i]), (uint32_t)i };
	for (i = hn / 2; i-- > 0;)
		sift_down(heap, hn, i);
	/*
	 * Stop at the first increment that does not fit instead of skipping
	 * it: then the bits handed out are a prefix of one order, and raising
	 * a tile's importance can only move its increments earlier, never
	 * lose one (tests/unit/test_policy_budget.c checks it).  The cost is
	 * at most one tile's worth of unused budget.
	 */
	while (hn) {
		uint32_t t = heap[0].tile;

		if (used + elems[t] > budget_eb)
			break;
		used += elems[t];
		bits[t]++;
		if (bits[t] < hi[t]) {
			heap[0].key = gain_key(importance[t], bits[t]);
		} else {
			heap[0] = heap[--hn];
		}
		sift_down(heap, hn, 0);
	}
	free(heap);
	return 0;
}

/* --- rules to tile attributes ----------------------------------------------- */

static unsigned int clampu(unsigned int v, unsigned int lo, unsigned int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* First match wins: rules are in priority order (config.c sorts files). */
static const struct cxlmsd_rule *first_rule(const struct cxlmsd_context *c,
					    const char *name, unsigned int tile)
{
	unsigned int i;

	for (i = 0; i < c->n_rules; i++) {
		const struct cxlmsd_rule *r = &c->rules[i];

		if (tile >= r->tile_lo && tile <= r->tile_hi &&
		    cxlmsd_match(r->pattern, name))
			return r;
	}
	return NULL;
}

static void tile_attr(const struct cxlmsd_context *c, const struct cxlmsd_rule *r,
		      unsigned int fmt_lo, unsigned int planes, double reported,
		      struct cxlmsd_tile_attr *a)
{
	unsigned int lo = c->min_bits, hi = c->max_bits, want = c->default_bits;
	double imp = 1.0;

	if (r) {
		if (r->min)
			lo = r->min;
		if (r->max)
			hi = r->max;
		if (r->bits)
			lo = hi = want = r->bits;
		if (r->importance >= 0)
			imp = r->importance;
	}
	/* What the format can serve bounds everything the config asks. */
	lo = clampu(lo, fmt_lo, planes);
	hi = clampu(hi, lo, planes);
	a->lo = lo;
	a->hi = hi;
	a->want = clampu(want, lo, hi);
	a->importance = imp * reported;
}

uint32_t cxlmsd_map_avg_x100(const struct cxlmsd_model *m, const uint8_t *map)
{
	unsigned __int128 eb = 0;
	uint64_t el = 0;
	uint32_t i;

	for (i = 0; i < m->n_tiles; i++) {
		eb += (unsigned __int128)m->tile_elems[i] * map[i];
		el += m->tile_elems[i];
	}
	return el ? (uint32_t)(eb * 100 / el) : 0;
}

int cxlmsd_engine_map(const struct cxlmsd_context *c,
		      const struct cxlmsd_model *m, struct cxlmsd_ctx_state *st,
		      uint8_t *map, char *why, size_t why_len)
{
	uint8_t *lo = NULL, *hi = NULL;
	double *imp = NULL;
	unsigned __int128 min_eb = 0, base_eb = 0;
	uint64_t total = 0, budget;
	unsigned int t, k;
	int rc = -ENOMEM;

	lo = malloc(m->n_tiles + 1);
	hi = malloc(m->n_tiles + 1);
	imp = malloc((m->n_tiles + 1) * sizeof(*imp));
	if (!lo || !hi || !imp)
		goto out;
	for (t = 0; t < m->n_tensors; t++) {
		for (k = 0; k < m->tile_base[t + 1] - m->tile_base[t]; k++) {
			uint32_t g = m->tile_base[t] + k;
			struct cxlmsd_tile_attr a;

			tile_attr(c, first_rule(c, m->names[t], k), m->min_bits[t],
				  m->planes[t], m->importance ? m->importance[g] : 1.0, &a);
			/* mse: the error a bit saves, in weight units, counts. */
			if (!c->relative && m->energy)
				a.importance *= m->energy[g];
			lo[g] = (uint8_t)a.lo;
			hi[g] = (uint8_t)a.hi;
			map[g] = (uint8_t)a.want;
			imp[g] = a.importance;
			min_eb += (unsigned __int128)m->tile_elems[g] * a.lo;
			base_eb += (unsigned __int128)m->tile_elems[g] * a.want;
			total += m->tile_elems[g];
		}
	}
	st->max_level = 0;
	rc = 0;
	if (c->mode == CXLMSD_MODE_BUDGET) {
		budget = (uint64_t)((unsigned __int128)total * c->budget_x100 / 100);
		rc = cxlmsd_allocate(m->n_tiles, m->tile_elems, lo, hi, imp, budget, map);
		if (rc == -ERANGE)
			snprintf(why, why_len,
				 "context '%s': budget_bits %u.%02u is below the %.2f bits the minimum bounds need",
				 c->name, c->budget_x100 / 100, c->budget_x100 % 100,
				 total ? (double)min_eb / (double)total : 0.0);
	} else if (c->mode == CXLMSD_MODE_PRESSURE && total) {
		unsigned __int128 step = (unsigned __int128)total * c->pressure_step_x100 / 100;

		/* Levels until the floor: each takes the average one step down. */
		st->max_level = step ? (unsigned int)((base_eb - min_eb + step - 1) / step) : 0;
		if (st->level > st->max_level)
			st->level = st->max_level;
		if (st->level) {
			unsigned __int128 cut = step * st->level;

			budget = (uint64_t)(cut >= base_eb - min_eb ? min_eb : base_eb - cut);
			/* Cap at the fixed map: pressure only ever takes bits away. */
			memcpy(hi, map, m->n_tiles);
			rc = cxlmsd_allocate(m->n_tiles, m->tile_elems, lo, hi, imp,
					     budget, map);
		}
	}
	if (!rc)
		st->avg_x100 = cxlmsd_map_avg_x100(m, map);
out:
	free(lo);
	free(hi);
	free(imp);
	return rc;
}

/* --- the model of a store ------------------------------------------------------ */

void cxlmsd_model_free(struct cxlmsd_model *m)
{
	unsigned int i;

	for (i = 0; m->names && i < m->n_tensors; i++)
		free(m->names[i]);
	free(m->names);
	free(m->planes);
	free(m->min_bits);
	free(m->tile_base);
	free(m->tile_elems);
	free(m->importance);
	free(m->energy);
	memset(m, 0, sizeof(*m));
}

/*
 * Fewest planes every output of a format serves: dequantized outputs of
 * the float formats need the sign and the whole exponent (codec rule in
 * cxlms_fetch_layout), so a policy never goes below that.
 */
static uint8_t format_min_bits(unsigned int fmt)
{
	switch (fmt) {
	case CXLMS_FMT_BF16:
		return 9;
	case CXLMS_FMT_FP16:
		return 6;
	default:
		return 1;
	}
}

int cxlmsd_model_from_store(struct cxlms_store *s, struct cxlmsd_model *m)
{
	struct cxlms_tensor *t;
	unsigned int n = cxlms_store_get_tensor_count(s), i = 0, k;
	uint64_t tiles = 0;

	memset(m, 0, sizeof(*m));
	m->n_tensors = n;
	m->names = calloc(n + 1, sizeof(*m->names));
	m->planes = calloc(n + 1, 1);
	m->min_bits = calloc(n + 1, 1);
	m->tile_base = calloc(n + 1, sizeof(*m->tile_base));
	if (!m->names || !m->planes || !m->min_bits || !m->tile_base)
		goto oom;
	cxlms_tensor_foreach(s, t) {
		m->names[i] = strdup(cxlms_tensor_get_name(t));
		if (!m->names[i])
			goto oom;
		m->planes[i] = (uint8_t)cxlms_tensor_get_planes(t);
		m->min_bits[i] = format_min_bits(cxlms_tensor_get_format(t));
		m->tile_base[i] = (uint32_t)tiles;
		tiles += cxlms_tensor_get_tile_count(t);
		if (tiles > UINT32_MAX)
			goto oom;
		i++;
	}
	m->tile_base[n] = (uint32_t)tiles;
	m->n_tiles = (uint32_t)tiles;
	m->tile_elems = calloc(tiles + 1, sizeof(*m->tile_elems));
	m->importance = calloc(tiles + 1, sizeof(*m->importance));
	if (!m->tile_elems || !m->importance)
		goto oom;
	i = 0;
	cxlms_tensor_foreach(s, t) {
		for (k = 0; k < cxlms_tensor_get_tile_count(t); k++) {
			m->tile_elems[m->tile_base[i] + k] = cxlms_tensor_get_tile_elems(t, k);
			m->importance[m->tile_base[i] + k] = 1.0;
		}
		i++;
	}
	return 0;
oom:
	cxlmsd_model_free(m);
	return -ENOMEM;
}

/* Mean of the squared fp16 scales of one INT8 tile (0 for an all-zero tile). */
static double tile_scale_power(struct cxlms_store *s, struct cxlms_tensor *t,
			       unsigned int k, uint8_t **buf, size_t *cap)
{
	struct cxlms_fetch_info fi;
	const uint16_t *sc;
	double sum = 0;
	uint64_t i, n;

	if (cxlms_fetch_info(t, k, 1, CXLMS_OUT_INT, 0, &fi))
		return 0;
	if (fi.total > *cap) {
		uint8_t *nb = realloc(*buf, fi.total);

		if (!nb)
			return 0;
		*buf = nb;
		*cap = fi.total;
	}
	if (cxlms_fetch(s, t, k, 1, CXLMS_OUT_INT, 0, *buf, *cap) < 0)
		return 0;
	sc = (const uint16_t *)(*buf + fi.scales_off);
	n = fi.scales_len / 2;
	for (i = 0; i < n; i++) {
		uint32_t f = cxlms_fp16_to_f32_bits(sc[i]);
		float v;

		memcpy(&v, &f, sizeof(v));
		sum += (double)v * v;
	}
	return n ? sum / (double)n : 0;
}

/* Mean square of a 16-bit tile's values, read at @bits. */
static double tile_value_power(struct cxlms_store *s, struct cxlms_tensor *t,
			       unsigned int k, unsigned int bits, uint8_t **buf,
			       size_t *cap)
{
	int64_t n = cxlms_fetch_size(t, k, 1, bits, CXLMS_OUT_F32, 0);
	double sum = 0;
	int64_t i;

	if (n <= 0)
		return 0;
	if ((size_t)n > *cap) {
		uint8_t *nb = realloc(*buf, (size_t)n);

		if (!nb)
			return 0;
		*buf = nb;
		*cap = (size_t)n;
	}
	if (cxlms_fetch(s, t, k, bits, CXLMS_OUT_F32, 0, *buf, *cap) != n)
		return 0;
	for (i = 0; i < n / 4; i++) {
		float v;

		memcpy(&v, *buf + i * 4, sizeof(v));
		if (v == v && v - v == 0)	/* finite */
			sum += (double)v * v;
	}
	return sum / (double)(n / 4);
}

int cxlmsd_model_energy(struct cxlms_store *s, struct cxlmsd_model *m)
{
	struct cxlms_tensor *t;
	uint8_t *buf = NULL;
	size_t cap = 0;
	unsigned int i = 0, k;

	m->energy = calloc(m->n_tiles + 1, sizeof(*m->energy));
	if (!m->energy)
		return -ENOMEM;
	cxlms_tensor_foreach(s, t) {
		unsigned int fmt = cxlms_tensor_get_format(t);

		for (k = 0; k < cxlms_tensor_get_tile_count(t); k++) {
			double e;

			/*
			 * Uniform quantization leaves step^2 / 12 per element.
			 * INT8 at b bits: step = scale * 2^(8-b).  Floats at b
			 * planes keep b - (1 + exponent bits) mantissa bits: a
			 * relative step of 2^-(that).
			 */
			if (fmt == CXLMS_FMT_INT8)
				e = tile_scale_power(s, t, k, &buf, &cap) * 65536.0 / 12.0;
			else
				e = tile_value_power(s, t, k, m->min_bits[i], &buf, &cap) *
				    ldexp(1.0, 2 * m->min_bits[i]) / 12.0;
			m->energy[m->tile_base[i] + k] = e;
		}
		i++;
	}
	free(buf);
	return 0;
}

long cxlmsd_model_tile(const struct cxlmsd_model *m, const char *tensor,
		       unsigned int tile, unsigned int *n_tiles_of_tensor)
{
	unsigned int i;

	for (i = 0; i < m->n_tensors; i++) {
		if (strcmp(m->names[i], tensor))
			continue;
		*n_tiles_of_tensor = m->tile_base[i + 1] - m->tile_base[i];
		if (tile >= *n_tiles_of_tensor)
			return -ERANGE;
		return (long)(m->tile_base[i] + tile);
	}
	return -ENOENT;
}
