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
	$(KBUILD_MAKE) W=1 modules

module-clean:
	$(KBUILD_MAKE) clean

# The guest store tool; filecmp compares with libcxlms' file backend.
GUEST_OBJS := $(O)/tests/guest/cxlms-guest-store.o $(O)/tests/guest/guest_filecmp.o
$(GUEST_OBJS): CPPFLAGS += -Itests/kselftest
$(O)/tests/guest/cxlms-guest-store: $(GUEST_OBJS) $(KSFT_UTIL_OBJ) $(CODEC_OBJS) \
				    $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $(GUEST_OBJS) $(KSFT_UTIL_OBJ) $(CODEC_OBJS) \
		$(LIBCXLMS_A) $(LIBCXLMS_LDLIBS)

$(PAYLOAD): module $(KSFT_BINS) $(GUEST_BINS)
	rm -rf $@
	mkdir -p $@
	cp cxlms.ko $(KSFT_BINS) $(GUEST_BINS) tests/guest/guest-run.sh $@/

qemu-check: $(PAYLOAD)
	@driver/qemu-check.sh $(PAYLOAD) $(O)/qemu
