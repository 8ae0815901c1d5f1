# SIMD kernels against the portable codec, for every ISA this CPU has.
# Links the codec and the SIMD objects only (not the whole library).

$(O)/tests/unit/test_simd: $(O)/tests/unit/test_simd.o $(SIMD_OBJS) $(CODEC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(SIMD_LDLIBS)

UNIT_TESTS += $(O)/tests/unit/test_simd
