# Version macros and cxlms_strerror(); dlopens the shared object to check
# the LIBCXLMS_1.2 node, so it depends on it.
$(O)/tests/unit/test_version.o: CPPFLAGS += -DLIBCXLMS_SO_PATH='"$(abspath $(LIBCXLMS_SO))"'
$(O)/tests/unit/test_version: $(O)/tests/unit/test_version.o $(LIBCXLMS_A) $(LIBCXLMS_SO)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBCXLMS_A) $(CMOCKA_LIBS) $(LIBCXLMS_LDLIBS) -ldl

UNIT_TESTS += $(O)/tests/unit/test_version
