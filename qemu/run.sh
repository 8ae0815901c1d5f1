#!/usr/bin/env bash
# Boot Debian's 6.1 kernel under QEMU (TCG) with one emulated CXL type-3
# persistent-memory device, run a payload's guest-run.sh, exit with its rc.
#
# Usage: qemu/run.sh [options]
#   --payload DIR    copied to /payload in the guest; /payload/guest-run.sh is run
#   --pmem FILE      device backing file (default qemu/build/pmem.raw; created
#                    sparse, 256M, if absent); its label area is FILE.lsa
#   --lsa FILE       label area file instead of PMEM.lsa (one per guest when
#                    several guests share one --pmem, see run-pair.sh)
#   --no-share       map --pmem privately (share=off): the guest's writes stay
#                    in this QEMU, other guests and the file do not see them
#   --fresh          delete the backing and label files first
#   --boot N         boot number for the guest (cxlms.boot=N, default 1)
#   --mode M         free-form mode string for the guest (cxlms.mode=M)
#   --entry NAME     payload script to run instead of guest-run.sh
#                    (cxlms.entry=NAME; a file name in the payload)
#   --mem SIZE       guest RAM (QEMU -m, default 1G)
#   --append "ARGS"  extra kernel command line arguments
#   --timeout SECS   kill QEMU and fail after SECS (default 600)
#   --log FILE       also write the full serial log to FILE
#   -q, --quiet      do not stream the console (only to --log), print a summary
#   -h, --help       this text
#
# Exit codes: the guest's rc from the "CXLMS-GUEST-RESULT: rc=N" marker
# (0 = pass; 123 = Oops/BUG/WARNING in dmesg; 126 = guest setup failed),
# 124 = timeout, 125 = no marker (kernel panic, QEMU died), 2 = usage,
# 1 = host-side build error, 77 = QEMU unavailable and not installable.
# Env: CXLMS_QEMU_ARGS  extra QEMU arguments (debugging);
#      CXLMS_QEMU_CACHE where downloaded .debs are kept.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

# The header comment from "Usage:" to its end is the help text.
usage() { awk '/^# Usage:/ { on = 1 } on && !/^#/ { exit } on { sub(/^# ?/, ""); print }' "$0"; }

payload="" pmem=$BUILD_DIR/pmem.raw lsa="" share=on fresh=0 boot=1 mode="" entry="" mem=1G
append="" timeout=600 logfile="" quiet=0
while [ $# -gt 0 ]; do
	case $1 in
	--payload | --pmem | --lsa | --boot | --mode | --entry | --mem | --append | --timeout | --log)
		[ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 2; }
		case $1 in
		--payload) payload=$2 ;;
		--pmem) pmem=$2 ;;
		--lsa) lsa=$2 ;;
		--entry) entry=$2 ;;
		--mem) mem=$2 ;;
		--boot) boot=$2 ;;
		--mode) mode=$2 ;;
		--append) append=$2 ;;
		--timeout) timeout=$2 ;;
		--log) logfile=$2 ;;
		esac
		shift 2
		;;
	--fresh) fresh=1; shift ;;
	--no-share) share=off; shift ;;
	-q | --quiet) quiet=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
	esac
done
[[ $boot =~ ^[0-9]+$ ]] || { echo "run.sh: --boot needs a number" >&2; exit 2; }
[[ $timeout =~ ^[0-9]+$ ]] || { echo "run.sh: --timeout needs seconds" >&2; exit 2; }
[[ $mode =~ ^[^[:space:]]*$ ]] || { echo "run.sh: --mode must be one word" >&2; exit 2; }
[[ $entry =~ ^[A-Za-z0-9._-]*$ ]] || { echo "run.sh: --entry must be a file name" >&2; exit 2; }
[[ $mem =~ ^[0-9]+[MG]$ ]] || { echo "run.sh: --mem needs a size like 512M or 1G" >&2; exit 2; }
[ -z "$payload" ] || [ -d "$payload" ] || { echo "run.sh: no such payload dir: $payload" >&2; exit 2; }

t0=$(date +%s.%N)

# Host packages (quiet when present). Without QEMU there is nothing to run: 77.
# Any other missing piece makes a later step fail with its own message.
if ! "$QEMU_DIR/deps.sh"; then
	log "warning: deps.sh failed; going on with what is installed"
fi
command -v qemu-system-x86_64 >/dev/null || { log "QEMU unavailable and not installable"; exit 77; }

# Children skip the package check just done.
export CXLMS_DEPS_CHECKED=1
kver=$("$QEMU_DIR/fetch-kernel.sh")
vmlinux=$BUILD_DIR/vmlinux-$kver

# Per-run files, so that two runs (on different --pmem files) do not collide.
initrd=$(mktemp "$BUILD_DIR/initramfs-run.XXXXXX")
tmplog=""
trap 'rm -f "$initrd" "$tmplog"' EXIT
mkargs=(-o "$initrd")
[ -z "$payload" ] || mkargs+=(--payload "$payload")
"$QEMU_DIR/mkinitramfs.sh" "${mkargs[@]}" >/dev/null

# The device's memory and its label storage area (LSA). Sparse: only what the
# guest writes takes disk space. What the guest wrote is in FILE after QEMU exits.
[ -n "$lsa" ] || lsa=$pmem.lsa
mkdir -p "$(dirname "$pmem")" "$(dirname "$lsa")"
if [ "$fresh" = 1 ]; then
	rm -f "$pmem" "$lsa"
fi
[ -e "$pmem" ] || truncate -s 256M "$pmem"
[ -e "$lsa" ] || truncate -s 1M "$lsa"

cmdline="console=ttyS0 panic=-1 quiet loglevel=4 cxlms.boot=$boot"
[ -z "$mode" ] || cmdline+=" cxlms.mode=$mode"
[ -z "$entry" ] || cmdline+=" cxlms.entry=$entry"
[ -z "$append" ] || cmdline+=" $append"

# q35 with CXL; SeaBIOS (the default) enumerates pxb-cxl, qboot does not.
# The second, empty root port is required: with a single port Linux 6.1 uses a
# pass-through host-bridge decoder and the region reads back zeros.
# The fixed memory window (4G) lands at 0x110000000 in the guest.
# -cpu max: RDRAND lets the guest's crng initialise at once (with the default
# qemu64 model, `cxl create-region` blocks ~1.2 s for random bytes for its
# uuid), and SMAP/SMEP make the guest kernel catch stray user-pointer accesses.
# share=on maps FILE MAP_SHARED: what the guest writes is in the file, and
# other QEMUs mapping the same file see it at once (qemu/run-pair.sh).
qemu=(qemu-system-x86_64 -M "q35,cxl=on" -cpu max -m "$mem" -smp 1 -accel tcg
	-nographic -nodefaults -serial mon:stdio -no-reboot -net none
	-kernel "$vmlinux" -initrd "$initrd" -append "$cmdline"
	-object "memory-backend-file,id=cxl-mem0,share=$share,mem-path=$pmem,size=256M"
	-object "memory-backend-file,id=cxl-lsa0,share=on,mem-path=$lsa,size=1M"
	-device "pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1"
	-device "cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2"
	-device "cxl-rp,port=1,bus=cxl.1,id=root_port14,chassis=0,slot=3"
	-device "cxl-type3,bus=root_port13,memdev=cxl-mem0,lsa=cxl-lsa0,id=cxl-pmem0"
	-M "cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G")
# Extra QEMU arguments for debugging (word-split), e.g. "-s" for a gdb stub.
if [ -n "${CXLMS_QEMU_ARGS:-}" ]; then
	read -r -a extra <<<"$CXLMS_QEMU_ARGS"
	qemu+=("${extra[@]}")
fi

if [ -z "$logfile" ]; then
	tmplog=$(mktemp)
	logfile=$tmplog
fi
mkdir -p "$(dirname "$logfile")"

log "booting $kver (boot=$boot${mode:+ mode=$mode}, pmem=$pmem share=$share, lsa=$lsa, timeout ${timeout}s)"
t1=$(date +%s.%N)
# stdin is /dev/null: QEMU must not touch the terminal. The serial console
# goes to stdout; tee keeps a copy to parse the marker from. sed drops the
# terminal control sequences SeaBIOS sends (ESC c resets the terminal, ESC[?7l
# turns off line wrapping) so they neither garble the user's terminal nor the log.
strip_esc() { sed -u -e 's/\x1bc//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g'; }
set +e
if [ "$quiet" = 1 ]; then
	timeout --kill-after=10 "$timeout" "${qemu[@]}" </dev/null 2>&1 | strip_esc >"$logfile"
else
	timeout --kill-after=10 "$timeout" "${qemu[@]}" </dev/null 2>&1 | strip_esc | tee "$logfile"
fi
qrc=${PIPESTATUS[0]}
set -e
t2=$(date +%s.%N)
times=$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "prep %.1fs, boot %.1fs", b - a, c - b }')

# The serial console ends lines with CR LF; the last marker wins.
marker=$(tr -d '\r' <"$logfile" | grep -a '^CXLMS-GUEST-RESULT: rc=[0-9]*' | tail -n 1 || true)
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	log "FAIL: timeout after ${timeout}s, QEMU killed ($times)"
	exit 124
fi
if [ -z "$marker" ]; then
	[ "$quiet" = 0 ] || tail -n 40 "$logfile" >&2
	log "FAIL: no CXLMS-GUEST-RESULT marker: the guest crashed (kernel panic?) or QEMU failed (qemu rc=$qrc, $times)"
	exit 125
fi
rc=${marker#CXLMS-GUEST-RESULT: rc=}
rc=${rc%%[!0-9]*}
if [ "$rc" = 0 ]; then
	log "PASS: guest rc=0 ($times)"
else
	[ "$quiet" = 0 ] || tail -n 60 "$logfile" >&2
	log "FAIL: guest rc=$rc ($times)"
fi
exit "$rc"
