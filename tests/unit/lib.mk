# libcxlms unit tests: one cmocka binary per unit, linked against the static
# library (internal headers from lib/ are visible to them).
LIB_TESTS := test_safetensors test_import test_lib_open test_lib_fetch \
	test_lib_pieces test_import_budget test_import_rules test_rows test_verify \
	test_gemv test_view
LIB_TESTUTIL_OBJS := $(O)/tests/unit/lib_testutil.o

$(LIB_TESTS:%=$(O)/tests/unit/%): $(O)/tests/unit/%: $(O)/tests/unit/%.o \
		$(LIB_TESTUTIL_OBJS) $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB_TESTUTIL_OBJS) $(LIBCXLMS_A) \
		$(CMOCKA_LIBS) $(LIBCXLMS_LDLIBS)

UNIT_TESTS += $(LIB_TESTS:%=$(O)/tests/unit/%)
