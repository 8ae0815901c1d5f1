// SPDX-License-Identifier: GPL-2.0
/* cxlms verify: full integrity check of a store. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"

static int verify_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	uint64_t tiles = 0, bytes = 0;
	struct cxlms_store *store;
	struct cxlms_tensor *t;
	int c, rc, err;

	while ((c = getopt_long(argc, argv, ":v", opts, NULL)) != -1) {
		if (c != 'v')
			return cli_getopt_err(c, argv);
		cli_verbose++;
		cli_setup_log(ctx);
	}
	/* Opening validates superblock and directory; verify adds the tiles. */
	rc = cli_open_store_arg(ctx, argc, argv, &store);
	if (rc)
		return rc;
	err = cxlms_store_verify(store);
	if (err < 0) {
		cli_err("%s: %s", argv[optind], cli_store_strerror(err));
		cxlms_store_unref(store);
		return cli_store_exit_code(err);
	}
	cxlms_tensor_foreach(store, t) {
		tiles += cxlms_tensor_get_tile_count(t);
		bytes += cxlms_tensor_get_stored_bytes(t);
	}
	printf("OK: %u tensors, %" PRIu64 " tiles, %" PRIu64 " bytes verified\n",
	       cxlms_store_get_tensor_count(store), tiles, bytes);
	cxlms_store_unref(store);
	return EXIT_OK;
}

const struct cli_cmd cmd_verify = {
	.name = "verify",
	.summary = "check a store's metadata and every tile checksum",
	.fn = verify_main,
	.help =
	"usage: cxlms verify [-v] STORE\n"
	"\n"
	"Open STORE, which validates the superblock and the tensor directory\n"
	"(checksums, bounds, geometry), then recompute the CRC32C of every tile.\n"
	"Prints \"OK: N tensors, M tiles, B bytes verified\" or the first problem\n"
	"found, naming the tensor; a corrupt tile exits 6.\n"
	"\n"
	"Options:\n"
	"  -v, --verbose  library messages at info level (-vv: debug)\n"
	"  -h, --help     this help\n",
};
