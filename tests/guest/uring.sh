#!/bin/sh
# The io_uring step of the guest run (boot 1, after the RAM kselftests):
# uring-raw (the driver's uring_cmd through liburing), uring-lib (libcxlms'
# async API on the kernel backend), then uring-bench (batched io_uring vs
# one ioctl per tile).  Each program's TAP is indented under the step.
# The module is loaded here, so a program that skips as a whole fails the
# step, like a kselftest suite that skips.  Exit 0 only if all passed.
rc=0
for prog in uring-raw uring-lib; do
	./"$prog" >"/tmp/$prog.log" 2>&1
	r=$?
	sed 's/^/    /' "/tmp/$prog.log"
	if [ "$r" -eq 77 ]; then
		echo "    # $prog skipped as a whole: $(tail -n 1 "/tmp/$prog.log")"
		rc=1
	elif [ "$r" -ne 0 ]; then
		echo "    # $prog: exit $r"
		rc=1
	fi
done
# 64-element INT8 tiles, then 8-element FP16 tiles (no side data).
for args in "4096 64 int8" "4096 8 fp16"; do
	# shellcheck disable=SC2086 # word splitting intended
	./uring-bench $args >/tmp/uring-bench.log 2>&1
	r=$?
	sed 's/^/    /' /tmp/uring-bench.log
	if [ "$r" -ne 0 ]; then
		echo "    # uring-bench $args: exit $r"
		rc=1
	fi
done
exit $rc
