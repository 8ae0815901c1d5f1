# Codec unit tests: one cmocka binary per unit, checked against the
# independent reference in tests/unit/ref/.
CODEC_TESTS := test_codec_int8 test_codec_float test_codec_layout test_crc32c \
	       test_store_format test_store_crash
CODEC_REF_OBJS := $(O)/tests/unit/ref/ref_codec.o

$(O)/tests/unit/test_codec_int8: $(O)/tests/unit/test_codec_int8.o $(CODEC_REF_OBJS) $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) -lm
$(O)/tests/unit/test_codec_float: $(O)/tests/unit/test_codec_float.o $(CODEC_REF_OBJS) $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) -lm
$(O)/tests/unit/test_codec_layout: $(O)/tests/unit/test_codec_layout.o $(CODEC_REF_OBJS) $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) -lm
$(O)/tests/unit/test_crc32c: $(O)/tests/unit/test_crc32c.o $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)
$(O)/tests/unit/test_store_format: $(O)/tests/unit/test_store_format.o \
		$(O)/tests/unit/store_builder.o $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(O)/tests/unit/test_store_crash: $(O)/tests/unit/test_store_crash.o $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

UNIT_TESTS += $(CODEC_TESTS:%=$(O)/tests/unit/%)
