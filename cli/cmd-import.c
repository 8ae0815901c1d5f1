// SPDX-License-Identifier: GPL-2.0
/* cxlms import: safetensors files -> new store, atomically, with rules. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Same bound as the codec's CXLMS_TILE_MAX_ELEMS: a tile row count or group past it is useless. */
#define IMPORT_MAX_COUNT	(1u << 24)


static const char *import_strerror(int err)
{
	switch (-err) {
	case EINVAL:
		return "malformed input or bad geometry (reason above)";
	case EOPNOTSUPP:
		/* Also rank, empty tensors, rows over 2^24: the log says which. */
		return "a tensor the store cannot hold (reason above)";
	case ERANGE:
		return "a value beyond the stored format (reason above)";
	case EEXIST:
		return "duplicate tensor name (reason above)";
	case ENAMETOOLONG:
		return "tensor name too long (reason above)";
	default:
		return strerror(-err);
	}
}

/* Rules from --rule and --rules, in command-line order. */
struct rules {
	struct cxlms_import_rule *r;
	char **text;		/* owned copies the patterns point into */
	unsigned int n, cap;
};

static void rules_free(struct rules *rs)
{
	unsigned int i;

	for (i = 0; i < rs->n; i++)
		free(rs->text[i]);
	free(rs->r);
	free(rs->text);
}

/*
 * One rule: PATTERN:SPEC[,SPEC...], SPEC one of format=int8|bf16|fp16|keep,
 * group=N, fold=N, skip.  The pattern ends at the last ':'.  @where names
 * the source in messages ("--rule" or "FILE:LINE").  0 or EXIT_USAGE.
 */
static int rule_parse(struct rules *rs, const char *where, const char *text)
{
	struct cxlms_import_rule r = { 0 };
	char *copy, *colon, *spec, *save = NULL;
	uint64_t v;

	copy = strdup(text);
	if (!copy) {
		cli_err("out of memory");
		return EXIT_ERROR;
	}
	colon = strrchr(copy, ':');
	if (!colon || colon == copy || !colon[1]) {
		free(copy);
		return cli_usage_err("%s '%s': expected PATTERN:SPEC[,SPEC...]", where, text);
	}
	*colon = '\0';
	r.pattern = copy;
	for (spec = strtok_r(colon + 1, ",", &save); spec;
	     spec = strtok_r(NULL, ",", &save)) {
		int fmt;

		if (!strcmp(spec, "skip")) {
			r.flags |= CXLMS_RULE_SKIP;
		} else if (!strncmp(spec, "format=", 7)) {
			if (!strcmp(spec + 7, "keep")) {
				r.format = CXLMS_FMT_KEEP;
			} else if ((fmt = cxlms_format_parse(spec + 7)) > 0) {
				r.format = (unsigned int)fmt;
			} else {
				free(copy);
				return cli_usage_err("%s '%s': format '%s' is not one of int8, bf16, fp16, keep",
						     where, text, spec + 7);
			}
		} else if (!strncmp(spec, "group=", 6)) {
			if (!cli_parse_u64("group", spec + 6, 1, IMPORT_MAX_COUNT, &v)) {
				free(copy);
				return EXIT_USAGE;
			}
			r.group_size = (unsigned int)v;
		} else if (!strncmp(spec, "fold=", 5)) {
			if (!cli_parse_u64("fold", spec + 5, 1, CXLMS_MAX_DIMS - 1, &v)) {
				free(copy);
				return EXIT_USAGE;
			}
			r.fold = (unsigned int)v;
		} else {
			free(copy);
			return cli_usage_err("%s '%s': unknown '%s' (format=, group=, fold=, skip)",
					     where, text, spec);
		}
	}
	if (rs->n == rs->cap) {
		unsigned int cap = rs->cap ? 2 * rs->cap : 8;
		struct cxlms_import_rule *nr = realloc(rs->r, cap * sizeof(*nr));
		char **nt;

		if (nr)
			rs->r = nr;
		nt = nr ? realloc(rs->text, cap * sizeof(*nt)) : NULL;
		if (!nt) {
			free(copy);
			cli_err("out of memory");
			return EXIT_ERROR;
		}
		rs->text = nt;
		rs->cap = cap;
	}
	rs->r[rs->n] = r;
	rs->text[rs->n++] = copy;
	return 0;
}

/* A rules file: one rule a line; blank lines and '#' comments ignored. */
static int rules_file(struct rules *rs, const char *path)
{
	char *line = NULL, where[512], *p, *e;
	size_t cap = 0;
	unsigned int no = 0;
	ssize_t len;
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (!f) {
		cli_err("--rules %s: %s", path, strerror(errno));
		return EXIT_ERROR;
	}
	while (!rc && (len = getline(&line, &cap, f)) >= 0) {
		no++;
		p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strlen(p);
		while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' ||
				 e[-1] == '\t'))
			*--e = '\0';
		if (!*p || *p == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%u:", path, no);
		rc = rule_parse(rs, where, p);
	}
	if (!rc && ferror(f)) {
		cli_err("--rules %s: %s", path, strerror(errno));
		rc = EXIT_ERROR;
	}
	free(line);
	fclose(f);
	return rc;
}

struct notices {
	bool quiet;
	unsigned int n;
};

static void show_notice(void *arg, const char *tensor, const char *msg)
{
	struct notices *nt = arg;

	nt->n++;
	if (!nt->quiet)
		fprintf(stderr, "cxlms import: tensor '%s': %s\n", tensor, msg);
}

/* Progress: drawn only for a person watching; the total is the bytes in. */
struct import_progress {
	struct cli_progress bar;
	bool draw;
	uint64_t total;
};

static void import_progress(void *arg, uint64_t done, uint64_t total)
{
	struct import_progress *ip = arg;

	ip->total = total;
	if (ip->draw)
		cli_show_progress(&ip->bar, done, total);
}

static int import_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "group", required_argument, NULL, 'g' },
		{ "tile-rows", required_argument, NULL, 't' },
		{ "rule", required_argument, NULL, 'r' },
		{ "rules", required_argument, NULL, 'R' },
		{ "config", required_argument, NULL, 'c' },
		{ "no-config", no_argument, NULL, 'C' },
		{ "no-defaults", no_argument, NULL, 'D' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct cxlms_import_config io = { .size = sizeof(io) };
	struct import_progress prog = { .bar = { .label = "importing" } };
	struct rules rs = { 0 };
	struct notices nt = { 0 };
	const char *in, *out, *group_arg = NULL;
	const char *const *inputs;
	unsigned int n_in, i;
	struct cxlms_store *store;
	bool quiet = false;
	struct stat st;
	uint64_t v;
	double secs;
	int c, err, fmt, rc = EXIT_OK;

	while ((c = getopt_long(argc, argv, ":f:g:t:qv", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = cxlms_format_parse(optarg);
			if (fmt < 0) {
				rc = cli_usage_err("--format: '%s' is not one of int8, bf16, fp16",
						   optarg);
				goto out;
			}
			io.format = (unsigned int)fmt;
			break;
		case 'g':
			if (!cli_parse_u64("--group", optarg, 1, IMPORT_MAX_COUNT, &v)) {
				rc = EXIT_USAGE;
				goto out;
			}
			io.group_size = (unsigned int)v;
			group_arg = optarg;
			break;
		case 't':
			if (!cli_parse_u64("--tile-rows", optarg, 1, IMPORT_MAX_COUNT, &v)) {
				rc = EXIT_USAGE;
				goto out;
			}
			io.tile_rows = (unsigned int)v;
			break;
		case 'r':
			rc = rule_parse(&rs, "--rule", optarg);
			if (rc)
				goto out;
			break;
		case 'R':
			rc = rules_file(&rs, optarg);
			if (rc)
				goto out;
			break;
		case 'c':
			io.config_path = optarg;
			io.flags &= ~CXLMS_IMPORT_NO_CONFIG;
			break;
		case 'C':
			io.flags |= CXLMS_IMPORT_NO_CONFIG;
			io.config_path = NULL;
			break;
		case 'D':
			io.flags |= CXLMS_IMPORT_NO_DEFAULTS;
			break;
		case 'q':
			quiet = true;
			break;
		case 'v':
			cli_verbose++;
			cli_setup_log(ctx);
			break;
		default:
			rc = cli_getopt_err(c, argv);
			goto out;
		}
	}
	if (argc - optind < 2) {
		rc = cli_usage_err("need IN.safetensors (or an index .json) and OUT.cxlms");
		goto out;
	}
	if (group_arg && io.format && io.format != CXLMS_FMT_INT8) {
		rc = cli_usage_err("--group %s: only int8 stores have scale groups",
				   group_arg);
		goto out;
	}
	inputs = (const char *const *)&argv[optind];
	n_in = (unsigned int)(argc - optind - 1);
	in = inputs[0];
	out = argv[argc - 1];
	for (i = 0; i < n_in; i++) {
		if (stat(inputs[i], &st)) {
			cli_err("%s: %s", inputs[i], strerror(errno));
			rc = EXIT_ERROR;
			goto out;
		}
	}
	rc = cli_check_output(out, false, inputs, n_in);
	if (rc)
		goto out;
	if (io.config_path) {
		rc = cli_check_output(out, false, &io.config_path, 1);
		if (rc)
			goto out;
	}
	io.rules = rs.r;
	io.n_rules = rs.n;
	nt.quiet = quiet;
	io.notice = show_notice;
	io.notice_arg = &nt;

	/* Progress only for a person watching: never into logs or pipes. */
	prog.bar.start = cli_now();
	prog.draw = !quiet && isatty(STDERR_FILENO);
	io.progress = import_progress;
	io.progress_arg = &prog;
	err = cxlms_import(ctx, inputs, n_in, out, &io);
	secs = cli_now() - prog.bar.start;
	if (prog.bar.shown)
		fputs("\r\033[K", stderr);
	if (err < 0) {
		cli_err("importing %s: %s; %s not written", in, import_strerror(err), out);
		rc = EXIT_ERROR;
		goto out;
	}
	if (quiet)
		goto out;

	/* Read the result back: the summary describes what a reader will see. */
	err = cxlms_open(ctx, out, 0, &store);
	if (err < 0) {
		cli_err("%s: imported but cannot be opened: %s", out,
			cli_store_strerror(err));
		rc = cli_store_exit_code(err);
		goto out;
	}
	printf("imported %u tensors: %" PRIu64 " bytes in, %" PRIu64
	       " bytes stored, %.2f s\n", cxlms_store_get_tensor_count(store),
	       prog.total, cxlms_store_get_size(store), secs);
	cxlms_store_unref(store);
out:
	rules_free(&rs);
	return rc;
}

const struct cli_cmd cmd_import = {
	.name = "import",
	.summary = "import a safetensors file into a new store",
	.fn = import_main,
	.help =
	"usage: cxlms import [-v] [-q] [--format int8|bf16|fp16] [--group N]\n"
	"                    [--tile-rows N] [--rule RULE]... [--rules FILE]\n"
	"                    [--config FILE | --no-config] [--no-defaults]\n"
	"                    IN... OUT.cxlms\n"
	"\n"
	"Import every tensor of the inputs IN (safetensors files with f32, f16,\n"
	"bf16 or i8 tensors, or a sharded checkpoint's model.safetensors.index.json)\n"
	"as one model into a new store OUT.  The store is written to a\n"
	"temporary file and renamed over OUT when complete: on any error\n"
	"nothing is written and an existing OUT is left untouched.\n"
	"\n"
	"Defaults (with the int8 format): 1-D tensors and tensors of fewer\n"
	"than 4096 elements keep 16 bits (format=keep); a tensor int8 cannot\n"
	"hold (NaN/Inf, or a scale beyond fp16) is stored as bf16 with a\n"
	"notice; [O, I, kh, kw] (rank >= 4, or rank 3 with a last dim below 8)\n"
	"is stored as O rows of I*kh*kw, [E, O, I] as E*O rows of I.  Tensors\n"
	"with no elements are skipped with a notice.  The first input's\n"
	"__metadata__ and config.json (beside the first input) are kept in the\n"
	"store; `cxlms info` shows them.\n"
	"OUT must be a regular file or a new name: a device, FIFO, symbolic\n"
	"link, an input itself, or - (stdout) is refused.\n"
	"\n"
	"Options:\n"
	"  -f, --format F     base format: int8 (default; symmetric per-group\n"
	"                     fp16 scales, centroid tables), bf16 or fp16\n"
	"                     (16 planes, lossless at 16 bits)\n"
	"  -g, --group N      int8 scale group, elements along a row (default 128)\n"
	"  -t, --tile-rows N  rows per tile (default: plane runs of >= 64 KiB)\n"
	"      --rule RULE    PATTERN:SPEC[,SPEC...] for tensors whose name\n"
	"                     matches the glob PATTERN; SPEC: format=int8|bf16|\n"
	"                     fp16|keep, group=N, fold=N (rows = first N dims),\n"
	"                     skip.  Rules apply in order, after the defaults;\n"
	"                     a later rule wins.  Repeatable\n"
	"      --rules FILE   rules from FILE, one a line ('#' comments)\n"
	"      --config FILE  keep FILE as the model's config.json\n"
	"      --no-config    keep no config.json\n"
	"      --no-defaults  every tensor in the base format, leading dims\n"
	"                     folded into rows (the behaviour before rules)\n"
	"  -q, --quiet        no progress, no summary\n"
	"  -v, --verbose      library messages at info level (-vv: debug)\n"
	"  -h, --help         this help\n"
	"\n"
	"Progress (percentage, MB/s) is drawn on stderr only when it is a\n"
	"terminal.  The summary line on stdout gives tensors, bytes in, bytes\n"
	"stored and seconds.\n",
};
