# The shared bit-plane codec: compiled into libcxlms here and into cxlms.ko by
# the root Kbuild.  Keep this list in sync with Kbuild's cxlms-y codec objects.
CODEC_SRCS := codec/policy_format.c codec/bitplane.c codec/store_format.c codec/crc32c.c \
	      codec/view_layout.c
CODEC_OBJS := $(CODEC_SRCS:%.c=$(O)/%.o)
