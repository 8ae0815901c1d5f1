// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the cxlms subcommands. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "cli.h"

const char *cli_cmd_name = "cxlms";
int cli_verbose;

static void vmsg(const char *fmt, va_list ap)
{
	if (strcmp(cli_cmd_name, "cxlms"))
		fprintf(stderr, "cxlms %s: ", cli_cmd_name);
	else
		fputs("cxlms: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

int cli_usage_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	if (strcmp(cli_cmd_name, "cxlms"))
		fprintf(stderr, "Try 'cxlms %s --help'.\n", cli_cmd_name);
	else
		fputs("Try 'cxlms --help'.\n", stderr);
	return EXIT_USAGE;
}

void cli_print_help(const struct cli_cmd *cmd, FILE *f)
{
	fputs(cmd->help, f);
	fputs("\n" CLI_EXIT_HELP, f);
}

static void log_to_stderr(struct cxlms_ctx *ctx, int priority, const char *file,
			  int line, const char *fn, const char *format,
			  va_list args)
{
	size_t n = strlen(format);

	if (priority >= LOG_DEBUG)
		fprintf(stderr, "cxlms %s: libcxlms: %s: ", cli_cmd_name, fn);
	else
		fprintf(stderr, "cxlms %s: libcxlms: ", cli_cmd_name);
	vfprintf(stderr, format, args);
	if (!n || format[n - 1] != '\n')
		fputc('\n', stderr);
}

void cli_setup_log(struct cxlms_ctx *ctx)
{
	cxlms_set_log_fn(ctx, log_to_stderr);
	/* $CXLMS_LOG (read by cxlms_new) may ask for more; -v raises it. */
	if (cli_verbose >= 2)
		cxlms_set_log_priority(ctx, LOG_DEBUG);
	else if (cli_verbose == 1 && cxlms_get_log_priority(ctx) < LOG_INFO)
		cxlms_set_log_priority(ctx, LOG_INFO);
	else if (cxlms_get_log_priority(ctx) < LOG_ERR)
		cxlms_set_log_priority(ctx, LOG_ERR);
}

int cli_getopt_err(int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':') {
		if (optopt && arg[0] == '-' && arg[1] != '-')
			return cli_usage_err("option '-%c' needs a value", optopt);
		return cli_usage_err("option '%s' needs a value", arg);
	}
	if (optopt)
		return cli_usage_err("unknown option '-%c'", optopt);
	return cli_usage_err("unknown option '%s'", arg);
}

bool cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
		   uint64_t *val)
{
	uint64_t v = 0;
	const char *p = s;

	if (!*p)
		goto bad;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			goto bad;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v < min || v > max)
		goto bad;
	*val = v;
	return true;
bad:
	cli_usage_err("%s: '%s' is not a number in %llu..%llu", opt, s,
		      (unsigned long long)min, (unsigned long long)max);
	return false;
}

int cli_store_exit_code(int err)
{
	switch (-err) {
	case EMEDIUMTYPE:
		return EXIT_FOREIGN;
	case EPROTONOSUPPORT:
		return EXIT_VERSION;
	case ENODATA:
		return EXIT_TRUNCATED;
	case EBADMSG:
		return EXIT_CHECKSUM;
	case EUCLEAN:
		return EXIT_INVALID;
	default:
		return EXIT_ERROR;
	}
}

const char *cli_store_strerror(int err)
{
	switch (-err) {
	case EMEDIUMTYPE:
		return "not a cxlms store";
	case EPROTONOSUPPORT:
		return "unsupported store version or feature";
	case ENODATA:
		return "truncated store (shorter than its superblock says)";
	case EBADMSG:
		return "checksum mismatch";
	case EUCLEAN:
		return "invalid store contents";
	default:
		return strerror(-err);
	}
}

int cli_open_store(struct cxlms_ctx *ctx, const char *path,
		   struct cxlms_store **store)
{
	int err = cxlms_open(ctx, path, 0, store);

	if (err < 0) {
		cli_err("%s: %s", path, cli_store_strerror(err));
		return cli_store_exit_code(err);
	}
	return EXIT_OK;
}

int cli_open_store_arg(struct cxlms_ctx *ctx, int argc, char **argv,
		       struct cxlms_store **store)
{
	if (optind != argc - 1)
		return cli_usage_err(optind == argc ? "missing STORE" : "too many arguments");
	return cli_open_store(ctx, argv[optind], store);
}

/* Length of the valid UTF-8 sequence at @s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and > U+10FFFF are not valid UTF-8. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void cli_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\t') {
			fputs("\\t", f);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
		} else if (!n) {
			/* Names are bytes; JSON must be UTF-8. */
			fputs("\\ufffd", f);
			n = 1;
		} else {
			fwrite(p, 1, n, f);
		}
		p += n ? n : 1;
	}
	fputc('"', f);
}

const char *cli_human_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_show_progress(void *arg, uint64_t done, uint64_t total)
{
	struct cli_progress *p = arg;
	double now = cli_now(), secs = now - p->start;

	/* Redraw at most ten times a second; always draw the end. */
	if (done < total && now - p->last < 0.1)
		return;
	p->last = now;
	p->shown = true;
	fprintf(stderr, "\r%s: %3.0f%%  %7.1f MB/s", p->label,
		total ? 100.0 * (double)done / (double)total : 100.0,
		secs > 0 ? (double)done / secs / 1e6 : 0.0);
	fflush(stderr);
}

/*
 * Kernel interfaces that look like directories of files: a store or a
 * fetch output there is never what the user meant, and the errors the
 * kernel gives (ENOENT for a new file in /proc) would mislead.
 */
static const char *pseudo_fs(const char *dir)
{
	static const struct { long type; const char *name; } fs[] = {
		{ PROC_SUPER_MAGIC, "proc" },
		{ SYSFS_MAGIC, "sysfs" },
		{ DEBUGFS_MAGIC, "debugfs" },
		{ TRACEFS_MAGIC, "tracefs" },
		{ CGROUP_SUPER_MAGIC, "cgroup" },
		{ CGROUP2_SUPER_MAGIC, "cgroup2" },
		{ SECURITYFS_MAGIC, "securityfs" },
		{ BPF_FS_MAGIC, "bpf" },
		{ EFIVARFS_MAGIC, "efivarfs" },
	};
	struct statfs sf;

	if (statfs(dir, &sf))
		return NULL;
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
		if ((long)sf.f_type == fs[i].type)
			return fs[i].name;
	return NULL;
}

static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFDIR:
		return "a directory";
	case S_IFLNK:
		return "a symbolic link";
	default:
		return "not a regular file";
	}
}

int cli_check_output(const char *path, bool stdout_ok, const char *const *inputs,
		     size_t n_inputs)
{
	struct stat st, in;
	const char *fs, *slash;
	char *dir;
	int rc = EXIT_OK;

	if (!strcmp(path, "-")) {
		if (stdout_ok)
			return EXIT_OK;
		return cli_usage_err("-: a store cannot be written to stdout; name a file "
				     "(./- for a file called '-')");
	}
	if (!*path)
		return cli_usage_err("empty output file name");
	if (!lstat(path, &st)) {
		if (S_ISLNK(st.st_mode))
			return cli_usage_err("%s is a symbolic link; refusing to replace it "
					     "(name the file it points to)", path);
		if (!S_ISREG(st.st_mode))
			return cli_usage_err("%s is %s; cxlms writes only regular files%s",
					     path, file_kind(st.st_mode),
					     stdout_ok ? " (or stdout: -o - and redirect)" : "");
		for (size_t i = 0; i < n_inputs; i++)
			if (!stat(inputs[i], &in) && in.st_dev == st.st_dev &&
			    in.st_ino == st.st_ino)
				return cli_usage_err("%s is the same file as the input %s; "
						     "refusing to overwrite it", path, inputs[i]);
	} else if (errno != ENOENT) {
		cli_err("%s: %s", path, strerror(errno));
		return EXIT_ERROR;
	}

	/* The file is created as a temporary next to it, then renamed. */
	slash = strrchr(path, '/');
	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir) {
		cli_err("out of memory");
		return EXIT_ERROR;
	}
	if (stat(dir, &st)) {
		if (errno == ENOENT)
			cli_err("%s: output directory %s does not exist", path, dir);
		else
			cli_err("%s: output directory %s: %s", path, dir, strerror(errno));
		rc = EXIT_ERROR;
	} else if (!S_ISDIR(st.st_mode)) {
		cli_err("%s: %s is not a directory", path, dir);
		rc = EXIT_ERROR;
	} else if ((fs = pseudo_fs(dir))) {
		cli_err("%s: %s is a %s filesystem (a kernel interface), not a place for "
			"output files", path, dir, fs);
		rc = EXIT_ERROR;
	} else if (access(dir, W_OK | X_OK)) {
		cli_err("%s: cannot create files in %s: %s", path, dir, strerror(errno));
		rc = EXIT_ERROR;
	}
	free(dir);
	return rc;
}

bool cli_check_context_name(const char *opt, const char *name)
{
	size_t n = strlen(name);

	if (n && n < CXLMS_CONTEXT_NAME_MAX &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_.-") == n)
		return true;
	cli_usage_err("%s: invalid context name '%s' (1..%d characters of A-Z a-z 0-9 _ . -)",
		      opt, name, CXLMS_CONTEXT_NAME_MAX - 1);
	return false;
}

/* Control bytes, DEL, backslash and invalid UTF-8 as \xNN; the rest as is. */
int cli_print_name(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int w = 0;

	while (*p) {
		size_t n = utf8_len(p);

		if (*p == '\\') {
			if (f)
				fputs("\\\\", f);
			w += 2;
			n = 1;
		} else if (!n || *p < 0x20 || *p == 0x7f) {
			if (f)
				fprintf(f, "\\x%02x", *p);
			w += 4;
			n = 1;
		} else {
			if (f)
				fwrite(p, 1, n, f);
			w++;
		}
		p += n;
	}
	return w;
}
