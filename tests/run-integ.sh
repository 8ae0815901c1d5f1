#!/usr/bin/env bash
# Run integration test scripts: exit 0 = pass, 77 = skip (reason on stdout), else fail.
set -uo pipefail
pass=0 fail=0 skip=0
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	case $rc in
	0)  pass=$((pass + 1)); echo "ok - $t" ;;
	77) skip=$((skip + 1)); echo "ok - $t # SKIP $(tail -n1 <<<"$out")" ;;
	*)  fail=$((fail + 1)); echo "not ok - $t (exit $rc)"; printf '%s\n' "$out" | tail -n 40 | sed 's/^/#   /' ;;
	esac
done
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
