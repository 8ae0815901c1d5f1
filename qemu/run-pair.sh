#!/usr/bin/env bash
# Two guests at once on ONE CXL backing file: two hosts sharing a pool.
# Each guest is a run.sh instance whose cxl-type3 memdev maps the same
# file (memory-backend-file share=on) with its own label area, and runs
# the payload's multihost-guest.sh: guest A (cxlms.mode=mhost-a) drives
# the module on a store in the region, guest B (mhost-b) rewrites that
# store under it.  See tests/guest/multihost-guest.sh.
#
# Usage: qemu/run-pair.sh --payload DIR [options]
#   --payload DIR    the guest payload (make O=build build/payload)
#   --out DIR        logs, pool and label files (default qemu/build/pair)
#   --quiet-s S      A's quiet period, B joined but not writing (default 3)
#   --attack-s S     how long B rewrites the store (default 15)
#   --wait S         how long each guest waits for the other (default 120)
#   --control        negative control: B only watches; A must see no error
#   --no-share       map the pool privately in each QEMU (share=off): the
#                    guests do not see each other; both are expected to fail
#                    (waiting --wait seconds), showing the test needs sharing
#   --mem SIZE       RAM per guest (default 512M)
#   --timeout SECS   per guest (default 600)
#   -h, --help       this text
#
# The pool (OUT/pool.raw, 256M) and the label files (OUT/a.lsa, OUT/b.lsa)
# are created fresh before either QEMU starts.  Logs: OUT/guest-a.log,
# OUT/guest-b.log; each guest's run.sh exit code in OUT/guest-a.rc, .rc of b.
# Exit: 0 both guests passed, 77 QEMU cannot run here, 1 otherwise.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

usage() { awk '/^# Usage:/ { on = 1 } on && !/^#/ { exit } on { sub(/^# ?/, ""); print }' "$0"; }

payload="" out=$BUILD_DIR/pair quiet_s=3 attack_s=15 wait_s=120 control=0 share=() mem=512M
timeout=600
while [ $# -gt 0 ]; do
	case $1 in
	--payload | --out | --quiet-s | --attack-s | --wait | --mem | --timeout)
		[ $# -ge 2 ] || { echo "run-pair.sh: $1 needs a value" >&2; exit 2; }
		case $1 in
		--payload) payload=$2 ;;
		--out) out=$2 ;;
		--quiet-s) quiet_s=$2 ;;
		--attack-s) attack_s=$2 ;;
		--wait) wait_s=$2 ;;
		--mem) mem=$2 ;;
		--timeout) timeout=$2 ;;
		esac
		shift 2
		;;
	--control) control=1; shift ;;
	--no-share) share=(--no-share); shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run-pair.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
	esac
done
[ -d "$payload" ] || { echo "run-pair.sh: --payload DIR is required" >&2; exit 2; }
[ -f "$payload/multihost-guest.sh" ] || { echo "run-pair.sh: $payload has no multihost-guest.sh" >&2; exit 2; }
for v in "$quiet_s" "$attack_s" "$wait_s" "$timeout"; do
	[[ $v =~ ^[0-9]+$ ]] || { echo "run-pair.sh: seconds must be whole numbers" >&2; exit 2; }
done

mkdir -p "$out"
pool=$out/pool.raw
# Pre-create everything: two run.sh instances must not race to create the
# pool (QEMU 7.2 takes no lock on a memory-backend-file).
rm -f "$pool" "$out/a.lsa" "$out/b.lsa" "$out"/guest-?.rc
truncate -s 256M "$pool"
truncate -s 1M "$out/a.lsa" "$out/b.lsa"

knobs="cxlms.mh_quiet=$quiet_s cxlms.mh_attack=$attack_s cxlms.mh_wait=$wait_s"
[ "$control" = 0 ] || knobs+=" cxlms.mh_control=1"

# guest ROLE: one run.sh; its exit code into OUT/guest-ROLE.rc.
guest() {
	local role=$1 rc=0
	"$QEMU_DIR/run.sh" --quiet --payload "$payload" --pmem "$pool" --lsa "$out/$role.lsa" \
		"${share[@]}" --entry multihost-guest.sh --mode "mhost-$role" --mem "$mem" \
		--append "$knobs" --timeout "$timeout" --log "$out/guest-$role.log" \
		2>"$out/guest-$role.err" || rc=$?
	echo "$rc" >"$out/guest-$role.rc"
}

t0=$(date +%s.%N)
what="attack ${attack_s}s"
[ "$control" = 0 ] || what="control: B only watches ${attack_s}s"
log "pair: two guests on $pool${share[*]:+ (${share[*]})}, quiet ${quiet_s}s, $what"
guest a &
pa=$!
guest b &
pb=$!
wait "$pa" "$pb" || true
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
ra=$(cat "$out/guest-a.rc" 2>/dev/null || echo 125)
rb=$(cat "$out/guest-b.rc" 2>/dev/null || echo 125)
log "pair: guest A rc=$ra, guest B rc=$rb, ${secs}s (logs: $out/guest-a.log, $out/guest-b.log)"
if [ "$ra" = 77 ] || [ "$rb" = 77 ]; then
	exit 77
fi
[ "$ra" = 0 ] && [ "$rb" = 0 ]
