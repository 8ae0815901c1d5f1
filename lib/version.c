// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Library version and error text: what an engine links against, and the
 * meaning of the error codes libcxlms gives a store-specific sense.
 */
#include <errno.h>
#include <string.h>

#include "libcxlms.h"

unsigned int cxlms_version(void)
{
	return LIBCXLMS_VERSION_NUMBER;
}

/*
 * Only string literals and strerrordesc_np() (glibc's table, never a
 * per-call buffer): safe from any number of threads.
 */
const char *cxlms_strerror(int err)
{
	const char *s;

	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case EMEDIUMTYPE:
		return "not a cxlms store";
	case EPROTONOSUPPORT:
		return "unsupported store version or feature";
	case ENODATA:
		/* cxlms_open(): truncated; the policy calls: no maps yet. */
		return "store truncated, or no precision maps published yet";
	case EBADMSG:
		return "store checksum mismatch (metadata or tile CRC)";
	case EUCLEAN:
		return "invalid store contents (checksums match, contents impossible)";
	case ESTALE:
		return "store directory changed since it was read";
	}
	s = strerrordesc_np(err);
	return s ? s : "unknown error";
}
