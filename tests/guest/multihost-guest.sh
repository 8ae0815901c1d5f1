#!/bin/sh
# Guest side of the two-guest shared-pool test (qemu/run-pair.sh starts two
# guests on one CXL backing file; qemu/init runs this as the payload's
# entry, cxlms.entry=multihost-guest.sh).  Prints TAP; exit 0 only if every
# step passed.  The role comes from cxlms.mode:
#   mhost-a  insmod cxlms.ko; multihost-a: FORMAT the region's first 64 MiB
#            as a store, quiet period, loop while B rewrites, re-FORMAT;
#            dmesg of this boot clean; rmmod
#   mhost-b  no module; multihost-b: rewrite A's store through /dev/mem
#            (garbage, valid-CRC out-of-range fields, tile flips); dmesg clean
# Knobs (kernel command line): cxlms.mh_quiet=S (A's quiet period, default
# 3), cxlms.mh_attack=S (B's rewriting time, default 15), cxlms.mh_control=1
# (negative control: B only watches, A must see no error at all),
# cxlms.mh_wait=S (how long each waits for the other, default 120).
cd /payload || exit 1
role=${CXLMS_MODE:-}
start=${CXLMS_REGION_START:-}
size=${CXLMS_REGION_SIZE:-}
quiet=${CXLMS_MH_QUIET:-3}
attack=${CXLMS_MH_ATTACK:-15}
wait=${CXLMS_MH_WAIT:-120}
. ./tap.sh

# run_tap BINARY ARGS...: the binary prints its own TAP lines numbered from
# $n + 1 (--tap-base); take them into the count.
run_tap() {
	log=/tmp/$(basename "$1").log
	"$@" --tap-base "$n" >"$log" 2>&1
	rc=$?
	cat "$log"
	k=$(grep -cE '^(not )?ok [0-9]+ ' "$log")
	f=$(grep -cE '^not ok [0-9]+ ' "$log")
	n=$((n + k))
	fails=$((fails + f))
	if [ "$rc" -eq 3 ]; then
		not_ok "$1: the watchdog fired: a call hung"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		not_ok "$1: exit $rc (no failing case)"
	fi
}

dmesg_clean() {
	if dmesg | grep -E 'WARNING:|BUG:|Oops|KASAN|UBSAN|general protection|soft lockup|hung task|Call Trace'; then
		return 1
	fi
	return 0
}

echo "TAP version 13"
echo "# cxlms multihost guest '$role', region ${CXLMS_REGION:-none} at ${start:-?} size ${size:-?}"
if [ -z "$start" ] || [ -z "$size" ]; then
	not_ok "mhost: CXL region provided by qemu/init (CXLMS_REGION_START/SIZE unset)"
	echo "1..$n"
	exit 1
fi
case $role in
mhost-a)
	ctl=""
	[ "${CXLMS_MH_CONTROL:-0}" = 1 ] && ctl=--expect-clean
	step "mhost A: insmod cxlms.ko" insmod ./cxlms.ko
	# shellcheck disable=SC2086 # $ctl is one word or none
	run_tap ./multihost-a "$start" "$size" "$quiet" --wait "$wait" $ctl
	step "mhost A: dmesg of this boot: no WARNING/BUG/Oops/KASAN/general protection/soft lockup/hung task" dmesg_clean
	step "mhost A: rmmod cxlms" rmmod cxlms
	;;
mhost-b)
	ctl=""
	[ "${CXLMS_MH_CONTROL:-0}" = 1 ] && ctl=--watch-only
	# shellcheck disable=SC2086
	run_tap ./multihost-b "$start" "$size" "$attack" --wait "$wait" $ctl
	step "mhost B: dmesg of this boot: no WARNING/BUG/Oops/KASAN/general protection/soft lockup/hung task" dmesg_clean
	;;
*)
	not_ok "mhost: unknown role '$role' (cxlms.mode=mhost-a or mhost-b)"
	;;
esac
echo "1..$n"
echo "# multihost guest $role: $((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
