// SPDX-License-Identifier: GPL-2.0
/* cxlms import: safetensors file -> new store, atomically. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
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

static int import_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "group", required_argument, NULL, 'g' },
		{ "tile-rows", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct cxlms_import_opts io = { 0 };
	struct cli_progress prog = { .label = "importing" };
	const char *in, *out, *group_arg = NULL;
	struct cxlms_store *store;
	bool quiet = false;
	struct stat st;
	uint64_t v, in_bytes;
	double secs;
	int c, err, fmt;

	while ((c = getopt_long(argc, argv, ":f:g:t:qv", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = cxlms_format_parse(optarg);
			if (fmt < 0)
				return cli_usage_err("--format: '%s' is not one of int8, bf16, fp16",
						     optarg);
			io.format = (unsigned int)fmt;
			break;
		case 'g':
			if (!cli_parse_u64("--group", optarg, 1, IMPORT_MAX_COUNT, &v))
				return EXIT_USAGE;
			io.group_size = (unsigned int)v;
			group_arg = optarg;
			break;
		case 't':
			if (!cli_parse_u64("--tile-rows", optarg, 1, IMPORT_MAX_COUNT, &v))
				return EXIT_USAGE;
			io.tile_rows = (unsigned int)v;
			break;
		case 'q':
			quiet = true;
			break;
		case 'v':
			cli_verbose++;
			cli_setup_log(ctx);
			break;
		default:
			return cli_getopt_err(c, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage_err(argc - optind < 2 ? "need IN.safetensors and OUT.cxlms"
						       : "too many arguments");
	if (group_arg && io.format && io.format != CXLMS_FMT_INT8)
		return cli_usage_err("--group %s: only int8 stores have scale groups",
				     group_arg);
	in = argv[optind];
	out = argv[optind + 1];
	if (stat(in, &st)) {
		cli_err("%s: %s", in, strerror(errno));
		return EXIT_ERROR;
	}
	err = cli_check_output(out, false, &in, 1);
	if (err)
		return err;
	in_bytes = (uint64_t)st.st_size;

	/* Progress only for a person watching: never into logs or pipes. */
	prog.start = cli_now();
	if (!quiet && isatty(STDERR_FILENO)) {
		io.progress = cli_show_progress;
		io.progress_arg = &prog;
	}
	err = cxlms_import_safetensors(ctx, in, out, &io);
	secs = cli_now() - prog.start;
	if (prog.shown)
		fputs("\r\033[K", stderr);
	if (err < 0) {
		cli_err("importing %s: %s; %s not written", in, import_strerror(err), out);
		return EXIT_ERROR;
	}
	if (quiet)
		return EXIT_OK;

	/* Read the result back: the summary describes what a reader will see. */
	err = cxlms_open(ctx, out, 0, &store);
	if (err < 0) {
		cli_err("%s: imported but cannot be opened: %s", out,
			cli_store_strerror(err));
		return cli_store_exit_code(err);
	}
	printf("imported %u tensors: %" PRIu64 " bytes in, %" PRIu64
	       " bytes stored, %.2f s\n", cxlms_store_get_tensor_count(store),
	       in_bytes, cxlms_store_get_size(store), secs);
	cxlms_store_unref(store);
	return EXIT_OK;
}

const struct cli_cmd cmd_import = {
	.name = "import",
	.summary = "import a safetensors file into a new store",
	.fn = import_main,
	.help =
	"usage: cxlms import [-v] [-q] [--format int8|bf16|fp16] [--group N]\n"
	"                    [--tile-rows N] IN.safetensors OUT.cxlms\n"
	"\n"
	"Import every tensor of IN (f32, f16, bf16 or i8; any rank, leading\n"
	"dimensions folded into rows) into a new store OUT.  The store is\n"
	"written to a temporary file and renamed over OUT when complete: on\n"
	"any error nothing is written and an existing OUT is left untouched.\n"
	"OUT must be a regular file or a new name: a device, FIFO, symbolic\n"
	"link, the input itself, or - (stdout) is refused.\n"
	"\n"
	"Options:\n"
	"  -f, --format F     stored format: int8 (default; symmetric per-group\n"
	"                     fp16 scales, centroid tables), bf16 or fp16\n"
	"                     (16 planes, lossless at 16 bits)\n"
	"  -g, --group N      int8 scale group, elements along a row (default 128)\n"
	"  -t, --tile-rows N  rows per tile (default: plane runs of >= 64 KiB)\n"
	"  -q, --quiet        no progress, no summary\n"
	"  -v, --verbose      library messages at info level (-vv: debug)\n"
	"  -h, --help         this help\n"
	"\n"
	"Progress (percentage, MB/s) is drawn on stderr only when it is a\n"
	"terminal.  The summary line on stdout gives tensors, bytes in, bytes\n"
	"stored and seconds.\n",
};
