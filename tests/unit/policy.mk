# Precision maps and cxlmsd (issue 4): the policy area format, tensor-name
# matching, the config parser, the budget/pressure engine, the control
# protocol, and the library side.
POLICY_FMT_OBJS := $(sort $(CODEC_OBJS) $(O)/codec/policy_format.o)
POLICY_DAEMON_OBJS := $(addprefix $(O)/daemon/,config.o match.o engine.o control.o)
POLICY_INIH := $(shell pkg-config --libs inih 2>/dev/null || echo -linih)

POLICY_DAEMON_TESTS := test_policy_match test_policy_config test_policy_budget \
		       test_daemon_control
$(POLICY_DAEMON_TESTS:%=$(O)/tests/unit/%.o): CPPFLAGS += -Idaemon

$(O)/tests/unit/test_policy_format: $(O)/tests/unit/test_policy_format.o $(POLICY_FMT_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) -lpthread

$(POLICY_DAEMON_TESTS:%=$(O)/tests/unit/%): $(O)/tests/unit/%: $(O)/tests/unit/%.o \
		$(POLICY_DAEMON_OBJS) $(POLICY_FMT_OBJS) $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(POLICY_DAEMON_OBJS) $(POLICY_FMT_OBJS) \
		$(LIBCXLMS_A) $(CMOCKA_LIBS) $(POLICY_INIH) $(LIBCXLMS_LDLIBS) -lm

UNIT_TESTS += $(O)/tests/unit/test_policy_format \
	      $(POLICY_DAEMON_TESTS:%=$(O)/tests/unit/%)

$(O)/tests/unit/test_policy_lib: $(O)/tests/unit/test_policy_lib.o \
		$(O)/tests/unit/lib_testutil.o $(LIBCXLMS_A)
	$(CC) $(LDFLAGS) -o $@ $< $(O)/tests/unit/lib_testutil.o $(LIBCXLMS_A) \
		$(CMOCKA_LIBS) $(LIBCXLMS_LDLIBS)
UNIT_TESTS += $(O)/tests/unit/test_policy_lib
