#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# cxlms run / eval on bad input: each case asserts the exit status
# documented in cxlms(1) and a message naming the cause, on a synthetic
# Llama from tools/gen-model (1 block).  Exit 0 pass, anything else fail.
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
CXLMS=$O/cxlms
[ -x "$CXLMS" ] && [ -x "$O/tools/gen-model" ] || { echo "FAIL: $O/cxlms or gen-model not built"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0 passed=0

# expect RC PATTERN CMD...: exit status RC and stderr matching PATTERN
# (an extended regex; "" : stderr must be empty).
expect() {
	local want=$1 pat=$2 rc
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	local msg_ok=0
	if [ -z "$pat" ]; then [ ! -s "$tmp/err" ] && msg_ok=1
	else grep -qE -- "$pat" "$tmp/err" && msg_ok=1; fi
	if [ "$rc" -eq "$want" ] && [ $msg_ok -eq 1 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: ${*#"$CXLMS "}: exit $rc (want $want), stderr: $(head -c 300 "$tmp/err")"
	fi
}

"$O/tools/gen-model" -l 1 -c "$tmp/config.json" "$tmp/m.safetensors" >/dev/null &&
	"$CXLMS" import -q "$tmp/m.safetensors" "$tmp/m.cxlms" &&
	"$CXLMS" import -q --no-config "$tmp/m.safetensors" "$tmp/nocfg.cxlms" ||
	{ echo "FAIL: setup"; exit 1; }
# Not a Llama model: block 0's tensors renamed (same length: the header keeps its size).
sed 's/model\.layers\.0\./model.blocks.0./g' "$tmp/m.safetensors" >"$tmp/other.safetensors"
cp "$tmp/config.json" "$tmp/other.config.json"
"$CXLMS" import -q --config "$tmp/config.json" "$tmp/other.safetensors" "$tmp/other.cxlms" ||
	{ echo "FAIL: setup (renamed model)"; exit 1; }
printf '1 2 3 4 5 6 7 8 9 10\n' >"$tmp/long.seq"
printf '1 2 4096\n' >"$tmp/oov.seq"
printf '1 2 x3\n' >"$tmp/bad.seq"

expect 0 '' "$CXLMS" run "$tmp/m.cxlms" --tokens 1,2,3 -n 4
grep -qE '^[0-9]+( [0-9]+){3}$' "$tmp/out" && passed=$((passed + 1)) ||
	{ failed=$((failed + 1)); echo "FAIL: run prints 4 token ids on its first line: $(head -n1 "$tmp/out")"; }
expect 8 "no config.json" "$CXLMS" run "$tmp/nocfg.cxlms" --tokens 1
expect 0 '' "$CXLMS" run "$tmp/nocfg.cxlms" --tokens 1 -n 1 --config "$tmp/config.json"
expect 8 "not a Llama model: no tensor 'model.layers.0.self_attn.q_proj.weight'" \
	"$CXLMS" run "$tmp/other.cxlms" --tokens 1
expect 8 "not a Llama model" "$CXLMS" eval "$tmp/other.cxlms" --tokens "$tmp/long.seq"
expect 9 "token 4096 .*outside the vocabulary" "$CXLMS" run "$tmp/m.cxlms" --tokens 1,4096
expect 9 "outside the vocabulary" "$CXLMS" eval "$tmp/m.cxlms" --tokens "$tmp/oov.seq"
expect 10 "10 tokens, the context holds 8" \
	"$CXLMS" eval "$tmp/m.cxlms" --tokens "$tmp/long.seq" --ctx-len 8
expect 10 "do not fit the context of 4" "$CXLMS" run "$tmp/m.cxlms" --tokens 1,2 -n 5 --ctx-len 4
expect 2 "--bits" "$CXLMS" run "$tmp/m.cxlms" --tokens 1 --bits 17
expect 2 "--bits" "$CXLMS" run "$tmp/m.cxlms" --tokens 1 --bits four
expect 2 "matches no weight matrix" "$CXLMS" run "$tmp/m.cxlms" --tokens 1 --bits 4 \
	--tensor-bits 'nothing*=8'
expect 2 "--context needs --bits policy" "$CXLMS" run "$tmp/m.cxlms" --tokens 1 --context a
expect 2 "--tokens is required" "$CXLMS" run "$tmp/m.cxlms"
expect 2 "not a token id" "$CXLMS" run "$tmp/m.cxlms" --tokens 1,-2
expect 2 "bad.seq:1: 'x3' is not a token id" "$CXLMS" eval "$tmp/m.cxlms" --tokens "$tmp/bad.seq"
expect 2 "/dev/null" "$CXLMS" eval "$tmp/m.cxlms" --tokens "$tmp/long.seq" --logits-out /dev/null
expect 1 "no maps published|policy" "$CXLMS" run "$tmp/m.cxlms" --tokens 1 --bits policy
expect 2 "--act" "$CXLMS" run "$tmp/m.cxlms" --tokens 1 --act int4
# Nothing half-written: a failing eval leaves no logits file.
"$CXLMS" eval "$tmp/m.cxlms" --tokens "$tmp/oov.seq" --logits-out "$tmp/l.bin" 2>/dev/null
[ ! -s "$tmp/l.bin" ] || [ "$(stat -c %s "$tmp/l.bin")" -eq 0 ] && passed=$((passed + 1)) ||
	{ failed=$((failed + 1)); echo "FAIL: a failed eval left $(stat -c %s "$tmp/l.bin") bytes of logits"; }

echo "engine-cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
