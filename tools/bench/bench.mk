# `make bench`: cxlms-bench, the side-by-side throughput run of issue 5.
ifndef CXLMS_BENCH_MK
CXLMS_BENCH_MK := 1
include lib/simd/simd.mk

CXLMS_BENCH := $(O)/tools/bench/cxlms-bench
BENCH_ARGS ?=

# bench.c is the module (also linked into `cxlms bench`); cxlms-bench.c its main.
# The view column (bench_view.c) maps views through libcxlms, which holds the
# codec and SIMD objects too.
$(CXLMS_BENCH): $(O)/tools/bench/cxlms-bench.o $(O)/tools/bench/bench.o \
		$(O)/tools/bench/bench_view.o $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBCXLMS_LDLIBS)

.PHONY: bench
bench: $(CXLMS_BENCH)
	$(CXLMS_BENCH) $(BENCH_ARGS)
endif
