# `make bench-gemv`: cxlms_gemv() at k = 8, 4, 2 beside a read-only pass over
# the same bytes and a fetch(F32) + naive GEMV, 1 and 2 threads (not a test).
BENCH_GEMV := $(O)/tools/bench-gemv
BENCH_GEMV_ARGS ?=

$(BENCH_GEMV): $(O)/tools/bench-gemv.o $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBCXLMS_A) $(LIBCXLMS_LDLIBS)

ALL_TARGETS += $(BENCH_GEMV)

.PHONY: bench-gemv
bench-gemv: $(BENCH_GEMV)
	$(BENCH_GEMV) $(BENCH_GEMV_ARGS)

# `make bench-contexts`: context-calibrated precision maps on stories260K
# (tools/bench-contexts.sh; needs ../shared).  Numbers, not a test.
.PHONY: bench-contexts
bench-contexts: $(CXLMS_CLI) $(CXLMSD)
	O=$(O) tools/bench-contexts.sh
