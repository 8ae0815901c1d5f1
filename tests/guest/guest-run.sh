#!/bin/sh
# Guest side of `make qemu-check` (busybox sh, run by qemu/init from
# /payload).  Prints TAP: one line per step; each kselftest binary's own TAP
# is indented by four spaces under its step.  Exit 0 only if every step
# passed.  CXLMS_BOOT selects the scenario:
#   boot 1: insmod; fresh region refused; kselftests on RAM stores; the
#           ioctl/uring_cmd fuzzer (cxlms-fuzz) on its own RAM stores; store
#           files written by libcxlms copied into the region attach and fetch
#           like the file backend; kselftests on the CXL region (FORMAT);
#           write the known store into the region;
#           rmmod refused with an open fd, allowed after close
#   boot 2: insmod; the region (no FORMAT) validates and holds the known
#           store byte for byte; corruption is detected; a VERIFY of a
#           2 GiB RAM tensor stays killable; rmmod
# A kselftest run that skips because /dev/cxlms0 is missing FAILS here: the
# module is supposed to be loaded.
cd /payload || exit 1
# driver/crash-check.sh's boots (cxlms.mode=crash:STEP) run crash.sh only.
case ${CXLMS_MODE:-} in
crash:*) exec sh ./crash.sh ;;
esac
boot=${CXLMS_BOOT:-1}
start=${CXLMS_REGION_START:-}
size=${CXLMS_REGION_SIZE:-}
. ./tap.sh

# ksft BINARY LABEL: run a kselftest, indent its TAP, judge its exit code.
ksft() {
	bin=$1 label=$2 log=/tmp/$1.$2.log
	t0=$(cut -d' ' -f1 /proc/uptime)
	./"$bin" >"$log" 2>&1
	rc=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	sed 's/^/    /' "$log"
	failed_cases=$(grep -c '^not ok ' "$log")
	if grep -q '# SKIP no /dev/cxlms0' "$log"; then
		not_ok "kselftest $bin $label: suite skipped, /dev/cxlms0 missing (no failing case)"
	elif [ "$rc" -eq 0 ]; then
		ok "kselftest $bin $label (${t0}s..${t1}s)"
	elif [ "$failed_cases" -eq 0 ]; then
		not_ok "kselftest $bin $label: exit $rc (no failing case)"
	else
		not_ok "kselftest $bin $label: $failed_cases case(s) failed"
	fi
}

dev_ok() {
	[ -c /dev/cxlms0 ] && [ "$(stat -c %a /dev/cxlms0)" = 600 ] &&
		[ "$(cat /sys/class/misc/cxlms0/abi_revision)" = 4 ]
}

# rmmod must fail while an fd is open (fops.owner pins the module).
rmmod_busy() {
	exec 3</dev/cxlms0
	if rmmod cxlms 2>/dev/null; then
		exec 3<&-
		return 1
	fi
	exec 3<&-
	lsmod | grep -q '^cxlms '
}

rmmod_free() {
	rmmod cxlms && ! lsmod | grep -q '^cxlms '
}

echo "TAP version 13"
echo "# cxlms guest run, boot $boot, region ${CXLMS_REGION:-none} at ${start:-?} size ${size:-?}"
echo "# kernel command line: $(cat /proc/cmdline)"
step "insmod cxlms.ko" insmod ./cxlms.ko
step "/dev/cxlms0: char device, mode 0600, abi_revision 4" dev_ok
if [ -z "$start" ] || [ -z "$size" ]; then
	not_ok "CXL region provided by qemu/init (CXLMS_REGION_START/SIZE unset)"
fi

case $boot in
1)
	if [ -n "$start" ]; then
		step "fresh region refused: not a cxlms store (EMEDIUMTYPE)" \
			./cxlms-guest-store expect-refused "$start" "$size" EMEDIUMTYPE
		# The window is larger than the region: the space after it is
		# unbacked (writes there are dropped), not a place for a store.
		step "window space outside the CXL region refused (EINVAL)" \
			./cxlms-guest-store expect-refused "$((start + size))" 16777216 EINVAL
	fi
	ksft cxlms_ioctl_test ram
	ksft cxlms_fetch_test ram
	ksft cxlms_media_test ram
	ksft cxlms_view_test ram
	# Detached here: the fuzzer attaches RAM stores of its own and
	# leaves the device detached (it skips if a store is attached).
	ksft cxlms-fuzz ram
	step "io_uring: uring_cmd FETCH/STATS, libcxlms async API, batching benchmark" sh ./uring.sh
	if [ -n "$start" ]; then
		step "libcxlms store files in the region: validated, served like the file backend" \
			./cxlms-guest-store filecmp "$start" "$size"
		if ./cxlms-guest-store attach "$start" "$size" --format --dir-capacity 4096; then
			ok "attach CXL region with FORMAT"
			ksft cxlms_ioctl_test cxl
			ksft cxlms_fetch_test cxl
			ksft cxlms_media_test cxl
			ksft cxlms_view_test cxl
			step "detach CXL region" ./cxlms-guest-store detach
		else
			not_ok "attach CXL region with FORMAT"
		fi
		step "write the known store into the CXL region" \
			./cxlms-guest-store write "$start" "$size"
	fi
	;;
*)
	if [ -n "$start" ]; then
		step "CXL region holds the known store after reboot (no FORMAT)" \
			./cxlms-guest-store check "$start" "$size"
		step "corrupted tile found by VERIFY, corrupted superblock refused" \
			./cxlms-guest-store corrupt "$start" "$size"
		step "store intact again after the corruption test" \
			./cxlms-guest-store check "$start" "$size"
	fi
	# A 2 GiB RAM tensor: this boot has the memory (qemu-check.sh --mem).
	ksft verify-intr ram
	;;
esac
. ./lib-kernel.sh	# libcxlms kernel backend, cxlms attach/copy (both boots)
. ./policy.sh		# cxlmsd pushing precision maps to /dev/cxlms0 (both boots)

step "rmmod refused while /dev/cxlms0 is open" rmmod_busy
step "rmmod after close" rmmod_free
echo "1..$n"
echo "# guest boot $boot: $((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
