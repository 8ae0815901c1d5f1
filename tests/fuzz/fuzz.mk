# libFuzzer harnesses (tests/fuzz/README.md), built by clang into their
# own tree so the fuzzing flags never mix with the gcc build:
#   make fuzz         every harness FUZZ_SECONDS (default 60) from the seeds
#   make check-fuzz   every harness FUZZ_CHECK_SECONDS (default 8): part of check
# Both re-run make as O=build-fuzz CC=clang SAN=fuzz fuzz-run.  New corpus
# goes to $(FUZZ_O)/fuzz/corpus/NAME, crash inputs to .../artifacts/NAME,
# the libFuzzer logs to .../logs/NAME.log; never into the source tree.
FUZZ_NAMES         := safetensors store policy config control
FUZZ_O             ?= build-fuzz
FUZZ_SECONDS       ?= 60
FUZZ_CHECK_SECONDS ?= 8
FUZZ_CC            ?= clang

.PHONY: fuzz check-fuzz fuzz-build fuzz-run fuzz-seeds
fuzz check-fuzz fuzz-build fuzz-seeds: FUZZ_SECS = $(if $(filter check-fuzz,$@),$(FUZZ_CHECK_SECONDS),$(FUZZ_SECONDS))
fuzz check-fuzz:
	$(MAKE) O=$(FUZZ_O) CC=$(FUZZ_CC) SAN=fuzz FUZZ_SECONDS=$(FUZZ_SECS) fuzz-run
fuzz-build:
	$(MAKE) O=$(FUZZ_O) CC=$(FUZZ_CC) SAN=fuzz fuzz-bins
# Rewrite the committed seed corpus (tests/fuzz/corpus) from gen-seeds.
fuzz-seeds:
	$(MAKE) O=$(FUZZ_O) CC=$(FUZZ_CC) SAN=fuzz fuzz-gen-seeds

ifeq ($(SAN),fuzz)
# Coverage instrumentation for the library and daemon objects too; the
# fuzzer's main() only in the harness links (-fsanitize=fuzzer there).
CFLAGS   += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	    -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined

FUZZ_BINS       := $(FUZZ_NAMES:%=$(O)/fuzz/fuzz_%)
FUZZ_DAEMON_OBJS := $(addprefix $(O)/daemon/,config.o match.o engine.o)
FUZZ_GEN_SEEDS  := $(O)/fuzz/gen-seeds

$(O)/tests/fuzz/%.o: CPPFLAGS += -Idaemon -Itests/fuzz -Itests/unit

$(O)/fuzz/fuzz_config: FUZZ_EXTRA := $(FUZZ_DAEMON_OBJS)
$(O)/fuzz/fuzz_control: FUZZ_EXTRA := $(FUZZ_DAEMON_OBJS) $(O)/daemon/control.o
$(O)/fuzz/fuzz_config $(O)/fuzz/fuzz_control: $(FUZZ_DAEMON_OBJS) $(O)/daemon/control.o

$(O)/fuzz/fuzz_%: $(O)/tests/fuzz/fuzz_%.o $(LIBCXLMS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_EXTRA) $(LIBCXLMS_A) \
		$(INIH_LIBS) $(LIBCXLMS_LDLIBS) -lm

$(FUZZ_GEN_SEEDS): $(O)/tests/fuzz/gen-seeds.o $(O)/tests/unit/store_builder.o $(LIBCXLMS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBCXLMS_LDLIBS) -lm

.PHONY: fuzz-bins fuzz-gen-seeds
fuzz-bins: $(FUZZ_BINS)
fuzz-run: $(FUZZ_BINS)
	@tests/fuzz/run-fuzz.sh $(O)/fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)
fuzz-gen-seeds: $(FUZZ_GEN_SEEDS)
	$(FUZZ_GEN_SEEDS) tests/fuzz/corpus
else
fuzz-run:
	@echo "fuzz-run: use 'make fuzz' or 'make check-fuzz' (clang, SAN=fuzz)" >&2; exit 2
endif
