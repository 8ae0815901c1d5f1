#!/usr/bin/env bash
# Run cmocka unit test binaries with TAP output and sum up their results.
# Each binary is one unit; a binary exiting 77 is skipped (with its reason).
set -uo pipefail
export CMOCKA_MESSAGE_OUTPUT=TAP
pass=0 fail=0 skip=0 failed=()
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | sed "s|^|[$(basename "$t")] |"
	# cmocka prints one "ok"/"not ok" line per test case.
	# cmocka prints a skipped case as "not ok N # SKIP": a skip, not a failure.
	p=$(grep -c '^ok ' <<<"$out"); f=$(grep '^not ok ' <<<"$out" | grep -vc '# SKIP')
	s=$(grep -c '# SKIP' <<<"$out"); sp=$(grep '^ok ' <<<"$out" | grep -c '# SKIP')
	pass=$((pass + p - sp)); fail=$((fail + f)); skip=$((skip + s))
	if [ $rc -eq 77 ]; then skip=$((skip + 1));
	elif [ $rc -ne 0 ]; then failed+=("$t (exit $rc)"); [ "$f" -eq 0 ] && fail=$((fail + 1)); fi
done
[ ${#failed[@]} -gt 0 ] && printf 'FAILED: %s\n' "${failed[@]}"
echo "unit: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ ${#failed[@]} -eq 0 ]
