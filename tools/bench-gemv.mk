# `make bench-gemv`: cxlms_gemv() at k = 8..2 against llama.cpp's ggml
# kernels (Q8_0 .. Q2_K), one interleaved run, 1 and 2 threads (not a test).
# ggml is fetched with npm and built outside the tree by tools/ggml/fetch.sh
# into GGML_DIR; bench-gemv (in `make all`) is the same bench without it.
BENCH_GEMV      := $(O)/tools/bench-gemv
BENCH_GEMV_GGML := $(O)/tools/bench-gemv-ggml
BENCH_GEMV_ARGS ?=
GGML_DIR        ?= $(or $(CXLMS_GGML_DIR),$(HOME)/.cache/cxlms-ggml)
GGML_INC        := $(GGML_DIR)/llama.cpp/ggml/include
GGML_LIB        := $(GGML_DIR)/llama.cpp/build/bin

$(BENCH_GEMV): $(O)/tools/bench-gemv.o $(O)/tools/ggml/peer-none.o $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBCXLMS_A) $(LIBCXLMS_LDLIBS)

# ggml's headers are not ours: -isystem keeps our warnings off them.
$(O)/tools/ggml/peer.o: tools/ggml/peer.c tools/ggml/peer.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -isystem $(GGML_INC) $(CFLAGS) -c -o $@ $<

$(BENCH_GEMV_GGML): $(O)/tools/bench-gemv.o $(O)/tools/ggml/peer.o $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBCXLMS_A) $(LIBCXLMS_LDLIBS) \
		-L$(GGML_LIB) -lggml-cpu -lggml-base -Wl,-rpath,$(GGML_LIB)

ALL_TARGETS += $(BENCH_GEMV)

.PHONY: bench-gemv ggml-fetch
ggml-fetch:
	tools/ggml/fetch.sh "$(GGML_DIR)" >/dev/null

bench-gemv: ggml-fetch
	$(MAKE) --no-print-directory $(BENCH_GEMV_GGML)
	$(BENCH_GEMV_GGML) $(BENCH_GEMV_ARGS)

# `make bench-engine` (issue 12 item 6): `cxlms run` at k = 8..2 against
# llama-bench on the same synthetic Llama as GGUF Q8_0/Q4_0/Q2_K; the model,
# store and GGUF files are cached in $(O)/bench-engine.
BENCH_ENGINE_ARGS ?=
.PHONY: bench-engine
bench-engine: $(O)/cxlms
	tools/ggml/bench-engine.sh $(O)/cxlms $(O)/bench-engine $(BENCH_ENGINE_ARGS)

# `make bench-contexts`: context-calibrated precision maps on stories260K
# (tools/bench-contexts.sh; needs ../shared).  Numbers, not a test.
.PHONY: bench-contexts
bench-contexts: $(CXLMS_CLI) $(CXLMSD)
	O=$(O) tools/bench-contexts.sh
