#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# cxlmsd + an engine-like process (daemon/policy-probe.c) fetching every
# tile with CXLMS_BITS_POLICY: under each context the bytes fetched and the
# bytes read from the store must equal a fetch at the bits the config
# gives each tensor.  The expected bits come from this script's own reading
# of the config (bash patterns), not from cxlmsd.  Switching the store's
# default context over the socket switches a following engine; malformed
# control messages are refused while the daemon keeps serving.
#
# Exit 0 pass, 77 skip (reason on the last line), anything else fail.
set -uo pipefail
. "$(dirname "$0")/daemon-lib.sh"

make_store
cat >"$CONF" <<CONF
[store]
path = $STORE
default_context = quality

[context quality]
default_bits = 8

[context short]
default_bits = 3
rule = *.self_attn.* bits=2
rule = model.layers.0-0.mlp.* bits=5
rule = *norm* bits=full
CONF
start_daemon

# bits each tensor must get, per context, from the config above
expect() {
	local ctx=$1 n
	while read -r n; do
		case $ctx in
		quality) echo "$n=8" ;;
		short)
			case $n in
			*.self_attn.*) echo "$n=2" ;;
			model.layers.0.mlp.*) echo "$n=5" ;;
			*norm*) echo "$n=8" ;;
			*) echo "$n=3" ;;
			esac ;;
		esac
	done < <(tensor_names)
}
mapfile -t want_q < <(expect quality)
mapfile -t want_s < <(expect short)
[ ${#want_q[@]} -gt 10 ] || fail "store lists only ${#want_q[@]} tensors"

"$PROBE" fetch "$STORE" quality "${want_q[@]}" >"$tmp/q.out" || { fail "quality fetch"; cat "$tmp/q.out"; }
"$PROBE" fetch "$STORE" short "${want_s[@]}" >"$tmp/s.out" || { fail "short fetch"; cat "$tmp/s.out"; }
q=$(awk '$1 == "total" { print $3 }' "$tmp/q.out")
s=$(awk '$1 == "total" { print $3 }' "$tmp/s.out")
echo "bytes read: quality $q, short $s"
[ -n "$q" ] && [ -n "$s" ] && [ "$s" -lt "$q" ] || fail "short context must read less than quality ($s vs $q)"

# An engine that follows the default context moves when the daemon switches it.
"$PROBE" fetch "$STORE" - "${want_q[@]}" >/dev/null || fail "default (quality) fetch"
ctl "set-context short" >/dev/null || fail "set-context short refused"
"$PROBE" fetch "$STORE" - "${want_s[@]}" >"$tmp/d.out" || { fail "default after set-context"; cat "$tmp/d.out"; }
grep -q '^context short$' "$tmp/d.out" || fail "default context is not 'short' after set-context"
ctl "set-context nosuch" >/dev/null && fail "set-context of an unknown context accepted"

# The command line: `cxlms policy` and `cxlms fetch --bits policy`.
if "$O/cxlms" policy --help >/dev/null 2>&1; then
	"$O/cxlms" policy --socket "$SOCK" show | grep -q '^context short mode fixed' ||
		fail "cxlms policy show lacks context short"
	"$O/cxlms" fetch "$STORE" lm_head.weight --all --bits policy --context quality \
		--out packed -o "$tmp/p.bin" || fail "cxlms fetch --bits policy failed"
	"$O/cxlms" fetch "$STORE" lm_head.weight --all --bits 8 --out packed -o "$tmp/e.bin" &&
		cmp -s "$tmp/p.bin" "$tmp/e.bin" || fail "fetch --bits policy (quality) != --bits 8"
	"$O/cxlms" fetch "$STORE" lm_head.weight --all --bits policy --context nosuch \
		--out packed -o "$tmp/x.bin" 2>/dev/null && fail "fetch with an unknown context succeeded"
else
	echo "note: this cxlms has no 'policy' command (CLI integration not applied); CLI checks not run"
fi

# Malformed messages: refused, daemon alive and serving.
for bad in "" "bogus" "report" "report x 1" "report no.such.tensor 0 1" \
	   "report lm_head.weight 999 1" "report lm_head.weight 0 -1" "load x" \
	   "set-context a/b" "show extra"; do
	out=$(ctl "$bad"); rc=$?
	[ $rc -eq 1 ] && [[ $out == err* ]] || fail "'$bad' not refused: rc $rc, '$out'"
done
long=$(printf 'a%.0s' $(seq 5000))
out=$(timeout 5 "$PROBE" ctl "$SOCK" "$long"); rc=$?
[ $rc -eq 1 ] && [[ $out == "err E2BIG"* ]] || fail "over-long line: rc $rc, '$out'"
kill -0 "$daemon_pid" || fail "cxlmsd died on malformed input"
ctl show >/dev/null || fail "cxlmsd stopped answering after malformed input"

kill -TERM "$daemon_pid"; wait "$daemon_pid"; rc=$?; daemon_pid=
[ $rc -eq 0 ] || fail "cxlmsd exit status $rc after SIGTERM"
[ -e "$SOCK" ] && fail "socket left behind after exit"

[ $failed -eq 0 ] || { echo "--- cxlmsd log"; cat "$LOG"; exit 1; }
echo "daemon-context: all checks passed"
