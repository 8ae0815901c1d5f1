/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The throughput benchmark as a module: linked into the
 * stand-alone tools/bench/cxlms-bench (`make bench`) and into `cxlms bench`,
 * so both print the same report from the same code.
 */
#ifndef CXLMS_BENCH_H
#define CXLMS_BENCH_H

/* Everything after "usage: PROG ". */
#define CXLMS_BENCH_USAGE \
	"[--json] [--json-out FILE] [--reps N] [--size MiB]\n" \
	"       [--no-isa-compare] [--dat PREFIX] [--only int8|fp16] [--threads N]\n" \
	"       [--piece KiB] [--no-views]\n"

#define CXLMS_BENCH_HELP \
	"Time fetches of bit-plane tiles at k = 1..8 (int8) and 1..16 (fp16) against\n" \
	"a read-only pass and a memcpy of the same bytes, a dedicated packed k-bit copy,\n" \
	"and placement against a non-temporal copy; one thread (or N), on synthetic stores\n" \
	"larger than the last-level cache.  Prints ratios, medians of N repetitions,\n" \
	"and which throughput targets are met or missed.  Needs about 7 x --size MiB\n" \
	"of memory (3.5 GiB at the default); takes 1.5-3 minutes.\n" \
	"\n" \
	"Options:\n" \
	"  --json             the report as JSON on stdout\n" \
	"  --json-out FILE    also write the JSON report to FILE\n" \
	"  --reps N           timed repetitions, the median is reported (1..31, default 5)\n" \
	"  --size MiB         planes per store (default 512; keep it >> LLC)\n" \
	"  --no-isa-compare   skip the per-ISA INT fetch columns (portable is slow)\n" \
	"  --dat PREFIX       also write PREFIX-int8.dat and PREFIX-fp16.dat for gnuplot\n" \
	"  --only int8|fp16   one store only, no target verdicts (for tuning)\n" \
	"  --threads N        run every contender on N threads (1..16, default 1)\n" \
	"  --piece KiB        output per piece of the pieces columns (default 8)\n" \
	"  --no-views         skip the view column (mapped k-bit views, size / 4)\n" \
	"  -h, --help         this help\n" \
	"\n" \
	"CXLMS_FORCE_ISA=portable|avx2|avx512|gfni picks the variant measured.\n"

/*
 * Parse @argv (argv[0] names the program in messages), run, print the report
 * on stdout.  Returns a process exit code: 0 done, 1 failure, 2 usage error.
 * Runs once per process (it keeps its buffers and options in statics).
 */
int cxlms_bench_main(int argc, char **argv);

/*
 * The view column (bench_view.c, links libcxlms): a scan of a mapped k-bit
 * view against fetch of the same bits and a dedicated copy, on an INT8
 * tensor of @mib MiB in a store file under $TMPDIR.  0 or -errno (the
 * reports then say why it was not measured).
 */
#include <stdio.h>
int cxlms_bench_view_run(size_t mib, unsigned int reps);
void cxlms_bench_view_text(FILE *f);
void cxlms_bench_view_json(FILE *f);	/* ",\n  \"views\": {...}" */

#endif /* CXLMS_BENCH_H */
