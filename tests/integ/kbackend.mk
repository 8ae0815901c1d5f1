# cxlms attach/detach/copy without the module: usage errors, nodes that are
# not /dev/cxlmsN.  The device itself is exercised in the QEMU guest.
INTEG_TESTS += tests/integ/cli-kbackend.sh
