#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The reference Llama engine (cxlms eval) against an independent numpy
# forward pass (tests/integ/ref/llama_ref.py) on the weights `cxlms fetch
# --all --out f32` returns at the same bits: logits agree to 1e-4 of the
# largest logit at full precision and k = 8, 6, 4, 3, 2.
#   - a synthetic Llama from tools/gen-model (2 blocks, int8 with the import
#     defaults: norms stay 16-bit), always;
#   - stories260K (a real trained model, ../shared/models, skipped with the
#     reason when absent), converted by tools/llama2c2safetensors.py both
#     ways: HF rotate-half rows and llama2.c's interleaved RoPE recorded in
#     config.json; the two stores give the same logits.  Also: the KL
#     divergence of the int8 store at k = 8 against an fp16 store of the
#     same checkpoint, printed (issue 12's 0.01 target; this 64-wide model
#     measures ~0.03 at 42 dB weight SQNR) and asserted below 0.1 (a
#     broken quantizer or engine gives > 1).
# Exit 0 pass, 77 skip (no numpy), anything else fail.
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
CXLMS=$O/cxlms
PY=/usr/bin/python3
REF=tests/integ/ref/llama_ref.py
STORIES=${CXLMS_SHARED:-../shared}/models/stories260K/stories260K.bin

[ -x "$PY" ] && "$PY" -c 'import numpy' 2>/dev/null ||
	{ echo "Debian's python3-numpy is not installed"; exit 77; }
[ -x "$CXLMS" ] && [ -x "$O/tools/gen-model" ] || { echo "FAIL: $O/cxlms or gen-model not built"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0 passed=0
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
pass() { passed=$((passed + 1)); }

# check STORE SEQS BITS...: eval at each bits, logits against the reference.
check() {
	local store=$1 seqs=$2 b
	shift 2
	for b in "$@"; do
		if ! "$CXLMS" eval "$store" --tokens "$seqs" --bits "$b" \
			--logits-out "$tmp/l.$b.bin" --json >"$tmp/e.json" 2>"$tmp/e.err"; then
			fail "cxlms eval $(basename "$store") --bits $b: $(cat "$tmp/e.err")"
			continue
		fi
		echo "# $(basename "$store") bits $b: $(cat "$tmp/e.json")"
		if "$PY" "$REF" "$CXLMS" "$store" "$b" "$seqs" "$tmp/l.$b.bin" >"$tmp/r.out" 2>&1; then
			pass
		else
			fail "$(basename "$store") bits $b: engine logits differ from the numpy reference"
		fi
		sed 's/^/  /' "$tmp/r.out" | tail -n 2
	done
}

# --- synthetic ---
"$O/tools/gen-model" -s 7 -l 2 -c "$tmp/config.json" "$tmp/syn.safetensors" >/dev/null &&
	"$CXLMS" import -q "$tmp/syn.safetensors" "$tmp/syn.cxlms" ||
	{ echo "FAIL: synthetic model import"; exit 1; }
printf '1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n4000 17 17 2\n' >"$tmp/syn.seq"
check "$tmp/syn.cxlms" "$tmp/syn.seq" full 8 6 4 3 2

# --- stories260K ---
if [ ! -f "$STORIES" ]; then
	echo "# stories260K not found at $STORIES: real-model part skipped"
else
	for r in half interleaved; do
		"$PY" tools/llama2c2safetensors.py "$STORIES" "$tmp/$r" --rope "$r" &&
			"$CXLMS" import -q --rule '*_proj.weight:format=int8' \
				"$tmp/$r/model.safetensors" "$tmp/s-$r.cxlms" ||
			fail "stories260K: convert/import ($r)"
	done
	"$CXLMS" import -q --format fp16 "$tmp/half/model.safetensors" "$tmp/s-fp16.cxlms" ||
		fail "stories260K: fp16 import"
	# Sequences the full model itself samples (seeded): what KLD is measured on.
	for s in 1 2 3 4; do
		echo "1 $("$CXLMS" run "$tmp/s-half.cxlms" --tokens 1 -n 48 --temp 1 --seed $s | head -n 1)"
	done >"$tmp/s.seq"
	check "$tmp/s-half.cxlms" "$tmp/s.seq" full 8 6 4 3 2
	cp "$tmp/l.full.bin" "$tmp/half.full.bin"
	check "$tmp/s-interleaved.cxlms" "$tmp/s.seq" full 4
	"$PY" - "$tmp/half.full.bin" "$tmp/l.full.bin" <<'PY' && pass || fail "stories260K: rotate-half and interleaved stores differ"
import sys, numpy as np
a, b = (np.fromfile(f, dtype="<f4") for f in sys.argv[1:3])
err = float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
print("# rotate-half vs interleaved store, full precision: %.3g of the largest logit" % err)
sys.exit(0 if a.size == b.size and err <= 1e-5 else 1)
PY
	"$CXLMS" eval "$tmp/s-fp16.cxlms" --tokens "$tmp/s.seq" --logits-out "$tmp/fp16.bin" >/dev/null &&
	"$CXLMS" eval "$tmp/s-half.cxlms" --tokens "$tmp/s.seq" --bits 8 --logits-out "$tmp/k8.bin" >/dev/null &&
	"$PY" - "$tmp/fp16.bin" "$tmp/k8.bin" 512 <<'PY' && pass || fail "stories260K: int8 k=8 KLD against fp16 >= 0.1"
import sys, numpy as np
V = int(sys.argv[3])
p, q = (np.fromfile(f, dtype="<f4").astype(np.float64).reshape(-1, V) for f in sys.argv[1:3])
def ls(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))
lp, lq = ls(p), ls(q)
kl = float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=1)))
print("# stories260K int8 store at k=8 against its fp16 store: KLD %.5f nats/token"
      " (target 0.01: %s)" % (kl, "met" if kl < 0.01 else "missed"))
sys.exit(0 if kl < 0.1 else 1)
PY
fi

echo "engine-ref: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
