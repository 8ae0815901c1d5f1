#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The engine part of `make demo`: the reference Llama engine (cxlms eval)
# on one store at two contexts served by cxlmsd, tokens/s and KL divergence
# against full precision for each.  The model: stories260K (a real trained
# Llama, ../shared/models) when it is there, else a synthetic Llama from
# tools/gen-model (random weights: the KLD figures mean little), saying so.
#
#   scripts/demo-engine.sh WORKDIR      (O = build dir)
set -euo pipefail
O=${O:-build}
dir=$1
PY=/usr/bin/python3
STORIES=${CXLMS_SHARED:-../shared}/models/stories260K/stories260K.bin
mkdir -p "$dir"
store=$dir/llama.cxlms
if [ -f "$STORIES" ] && "$PY" -c 'import numpy' 2>/dev/null; then
	echo "   model: stories260K (real, trained: $STORIES)"
	"$PY" tools/llama2c2safetensors.py "$STORIES" "$dir/hf"
	"$O/cxlms" import -q --rule '*_proj.weight:format=int8' "$dir/hf/model.safetensors" "$store"
	vocab=512
else
	echo "   model: synthetic Llama from gen-model (stories260K not found at $STORIES"
	echo "   or no python3-numpy): random weights, so KLD shows error, not quality"
	"$O/tools/gen-model" -l 2 -c "$dir/hf-config.json" "$dir/syn.safetensors" >/dev/null
	"$O/cxlms" import -q --config "$dir/hf-config.json" "$dir/syn.safetensors" "$store"
	vocab=4096
fi
# Sequences the full model samples itself (seeded).
for s in 1 2 3; do
	echo "1 $("$O/cxlms" run "$store" --tokens 1 -n 47 --temp 0.8 --seed $s | head -n 1)"
done >"$dir/seqs.txt"
[ "$vocab" -gt 0 ]

cat >"$dir/engine.conf" <<CONF
[store]
path = $(realpath "$store")
default_context = chat

# Long, quality-sensitive answers: attention and the first block at 8 bits.
[context chat]
default_bits = 6
rule = *norm* bits=full
rule = model.layers.0-0.* bits=8
rule = *.self_attn.* bits=8

# Short, bandwidth-bound requests: 4 bits, attention at 5.
[context short]
default_bits = 4
rule = *norm* bits=full
rule = *.self_attn.* bits=5
CONF
sock=$dir/cxlmsd.sock
rm -f "$sock"
"$O/cxlmsd" -f -c "$dir/engine.conf" -s "$sock" 2>"$dir/cxlmsd.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { echo "cxlmsd did not start:"; cat "$dir/cxlmsd.log"; exit 1; }
printf '   %-8s %12s %14s %12s %8s\n' context "KLD nats/tok" "bytes/token" "tokens/s" top-1
for c in chat short; do
	"$O/cxlms" eval "$store" --tokens "$dir/seqs.txt" --bits policy --context $c --json |
		"$PY" -c 'import json, sys
d = json.load(sys.stdin)
print("   %-8s %12.4f %14.0f %12.1f %8.3f" % (sys.argv[1], d["kld"], d["bytes_per_token"],
      d["tokens_per_s"], d["top1"]))' $c
done
"$O/cxlms" eval "$store" --tokens "$dir/seqs.txt" --json | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
print("   %-8s %12.4f %14.0f %12.1f %8.3f" % ("full", d["kld"], d["bytes_per_token"],
      d["tokens_per_s"], d["top1"]))'
