// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: cxlmsd's control protocol parser (daemon/control.c,
 * cxlmsd_control_line()), without sockets.  The input is what a client
 * writes to the socket: it is cut into lines as the daemon's client_input()
 * does (at '\n', a trailing '\r' dropped, a line holding a NUL refused
 * before the parser, as there), each line goes to cxlmsd_control_line()
 * with its reply in an open_memstream() like the daemon's.
 *
 * The ops behind the protocol are the daemon's in miniature: report finds
 * the tile with cxlmsd_model_tile() in a small model and stores the
 * importance, set-context looks the name up in a config, sync recomputes
 * the maps with the engine (budget context), load adds with overflow
 * check.  Invariants: every reply ends in exactly one final "ok..." or
 * "err ERRNAME ..." line, "ok" exactly when the return is 0, and the
 * model's importances stay in 0..1e6.
 */
#include <errno.h>
#include <math.h>

#include "fuzz_common.h"
#include "cxlmsd.h"

#define MAX_LINES	64

static char *names[] = {
	"tok_embeddings.weight", "layers.0.attention.wq.weight", "output.weight",
};
static uint8_t planes[] = { 8, 16, 8 };
static uint8_t min_bits[] = { 1, 9, 1 };
static uint32_t tile_base[] = { 0, 2, 5, 6 };
static uint64_t tile_elems[] = { 4096, 4096, 2048, 2048, 1024, 4096 };
static double importance[6];
static struct cxlmsd_model model = {
	.n_tensors = 3, .names = names, .planes = planes, .min_bits = min_bits,
	.tile_base = tile_base, .n_tiles = 6, .tile_elems = tile_elems,
	.importance = importance,
};
static struct cxlmsd_context contexts[2] = {
	{ .name = "quality", .mode = CXLMSD_MODE_FIXED, .default_bits = 16 },
	{ .name = "balanced", .mode = CXLMSD_MODE_BUDGET, .budget_x100 = 450,
	  .min_bits = 2, .max_bits = 8 },
};

struct state {
	unsigned int default_ctx;
	uint64_t load_bytes, generation;
	bool dirty;
	uint8_t map[6];
};

static void op_show(void *arg, FILE *out)
{
	struct state *s = arg;
	unsigned int i;

	fprintf(out, "generation %llu\n", (unsigned long long)s->generation);
	fprintf(out, "default-context %s\n", contexts[s->default_ctx].name);
	for (i = 0; i < 2; i++)
		fprintf(out, "context %s\n", contexts[i].name);
}

static int op_set_context(void *arg, const char *name)
{
	struct state *s = arg;
	unsigned int i;

	FUZZ_ASSERT(cxlms_policy_name_valid(name));
	for (i = 0; i < 2; i++)
		if (!strcmp(contexts[i].name, name)) {
			s->default_ctx = i;
			s->generation++;
			return 0;
		}
	return -ENOENT;
}

static int op_report(void *arg, const char *tensor, long tile, double imp)
{
	struct state *s = arg;
	unsigned int n, k;
	long g;

	FUZZ_ASSERT(isfinite(imp) && imp >= 0 && imp <= 1e6);
	FUZZ_ASSERT(tile >= -1 && tile <= (long)UINT32_MAX);
	FUZZ_ASSERT(tensor[0] && !strpbrk(tensor, " \t\r\n"));
	g = cxlmsd_model_tile(&model, tensor, tile < 0 ? 0 : (unsigned int)tile, &n);
	if (g < 0)
		return (int)g;
	FUZZ_ASSERT(g + (tile < 0 ? n : 1) <= model.n_tiles);
	if (tile < 0)
		for (k = 0; k < n; k++)
			importance[g + k] = imp;
	else
		importance[g] = imp;
	s->dirty = true;
	return 0;
}

static int op_load(void *arg, uint64_t bytes)
{
	struct state *s = arg;

	if (s->load_bytes + bytes < s->load_bytes)
		return -ERANGE;
	s->load_bytes += bytes;
	return 0;
}

static int op_sync(void *arg, uint64_t *gen)
{
	struct state *s = arg;
	struct cxlmsd_ctx_state st = { 0 };
	char why[128];
	int rc = 0;

	if (s->dirty) {
		rc = cxlmsd_engine_map(&contexts[1], &model, &st, s->map, why, sizeof(why));
		FUZZ_ASSERT(rc == 0 || rc == -ERANGE);
		if (!rc)
			s->generation++;
		s->dirty = false;
	}
	*gen = s->generation;
	return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static void check_reply(const char *reply, size_t len, int rc)
{
	const char *last;

	FUZZ_ASSERT(len > 0 && reply[len - 1] == '\n' && strlen(reply) == len);
	/* The final line starts after the last-but-one newline. */
	last = reply + len - 1;
	while (last > reply && last[-1] != '\n')
		last--;
	if (rc == 0) {
		FUZZ_ASSERT(!strncmp(last, "ok", 2) && (last[2] == '\n' || last[2] == ' '));
	} else {
		FUZZ_ASSERT(rc < 0 && !strncmp(last, "err E", 5));
	}
	/* No earlier line is a final line (data lines come first). */
	for (const char *l = reply; l < last; l = strchr(l, '\n') + 1)
		FUZZ_ASSERT(strncmp(l, "err ", 4) && strncmp(l, "ok\n", 3));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state s = { 0 };
	struct cxlmsd_ops ops = {
		.arg = &s, .show = op_show, .set_context = op_set_context,
		.report = op_report, .load = op_load, .sync = op_sync,
	};
	char *buf, *p, *nl, *reply = NULL;
	unsigned int lines = 0, i;
	size_t rlen = 0;
	FILE *out;
	int rc;

	for (i = 0; i < model.n_tiles; i++)
		importance[i] = 1.0;
	/* NUL-terminated copy: the parser gets C strings. */
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	p = buf;
	while (lines++ < MAX_LINES && (nl = memchr(p, '\n', (size_t)(buf + size - p)))) {
		bool has_nul = memchr(p, '\0', (size_t)(nl - p)) != NULL;

		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		out = open_memstream(&reply, &rlen);
		if (!out)
			abort();
		if (has_nul) {
			rc = -EINVAL;
			fputs("err EINVAL NUL byte in request\n", out);
		} else {
			rc = cxlmsd_control_line(&ops, p, out);
		}
		fclose(out);
		check_reply(reply, rlen, rc);
		free(reply);
		reply = NULL;
		p = nl + 1;
	}
	for (i = 0; i < model.n_tiles; i++)
		FUZZ_ASSERT(importance[i] >= 0 && importance[i] <= 1e6);
	free(buf);
	return 0;
}
