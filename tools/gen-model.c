// SPDX-License-Identifier: GPL-2.0
/*
 * gen-model - write a small transformer-like model as a safetensors file.
 *
 * The demo needs weights that behave like trained ones when planes are
 * dropped: heavy tails that vary from layer to layer, per-row and
 * per-column gains, a few outlier input channels, a pruned layer with
 * all-zero scale groups.  Gaussians would flatter every reconstruction
 * mode; see docs/demo.md for the recipe and why.
 *
 * No library dependency: this is the "somebody else's checkpoint" the
 * store imports.  Deterministic for a given seed and layer count.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VOCAB		4096
#define D_MODEL		512
#define D_FFN		1408
#define MAX_LAYERS	8
#define MAX_TENSORS	(3 + 9 * MAX_LAYERS)

enum dtype { DT_F32, DT_F16, DT_BF16 };
static const char *const dtype_names[] = { "F32", "F16", "BF16" };
static const unsigned int dtype_size[] = { 4, 2, 2 };

/* Shape of the value distribution before gains are applied. */
enum base { BASE_T, BASE_LAPLACE_MIX, BASE_NORM };

/**
 * struct recipe - how one tensor's values are drawn
 * @base: BASE_T: Student-t with @df degrees of freedom; BASE_LAPLACE_MIX:
 *	Laplace times a log-normal scale exp(@mix * N) (kurtosis 6 e^(4 mix^2));
 *	BASE_NORM: 1 + @std * t(@df) (norm gains, centred on one)
 * @row_sigma, @col_sigma: log-normal per-row / per-column gain spread
 * @n_outlier_cols, @outlier_gain: input channels multiplied by a gain drawn
 *	uniformly in [outlier_gain / 5, outlier_gain]
 * @prune: zero 1/4 of the rows and 1/5 of the 128-wide blocks of the rest,
 *	then 1/10 of the remaining single weights
 */
struct recipe {
	enum base base;
	double df;
	double mix;
	double std;
	double row_sigma, col_sigma;
	unsigned int n_outlier_cols;
	double outlier_gain;
	bool prune;
};

struct tensor {
	char name[96];
	enum dtype dtype;
	unsigned int ndim;
	uint64_t shape[2];
	uint64_t elems;
	uint64_t off;		/* into the data section */
	struct recipe r;
};

/* --- deterministic PRNG: xoshiro256** seeded by splitmix64 --------------- */

struct rng {
	uint64_t s[4];
	bool have_spare;
	double spare;
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull);

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	r->have_spare = false;
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in (0, 1): never 0, so log() is safe. */
static double rng_uniform(struct rng *r)
{
	return ((double)(rng_next(r) >> 11) + 0.5) * 0x1p-53;
}

static double rng_normal(struct rng *r)
{
	double u, v, s;

	if (r->have_spare) {
		r->have_spare = false;
		return r->spare;
	}
	/* Marsaglia's polar method: two normals per accepted pair. */
	do {
		u = 2.0 * rng_uniform(r) - 1.0;
		v = 2.0 * rng_uniform(r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	s = sqrt(-2.0 * log(s) / s);
	r->spare = v * s;
	r->have_spare = true;
	return u * s;
}

/* Gamma(a, 1) for a >= 1, Marsaglia & Tsang (2000). */
static double rng_gamma(struct rng *r, double a)
{
	double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);

	for (;;) {
		double x = rng_normal(r), v = 1.0 + c * x, u;

		if (v <= 0.0)
			continue;
		v = v * v * v;
		u = rng_uniform(r);
		if (u < 1.0 - 0.0331 * x * x * x * x)
			return d * v;
		if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
			return d * v;
	}
}

/* Student-t scaled to unit variance (df > 2). */
static double rng_student_t(struct rng *r, double df)
{
	double chi2 = 2.0 * rng_gamma(r, df / 2.0);

	return rng_normal(r) / sqrt(chi2 / df) * sqrt((df - 2.0) / df);
}

/* Laplace with a log-normal scale, unit variance. */
static double rng_laplace_mix(struct rng *r, double mix)
{
	double lap = -log(rng_uniform(r));

	if (rng_next(r) & 1)
		lap = -lap;
	return lap * exp(mix * rng_normal(r)) / sqrt(2.0 * exp(2.0 * mix * mix));
}

/* --- float conversions (round to nearest even, NaN kept quiet) ---------- */

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static uint16_t f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);

	if ((u & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

static uint16_t f32_to_f16(float f)
{
	uint32_t u = f32_bits(f), a = u & 0x7fffffff, e = a >> 23;
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	uint32_t h, rem, half;

	if (a > 0x7f800000)
		return sign | 0x7e00;
	if (e >= 143)			/* >= 2^16: infinity */
		return sign | 0x7c00;
	if (e < 113) {			/* below 2^-14: subnormal half */
		uint32_t m = (a & 0x7fffff) | 0x800000, shift = 126 - e;

		if (e < 102)
			return sign;
		h = m >> shift;
		rem = m & ((1u << shift) - 1);
		half = 1u << (shift - 1);
	} else {
		h = ((e - 112) << 10) | ((a >> 13) & 0x3ff);
		rem = a & 0x1fff;
		half = 0x1000;
	}
	/* A carry out of the mantissa correctly bumps the exponent (to inf). */
	if (rem > half || (rem == half && (h & 1)))
		h++;
	return sign | (uint16_t)h;
}

/* --- the model ---------------------------------------------------------- */

/* Per-block tail heaviness: degrees of freedom of the Student-t. */
static const double block_df[MAX_LAYERS] = { 30, 12, 6, 4, 3, 8, 20, 5 };

static unsigned int add_tensor(struct tensor *t, unsigned int n, const char *name,
			       enum dtype dt, uint64_t rows, uint64_t cols,
			       struct recipe r)
{
	struct tensor *x = &t[n];

	snprintf(x->name, sizeof(x->name), "%s", name);
	x->dtype = dt;
	x->ndim = rows ? 2 : 1;
	x->shape[0] = rows ? rows : cols;
	x->shape[1] = rows ? cols : 0;
	x->elems = (rows ? rows : 1) * cols;
	x->r = r;
	return n + 1;
}

/*
 * Llama-shaped model.  Blocks 0..3 are f32, block 4 is bf16, block 5 f16,
 * later blocks f32 again; the embedding is f16 - a mix of what checkpoints
 * ship in.  Each block gets its own tail weight and its own quirks.
 */
static unsigned int build_model(struct tensor *t, unsigned int layers)
{
	static const char *const attn[] = { "q", "k", "v", "o" };
	static const char *const mlp[] = { "gate", "up", "down" };
	struct recipe emb = { .base = BASE_T, .df = 10, .row_sigma = 0.5,
			      .col_sigma = 0.1 };
	struct recipe head = { .base = BASE_T, .df = 15, .row_sigma = 0.2,
			       .col_sigma = 0.2, .n_outlier_cols = 4,
			       .outlier_gain = 12 };
	struct recipe norm = { .base = BASE_NORM, .df = 4, .std = 0.08 };
	unsigned int n = 0;
	char name[96];

	n = add_tensor(t, n, "model.embed_tokens.weight", DT_F16, VOCAB, D_MODEL, emb);
	for (unsigned int l = 0; l < layers; l++) {
		enum dtype dt = l == 4 ? DT_BF16 : l == 5 ? DT_F16 : DT_F32;
		double df = block_df[l];

		for (unsigned int i = 0; i < 4; i++) {
			struct recipe r = { .base = BASE_T, .df = df,
					    .row_sigma = 0.25, .col_sigma = 0.15 };

			/* q/k read the residual stream: outlier features there. */
			if (i < 2 && (l == 1 || l == 3)) {
				r.n_outlier_cols = 4;
				r.outlier_gain = 40;
			}
			/* v/o of odd blocks: near-zero-heavy, kurtosis 20..60 */
			if (i >= 2 && (l & 1)) {
				r.base = BASE_LAPLACE_MIX;
				r.mix = 0.5 + 0.02 * l;
			}
			snprintf(name, sizeof(name), "model.layers.%u.self_attn.%s_proj.weight",
				 l, attn[i]);
			n = add_tensor(t, n, name, dt, D_MODEL, D_MODEL, r);
		}
		for (unsigned int i = 0; i < 3; i++) {
			bool down = i == 2;
			struct recipe r = { .base = BASE_T, .df = df,
					    .row_sigma = 0.3, .col_sigma = 0.2 };

			if (!down && (l == 2 || l == 5)) {
				r.n_outlier_cols = 4;
				r.outlier_gain = 20;
			}
			if (down && l == 2)
				r.prune = true;
			if (down && (l == 3 || l == 5)) {
				r.base = BASE_LAPLACE_MIX;
				r.mix = 0.6;
			}
			snprintf(name, sizeof(name), "model.layers.%u.mlp.%s_proj.weight",
				 l, mlp[i]);
			n = add_tensor(t, n, name, dt, down ? D_MODEL : D_FFN,
				       down ? D_FFN : D_MODEL, r);
		}
		snprintf(name, sizeof(name), "model.layers.%u.input_layernorm.weight", l);
		n = add_tensor(t, n, name, l == 4 ? DT_BF16 : DT_F32, 0, D_MODEL, norm);
		snprintf(name, sizeof(name),
			 "model.layers.%u.post_attention_layernorm.weight", l);
		n = add_tensor(t, n, name, l == 4 ? DT_BF16 : DT_F32, 0, D_MODEL, norm);
	}
	n = add_tensor(t, n, "model.norm.weight", DT_F32, 0, D_MODEL, norm);
	n = add_tensor(t, n, "lm_head.weight", DT_F32, VOCAB, D_MODEL, head);
	return n;
}

/* Draw tensor @idx's values as floats into @v (t->elems of them). */
static void generate(const struct tensor *t, unsigned int idx, uint64_t seed,
		     float *v)
{
	const struct recipe *r = &t->r;
	uint64_t rows = t->ndim == 2 ? t->shape[0] : 1;
	uint64_t cols = t->ndim == 2 ? t->shape[1] : t->shape[0];
	double *col_gain = malloc(cols * sizeof(*col_gain));
	/* Trained weights shrink with fan-in; keeps f16 tensors in range. */
	double std = 0.5 / sqrt((double)cols);
	struct rng rng;

	if (!col_gain) {
		fprintf(stderr, "gen-model: out of memory\n");
		exit(1);
	}
	rng_seed(&rng, seed, idx + 1);
	for (uint64_t c = 0; c < cols; c++)
		col_gain[c] = exp(r->col_sigma * rng_normal(&rng));
	for (unsigned int i = 0; i < r->n_outlier_cols; i++) {
		uint64_t c = rng_next(&rng) % cols;

		col_gain[c] *= r->outlier_gain * (0.2 + 0.8 * rng_uniform(&rng));
	}

	for (uint64_t row = 0; row < rows; row++) {
		double row_gain = exp(r->row_sigma * rng_normal(&rng));
		bool zero_row = r->prune && rng_next(&rng) % 4 == 0;

		for (uint64_t c = 0; c < cols; c++) {
			double x;

			switch (r->base) {
			case BASE_LAPLACE_MIX:
				x = rng_laplace_mix(&rng, r->mix);
				break;
			case BASE_NORM:
				x = 1.0 + r->std * rng_student_t(&rng, r->df);
				break;
			default:
				x = rng_student_t(&rng, r->df);
				break;
			}
			if (r->base != BASE_NORM)
				x *= std * row_gain * col_gain[c];
			v[row * cols + c] = (float)x;
		}
		if (!r->prune)
			continue;
		/* Structured pruning: whole rows, whole 128-wide blocks, singles. */
		for (uint64_t c0 = 0; c0 < cols; c0 += 128) {
			bool zero_blk = zero_row || rng_next(&rng) % 5 == 0;

			for (uint64_t c = c0; c < cols && c < c0 + 128; c++)
				if (zero_blk || rng_next(&rng) % 10 == 0)
					v[row * cols + c] = 0.0f;
		}
	}
	free(col_gain);
}

/* Round @v to the tensor's dtype in place (as its values), then pack. */
static void to_dtype(const struct tensor *t, float *v, void *out)
{
	for (uint64_t i = 0; i < t->elems; i++) {
		uint16_t h;

		switch (t->dtype) {
		case DT_F16:
			h = f32_to_f16(v[i]);
			memcpy((char *)out + 2 * i, &h, 2);
			break;
		case DT_BF16:
			h = f32_to_bf16(v[i]);
			memcpy((char *)out + 2 * i, &h, 2);
			break;
		default:
			memcpy((char *)out + 4 * i, &v[i], 4);
			break;
		}
	}
}

/* Kurtosis m4 / m2^2 (3 for a Gaussian) and the share of exact zeros. */
static void moments(const float *v, uint64_t n, double *kurt, double *zeros)
{
	double mean = 0, m2 = 0, m4 = 0;
	uint64_t nz = 0;

	for (uint64_t i = 0; i < n; i++)
		mean += v[i];
	mean /= (double)n;
	for (uint64_t i = 0; i < n; i++) {
		double d = v[i] - mean;

		m2 += d * d;
		m4 += d * d * d * d;
		nz += v[i] == 0.0f;
	}
	m2 /= (double)n;
	m4 /= (double)n;
	*kurt = m2 > 0 ? m4 / (m2 * m2) : 0;
	*zeros = (double)nz / (double)n;
}

static int write_all(FILE *f, const void *buf, size_t len, const char *path)
{
	if (fwrite(buf, 1, len, f) != len) {
		fprintf(stderr, "gen-model: write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* safetensors: u64 LE header length, JSON header (space padded to 8), data. */
static char *make_header(struct tensor *t, unsigned int n, uint64_t seed,
			 size_t *len)
{
	size_t cap = 256 + (size_t)n * 256, pos = 0;
	char *h = malloc(cap);
	uint64_t off = 0;

	if (!h)
		return NULL;
	pos += snprintf(h + pos, cap - pos,
			"{\"__metadata__\":{\"generator\":\"cxlms gen-model\","
			"\"seed\":\"%" PRIu64 "\"}", seed);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t bytes = t[i].elems * dtype_size[t[i].dtype];

		t[i].off = off;
		pos += snprintf(h + pos, cap - pos,
				",\"%s\":{\"dtype\":\"%s\",\"shape\":[%" PRIu64,
				t[i].name, dtype_names[t[i].dtype], t[i].shape[0]);
		if (t[i].ndim == 2)
			pos += snprintf(h + pos, cap - pos, ",%" PRIu64, t[i].shape[1]);
		pos += snprintf(h + pos, cap - pos,
				"],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
				off, off + bytes);
		off += bytes;
	}
	pos += snprintf(h + pos, cap - pos, "}");
	while (pos % 8)
		h[pos++] = ' ';
	*len = pos;
	return h;
}

/* The architecture of build_model() as a Hugging Face config.json. */
static int write_config(const char *path, unsigned int layers)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "gen-model: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(f, "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n"
		"  \"model_type\": \"llama\",\n  \"hidden_size\": %d,\n"
		"  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %u,\n"
		"  \"num_attention_heads\": 8,\n  \"num_key_value_heads\": 8,\n"
		"  \"vocab_size\": %d,\n  \"max_position_embeddings\": 2048,\n"
		"  \"rms_norm_eps\": 1e-05,\n  \"rope_theta\": 10000.0,\n"
		"  \"tie_word_embeddings\": false\n}\n", D_MODEL, D_FFN, layers, VOCAB);
	if (fclose(f)) {
		fprintf(stderr, "gen-model: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gen-model [-s SEED] [-l LAYERS] [-c CONFIG.json] [-v] OUT.safetensors\n"
		"Write a small Llama-shaped model with heavy-tailed, per-layer varying\n"
		"weights (f32, bf16 and f16 tensors) as a safetensors file.\n"
		"  -s, --seed SEED     PRNG seed (default 1)\n"
		"  -l, --layers N      transformer blocks, 1..%d (default 6)\n"
		"  -c, --config FILE   also write the model's Hugging Face config.json\n"
		"                      (8 heads of 64, no GQA, untied head) to FILE\n"
		"  -v, --verbose       print each tensor's kurtosis and zero share\n"
		"  -h, --help          this help\n"
		"Exit status: 0 ok, 1 error, 2 usage.\n", MAX_LAYERS);
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && !*end;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "layers", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static struct tensor tensors[MAX_TENSORS];
	uint64_t seed = 1, layers = 6, total = 0, u;
	bool verbose = false;
	const char *config = NULL;
	char tmp[4096], *hdr;
	unsigned int n;
	size_t hlen;
	FILE *f;
	int c;

	while ((c = getopt_long(argc, argv, "s:l:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			if (!parse_u64(optarg, &seed)) {
				fprintf(stderr, "gen-model: bad --seed '%s'\n", optarg);
				return 2;
			}
			break;
		case 'l':
			if (!parse_u64(optarg, &u) || u < 1 || u > MAX_LAYERS) {
				fprintf(stderr, "gen-model: --layers must be 1..%d, not '%s'\n",
					MAX_LAYERS, optarg);
				return 2;
			}
			layers = u;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}

	if (config && write_config(config, (unsigned int)layers))
		return 1;
	n = build_model(tensors, (unsigned int)layers);
	hdr = make_header(tensors, n, seed, &hlen);
	if (!hdr) {
		fprintf(stderr, "gen-model: out of memory\n");
		return 1;
	}
	/* Temp + rename: a half-written model never looks like a model. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", argv[optind], (int)getpid());
	f = fopen(tmp, "wb");
	if (!f) {
		fprintf(stderr, "gen-model: %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	uint64_t hlen64 = hlen;
	if (write_all(f, &hlen64, 8, tmp) || write_all(f, hdr, hlen, tmp))
		goto fail;
	if (verbose)
		printf("%-52s %-5s %12s %9s %7s\n", "tensor", "dtype", "shape",
		       "kurtosis", "zeros");
	for (unsigned int i = 0; i < n; i++) {
		struct tensor *t = &tensors[i];
		float *v = malloc(t->elems * sizeof(float));
		void *out = malloc(t->elems * dtype_size[t->dtype]);
		double kurt, zeros;
		int err;

		if (!v || !out) {
			fprintf(stderr, "gen-model: out of memory\n");
			free(v);
			free(out);
			goto fail;
		}
		generate(t, i, seed, v);
		to_dtype(t, v, out);
		if (verbose) {
			char shape[32];

			moments(v, t->elems, &kurt, &zeros);
			if (t->ndim == 2)
				snprintf(shape, sizeof(shape), "%" PRIu64 "x%" PRIu64,
					 t->shape[0], t->shape[1]);
			else
				snprintf(shape, sizeof(shape), "%" PRIu64, t->shape[0]);
			printf("%-52s %-5s %12s %9.1f %6.1f%%\n", t->name,
			       dtype_names[t->dtype], shape, kurt, 100 * zeros);
		}
		err = write_all(f, out, t->elems * dtype_size[t->dtype], tmp);
		total += t->elems;
		free(v);
		free(out);
		if (err)
			goto fail;
	}
	if (fflush(f) || fsync(fileno(f))) {
		fprintf(stderr, "gen-model: write %s: %s\n", tmp, strerror(errno));
		goto fail;
	}
	if (fclose(f)) {
		f = NULL;
		fprintf(stderr, "gen-model: close %s: %s\n", tmp, strerror(errno));
		goto fail;
	}
	f = NULL;
	if (rename(tmp, argv[optind])) {
		fprintf(stderr, "gen-model: rename to %s: %s\n", argv[optind],
			strerror(errno));
		goto fail;
	}
	free(hdr);
	if (verbose)
		printf("%u tensors, %" PRIu64 " parameters\n", n, total);
	return 0;
fail:
	if (f)
		fclose(f);
	unlink(tmp);
	free(hdr);
	return 1;
}
