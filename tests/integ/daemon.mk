# cxlmsd (issue 4): an engine-like process fetching with bits=policy under
# two contexts, SIGHUP reloads that must keep the old maps when bad, and
# the run-time inputs (read-rate and importance reports).  daemon-lib.sh is
# their shared setup (sourced, not a test).
INTEG_TESTS += tests/integ/daemon-context.sh tests/integ/daemon-reload.sh \
	       tests/integ/daemon-pressure.sh
