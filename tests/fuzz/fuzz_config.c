// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: cxlmsd's configuration loader (daemon/config.c on
 * inih, with the rule patterns of daemon/match.c), through its one entry
 * point cxlmsd_config_load(), as the daemon calls it at start and on
 * SIGHUP.  The input is the main file and up to three drop-ins, separated
 * by lines "--8<--": the main file goes into a memfd named by path, the
 * drop-ins into 10-a.conf, 20-b.conf, 30-c.conf of a private directory.
 *
 * A config that loads must be complete (store path, a context, the
 * default context found, valid rule patterns); its contexts then run
 * through the map engine over a small fixed model, and every tile of
 * the map must get 1..planes bits.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "cxlmsd.h"

#define SEP		"\n--8<--\n"
#define MAX_DROPINS	3

static int mfd;
static char main_path[64];
static char dir[64];
static const char *const dropin_names[MAX_DROPINS] = {
	"10-a.conf", "20-b.conf", "30-c.conf",
};

/* A model of 4 tensors, 7 tiles, names a rule pattern may aim at. */
static char *names[] = {
	"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
	"model.layers.12.mlp.down_proj.weight", "lm_head.weight",
};
static uint8_t planes[] = { 8, 16, 8, 16 };
static uint8_t min_bits[] = { 1, 9, 1, 6 };
static uint32_t tile_base[] = { 0, 1, 3, 6, 7 };
static uint64_t tile_elems[] = { 4096, 2048, 2048, 1024, 1024, 512, 4096 };
static double importance[] = { 1, 2, 0.5, 1, 16, 1, 0.25 };
static double energy[] = { 1, 0.5, 0.5, 2, 2, 2, 1 };
static const struct cxlmsd_model model = {
	.n_tensors = 4, .names = names, .planes = planes, .min_bits = min_bits,
	.tile_base = tile_base, .n_tiles = 7, .tile_elems = tile_elems,
	.importance = importance, .energy = energy,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	mfd = fuzz_memfd("fuzz-config", main_path, sizeof(main_path));
	snprintf(dir, sizeof(dir), "/tmp/cxlms-fuzz-config.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	return 0;
}

static void write_file(const char *name, const uint8_t *p, size_t len)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			abort();
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

static void check_loaded(const struct cxlmsd_config *cfg)
{
	unsigned int i, j, t;
	uint8_t map[7];
	char why[256];

	FUZZ_ASSERT(cfg->store_path && cfg->store_path[0] == '/');
	FUZZ_ASSERT(cfg->socket_path && cfg->n_contexts > 0 && !cfg->n_errors);
	FUZZ_ASSERT(!cfg->default_context ||
		    cxlmsd_config_find(cfg, cfg->default_context));
	for (i = 0; i < cfg->n_contexts; i++) {
		const struct cxlmsd_context *c = &cfg->contexts[i];
		struct cxlmsd_ctx_state st = { 0 };
		int rc;

		FUZZ_ASSERT(cxlms_policy_name_valid(c->name));
		FUZZ_ASSERT(cxlmsd_config_find(cfg, c->name) == c);
		for (j = 0; j < c->n_rules; j++) {
			const char *w;

			FUZZ_ASSERT(cxlmsd_pattern_valid(c->rules[j].pattern, &w));
			FUZZ_ASSERT(c->rules[j].tile_lo <= c->rules[j].tile_hi);
			for (t = 0; t < model.n_tensors; t++)
				(void)cxlmsd_match(c->rules[j].pattern, names[t]);
		}
		memset(map, 0, sizeof(map));
		rc = cxlmsd_engine_map(c, &model, &st, map, why, sizeof(why));
		FUZZ_ASSERT(rc == 0 || rc == -ERANGE);
		if (rc)
			continue;
		for (t = 0; t < model.n_tensors; t++)
			for (j = tile_base[t]; j < tile_base[t + 1]; j++)
				FUZZ_ASSERT(map[j] >= 1 && map[j] <= planes[t]);
		if (c->mode == CXLMSD_MODE_PRESSURE && st.max_level) {
			st.level = st.max_level;
			rc = cxlmsd_engine_map(c, &model, &st, map, why, sizeof(why));
			FUZZ_ASSERT(rc == 0 || rc == -ERANGE);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *end = data + size, *p = data, *q;
	struct cxlmsd_config cfg;
	unsigned int part = 0, i;
	char path[128];
	int rc;

	for (i = 0; i < MAX_DROPINS; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, dropin_names[i]);
		unlink(path);
	}
	for (;;) {
		q = memmem(p, (size_t)(end - p), SEP, sizeof(SEP) - 1);
		if (part == MAX_DROPINS || !q)
			q = end;
		if (part == 0)
			fuzz_memfd_set(mfd, p, (size_t)(q - p));
		else
			write_file(dropin_names[part - 1], p, (size_t)(q - p));
		part++;
		if (q == end)
			break;
		p = q + sizeof(SEP) - 1;
	}
	lseek(mfd, 0, SEEK_SET);

	rc = cxlmsd_config_load(&cfg, main_path, dir);
	FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc == -EINVAL)
		FUZZ_ASSERT(cfg.n_errors > 0);
	for (i = 0; i < cfg.n_errors; i++) {
		FUZZ_ASSERT(cfg.errors[i] && cfg.errors[i][0]);
		if (getenv("CXLMS_FUZZ_VERBOSE"))
			fprintf(stderr, "config: %s\n", cfg.errors[i]);
	}
	if (getenv("CXLMS_FUZZ_VERBOSE"))
		fprintf(stderr, "config: rc %d, %u contexts\n", rc, cfg.n_contexts);
	if (!rc)
		check_loaded(&cfg);
	cxlmsd_config_free(&cfg);
	return 0;
}
