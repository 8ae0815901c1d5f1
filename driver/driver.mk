# cxlms.ko and its guest tests.  Included by the top Makefile.
#   make module       build cxlms.ko out of tree (root Kbuild) with W=1
#   make $(O)/payload assemble the guest payload (module, tests, guest-run.sh)
#   make qemu-check   boot the guest twice under QEMU and run the tests
#   make module-clean remove kbuild's output (it lands next to the sources)
# KVER: the kernel qemu/ boots (qemu/build/kver), else what Debian's
# linux-image-amd64 depends on.
KVER ?= $(shell cat qemu/build/kver 2>/dev/null || driver/deps.sh --kver)
KDIR ?= /usr/src/linux-headers-$(KVER)
# Kbuild must not inherit our command-line variables: O= means its output dir.
KBUILD_MAKE = env -u MAKEFLAGS -u MFLAGS $(MAKE) -C $(KDIR) M=$(CURDIR)

include tests/kselftest/kselftest.mk

GUEST_BINS := $(O)/tests/guest/cxlms-guest-store
PAYLOAD    := $(O)/payload

.PHONY: module module-clean qemu-check $(PAYLOAD)

module:
	@driver/deps.sh
	$(KBUILD_MAKE) W=1 CXLMS_WERROR=y modules

# Not kbuild's own clean: with M= it deletes every *.ko below the tree,
# including the guest kernel's modules unpacked under qemu/build/.
module-clean:
	rm -f cxlms.ko cxlms.mod cxlms.mod.c cxlms.o Module.symvers modules.order \
	      .cxlms*.cmd .Module.symvers.cmd .modules.order.cmd
	rm -f $(foreach d,. driver codec,$(d)/*.o $(d)/.*.o.cmd $(d)/.*.o.d)

# The guest store tool; filecmp compares with libcxlms' file backend.
GUEST_OBJS := $(O)/tests/guest/cxlms-guest-store.o $(O)/tests/guest/guest_filecmp.o
$(GUEST_OBJS): CPPFLAGS += -Itests/kselftest
$(O)/tests/guest/cxlms-guest-store: $(GUEST_OBJS) $(KSFT_UTIL_OBJ) $(CODEC_OBJS) \
				    $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $(GUEST_OBJS) $(KSFT_UTIL_OBJ) $(CODEC_OBJS) \
		$(LIBCXLMS_A) $(LIBCXLMS_LDLIBS)

# A VERIFY of a multi-GiB RAM tensor stays killable (boot 2, more memory).
VERIFY_INTR := $(O)/tests/guest/verify-intr
$(VERIFY_INTR).o: CPPFLAGS += -Itests/kselftest
$(VERIFY_INTR): $(VERIFY_INTR).o $(KSFT_UTIL_OBJ) $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^
GUEST_BINS += $(VERIFY_INTR)

# libcxlms' kernel backend in the guest (tests/guest/lib-kernel.sh): the
# cxlms CLI, libcxlms' fetch unit test and three small stores (int8, bf16,
# fp16 imports of tests/guest/gen-mini-model's model), ~1 MB in all.
KB_GEN    := $(O)/tests/guest/gen-mini-model
KB_STORES := $(foreach v,int8 bf16 fp16,$(O)/tests/guest/kb/mini-$(v).cxlms)
KB_UNIT   := $(O)/tests/guest/test_lib_fetch
KB_CMP    := $(O)/tests/guest/cxlms-kb-compare
KB_BINS   := $(CXLMS_CLI) $(KB_UNIT) $(KB_CMP)
# The reference Llama engine's model for lib-kernel.sh's lk_engine.
KB_LLAMA  := $(O)/tests/guest/kb/llama.cxlms $(O)/tests/guest/kb/llama.json

$(KB_CMP): $(O)/tests/guest/cxlms-kb-compare.o $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBCXLMS_A) $(LIBCXLMS_LDLIBS)

$(KB_GEN): $(O)/tests/guest/gen-mini-model.o
	$(CC) $(LDFLAGS) -o $@ $^

# The guest's copy finds libm next to itself (RUNPATH $ORIGIN; the payload
# rule copies it): the base initramfs has no libm, and qemu/mkinitramfs.sh
# would add it under a real /lib that hides the base's /lib -> usr/lib.
$(KB_UNIT): $(O)/tests/unit/test_lib_fetch.o $(O)/tests/unit/lib_testutil.o $(LIBCXLMS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -Wl,-rpath,'$$ORIGIN' -o $@ $(filter %.o,$^) $(LIBCXLMS_A) \
		$(CMOCKA_LIBS) $(LIBCXLMS_LDLIBS)

$(O)/tests/guest/kb/mini-%.safetensors: $(KB_GEN)
	@mkdir -p $(dir $@)
	$(KB_GEN) --prefix $* --seed 7 $@

$(O)/tests/guest/kb/mini-%.cxlms: $(O)/tests/guest/kb/mini-%.safetensors $(CXLMS_CLI)
	rm -f $@
	$(CXLMS_CLI) import -q --no-defaults --format $* --tile-rows 24 \
		$(if $(filter int8,$*),--group 32) $< $@

$(O)/tests/guest/kb/llama.json: $(GEN_MODEL)
	@mkdir -p $(dir $@)
	$(GEN_MODEL) -s 3 -l 1 -c $@ $(O)/tests/guest/kb/llama.safetensors >/dev/null

$(O)/tests/guest/kb/llama.cxlms: $(O)/tests/guest/kb/llama.json $(CXLMS_CLI)
	rm -f $@
	$(CXLMS_CLI) import -q --config $< $(O)/tests/guest/kb/llama.safetensors $@

# io_uring guest programs (tests/guest/uring.sh runs them); libm next to
# them like the kernel-backend programs (RUNPATH $ORIGIN).
URING_GUEST_BINS := $(O)/tests/guest/uring-raw $(O)/tests/guest/uring-lib \
		    $(O)/tests/guest/uring-bench
URING_UTIL_OBJ   := $(O)/tests/guest/uring-util.o
$(URING_GUEST_BINS:%=%.o) $(URING_UTIL_OBJ): CPPFLAGS += -Itests/kselftest
$(URING_GUEST_BINS): %: %.o $(URING_UTIL_OBJ) $(KSFT_UTIL_OBJ) $(CODEC_OBJS) \
		     $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -Wl,-rpath,'$$ORIGIN' -o $@ $< $(URING_UTIL_OBJ) \
		$(KSFT_UTIL_OBJ) $(CODEC_OBJS) $(LIBCXLMS_A) $(LIBCXLMS_LDLIBS)
GUEST_BINS += $(URING_GUEST_BINS)

# The structure-aware fuzzer of the module (ioctl and uring_cmd, threads),
# linked like the io_uring programs (liburing; libm next to it).
FUZZ_GUEST_BIN := $(O)/tests/guest/cxlms-fuzz
$(FUZZ_GUEST_BIN).o: CPPFLAGS += -Itests/kselftest
$(FUZZ_GUEST_BIN): %: %.o $(KSFT_UTIL_OBJ) $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -Wl,-rpath,'$$ORIGIN' -o $@ $< $(KSFT_UTIL_OBJ) \
		$(CODEC_OBJS) $(LIBCXLMS_LDLIBS)
GUEST_BINS += $(FUZZ_GUEST_BIN)

# The two-guest shared-pool test (tests/guest/multihost-guest.sh, run by
# qemu/run-pair.sh): A drives the module, B (no module) rewrites the store
# with the codec's own CRCs.
MH_OBJS := $(O)/tests/guest/multihost-a.o $(O)/tests/guest/multihost-b.o
$(MH_OBJS): CPPFLAGS += -Itests/kselftest
$(O)/tests/guest/multihost-a: $(O)/tests/guest/multihost-a.o $(KSFT_UTIL_OBJ) $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^
$(O)/tests/guest/multihost-b: $(O)/tests/guest/multihost-b.o $(KSFT_UTIL_OBJ) $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^
GUEST_BINS += $(O)/tests/guest/multihost-a $(O)/tests/guest/multihost-b

# cxlmsd and its engine-like probe on /dev/cxlms0 (tests/guest/policy.sh);
# libinih and libm next to them (RUNPATH $ORIGIN) like the programs above.
KP_CXLMSD := $(O)/tests/guest/cxlmsd
KP_PROBE  := $(O)/tests/guest/cxlms-policy-probe
$(KP_CXLMSD): $(O)/daemon/cxlmsd.o $(CXLMSD_CORE) $(LIBCXLMS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -Wl,-rpath,'$$ORIGIN' -o $@ $(filter %.o,$^) $(LIBCXLMS_A) \
		$(INIH_LIBS) $(LIBCXLMS_LDLIBS) -lm
$(KP_PROBE): $(O)/daemon/policy-probe.o $(O)/tools/st-read.o $(LIBCXLMS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -Wl,-rpath,'$$ORIGIN' -o $@ $(filter %.o,$^) $(LIBCXLMS_A) \
		$(LIBCXLMS_LDLIBS) -lm

$(PAYLOAD): module $(KSFT_BINS) $(GUEST_BINS) $(KB_BINS) $(KB_STORES) $(KB_LLAMA) $(KP_CXLMSD) \
	    $(KP_PROBE)
	rm -rf $@
	mkdir -p $@
	cp cxlms.ko $(KSFT_BINS) $(GUEST_BINS) tests/guest/guest-run.sh \
	   tests/guest/uring.sh tests/guest/crash.sh tests/guest/multihost-guest.sh \
	   tests/guest/tap.sh $@/
	mkdir -p $@/kb
	cp $(KB_BINS) tests/guest/lib-kernel.sh $@/
	cp -L $$($(CC) -print-file-name=libm.so.6) $@/
	cp $(KP_CXLMSD) $(KP_PROBE) tests/guest/policy.sh $@/
	cp -L $$($(CC) -print-file-name=libinih.so.1) $@/
	cp $(KB_STORES) $(KB_LLAMA) $@/kb/

qemu-check: $(PAYLOAD)
	@driver/qemu-check.sh $(PAYLOAD) $(O)/qemu

# The crash-consistency boots alone (qemu-check runs them too).
.PHONY: crash-check
crash-check: $(PAYLOAD)
	@driver/crash-check.sh $(PAYLOAD) $(O)/qemu
