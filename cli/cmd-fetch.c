// SPDX-License-Identifier: GPL-2.0
/* cxlms fetch: the top k planes of tiles of a tensor, raw, to a file. */
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

/* Output is produced in batches of whole tiles of about this many bytes. */
#define FETCH_BATCH_BYTES	(64u << 20)

struct fetch_args {
	const char *store_path, *tensor_name, *out_path, *tiles_arg, *rows_arg;
	const char *context;		/* --context: cxlms_set_context() */
	unsigned int bits, out, recon;
	uint64_t first, count;		/* count 0: all tiles */
	bool data_only, stats, verify;
	uint64_t row0, nrows;		/* --rows: nrows > 0 */
};

/*
 * Where the bytes go: stdout, or a temp file renamed over the path at the
 * end (cli_check_output() has refused devices, FIFOs, symlinks and the
 * store itself).
 */
struct sink {
	int fd;
	char *tmp;		/* non-NULL: rename to path on success */
	const char *path;
};

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

static int sink_open(struct sink *s, const char *path)
{
	char *dup, *dir, *base;
	mode_t mask;
	size_t len;

	s->path = path;
	s->tmp = NULL;
	if (!strcmp(path, "-")) {
		s->fd = STDOUT_FILENO;
		return 0;
	}
	/* The file appears whole or not at all: temp + rename. */
	dup = strdup(path);
	if (!dup)
		return -ENOMEM;
	dir = dirname(dup);
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : (char *)path;
	len = strlen(dir) + strlen(base) + 16;
	s->tmp = malloc(len);
	if (!s->tmp) {
		free(dup);
		return -ENOMEM;
	}
	snprintf(s->tmp, len, "%s/.%s.XXXXXX", dir, base);
	free(dup);
	s->fd = mkostemp(s->tmp, O_CLOEXEC);
	if (s->fd < 0) {
		int err = -errno;

		free(s->tmp);
		s->tmp = NULL;
		return err;
	}
	mask = umask(0);
	umask(mask);
	if (fchmod(s->fd, 0666 & ~mask) < 0) {
		int err = -errno;

		close(s->fd);
		unlink(s->tmp);
		free(s->tmp);
		s->tmp = NULL;
		return err;
	}
	return 0;
}

/* Finish (@ok) or throw away the output; returns 0 or -errno. */
static int sink_close(struct sink *s, bool ok)
{
	int err = 0;

	if (s->fd == STDOUT_FILENO)
		return 0;
	if (ok && s->tmp && fsync(s->fd) < 0)
		err = -errno;
	if (close(s->fd) < 0 && !err)
		err = -errno;
	if (s->tmp) {
		if (ok && !err && rename(s->tmp, s->path) < 0)
			err = -errno;
		if (!ok || err)
			unlink(s->tmp);
		free(s->tmp);
	}
	return err;
}

/* Long-only options: no short letter that would go undocumented. */
enum { OPT_TILE = 256, OPT_TILES, OPT_ALL, OPT_OUT, OPT_CONTEXT, OPT_ROWS,
       OPT_VERIFY };

static int parse_args(int argc, char **argv, struct cxlms_ctx *ctx,
		      struct fetch_args *a)
{
	static const struct option opts[] = {
		{ "tile", required_argument, NULL, OPT_TILE },
		{ "tiles", required_argument, NULL, OPT_TILES },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "rows", required_argument, NULL, OPT_ROWS },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "bits", required_argument, NULL, 'b' },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "context", required_argument, NULL, OPT_CONTEXT },
		{ "recon", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "data-only", no_argument, NULL, 'd' },
		{ "stats", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	int c, n, selectors = 0;
	bool have_bits = false, have_out = false;
	uint64_t v;
	char *colon;

	memset(a, 0, sizeof(*a));
	a->recon = CXLMS_RECON_DEFAULT;
	while ((c = getopt_long(argc, argv, ":b:r:o:dsv", opts, NULL)) != -1) {
		switch (c) {
		case OPT_TILE:
			if (!cli_parse_u64("--tile", optarg, 0, UINT32_MAX - 1, &a->first))
				return EXIT_USAGE;
			a->count = 1;
			selectors++;
			break;
		case OPT_TILES:
			a->tiles_arg = optarg;
			colon = strchr(optarg, ':');
			if (!colon)
				return cli_usage_err("--tiles: '%s' is not FIRST:COUNT", optarg);
			*colon = '\0';
			if (!cli_parse_u64("--tiles FIRST", optarg, 0, UINT32_MAX - 1,
					   &a->first) ||
			    !cli_parse_u64("--tiles COUNT", colon + 1, 1, UINT32_MAX,
					   &a->count))
				return EXIT_USAGE;
			*colon = ':';
			selectors++;
			break;
		case OPT_ALL:
			a->first = 0;
			a->count = 0;
			selectors++;
			break;
		case OPT_ROWS:
			a->rows_arg = optarg;
			colon = strchr(optarg, ':');
			if (!colon)
				return cli_usage_err("--rows: '%s' is not FIRST:COUNT", optarg);
			*colon = '\0';
			if (!cli_parse_u64("--rows FIRST", optarg, 0, UINT64_MAX - 1,
					   &a->row0) ||
			    !cli_parse_u64("--rows COUNT", colon + 1, 1, UINT64_MAX,
					   &a->nrows))
				return EXIT_USAGE;
			*colon = ':';
			selectors++;
			break;
		case OPT_VERIFY:
			a->verify = true;
			break;
		case OPT_CONTEXT:
			if (!cli_check_context_name("--context", optarg))
				return EXIT_USAGE;
			a->context = optarg;
			break;
		case 'b':
			if (!strcmp(optarg, "policy")) {
				a->bits = CXLMS_BITS_POLICY;
				have_bits = true;
				break;
			}
			if (!cli_parse_u64("--bits", optarg, 1, CXLMS_MAX_PLANES, &v))
				return EXIT_USAGE;
			a->bits = (unsigned int)v;
			have_bits = true;
			break;
		case OPT_OUT:
			n = cxlms_out_parse(optarg);
			if (n < 0)
				return cli_usage_err("--out: '%s' is not one of planes, packed, int, f32, bf16",
						     optarg);
			a->out = (unsigned int)n;
			have_out = true;
			break;
		case 'r':
			n = cxlms_recon_parse(optarg);
			if (n < 0)
				return cli_usage_err("--recon: '%s' is not one of floor, midpoint, table, default",
						     optarg);
			a->recon = (unsigned int)n;
			break;
		case 'o':
			a->out_path = optarg;
			break;
		case 'd':
			a->data_only = true;
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
	if (argc - optind != 2)
		return cli_usage_err(argc - optind < 2 ? "need STORE and TENSOR"
						       : "too many arguments");
	a->store_path = argv[optind];
	a->tensor_name = argv[optind + 1];
	if (selectors > 1)
		return cli_usage_err("--tile, --tiles, --rows and --all exclude each other");
	if (!have_bits)
		return cli_usage_err("missing --bits K");
	if (!have_out)
		return cli_usage_err("missing --out planes|packed|int|f32|bf16");
	if (!a->out_path)
		return cli_usage_err("missing -o FILE (- for stdout)");
	if (!strcmp(a->out_path, "-") && isatty(STDOUT_FILENO))
		return cli_usage_err("refusing to write binary data to a terminal; "
				     "redirect stdout or use -o FILE");
	return EXIT_OK;
}

/* Check the request against the tensor: everything out of range is usage. */
static int check_request(struct cxlms_tensor *t, struct fetch_args *a)
{
	unsigned int planes = cxlms_tensor_get_planes(t);
	unsigned int tiles = cxlms_tensor_get_tile_count(t);
	const char *name = cxlms_tensor_get_name(t);
	int64_t size;

	if (a->bits != CXLMS_BITS_POLICY && a->bits > planes)
		return cli_usage_err("--bits %u: tensor '%s' has %u planes (--bits 1..%u)",
				     a->bits, name, planes, planes);
	if (a->rows_arg) {
		uint64_t rows = cxlms_tensor_get_rows(t);

		if (a->row0 >= rows || a->nrows > rows - a->row0)
			return cli_usage_err("--rows %s: tensor '%s' has rows 0..%" PRIu64,
					     a->rows_arg, name, rows - 1);
		/* The tiles the rows are in, for the checks and --stats. */
		a->first = a->row0 / cxlms_tensor_get_tile_rows(t);
		a->count = (a->row0 + a->nrows - 1) / cxlms_tensor_get_tile_rows(t) -
			   a->first + 1;
	}
	if (!a->count)
		a->count = tiles;
	if (a->first >= tiles || a->count > tiles - a->first) {
		if (a->tiles_arg)
			return cli_usage_err("--tiles %s: tensor '%s' has tiles 0..%u",
					     a->tiles_arg, name, tiles - 1);
		return cli_usage_err("--tile %" PRIu64 ": tensor '%s' has tiles 0..%u",
				     a->first, name, tiles - 1);
	}
	size = cxlms_fetch_size(t, (unsigned int)a->first, 1, a->bits, a->out,
				a->recon);
	if (size == -EOPNOTSUPP || size == -EINVAL)
		return cli_usage_err("tensor '%s' (%s) cannot be fetched as %s at %u bits with recon %s",
				     name, cxlms_format_name(cxlms_tensor_get_format(t)),
				     cxlms_out_name(a->out), a->bits,
				     cxlms_recon_name(a->recon));
	if (size < 0) {
		cli_err("%s: tensor '%s': %s", a->store_path, name, strerror((int)-size));
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

/* With --data-only, keep only each tile block's data part. */
static int emit(struct sink *s, struct cxlms_tensor *t, const struct fetch_args *a,
		unsigned int first, unsigned int count, const char *buf,
		uint64_t len)
{
	uint64_t off = 0;

	if (!a->data_only)
		return write_all(s->fd, buf, len);
	for (unsigned int i = 0; i < count; i++) {
		struct cxlms_fetch_info fi;
		int err = cxlms_fetch_info(t, first + i, a->bits, a->out, a->recon, &fi);

		if (err < 0)
			return err;
		if (off + fi.data_off + fi.data_len > len)
			return -EIO;	/* library and layout disagree: never write past */
		err = write_all(s->fd, buf + off + fi.data_off, fi.data_len);
		if (err < 0)
			return err;
		off += fi.total;
	}
	return 0;
}

static void print_stats(struct cxlms_tensor *t, const struct fetch_args *a, FILE *f)
{
	struct cxlms_stats st;
	uint64_t planes = 0;
	int err = cxlms_tensor_get_stats(t, &st);

	if (err < 0) {
		cli_err("tensor '%s': reading counters: %s", cxlms_tensor_get_name(t),
			strerror(-err));
		return;
	}
	fprintf(f, "fetch: tensor %s, tiles %" PRIu64 "..%" PRIu64 ", %u bits, out %s\n",
		cxlms_tensor_get_name(t), a->first, a->first + a->count - 1, a->bits,
		cxlms_out_name(a->out));
	fprintf(f, "tile fetches: %" PRIu64 "\n", st.fetches);
	for (unsigned int p = 0; p < cxlms_tensor_get_planes(t); p++) {
		fprintf(f, "plane %u:%*s%" PRIu64 " bytes\n", p, p < 10 ? 6 : 5, "",
			st.plane_bytes[p]);
		planes += st.plane_bytes[p];
	}
	fprintf(f, "side data:    %" PRIu64 " bytes\n", st.side_bytes);
	fprintf(f, "read total:   %" PRIu64 " bytes\n", planes + st.side_bytes);
	fprintf(f, "output:       %" PRIu64 " bytes\n", st.out_bytes);
}

/*
 * --rows: cxlms_fetch_rows() in chunks that end on tile boundaries (a
 * chunk ending inside a tile would split its block in two), so the output
 * is that of one call over the whole range.
 */
static int fetch_rows(struct cxlms_store *store, struct cxlms_tensor *t,
		      const struct fetch_args *a)
{
	uint64_t tr = cxlms_tensor_get_tile_rows(t), row = a->row0;
	uint64_t end = a->row0 + a->nrows;
	int64_t one = cxlms_fetch_rows_size(t, 0, tr, a->bits, a->out, a->recon);
	uint64_t chunk_tiles = one > 0 ? FETCH_BATCH_BYTES / (uint64_t)one : 1;
	struct cxlms_rows_opts o = { .size = sizeof(o) };
	int64_t ss = cxlms_fetch_rows_scratch_size(t, a->bits, a->out, a->recon, NULL);
	struct sink sink;
	char *buf = NULL;
	size_t cap = 0;
	int rc = EXIT_OK, err;

	if (!chunk_tiles)
		chunk_tiles = 1;
	if (ss < 0) {
		cli_err("%s: tensor '%s': %s", a->store_path, a->tensor_name,
			strerror((int)-ss));
		return EXIT_ERROR;
	}
	o.scratch = malloc((size_t)ss);
	o.scratch_len = (size_t)ss;
	if (!o.scratch) {
		cli_err("%s: out of memory", a->tensor_name);
		return EXIT_ERROR;
	}
	err = sink_open(&sink, a->out_path);
	if (err < 0) {
		cli_err("%s: %s", a->out_path, strerror(-err));
		free(o.scratch);
		return EXIT_ERROR;
	}
	while (row < end && rc == EXIT_OK) {
		uint64_t stop = (row / tr + chunk_tiles) * tr, n;
		int64_t size, got;

		if (stop > end)
			stop = end;
		n = stop - row;
		size = cxlms_fetch_rows_size(t, row, n, a->bits, a->out, a->recon);
		if (size > 0 && (uint64_t)size > cap) {
			free(buf);
			cap = (size_t)size;
			buf = malloc(cap);
			if (!buf) {
				cli_err("%s: out of memory for %" PRId64 " bytes",
					a->tensor_name, size);
				rc = EXIT_ERROR;
				break;
			}
		}
		got = size < 0 ? size : cxlms_fetch_rows(store, t, row, n, a->bits, a->out,
							   a->recon, buf, cap, &o);
		if (got == -EBADMSG) {
			cli_err("%s: %s", a->store_path, cxlms_fetch_last_error());
			rc = EXIT_CHECKSUM;
			break;
		}
		if (got < 0) {
			cli_err("%s: tensor '%s' rows %" PRIu64 "..%" PRIu64 ": %s",
				a->store_path, a->tensor_name, row, stop - 1,
				strerror((int)-got));
			rc = EXIT_ERROR;
			break;
		}
		if (a->data_only) {
			/* Only each block's data: one block per tile of the chunk. */
			int nb = cxlms_fetch_rows_blocks(t, row, n, a->bits, a->out,
							 a->recon, NULL, 0);
			struct cxlms_rows_block *bl =
				nb > 0 ? calloc((size_t)nb, sizeof(*bl)) : NULL;

			err = bl ? 0 : -ENOMEM;
			if (bl)
				nb = cxlms_fetch_rows_blocks(t, row, n, a->bits, a->out,
							     a->recon, bl, (unsigned int)nb);
			for (int i = 0; bl && i < nb && !err; i++)
				err = write_all(sink.fd, buf + bl[i].off + bl[i].info.data_off,
						bl[i].info.data_len);
			free(bl);
		} else {
			err = write_all(sink.fd, buf, (size_t)got);
		}
		if (err < 0) {
			cli_err("%s: write failed: %s", a->out_path, strerror(-err));
			rc = EXIT_ERROR;
		}
		row = stop;
	}
	err = sink_close(&sink, rc == EXIT_OK);
	if (err < 0 && rc == EXIT_OK) {
		cli_err("%s: %s", a->out_path, strerror(-err));
		rc = EXIT_ERROR;
	}
	free(buf);
	free(o.scratch);
	return rc;
}

static int fetch_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	struct cxlms_store *store = NULL;
	struct cxlms_tensor *t;
	struct fetch_args a;
	struct sink sink;
	uint64_t one, batch, done = 0;
	int64_t size, got;
	char *buf = NULL;
	int rc, err;

	rc = parse_args(argc, argv, ctx, &a);
	if (rc)
		return rc;
	rc = cli_check_output(a.out_path, true, &a.store_path, 1);
	if (rc)
		return rc;
	rc = cli_open_store(ctx, a.store_path, &store);
	if (rc)
		return rc;
	err = cxlms_tensor_lookup(store, a.tensor_name, &t);
	if (err < 0) {
		if (err == -ENOENT)
			cli_err("%s: no tensor named '%s' (see cxlms info)", a.store_path,
				a.tensor_name);
		else
			cli_err("%s: tensor '%s': %s", a.store_path, a.tensor_name,
				strerror(-err));
		cxlms_store_unref(store);
		return EXIT_ERROR;
	}
	/* The context only chooses the map --bits policy reads: ignored otherwise. */
	if (a.bits == CXLMS_BITS_POLICY) {
		err = cxlms_set_context(store, a.context);
		if (err < 0) {
			cli_err("%s: context %s: %s", a.store_path,
				a.context ? a.context : "(default)",
				err == -ENOENT ? "not in the store's maps" :
				err == -ENODATA ? "no maps published (is cxlmsd running?)" :
				cxlms_strerror(err));
			cxlms_store_unref(store);
			return EXIT_ERROR;
		}
	}
	rc = check_request(t, &a);
	if (rc) {
		cxlms_store_unref(store);
		return rc;
	}
	if (a.verify)
		cxlms_store_set_verify(store, 1);
	if (a.rows_arg) {
		rc = fetch_rows(store, t, &a);
		if (rc == EXIT_OK && a.stats)
			print_stats(t, &a, !strcmp(a.out_path, "-") ? stderr : stdout);
		cxlms_store_unref(store);
		return rc;
	}

	/* Batches of whole tiles keep memory bounded for any tensor size. */
	one = (uint64_t)cxlms_fetch_size(t, (unsigned int)a.first, 1, a.bits, a.out,
					 a.recon);
	batch = one ? FETCH_BATCH_BYTES / one : 1;
	if (batch < 1)
		batch = 1;
	if (batch > a.count)
		batch = a.count;
	size = cxlms_fetch_size(t, (unsigned int)a.first, (unsigned int)batch, a.bits,
				a.out, a.recon);
	buf = size > 0 ? malloc((size_t)size) : NULL;
	if (!buf) {
		cli_err("%s: out of memory for %" PRId64 " bytes", a.tensor_name, size);
		cxlms_store_unref(store);
		return EXIT_ERROR;
	}
	err = sink_open(&sink, a.out_path);
	if (err < 0) {
		cli_err("%s: cannot create the output (as a temporary file next to it): %s",
			a.out_path, strerror(-err));
		free(buf);
		cxlms_store_unref(store);
		return EXIT_ERROR;
	}
	while (done < a.count) {
		unsigned int first = (unsigned int)(a.first + done);
		unsigned int n = (unsigned int)(a.count - done < batch ? a.count - done : batch);

		got = cxlms_fetch_tiles(store, t, first, n, a.bits, a.out, a.recon, buf,
					(size_t)size);
		if (got == -EBADMSG) {
			cli_err("%s: %s", a.store_path, cxlms_fetch_last_error());
			rc = EXIT_CHECKSUM;
			break;
		}
		if (got < 0) {
			cli_err("%s: tensor '%s' tiles %u..%u: %s", a.store_path,
				a.tensor_name, first, first + n - 1, strerror((int)-got));
			rc = EXIT_ERROR;
			break;
		}
		err = emit(&sink, t, &a, first, n, buf, (uint64_t)got);
		if (err < 0) {
			cli_err("%s: write failed: %s", a.out_path, strerror(-err));
			rc = EXIT_ERROR;
			break;
		}
		done += n;
	}
	err = sink_close(&sink, rc == EXIT_OK);
	if (err < 0 && rc == EXIT_OK) {
		cli_err("%s: %s", a.out_path, strerror(-err));
		rc = EXIT_ERROR;
	}
	if (rc == EXIT_OK && a.stats)
		print_stats(t, &a, sink.fd == STDOUT_FILENO ? stderr : stdout);
	free(buf);
	cxlms_store_unref(store);
	return rc;
}

const struct cli_cmd cmd_fetch = {
	.name = "fetch",
	.summary = "read tiles of a tensor at k bits into a raw file",
	.fn = fetch_main,
	.help =
	"usage: cxlms fetch [-v] STORE TENSOR [--tile I | --tiles FIRST:COUNT |\n"
	"                   --rows FIRST:COUNT | --all] --bits K|policy [--context NAME]\n"
	"                   --out planes|packed|int|f32|bf16\n"
	"                   [--recon floor|midpoint|table|default] [--data-only]\n"
	"                   [--stats] [--verify] -o FILE\n"
	"\n"
	"Read the top K bit-planes of tiles of TENSOR and write the fetch output,\n"
	"raw little-endian, to FILE: one block per tile, back to back (see\n"
	"docs/format.md, \"fetch output\").  For f32 and bf16 output, and int\n"
	"output of bf16/fp16 stores, that is the tensor in row-major order.\n"
	"For int8 stores, planes/packed/int blocks carry side data after the\n"
	"data: fp16 group scales and, for planes/packed, 2^K s16 Q8.8 levels.\n"
	"\n"
	"Options:\n"
	"  --tile I             one tile\n"
	"  --tiles FIRST:COUNT  COUNT tiles from FIRST\n"
	"  --rows FIRST:COUNT   COUNT rows from row FIRST: one block per tile the\n"
	"                       rows are in, laid out as a tile of those rows\n"
	"                       (f32/bf16: just the rows); whole tiles are read\n"
	"  --all                every tile (the default)\n"
	"  -b, --bits K         planes to read, 1..planes of the tensor's format;\n"
	"                       policy: each tile at the bits cxlmsd's precision\n"
	"                       map gives it in the context (cxlms policy bits)\n"
	"  --context NAME       the context for --bits policy (default: the\n"
	"                       store's default context); with explicit --bits K\n"
	"                       it is not used (its name is still checked)\n"
	"  --out F              planes, packed, int, f32 or bf16\n"
	"  -r, --recon R        value of the dropped bits: floor, midpoint, table\n"
	"                       (int8 only), default (table for int8, midpoint\n"
	"                       for bf16/fp16)\n"
	"  -o, --output FILE    where to write; - for stdout (not a terminal).\n"
	"                       FILE is a regular file, replaced atomically; a\n"
	"                       device, FIFO, symbolic link or the STORE itself\n"
	"                       is refused (redirect -o - for those)\n"
	"  -d, --data-only      drop the side data (int output of an int8 store\n"
	"                       gives plain row-major int8 codes)\n"
	"  -s, --stats          print bytes read per plane, side bytes and bytes\n"
	"                       out (on stdout; on stderr when -o -)\n"
	"  --verify             check the CRC32C of every tile read first (reads\n"
	"                       all its planes); a mismatch names the tensor and\n"
	"                       tile and exits 6\n"
	"  -v, --verbose        library messages at info level (-vv: debug)\n"
	"  -h, --help           this help\n"
	"\n"
	"A precision the format cannot serve (bf16 below 9 bits or fp16 below 6\n"
	"for f32/bf16/int output, table recon of a 16-bit store) is a usage error.\n",
};
