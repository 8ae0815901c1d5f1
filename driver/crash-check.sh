#!/usr/bin/env bash
# Crash consistency of the store metadata on the CXL region, under QEMU
# (docs/format.md 1.5): a chain of boots on one fresh backing file.  Boot
# k (mode crash:k, tests/guest/crash.sh) checks what the kill of boot k-1
# left and arms the module's debugfs knob crash_after_meta_writes so the
# next `cxlms copy` resets the machine right after (or in the middle of)
# its Nth metadata write: with -no-reboot QEMU exits there, as at a power
# loss, and the next boot runs on the same file.  Three kill points (a
# torn directory write in a CREATE, a torn superblock write in a SEAL, a
# kill right after a CREATE's superblock): four boots.
# Prints each boot's TAP and "crash: N passed, N failed, N skipped".
# Usage: driver/crash-check.sh PAYLOAD_DIR OUT_DIR
# Exit: 0 all passed, 1 a failure, 77 QEMU cannot run here.
set -uo pipefail

payload=${1:?usage: crash-check.sh PAYLOAD_DIR OUT_DIR}
out=${2:?usage: crash-check.sh PAYLOAD_DIR OUT_DIR}
qemu_dir=$(cd "$(dirname "$0")/../qemu" && pwd)
mkdir -p "$out"
pmem=$out/crash.raw
steps=4
passed=0 failed=0
t0=$(date +%s)

for ((step = 0; step < steps; step++)); do
	log=$out/crash$step.log
	fresh=()
	[ "$step" = 0 ] && fresh=(--fresh)
	for try in 1 2; do
		rc=0
		"$qemu_dir/run.sh" --quiet --payload "$payload" --pmem "$pmem" \
			--boot $((step + 1)) --mode "crash:$step" --timeout 900 \
			--log "$log" "${fresh[@]}" 2>"$out/crash$step.err" || rc=$?
		# A loaded TCG host can fail the guest kernel's early timer check
		# (a panic before userspace, the store untouched): boot again.
		tr -d '\r' <"$log" | grep -aq "IO-APIC + timer doesn't work" || break
		echo "# crash-check: step $step: guest kernel timer-check panic at boot, booting again"
	done
	if [ "$rc" = 77 ]; then
		echo "crash: *** QEMU CANNOT RUN ON THIS MACHINE: crash tests NOT RUN ***" >&2
		echo "crash: 0 passed, 0 failed, 1 skipped"
		exit 77
	fi
	echo "# crash-check: boot $((step + 1)), step $step (run.sh exit $rc)"
	tr -d '\r' <"$log" | grep -aE '^(not )?ok [0-9]+|^#|^crash: armed|crash injection' |
		sed 's/^.*\(cxlms: crash injection\)/# \1/' >"$out/crash$step.tap"
	cat "$out/crash$step.tap"
	p=$(grep -cE '^ok [0-9]+ - ' "$out/crash$step.tap")
	f=$(grep -cE '^not ok [0-9]+ - ' "$out/crash$step.tap")
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$step" -lt $((steps - 1)) ]; then
		# The kill: armed, reset by the module, no result marker (125).
		if grep -q '^crash: armed' "$out/crash$step.tap" &&
		   grep -q 'crash injection: reset after' "$out/crash$step.tap" &&
		   [ "$rc" = 125 ] && [ "$f" = 0 ]; then
			echo "ok - step $step: the machine was reset at the armed metadata write"
			passed=$((passed + 1))
		else
			echo "not ok - step $step: no reset at the armed metadata write (run.sh exit $rc, log $log)"
			failed=$((failed + 1))
			break
		fi
	elif [ "$rc" != 0 ]; then
		echo "not ok - step $step: run.sh exit $rc (log $log)"
		failed=$((failed + 1))
	fi
done

echo "# crash-check: $(($(date +%s) - t0))s, logs in $out"
echo "crash: $passed passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
