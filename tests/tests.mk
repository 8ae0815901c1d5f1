# Test fragments: tests/unit/*.mk append cmocka binaries to UNIT_TESTS,
# tests/integ/*.mk append scripts to INTEG_TESTS.
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
include $(sort $(wildcard tests/unit/*.mk tests/integ/*.mk))
