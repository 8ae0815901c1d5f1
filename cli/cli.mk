# The cxlms command-line tool and the demo helpers (tools/).
CXLMS_VERSION ?= 0.1.0

CLI_SRCS := cli/cxlms.c cli/util.c cli/cmd-import.c cli/cmd-info.c \
            cli/cmd-fetch.c cli/cmd-verify.c cli/cmd-stats.c \
            cli/cmd-attach.c cli/cmd-copy.c
# cxlms view: a k-bit view (cxlms_view_map()) written out.
CLI_SRCS += cli/cmd-view.c
# cxlms policy: cxlmsd's client, kept with the daemon's protocol.
CLI_SRCS += daemon/cli-policy.c
# cxlms bench: the same benchmark module as tools/bench/cxlms-bench.
CLI_SRCS += cli/cmd-bench.c tools/bench/bench.c tools/bench/bench_view.c
# cxlms run / eval / calibrate: the reference Llama engine, on the public API only.
CLI_SRCS += cli/cmd-llama.c engine/llama.c
CLI_OBJS := $(CLI_SRCS:%.c=$(O)/%.o)
CXLMS_CLI := $(O)/cxlms

# gen-model stands alone (it plays "somebody else's checkpoint");
# demo-table links libcxlms and reads the safetensors file itself.
GEN_MODEL := $(O)/tools/gen-model
DEMO_TABLE := $(O)/tools/demo-table
DEMO_TABLE_OBJS := $(O)/tools/demo-table.o $(O)/tools/st-read.o

ALL_TARGETS += $(CXLMS_CLI) $(GEN_MODEL) $(DEMO_TABLE)

$(O)/cli/cxlms.o: CPPFLAGS += -DCXLMS_VERSION='"$(CXLMS_VERSION)"'

$(CXLMS_CLI): $(CLI_OBJS) $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIBCXLMS_A) $(LIBCXLMS_LDLIBS)

$(GEN_MODEL): $(O)/tools/gen-model.o
	$(CC) $(LDFLAGS) -o $@ $^ -lm

$(DEMO_TABLE): $(DEMO_TABLE_OBJS) $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $(DEMO_TABLE_OBJS) $(LIBCXLMS_A) $(LIBCXLMS_LDLIBS) -lm
