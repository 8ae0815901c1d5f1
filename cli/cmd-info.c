// SPDX-License-Identifier: GPL-2.0
/* cxlms info: what a store holds. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *name_or(const char *name, const char *dflt)
{
	return name ? name : dflt;
}

/* Columns a name takes on a terminal, escapes included (cli_print_name). */
static int text_width(const char *s)
{
	return cli_print_name(NULL, s);
}

static void shape_str(struct cxlms_tensor *t, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < cxlms_tensor_get_ndim(t) && pos < len; i++)
		pos += snprintf(buf + pos, len - pos, "%s%" PRIu64, i ? "x" : "",
				cxlms_tensor_get_dim(t, i));
}

/* Canonical 8-4-4-4-12 text form of the store uuid. */
static void format_uuid(struct cxlms_store *store, char out[37])
{
	uint8_t u[16] = { 0 };
	int pos = 0;

	cxlms_store_get_uuid(store, u);
	for (int i = 0; i < 16; i++)
		pos += sprintf(out + pos, "%s%02x",
			       (i == 4 || i == 6 || i == 8 || i == 10) ? "-" : "", u[i]);
}

static void print_metadata_json(struct cxlms_store *store);

static void print_json(struct cxlms_store *store)
{
	char uuid[37];
	struct cxlms_tensor *t;
	bool first = true;

	printf("{\"path\":");
	cli_json_string(stdout, cxlms_store_get_path(store));
	printf(",\"backend\":");
	cli_json_string(stdout, cxlms_store_get_backend(store));
	format_uuid(store, uuid);
	printf(",\"uuid\":\"%s\"", uuid);
	printf(",\"size\":%" PRIu64 ",\"tensor_count\":%u,\"tensors\":[",
	       cxlms_store_get_size(store), cxlms_store_get_tensor_count(store));
	cxlms_tensor_foreach(store, t) {
		unsigned int ndim = cxlms_tensor_get_ndim(t);

		printf("%s\n{\"name\":", first ? "" : ",");
		first = false;
		cli_json_string(stdout, cxlms_tensor_get_name(t));
		printf(",\"index\":%u,\"src_dtype\":", cxlms_tensor_get_index(t));
		cli_json_string(stdout, name_or(cxlms_dtype_name(cxlms_tensor_get_src_dtype(t)),
						"unknown"));
		printf(",\"format\":");
		cli_json_string(stdout, name_or(cxlms_format_name(cxlms_tensor_get_format(t)),
						"unknown"));
		printf(",\"shape\":[");
		for (unsigned int i = 0; i < ndim; i++)
			printf("%s%" PRIu64, i ? "," : "", cxlms_tensor_get_dim(t, i));
		printf("],\"rows\":%" PRIu64 ",\"cols\":%" PRIu64 ",\"elems\":%" PRIu64
		       ",\"group_size\":%u,\"planes\":%u,\"tile_rows\":%u,\"tiles\":%u"
		       ",\"stored_bytes\":%" PRIu64 "}",
		       cxlms_tensor_get_rows(t), cxlms_tensor_get_cols(t),
		       cxlms_tensor_get_elems(t), cxlms_tensor_get_group_size(t),
		       cxlms_tensor_get_planes(t), cxlms_tensor_get_tile_rows(t),
		       cxlms_tensor_get_tile_count(t), cxlms_tensor_get_stored_bytes(t));
	}
	printf("]");
	print_metadata_json(store);
	printf("}\n");
}

/* Metadata kept at import: key and size, and a short printable excerpt. */
static void print_metadata(struct cxlms_store *store)
{
	int i, n = cxlms_store_get_metadata_count(store);

	if (n == -EPROTONOSUPPORT) {
		printf("metadata: (a newer version than this cxlms reads)\n");
		return;
	}
	for (i = 0; i < n; i++) {
		const char *key, *v;
		const void *value;
		char excerpt[61];
		size_t len, j, k = 0;

		if (cxlms_store_get_metadata(store, (unsigned int)i, &key, &value, &len))
			continue;
		v = value;
		/* Whitespace runs as one space; control bytes as '?'. */
		for (j = 0; j < len && k < sizeof(excerpt) - 1; j++) {
			unsigned char ch = (unsigned char)v[j];

			if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r') {
				if (k && excerpt[k - 1] != ' ')
					excerpt[k++] = ' ';
				continue;
			}
			excerpt[k++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
		}
		excerpt[k] = '\0';
		printf("%s%s: %zu bytes: %s%s\n", i ? "          " : "metadata: ",
		       key, len, excerpt, j < len ? "..." : "");
	}
}

static void print_metadata_json(struct cxlms_store *store)
{
	int i, n = cxlms_store_get_metadata_count(store);

	printf(",\"metadata\":{");
	for (i = 0; i < n; i++) {
		const char *key;
		const void *value;
		size_t len;

		if (cxlms_store_get_metadata(store, (unsigned int)i, &key, &value, &len))
			continue;
		printf("%s", i ? "," : "");
		cli_json_string(stdout, key);
		putchar(':');
		/* Values are byte strings (config.json is JSON text): as strings. */
		cli_json_string(stdout, value);
	}
	printf("}");
}

static void print_table(struct cxlms_store *store)
{
	int name_w = 4, shape_w = 5, tiles_w = 5;
	uint64_t total = 0, elems = 0;
	struct cxlms_tensor *t;
	char buf[64], hb[32], uuid[37];

	/* Size the columns first: names run from "wte" to 60-byte paths. */
	cxlms_tensor_foreach(store, t) {
		int n = text_width(cxlms_tensor_get_name(t));

		if (n > name_w)
			name_w = n;
		shape_str(t, buf, sizeof(buf));
		if ((int)strlen(buf) > shape_w)
			shape_w = (int)strlen(buf);
		n = snprintf(buf, sizeof(buf), "%ux%u", cxlms_tensor_get_tile_count(t),
			     cxlms_tensor_get_tile_rows(t));
		if (n > tiles_w)
			tiles_w = n;
	}

	fputs("store:    ", stdout);
	cli_print_name(stdout, cxlms_store_get_path(store));
	putchar('\n');
	printf("backend:  %s\n", cxlms_store_get_backend(store));
	format_uuid(store, uuid);
	printf("uuid:     %s\n", uuid);
	printf("size:     %" PRIu64 " bytes (%s)\n", cxlms_store_get_size(store),
	       cli_human_bytes(cxlms_store_get_size(store), hb, sizeof(hb)));
	printf("tensors:  %u\n", cxlms_store_get_tensor_count(store));
	print_metadata(store);
	putchar('\n');
	printf("%-*s  %-4s  %-6s  %-*s  %5s  %-*s  %12s\n", name_w, "NAME", "SRC",
	       "FORMAT", shape_w, "SHAPE", "GROUP", tiles_w, "TILES", "STORED");
	cxlms_tensor_foreach(store, t) {
		char shape[64], tiles[32], group[16];

		shape_str(t, shape, sizeof(shape));
		snprintf(tiles, sizeof(tiles), "%ux%u", cxlms_tensor_get_tile_count(t),
			 cxlms_tensor_get_tile_rows(t));
		if (cxlms_tensor_get_group_size(t))
			snprintf(group, sizeof(group), "%u", cxlms_tensor_get_group_size(t));
		else
			snprintf(group, sizeof(group), "-");
		/* Names are bytes from the checkpoint: no raw control characters. */
		cli_print_name(stdout, cxlms_tensor_get_name(t));
		printf("%*s  %-4s  %-6s  %-*s  %5s  %-*s  %12" PRIu64 "\n",
		       name_w - text_width(cxlms_tensor_get_name(t)), "",
		       name_or(cxlms_dtype_name(cxlms_tensor_get_src_dtype(t)), "?"),
		       name_or(cxlms_format_name(cxlms_tensor_get_format(t)), "?"),
		       shape_w, shape, group, tiles_w, tiles,
		       cxlms_tensor_get_stored_bytes(t));
		total += cxlms_tensor_get_stored_bytes(t);
		elems += cxlms_tensor_get_elems(t);
	}
	printf("\n%" PRIu64 " elements, %" PRIu64 " bytes in tiles (%s)\n", elems,
	       total, cli_human_bytes(total, hb, sizeof(hb)));
}

static int info_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "metadata", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct cxlms_store *store;
	const char *meta_key = NULL;
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, ":jm:v", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'm':
			meta_key = optarg;
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
	if (meta_key) {
		const void *value;
		size_t len;

		rc = cxlms_store_get_metadata_key(store, meta_key, &value, &len);
		if (rc) {
			cli_err("%s: metadata key '%s': %s", cxlms_store_get_path(store),
				meta_key, rc == -ENOENT ? "not in the store" : strerror(-rc));
			cxlms_store_unref(store);
			return EXIT_ERROR;
		}
		/* The value as it was imported, byte for byte. */
		fwrite(value, 1, len, stdout);
	} else if (json) {
		print_json(store);
	} else {
		print_table(store);
	}
	cxlms_store_unref(store);
	if (fflush(stdout) || ferror(stdout)) {
		cli_err("write to stdout failed");
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

const struct cli_cmd cmd_info = {
	.name = "info",
	.summary = "show a store's tensors, formats, sizes and tiles",
	.fn = info_main,
	.help =
	"usage: cxlms info [-v] [--json | --metadata KEY] STORE\n"
	"\n"
	"Open STORE (validating all metadata) and describe it: path, backend,\n"
	"size, tensor count, the metadata kept at import (key, size, excerpt),\n"
	"then one row per tensor: name, source dtype, stored format, shape,\n"
	"INT8 group size, tiles x rows per tile, stored bytes.\n"
	"Control characters, backslashes and invalid UTF-8 in names are shown\n"
	"as \\xNN and \\\\ (the --json output escapes them as JSON does).\n"
	"\n"
	"Options:\n"
	"  -j, --json     one JSON object with a \"tensors\" array and a\n"
	"                 \"metadata\" object (values as strings), for scripts\n"
	"  -m, --metadata KEY  print the value of metadata KEY (e.g. config.json)\n"
	"                 byte for byte; exit 1 if the store has no such key\n"
	"  -v, --verbose  library messages at info level (-vv: debug)\n"
	"  -h, --help     this help\n",
};
