# bench-gemv (issue 11 item 4): function only, a --quick run; speed is measured by make bench-gemv.
INTEG_TESTS += tests/integ/bench-gemv-smoke.sh
