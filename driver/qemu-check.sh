#!/usr/bin/env bash
# Run the guest tests of cxlms.ko under QEMU: boot 1 on a fresh CXL backing
# file, boot 2 on the same file (persistence), then driver/crash-check.sh
# (four boots on another file: kills at metadata writes, recovery), then a
# pair of guests on one shared backing file (qemu/run-pair.sh: A drives the
# module while B rewrites its store).  Prints each boot's TAP and a closing
# line "qemu: N passed, N failed, N skipped".
# Usage: driver/qemu-check.sh PAYLOAD_DIR OUT_DIR
# Exit: 0 all passed, 1 a failure, 77 QEMU cannot run here (said loudly).
set -uo pipefail

payload=${1:?usage: qemu-check.sh PAYLOAD_DIR OUT_DIR}
out=${2:?usage: qemu-check.sh PAYLOAD_DIR OUT_DIR}
qemu_dir=$(cd "$(dirname "$0")/../qemu" && pwd)
mkdir -p "$out"
pmem=$out/pmem.raw
passed=0 failed=0 skipped=0
t0=$(date +%s.%N)

# count LOG: add the guest's results.  Top-level lines are steps; a
# kselftest step only counts itself when no indented case explains it.
count() {
	local log=$1 p f s w
	p=$(grep -cE '^ok [0-9]+ - ' "$log" | tr -d '\n')
	w=$(grep -cE '^ok [0-9]+ - kselftest ' "$log" | tr -d '\n')
	f=$(grep -cE '^not ok [0-9]+ - ' "$log" | tr -d '\n')
	w2=$(grep -E '^not ok [0-9]+ - kselftest ' "$log" | grep -vc 'no failing case' | tr -d '\n')
	passed=$((passed + p - w))
	failed=$((failed + f - w2))
	p=$(grep -E '^    ok [0-9]+ ' "$log" | grep -vc '# SKIP' | tr -d '\n')
	s=$(grep -E '^    ok [0-9]+ ' "$log" | grep -c '# SKIP' | tr -d '\n')
	f=$(grep -cE '^    not ok [0-9]+ ' "$log" | tr -d '\n')
	passed=$((passed + p))
	skipped=$((skipped + s))
	failed=$((failed + f))
}

# boot N [run.sh args]: one boot; its TAP (CR-stripped) on stdout.
boot() {
	local n=$1 rc=0 log=$out/boot$1.log tap=$out/boot$1.tap
	shift
	"$qemu_dir/run.sh" --quiet --payload "$payload" --pmem "$pmem" --boot "$n" \
		--timeout 1500 --log "$log" "$@" || rc=$?
	if [ "$rc" = 77 ]; then
		echo "qemu: *** QEMU CANNOT RUN ON THIS MACHINE: guest tests NOT RUN ***" >&2
		echo "qemu: 0 passed, 0 failed, 1 skipped"
		exit 77
	fi
	tr -d '\r' <"$log" | grep -aE '^(    )?(not )?ok [0-9]+|^(    )?#|^TAP|^1\.\.' >"$tap"
	cat "$tap"
	count "$tap"
	if [ "$rc" != 0 ]; then
		echo "not ok - boot $n: run.sh exit $rc (log: $log)"
		failed=$((failed + 1))
	fi
	return 0
}

echo "# qemu-check: boot 1 (fresh CXL backing)"
# The kernel's use-after-free detectors on (Debian's kernel has them built
# in, off by default): a write to freed memory is then a logged corruption
# with a Call Trace, which fails the run, not a crash much later.
boot 1 --fresh --append "page_poison=1 init_on_free=1 slub_debug=FZPU"
echo "# qemu-check: boot 2 (same backing: persistence; 9G for a 2 GiB RAM store)"
boot 2 --mem 9G

# The store read back in boot 2 must be the one boot 1 wrote.
d1=$(tr -d '\r' <"$out/boot1.log" | grep -a 'cxlms-guest-store: digest' | tail -n 1 | awk '{print $4}')
d2=$(tr -d '\r' <"$out/boot2.log" | grep -a 'cxlms-guest-store: digest' | head -n 1 | awk '{print $4}')
u1=$(tr -d '\r' <"$out/boot1.log" | grep -a 'cxlms-guest-store: uuid' | tail -n 1 | awk '{print $4}')
u2=$(tr -d '\r' <"$out/boot2.log" | grep -a 'cxlms-guest-store: uuid' | head -n 1 | awk '{print $4}')
if [ -n "$d1" ] && [ "$d1" = "$d2" ] && [ -n "$u1" ] && [ "$u1" = "$u2" ]; then
	echo "ok - same store across reboot: uuid $u1, fetch digest $d1"
	passed=$((passed + 1))
else
	echo "not ok - store across reboot: uuid '$u1' vs '$u2', digest '$d1' vs '$d2'"
	failed=$((failed + 1))
fi

# Crash consistency: kills at metadata writes, recovery on the same file
# (its own backing file and four boots: driver/crash-check.sh).
echo "# qemu-check: crash consistency (driver/crash-check.sh)"
"$(dirname "$0")/crash-check.sh" "$payload" "$out" | tee "$out/crash.out"
cl=$(grep -E '^crash: [0-9]+ passed, [0-9]+ failed' "$out/crash.out" | tail -n 1)
if [ -n "$cl" ]; then
	set -- $cl
	passed=$((passed + $2))
	failed=$((failed + $4))
	skipped=$((skipped + $6))
else
	echo "not ok - crash-check.sh printed no summary"
	failed=$((failed + 1))
fi

# Two hosts, one pool: both guests' TAP counts; either failing fails.
echo "# qemu-check: pair (two guests, one shared CXL backing file)"
prc=0
"$qemu_dir/run-pair.sh" --payload "$payload" --out "$out/pair" --timeout 1500 || prc=$?
if [ "$prc" = 77 ]; then
	echo "qemu: *** QEMU CANNOT RUN ON THIS MACHINE: pair NOT RUN ***" >&2
	skipped=$((skipped + 1))
else
	for g in a b; do
		tap=$out/pair/guest-$g.tap
		tr -d '\r' <"$out/pair/guest-$g.log" 2>/dev/null |
			grep -aE '^(    )?(not )?ok [0-9]+|^(    )?#|^TAP|^1\.\.' >"$tap"
		cat "$tap"
		count "$tap"
		grc=$(cat "$out/pair/guest-$g.rc" 2>/dev/null || echo 125)
		if [ "$grc" != 0 ]; then
			echo "not ok - pair guest $g: run.sh exit $grc (log: $out/pair/guest-$g.log)"
			failed=$((failed + 1))
		fi
	done
fi

secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
echo "# qemu-check: ${secs}s, logs in $out"
echo "qemu: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
