/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The cxlms command-line tool: one command table (cxlms.c), one file per
 * subcommand, shared helpers (util.c).  Styled after ndctl's `cxl` tool.
 */
#ifndef CXLMS_CLI_H
#define CXLMS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <libcxlms.h>

/* Exit codes, documented in `cxlms --help` and cxlms(1). */
enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,		/* anything else */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_FOREIGN = 3,	/* -EMEDIUMTYPE: not a cxlms store */
	EXIT_VERSION = 4,	/* -EPROTONOSUPPORT: unknown version/feature */
	EXIT_TRUNCATED = 5,	/* -ENODATA */
	EXIT_CHECKSUM = 6,	/* -EBADMSG */
	EXIT_INVALID = 7,	/* -EUCLEAN */
	/* cxlms run / eval (the Llama engine) */
	EXIT_NOT_MODEL = 8,	/* not a Llama model, or no config.json */
	EXIT_VOCAB = 9,		/* a token outside the vocabulary */
	EXIT_CONTEXT = 10,	/* a sequence longer than the context */
};

/* The exit-code paragraph every --help ends with. */
#define CLI_EXIT_HELP \
	"Exit status:\n" \
	"  0 success, 1 error, 2 usage error (bad option, number out of range,\n" \
	"  an output that is a device, FIFO, symlink or an input; cxlms(1)),\n" \
	"  3 not a cxlms store, 4 unsupported store version or feature,\n" \
	"  5 truncated store, 6 checksum mismatch, 7 invalid store contents;\n" \
	"  run/eval/calibrate: 8 not a Llama model, 9 token outside the\n" \
	"  vocabulary, 10 sequence longer than the context.\n"

/**
 * struct cli_cmd - one subcommand
 * @name: what the user types
 * @summary: one line for `cxlms --help`
 * @help: full usage text for `cxlms CMD --help` (CLI_EXIT_HELP is appended)
 * @fn: runs with argv[0] = name; returns an exit code
 */
struct cli_cmd {
	const char *name;
	const char *summary;
	const char *help;
	int (*fn)(int argc, char **argv, struct cxlms_ctx *ctx);
};

extern const struct cli_cmd cmd_import, cmd_info, cmd_fetch, cmd_verify,
	cmd_stats;

/* The reference Llama engine (cmd-llama.c, engine/). */
extern const struct cli_cmd cmd_run, cmd_eval, cmd_calibrate;

/* cxlmsd's client (daemon/cli-policy.c). */
extern const struct cli_cmd cmd_policy;

/* Name of the running subcommand, for "cxlms CMD: ..." messages. */
extern const char *cli_cmd_name;

void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a usage error and the hint to --help; returns EXIT_USAGE. */
int cli_usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_print_help(const struct cli_cmd *cmd, FILE *f);

/* -v count, from before and after the command name. */
extern int cli_verbose;
/* Route libcxlms log messages to stderr at the level cli_verbose asks for. */
void cli_setup_log(struct cxlms_ctx *ctx);
/*
 * Report a getopt_long() failure (optstring must start with ':') as a
 * usage error; returns EXIT_USAGE.
 */
int cli_getopt_err(int c, char **argv);

/*
 * Strict unsigned parse: decimal digits only, no sign, no trailing bytes,
 * within [min, max].  On failure prints a usage error naming @opt.
 */
bool cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
		   uint64_t *val);

/* Map an -errno from cxlms_open()/verify to an exit code and a phrase. */
int cli_store_exit_code(int err);
const char *cli_store_strerror(int err);

/* Open @path (full validation); on error print why and return an exit code. */
int cli_open_store(struct cxlms_ctx *ctx, const char *path,
		   struct cxlms_store **store);
/*
 * The command's one STORE operand, argv[optind] after the options, opened:
 * a usage error if it is missing or followed by more; else as above.
 */
int cli_open_store_arg(struct cxlms_ctx *ctx, int argc, char **argv,
		       struct cxlms_store **store);

/*
 * The one check for every file a command writes (import OUT, fetch -o,
 * bench --json-out/--dat): a regular file or a new one, never a device,
 * FIFO, socket or directory, never by replacing a symbolic link, never the
 * same inode as one of @inputs; its directory must exist and take new files
 * (not /proc or /sys).  "-" is stdout when @stdout_ok.  On refusal prints
 * why, naming the output, and returns EXIT_USAGE (the operand is wrong) or
 * EXIT_ERROR (the system refuses); else EXIT_OK.
 */
int cli_check_output(const char *path, bool stdout_ok, const char *const *inputs,
		     size_t n_inputs);

/* A context name as the library takes it; else a usage error naming @opt. */
bool cli_check_context_name(const char *opt, const char *name);

/*
 * Print a tensor name for a terminal: control bytes, DEL, backslash and
 * invalid UTF-8 escaped as \xNN / \\.  Returns the columns it takes;
 * with @f NULL only measures.
 */
int cli_print_name(FILE *f, const char *s);

/* Write @s as a JSON string literal (escaped, valid UTF-8). */
void cli_json_string(FILE *f, const char *s);

/* "1.5 MiB" style, into @buf. */
const char *cli_human_bytes(uint64_t bytes, char *buf, size_t len);

double cli_now(void);

/* Progress on stderr for long operations (import, copy): a library callback. */
struct cli_progress {
	const char *label;
	double start, last;
	bool shown;		/* something was drawn: end the line */
};
void cli_show_progress(void *arg, uint64_t done, uint64_t total);

#endif /* CXLMS_CLI_H */
