#!/bin/sh
# Guest side of driver/crash-check.sh (busybox sh): crash consistency of
# the store metadata on the CXL region (docs/format.md 1.5).  guest-run.sh
# runs it when the kernel command line says cxlms.mode=crash:STEP.
#
# One backing file, a chain of boots.  Each boot first checks what the
# previous kill left (step >= 1): ATTACH without FORMAT succeeds, every
# tensor sealed before the kill is sealed and fetches byte for byte like
# its store file, and exactly the tensors the kill point allows exist
# (the state of the last complete update, nothing half done).  Then it
# arms debugfs cxlms/crash_after_meta_writes=N (and crash_torn) and runs
# `cxlms copy` of the next store: the module resets the machine right
# after (or in the middle of, torn) its Nth metadata write; QEMU exits
# (-no-reboot) and the host boots the next step on the same file.
#
#   step 0: FORMAT, copy kb/mini-int8 whole; kill the copy of mini-bf16
#   step 1: check; kill the copy of mini-fp16
#   step 2: check; kill the copy of the Llama store (kb/llama.cxlms)
#   step 3: check; a further copy into the recovered store works; detach
#
# A copy makes 6 metadata writes per tensor: CREATE zeroes its CRC array,
# writes the directory copy, then the superblock slot; SEAL writes the CRC
# array, the directory copy, the superblock slot.  After N complete writes
# floor(N/6) tensors are sealed and one more exists unsealed when N % 6 >=
# 3; a torn Nth write leaves the state of N - 1 writes.
#
# Output: TAP lines; "crash: armed" right before the copy that must not
# return.  Exit 0 when every check of this step passed.
cd /payload || exit 1
CLI=./cxlms
DEV=/dev/cxlms0
DBG=/sys/kernel/debug/cxlms
TMP=/tmp/crash
mkdir -p "$TMP"
step=${CXLMS_MODE#crash:}
. ./tap.sh

# The kill plan: step -> store, N, torn (what it tests).
plan() {
	case $1 in
	0) echo "kb/mini-bf16.cxlms 14 1" ;;	# a torn directory write (3rd CREATE)
	1) echo "kb/mini-fp16.cxlms 12 1" ;;	# a torn superblock write (2nd SEAL)
	2) echo "kb/llama.cxlms 15 0" ;;	# right after the 3rd CREATE's superblock
	*) echo "" ;;
	esac
}

names() {
	$CLI info "$1" | awk '/^NAME /{on=1; next} on && NF==0 {on=0} on { print $1 }'
}

full_bits() {
	$CLI info "$1" | awk -v t="$2" '$1 == t { print ($3 == "int8" ? 8 : 16) }'
}

# check_store FILE SEALED UNSEALED: the first SEALED tensors of FILE (in
# copy order) are sealed in the device and fetch like the file; the next
# UNSEALED exist unsealed; the rest do not exist.
check_store() {
	f=$1 want_s=$2 want_u=$3 i=0 bad=0
	names "$DEV" >"$TMP/dev.names"
	for t in $(names "$f"); do
		if [ $i -lt "$want_s" ]; then
			b=$(full_bits "$f" "$t")
			if $CLI fetch $DEV "$t" --all -b "$b" --out planes -o "$TMP/d.bin" 2>"$TMP/err" &&
			   $CLI fetch "$f" "$t" --all -b "$b" --out planes -o "$TMP/f.bin" 2>>"$TMP/err" &&
			   cmp -s "$TMP/d.bin" "$TMP/f.bin"; then
				:
			else
				echo "# $t: sealed before the kill, not intact:"
				sed 's/^/#   /' "$TMP/err"
				bad=1
			fi
		elif [ $i -lt $((want_s + want_u)) ]; then
			if ! grep -qx "$t" "$TMP/dev.names"; then
				echo "# $t: created before the kill, missing"
				bad=1
			elif $CLI fetch $DEV "$t" --all -b 1 --out planes -o "$TMP/d.bin" 2>"$TMP/err" ||
			     ! grep -q 'not sealed' "$TMP/err"; then
				echo "# $t: should be unsealed (its SEAL did not commit)"
				sed 's/^/#   /' "$TMP/err"
				bad=1
			fi
		elif grep -qx "$t" "$TMP/dev.names"; then
			echo "# $t: exists, but its CREATE did not commit before the kill"
			bad=1
		fi
		i=$((i + 1))
	done
	[ $bad = 0 ]
}

# expect N TORN: "SEALED UNSEALED" after a kill at write N.
expect() {
	m=$1
	[ "$2" = 1 ] && m=$((m - 1))
	s=$((m / 6)) u=0
	[ $((m % 6)) -ge 3 ] && u=1
	echo "$s $u"
}

echo "TAP version 13"
echo "# crash step $step, region ${CXLMS_REGION:-none}"
if ! insmod ./cxlms.ko; then
	not_ok "insmod cxlms.ko"
	exit 1
fi
ok "insmod cxlms.ko"
[ -n "${CXLMS_REGION:-}" ] || { not_ok "CXL region provided by qemu/init"; exit 1; }

if [ "$step" = 0 ]; then
	if $CLI attach --region "$CXLMS_REGION" --format >"$TMP/attach" 2>&1; then
		ok "attach the region with FORMAT"
	else
		sed 's/^/# /' "$TMP/attach"
		not_ok "attach the region with FORMAT"
	fi
	if $CLI copy -q kb/mini-int8.cxlms 2>"$TMP/err"; then
		ok "copy kb/mini-int8.cxlms whole"
	else
		sed 's/^/# /' "$TMP/err"
		not_ok "copy kb/mini-int8.cxlms whole"
	fi
else
	# The recovery: ATTACH without FORMAT must succeed.
	if $CLI attach --region "$CXLMS_REGION" >"$TMP/attach" 2>&1 &&
	   grep -q 'existing store, validated' "$TMP/attach"; then
		ok "step $step: ATTACH after the kill of step $((step - 1)) succeeds"
	else
		sed 's/^/# /' "$TMP/attach"
		not_ok "step $step: ATTACH after the kill of step $((step - 1)) succeeds"
		echo "1..$n"
		exit 1
	fi
	dmesg | grep -a 'cxlms: \(attached\|superblock slot\)' | tail -n 2 | sed 's/^/# /'
	if check_store kb/mini-int8.cxlms 99 0 >"$TMP/chk" 2>&1; then
		ok "the store copied whole before any kill is intact"
	else
		cat "$TMP/chk"
		not_ok "the store copied whole before any kill is intact"
	fi
	s=0
	while [ $s -lt "$step" ]; do
		set -- $(plan $s)
		set -- "$1" $(expect "$2" "$3") "$2" "$3"
		if check_store "$1" "$2" "$3" >"$TMP/chk" 2>&1; then
			ok "kill at metadata write $4 (torn $5) in the copy of $1: $2 sealed intact, $3 unsealed, no more"
		else
			cat "$TMP/chk"
			not_ok "kill at metadata write $4 (torn $5) in the copy of $1: $2 sealed intact, $3 unsealed, no more"
		fi
		s=$((s + 1))
	done
	if $CLI verify $DEV >"$TMP/verify" 2>&1; then
		ok "cxlms verify: every sealed tensor's tiles match their CRCs"
	else
		sed 's/^/# /' "$TMP/verify"
		not_ok "cxlms verify: every sealed tensor's tiles match their CRCs"
	fi
fi

next=$(plan "$step")
if [ -n "$next" ] && [ "$fails" = 0 ]; then
	set -- $next
	echo 0 >"$DBG/crash_torn"
	[ "$3" = 1 ] && echo 1 >"$DBG/crash_torn"
	echo "$2" >"$DBG/crash_after_meta_writes"
	echo "crash: armed: copy of $1, reset at metadata write $2 (torn $3)"
	$CLI copy -q "$1" >"$TMP/copy" 2>&1
	# Only reached when the module did not reset the machine.
	sed 's/^/# /' "$TMP/copy"
	not_ok "the module reset the machine during the copy of $1"
	echo "1..$n"
	exit 1
fi
if [ -z "$next" ]; then
	# The recovered store takes new updates: a one-tensor store (as
	# lib-kernel.sh's marker) copied in, over the slot a torn write hit.
	hdr='{"after.crash":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
	while [ $((${#hdr} % 8)) -ne 0 ]; do hdr="$hdr "; done
	{
		printf "\\$(printf %03o ${#hdr})\\000\\000\\000\\000\\000\\000\\000"
		printf '%s' "$hdr"
		printf '\000\000\200\077'
	} >"$TMP/after.safetensors"
	if $CLI import -q --format fp16 "$TMP/after.safetensors" "$TMP/after.cxlms" 2>"$TMP/err" &&
	   $CLI copy -q "$TMP/after.cxlms" 2>>"$TMP/err" &&
	   check_store "$TMP/after.cxlms" 1 0 >"$TMP/chk" 2>&1; then
		ok "the recovered store takes a new copy"
	else
		cat "$TMP/err" "$TMP/chk" | sed 's/^/# /'
		not_ok "the recovered store takes a new copy"
	fi
	$CLI detach >/dev/null 2>&1
	if $CLI attach --region "$CXLMS_REGION" >"$TMP/attach" 2>&1 &&
	   check_store kb/llama.cxlms $(expect 15 0) >"$TMP/chk" 2>&1 &&
	   check_store "$TMP/after.cxlms" 1 0 >>"$TMP/chk" 2>&1 &&
	   $CLI verify $DEV >/dev/null 2>&1; then
		ok "detach and attach again: the same state"
	else
		cat "$TMP/chk" "$TMP/attach" 2>/dev/null | sed 's/^/# /'
		not_ok "detach and attach again: the same state"
	fi
	$CLI detach >/dev/null 2>&1
fi
echo "1..$n"
echo "# crash step $step: $((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
