// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms policy: talk to cxlmsd's control socket, or read the maps a store
 * carries.  Lives with the daemon (it speaks the daemon's protocol) and is
 * linked into the cxlms tool (cli/cli.mk).
 *
 *   cxlms policy show                         daemon state, every context
 *   cxlms policy set-context NAME             the store's default context
 *   cxlms policy report TENSOR TILE|* IMP     importance for budget modes
 *   cxlms policy sync                         apply reports now
 *   cxlms policy bits STORE TENSOR [--context NAME]
 *                                             bits per tile, from the store
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../cli/cli.h"

#define POLICY_DEFAULT_SOCKET	"/run/cxlms/cxlmsd.sock"

/* One request, its reply to stdout (data lines) and stderr (err).  Exit code. */
static int request(const char *path, const char *line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	int fd, rc = EXIT_ERROR;
	FILE *in;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		cli_err("socket path too long: %s", path);
		return EXIT_USAGE;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		cli_err("cannot reach cxlmsd at %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_ERROR;
	}
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) ||
	    write(fd, "\n", 1) != 1) {
		cli_err("%s: %s", path, strerror(errno));
		close(fd);
		return EXIT_ERROR;
	}
	shutdown(fd, SHUT_WR);
	in = fdopen(fd, "r");
	if (!in) {
		close(fd);
		return EXIT_ERROR;
	}
	while (fgets(buf, sizeof(buf), in)) {
		if (!strncmp(buf, "ok", 2) && (buf[2] == '\n' || buf[2] == ' ')) {
			if (buf[2] == ' ')
				fputs(buf + 3, stdout);
			rc = EXIT_OK;
			break;
		}
		if (!strncmp(buf, "err ", 4)) {
			cli_err("cxlmsd: %s", strtok(buf + 4, "\n"));
			break;
		}
		fputs(buf, stdout);
	}
	fclose(in);
	return rc;
}

static int policy_bits(int argc, char **argv, struct cxlms_ctx *ctx,
		       const char *context)
{
	struct cxlms_store *store;
	struct cxlms_tensor *t;
	unsigned int i, n;
	uint64_t gen;
	uint8_t *bits;
	int rc;

	if (argc != 2)
		return cli_usage_err("policy bits needs STORE and TENSOR");
	rc = cli_open_store(ctx, argv[0], &store);
	if (rc)
		return rc;
	/* Exit 1 like cxlms fetch: the store, not the command line, lacks it. */
	if (cxlms_tensor_lookup(store, argv[1], &t)) {
		cli_err("%s: no tensor named '%s' (see cxlms info)", argv[0], argv[1]);
		cxlms_store_unref(store);
		return EXIT_ERROR;
	}
	rc = cxlms_set_context(store, context);
	if (rc) {
		cli_err("context %s: %s", context ? context : "(default)",
			rc == -ENOENT ? "not in the store's maps" :
			rc == -ENODATA ? "no maps published (is cxlmsd running?)" :
			strerror(-rc));
		cxlms_store_unref(store);
		return EXIT_ERROR;
	}
	n = cxlms_tensor_get_tile_count(t);
	bits = malloc(n);
	rc = bits ? cxlms_policy_get_bits(t, 0, n, bits, &gen) : -ENOMEM;
	if (!rc) {
		printf("generation %" PRIu64 "\n", gen);
		for (i = 0; i < n; i++)
			printf("tile %u bits %u\n", i, bits[i]);
	} else {
		cli_err("%s: %s", argv[1], strerror(-rc));
	}
	free(bits);
	cxlms_store_unref(store);
	return rc ? EXIT_ERROR : EXIT_OK;
}

static int cmd_policy_fn(int argc, char **argv, struct cxlms_ctx *ctx)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "context", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	const char *sock = getenv("CXLMSD_SOCKET"), *context = NULL, *sub;
	char line[1024];
	int c;

	if (!sock || !*sock)
		sock = POLICY_DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, ":s:c:v", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			if (!cli_check_context_name("--context", optarg))
				return EXIT_USAGE;
			context = optarg;
			break;
		case 'v':
			cli_verbose++;
			cli_setup_log(ctx);
			break;
		default:
			return cli_getopt_err(c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_err("need a subcommand: show, set-context, report, sync, bits");
	sub = argv[optind++];
	argc -= optind;
	argv += optind;
	if (sock[0] != '/')
		return cli_usage_err("--socket must be an absolute path");
	if (!strcmp(sub, "show")) {
		if (argc)
			return cli_usage_err("policy show takes no arguments");
		return request(sock, "show");
	}
	if (!strcmp(sub, "set-context")) {
		if (argc != 1)
			return cli_usage_err("policy set-context needs NAME");
		if (!cli_check_context_name("set-context", argv[0]))
			return EXIT_USAGE;
		snprintf(line, sizeof(line), "set-context %s", argv[0]);
		return request(sock, line);
	}
	if (!strcmp(sub, "report")) {
		if (argc != 3)
			return cli_usage_err("policy report needs TENSOR TILE|* IMPORTANCE");
		if ((size_t)snprintf(line, sizeof(line), "report %s %s %s", argv[0],
				     argv[1], argv[2]) >= sizeof(line))
			return cli_usage_err("tensor name too long");
		return request(sock, line);
	}
	if (!strcmp(sub, "sync")) {
		if (argc)
			return cli_usage_err("policy sync takes no arguments");
		return request(sock, "sync");
	}
	if (!strcmp(sub, "bits"))
		return policy_bits(argc, argv, ctx, context);
	return cli_usage_err("unknown policy subcommand '%s'", sub);
}

const struct cli_cmd cmd_policy = {
	.name = "policy",
	.summary = "show or steer cxlmsd's precision maps",
	.help =
	"usage: cxlms policy [-v] [--socket PATH] show\n"
	"       cxlms policy [-v] [--socket PATH] set-context NAME\n"
	"       cxlms policy [-v] [--socket PATH] report TENSOR TILE|* IMPORTANCE\n"
	"       cxlms policy [-v] [--socket PATH] sync\n"
	"       cxlms policy [-v] bits [--context NAME] STORE TENSOR\n"
	"\n"
	"show, set-context and report talk to cxlmsd over its control socket\n"
	"(default " POLICY_DEFAULT_SOCKET ", or $CXLMSD_SOCKET):\n"
	"  show          the store, map generation, default context, read rate,\n"
	"                and every context's mode, average bits and pressure level\n"
	"  set-context   make NAME the store's default context: every engine that\n"
	"                has not chosen a context with cxlms_set_context() follows\n"
	"  report        importance of a tile (or * for all of a tensor's tiles)\n"
	"                for budget and pressure contexts; applied within one\n"
	"                [daemon] interval_ms\n"
	"  sync          apply pending reports now and publish (prints the map\n"
	"                generation)\n"
	"bits reads the maps from the store itself (no daemon needed): the bits\n"
	"every tile of TENSOR gets under --context NAME (default: the store's\n"
	"default context).\n"
	"  -s, --socket PATH   cxlmsd's control socket\n"
	"  -c, --context NAME  context for `bits` (1..47 of A-Z a-z 0-9 _ . -)\n"
	"  -v, --verbose       library messages at info level (-vv: debug)\n"
	"  -h, --help          this help\n"
	"See cxlmsd(8), cxlmsd.conf(5) and docs/policies.md.\n",
	.fn = cmd_policy_fn,
};
