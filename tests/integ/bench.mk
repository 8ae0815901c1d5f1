# cxlms bench (issue 5): function only, a tiny run; speed is measured by make bench.
INTEG_TESTS += tests/integ/bench-smoke.sh
