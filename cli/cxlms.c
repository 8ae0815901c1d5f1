// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms - manage and read cxlms model stores.
 *
 * git-style: `cxlms [-v] COMMAND [ARGS]`, one table of commands below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef CXLMS_VERSION
#define CXLMS_VERSION "0.1.0"
#endif

/* The kernel-backend commands (cmd-attach.c, cmd-copy.c). */
extern const struct cli_cmd cmd_attach, cmd_detach, cmd_copy;
/* The throughput benchmark (cmd-bench.c, tools/bench/bench.c). */
extern const struct cli_cmd cmd_bench;
/* Views written out for inspection (cmd-view.c). */
extern const struct cli_cmd cmd_view;

static const struct cli_cmd *const commands[] = {
	&cmd_import,
	&cmd_info,
	&cmd_fetch,
	&cmd_view,
	&cmd_verify,
	&cmd_stats,
	&cmd_policy,
	&cmd_attach,
	&cmd_detach,
	&cmd_copy,
	&cmd_bench,
	&cmd_run,
	&cmd_eval,
	&cmd_calibrate,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void main_help(FILE *f)
{
	fputs("usage: cxlms [-v] [--version] [--help] COMMAND [ARGS]\n"
	      "\n"
	      "Read and manage cxlms stores: model weights in a bit-plane layout,\n"
	      "fetched at a precision chosen per call.\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
	fputs("  help     show the help of a command\n"
	      "\n"
	      "Options:\n"
	      "  -v, --verbose  library messages at info level (-vv: debug)\n"
	      "  --version      print the version\n"
	      "  -h, --help     this help\n"
	      "\n"
	      "`cxlms COMMAND --help` or `cxlms help COMMAND` describes a command.\n"
	      "$CXLMS_LOG (err, info, debug) sets the library's log level.\n"
	      "\n" CLI_EXIT_HELP, f);
}

static const struct cli_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

static int cmd_help(int argc, char **argv)
{
	const struct cli_cmd *cmd;

	if (argc < 2 || !strcmp(argv[1], "help")) {
		main_help(stdout);
		return EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (!cmd)
		return cli_usage_err("help: '%s' is not a cxlms command", argv[1]);
	cli_print_help(cmd, stdout);
	return EXIT_OK;
}

/* Does argv contain -h/--help before a "--"?  Then no store is touched. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	const struct cli_cmd *cmd;
	struct cxlms_ctx *ctx;
	int i, err, rc;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			main_help(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			/* The library is linked in: its API version, for bug reports. */
			printf("cxlms %s (libcxlms %u.%u)\n", CXLMS_VERSION,
			       cxlms_version() >> 16, cxlms_version() & 0xffff);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			cli_verbose++;
		} else if (!strcmp(argv[i], "-vv")) {
			cli_verbose += 2;
		} else {
			return cli_usage_err("unknown option '%s'", argv[i]);
		}
	}
	if (i == argc) {
		main_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help"))
		return cmd_help(argc - i, argv + i);
	cmd = find_command(argv[i]);
	if (!cmd)
		return cli_usage_err("'%s' is not a cxlms command", argv[i]);
	cli_cmd_name = cmd->name;
	if (wants_help(argc - i, argv + i)) {
		cli_print_help(cmd, stdout);
		return EXIT_OK;
	}

	err = cxlms_new(&ctx);
	if (err < 0) {
		cli_err("cannot create library context: %s", strerror(-err));
		return EXIT_ERROR;
	}
	cli_setup_log(ctx);
	rc = cmd->fn(argc - i, argv + i, ctx);
	cxlms_unref(ctx);
	return rc;
}
