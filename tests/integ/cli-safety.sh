#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The cxlms CLI's output safety and its messages (cxlms(1) OUTPUT FILES,
# EXIT STATUS): outputs only to regular files or stdout, never a device
# node, FIFO or symlink replacement, never the input itself; messages that
# name the real cause; consistent exit codes; -v everywhere; no tracker
# words in user-facing text.  Every file it makes is in a temp directory:
# the device node is a mknod of its own (the null device), never /dev/*.
#
# Exit 0 pass, 77 skip (reason on the last line), anything else fail.
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
CXLMS=$O/cxlms

if ! command -v python3 >/dev/null; then
	echo "python3 is not installed (apt-get install python3)"
	exit 77
fi
if [ ! -x "$CXLMS" ]; then
	echo "FAIL: $CXLMS is not built"
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect CODE WHAT CMD...: run CMD (20 s at most: an output opened as a
# FIFO would block), want exit CODE; stdout/stderr in $tmp/out, $tmp/err.
expect() {
	local want=$1 what=$2 rc
	shift 2
	timeout 20 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$what: exit $rc, want $want; stderr: $(head -c 400 "$tmp/err")"
		return 1
	fi
	pass
}
# err_has TEXT WHAT / err_lacks TEXT WHAT: about the last command's stderr.
err_has() {
	if grep -qiF -- "$1" "$tmp/err"; then pass; else
		fail "$2: stderr does not mention '$1': $(head -c 400 "$tmp/err")"
	fi
}
err_lacks() {
	if grep -qiF -- "$1" "$tmp/err"; then
		fail "$2: stderr mentions '$1': $(head -c 400 "$tmp/err")"
	else pass; fi
}
check() { local what=$1; shift; if "$@"; then pass; else fail "$what"; fi; }

# --- inputs: small safetensors files (F32 little-endian) -----------------
python3 - "$tmp" <<'PY'
import json, struct, sys
d = sys.argv[1]

def st(path, tensors, data_len=None):
    hdr, blob = {}, b""
    for name, dtype, shape, data in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape,
                     "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blob)

w = struct.pack("<8f", *[0.5 * i - 2 for i in range(8)])
st(d + "/good.safetensors", [("w", "F32", [2, 4], w)])
# A name with control characters (SOH, newline, ESC) and a backslash.
st(d + "/ctrl.safetensors", [("a\x01b\nc\x1b[31m\\", "F32", [2, 4], w)])
st(d + "/zero.safetensors", [("w", "F32", [2, 4], w), ("empty", "F32", [0, 4], b"")])
st(d + "/rank9.safetensors", [("deep", "F32", [1] * 9, struct.pack("<f", 1.0))])
# One row of 2^24 + 1 int8 elements: the data is a sparse hole of zeros.
n = (1 << 24) + 1
hdr = json.dumps({"wide": {"dtype": "I8", "shape": [1, n], "data_offsets": [0, n]}}).encode()
hdr += b" " * (-len(hdr) % 8)
with open(d + "/wide.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr)
    f.truncate(8 + len(hdr) + n)
PY
S=$tmp/s.cxlms
# --no-defaults: a tensor this small would keep 16 bits, the checks below
# need an int8 store.
if ! "$CXLMS" import -q --no-defaults "$tmp/good.safetensors" "$S" 2>"$tmp/err"; then
	echo "FAIL: cannot import a good file: $(cat "$tmp/err")"
	exit 1
fi
cp "$S" "$tmp/s.orig"
FETCH=("$CXLMS" fetch "$S" w --bits 8 --out int)

# --- device nodes: refused, the node stays a node ---------------------------
if mknod "$tmp/nulldev" c 1 3 2>/dev/null; then
	expect 2 "import into a device node" "$CXLMS" import -q "$tmp/good.safetensors" "$tmp/nulldev" &&
		err_has "character device" "import into a device node"
	check "device node still a device after import" test -c "$tmp/nulldev"
	expect 2 "fetch -o a device node" "${FETCH[@]}" -o "$tmp/nulldev" &&
		err_has "character device" "fetch -o a device node"
	check "device node still a device after fetch" test -c "$tmp/nulldev"
else
	echo "# no mknod here (not root?): device-node checks not run"
fi

# --- FIFOs: refused without opening them (opening would block) ---------------
mkfifo "$tmp/fifo"
expect 2 "import into a FIFO" "$CXLMS" import -q "$tmp/good.safetensors" "$tmp/fifo" &&
	err_has "FIFO" "import into a FIFO"
check "FIFO still a FIFO after import" test -p "$tmp/fifo"
expect 2 "fetch -o a FIFO" "${FETCH[@]}" -o "$tmp/fifo" && err_has "FIFO" "fetch -o a FIFO"
check "FIFO still a FIFO after fetch" test -p "$tmp/fifo"

# --- symlinks: never replaced --------------------------------------------------
echo keep >"$tmp/target"
ln -s target "$tmp/link"
expect 2 "import over a symlink" "$CXLMS" import -q "$tmp/good.safetensors" "$tmp/link" &&
	err_has "symbolic link" "import over a symlink"
expect 2 "fetch -o a symlink" "${FETCH[@]}" -o "$tmp/link" && err_has "symbolic link" "fetch -o a symlink"
check "symlink still a symlink" test -L "$tmp/link"
check "symlink target unchanged" test "$(cat "$tmp/target")" = keep
ln -s nowhere "$tmp/dangling"
expect 2 "fetch -o a dangling symlink" "${FETCH[@]}" -o "$tmp/dangling"
check "dangling symlink not replaced" test -L "$tmp/dangling"
mkdir "$tmp/adir"
expect 2 "fetch -o a directory" "${FETCH[@]}" -o "$tmp/adir" && err_has "directory" "fetch -o a directory"

# --- the output is the input ---------------------------------------------------
expect 2 "fetch -o the store" "${FETCH[@]}" -o "$S" && err_has "same file" "fetch -o the store"
check "store untouched by fetch -o itself" cmp -s "$S" "$tmp/s.orig"
ln "$S" "$tmp/hardlink.cxlms"
expect 2 "fetch -o a hard link of the store" "${FETCH[@]}" -o "$tmp/hardlink.cxlms" &&
	err_has "same file" "fetch -o a hard link of the store"
check "store untouched by fetch -o its hard link" cmp -s "$S" "$tmp/s.orig"
cp "$tmp/good.safetensors" "$tmp/in.safetensors"
expect 2 "import X X" "$CXLMS" import -q "$tmp/in.safetensors" "$tmp/in.safetensors" &&
	err_has "same file" "import X X"
check "input untouched by import X X" cmp -s "$tmp/in.safetensors" "$tmp/good.safetensors"

# Later checks need the store whole even if one above failed and broke it.
cp "$tmp/s.orig" "$S"

# --- stdout -------------------------------------------------------------------------
expect 0 "fetch -o - is stdout" "${FETCH[@]}" -o - && cp "$tmp/out" "$tmp/stdout.bin"
expect 0 "fetch -o FILE" "${FETCH[@]}" -o "$tmp/file.bin"
check "fetch -o - writes what -o FILE writes" cmp -s "$tmp/stdout.bin" "$tmp/file.bin"
# In $tmp: were the check gone, a file named '-' would appear in the cwd.
expect 2 "import to - (a store on stdout)" env -C "$tmp" "$(realpath "$CXLMS")" import -q \
	good.safetensors - &&
	err_has "stdout" "import to -"

# --- messages naming the real cause ----------------------------------------------------
expect 1 "output directory missing (import)" "$CXLMS" import -q "$tmp/good.safetensors" \
	"$tmp/nodir/out.cxlms" && err_has "$tmp/nodir/out.cxlms" "missing dir names the output" &&
	err_has "does not exist" "missing output directory"
expect 1 "output directory missing (fetch)" "${FETCH[@]}" -o "$tmp/nodir/x.bin" &&
	err_has "$tmp/nodir/x.bin" "missing dir names the output (fetch)" &&
	err_has "does not exist" "missing output directory (fetch)"
if [ -r /proc/version ]; then
	expect 1 "fetch -o /proc/version" "${FETCH[@]}" -o /proc/version &&
		err_has "proc filesystem" "fetch -o /proc/version" &&
		err_lacks "No such file" "fetch -o /proc/version"
	expect 1 "import to /proc" "$CXLMS" import -q "$tmp/good.safetensors" /proc/cxlms-test.cxlms &&
		err_has "proc filesystem" "import to /proc"
fi
"$CXLMS" import -q "$tmp/zero.safetensors" "$tmp/zero.cxlms" >"$tmp/out" 2>"$tmp/err"
rc=$?
err_lacks "dtype" "zero-size tensor"
if [ $rc -ne 0 ]; then err_has "no elements" "zero-size tensor (refused)"; fi
expect 1 "rank 9" "$CXLMS" import -q "$tmp/rank9.safetensors" "$tmp/r9.cxlms" &&
	err_has "rank 9" "rank 9" && err_lacks "dtype" "rank 9"
expect 1 "row over 2^24 elements" "$CXLMS" import -q "$tmp/wide.safetensors" "$tmp/wide.cxlms" &&
	err_has "16777217" "row over 2^24" && err_lacks "dtype" "row over 2^24"

# --- contexts ------------------------------------------------------------------------------
expect 2 "fetch --context 'bad name!'" "$CXLMS" fetch "$S" w --bits policy --context 'bad name!' \
	--out int -o "$tmp/c.bin" && err_has "invalid context name" "fetch --context 'bad name!'" &&
	err_lacks "No such file" "fetch --context 'bad name!'"
expect 2 "policy bits --context 'bad name!'" "$CXLMS" policy bits --context 'bad name!' "$S" w &&
	err_has "invalid context name" "policy bits --context 'bad name!'"
expect 0 "fetch --bits 3 --context foo (context unused)" "$CXLMS" fetch "$S" w --bits 3 \
	--context foo --out int -o "$tmp/c3.bin"

# --- exit codes ----------------------------------------------------------------------------
printf 'CXLM' >"$tmp/cxlm4.cxlms"
expect 3 "4-byte CXLM is not a store" "$CXLMS" info "$tmp/cxlm4.cxlms" &&
	err_has "not a cxlms store" "4-byte CXLM"
printf 'CXLMSTOR' >"$tmp/magic8.cxlms"
expect 5 "just the magic is a truncated store" "$CXLMS" info "$tmp/magic8.cxlms"
expect 1 "fetch of an unknown tensor" "$CXLMS" fetch "$S" nosuch --bits 8 --out int -o "$tmp/n.bin"
expect 1 "policy bits of an unknown tensor exits as fetch does" "$CXLMS" policy bits "$S" nosuch &&
	err_has "no tensor named 'nosuch'" "policy bits nosuch"

# --- info escapes control characters --------------------------------------------------
"$CXLMS" import -q "$tmp/ctrl.safetensors" "$tmp/ctrl.cxlms" 2>"$tmp/err" ||
	fail "import of a control-character name: $(cat "$tmp/err")"
expect 0 "info of control-character names" "$CXLMS" info "$tmp/ctrl.cxlms"
if LC_ALL=C grep -q $'[\x01\x1b]' "$tmp/out"; then fail "info prints raw control characters"; else pass; fi
check "info shows the escaped name" grep -qF 'a\x01b\x0ac\x1b[31m\\' "$tmp/out"

# --- -v on every command ------------------------------------------------------------------
for cmd in "import -v $tmp/good.safetensors $tmp/v.cxlms" "info -v $S" "verify -v $S" \
	   "stats -v $S" "fetch -v $S w --bits 8 --out int -o $tmp/v.bin" \
	   "policy -v bits $S nosuch" "copy -v $tmp/cxlm4.cxlms" "detach -v $tmp/target" \
	   "attach -v --ram 1x" "bench -v --reps 0"; do
	# shellcheck disable=SC2086 # the words are the command line
	timeout 60 "$CXLMS" $cmd >"$tmp/out" 2>"$tmp/err" </dev/null
	err_lacks "unknown option" "cxlms $cmd"
done
check "man page lists bench --piece" grep -qF -- '\-\-piece' docs/cxlms.1

# --- user-facing text: no tracker words; exit codes documented ------------------------
{
	"$CXLMS" --help
	for c in import info fetch view verify stats policy attach detach copy bench; do
		"$CXLMS" "$c" --help
	done
} >"$tmp/help.txt" 2>&1
for f in "$tmp/help.txt" docs/cxlms.1 docs/cxlmsd.8 docs/cxlmsd.conf.5; do
	if grep -qiE 'issue[ -]?#?[0-9]' "$f"; then
		fail "tracker words in $f: $(grep -iE 'issue[ -]?#?[0-9]' "$f" | head -3)"
	else pass; fi
done
sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' docs/cxlms.1 >"$tmp/exit.man"
for code in 0 1 2 3 4 5 6 7; do
	check "EXIT STATUS documents $code" grep -qx "\.B $code" "$tmp/exit.man"
done
check "man page has OUTPUT FILES" grep -q '^\.SH OUTPUT FILES' docs/cxlms.1

echo "cli-safety: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
