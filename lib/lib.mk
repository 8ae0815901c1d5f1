# libcxlms: the public library (lib/libcxlms.h) with the shared codec
# compiled in.  Static archive for in-tree users, shared object with a
# version script (only the cxlms_* API is exported), pkg-config file.
LIB_SRCS := lib/policy.c lib/libcxlms.c lib/backend_file.c lib/quant.c lib/safetensors.c \
	    lib/writer.c lib/import.c lib/backend_kernel.c lib/cxl_region.c
# Batched fetches (async API) on liburing.
LIB_SRCS += lib/async.c
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)
# SIMD bit-plane kernels, dispatched at run time (SIMD_OBJS).
include lib/simd/simd.mk
# Fused GEMV/GEMM over the planes (GEMV_OBJS, variants like lib/simd).
include lib/gemv/gemv.mk

LIBCXLMS_A      := $(O)/lib/libcxlms.a
LIBCXLMS_SO     := $(O)/lib/libcxlms.so.1
LIBCXLMS_SO_LNK := $(O)/lib/libcxlms.so
LIBCXLMS_PC     := $(O)/lib/libcxlms.pc
# What a static link against $(LIBCXLMS_A) needs besides the archive.
# libcxl (ndctl) finds CXL regions for the kernel backend's attach.
LIBCXLMS_LDLIBS := -lpthread -lm -lcxl
LIBCXLMS_LDLIBS += -luring

# Everything that ends up in the shared object must be PIC, the codec too.
$(LIB_OBJS) $(CODEC_OBJS): CFLAGS += -fPIC

ALL_TARGETS += $(LIBCXLMS_A) $(LIBCXLMS_SO) $(LIBCXLMS_SO_LNK) $(LIBCXLMS_PC)

$(LIBCXLMS_A): $(LIB_OBJS) $(CODEC_OBJS) $(SIMD_OBJS) $(GEMV_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(LIBCXLMS_SO): $(LIB_OBJS) $(CODEC_OBJS) $(SIMD_OBJS) $(GEMV_OBJS) lib/libcxlms.sym
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libcxlms.so.1 \
		-Wl,--version-script=lib/libcxlms.sym $(SO_NO_UNDEFINED) \
		-o $@ $(LIB_OBJS) $(CODEC_OBJS) $(SIMD_OBJS) $(GEMV_OBJS) $(LIBCXLMS_LDLIBS)

$(LIBCXLMS_SO_LNK): $(LIBCXLMS_SO)
	ln -sf libcxlms.so.1 $@

$(LIBCXLMS_PC): lib/libcxlms.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' \
	    -e 's|@LIBDIR@|$(PREFIX)/lib|g' \
	    -e 's|@INCLUDEDIR@|$(PREFIX)/include|g' \
	    -e 's|@VERSION@|$(or $(CXLMS_VERSION),0.1.0)|g' \
	    -e 's|@LIBS_PRIVATE@|$(LIBCXLMS_LDLIBS)|g' \
	    -e 's|@REQUIRES_PRIVATE@|libcxl|g' $< > $@
