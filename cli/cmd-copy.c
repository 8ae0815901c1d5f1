// SPDX-License-Identifier: GPL-2.0
/* cxlms copy: a store file into the store attached to /dev/cxlmsN. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_DEVICE	"/dev/cxlms0"


static int copy_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_progress prog = { .label = "copying" };
	struct cxlms_store *src;
	struct cxlms_tensor *t;
	const char *dev = DEFAULT_DEVICE;
	uint64_t bytes = 0;
	bool quiet = false, show;
	char hb[32];
	int c, rc, err;

	while ((c = getopt_long(argc, argv, ":qv", opts, NULL)) != -1) {
		switch (c) {
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
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage_err(argc == optind ? "missing STORE" : "too many arguments");
	if (argc - optind == 2)
		dev = argv[optind + 1];

	rc = cli_open_store(ctx, argv[optind], &src);
	if (rc)
		return rc;
	cxlms_tensor_foreach(src, t)
		bytes += cxlms_tensor_get_stored_bytes(t);
	show = !quiet && isatty(STDERR_FILENO);
	prog.start = cli_now();
	err = cxlms_copy_store(ctx, src, dev, show ? cli_show_progress : NULL, &prog);
	if (prog.shown)
		fputc('\n', stderr);
	if (err < 0) {
		cli_err("copying %s into %s: %s", argv[optind], dev,
			err == -EEXIST ? "a tensor of that name exists already" :
			strerror(-err));
		cxlms_store_unref(src);
		return EXIT_ERROR;
	}
	if (!quiet)
		printf("copied %u tensors, %s of tiles, from %s into %s in %.2f s\n",
		       cxlms_store_get_tensor_count(src),
		       cli_human_bytes(bytes, hb, sizeof(hb)), argv[optind], dev,
		       cli_now() - prog.start);
	cxlms_store_unref(src);
	return EXIT_OK;
}

const struct cli_cmd cmd_copy = {
	.name = "copy",
	.summary = "copy a store file into the store of /dev/cxlmsN",
	.fn = copy_main,
	.help =
	"usage: cxlms copy [-v] [-q] STORE [DEVICE]\n"
	"\n"
	"Copy every tensor of STORE (a store file) into the store attached to\n"
	"DEVICE (default " DEFAULT_DEVICE ", see cxlms attach; needs root).  The\n"
	"host sends each tile's weights in natural order and the module places\n"
	"the bit-planes itself, so the tiles in the device are byte-identical to\n"
	"the file's.  Refuses, writing nothing, when a tensor of the same name\n"
	"exists in the device store (the log names it) or the tiles do not fit.\n"
	"An error midway leaves that one tensor unsealed (not fetchable).\n"
	"Shows progress when stderr is a terminal.\n"
	"\n"
	"Options:\n"
	"  -q, --quiet    no progress, no summary\n"
	"  -v, --verbose  library messages at info level (-vv: debug)\n"
	"  -h, --help     this help\n",
};
