# `make bench`: cxlms-bench, the side-by-side throughput run of issue 5.
ifndef CXLMS_BENCH_MK
CXLMS_BENCH_MK := 1
include lib/simd/simd.mk

CXLMS_BENCH := $(O)/tools/bench/cxlms-bench
BENCH_ARGS ?=

$(CXLMS_BENCH): $(O)/tools/bench/cxlms-bench.o $(SIMD_OBJS) $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(SIMD_LDLIBS)

.PHONY: bench
bench: $(CXLMS_BENCH)
	$(CXLMS_BENCH) $(BENCH_ARGS)
endif
