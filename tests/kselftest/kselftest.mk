# cxlms kselftests (run in the QEMU guest by tests/guest/guest-run.sh).
# The harness headers come from Debian's linux-source-6.1 at build time and
# are never committed: they are unpacked into $(KSFT_INC).
KSFT_TARBALL := /usr/src/linux-source-6.1.tar.xz
KSFT_INC     := $(O)/kselftest-inc
KSFT_HDRS    := $(KSFT_INC)/kselftest_harness.h $(KSFT_INC)/kselftest.h

KSFT_UTIL_OBJ := $(O)/tests/kselftest/cxlms_util.o
KSFT_BINS     := $(O)/tests/kselftest/cxlms_ioctl_test \
		 $(O)/tests/kselftest/cxlms_fetch_test \
		 $(O)/tests/kselftest/cxlms_policy_test \
		 $(O)/tests/kselftest/cxlms_media_test \
		 $(O)/tests/kselftest/cxlms_view_test
KSFT_OBJS     := $(KSFT_BINS:%=%.o) $(KSFT_UTIL_OBJ)

$(KSFT_HDRS) &:
	@driver/deps.sh --source
	@mkdir -p $(KSFT_INC)
	tar -xJf $(KSFT_TARBALL) -C $(KSFT_INC) --strip-components=4 \
		--wildcards '*/tools/testing/selftests/kselftest_harness.h' \
		'*/tools/testing/selftests/kselftest.h'
	@touch $(KSFT_HDRS)

# The harness defines non-static functions and compares mixed signedness
# in its EXPECT_* macros: those two warnings are off for the test objects.
$(KSFT_OBJS): CPPFLAGS += -I$(KSFT_INC) -Itests/kselftest
$(KSFT_BINS:%=%.o): CFLAGS += -Wno-missing-prototypes -Wno-sign-compare
$(KSFT_OBJS): | $(KSFT_HDRS)

$(O)/tests/kselftest/%: $(O)/tests/kselftest/%.o $(KSFT_UTIL_OBJ) $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread

.PHONY: kselftest
kselftest: $(KSFT_BINS)
