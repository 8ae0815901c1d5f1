// SPDX-License-Identifier: LGPL-2.1-or-later
/* cxlms-bench: `make bench`; the same report as `cxlms bench` (bench.c). */
#include "bench.h"

int main(int argc, char **argv)
{
	return cxlms_bench_main(argc, argv);
}
