// SPDX-License-Identifier: GPL-2.0
/* cxlms view: the bytes of a k-bit view (cxlms_view_map()) to a file, for inspection. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Bytes copied out of the view per write(): loads fault the pages in. */
#define VIEW_CHUNK	(1u << 20)

struct view_args {
	const char *store_path, *tensor_name, *out_path, *context;
	unsigned int bits, layout, recon, flags;
	bool all, stats;
};

static const char *layout_name(unsigned int layout)
{
	switch (layout) {
	case CXLMS_VIEW_PACKED: return "packed";
	case CXLMS_VIEW_INT8: return "int8";
	case CXLMS_VIEW_INT16: return "int16";
	}
	return "?";
}

/* The int layouts hold one format class each; packed holds every format. */
static bool layout_fits(unsigned int layout, unsigned int fmt)
{
	if (layout == CXLMS_VIEW_INT8)
		return fmt == CXLMS_FMT_INT8;
	if (layout == CXLMS_VIEW_INT16)
		return fmt == CXLMS_FMT_BF16 || fmt == CXLMS_FMT_FP16;
	return true;
}

enum { OPT_LAYOUT = 256, OPT_CONTEXT, OPT_ALL, OPT_EAGER };

static int parse_args(int argc, char **argv, struct cxlms_ctx *ctx,
		      struct view_args *a)
{
	static const struct option opts[] = {
		{ "bits", required_argument, NULL, 'b' },
		{ "context", required_argument, NULL, OPT_CONTEXT },
		{ "layout", required_argument, NULL, OPT_LAYOUT },
		{ "recon", required_argument, NULL, 'r' },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "eager", no_argument, NULL, OPT_EAGER },
		{ "output", required_argument, NULL, 'o' },
		{ "stats", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	bool have_bits = false;
	uint64_t v;
	int c, n;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, ":b:r:o:sv", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!strcmp(optarg, "policy")) {
				a->bits = CXLMS_BITS_POLICY;
			} else {
				if (!cli_parse_u64("--bits", optarg, 1, CXLMS_MAX_PLANES, &v))
					return EXIT_USAGE;
				a->bits = (unsigned int)v;
			}
			have_bits = true;
			break;
		case OPT_CONTEXT:
			if (!cli_check_context_name("--context", optarg))
				return EXIT_USAGE;
			a->context = optarg;
			break;
		case OPT_LAYOUT:
			if (!strcmp(optarg, "packed"))
				a->layout = CXLMS_VIEW_PACKED;
			else if (!strcmp(optarg, "int8"))
				a->layout = CXLMS_VIEW_INT8;
			else if (!strcmp(optarg, "int16"))
				a->layout = CXLMS_VIEW_INT16;
			else
				return cli_usage_err("--layout: '%s' is not one of packed, int8, int16",
						     optarg);
			break;
		case 'r':
			n = cxlms_recon_parse(optarg);
			if (n < 0)
				return cli_usage_err("--recon: '%s' is not one of floor, midpoint, table, default",
						     optarg);
			a->recon = (unsigned int)n;
			break;
		case OPT_ALL:
			a->all = true;
			break;
		case OPT_EAGER:
			a->flags |= CXLMS_VIEW_EAGER;
			break;
		case 'o':
			a->out_path = optarg;
			break;
		case 's':
			a->stats = true;
			break;
		case 'v':
			cli_verbose++;
			cli_setup_log(ctx);
			break;
		default:
			return cli_getopt_err(c, argv);
		}
	}
	if (argc - optind < 1)
		return cli_usage_err("need STORE and TENSOR (or --all)");
	if (argc - optind > (a->all ? 1 : 2))
		return cli_usage_err(a->all ? "--all views every tensor: no TENSOR with it"
				     : "too many arguments");
	if (!a->all && argc - optind < 2)
		return cli_usage_err("need TENSOR, or --all for the whole store");
	a->store_path = argv[optind];
	a->tensor_name = a->all ? NULL : argv[optind + 1];
	if (!have_bits)
		return cli_usage_err("missing --bits K|policy");
	if (a->context && a->bits != CXLMS_BITS_POLICY)
		return cli_usage_err("--context NAME goes with --bits policy");
	if (!a->layout)
		return cli_usage_err("missing --layout packed|int8|int16");
	if (!a->out_path)
		return cli_usage_err("missing -o FILE (- for stdout)");
	if (!strcmp(a->out_path, "-") && isatty(STDOUT_FILENO))
		return cli_usage_err("refusing to write binary data to a terminal; "
				     "redirect stdout or use -o FILE");
	return EXIT_OK;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A temp file beside @path (renamed over it when complete), or stdout. */
static int open_out(const char *path, char **tmp)
{
	char *dup, *dir;
	mode_t mask;
	size_t len;
	int fd;

	*tmp = NULL;
	if (!strcmp(path, "-"))
		return STDOUT_FILENO;
	dup = strdup(path);
	if (!dup)
		return -ENOMEM;
	dir = dirname(dup);
	len = strlen(dir) + strlen(path) + 16;
	*tmp = malloc(len);
	if (!*tmp) {
		free(dup);
		return -ENOMEM;
	}
	snprintf(*tmp, len, "%s/.%s.XXXXXX", dir,
		 strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	free(dup);
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		free(*tmp);
		*tmp = NULL;
		return fd;
	}
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0) {
		int err = -errno;

		close(fd);
		unlink(*tmp);
		free(*tmp);
		*tmp = NULL;
		return err;
	}
	return fd;
}

/*
 * Copy the view out through a buffer: a userfaultfd view serves loads of
 * this process, not the kernel's reads on behalf of write(2).
 */
static int copy_view(struct cxlms_view *v, int fd)
{
	const uint8_t *p = cxlms_view_get_addr(v);
	uint64_t size = cxlms_view_get_size(v), off;
	uint8_t *buf = malloc(VIEW_CHUNK);
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (off = 0; off < size && !err; off += VIEW_CHUNK) {
		size_t n = size - off < VIEW_CHUNK ? (size_t)(size - off) : VIEW_CHUNK;

		memcpy(buf, p + off, n);
		err = write_all(fd, buf, n);
	}
	free(buf);
	return err;
}

static void print_stats(struct cxlms_store *store, struct cxlms_view *v,
			const struct view_args *a, FILE *f)
{
	struct cxlms_stats st;
	struct cxlms_tensor *t;
	uint64_t planes = 0;
	unsigned int n = 0;

	if (cxlms_store_get_stats(store, &st) < 0)
		return;
	cxlms_tensor_foreach(store, t)
		n += cxlms_view_get_tensor(v, t, NULL) == 0;
	fprintf(f, "view: %u tensor%s, layout %s, ", n, n == 1 ? "" : "s",
		layout_name(a->layout));
	if (a->bits == CXLMS_BITS_POLICY)
		fprintf(f, "bits policy\n");
	else
		fprintf(f, "%u bits\n", a->bits);
	fprintf(f, "mode:         %s\n", cxlms_view_get_mode(v));
	fprintf(f, "view bytes:   %" PRIu64 "\n", cxlms_view_get_size(v));
	fprintf(f, "tile fetches: %" PRIu64 "\n", st.fetches);
	for (unsigned int p = 0; p < CXLMS_MAX_PLANES; p++)
		planes += st.plane_bytes[p];
	fprintf(f, "plane bytes:  %" PRIu64 "\n", planes);
	fprintf(f, "side data:    %" PRIu64 " bytes\n", st.side_bytes);
}

static int view_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	struct view_args a;
	struct cxlms_view_opts o = { .size = sizeof(o) };
	struct cxlms_store *store;
	struct cxlms_tensor *t = NULL;
	struct cxlms_view *v = NULL;
	const char *inputs[1];
	char *tmp = NULL;
	int rc, err, fd;

	rc = parse_args(argc, argv, ctx, &a);
	if (rc)
		return rc;
	inputs[0] = a.store_path;
	rc = cli_check_output(a.out_path, true, inputs, 1);
	if (rc)
		return rc;
	rc = cli_open_store(ctx, a.store_path, &store);
	if (rc)
		return rc;
	if (a.tensor_name) {
		err = cxlms_tensor_lookup(store, a.tensor_name, &t);
		if (err < 0) {
			cli_err("%s: no tensor named '%s'", a.store_path, a.tensor_name);
			rc = EXIT_ERROR;
			goto out;
		}
	}
	if (a.bits == CXLMS_BITS_POLICY) {
		err = cxlms_set_context(store, a.context);
		if (err < 0) {
			cli_err("%s: context %s: %s", a.store_path,
				a.context ? a.context : "(default)",
				err == -ENODATA ? "no precision maps published yet (is cxlmsd running?)"
				: err == -ENOENT ? "no such context in the published maps"
				: cxlms_strerror(err));
			rc = EXIT_ERROR;
			goto out;
		}
	}
	o.flags = a.flags;
	o.layout = a.layout;
	o.bits = a.bits;
	o.recon = a.recon;
	if (t && !layout_fits(a.layout, cxlms_tensor_get_format(t))) {
		rc = cli_usage_err("--layout %s: tensor '%s' is %s (int8 is for int8 tensors, int16 for bf16/fp16)",
				   layout_name(a.layout), a.tensor_name,
				   cxlms_format_name(cxlms_tensor_get_format(t)));
		goto out;
	}
	err = cxlms_view_map(store, t, &o, &v);
	if (err == -EOPNOTSUPP) {
		if (t)
			rc = cli_usage_err("tensor '%s' (%s, %u planes) cannot be viewed as %s at %u bits with recon %s",
					   a.tensor_name,
					   cxlms_format_name(cxlms_tensor_get_format(t)),
					   cxlms_tensor_get_planes(t), layout_name(a.layout),
					   a.bits, cxlms_recon_name(a.recon));
		else
			rc = cli_usage_err("no tensor of %s can be viewed as %s at %u bits with recon %s",
					   a.store_path, layout_name(a.layout), a.bits,
					   cxlms_recon_name(a.recon));
		goto out;
	}
	if (err < 0) {
		cli_err("%s: view: %s", a.store_path, cxlms_strerror(err));
		rc = err == -EBADMSG ? EXIT_CHECKSUM : EXIT_ERROR;
		goto out;
	}
	fd = open_out(a.out_path, &tmp);
	if (fd < 0) {
		cli_err("%s: %s", a.out_path, strerror(-fd));
		rc = EXIT_ERROR;
		goto out;
	}
	err = copy_view(v, fd);
	if (!err && cxlms_view_get_error(v))
		err = cxlms_view_get_error(v);
	if (fd != STDOUT_FILENO) {
		if (!err && fsync(fd) < 0)
			err = -errno;
		if (close(fd) < 0 && !err)
			err = -errno;
		if (!err && rename(tmp, a.out_path) < 0)
			err = -errno;
		if (err)
			unlink(tmp);
	}
	if (err < 0) {
		cli_err("%s: %s", a.out_path, cxlms_strerror(err));
		rc = err == -EBADMSG ? EXIT_CHECKSUM : EXIT_ERROR;
		goto out;
	}
	if (a.stats)
		print_stats(store, v, &a, fd == STDOUT_FILENO ? stderr : stdout);
out:
	free(tmp);
	cxlms_view_unmap(v);
	cxlms_store_unref(store);
	return rc;
}

const struct cli_cmd cmd_view = {
	.name = "view",
	.summary = "write a k-bit view (what an engine maps) to a file",
	.fn = view_main,
	.help =
	"usage: cxlms view [-v] STORE TENSOR|--all --bits K|policy [--context NAME]\n"
	"                  --layout packed|int8|int16 [--recon R] [--eager]\n"
	"                  [--stats] -o FILE\n"
	"\n"
	"Map the view of TENSOR (or, with --all, of every tensor the layout and\n"
	"bits serve) that cxlms_view_map() gives an engine, and write its bytes\n"
	"to FILE (docs/format.md, \"Views\", has the layout).  STORE is a store\n"
	"file (the library fills the view) or /dev/cxlmsN (the module does):\n"
	"  packed  per tile a 4096-byte aligned slot holding the packed fetch\n"
	"          output at K bits: the K-bit codes, then (int8) fp16 scales and\n"
	"          2^K s16 Q8.8 levels at 64-byte aligned offsets\n"
	"  int8    int8 tensors: the reconstructed s8 of every element, row-major,\n"
	"          then every row's fp16 group scales\n"
	"  int16   bf16/fp16 tensors: the reconstructed 16-bit pattern per element\n"
	"\n"
	"Options:\n"
	"  -b, --bits K        planes, 1..planes; policy: each tile at the bits of\n"
	"                      the context's precision map (int layouts hold at\n"
	"                      least what a value needs: bf16 9, fp16 6 bits)\n"
	"  --context NAME      the context for --bits policy (default: the store's)\n"
	"  --layout L          packed, int8 or int16\n"
	"  -r, --recon R       floor, midpoint, table (int8 only) or default\n"
	"  --all               the whole store instead of one TENSOR\n"
	"  --eager             decode the whole view at once instead of on first\n"
	"                      touch (file: no userfaultfd; device: MAP_POPULATE)\n"
	"  -o, --output FILE   where to write; - for stdout (not a terminal); a\n"
	"                      regular file, replaced atomically\n"
	"  -s, --stats         print the fill mode (userfaultfd, eager or kernel),\n"
	"                      the view's size and the bytes\n"
	"                      read (on stdout; on stderr when -o -)\n"
	"  -v, --verbose       library messages at info level (-vv: debug)\n"
	"  -h, --help          this help\n"
	"\n"
	"A layout the tensor's format has not, or bits it cannot serve in it, is\n"
	"a usage error.\n",
};
