# Fused GEMV/GEMM kernels (lib/gemv/, part of libcxlms).  gemv.c is built
# for baseline x86-64 and picks kernels with the codec's SIMD variant; each
# variant object gets its own -m flags and runs only when the CPU has them.
GEMV_SRCS := lib/gemv/gemv.c
ifneq ($(filter x86_64-%,$(shell $(CC) -dumpmachine 2>/dev/null)),)
GEMV_SRCS += lib/gemv/gemv_avx2.c lib/gemv/gemv_avx512.c lib/gemv/gemv_vnni.c
$(O)/lib/gemv/gemv.o: CPPFLAGS += -DCXLMS_HAVE_SIMD
$(O)/lib/gemv/gemv_avx2.o: CFLAGS += -mavx2 -mfma -mf16c
$(O)/lib/gemv/gemv_avx512.o: CFLAGS += -mavx512f -mavx512bw -mavx512vl -mfma -mf16c
$(O)/lib/gemv/gemv_vnni.o: CFLAGS += -mavx512f -mavx512bw -mavx512vl -mavx512vnni \
	-mavx512vbmi -mgfni -mfma -mf16c
endif
GEMV_OBJS := $(GEMV_SRCS:%.c=$(O)/%.o)
$(GEMV_OBJS): CFLAGS += -fPIC
