# SPDX-License-Identifier: GPL-2.0
# Shared by tests/integ/daemon-*.sh (sourced, not run): a small store, a
# running cxlmsd with its socket in a scratch directory, and helpers.
cd "$(dirname "$0")/../.."
O=${O:-build}
CXLMSD=$O/cxlmsd
PROBE=$O/daemon/cxlms-policy-probe

for bin in "$CXLMSD" "$PROBE" "$O/cxlms" "$O/tools/gen-model"; do
	if [ ! -x "$bin" ]; then
		echo "$bin is not built: run make first"
		exit 1
	fi
done

tmp=$(mktemp -d)
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
failed=0
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

STORE=$tmp/m.cxlms
SOCK=$tmp/cxlmsd.sock
CONF=$tmp/cxlmsd.conf
LOG=$tmp/cxlmsd.log

make_store() {
	"$O/tools/gen-model" --seed 5 --layers 2 "$tmp/m.safetensors" >/dev/null &&
	"$O/cxlms" import -q --no-defaults "$tmp/m.safetensors" "$STORE" >/dev/null ||
		{ echo "FAIL: cannot build the test store"; exit 1; }
}

# Tensor names of the store, one per line.
tensor_names() {
	"$O/cxlms" info --json "$STORE" | grep -o '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'
}

start_daemon() {
	# Under a Type=notify unit cxlmsd says READY=1 once its maps are out.
	rm -f "$tmp/notify"
	"$PROBE" notify-listen "$tmp/notify" >"$tmp/notify.out" &
	local listener=$!
	for _ in $(seq 100); do [ -S "$tmp/notify" ] && break; sleep 0.02; done
	NOTIFY_SOCKET=$tmp/notify "$CXLMSD" -f -c "$CONF" -s "$SOCK" 2>>"$LOG" &
	daemon_pid=$!
	wait "$listener" || fail "no sd_notify message from cxlmsd"
	grep -qx 'READY=1' "$tmp/notify.out" || fail "sd_notify said '$(tail -n1 "$tmp/notify.out")', want READY=1"
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "FAIL: cxlmsd did not start; log:"; cat "$LOG"
	exit 1
}

ctl() { "$PROBE" ctl "$SOCK" "$@"; }

generation() { ctl show | awk '$1 == "generation" { print $2 }'; }

# Wait until the log has grown past $1 lines and contains $2 (5 s at most).
wait_log() {
	local from=$1 what=$2
	for _ in $(seq 100); do
		tail -n +"$((from + 1))" "$LOG" | grep -qF -- "$what" && return 0
		sleep 0.05
	done
	return 1
}
