#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end test of the cxlms CLI: import small safetensors files with
# awkward shapes into int8, bf16 and fp16 stores, compare every `cxlms
# fetch` output (k = 1..planes, every output format and reconstruction)
# byte for byte with an independent Python reference (tests/integ/ref/),
# then the command line's error handling and exit codes.
#
# Exit 0 pass, 77 skip (reason on the last line), anything else fail.
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
CXLMS=$O/cxlms
REF=tests/integ/ref/e2e.py

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

# expect CODE WHAT CMD...: run CMD, want exit CODE; stdout/stderr in $tmp/out, $tmp/err.
expect() {
	local want=$1 what=$2 rc
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$what: exit $rc, want $want; stderr: $(head -c 400 "$tmp/err")"
		return 1
	fi
	pass
}

# err_has TEXT WHAT: the last command's stderr mentions TEXT.
err_has() {
	if grep -qF -- "$1" "$tmp/err"; then pass; else
		fail "$2: stderr does not mention '$1': $(head -c 400 "$tmp/err")"
	fi
}

# ---------------------------------------------------------------- imports
python3 "$REF" gen "$tmp" || { echo "FAIL: could not write the test inputs"; exit 1; }

S8=$tmp/int8.cxlms SB=$tmp/bf16.cxlms SF=$tmp/fp16.cxlms
expect 0 "import int8" "$CXLMS" import --no-defaults --group 32 --tile-rows 3 "$tmp/int8.safetensors" "$S8" &&
	{ grep -q '^imported 12 tensors: ' "$tmp/out" && pass ||
	  fail "import summary: $(cat "$tmp/out")"; }
expect 0 "import bf16" "$CXLMS" import --no-defaults --format bf16 --tile-rows 2 -q \
	"$tmp/bf16.safetensors" "$SB"
expect 0 "import fp16" "$CXLMS" import --no-defaults --format fp16 --tile-rows 2 -q \
	"$tmp/fp16.safetensors" "$SF"
# Progress is for terminals only: none of it in a redirected stderr.
[ ! -s "$tmp/err" ] && pass || fail "import -q wrote to stderr: $(cat "$tmp/err")"
[ -f "$S8" ] && [ -f "$SB" ] && [ -f "$SF" ] || { echo "FAIL: imports failed"; exit 1; }

# ------------------------------------------------- fetch vs the reference
python3 "$REF" check "$CXLMS" "$S8" "$tmp/int8.safetensors" int8 && pass ||
	fail "int8 store fetches differ from the reference"
python3 "$REF" check "$CXLMS" "$SB" "$tmp/bf16.safetensors" bf16 && pass ||
	fail "bf16 store fetches differ from the reference"
python3 "$REF" check "$CXLMS" "$SF" "$tmp/fp16.safetensors" fp16 && pass ||
	fail "fp16 store fetches differ from the reference"
python3 "$REF" jsoncheck "$CXLMS" "$S8" "$tmp/int8.safetensors" && pass ||
	fail "info --json"

# --tile / --tiles are slices of --all (f32: 3 rows x 70 cols x 4 bytes a tile).
T=blk.0.attn.q.weight
"$CXLMS" fetch "$S8" "$T" --all --bits 4 --out f32 -o "$tmp/all.bin" &&
"$CXLMS" fetch "$S8" "$T" --tile 1 --bits 4 --out f32 -o "$tmp/t1.bin" &&
"$CXLMS" fetch "$S8" "$T" --tiles 2:2 --bits 4 --out f32 -o "$tmp/t23.bin" ||
	fail "fetch of tiles"
cmp -s "$tmp/t1.bin" <(tail -c +$((840 + 1)) "$tmp/all.bin" | head -c 840) && pass ||
	fail "--tile 1 is not bytes 840..1679 of --all"
cmp -s "$tmp/t23.bin" <(tail -c +$((1680 + 1)) "$tmp/all.bin") && pass ||
	fail "--tiles 2:2 is not the end of --all"
# Default tile selection is all tiles; -o FILE and -o - agree.
"$CXLMS" fetch "$S8" "$T" --bits 4 --out f32 -o - >"$tmp/stdout.bin" &&
	cmp -s "$tmp/stdout.bin" "$tmp/all.bin" && pass || fail "-o - differs from -o FILE"
# A fetch replaces the file whole; no temporary files are left behind.
ls -a "$tmp" | grep -q '^\.all\.bin\.' && fail "temporary file left behind" || pass

# ------------------------------------------------------------- verify, stats
expect 0 "verify" "$CXLMS" verify "$S8" &&
	{ grep -q '^OK: 12 tensors, [0-9]* tiles, [0-9]* bytes verified$' "$tmp/out" && pass ||
	  fail "verify output: $(cat "$tmp/out")"; }
expect 0 "stats" "$CXLMS" stats "$S8" &&
	{ grep -q 'counters are per process' "$tmp/out" && pass || fail "stats note missing"; }
expect 0 "stats --json" "$CXLMS" stats --json "$S8" &&
	{ python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" && pass ||
	  fail "stats --json is not JSON"; }
expect 0 "info" "$CXLMS" info "$S8" &&
	{ grep -qF 'blk.0.attn.q.weight' "$tmp/out" && pass || fail "info lacks a tensor"; }

# ---------------------------------------------------------------- help
expect 0 "--help" "$CXLMS" --help
for c in import info fetch verify stats; do
	grep -q "^  $c " "$tmp/out" && pass || fail "--help does not list $c"
done
grep -q 'Exit status' "$tmp/out" && pass || fail "--help lacks exit codes"
for c in import info fetch verify stats; do
	expect 0 "$c --help" "$CXLMS" "$c" --help &&
		{ grep -q "^usage: cxlms $c" "$tmp/out" && grep -q '6 checksum mismatch' "$tmp/out" &&
		  pass || fail "$c --help lacks usage or exit codes"; }
	cp "$tmp/out" "$tmp/help1"
	expect 0 "help $c" "$CXLMS" help "$c" &&
		{ cmp -s "$tmp/out" "$tmp/help1" && pass || fail "help $c differs from $c --help"; }
done
expect 0 "--version" "$CXLMS" --version
expect 2 "help of an unknown command" "$CXLMS" help frobnicate

# ---------------------------------------------------------------- usage errors (exit 2)
B=$tmp/never.bin
usage() {	# usage WHAT ARGS...: exit 2, one "cxlms ..." line, no output file
	local what=$1
	shift
	expect 2 "$what" "$CXLMS" "$@" && err_has "cxlms" "$what"
	[ ! -e "$B" ] && pass || { fail "$what created $B"; rm -f "$B"; }
}
usage "no command"
usage "unknown command" frobnicate
usage "unknown global option" --frob info "$S8"
usage "fetch without args" fetch
usage "fetch without tensor" fetch "$S8"
usage "fetch without --bits" fetch "$S8" "$T" --out f32 -o "$B"
usage "fetch without --out" fetch "$S8" "$T" --bits 4 -o "$B"
usage "fetch without -o" fetch "$S8" "$T" --bits 4 --out f32
for bits in 9x 0 -1 '' 17 0x4 4.0 99999999999999999999; do
	usage "--bits '$bits'" fetch "$S8" "$T" --bits "$bits" --out f32 -o "$B"
done
usage "--bits 9 on an int8 tensor" fetch "$S8" "$T" --bits 9 --out f32 -o "$B"
err_has "8 planes" "--bits 9 on int8"
usage "--bits 8 as bf16 values" fetch "$SB" w.f32 --bits 8 --out f32 -o "$B"
usage "table recon on bf16" fetch "$SB" w.f32 --bits 12 --out f32 --recon table -o "$B"
usage "--out nope" fetch "$S8" "$T" --bits 4 --out nope -o "$B"
usage "--recon nope" fetch "$S8" "$T" --bits 4 --out f32 --recon nope -o "$B"
usage "--tile past the end" fetch "$S8" "$T" --tile 4 --bits 4 --out f32 -o "$B"
usage "--tile 1x" fetch "$S8" "$T" --tile 1x --bits 4 --out f32 -o "$B"
usage "--tiles past the end" fetch "$S8" "$T" --tiles 2:3 --bits 4 --out f32 -o "$B"
usage "--tiles 0:0" fetch "$S8" "$T" --tiles 0:0 --bits 4 --out f32 -o "$B"
usage "--tiles 1" fetch "$S8" "$T" --tiles 1 --bits 4 --out f32 -o "$B"
usage "--tile with --all" fetch "$S8" "$T" --tile 0 --all --bits 4 --out f32 -o "$B"
usage "fetch extra argument" fetch "$S8" "$T" extra --bits 4 --out f32 -o "$B"
usage "import without args" import
usage "import one arg" import "$tmp/int8.safetensors"
usage "--group 0" import --group 0 "$tmp/int8.safetensors" "$B"
usage "--group 12x" import --group 12x "$tmp/int8.safetensors" "$B"
usage "--group -4" import --group -4 "$tmp/int8.safetensors" "$B"
usage "--tile-rows 0" import --tile-rows 0 "$tmp/int8.safetensors" "$B"
usage "--format int4" import --format int4 "$tmp/int8.safetensors" "$B"
usage "--group on bf16" import --format bf16 --group 32 "$tmp/int8.safetensors" "$B"
usage "--rule without a spec" import --rule 'w*' "$tmp/int8.safetensors" "$B"
usage "--rule unknown spec" import --rule 'w*:bits=3' "$tmp/int8.safetensors" "$B"
usage "--rule bad format" import --rule 'w*:format=int4' "$tmp/int8.safetensors" "$B"
usage "--rule fold=0" import --rule 'w*:fold=0' "$tmp/int8.safetensors" "$B"
printf '# rules\n\nw*:format=bf16\nnot a rule\n' >"$tmp/bad.rules"
usage "--rules with a bad line" import --rules "$tmp/bad.rules" "$tmp/int8.safetensors" "$B"
err_has "bad.rules:4:" "--rules names the file and line"
expect 1 "info --metadata of a missing key" "$CXLMS" info --metadata nosuch "$S8"
err_has "not in the store" "info --metadata says the key is missing"
usage "info without store" info
usage "info two stores" info "$S8" "$S8"
usage "info --bogus" info --bogus "$S8"
usage "verify without store" verify
usage "stats without store" stats

# ---------------------------------------------------------------- errors (exit 1)
expect 1 "unknown tensor" "$CXLMS" fetch "$S8" no.such.tensor --bits 4 --out f32 -o "$B" &&
	err_has "no.such.tensor" "unknown tensor"
[ ! -e "$B" ] && pass || fail "unknown tensor created $B"
expect 1 "missing store" "$CXLMS" info "$tmp/missing.cxlms" && err_has "missing.cxlms" "missing store"
expect 1 "output in a missing directory" \
	"$CXLMS" fetch "$S8" "$T" --bits 4 --out f32 -o "$tmp/no/dir/x.bin" &&
	err_has "no/dir/x.bin" "output in a missing directory"
# A failed import writes nothing and leaves an existing store untouched.
head -c 100 "$tmp/int8.safetensors" >"$tmp/cut.safetensors"
cp "$S8" "$tmp/keep.cxlms"
expect 1 "import of a cut safetensors file" "$CXLMS" import -q "$tmp/cut.safetensors" "$tmp/keep.cxlms" &&
	err_has "cut.safetensors" "import of a cut file"
cmp -s "$S8" "$tmp/keep.cxlms" && pass || fail "failed import changed the existing store"
expect 1 "import into a new file" "$CXLMS" import -q "$tmp/cut.safetensors" "$tmp/new.cxlms"
[ ! -e "$tmp/new.cxlms" ] && pass || fail "failed import left $tmp/new.cxlms"
ls -a "$tmp" | grep -q '^\.\?new\.cxlms.' && fail "failed import left a temp file" || pass

# ---------------------------------------------------------------- damaged stores (3..7)
# store_err CODE WHAT FILE: every command that opens FILE exits CODE.
store_err() {
	local code=$1 what=$2 f=$3
	expect "$code" "info: $what" "$CXLMS" info "$f" && err_has "$(basename "$f")" "info: $what"
	expect "$code" "verify: $what" "$CXLMS" verify "$f"
	expect "$code" "fetch: $what" "$CXLMS" fetch "$f" "$T" --bits 4 --out f32 -o "$B"
	[ ! -e "$B" ] && pass || { fail "fetch from $what created $B"; rm -f "$B"; }
}
store_err 3 "a safetensors file" "$tmp/int8.safetensors"
head -c 8192 /dev/urandom >"$tmp/random.bin"
store_err 3 "random bytes" "$tmp/random.bin"
cp "$S8" "$tmp/magic.cxlms" && python3 "$REF" poke "$tmp/magic.cxlms" magic
store_err 3 "a flipped magic" "$tmp/magic.cxlms"
size=$(stat -c %s "$S8")
cp "$S8" "$tmp/trunc.cxlms" && truncate -s $((size / 2)) "$tmp/trunc.cxlms"
store_err 5 "a store cut in half" "$tmp/trunc.cxlms"
cp "$S8" "$tmp/sb.cxlms" && python3 "$REF" poke "$tmp/sb.cxlms" sb
store_err 6 "a flipped superblock byte" "$tmp/sb.cxlms"
cp "$S8" "$tmp/dirent.cxlms" && python3 "$REF" poke "$tmp/dirent.cxlms" dirent
store_err 6 "a flipped directory byte" "$tmp/dirent.cxlms"
# Edits with every checksum recomputed: the contents checks must catch them.
cp "$S8" "$tmp/reseal.cxlms" && python3 "$REF" poke "$tmp/reseal.cxlms" reseal
cmp -s "$S8" "$tmp/reseal.cxlms" && pass || fail "the test's CRC resealing is wrong"
cp "$S8" "$tmp/version.cxlms" && python3 "$REF" poke "$tmp/version.cxlms" version
store_err 4 "an unknown format version" "$tmp/version.cxlms"
cp "$S8" "$tmp/shape.cxlms" && python3 "$REF" poke "$tmp/shape.cxlms" shape
store_err 7 "cols that do not match the shape" "$tmp/shape.cxlms"
# A flipped plane bit passes the metadata checks; verify finds it.
cp "$S8" "$tmp/plane.cxlms" && python3 "$REF" poke "$tmp/plane.cxlms" plane
expect 0 "info with a flipped plane bit" "$CXLMS" info "$tmp/plane.cxlms"
expect 6 "verify finds a flipped plane bit" "$CXLMS" verify "$tmp/plane.cxlms" &&
	err_has "checksum" "verify of a flipped plane bit"
grep -q '^OK' "$tmp/out" && fail "verify printed OK for a damaged store" || pass

echo "cli-e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
