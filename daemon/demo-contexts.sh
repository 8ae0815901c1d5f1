#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The policy part of `make demo`: one store, two contexts served by cxlmsd,
# an engine-like process fetching every weight with bits=policy under each,
# printing bytes read and whole-model SQNR against the original weights
# per context (signal and error energy summed over every weight).
#
#   daemon/demo-contexts.sh MODEL.safetensors STORE.cxlms
#
# (scripts/demo.sh calls it with the demo's model and store.)  O=build dir.
set -euo pipefail
O=${O:-build}
st=$(realpath "$1")
store=$(realpath "$2")
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/cxlmsd.conf" <<CONF
[store]
path = $store
default_context = quality

# Quality: every plane.
[context quality]
default_bits = full

# Short prompts: 3 bits on average.  Budget mode spends them where they
# remove the most squared error (objective = mse, the default); norms stay
# exact.
[context short]
mode = budget
budget_bits = 3
min_bits = 2
rule = *norm* bits=full

# The same allocation at 4 bits, next to the naive alternative at the
# same traffic: 4 bits on every tile.
[context budget4]
mode = budget
budget_bits = 4
min_bits = 2
rule = *norm* bits=full

[context flat4]
default_bits = 4
rule = *norm* bits=full
CONF

"$O/cxlmsd" --check-config -c "$tmp/cxlmsd.conf" | sed 's/^/  /'
"$O/cxlmsd" -f -c "$tmp/cxlmsd.conf" -s "$tmp/sock" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/sock" ] && break; sleep 0.05; done
[ -S "$tmp/sock" ] || { cat "$tmp/log"; exit 1; }
for ctx in quality short budget4 flat4; do
	"$O/daemon/cxlms-policy-probe" sqnr "$store" "$ctx" "$st"
done
