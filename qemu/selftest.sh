#!/usr/bin/env bash
# Self-test of the QEMU machinery, without the project's module:
#   1. fresh backing file, boot 1: region created, patterns written (rc 0)
#   2. same file, boot 2: patterns read back intact (rc 0)
#   3. payload exits 3: run.sh returns 3 and the log has the dmesg dump
#   4. guest kernel panics: run.sh returns 125 (no result marker)
# Usage: qemu/selftest.sh [--quick]   (--quick: only steps 1 and 2)
# Logs: qemu/build/selftest-NAME.log (serial console), selftest-NAME.err (run.sh)
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

quick=0
case ${1:-} in
--quick) quick=1 ;;
-h | --help) sed -n '2,8p' "$0"; exit 0 ;;
'') ;;
*) die "unknown option: $1" ;;
esac

"$QEMU_DIR/deps.sh"
# Kernel and sysroot first, visibly (the first run downloads ~70 MB).
"$QEMU_DIR/fetch-kernel.sh" >/dev/null
# Stage the payload: the guest script plus memcheck, built here and linked
# dynamically on purpose, so the initramfs' automatic library copying is tested.
payload=$BUILD_DIR/selftest-payload
rm -rf "$payload"
mkdir -p "$payload"
cp "$QEMU_DIR/selftest-payload/guest-run.sh" "$payload/"
gcc -O2 -Wall -Wextra -Werror -o "$payload/memcheck" "$QEMU_DIR/selftest-payload/memcheck.c"

passed=0 failed=0
# step NAME WANT_RC RUN_SH_ARGS...: run one boot, compare run.sh's exit code.
step() {
	local name=$1 want=$2 rc=0 t0 t1
	shift 2
	t0=$(date +%s.%N)
	# run.sh's own messages go to a file: expected failures would look alarming.
	"$QEMU_DIR/run.sh" --quiet --payload "$payload" --log "$BUILD_DIR/selftest-$name.log" "$@" \
		2>"$BUILD_DIR/selftest-$name.err" || rc=$?
	t1=$(date +%s.%N)
	local secs
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ "$rc" = "$want" ]; then
		passed=$((passed + 1))
		printf 'selftest: PASS %-8s rc=%s (%ss)\n' "$name" "$rc" "$secs"
		return 0
	fi
	failed=$((failed + 1))
	cat "$BUILD_DIR/selftest-$name.err" >&2
	printf 'selftest: FAIL %-8s rc=%s, want %s (%ss), log %s\n' "$name" "$rc" "$want" "$secs" "$BUILD_DIR/selftest-$name.log"
	return 1
}

pmem=$BUILD_DIR/selftest.raw
step boot1 0 --pmem "$pmem" --fresh --boot 1 || true
step boot2 0 --pmem "$pmem" --boot 2 || true
# Show what the guest checked (and whether the region came back by itself).
tr -d '\r' <"$BUILD_DIR/selftest-boot2.log" | grep -a '^selftest: \(info\|FAIL\)' || true

if [ "$quick" = 0 ]; then
	neg=$BUILD_DIR/selftest-neg.raw
	if step fail 3 --pmem "$neg" --fresh --mode fail; then
		if ! grep -qa 'CXLMS-DMESG-BEGIN' "$BUILD_DIR/selftest-fail.log"; then
			passed=$((passed - 1)) failed=$((failed + 1))
			echo "selftest: FAIL fail: no dmesg dump in the log"
		fi
	fi
	step panic 125 --pmem "$neg" --mode panic --timeout 120 || true
fi

echo "selftest: $passed passed, $failed failed"
[ "$failed" = 0 ]
