#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# cxlmsd's run-time inputs over the control socket: engines' read-rate
# reports drive a pressure context down (least important tiles first) and,
# once the rate falls below the low threshold, back up to its fixed map;
# an importance report moves bits in a budget context, seen by a fetching
# process after `sync`.
#
# Exit 0 pass, 77 skip (reason on the last line), anything else fail.
set -uo pipefail
. "$(dirname "$0")/daemon-lib.sh"

make_store
cat >"$CONF" <<CONF
[store]
path = $STORE

[daemon]
interval_ms = 100

[context busy]
mode = pressure
default_bits = 6
min_bits = 2
pressure_high = 10M
pressure_low = 1M
pressure_step = 1
rule = lm_head.weight importance=100

[context lean]
mode = budget
budget_bits = 4
min_bits = 2
objective = relative
CONF
start_daemon

level() { ctl show | awk -v c="$1" '$1 == "context" && $2 == c { print $8 }'; }
avg() { ctl show | awk -v c="$1" '$1 == "context" && $2 == c { print $6 }'; }
bits() { "$PROBE" bits "$STORE" "$1" "$2" | awk '$1 == "generation" { print $4 }'; }

[ "$(level busy)" = 0 ] || fail "pressure level $(level busy) before any load"
[ "$(avg busy)" = 6.00 ] || fail "busy starts at $(avg busy) bits, want the fixed 6.00"

# 10 MB every 20 ms is far above pressure_high: one level up per interval.
# Stop at level 2 (of 4: 6 -> 2 bits in steps of 1).
for _ in $(seq 100); do
	ctl "load 10000000" >/dev/null
	lv=$(level busy)
	[ "${lv:-0}" -ge 2 ] && break
	sleep 0.02
done
[ -n "$lv" ] && [ "$lv" -ge 2 ] || fail "pressure level $lv after sustained load, want >= 2"
# Level and average from one reply: the average went down a step per level.
read -r lv a < <(ctl show | awk '$1 == "context" && $2 == "busy" { print $8, $6 }')
awk -v a="$a" -v l="$lv" 'BEGIN { exit !(l >= 1 && a <= 6.0 - l && a >= 2.0) }' ||
	fail "busy average $a at pressure level $lv"
# The important head keeps more bits than an MLP tile, which lost some
# (both read from one map generation; a level is at most 3 of 4 here).
for _ in $(seq 10); do
	h=$("$PROBE" bits "$STORE" busy lm_head.weight | awk '$1 == "generation" { print $2, $4 }')
	m=$("$PROBE" bits "$STORE" busy model.layers.0.mlp.up_proj.weight |
	    awk '$1 == "generation" { print $2, $4 }')
	[ "${h% *}" = "${m% *}" ] && break
done
[ "${m#* }" -lt 6 ] && [ "${h#* }" -gt "${m#* }" ] ||
	fail "under pressure: lm_head at ${h#* } bits, MLP tile at ${m#* } (generations ${h% *}/${m% *})"

# Silence: the rate falls below pressure_low and the levels unwind.
for _ in $(seq 100); do
	[ "$(level busy)" = 0 ] && break
	sleep 0.05
done
[ "$(level busy)" = 0 ] || fail "pressure level $(level busy) after the load stopped"
[ "$(avg busy)" = 6.00 ] || fail "busy back at $(avg busy) bits, want 6.00"

# Importance: one tile of a tensor made 1000x as important gains bits.
T=model.layers.1.mlp.down_proj.weight
before=$(bits lean "$T")
ctl "report $T 0 1000" "sync" >/dev/null || fail "report/sync refused"
after=$(bits lean "$T")
[ "${after:-0}" -gt "${before:-99}" ] || fail "tile 0 of $T: $before -> $after bits after importance 1000"
awk -v a="$(avg lean)" 'BEGIN { exit !(a <= 4.0) }' || fail "lean average $(avg lean) above its budget"

[ $failed -eq 0 ] || { echo "--- cxlmsd log"; cat "$LOG"; exit 1; }
echo "daemon-pressure: all checks passed"
