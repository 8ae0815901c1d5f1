#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`: write a small transformer-like model as safetensors, import
# it into a cxlms store (int8, groups of 128), then fetch every tensor at
# k = 8..2 bits and print bytes read and error vs the original weights and
# vs round-to-nearest at k bits; two cxlmsd contexts; the Llama engine at
# two contexts (scripts/demo-engine.sh).  docs/demo.md explains the numbers.
#
# Environment: O (build dir, default build), DEMO_DIR (work dir, default
# $O/demo), DEMO_SEED (model seed, default 1), DEMO_JSON=1 for JSON output.
set -euo pipefail
cd "$(dirname "$0")/.."
O=${O:-build}
DIR=${DEMO_DIR:-$O/demo}
SEED=${DEMO_SEED:-1}

for bin in "$O/cxlms" "$O/tools/gen-model" "$O/tools/demo-table"; do
	if [ ! -x "$bin" ]; then
		echo "demo: $bin is not built; run 'make' first" >&2
		exit 1
	fi
done
mkdir -p "$DIR"
MODEL=$DIR/model.safetensors
STORE=$DIR/model.cxlms

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

t0=$(now)
t=$(now)
echo "== 1. gen-model: a Llama-shaped model, heavy-tailed weights (seed $SEED)"
"$O/tools/gen-model" --seed "$SEED" -v "$MODEL" | tail -n 1
echo "   $MODEL, $(stat -c %s "$MODEL") bytes ($(took "$t"))"

t=$(now)
echo "== 2. cxlms import (int8, groups of 128; 1-D norms kept at 16 bits)"
"$O/cxlms" import "$MODEL" "$STORE"
"$O/cxlms" verify "$STORE"
echo "   ($(took "$t"))"

t=$(now)
echo "== 3. fetch every tensor at k = 8..2 bits, compare with the originals"
if [ "${DEMO_JSON:-}" = 1 ]; then
	"$O/tools/demo-table" --json "$MODEL" "$STORE"
else
	"$O/tools/demo-table" "$MODEL" "$STORE"
fi
echo "   ($(took "$t"))"
t=$(now)
echo "== 4. two contexts on one store: cxlmsd + bits=policy"
O=$O daemon/demo-contexts.sh "$MODEL" "$STORE"
echo "   ($(took "$t"))"
t=$(now)
echo "== 5. the reference Llama engine at two contexts on one store (cxlms eval, bits=policy)"
O=$O scripts/demo-engine.sh "$DIR/engine"
echo "   ($(took "$t"))"
echo "== demo done in $(took "$t0"); files in $DIR"
