// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms run / cxlms eval: the reference Llama engine (engine/llama.h) on a
 * store: generate tokens, or measure a precision's quality (KL divergence
 * against the full-precision store, top-1 agreement, perplexity).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../engine/llama.h"

#define MAX_OVERRIDES	32

/* Options both commands take. */
struct llama_args {
	const char *store_path, *context, *config_path;
	unsigned int bits, threads, max_seq, gemv_flags;
	bool have_bits;
	struct {
		const char *pattern;
		unsigned int bits;
	} ov[MAX_OVERRIDES];
	unsigned int n_ov;
	char *config;
	size_t config_len;
};

enum {
	OPT_CONTEXT = 256, OPT_THREADS, OPT_TENSOR_BITS, OPT_CONFIG, OPT_ACT,
	OPT_CTX_LEN, OPT_TEMP, OPT_SEED, OPT_TOKENS, OPT_LOGITS_OUT, OPT_JSON,
};

/* Engine errors: the exit codes cxlms(1) documents for run/eval. */
static int llama_exit(int err)
{
	switch (err) {
	case -ENOEXEC:
	case -ENOENT:
		return EXIT_NOT_MODEL;
	case -ERANGE:
		return EXIT_VOCAB;
	case -ENOSPC:
		return EXIT_CONTEXT;
	default:
		return EXIT_ERROR;
	}
}

static int parse_bits(const char *opt, const char *s, unsigned int *bits)
{
	uint64_t v;

	if (!strcmp(s, "policy")) {
		*bits = CXLMS_BITS_POLICY;
		return 0;
	}
	if (!strcmp(s, "full") || !strcmp(s, "all")) {
		*bits = 0;
		return 0;
	}
	if (!cli_parse_u64(opt, s, 1, 16, &v))
		return EXIT_USAGE;
	*bits = (unsigned int)v;
	return 0;
}

/* One option shared by run and eval; 1 if @c was not one of them. */
static int common_opt(int c, struct llama_args *a)
{
	uint64_t v;
	char *eq;

	switch (c) {
	case 'b':
		a->have_bits = true;
		return parse_bits("--bits", optarg, &a->bits);
	case OPT_CONTEXT:
		if (!cli_check_context_name("--context", optarg))
			return EXIT_USAGE;
		a->context = optarg;
		return 0;
	case OPT_THREADS:
		if (!cli_parse_u64("--threads", optarg, 1, 64, &v))
			return EXIT_USAGE;
		a->threads = (unsigned int)v;
		return 0;
	case OPT_CTX_LEN:
		if (!cli_parse_u64("--ctx-len", optarg, 1, 1u << 20, &v))
			return EXIT_USAGE;
		a->max_seq = (unsigned int)v;
		return 0;
	case OPT_TENSOR_BITS:
		eq = strrchr(optarg, '=');
		if (!eq || eq == optarg)
			return cli_usage_err("--tensor-bits: '%s' is not PATTERN=K", optarg);
		if (a->n_ov == MAX_OVERRIDES)
			return cli_usage_err("--tensor-bits: more than %d", MAX_OVERRIDES);
		*eq = 0;
		a->ov[a->n_ov].pattern = optarg;
		if (parse_bits("--tensor-bits", eq + 1, &a->ov[a->n_ov].bits))
			return EXIT_USAGE;
		a->n_ov++;
		return 0;
	case OPT_CONFIG:
		a->config_path = optarg;
		return 0;
	case OPT_ACT:
		if (!strcmp(optarg, "q8"))
			a->gemv_flags = CXLMS_GEMV_Q8_ACT;
		else if (!strcmp(optarg, "f32"))
			a->gemv_flags = 0;
		else
			return cli_usage_err("--act: '%s' is not f32 or q8", optarg);
		return 0;
	case 'v':
		cli_verbose++;
		return 0;
	}
	return 1;
}

static int read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	char *b;

	if (!f) {
		cli_err("%s: %s", path, strerror(errno));
		return EXIT_ERROR;
	}
	b = malloc(cap + 1);
	while (b) {
		size_t got = fread(b + n, 1, cap - n, f);

		n += got;
		if (n < cap)
			break;
		cap *= 2;
		char *nb = realloc(b, cap + 1);

		if (!nb) {
			free(b);
			b = NULL;
			break;
		}
		b = nb;
	}
	if (!b || ferror(f)) {
		cli_err("%s: %s", path, b ? strerror(errno) : "out of memory");
		fclose(f);
		free(b);
		return EXIT_ERROR;
	}
	fclose(f);
	b[n] = 0;
	*buf = b;
	*len = n;
	return EXIT_OK;
}

/* Open the store and the model with @a; an exit code on failure. */
static int open_model(struct cxlms_ctx *ctx, struct llama_args *a, unsigned int bits,
		      struct cxlms_store **sp, struct cxlms_llama **mp)
{
	struct cxlms_llama_opts o = { .size = sizeof(o), .bits = bits,
				      .gemv_flags = a->gemv_flags, .threads = a->threads,
				      .max_seq = a->max_seq };
	struct cxlms_store *s = *sp;
	int rc, i;

	if (!s) {
		rc = cli_open_store(ctx, a->store_path, &s);
		if (rc)
			return rc;
		*sp = s;
	}
	if (a->config_path && !a->config) {
		rc = read_file(a->config_path, &a->config, &a->config_len);
		if (rc)
			return rc;
	}
	o.config_json = a->config;
	o.config_len = a->config_len;
	rc = cxlms_llama_open(s, &o, mp);
	if (rc) {
		cli_err("%s: %s", a->store_path, cxlms_llama_last_error());
		return llama_exit(rc);
	}
	for (i = 0; i < (int)a->n_ov; i++) {
		rc = cxlms_llama_set_tensor_bits(*mp, a->ov[i].pattern,
						 bits ? a->ov[i].bits : 0);
		if (rc == 0) {
			cli_err("--tensor-bits: '%s' matches no weight matrix of the model",
				a->ov[i].pattern);
			return EXIT_USAGE;
		}
	}
	if (bits == CXLMS_BITS_POLICY) {
		rc = cxlms_set_context(s, a->context);
		if (rc < 0) {
			cli_err("%s: context %s: %s", a->store_path,
				a->context ? a->context : "(default)",
				rc == -ENOENT ? "not in the store's maps" :
				rc == -ENODATA ? "no maps published (is cxlmsd running?)" :
				cxlms_strerror(rc));
			return EXIT_ERROR;
		}
	}
	return EXIT_OK;
}

/* "1,2,3" or "1 2 3" into @toks; count or -1 (message printed). */
static int parse_tokens(const char *what, const char *s, int32_t **toks)
{
	size_t cap = 64, n = 0;
	int32_t *t = malloc(cap * sizeof(*t));

	while (t && *s) {
		char *e;
		long v;

		while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		if (!*s)
			break;
		errno = 0;
		v = strtol(s, &e, 10);
		if (e == s || errno || v < 0 || v > INT32_MAX ||
		    (*e && !strchr(" ,\t\r\n", *e))) {
			cli_err("%s: '%.20s' is not a token id (decimal, 0 or more)", what, s);
			free(t);
			return -1;
		}
		if (n == cap) {
			int32_t *nt = realloc(t, 2 * cap * sizeof(*t));

			if (!nt)
				break;
			t = nt;
			cap *= 2;
		}
		t[n++] = (int32_t)v;
		s = e;
	}
	if (!t || *s) {
		cli_err("out of memory");
		free(t);
		return -1;
	}
	*toks = t;
	return (int)n;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static int32_t sample(const float *logits, uint32_t vocab, double temp, uint64_t *rng)
{
	uint32_t i, best = 0;
	double sum = 0, r, mx;

	for (i = 1; i < vocab; i++)
		if (logits[i] > logits[best])
			best = i;
	if (temp <= 0)
		return (int32_t)best;
	mx = logits[best];
	for (i = 0; i < vocab; i++)
		sum += exp((logits[i] - mx) / temp);
	r = (double)(rng_next(rng) >> 11) / 9007199254740992.0 * sum;
	for (i = 0; i < vocab; i++) {
		r -= exp((logits[i] - mx) / temp);
		if (r <= 0)
			return (int32_t)i;
	}
	return (int32_t)best;
}

static const struct option common_opts[] = {
	{ "bits", required_argument, NULL, 'b' },
	{ "context", required_argument, NULL, OPT_CONTEXT },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "tensor-bits", required_argument, NULL, OPT_TENSOR_BITS },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "act", required_argument, NULL, OPT_ACT },
	{ "ctx-len", required_argument, NULL, OPT_CTX_LEN },
	{ "verbose", no_argument, NULL, 'v' },
};
#define N_COMMON (sizeof(common_opts) / sizeof(common_opts[0]))

static int store_operand(int argc, char **argv, struct llama_args *a)
{
	if (optind >= argc)
		return cli_usage_err("missing STORE");
	if (optind + 1 < argc)
		return cli_usage_err("unexpected operand '%s'", argv[optind + 1]);
	a->store_path = argv[optind];
	return 0;
}

/* --- run --------------------------------------------------------------- */

static int run_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	struct option opts[N_COMMON + 5] = {
		{ "tokens", required_argument, NULL, OPT_TOKENS },
		{ "temp", required_argument, NULL, OPT_TEMP },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "n", required_argument, NULL, 'n' },
	};
	struct llama_args a = { .bits = 0 };
	const char *tok_arg = NULL;
	struct cxlms_store *s = NULL;
	struct cxlms_llama *m = NULL;
	uint64_t n_gen = 16, seed = 1, v;
	int32_t *toks = NULL, next;
	double temp = 0, t0, t1, t2;
	float *logits = NULL;
	int c, rc, n_prompt;
	uint64_t i;

	memcpy(opts + 4, common_opts, sizeof(common_opts));
	while ((c = getopt_long(argc, argv, ":b:n:v", opts, NULL)) != -1) {
		rc = common_opt(c, &a);
		if (rc == 0)
			continue;
		if (rc != 1)
			return rc;
		switch (c) {
		case OPT_TOKENS:
			tok_arg = optarg;
			break;
		case 'n':
			if (!cli_parse_u64("-n", optarg, 0, 1u << 20, &n_gen))
				return EXIT_USAGE;
			break;
		case OPT_SEED:
			if (!cli_parse_u64("--seed", optarg, 0, UINT64_MAX, &seed))
				return EXIT_USAGE;
			break;
		case OPT_TEMP: {
			char *e;

			temp = strtod(optarg, &e);
			if (e == optarg || *e || !(temp >= 0) || temp > 100)
				return cli_usage_err("--temp: '%s' is not a number in [0, 100]",
						     optarg);
			break;
		}
		default:
			return cli_getopt_err(c, argv);
		}
	}
	cli_setup_log(ctx);
	if (store_operand(argc, argv, &a))
		return EXIT_USAGE;
	if (!tok_arg)
		return cli_usage_err("--tokens is required (the prompt's token ids)");
	n_prompt = parse_tokens("--tokens", tok_arg, &toks);
	if (n_prompt < 0)
		return EXIT_USAGE;
	if (!n_prompt) {
		free(toks);
		return cli_usage_err("--tokens: no token ids");
	}
	if (a.context && a.bits != CXLMS_BITS_POLICY) {
		free(toks);
		return cli_usage_err("--context needs --bits policy");
	}
	rc = open_model(ctx, &a, a.bits, &s, &m);
	if (rc)
		goto out;
	logits = malloc(cxlms_llama_get_config(m)->vocab * sizeof(float));
	if (!logits) {
		cli_err("out of memory");
		rc = EXIT_ERROR;
		goto out;
	}
	(void)v;
	t0 = cli_now();
	rc = cxlms_llama_forward(m, toks, (unsigned int)n_prompt, logits,
				 CXLMS_LLAMA_LAST_ONLY);
	if (rc) {
		cli_err("%s: %s", a.store_path, cxlms_llama_last_error());
		rc = llama_exit(rc);
		goto out;
	}
	t1 = cli_now();
	for (i = 0; i < n_gen; i++) {
		next = sample(logits, cxlms_llama_get_config(m)->vocab, temp, &seed);
		printf("%s%d", i ? " " : "", next);
		fflush(stdout);
		if (i + 1 == n_gen)
			break;
		rc = cxlms_llama_forward(m, &next, 1, logits, 0);
		if (rc) {
			printf("\n");
			cli_err("%s: after %" PRIu64 " tokens: %s", a.store_path, i + 1,
				cxlms_llama_last_error());
			rc = llama_exit(rc);
			goto out;
		}
	}
	t2 = cli_now();
	printf("\n");
	printf("prompt: %d tokens, %.1f tokens/s\n", n_prompt, n_prompt / (t1 - t0));
	/* Generation: the n - 1 forwards after the first sample. */
	printf("generation: %" PRIu64 " tokens, %.1f tokens/s\n", n_gen,
	       n_gen > 1 ? (double)(n_gen - 1) / (t2 - t1) : 0.0);
	rc = EXIT_OK;
out:
	free(logits);
	free(toks);
	free(a.config);
	cxlms_llama_free(m);
	cxlms_store_unref(s);
	return rc;
}

const struct cli_cmd cmd_run = {
	.name = "run",
	.summary = "generate tokens with the reference Llama engine",
	.fn = run_main,
	.help =
	"usage: cxlms run STORE --tokens IDS [-n N] [--bits K|full|policy\n"
	"                 [--context NAME]] [--tensor-bits PATTERN=K]... [--threads N]\n"
	"                 [--act f32|q8] [--temp T] [--seed S] [--config FILE]\n"
	"                 [--ctx-len N] [-v]\n"
	"\n"
	"Run the Llama model in STORE (its config.json and HF tensor names, see\n"
	"docs/engine.md) on the prompt IDS (token ids, comma or space separated),\n"
	"then generate N tokens (default 16), every weight matrix read straight\n"
	"from its bit-planes by cxlms_gemm().  Prints the generated ids on one\n"
	"line, then \"prompt: N tokens, X tokens/s\" and \"generation: ...\".\n"
	"The store holds no tokenizer: ids in, ids out.\n"
	"\n"
	"Options:\n"
	"  --tokens IDS          the prompt (required)\n"
	"  -n N                  tokens to generate (default 16)\n"
	"  -b, --bits K          planes of the matrices: full (default), 1..8 (the\n"
	"                        int8 matrices; 16-bit ones stay full), 9..15 (also\n"
	"                        16-bit ones their format serves at K), or policy\n"
	"                        (each tile as the context's map says)\n"
	"  --context NAME        the context for --bits policy\n"
	"  --tensor-bits P=K     read the matrices matching P (fnmatch) at K bits\n"
	"                        instead (repeatable; K as for --bits)\n"
	"  --threads N           GEMV threads (default 1)\n"
	"  --act f32|q8          activations of the GEMVs: exact f32 (default) or\n"
	"                        int8 per 32 columns (faster, ~5e-3 relative error)\n"
	"  --temp T              sampling temperature (default 0: greedy)\n"
	"  --seed S              sampling seed (default 1)\n"
	"  --config FILE         a config.json to use (stores on /dev/cxlmsN keep none)\n"
	"  --ctx-len N           KV cache length (default: max_position_embeddings)\n"
	"  -v, --verbose         library messages\n"
	"  -h, --help            this help\n",
};

/* --- eval -------------------------------------------------------------- */

struct seqs {
	int32_t **tok;
	unsigned int *len, n;
};

static int read_seqs(const char *path, struct seqs *q)
{
	char *buf, *line, *save = NULL;
	size_t len, lineno = 0;
	int rc;

	rc = read_file(path, &buf, &len);
	if (rc)
		return rc;
	if (strlen(buf) != len) {
		cli_err("%s: contains a NUL byte: not a text file of token ids", path);
		free(buf);
		return EXIT_USAGE;
	}
	memset(q, 0, sizeof(*q));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char what[64];
		int32_t *t;
		int n;

		lineno++;
		snprintf(what, sizeof(what), "%s:%zu", path, lineno);
		n = parse_tokens(what, line, &t);
		if (n < 0) {
			rc = EXIT_USAGE;
			break;
		}
		if (!n) {
			free(t);
			continue;
		}
		int32_t **nt = realloc(q->tok, (q->n + 1) * sizeof(*nt));
		unsigned int *nl = realloc(q->len, (q->n + 1) * sizeof(*nl));

		if (nt)
			q->tok = nt;
		if (nl)
			q->len = nl;
		if (!nt || !nl) {
			free(t);
			cli_err("out of memory");
			rc = EXIT_ERROR;
			break;
		}
		q->tok[q->n] = t;
		q->len[q->n++] = (unsigned int)n;
	}
	free(buf);
	if (!rc && !q->n) {
		cli_err("%s: no token sequences", path);
		rc = EXIT_USAGE;
	}
	return rc;
}

static void free_seqs(struct seqs *q)
{
	for (unsigned int i = 0; i < q->n; i++)
		free(q->tok[i]);
	free(q->tok);
	free(q->len);
}

/* log-softmax of @l into @o (vocab entries). */
static void log_softmax(const float *l, double *o, uint32_t vocab)
{
	double mx = l[0], sum = 0;
	uint32_t i;

	for (i = 1; i < vocab; i++)
		if (l[i] > mx)
			mx = l[i];
	for (i = 0; i < vocab; i++)
		sum += exp(l[i] - mx);
	for (i = 0; i < vocab; i++)
		o[i] = l[i] - mx - log(sum);
}

static uint32_t argmax(const float *l, uint32_t vocab)
{
	uint32_t i, b = 0;

	for (i = 1; i < vocab; i++)
		if (l[i] > l[b])
			b = i;
	return b;
}

static int eval_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	struct option opts[N_COMMON + 4] = {
		{ "tokens", required_argument, NULL, OPT_TOKENS },
		{ "logits-out", required_argument, NULL, OPT_LOGITS_OUT },
		{ "json", no_argument, NULL, OPT_JSON },
	};
	struct llama_args a = { .bits = 0 };
	const char *tok_path = NULL, *logits_path = NULL;
	struct cxlms_store *s = NULL;
	struct cxlms_llama *m = NULL, *ref = NULL;
	struct cxlms_stats st0, st1;
	float *lg = NULL, *lr = NULL;
	double *pl = NULL, *pr = NULL, kl = 0, nll = 0, t0, secs;
	uint64_t positions = 0, next_pos = 0, agree = 0, bytes = 0;
	bool json = false;
	FILE *lf = NULL;
	struct seqs q = { 0 };
	uint32_t vocab;
	unsigned int i, t;
	int c, rc;

	memcpy(opts + 3, common_opts, sizeof(common_opts));
	while ((c = getopt_long(argc, argv, ":b:v", opts, NULL)) != -1) {
		rc = common_opt(c, &a);
		if (rc == 0)
			continue;
		if (rc != 1)
			return rc;
		switch (c) {
		case OPT_TOKENS:
			tok_path = optarg;
			break;
		case OPT_LOGITS_OUT:
			logits_path = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		default:
			return cli_getopt_err(c, argv);
		}
	}
	cli_setup_log(ctx);
	if (store_operand(argc, argv, &a))
		return EXIT_USAGE;
	if (!tok_path)
		return cli_usage_err("--tokens FILE is required (one sequence of ids per line)");
	if (a.context && a.bits != CXLMS_BITS_POLICY)
		return cli_usage_err("--context needs --bits policy");
	if (logits_path) {
		const char *in[] = { a.store_path, tok_path };

		rc = cli_check_output(logits_path, true, in, 2);
		if (rc)
			return rc;
	}
	rc = read_seqs(tok_path, &q);
	if (rc)
		goto out;
	rc = open_model(ctx, &a, a.bits, &s, &m);
	if (rc)
		goto out;
	/* The reference: the same store at all planes, no overrides. */
	{
		struct llama_args ra = a;

		ra.n_ov = 0;
		ra.gemv_flags = 0;
		rc = open_model(ctx, &ra, 0, &s, &ref);
		if (rc)
			goto out;
	}
	vocab = cxlms_llama_get_config(m)->vocab;
	for (i = 0; i < q.n; i++)
		if (q.len[i] > (a.max_seq ? a.max_seq : cxlms_llama_get_config(m)->max_seq)) {
			cli_err("%s: line %u: %u tokens, the context holds %u", tok_path, i + 1,
				q.len[i], a.max_seq ? a.max_seq : cxlms_llama_get_config(m)->max_seq);
			rc = EXIT_CONTEXT;
			goto out;
		}
	if (logits_path) {
		lf = strcmp(logits_path, "-") ? fopen(logits_path, "wb") : stdout;
		if (!lf) {
			cli_err("%s: %s", logits_path, strerror(errno));
			rc = EXIT_ERROR;
			goto out;
		}
	}
	pl = malloc(2 * (size_t)vocab * sizeof(double));
	pr = pl ? pl + vocab : NULL;
	secs = 0;
	for (i = 0; i < q.n && !rc; i++) {
		unsigned int n = q.len[i];

		free(lg);
		free(lr);
		lg = malloc((size_t)n * vocab * sizeof(float));
		lr = malloc((size_t)n * vocab * sizeof(float));
		if (!lg || !lr || !pl) {
			cli_err("out of memory");
			rc = EXIT_ERROR;
			break;
		}
		cxlms_llama_reset(m);
		cxlms_llama_reset(ref);
		cxlms_store_get_stats(s, &st0);
		t0 = cli_now();
		rc = cxlms_llama_forward(m, q.tok[i], n, lg, 0);
		secs += cli_now() - t0;
		cxlms_store_get_stats(s, &st1);
		for (unsigned int p = 0; p < CXLMS_MAX_PLANES; p++)
			bytes += st1.plane_bytes[p] - st0.plane_bytes[p];
		bytes += st1.side_bytes - st0.side_bytes;
		if (!rc)
			rc = cxlms_llama_forward(ref, q.tok[i], n, lr, 0);
		if (rc) {
			cli_err("%s: line %u: %s", tok_path, i + 1, cxlms_llama_last_error());
			rc = llama_exit(rc);
			break;
		}
		for (t = 0; t < n; t++) {
			const float *a_ = lg + (size_t)t * vocab, *r_ = lr + (size_t)t * vocab;
			double d = 0;

			log_softmax(a_, pl, vocab);
			log_softmax(r_, pr, vocab);
			for (uint32_t j = 0; j < vocab; j++)
				d += exp(pr[j]) * (pr[j] - pl[j]);
			kl += d;
			agree += argmax(a_, vocab) == argmax(r_, vocab);
			positions++;
			if (t + 1 < n) {
				nll -= pl[q.tok[i][t + 1]];
				next_pos++;
			}
		}
		if (lf && fwrite(lg, sizeof(float), (size_t)n * vocab, lf) != (size_t)n * vocab) {
			cli_err("%s: %s", logits_path, strerror(errno));
			rc = EXIT_ERROR;
		}
	}
	if (lf && lf != stdout && fclose(lf) && !rc) {
		cli_err("%s: %s", logits_path, strerror(errno));
		rc = EXIT_ERROR;
	}
	lf = NULL;
	if (rc)
		goto out;
	{
		char bits[16];

		if (a.bits == CXLMS_BITS_POLICY)
			snprintf(bits, sizeof(bits), "policy");
		else if (!a.bits)
			snprintf(bits, sizeof(bits), "full");
		else
			snprintf(bits, sizeof(bits), "%u", a.bits);
		if (json) {
			printf("{\"bits\": \"%s\", \"context\": ", bits);
			if (a.context)
				cli_json_string(stdout, a.context);
			else
				printf("null");
			printf(", \"sequences\": %u, \"tokens\": %" PRIu64 ", \"kld\": %.9g,"
			       " \"top1\": %.6f, \"ppl\": %.6f, \"ref_ppl_positions\": %" PRIu64
			       ", \"bytes_per_token\": %.1f, \"tokens_per_s\": %.2f}\n", q.n,
			       positions, kl / positions, (double)agree / positions,
			       next_pos ? exp(nll / next_pos) : 0.0, next_pos,
			       (double)bytes / positions, positions / secs);
		} else {
			printf("bits: %s%s%s\n", bits, a.context ? ", context " : "",
			       a.context ? a.context : "");
			printf("sequences: %u, tokens: %" PRIu64 "\n", q.n, positions);
			printf("mean KL divergence vs full precision: %.6g nats/token\n",
			       kl / positions);
			printf("top-1 agreement: %.4f\n", (double)agree / positions);
			printf("perplexity: %.4f (%" PRIu64 " predicted tokens)\n",
			       next_pos ? exp(nll / next_pos) : 0.0, next_pos);
			printf("weight bytes read per token: %.0f\n", (double)bytes / positions);
			printf("speed: %.1f tokens/s\n", positions / secs);
		}
	}
out:
	if (lf && lf != stdout)
		fclose(lf);
	free(lg);
	free(lr);
	free(pl);
	free_seqs(&q);
	free(a.config);
	cxlms_llama_free(m);
	cxlms_llama_free(ref);
	cxlms_store_unref(s);
	return rc;
}

const struct cli_cmd cmd_eval = {
	.name = "eval",
	.summary = "quality of a precision: KL divergence, top-1, perplexity",
	.fn = eval_main,
	.help =
	"usage: cxlms eval STORE --tokens FILE [--bits K|full|policy [--context NAME]]\n"
	"                  [--tensor-bits PATTERN=K]... [--threads N] [--act f32|q8]\n"
	"                  [--logits-out FILE] [--json] [--config FILE] [-v]\n"
	"\n"
	"Run every sequence of FILE (one line of token ids each) through the\n"
	"Llama model in STORE at the bits asked for and at full precision (all\n"
	"planes, f32 activations), and print the mean KL divergence of the\n"
	"next-token distributions (full || asked, nats per token, over every\n"
	"position), the top-1 agreement, the perplexity of the sequences at the\n"
	"asked bits (each token after the first), the weight bytes read per token\n"
	"and the speed of the asked model.\n"
	"\n"
	"Options (and those of cxlms run: --bits, --context, --tensor-bits,\n"
	"--threads, --act, --config, --ctx-len):\n"
	"  --tokens FILE         the sequences (required)\n"
	"  --logits-out FILE     raw little-endian f32 logits [tokens, vocab] of\n"
	"                        every sequence in order, at the asked bits (- : stdout)\n"
	"  --json                one JSON object instead of the text\n"
	"  -h, --help            this help\n",
};

/* --- calibrate --------------------------------------------------------- */

#define CAL_MAX	1024

/* Mean squared input activation per weight matrix, from the engine's hook. */
struct cal {
	struct cxlms_tensor *t[CAL_MAX];
	double sum[CAL_MAX];
	uint64_t count[CAL_MAX];
	unsigned int n;
	bool overflow;
};

static void cal_hook(void *arg, struct cxlms_tensor *w, const float *x,
		     unsigned int n_vec, unsigned int cols)
{
	struct cal *c = arg;
	unsigned int i;
	double s = 0;

	for (i = 0; i < c->n && c->t[i] != w; i++)
		;
	if (i == c->n) {
		if (c->n == CAL_MAX) {
			c->overflow = true;
			return;
		}
		c->t[c->n++] = w;
	}
	for (size_t j = 0; j < (size_t)n_vec * cols; j++)
		s += (double)x[j] * x[j];
	c->sum[i] += s;
	c->count[i] += (uint64_t)n_vec * cols;
}

static int calibrate_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	struct option opts[N_COMMON + 3] = {
		{ "tokens", required_argument, NULL, OPT_TOKENS },
		{ "output", required_argument, NULL, 'o' },
	};
	struct llama_args a = { .bits = 0 };
	const char *tok_path = NULL, *out_path = "-";
	struct cxlms_store *s = NULL;
	struct cxlms_llama *m = NULL;
	struct cal *cal = calloc(1, sizeof(*cal));
	struct seqs q = { 0 };
	float *lg = NULL;
	double mean = 0;
	FILE *f = NULL;
	unsigned int i;
	int c, rc;

	if (!cal) {
		cli_err("out of memory");
		return EXIT_ERROR;
	}
	memcpy(opts + 2, common_opts, sizeof(common_opts));
	while ((c = getopt_long(argc, argv, ":o:v", opts, NULL)) != -1) {
		rc = common_opt(c, &a);
		if (rc == 0)
			continue;
		if (rc != 1)
			goto out_free;
		switch (c) {
		case OPT_TOKENS:
			tok_path = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		default:
			rc = cli_getopt_err(c, argv);
			goto out_free;
		}
	}
	cli_setup_log(ctx);
	rc = EXIT_USAGE;
	if (store_operand(argc, argv, &a))
		goto out_free;
	if (!tok_path) {
		rc = cli_usage_err("--tokens FILE is required (calibration sequences)");
		goto out_free;
	}
	if (a.have_bits || a.n_ov || a.context) {
		rc = cli_usage_err("calibrate runs at full precision: no --bits, --tensor-bits"
				   " or --context");
		goto out_free;
	}
	{
		const char *in[] = { a.store_path, tok_path };

		rc = cli_check_output(out_path, true, in, 2);
		if (rc)
			goto out_free;
	}
	rc = read_seqs(tok_path, &q);
	if (rc)
		goto out;
	rc = open_model(ctx, &a, 0, &s, &m);
	if (rc)
		goto out;
	cxlms_llama_free(m);
	m = NULL;
	{
		struct cxlms_llama_opts o = { .size = sizeof(o), .threads = a.threads,
					      .max_seq = a.max_seq, .config_json = a.config,
					      .config_len = a.config_len, .hook = cal_hook,
					      .hook_arg = cal };

		rc = cxlms_llama_open(s, &o, &m);
		if (rc) {
			cli_err("%s: %s", a.store_path, cxlms_llama_last_error());
			rc = llama_exit(rc);
			goto out;
		}
	}
	for (i = 0; i < q.n; i++) {
		free(lg);
		lg = malloc(cxlms_llama_get_config(m)->vocab * sizeof(float));
		if (!lg) {
			cli_err("out of memory");
			rc = EXIT_ERROR;
			goto out;
		}
		cxlms_llama_reset(m);
		rc = cxlms_llama_forward(m, q.tok[i], q.len[i], lg, CXLMS_LLAMA_LAST_ONLY);
		if (rc) {
			cli_err("%s: line %u: %s", tok_path, i + 1, cxlms_llama_last_error());
			rc = llama_exit(rc);
			goto out;
		}
	}
	if (cal->overflow) {
		cli_err("more than %d weight matrices", CAL_MAX);
		rc = EXIT_ERROR;
		goto out;
	}
	for (i = 0; i < cal->n; i++)
		mean += cal->sum[i] / cal->count[i] / cal->n;
	f = strcmp(out_path, "-") ? fopen(out_path, "w") : stdout;
	if (!f) {
		cli_err("%s: %s", out_path, strerror(errno));
		rc = EXIT_ERROR;
		goto out;
	}
	fprintf(f, "# cxlms calibrate: mean squared input activation per weight matrix,\n"
		"# relative to the mean over matrices; %u sequences of %s\n", q.n, tok_path);
	for (i = 0; i < cal->n; i++)
		fprintf(f, "%s %.6g\n", cxlms_tensor_get_name(cal->t[i]),
			mean > 0 ? cal->sum[i] / cal->count[i] / mean : 1.0);
	if ((f != stdout && fclose(f)) || (f == stdout && fflush(f))) {
		cli_err("%s: %s", out_path, strerror(errno));
		rc = EXIT_ERROR;
		goto out;
	}
	rc = EXIT_OK;
out:
	free(lg);
	free_seqs(&q);
	free(a.config);
	cxlms_llama_free(m);
	cxlms_store_unref(s);
out_free:
	free(cal);
	return rc;
}

const struct cli_cmd cmd_calibrate = {
	.name = "calibrate",
	.summary = "per-matrix activation energy of a context, for cxlmsd's budget mode",
	.fn = calibrate_main,
	.help =
	"usage: cxlms calibrate STORE --tokens FILE [-o FILE] [--threads N]\n"
	"                       [--config FILE] [--ctx-len N] [-v]\n"
	"\n"
	"Run the calibration sequences of FILE (one line of token ids each)\n"
	"through the Llama model in STORE at full precision and print, per weight\n"
	"matrix, the mean squared value of its input activations relative to the\n"
	"mean over all matrices: \"NAME IMPORTANCE\" lines.  A tile's expected\n"
	"output error at k bits is that times its weight error power, which is\n"
	"what cxlmsd's budget mode ranks (importance x sigma^2 x 4^-k): feed each\n"
	"line to `cxlms policy report NAME '*' IMPORTANCE`, then `sync`\n"
	"(docs/engine.md, \"Context calibration\").\n"
	"\n"
	"Options:\n"
	"  --tokens FILE         the calibration sequences (required)\n"
	"  -o, --output FILE     where to write (default - : stdout)\n"
	"  -h, --help            this help\n",
};
