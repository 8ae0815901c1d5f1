// SPDX-License-Identifier: GPL-2.0
/* cxlms stats: the fetch counters of a store handle. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char file_note[] =
	"file backend: counters are per process; use `cxlms fetch --stats`";

static int stats_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "reset", no_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct cxlms_store *store;
	struct cxlms_stats st;
	bool json = false, reset = false, per_process;
	uint64_t planes = 0;
	int c, rc, err;

	while ((c = getopt_long(argc, argv, ":jrv", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'r':
			reset = true;
			break;
		case 'v':
			cli_verbose++;
			cli_setup_log(ctx);
			break;
		default:
			return cli_getopt_err(c, argv);
		}
	}
	rc = cli_open_store_arg(ctx, argc, argv, &store);
	if (rc)
		return rc;
	err = cxlms_store_get_stats(store, &st);
	if (err < 0) {
		cli_err("%s: reading counters: %s", argv[optind], strerror(-err));
		cxlms_store_unref(store);
		return EXIT_ERROR;
	}
	per_process = !strcmp(cxlms_store_get_backend(store), "file");
	for (unsigned int p = 0; p < CXLMS_MAX_PLANES; p++)
		planes += st.plane_bytes[p];

	if (json) {
		printf("{\"path\":");
		cli_json_string(stdout, cxlms_store_get_path(store));
		printf(",\"backend\":");
		cli_json_string(stdout, cxlms_store_get_backend(store));
		printf(",\"per_process\":%s,\"fetches\":%" PRIu64 ",\"plane_bytes\":[",
		       per_process ? "true" : "false", st.fetches);
		for (unsigned int p = 0; p < CXLMS_MAX_PLANES; p++)
			printf("%s%" PRIu64, p ? "," : "", st.plane_bytes[p]);
		printf("],\"side_bytes\":%" PRIu64 ",\"read_bytes\":%" PRIu64
		       ",\"out_bytes\":%" PRIu64 "}\n", st.side_bytes,
		       planes + st.side_bytes, st.out_bytes);
	} else {
		printf("store:       %s\n", cxlms_store_get_path(store));
		printf("backend:     %s\n", cxlms_store_get_backend(store));
		if (per_process)
			printf("note:        %s\n", file_note);
		printf("fetches:     %" PRIu64 "\n", st.fetches);
		for (unsigned int p = 0; p < CXLMS_MAX_PLANES; p++)
			printf("plane %u:%*s%" PRIu64 " bytes\n", p, p < 10 ? 5 : 4, "",
			       st.plane_bytes[p]);
		printf("side data:   %" PRIu64 " bytes\n", st.side_bytes);
		printf("read total:  %" PRIu64 " bytes\n", planes + st.side_bytes);
		printf("output:      %" PRIu64 " bytes\n", st.out_bytes);
	}
	/* After printing: what was shown is what the reset discarded. */
	if (reset) {
		err = cxlms_store_reset_stats(store);
		if (err < 0) {
			cli_err("%s: resetting counters: %s", argv[optind], strerror(-err));
			cxlms_store_unref(store);
			return EXIT_ERROR;
		}
	}
	cxlms_store_unref(store);
	return EXIT_OK;
}

const struct cli_cmd cmd_stats = {
	.name = "stats",
	.summary = "show the fetch counters of a store",
	.fn = stats_main,
	.help =
	"usage: cxlms stats [-v] [--json] [--reset] STORE\n"
	"\n"
	"Print the store handle's counters: tile fetches served, bytes read per\n"
	"plane (0 = most significant), side data (scales, table levels) and\n"
	"bytes handed out.  With the file backend the counters belong to the\n"
	"process that opened the store, so this command shows zeros: use\n"
	"`cxlms fetch --stats` to see what one fetch reads.  With the kernel\n"
	"backend (/dev/cxlmsN) they count every reader of the device since\n"
	"the module was loaded (per tensor: since the store was attached).\n"
	"\n"
	"Options:\n"
	"  -j, --json     one JSON object, for scripts\n"
	"  -r, --reset    then zero the counters (device and every tensor;\n"
	"                 needs root on /dev/cxlmsN)\n"
	"  -v, --verbose  library messages at info level (-vv: debug)\n"
	"  -h, --help     this help\n",
};
