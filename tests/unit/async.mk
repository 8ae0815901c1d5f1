# The async API (lib/async.c) on the file backend.  The kernel path runs in
# the QEMU guest (tests/guest/uring.sh).
ASYNC_TESTS := test_async_file

$(ASYNC_TESTS:%=$(O)/tests/unit/%): $(O)/tests/unit/%: $(O)/tests/unit/%.o \
		$(O)/tests/unit/lib_testutil.o $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(O)/tests/unit/lib_testutil.o $(LIBCXLMS_A) \
		$(CMOCKA_LIBS) $(LIBCXLMS_LDLIBS)

UNIT_TESTS += $(ASYNC_TESTS:%=$(O)/tests/unit/%)
