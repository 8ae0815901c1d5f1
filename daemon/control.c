// SPDX-License-Identifier: GPL-2.0
/*
 * The control protocol of cxlmsd's socket: one request per line, replies
 * of zero or more data lines and a final "ok[ detail]" or
 * "err ERRNAME message".  Parsing is strict (exact token counts, strict
 * numbers, printable ASCII only) so a confused client gets an err reply
 * instead of a half-applied request; nothing here can stop the daemon.
 *
 *   show                          state of the daemon and every context
 *   set-context NAME              the store's default context
 *   report TENSOR TILE|* IMP      importance of a tile (budget/pressure)
 *   load BYTES                    bytes an engine read since its last report
 *   sync                          apply pending reports now, reply generation
 *   help
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cxlmsd.h"

#define MAX_TOKENS	5

static const char *errname(int err)
{
	switch (err) {
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case ERANGE: return "ERANGE";
	case ENOSPC: return "ENOSPC";
	case ENOMEM: return "ENOMEM";
	case EBUSY: return "EBUSY";
	case E2BIG: return "E2BIG";
	case ENODATA: return "ENODATA";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return "EIO";
	}
}

static int reply_err(FILE *out, int err, const char *msg)
{
	fprintf(out, "err %s %s\n", errname(err), msg);
	return -err;
}

static bool strict_u64(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (!*s || strlen(s) > 19)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return true;
}

int cxlmsd_control_line(const struct cxlmsd_ops *ops, const char *line,
			FILE *out)
{
	char buf[CXLMSD_LINE_MAX], *tok[MAX_TOKENS + 1], *save = NULL, *p;
	size_t len = strlen(line);
	unsigned int n = 0;
	uint64_t v;
	int rc;

	if (len >= sizeof(buf))
		return reply_err(out, E2BIG, "request line too long");
	for (p = (char *)line; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return reply_err(out, EINVAL, "control character in request");
		else if ((unsigned char)*p > 0x7e)
			return reply_err(out, EINVAL, "non-ASCII byte in request");
	memcpy(buf, line, len + 1);
	for (p = strtok_r(buf, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
		if (n > MAX_TOKENS)
			return reply_err(out, EINVAL, "too many arguments");
		tok[n++] = p;
	}
	if (!n)
		return reply_err(out, EINVAL, "empty request (try help)");

	if (!strcmp(tok[0], "help")) {
		if (n != 1)
			return reply_err(out, EINVAL, "usage: help");
		fputs("show\nset-context NAME\nreport TENSOR TILE|* IMPORTANCE\n"
		      "load BYTES\nsync\nhelp\n", out);
		fputs("ok\n", out);
		return 0;
	}
	if (!strcmp(tok[0], "show")) {
		if (n != 1)
			return reply_err(out, EINVAL, "usage: show");
		ops->show(ops->arg, out);
		fputs("ok\n", out);
		return 0;
	}
	if (!strcmp(tok[0], "set-context")) {
		if (n != 2)
			return reply_err(out, EINVAL, "usage: set-context NAME");
		if (!cxlms_policy_name_valid(tok[1]))
			return reply_err(out, EINVAL, "invalid context name");
		rc = ops->set_context(ops->arg, tok[1]);
		if (rc == -ENOENT)
			return reply_err(out, ENOENT, "no such context");
		if (rc)
			return reply_err(out, -rc, "could not publish the maps");
		fputs("ok\n", out);
		return 0;
	}
	if (!strcmp(tok[0], "report")) {
		long tile = -1;
		double imp;
		char *end;

		if (n != 4)
			return reply_err(out, EINVAL, "usage: report TENSOR TILE|* IMPORTANCE");
		if (strcmp(tok[2], "*")) {
			if (!strict_u64(tok[2], &v) || v > UINT32_MAX)
				return reply_err(out, EINVAL, "TILE must be a tile number or *");
			tile = (long)v;
		}
		errno = 0;
		imp = strtod(tok[3], &end);
		if (errno || *end || !isfinite(imp) || imp < 0 || imp > 1e6)
			return reply_err(out, EINVAL, "IMPORTANCE must be a number in 0..1e6");
		rc = ops->report(ops->arg, tok[1], tile, imp);
		if (rc == -ENOENT)
			return reply_err(out, ENOENT, "no such tensor");
		if (rc == -ERANGE)
			return reply_err(out, ERANGE, "tile out of range");
		if (rc)
			return reply_err(out, -rc, "report failed");
		fputs("ok\n", out);
		return 0;
	}
	if (!strcmp(tok[0], "load")) {
		if (n != 2 || !strict_u64(tok[1], &v))
			return reply_err(out, EINVAL, "usage: load BYTES");
		rc = ops->load(ops->arg, v);
		if (rc)
			return reply_err(out, -rc, "load report failed");
		fputs("ok\n", out);
		return 0;
	}
	if (!strcmp(tok[0], "sync")) {
		uint64_t gen = 0;

		if (n != 1)
			return reply_err(out, EINVAL, "usage: sync");
		rc = ops->sync(ops->arg, &gen);
		if (rc)
			return reply_err(out, -rc, "could not publish the maps");
		fprintf(out, "ok generation %llu\n", (unsigned long long)gen);
		return 0;
	}
	return reply_err(out, EINVAL, "unknown command (try help)");
}
