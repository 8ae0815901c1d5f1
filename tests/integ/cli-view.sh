#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `cxlms view`: the view file of every layout equals the one this script
# assembles from `cxlms fetch` of the same bits with the layout's
# documented formulas (docs/format.md, "Views"), on an
# int8 and a bf16 store with short last tiles; the userfaultfd and eager
# fills write the same file; --all; --bits policy; the refusals and their
# exit codes.
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

err_has() {
	if grep -qF -- "$1" "$tmp/err"; then pass; else
		fail "$2: stderr does not mention '$1': $(head -c 400 "$tmp/err")"
	fi
}

# Two f32 tensors: w 45 x 300 (tiles of 8 rows: the last has 5), u 9 x 129.
python3 - "$tmp/m.safetensors" <<'EOF' || { echo "FAIL: could not write the input"; exit 1; }
import json, random, struct, sys
rng = random.Random(5)
ts = {"w": (45, 300), "u": (9, 129)}
hdr, blobs, off = {}, [], 0
for name, (r, c) in ts.items():
    b = struct.pack("<%df" % (r * c), *[rng.gauss(0, 1) * 2.7 ** rng.gauss(0, 0.7)
                                        for _ in range(r * c)])
    hdr[name] = {"dtype": "F32", "shape": [r, c], "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
EOF

S8=$tmp/i8.cxlms SB=$tmp/bf.cxlms
expect 0 "import int8" "$CXLMS" import -q --no-defaults --group 64 --tile-rows 8 \
	"$tmp/m.safetensors" "$S8" || exit 1
expect 0 "import bf16" "$CXLMS" import -q --no-defaults --format bf16 --tile-rows 8 \
	"$tmp/m.safetensors" "$SB" || exit 1

# build LAYOUT FMT ROWS COLS TILE_ROWS GROUP FETCHFILE K: the expected view
# of one tensor from its `cxlms fetch --all` output (per-tile blocks).
build() {
	python3 - "$@" <<'EOF'
import sys
layout, fmt, rows, cols, tr, group, path, k = sys.argv[1:9]
rows, cols, tr, group, k = int(rows), int(cols), int(tr), int(group), int(k)
fetched = open(path, "rb").read()
up = lambda v, a: (v + a - 1) // a * a
int8 = fmt == "int8"
gpr = (cols + group - 1) // group if int8 else 0
tiles = [min(tr, rows - r) for r in range(0, rows, tr)]
def block(n_rows, bits):
    n = n_rows * cols
    if layout == "packed":
        data = (n * bits + 7) // 8
        if not int8:
            return data, data, 0
        s_off = up(data, 64)
        l_off = up(s_off + n_rows * gpr * 2, 64)
        return data, up(l_off + (1 << bits) * 2, 64), s_off
    w = 1 if int8 else 2
    data = n * w
    if not int8:
        return data, data, 0
    s_off = up(data, 64)
    return data, up(s_off + n_rows * gpr * 2, 64), s_off
out, scales, pos = bytearray(), bytearray(), 0
slot = up(block(tiles[0], k)[1], 4096)
for n_rows in tiles:
    data, total, s_off = block(n_rows, k)
    b = fetched[pos:pos + total]
    pos += total
    if layout == "packed":
        out += b + bytes(slot - len(b))
    else:
        out += b[:data]
        scales += b[s_off:s_off + n_rows * gpr * 2]
assert pos == len(fetched), (pos, len(fetched))
if layout != "packed":
    out += bytes(up(len(out), 4096) - len(out))
    if int8:
        out += scales + bytes(up(len(scales), 4096) - len(scales))
sys.stdout.buffer.write(out)
EOF
}

# check STORE FMT LAYOUT OUT K TENSOR ROWS COLS
check() {
	local s=$1 fmt=$2 layout=$3 out=$4 k=$5 t=$6 rows=$7 cols=$8 tr=8
	[ "$t" = u ] && tr=8
	"$CXLMS" fetch "$s" "$t" --all --bits "$k" --out "$out" -o "$tmp/f.bin" 2>"$tmp/err" ||
		{ fail "fetch $fmt $t k=$k: $(cat "$tmp/err")"; return; }
	build "$layout" "$fmt" "$rows" "$cols" "$tr" 64 "$tmp/f.bin" "$k" >"$tmp/want.bin" ||
		{ fail "build $fmt $layout $t k=$k"; return; }
	for mode in "" --eager; do
		"$CXLMS" view "$s" "$t" --bits "$k" --layout "$layout" $mode -o "$tmp/v.bin" \
			2>"$tmp/err" || { fail "view $fmt $layout $t k=$k $mode: $(cat "$tmp/err")"; continue; }
		cmp -s "$tmp/v.bin" "$tmp/want.bin" && pass ||
			fail "view $fmt $layout $t k=$k $mode differs from the fetch-built view"
	done
}

for k in 1 3 8; do
	check "$S8" int8 packed packed $k w 45 300
	check "$S8" int8 int8 int $k w 45 300
	check "$S8" int8 int8 int $k u 9 129
done
for k in 2 9 16; do
	check "$SB" bf16 packed packed $k w 45 300
done
for k in 9 12 16; do
	check "$SB" bf16 int16 int $k w 45 300
done

# --all: the sections of w then u, back to back.
"$CXLMS" view "$S8" w --bits 4 --layout int8 -o "$tmp/a.bin" 2>/dev/null &&
"$CXLMS" view "$S8" u --bits 4 --layout int8 -o "$tmp/b.bin" 2>/dev/null &&
expect 0 "view --all" "$CXLMS" view "$S8" --all --bits 4 --layout int8 -o "$tmp/all.bin" &&
	{ cat "$tmp/a.bin" "$tmp/b.bin" | cmp -s - "$tmp/all.bin" && pass ||
	  fail "--all is not the tensors' views back to back"; }

# --stats names the fill mode and counts what was read.
expect 0 "view --stats" "$CXLMS" view "$S8" w --bits 2 --layout packed --stats -o "$tmp/s.bin" &&
	{ grep -Eq '^mode: +(userfaultfd|eager)$' "$tmp/out" &&
	  grep -Eq '^tile fetches: 6$' "$tmp/out" && pass ||
	  fail "--stats output: $(cat "$tmp/out")"; }
expect 0 "view --eager --stats" "$CXLMS" view "$S8" w --bits 2 --layout packed --eager --stats \
	-o "$tmp/s.bin" && { grep -Eq '^mode: +eager$' "$tmp/out" && pass ||
			     fail "--eager mode: $(cat "$tmp/out")"; }

# stdout
"$CXLMS" view "$S8" u --bits 5 --layout int8 -o - >"$tmp/o.bin" 2>"$tmp/err" &&
"$CXLMS" view "$S8" u --bits 5 --layout int8 -o "$tmp/p.bin" 2>/dev/null &&
	cmp -s "$tmp/o.bin" "$tmp/p.bin" && pass || fail "-o - differs from -o FILE"

# --------------------------------------------------------------- refusals
expect 2 "int16 layout of int8" "$CXLMS" view "$S8" w --bits 4 --layout int16 -o "$tmp/x" &&
	err_has "tensor 'w' is int8" "int16 of int8"
expect 2 "int8 layout of bf16" "$CXLMS" view "$SB" w --bits 9 --layout int8 -o "$tmp/x"
expect 2 "int16 below 9 bits of bf16" "$CXLMS" view "$SB" w --bits 8 --layout int16 -o "$tmp/x" &&
	err_has "cannot be viewed as int16 at 8 bits" "bf16 k=8"
expect 2 "bits 9 of int8" "$CXLMS" view "$S8" w --bits 9 --layout packed -o "$tmp/x"
expect 2 "table of bf16" "$CXLMS" view "$SB" w --bits 9 --layout packed --recon table -o "$tmp/x"
expect 2 "no layout" "$CXLMS" view "$S8" w --bits 4 -o "$tmp/x" && err_has "missing --layout" "no layout"
expect 2 "bad layout" "$CXLMS" view "$S8" w --bits 4 --layout int4 -o "$tmp/x"
expect 2 "no bits" "$CXLMS" view "$S8" w --layout int8 -o "$tmp/x"
expect 2 "no output" "$CXLMS" view "$S8" w --bits 4 --layout int8
expect 2 "no tensor" "$CXLMS" view "$S8" --bits 4 --layout int8 -o "$tmp/x"
expect 2 "tensor and --all" "$CXLMS" view "$S8" w --all --bits 4 --layout int8 -o "$tmp/x"
expect 2 "context without policy" "$CXLMS" view "$S8" w --bits 4 --context c --layout int8 -o "$tmp/x"
expect 2 "a device as output" "$CXLMS" view "$S8" w --bits 4 --layout int8 -o /dev/null
expect 2 "the store as output" "$CXLMS" view "$S8" w --bits 4 --layout int8 -o "$S8"
expect 1 "unknown tensor" "$CXLMS" view "$S8" nope --bits 4 --layout int8 -o "$tmp/x" &&
	err_has "no tensor named 'nope'" "unknown tensor"
expect 1 "policy without maps" "$CXLMS" view "$S8" w --bits policy --layout int8 -o "$tmp/x" &&
	err_has "no precision maps published" "policy without maps"
[ ! -e "$tmp/x" ] && pass || fail "a refused view left $tmp/x behind"
expect 0 "view --help" "$CXLMS" view --help && { grep -q -- "--layout" "$tmp/out" && pass ||
						fail "--help lacks --layout"; }

echo "cli-view: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
