# Guest test of precision maps on /dev/cxlms0 (busybox sh).  Sourced by
# guest-run.sh after lib-kernel.sh, with cxlms.ko loaded and no store
# attached: uses its ok/not_ok/step/ksft helpers, one TAP line per check.
# First the kselftest cxlms_policy_test (the ioctls, on a RAM store), then:
#
# cxlmsd -f serves a RAM store holding kb/mini-int8.cxlms and pushes its
# maps with SET_MAP.  The engine-like probe (daemon/policy-probe.c) fetches
# every tile of every tensor with CXLMS_BITS_POLICY under a context and
# again at the bits this script expects for each tensor; output bytes and
# the device's per-tensor read counters must agree exactly.  The expected
# bits come from this script's own reading of the config (case patterns),
# not from cxlmsd.  Then: SIGHUP with a changed config republishes, SIGHUP
# with a broken config keeps the old maps, the daemon still serves.

PL_CXLMS=./cxlms
PL_PROBE=./cxlms-policy-probe
PL_DEV=/dev/cxlms0
PL_TMP=/tmp/pol
PL_CONF=$PL_TMP/cxlmsd.conf
PL_LOG=$PL_TMP/cxlmsd.log
PL_SOCK=$PL_TMP/cxlmsd.sock
pl_pid=
mkdir -p "$PL_TMP"

# The config, with the default bits of context "short" as $1; with $2
# "busy" also a pressure context driven by the device's read counters.
pl_config() {
	# Pressure samples the read rate once per interval: a window of 1 s
	# always holds some of the load's fetches, even under TCG.
	PL_INTERVAL=100
	[ "${2:-}" = busy ] && PL_INTERVAL=1000
	cat >"$PL_CONF" <<CONF
[store]
path = $PL_DEV
default_context = quality

[daemon]
interval_ms = $PL_INTERVAL

[context quality]
default_bits = full

[context short]
default_bits = $1
rule = *.attn.* bits=2
rule = *lm_head* bits=6
CONF
	[ "${2:-}" = busy ] && cat >>"$PL_CONF" <<CONF

[context busy]
mode = pressure
default_bits = 6
min_bits = 2
pressure_high = 8K
pressure_low = 1K
pressure_step = 1
rule = *lm_head* importance=100
CONF
	return 0
}

# NAME=BITS for every tensor under context $1 (short's default bits $2).
pl_expect() {
	for n in $($PL_CXLMS info $PL_DEV | awk '/^NAME /{on=1; next} on && NF {print $1}'); do
		case $1 in
		quality) echo "$n=8" ;;
		short)
			case $n in
			*.attn.*) echo "$n=2" ;;
			*lm_head*) echo "$n=6" ;;
			*) echo "$n=$2" ;;
			esac ;;
		esac
	done
}

pl_attach() {
	$PL_CXLMS attach --ram 8M --format >/dev/null &&
		$PL_CXLMS copy -q kb/mini-int8.cxlms >/dev/null
}

# Wait (5 s at most) until maps of a generation other than $1 are out.
pl_wait_gen() {
	i=0
	while [ $i -lt 100 ]; do
		i=$((i + 1))
		g=$($PL_PROBE bits $PL_DEV short int8.lm_head.weight 2>/dev/null |
		    awk '$1 == "generation" { print $2 }')
		[ -n "$g" ] && [ "$g" != "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

pl_generation() {
	$PL_PROBE bits $PL_DEV short int8.lm_head.weight | awk '$1 == "generation" { print $2 }'
}

pl_start() {
	pl_config 3
	./cxlmsd -f -c "$PL_CONF" -s "$PL_SOCK" 2>"$PL_LOG" &
	pl_pid=$!
	pl_wait_gen 0 || { sed 's/^/# /' "$PL_LOG"; return 1; }
	kill -0 "$pl_pid"
}

# pl_fetch CONTEXT SHORT_DEFAULT: probe output in $PL_TMP/CONTEXT.out,
# total bytes read in $pl_total.
pl_fetch() {
	$PL_PROBE fetch $PL_DEV "$1" $(pl_expect "$1" "$2") >"$PL_TMP/$1.out"
	rc=$?
	sed 's/^/# /' "$PL_TMP/$1.out"
	pl_total=$(awk '$1 == "total" && $3 == $5 { print $3 }' "$PL_TMP/$1.out")
	[ $rc -eq 0 ] && [ -n "$pl_total" ] && [ "$pl_total" -gt 0 ]
}

pl_two_contexts() {
	pl_fetch quality 3 || return 1
	q=$pl_total
	pl_fetch short 3 || return 1
	s=$pl_total
	echo "# policy: bytes read per full pass: quality $q, short $s"
	[ "$s" -lt "$q" ]
}

# The CLI: `cxlms policy show` talks to this cxlmsd, `policy bits` reads
# the device's maps (lm_head: 9 tiles
# at 6 bits under short); fetch --bits policy --context short == --bits 6.
pl_cli() {
	$PL_CXLMS policy --socket "$PL_SOCK" show | grep -q '^context short mode fixed' &&
	$PL_CXLMS policy --context short bits $PL_DEV int8.lm_head.weight >"$PL_TMP/bits" &&
	[ "$(grep -c '^tile [0-9]* bits 6$' "$PL_TMP/bits")" = 9 ] &&
	[ "$(grep -c '^tile ' "$PL_TMP/bits")" = 9 ] &&
	$PL_CXLMS fetch $PL_DEV int8.lm_head.weight --all --bits policy --context short \
		--out packed -o "$PL_TMP/p.bin" &&
	$PL_CXLMS fetch $PL_DEV int8.lm_head.weight --all --bits 6 --out packed \
		-o "$PL_TMP/e.bin" &&
	cmp -s "$PL_TMP/p.bin" "$PL_TMP/e.bin" &&
	! $PL_CXLMS fetch $PL_DEV int8.lm_head.weight --all --bits policy --context nosuch \
		--out packed -o "$PL_TMP/x.bin" 2>/dev/null
}

# SIGHUP with short's default at 4: a new generation, the new bits.
pl_reload_good() {
	g0=$(pl_generation)
	pl_config 4
	kill -HUP "$pl_pid"
	pl_wait_gen "$g0" && pl_fetch short 4
}

# SIGHUP with a broken file (that would also move short's default to 5):
# logged with file:line, same generation, same bits, the daemon alive.
pl_reload_bad() {
	g0=$(pl_generation)
	lines=$(wc -l <"$PL_LOG")
	pl_config 5
	echo "rule = *.ffn.* bits=banana" >>"$PL_CONF"
	kill -HUP "$pl_pid"
	i=0
	while [ $i -lt 100 ]; do
		i=$((i + 1))
		tail -n +"$((lines + 1))" "$PL_LOG" | grep -q "cxlmsd.conf:[0-9]" && break
		sleep 0.05
	done
	tail -n +"$((lines + 1))" "$PL_LOG" | sed 's/^/# /'
	tail -n +"$((lines + 1))" "$PL_LOG" | grep -q "cxlmsd.conf:[0-9]" &&
		kill -0 "$pl_pid" && [ "$(pl_generation)" = "$g0" ] && pl_fetch short 4
}

pl_ctl() { $PL_PROBE ctl "$PL_SOCK" "$@"; }
pl_level() { pl_ctl show | awk '$1 == "context" && $2 == "busy" { print $8 }'; }

# Pressure from the device's own counters (no engine reports): fetching in
# a loop raises busy's level and takes bits from the MLP tiles first;
# silence brings it back to level 0.  The load runs in the background,
# without pause, so that no sampling window is empty (an empty window
# reads as idle and lowers the level again); one pass reads ~25 KB, the
# threshold is 8 KB/s, and idle is 0.
pl_load() {
	while :; do
		$PL_PROBE fetch $PL_DEV quality $(pl_expect quality) >/dev/null || exit 1
	done
}

pl_pressure() {
	g0=$(pl_generation)
	pl_config 4 busy
	kill -HUP "$pl_pid"
	pl_wait_gen "$g0" || return 1
	[ "$(pl_level)" = 0 ] || return 1
	pl_load &
	load_pid=$!
	# The level shows in `show` before the maps of that level are
	# published: keep the load on until the published bits follow too.
	i=0 lv=0 up=
	while [ $i -lt 600 ] && kill -0 $load_pid 2>/dev/null &&
		{ [ "${lv:-0}" -lt 2 ] || [ "${up:-6}" -ge 6 ]; }; do
		i=$((i + 1))
		sleep 0.2
		lv=$(pl_level)
		up=$($PL_PROBE bits $PL_DEV busy int8.blk0.ffn.up.weight | awk '$1 == "generation" { print $4 }')
	done
	head=$($PL_PROBE bits $PL_DEV busy int8.lm_head.weight | awk '$1 == "generation" { print $4 }')
	kill $load_pid 2>/dev/null
	wait $load_pid 2>/dev/null
	echo "# policy: pressure level $lv after $i polls: ffn.up tile 0 at $up bits, lm_head at $head"
	[ "${lv:-0}" -ge 2 ] && [ -n "$up" ] && [ "$up" -lt 6 ] && [ "$head" -gt "$up" ] || return 1
	i=0
	while [ $i -lt 300 ] && [ "$(pl_level)" != 0 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	[ "$(pl_level)" = 0 ]
}

pl_stop() {
	if [ -n "$pl_pid" ]; then
		kill "$pl_pid" 2>/dev/null
		wait "$pl_pid"
		kill -0 "$pl_pid" 2>/dev/null && return 1
		pl_pid=
	fi
	$PL_CXLMS detach >/dev/null
}

echo "# policy: SET_MAP/SET_CONTEXT/GET_MAP, FETCH with CXLMS_BITS_POLICY (kselftest)"
ksft cxlms_policy_test ram
echo "# policy: cxlmsd pushing precision maps to $PL_DEV"
if step "policy: RAM store with kb/mini-int8.cxlms on $PL_DEV" pl_attach; then
	if step "policy: cxlmsd -f on $PL_DEV publishes maps (SET_MAP)" pl_start; then
		step "policy: --bits policy under quality and short = explicit bits from the config (bytes, STATS); short reads less" \
			pl_two_contexts
		step "policy: cxlms policy bits and cxlms fetch --bits policy on $PL_DEV (short == --bits 6); unknown context fails" \
			pl_cli
		step "policy: SIGHUP with a changed config: new generation, new bits" pl_reload_good
		step "policy: SIGHUP with a bad config: error with file:line, old maps kept" pl_reload_bad
		step "policy: pressure context driven by the device's read counters: down under load, back when idle" \
			pl_pressure
	fi
	step "policy: cxlmsd stops; detach drops the store" pl_stop
fi
