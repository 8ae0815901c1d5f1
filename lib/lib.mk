# libcxlms: the public library (lib/libcxlms.h) with the shared codec
# compiled in.  Static archive for in-tree users, shared object with a
# version script (only the cxlms_* API is exported), pkg-config file.
LIB_SRCS := lib/policy.c lib/libcxlms.c lib/backend_file.c lib/quant.c lib/safetensors.c \
	    lib/writer.c lib/import.c lib/backend_kernel.c lib/cxl_region.c \
	    lib/rows.c
LIB_SRCS += lib/metadata.c
# Batched fetches (async API) on liburing.
LIB_SRCS += lib/async.c
# Version and error text (cxlms_version, cxlms_strerror).
LIB_SRCS += lib/version.c
# Views: the store mapped at k bits (userfaultfd or eager decode).
LIB_SRCS += lib/view.c
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

# The API version, from the header's macros (one place to bump it).
LIBCXLMS_VERSION := $(shell sed -n -e 's/^\#define LIBCXLMS_VERSION_MAJOR[[:space:]]*\([0-9]*\).*/\1/p' \
			      -e 's/^\#define LIBCXLMS_VERSION_MINOR[[:space:]]*\([0-9]*\).*/.\1/p' \
			      lib/libcxlms.h | tr -d '\n')

# The .pc bakes in the install directories: a stamp holding them, rewritten
# only when they change (`make PREFIX=/opt/x` then regenerates the .pc).
LIBCXLMS_PC_VARS := $(prefix)|$(exec_prefix)|$(libdir)|$(includedir)|$(LIBCXLMS_VERSION)
$(O)/lib/libcxlms.pc.vars: FORCE
	@mkdir -p $(dir $@)
	@echo '$(LIBCXLMS_PC_VARS)' | cmp -s - $@ 2>/dev/null || echo '$(LIBCXLMS_PC_VARS)' > $@

# Directories under ${prefix} / ${exec_prefix} written relative to them.
pc_rel = $(patsubst $(prefix)/%,$${prefix}/%,$(patsubst $(exec_prefix)/%,$${exec_prefix}/%,$(1)))

$(LIBCXLMS_PC): lib/libcxlms.pc.in $(O)/lib/libcxlms.pc.vars lib/lib.mk
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(prefix)|g' \
	    -e 's|@EXEC_PREFIX@|$(if $(filter $(prefix),$(exec_prefix)),$${prefix},$(exec_prefix))|g' \
	    -e 's|@LIBDIR@|$(call pc_rel,$(libdir))|g' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(prefix)/%,$${prefix}/%,$(includedir))|g' \
	    -e 's|@VERSION@|$(LIBCXLMS_VERSION).0|g' \
	    -e 's|@REQUIRES_PRIVATE@|libcxl liburing|g' $< > $@

.PHONY: FORCE
FORCE:
