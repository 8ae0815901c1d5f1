# libcxlms kernel backend (lib/backend_kernel.c, lib/cxl_region.c): the
# checks that need no device.  The device itself is tested in the QEMU
# guest (tests/guest/lib-kernel.sh).
$(O)/tests/unit/test_lib_kernel: $(O)/tests/unit/test_lib_kernel.o \
		$(O)/tests/unit/lib_testutil.o $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBCXLMS_A) $(CMOCKA_LIBS) \
		$(LIBCXLMS_LDLIBS)

UNIT_TESTS += $(O)/tests/unit/test_lib_kernel
