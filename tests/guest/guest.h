/* SPDX-License-Identifier: GPL-2.0 */
/* cxlms-guest-store subcommands that live in their own files. */
#ifndef CXLMS_GUEST_H
#define CXLMS_GUEST_H

#include <stdint.h>

/* guest_filecmp.c: a libcxlms store file in the region, served alike. */
int cmd_filecmp(int fd, uint64_t start, uint64_t bytes);

#endif /* CXLMS_GUEST_H */
