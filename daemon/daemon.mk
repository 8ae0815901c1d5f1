# cxlmsd, the precision policy daemon (docs/cxlmsd.8), and the engine-like
# probe the integration tests drive (daemon/policy-probe.c).  Include this
# fragment after lib/lib.mk.
CXLMSD         := $(O)/cxlmsd
POLICY_PROBE   := $(O)/daemon/cxlms-policy-probe
CXLMSD_CORE    := $(addprefix $(O)/daemon/,config.o match.o engine.o control.o)
INIH_LIBS      := $(shell pkg-config --libs inih 2>/dev/null || echo -linih)

ALL_TARGETS += $(CXLMSD) $(POLICY_PROBE)

$(CXLMSD): $(O)/daemon/cxlmsd.o $(CXLMSD_CORE) $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $(O)/daemon/cxlmsd.o $(CXLMSD_CORE) $(LIBCXLMS_A) \
		$(INIH_LIBS) $(LIBCXLMS_LDLIBS) -lm

$(POLICY_PROBE): $(O)/daemon/policy-probe.o $(O)/tools/st-read.o $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(O)/tools/st-read.o $(LIBCXLMS_A) $(LIBCXLMS_LDLIBS) -lm
