# SIMD bit-plane kernels (lib/simd/, internal to libcxlms).  simd.c is built
# for baseline x86-64 and picks a variant at run time; each variant object
# gets its own -m flags and is only entered when the CPU has them.
ifndef CXLMS_SIMD_MK
CXLMS_SIMD_MK := 1

ifneq ($(filter x86_64-%,$(shell $(CC) -dumpmachine 2>/dev/null)),)
SIMD_SRCS := lib/simd/simd.c lib/simd/simd_avx2.c lib/simd/simd_avx512.c \
	     lib/simd/simd_gfni.c
$(O)/lib/simd/simd.o: CPPFLAGS += -DCXLMS_HAVE_SIMD
$(O)/lib/simd/simd_avx2.o: CFLAGS += -mavx2
$(O)/lib/simd/simd_avx512.o: CFLAGS += -mavx512f -mavx512bw -mavx512vl
$(O)/lib/simd/simd_gfni.o: CFLAGS += -mavx512f -mavx512bw -mavx512vl \
	-mavx512vbmi -mgfni
else
# Other architectures: the dispatcher alone, always portable.
SIMD_SRCS := lib/simd/simd.c
endif
SIMD_OBJS := $(SIMD_SRCS:%.c=$(O)/%.o)
# Linked into libcxlms.so as well: position independent like the rest.
$(SIMD_OBJS): CFLAGS += -fPIC
SIMD_LDLIBS := -lpthread

endif
