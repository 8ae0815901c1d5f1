// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms bench: the throughput benchmark of issue 5 (tools/bench/bench.c),
 * the same code and report as `make bench`.  Needs no store: it builds
 * synthetic ones in memory.
 */
#include "cli.h"
#include "../tools/bench/bench.h"

static int bench_run(int argc, char **argv, struct cxlms_ctx *ctx)
{
	char *args[argc + 1];

	(void)ctx;	/* the bench calls the SIMD kernels directly */
	/* Messages say "cxlms bench: ...", not "bench: ...". */
	args[0] = (char *)"cxlms bench";
	for (int i = 1; i < argc; i++)
		args[i] = argv[i];
	args[argc] = NULL;
	return cxlms_bench_main(argc, args);
}

const struct cli_cmd cmd_bench = {
	.name = "bench",
	.summary = "measure fetch and placement throughput (issue-5 targets)",
	.help = "usage: cxlms bench " CXLMS_BENCH_USAGE "\n" CXLMS_BENCH_HELP,
	.fn = bench_run,
};
