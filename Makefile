# cxlms front door.  `make` builds all userspace, `make check` builds and runs
# every test (installing missing Debian packages first), `make demo` runs the
# main job on the embedded file backend.  See README.md.
#
# Each directory contributes a fragment (codec/codec.mk, lib/lib.mk, ...) that
# appends to the variables below; this file only holds the shared rules.

O        ?= build
SAN      ?=
CC       ?= cc
PREFIX   ?= /usr/local
# GNU installation directories (install.mk); each can be overridden alone.
# sysconfdir is /etc, where cxlmsd looks by default, not $(prefix)/etc.
prefix         ?= $(PREFIX)
exec_prefix    ?= $(prefix)
bindir         ?= $(exec_prefix)/bin
sbindir        ?= $(exec_prefix)/sbin
libdir         ?= $(exec_prefix)/lib
includedir     ?= $(prefix)/include
datarootdir    ?= $(prefix)/share
mandir         ?= $(datarootdir)/man
man1dir        ?= $(mandir)/man1
man5dir        ?= $(mandir)/man5
man8dir        ?= $(mandir)/man8
sysconfdir     ?= /etc
systemdunitdir ?= $(prefix)/lib/systemd/system

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -fno-strict-aliasing -D_GNU_SOURCE
CPPFLAGS += -Iinclude/uapi -Icodec -Ilib
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif
# UBSan alone, for the clang build (check-clang): clang's UBSan reports
# out-of-object pointer arithmetic that gcc's does not.
# clang links the UBSan runtime into executables only: the shared object
# takes the handlers from them, so it cannot be linked with --no-undefined.
SO_NO_UNDEFINED := -Wl,--no-undefined
ifeq ($(SAN),ubsan)
CFLAGS   += -fsanitize=undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=undefined
SO_NO_UNDEFINED :=
endif

.DEFAULT_GOAL := all
# Everything `make` builds; fragments append.
ALL_TARGETS :=
# Unit test binaries (cmocka, TAP); fragments append.
UNIT_TESTS  :=
# Shell-driven integration tests (exit 0 pass, 77 skip); fragments append.
INTEG_TESTS :=

include codec/codec.mk
include lib/lib.mk
include cli/cli.mk
include daemon/daemon.mk
include tests/tests.mk
include driver/driver.mk
include tools/bench/bench.mk
include install.mk
include tools/bench-gemv.mk
include tests/fuzz/fuzz.mk

.PHONY: all deps check check-unit check-san check-clang check-integ check-qemu demo clean
all: $(ALL_TARGETS)

# Install the Debian packages the build and tests need (no-op when present).
deps:
	@scripts/install-deps.sh

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

check: deps
	$(MAKE) all
	$(MAKE) check-unit
	$(MAKE) check-san
	$(MAKE) check-clang
	$(MAKE) check-fuzz
	$(MAKE) check-integ
	$(MAKE) check-qemu
	@echo "make check: all test suites passed"

check-unit: $(UNIT_TESTS) $(ALL_TARGETS)
	@tests/run-tap.sh $(UNIT_TESTS)

# The same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
check-san:
	$(MAKE) O=build-san SAN=1 check-unit

# The same unit tests built by clang under its UndefinedBehaviorSanitizer.
check-clang:
	$(MAKE) O=build-clang CC=clang SAN=ubsan check-unit

check-integ: $(ALL_TARGETS)
	@tests/run-integ.sh $(INTEG_TESTS)

# The kernel module and its guest tests under QEMU (driver/driver.mk).  Exit 77
# (QEMU cannot run here at all) is reported loudly and counted as a skip.
check-qemu: $(PAYLOAD)
	@driver/qemu-check.sh $(PAYLOAD) $(O)/qemu; rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "check-qemu: SKIPPED: QEMU unavailable" >&2; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi

demo: deps
	$(MAKE) all
	@O=$(O) scripts/demo.sh

clean: module-clean
	rm -rf build build-san build-clang build-fuzz

-include $(shell find $(O) -name '*.d' 2>/dev/null)
