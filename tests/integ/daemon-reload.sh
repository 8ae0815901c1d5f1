#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# cxlmsd reloads on SIGHUP: a bad main file, a bad drop-in, or a config
# the store cannot serve (a budget below its bounds) each keep the running
# maps (same generation, same bits seen by a fetching process) and log the
# reason with file:line; a good file is applied.  --check-config reports
# the same errors with exit status 1.
#
# Exit 0 pass, 77 skip (reason on the last line), anything else fail.
set -uo pipefail
. "$(dirname "$0")/daemon-lib.sh"

make_store
T=model.layers.1.mlp.up_proj.weight
good_conf() {
	cat >"$CONF" <<CONF
[store]
path = $STORE

[context short]
default_bits = $1
CONF
}
bits_of() { "$PROBE" bits "$STORE" short "$T" | awk '$1 == "generation" { $1 = $2 = ""; print }'; }

good_conf 3
"$CXLMSD" --check-config -c "$CONF" >/dev/null || fail "--check-config refuses a good file"
start_daemon
gen0=$(generation)
bits0=$(bits_of)
[ -n "$gen0" ] && [[ $bits0 == *3* ]] || fail "initial maps: generation '$gen0', bits '$bits0'"

# reload_bad DESCRIPTION EXPECTED-LOG-TEXT: SIGHUP, then nothing may change.
reload_bad() {
	local what=$1 text=$2 from
	from=$(wc -l <"$LOG")
	kill -HUP "$daemon_pid"
	wait_log "$from" "keeping the running policy" || fail "$what: no 'keeping' log line"
	tail -n +"$((from + 1))" "$LOG" | grep -qF -- "$text" || fail "$what: log lacks '$text'"
	[ "$(generation)" = "$gen0" ] || fail "$what: generation moved to $(generation)"
	[ "$(bits_of)" = "$bits0" ] || fail "$what: a fetching process sees new bits $(bits_of)"
	kill -0 "$daemon_pid" || fail "$what: cxlmsd died"
}

# 1. syntax error on line 6 of the main file
good_conf 5
echo "this is not ini" >>"$CONF"
reload_bad "syntax error" "$CONF:6: syntax error"
out=$("$CXLMSD" --check-config -c "$CONF" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ $out == *"$CONF:6: syntax error"* ]] || fail "--check-config: rc $rc, '$out'"

# 2. a bad drop-in (unknown key on its line 2); the main file is fine
good_conf 5
mkdir -p "$CONF.d"
printf '[context short]\nbits = 4\n' >"$CONF.d/50-local.conf"
reload_bad "bad drop-in" "$CONF.d/50-local.conf:2: unknown key 'bits'"
rm "$CONF.d/50-local.conf"

# 3. parses, but the store cannot serve it: budget below the min bounds
cat >"$CONF" <<CONF
[store]
path = $STORE

[context short]
mode = budget
min_bits = 4
budget_bits = 3
CONF
reload_bad "infeasible budget" "budget_bits 3.00 is below the 4.00 bits"

# 4. a store path that does not exist
good_conf 5
sed -i "s|^path = .*|path = $tmp/missing.cxlms|" "$CONF"
reload_bad "missing store" "missing.cxlms"

# 5. a good file is applied: new generation, new bits for the same process
good_conf 6
from=$(wc -l <"$LOG")
kill -HUP "$daemon_pid"
wait_log "$from" "serving $STORE" || fail "good reload not logged"
gen1=$(generation)
[ "$gen1" -gt "$gen0" ] || fail "good reload: generation $gen1 not above $gen0"
[[ $(bits_of) == *6* ]] || fail "good reload: bits $(bits_of), want 6"

# 6. the store file is replaced (re-import renames a new file over it): the
# daemon notices within an interval and publishes maps into the new file.
from=$(wc -l <"$LOG")
"$O/cxlms" import -q --no-defaults "$tmp/m.safetensors" "$STORE" >/dev/null || fail "re-import failed"
wait_log "$from" "store file replaced" || fail "replaced store not noticed"
wait_log "$from" "serving $STORE" || fail "replaced store not served"
[[ $(bits_of) == *6* ]] || fail "replaced store: bits '$(bits_of)', want 6"

kill -TERM "$daemon_pid"; wait "$daemon_pid"; rc=$?; daemon_pid=
[ $rc -eq 0 ] || fail "cxlmsd exit status $rc after SIGTERM"

[ $failed -eq 0 ] || { echo "--- cxlmsd log"; cat "$LOG"; exit 1; }
echo "daemon-reload: all checks passed"
