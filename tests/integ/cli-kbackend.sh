#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# cxlms attach/detach/copy and the kernel backend on a host without the
# module: every usage error exits 2 before touching a device, a node that
# is not /dev/cxlmsN is refused by name (exit 1), and --help works.  The
# commands against a real /dev/cxlms0 run in the QEMU guest
# (tests/guest/lib-kernel.sh, make qemu-check).
#
# Exit 0 pass, 77 skip (reason on the last line), anything else fail.
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
cx=$O/cxlms
[ -x "$cx" ] || { echo "FAIL: $cx is not built"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# want RC GREP -- ARGS...: exit code RC and stderr containing GREP.
want() {
	local rc=$1 pat=$2 got
	shift 3
	"$cx" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" != "$rc" ] || ! grep -q -- "$pat" "$tmp/err"; then
		fail "cxlms $*: exit $got (want $rc), stderr: $(head -c 300 "$tmp/err")"
	fi
}

want 2 "exactly one of --region" -- attach
want 2 "exactly one of --region" -- attach --region region0 --ram 16M --format
want 2 "needs --format" -- attach --ram 16M
want 2 "go with --region" -- attach --ram 16M --format --offset 4096
want 2 "go with --format" -- attach --region region0 --dir-capacity 8
want 2 "go with --format" -- attach --region region0 --group 64
want 2 "is not a size" -- attach --ram 16X --format
want 2 "is not a size" -- attach --ram -1 --format
want 2 "is not a size" -- attach --region region0 --offset 99999999999999999999T
want 2 "is not a number" -- attach --ram 16M --format --dir-capacity 0
want 2 "too many arguments" -- attach --ram 16M --format /dev/a /dev/b
want 2 "too many arguments" -- detach /dev/a /dev/b
want 2 "missing STORE" -- copy
want 2 "too many arguments" -- copy a b c
want 2 "unknown option" -- copy --bogus x
want 1 "not a cxlms device" -- attach --ram 16M --format /dev/null
want 1 "not a cxlms device" -- detach /dev/null
want 1 "not a cxlms device" -- info /dev/null
want 1 "/dev/null" -- stats --reset /dev/null

# copy: the source is opened (and validated) first, then the device.
printf 'not a store' >"$tmp/bad.cxlms"
want 3 "not a cxlms store" -- copy "$tmp/bad.cxlms" /dev/null
"$O/tools/gen-model" --seed 5 --layers 1 "$tmp/m.safetensors" 2>/dev/null &&
	"$cx" import -q --format bf16 "$tmp/m.safetensors" "$tmp/m.cxlms" ||
	fail "could not make a store"
want 1 "not a cxlms device" -- copy -q "$tmp/m.cxlms" /dev/null
want 1 "not a device node" -- copy -q "$tmp/m.cxlms" "$tmp/m.cxlms"

for c in attach detach copy; do
	"$cx" "$c" --help >"$tmp/help" 2>&1 && grep -q "usage: cxlms $c" "$tmp/help" &&
		grep -q "Exit status" "$tmp/help" || fail "cxlms $c --help"
done
"$cx" --help | grep -q '^  attach ' || fail "attach missing from cxlms --help"

if [ "$failed" -ne 0 ]; then
	echo "cli-kbackend: $failed failed"
	exit 1
fi
echo "cli-kbackend: all passed"
