// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CXL region discovery through ndctl's libcxl: the host physical range of
 * a committed region, which ATTACH hands to cxlms.ko.  libcxl owns the
 * sysfs layout of drivers/cxl (buses, ports, decoders, regions); this file
 * never reads /sys/bus/cxl itself.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <cxl/libcxl.h>

#include "private.h"

/* libcxl's messages go to the cxlms log, tagged, at the same priority. */
static void cxl_log_to_cxlms(struct cxl_ctx *cctx, int priority, const char *file,
			     int line, const char *fn, const char *format,
			     va_list args)
{
	struct cxlms_ctx *ctx = cxl_get_userdata(cctx);
	char msg[256];
	size_t n;

	if (!ctx || cxlms_get_log_priority(ctx) < priority)
		return;
	vsnprintf(msg, sizeof(msg), format, args);
	n = strlen(msg);
	if (n && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	cxlms_log(ctx, priority, file, line, fn, "libcxl: %s", msg);
}

static struct cxl_region *find_region(struct cxl_ctx *cctx, const char *name,
				      unsigned int *buses)
{
	struct cxl_bus *bus;

	*buses = 0;
	cxl_bus_foreach(cctx, bus) {
		struct cxl_port *top = cxl_bus_get_port(bus), *port;

		(*buses)++;
		/* Regions hang off root decoders, but any port may carry them. */
		for (port = top; port; port = port == top ?
		     cxl_port_get_first(top) : cxl_port_get_next_all(port, top)) {
			struct cxl_decoder *decoder;

			cxl_decoder_foreach(port, decoder) {
				struct cxl_region *region;

				cxl_region_foreach(decoder, region) {
					const char *dev = cxl_region_get_devname(region);

					if (dev && !strcmp(dev, name))
						return region;
				}
			}
		}
	}
	return NULL;
}

int cxlms_region_lookup(struct cxlms_ctx *ctx, const char *name,
			uint64_t *start, uint64_t *size)
{
	struct cxl_region *region;
	struct cxl_ctx *cctx;
	unsigned long long res, len;
	unsigned int buses;
	int rc;

	if (!ctx || !name || !*name || !start || !size)
		return -EINVAL;
	rc = cxl_new(&cctx);
	if (rc < 0) {
		cxlms_err(ctx, "libcxl: cannot create a context: %s", strerror(-rc));
		return rc;
	}
	cxl_set_userdata(cctx, ctx);
	cxl_set_log_fn(cctx, cxl_log_to_cxlms);
	cxl_set_log_priority(cctx, cxlms_get_log_priority(ctx));

	region = find_region(cctx, name, &buses);
	if (!buses) {
		cxlms_err(ctx, "%s: no CXL bus found (cxl_acpi not loaded, or no CXL hardware)",
			  name);
		rc = -ENODEV;
		goto out;
	}
	if (!region) {
		cxlms_err(ctx, "%s: no such CXL region (see `cxl list -R`)", name);
		rc = -ENOENT;
		goto out;
	}
	/* An uncommitted region decodes nothing: its range is not memory yet. */
	if (cxl_region_decode_is_committed(region) != 1) {
		cxlms_err(ctx, "%s: region is not committed (cxl enable-region %s)",
			  name, name);
		rc = -ENXIO;
		goto out;
	}
	res = cxl_region_get_resource(region);
	len = cxl_region_get_size(region);
	if (res == ULLONG_MAX || !len || len == ULLONG_MAX) {
		cxlms_err(ctx, "%s: region has no host physical range", name);
		rc = -ENXIO;
		goto out;
	}
	*start = res;
	*size = len;
	cxlms_dbg(ctx, "%s: host physical range 0x%llx, %llu bytes", name, res, len);
	rc = 0;
out:
	cxl_unref(cctx);
	return rc;
}
