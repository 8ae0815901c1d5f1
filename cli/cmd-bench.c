// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms bench: the throughput benchmark (tools/bench/bench.c), the same
 * code and report as `make bench`.  Needs no store: it builds synthetic
 * ones in memory.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../tools/bench/bench.h"

/* --json-out FILE, --dat PREFIX: the same output checks as every command. */
static int check_outputs(int argc, char **argv)
{
	char path[4096];
	int rc;

	for (int i = 1; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--json-out")) {
			rc = cli_check_output(argv[i + 1], false, NULL, 0);
			if (rc)
				return rc;
		} else if (!strcmp(argv[i], "--dat")) {
			static const char *const suffix[] = { "-int8.dat", "-fp16.dat" };

			for (int s = 0; s < 2; s++) {
				if ((size_t)snprintf(path, sizeof(path), "%s%s", argv[i + 1],
						     suffix[s]) >= sizeof(path))
					return cli_usage_err("--dat: prefix too long");
				rc = cli_check_output(path, false, NULL, 0);
				if (rc)
					return rc;
			}
		}
	}
	return EXIT_OK;
}

/* The bench's options that take a value (CXLMS_BENCH_USAGE). */
static bool takes_value(const char *a)
{
	static const char *const opts[] = { "--json-out", "--reps", "--size", "--dat",
					    "--only", "--threads", "--piece" };

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strcmp(a, opts[i]))
			return true;
	return false;
}

static int bench_run(int argc, char **argv, struct cxlms_ctx *ctx)
{
	char *args[argc + 1];
	int n = 1, rc;

	/* The bench calls the SIMD kernels directly: the log has nothing to say. */
	(void)ctx;
	/* Messages say "cxlms bench: ...", not "bench: ...". */
	args[0] = (char *)"cxlms bench";
	for (int i = 1; i < argc; i++) {
		/* -v as on every command; an option's value is passed on as is. */
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			cli_verbose++;
			continue;
		}
		args[n++] = argv[i];
		if (i + 1 < argc && takes_value(argv[i]))
			args[n++] = argv[++i];
	}
	args[n] = NULL;
	rc = check_outputs(n, args);
	if (rc)
		return rc;
	return cxlms_bench_main(n, args);
}

const struct cli_cmd cmd_bench = {
	.name = "bench",
	.summary = "measure fetch and placement throughput against its targets",
	.help = "usage: cxlms bench [-v] " CXLMS_BENCH_USAGE "\n" CXLMS_BENCH_HELP
		"  -v, --verbose      accepted as on every command (the bench has no\n"
		"                     library log)\n"
		"\n"
		"--json-out FILE and --dat PREFIX files are checked as cxlms import\n"
		"checks OUT: regular files only, never a device, FIFO or symlink.\n",
	.fn = bench_run,
};
