#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-contexts: context-calibrated precision maps against flat k,
# static rules and maps calibrated on the other context (issue 12 item 5),
# on stories260K (../shared/models, or $CXLMS_SHARED/models).
#
# Two contexts whose token sequences differ: A = sequences the full model
# samples at temperature 0.6, B = at temperature 1.6 (different seeds for
# calibration and evaluation).  `cxlms calibrate` measures, per weight
# matrix, the mean squared input activation on a context's calibration
# sequences; reported to cxlmsd (`cxlms policy report NAME * IMP`, then
# `sync`), its budget mode ranks tiles by importance x sigma^2 x 4^-b, the
# expected output error.  At average budgets of 3 and 4 bits, the KL
# divergence against the full-precision store on each context's held-out
# sequences, for:
#   flat      every matrix at k bits (cxlms eval --bits k)
#   static    budget mode with hand-written importance rules (demo style:
#             embedding/head x8, attention x4, first block x4)
#   sigma     budget mode, no importance (weight error power only)
#   same-M    budget mode calibrated (method M, below) on the evaluated context
#   other-M   budget mode calibrated on the other context
# and the weight bytes each read per token (from the store's counters).
# The tied embedding is read twice per token (its row, and the head GEMV):
# budget contexts fix it at the budget's bits so that equal average bits
# over weights are also (nearly) equal bytes per token.
# Not a test: prints numbers.  --json FILE also writes them.
# Exit 0, 77 when stories260K or numpy is missing, 1 on errors.
set -uo pipefail
cd "$(dirname "$0")/.."
O=${O:-build}
CXLMS=$O/cxlms
CXLMSD=$O/cxlmsd
PY=/usr/bin/python3
STORIES=${CXLMS_SHARED:-../shared}/models/stories260K/stories260K.bin
json_out=
[ "${1:-}" = --json ] && json_out=$2

[ -f "$STORIES" ] || { echo "bench-contexts: $STORIES not found (needs ../shared/models/stories260K)"; exit 77; }
"$PY" -c 'import numpy' 2>/dev/null || { echo "bench-contexts: Debian's python3-numpy is missing"; exit 77; }
for b in "$CXLMS" "$CXLMSD"; do [ -x "$b" ] || { echo "bench-contexts: $b not built"; exit 1; }; done

tmp=$(mktemp -d)
dpid=
trap '[ -n "$dpid" ] && kill $dpid 2>/dev/null; rm -rf "$tmp"' EXIT
S=$tmp/s.cxlms SOCK=$tmp/d.sock
"$PY" tools/llama2c2safetensors.py "$STORIES" "$tmp/hf" &&
	"$CXLMS" import -q --rule '*_proj.weight:format=int8' "$tmp/hf/model.safetensors" "$S" ||
	{ echo "bench-contexts: convert/import failed"; exit 1; }

# seqs TEMP FIRST_SEED COUNT > FILE: sequences sampled by the full model.
seqs() {
	local s
	for s in $(seq "$2" $(($2 + $3 - 1))); do
		echo "1 $("$CXLMS" run "$S" --tokens 1 -n 63 --temp "$1" --seed "$s" | head -n 1)"
	done
}
seqs 0.6 1 12 >"$tmp/A.cal"; seqs 0.6 1001 6 >"$tmp/A.eval"
seqs 1.6 1 12 >"$tmp/B.cal"; seqs 1.6 1001 6 >"$tmp/B.eval"
# Calibration, two ways, per context:
#  act: `cxlms calibrate` (mean squared input activation per matrix: the
#       expected output error of the matrix, the issue's model);
#  kld: the measured KL divergence on the context's calibration sequences
#       when only that matrix is read at 3 bits, per unit of its squared
#       weight error at 3 bits (importance x sigma^2 x 4^-b is then cxlmsd's
#       estimate of each tile's KLD contribution).
"$CXLMS" calibrate "$S" --tokens "$tmp/A.cal" -o "$tmp/A.act" &&
	"$CXLMS" calibrate "$S" --tokens "$tmp/B.cal" -o "$tmp/B.act" ||
	{ echo "bench-contexts: calibrate failed"; exit 1; }
mats=$(awk '$1 !~ /^#/ { print $1 }' "$tmp/A.act")
for n in $mats; do
	"$CXLMS" fetch "$S" "$n" --all --bits 3 --out f32 -o "$tmp/w3.bin" &&
	"$CXLMS" fetch "$S" "$n" --all --bits 8 --out f32 -o "$tmp/w8.bin" || exit 1
	"$PY" -c 'import sys, numpy as np
a, b = (np.fromfile(f, dtype="<f4").astype(np.float64) for f in sys.argv[1:3])
print(sys.argv[3], a.size * float(np.mean((a - b) ** 2)))' "$tmp/w3.bin" "$tmp/w8.bin" "$n"
done >"$tmp/err3"
for c in A B; do
	while read -r n e; do
		k=$("$CXLMS" eval "$S" --tokens "$tmp/$c.cal" --tensor-bits "$n=3" --json |
			"$PY" -c 'import json,sys; print(json.load(sys.stdin)["kld"])')
		"$PY" -c 'import sys; print(sys.argv[1], max(float(sys.argv[2]), 1e-9) / float(sys.argv[3]))' "$n" "$k" "$e"
	done <"$tmp/err3" >"$tmp/$c.kld"
done

cat >"$tmp/d.conf" <<EOF
[store]
path = $S
default_context = static3

[daemon]
interval_ms = 100000

[context static3]
mode = budget
budget_bits = 3
min_bits = ${MIN_BITS:-2}
rule = *norm* bits=full
rule = model.embed_tokens.weight bits=3
rule = model.layers.0-0.* importance=4
rule = *.self_attn.* importance=4

[context static4]
mode = budget
budget_bits = 4
min_bits = ${MIN_BITS:-2}
rule = *norm* bits=full
rule = model.embed_tokens.weight bits=4
rule = model.layers.0-0.* importance=4
rule = *.self_attn.* importance=4

[context cal3]
mode = budget
budget_bits = 3
min_bits = ${MIN_BITS:-2}
rule = *norm* bits=full
rule = model.embed_tokens.weight bits=3

[context cal4]
mode = budget
budget_bits = 4
min_bits = ${MIN_BITS:-2}
rule = *norm* bits=full
rule = model.embed_tokens.weight bits=4
EOF
"$CXLMSD" -f -c "$tmp/d.conf" -s "$SOCK" 2>"$tmp/d.log" &
dpid=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { echo "bench-contexts: cxlmsd did not start:"; cat "$tmp/d.log"; exit 1; }

# ev CONTEXT_EVAL ARGS...: "kld bytes_per_token" of cxlms eval.
ev() {
	local f=$1
	shift
	"$CXLMS" eval "$S" --tokens "$tmp/$f.eval" --json "$@" |
		"$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["kld"], d["bytes_per_token"])'
}
report() {
	local n v
	while read -r n v; do
		case $n in '#'*|'') continue ;; esac
		"$CXLMS" policy --socket "$SOCK" report "$n" '*' "$v" >/dev/null || return 1
	done <"$1"
	"$CXLMS" policy --socket "$SOCK" sync >/dev/null || return 1
	# The maps the reports gave: bits of each matrix's first tile (cal4).
	[ -n "${BENCH_CONTEXTS_DEBUG:-}" ] && for n in $mats; do
		echo "# $1: $n $("$CXLMS" policy bits --context cal4 "$S" "$n" | head -n 3 | tr '\n' ' ')"
	done >&2
	return 0
}
declare -A R
for b in 3 4; do
	for c in A B; do
		R[flat,$b,$c]=$(ev $c --bits $b)
		R[static,$b,$c]=$(ev $c --bits policy --context static$b)
		R[sigma,$b,$c]=$(ev $c --bits policy --context cal$b)
	done
done
for m in act kld; do
	report "$tmp/A.$m" || { echo "bench-contexts: report failed"; exit 1; }
	for b in 3 4; do
		R[same-$m,$b,A]=$(ev A --bits policy --context cal$b)
		R[other-$m,$b,B]=$(ev B --bits policy --context cal$b)
	done
	report "$tmp/B.$m" || { echo "bench-contexts: report failed"; exit 1; }
	for b in 3 4; do
		R[same-$m,$b,B]=$(ev B --bits policy --context cal$b)
		R[other-$m,$b,A]=$(ev A --bits policy --context cal$b)
	done
done

echo "stories260K, KL divergence vs full precision (nats/token) and weight bytes read per token"
echo "A: sampled at T=0.6, B: at T=1.6; 12 calibration and 6 held-out sequences of 64 tokens each"
printf '%-10s %6s | %-22s | %-22s\n' map budget "context A: KLD  B/tok" "context B: KLD  B/tok"
for b in 3 4; do
	for r in flat static sigma same-act other-act same-kld other-kld; do
		set -- ${R[$r,$b,A]} ${R[$r,$b,B]}
		printf '%-10s %6s | %10.4f %10.0f | %10.4f %10.0f\n' $r $b "$1" "$2" "$3" "$4"
	done
done
for m in act kld; do
	for b in 3 4; do
		for c in A B; do
			set -- ${R[same-$m,$b,$c]} ${R[flat,$b,$c]} ${R[other-$m,$b,$c]} ${R[static,$b,$c]}
			"$PY" -c "import sys; s,f,o,t=map(float,sys.argv[1:5]); print('%s, budget %s, context %s: same/flat %.3f, same/other %.3f, same/static %.3f -> %s' % (sys.argv[5], sys.argv[6], sys.argv[7], s/f, s/o, s/t, 'same-context calibration best' if s < min(f,o,t) else 'NOT best'))" "$1" "$3" "$5" "$7" $m $b $c
		done
	done
done
if [ -n "$json_out" ]; then
	{
		echo "{"
		first=1
		for k in "${!R[@]}"; do
			set -- ${R[$k]}
			[ $first -eq 1 ] || echo ","
			first=0
			printf '  "%s": {"kld": %s, "bytes_per_token": %s}' "$k" "$1" "$2"
		done
		echo; echo "}"
	} >"$json_out"
fi
