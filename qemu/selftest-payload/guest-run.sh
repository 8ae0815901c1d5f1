#!/bin/sh
# Self-test payload for the QEMU machinery (no project module involved).
# Modes (cxlms.mode / run.sh --mode):
#   (empty)  boot 1: check the region, write patterns into its memory;
#            boot 2: check the region again, verify the patterns survived.
#   fail     exit 3 on purpose (run.sh must return 3 and dump dmesg)
#   panic    crash the kernel (run.sh must report "no marker", rc 125)
# Region memory is reached through /dev/mem (busybox devmem for single words,
# ./memcheck for 1 MiB blocks): the region is unclaimed by any driver, so
# STRICT_DEVMEM allows root to map it. Nothing here binds dax or pmem to it.

case ${CXLMS_MODE:-} in
fail)
	echo "selftest: failing on purpose"
	exit 3
	;;
panic)
	echo "selftest: crashing the kernel on purpose"
	echo c >/proc/sysrq-trigger
	sleep 10
	exit 0
	;;
esac

fails=0
# check DESCRIPTION COMMAND...: one result line per check.
check() {
	d=$1
	shift
	if "$@"; then
		echo "selftest: ok   $d"
	else
		echo "selftest: FAIL $d"
		fails=$((fails + 1))
	fi
}
hex() { printf '0x%x' "$1"; }

MiB=1048576
SEED=0xc3a5c3a5
R=/sys/bus/cxl/devices/${CXLMS_REGION:-none}
start=${CXLMS_REGION_START:-0}
size=${CXLMS_REGION_SIZE:-0}
boot=${CXLMS_BOOT:-1}

# --- the region init created or found ---
check "region ${CXLMS_REGION:-?} exists" test -d "$R"
check "region committed" grep -qx 1 "$R/commit"
check "size $size = 256 MiB" test "$size" = 268435456
check "start $start matches sysfs" test "$(($(cat "$R/resource" 2>/dev/null || echo -1)))" = "$((start))"
case ${CXLMS_REGION_CREATED:-} in
1) echo "selftest: info boot $boot: region created by init (not auto-assembled)" ;;
0) echo "selftest: info boot $boot: region auto-assembled" ;;
*) check "CXLMS_REGION_CREATED is set" false ;;
esac
# The project's module needs the range unclaimed: no pmem/dax device on it.
check "region unclaimed (no /dev/pmem*, /dev/dax*)" sh -c '! ls /dev/pmem* /dev/dax* >/dev/null 2>&1'
check "cxl_pmem loaded (kmod lsmod)" sh -c 'lsmod | grep -q "^cxl_pmem"'
check "cxl list sees mem0" sh -c 'cxl list -M | grep -q "\"memdev\":\"mem0\""'

# --- data: single words near the end, 1 MiB blocks at start, middle, end ---
k=0
for a in $((start + size - 4096)) $((start + size - 4088)) $((start + size - 8)); do
	k=$((k + 1))
	want=$((0x1234567800000000 + k * 0x1111))
	[ "$boot" = 1 ] && devmem "$a" 64 "$want"
	got=$(devmem "$a" 64)
	check "boot $boot: devmem word at $(hex "$a") = $got (want $(hex "$want"))" test "$((got))" = "$want"
done
for a in $((start)) $((start + size / 2)) $((start + size - 2 * MiB)); do
	[ "$boot" = 1 ] && { ./memcheck write "$a" "$MiB" "$SEED" >/dev/null || echo "selftest: memcheck write failed"; }
	check "boot $boot: 1 MiB pattern at $(hex "$a")" ./memcheck verify "$a" "$MiB" "$SEED"
done

echo "selftest: boot $boot: $fails failure(s)"
[ "$fails" = 0 ]
