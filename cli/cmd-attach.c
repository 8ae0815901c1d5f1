// SPDX-License-Identifier: GPL-2.0
/* cxlms attach / detach: put a store behind /dev/cxlmsN or take it away. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define DEFAULT_DEVICE	"/dev/cxlms0"

/*
 * SIZE: decimal bytes with an optional binary suffix K, M, G, T (also
 * KiB...).  Strict: no sign, no spaces, no overflow.
 */
static bool parse_size(const char *opt, const char *s, uint64_t *val)
{
	static const char suffixes[] = "KMGT";
	const char *p = s, *sfx;
	uint64_t v = 0;
	unsigned int shift = 0;

	if (*p < '0' || *p > '9')
		goto bad;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			goto bad;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p) {
		sfx = strchr(suffixes, *p);
		if (!sfx || !*sfx)
			goto bad;
		shift = 10 * (unsigned int)(sfx - suffixes + 1);
		p++;
		if (*p && strcmp(p, "iB") && strcmp(p, "B"))
			goto bad;
		if (v > (UINT64_MAX >> shift))
			goto bad;
		v <<= shift;
	}
	*val = v;
	return true;
bad:
	cli_usage_err("%s: '%s' is not a size (bytes, or with K, M, G, T)", opt, s);
	return false;
}

static void format_uuid(const uint8_t u[16], char out[37])
{
	int pos = 0;

	for (int i = 0; i < 16; i++)
		pos += sprintf(out + pos, "%s%02x",
			       (i == 4 || i == 6 || i == 8 || i == 10) ? "-" : "", u[i]);
}

static void print_attached(const char *dev, const char *region, bool format,
			   const struct cxlms_device_info *di)
{
	char hb[32], hd[32], uuid[37];

	format_uuid(di->uuid, uuid);
	printf("device:    %s\n", dev);
	if (di->backing == CXLMS_BACKING_CXL)
		printf("backing:   CXL region %s, 0x%" PRIx64 "..0x%" PRIx64 " (%s)\n",
		       region ? region : "?", di->backing_start,
		       di->backing_start + di->backing_bytes - 1,
		       cli_human_bytes(di->backing_bytes, hb, sizeof(hb)));
	else
		printf("backing:   kernel RAM (%s, lost on detach)\n",
		       cli_human_bytes(di->backing_bytes, hb, sizeof(hb)));
	printf("store:     %s%s\n", format ? "formatted, empty" : "existing store, validated",
	       di->readonly ? " (read-only: unknown features)" : "");
	printf("uuid:      %s\n", uuid);
	printf("size:      %" PRIu64 " bytes\n", di->store_bytes);
	printf("tensors:   %u (directory room for %u)\n", di->tensor_count,
	       di->dir_capacity);
	printf("tiles:     %s used of %s\n", cli_human_bytes(di->data_used, hd, sizeof(hd)),
	       cli_human_bytes(di->data_bytes, hb, sizeof(hb)));
}

enum { OPT_RAM = 256, OPT_OFFSET, OPT_SIZE, OPT_DIRCAP, OPT_GROUP };

static int attach_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	static const struct option opts[] = {
		{ "region", required_argument, NULL, 'r' },
		{ "ram", required_argument, NULL, OPT_RAM },
		{ "offset", required_argument, NULL, OPT_OFFSET },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "format", no_argument, NULL, 'f' },
		{ "dir-capacity", required_argument, NULL, OPT_DIRCAP },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	struct cxlms_attach_opts ao = { 0 };
	struct cxlms_device_info di;
	const char *dev = DEFAULT_DEVICE;
	bool ram = false, have_size = false, have_offset = false;
	uint64_t v;
	int c, err;

	while ((c = getopt_long(argc, argv, ":r:fv", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ao.region = optarg;
			break;
		case OPT_RAM:
			if (!parse_size("--ram", optarg, &ao.bytes))
				return EXIT_USAGE;
			ram = true;
			break;
		case OPT_OFFSET:
			if (!parse_size("--offset", optarg, &ao.offset))
				return EXIT_USAGE;
			have_offset = true;
			break;
		case OPT_SIZE:
			if (!parse_size("--size", optarg, &ao.bytes))
				return EXIT_USAGE;
			have_size = true;
			break;
		case 'f':
			ao.flags |= CXLMS_ATTACH_OPT_FORMAT;
			break;
		case OPT_DIRCAP:
			if (!cli_parse_u64("--dir-capacity", optarg, 1, 65536, &v))
				return EXIT_USAGE;
			ao.dir_capacity = (unsigned int)v;
			break;
		case OPT_GROUP:
			if (!cli_parse_u64("--group", optarg, 1, 1u << 24, &v))
				return EXIT_USAGE;
			ao.default_group = (unsigned int)v;
			break;
		case 'v':
			cli_verbose++;
			cli_setup_log(ctx);
			break;
		default:
			return cli_getopt_err(c, argv);
		}
	}
	if (argc - optind > 1)
		return cli_usage_err("too many arguments");
	if (optind < argc)
		dev = argv[optind];
	if (!!ao.region == ram)
		return cli_usage_err("need exactly one of --region REGION and --ram SIZE");
	if (ram && (have_offset || have_size))
		return cli_usage_err("--offset and --size go with --region");
	if (ram && !(ao.flags & CXLMS_ATTACH_OPT_FORMAT))
		return cli_usage_err("--ram needs --format (fresh RAM holds no store)");
	if ((ao.dir_capacity || ao.default_group) && !(ao.flags & CXLMS_ATTACH_OPT_FORMAT))
		return cli_usage_err("--dir-capacity and --group go with --format");

	err = cxlms_attach(ctx, dev, &ao);
	if (err < 0) {
		if (ao.region)
			cli_err("%s: attaching region %s: %s", dev, ao.region,
				cli_store_strerror(err));
		else
			cli_err("%s: attaching RAM: %s", dev, cli_store_strerror(err));
		return cli_store_exit_code(err);
	}
	err = cxlms_device_get_info(ctx, dev, &di);
	if (err < 0) {
		cli_err("%s: attached, but QUERY failed: %s", dev, strerror(-err));
		return EXIT_ERROR;
	}
	print_attached(dev, ao.region, ao.flags & CXLMS_ATTACH_OPT_FORMAT, &di);
	return EXIT_OK;
}

static int detach_main(int argc, char **argv, struct cxlms_ctx *ctx)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dev = DEFAULT_DEVICE;
	int c, err;

	while ((c = getopt_long(argc, argv, ":v", opts, NULL)) != -1) {
		if (c != 'v')
			return cli_getopt_err(c, argv);
		cli_verbose++;
		cli_setup_log(ctx);
	}
	if (argc - optind > 1)
		return cli_usage_err("too many arguments");
	if (optind < argc)
		dev = argv[optind];
	err = cxlms_detach(ctx, dev);
	if (err < 0) {
		cli_err("%s: detach: %s", dev, err == -ENXIO ? "no store attached"
							      : strerror(-err));
		return EXIT_ERROR;
	}
	printf("detached %s\n", dev);
	return EXIT_OK;
}

const struct cli_cmd cmd_attach = {
	.name = "attach",
	.summary = "put a store (CXL region or RAM) behind /dev/cxlmsN",
	.fn = attach_main,
	.help =
	"usage: cxlms attach [-v] (--region REGION [--offset SIZE] [--size SIZE] |\n"
	"                    --ram SIZE) [--format [--dir-capacity N] [--group N]]\n"
	"                    [DEVICE]\n"
	"\n"
	"Attach a store to DEVICE (default " DEFAULT_DEVICE ", needs cxlms.ko and\n"
	"root).  With --region the store lives in the committed CXL region\n"
	"REGION (e.g. region0; its range is found with libcxl): without --format\n"
	"the store already there is validated and attached, so a store survives\n"
	"reboots; --format writes a fresh empty store over it.  With --ram the\n"
	"store lives in kernel memory and is lost on detach.  Prints the\n"
	"backing, its range, the store's uuid and its tensors.\n"
	"\n"
	"Options:\n"
	"  -r, --region REGION  back the store with this CXL region\n"
	"  --offset SIZE        start this far into the region (page aligned)\n"
	"  --size SIZE          use this many bytes of it (default: to its end)\n"
	"  --ram SIZE           back the store with SIZE bytes of kernel RAM\n"
	"  -f, --format         write a fresh, empty store\n"
	"  --dir-capacity N     with --format: room for N tensors (default 1024)\n"
	"  --group N            with --format: default INT8 group size (128)\n"
	"  -v, --verbose        library messages at info level (-vv: debug)\n"
	"  -h, --help           this help\n"
	"\n"
	"SIZE is bytes, or a number with K, M, G or T (powers of 1024).\n"
	"A store the module refuses exits 3..7 like a bad store file.\n",
};

const struct cli_cmd cmd_detach = {
	.name = "detach",
	.summary = "release the store of /dev/cxlmsN (it stays in the region)",
	.fn = detach_main,
	.help =
	"usage: cxlms detach [-v] [DEVICE]\n"
	"\n"
	"Detach the store of DEVICE (default " DEFAULT_DEVICE ").  A CXL store\n"
	"stays in its region, written back from the CPU caches, and can be\n"
	"attached again; a RAM store is freed.  Waits for running fetches.\n"
	"\n"
	"Options:\n"
	"  -v, --verbose  library messages at info level (-vv: debug)\n"
	"  -h, --help     this help\n",
};
