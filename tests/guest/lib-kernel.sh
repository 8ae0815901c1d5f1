# Guest tests of libcxlms' kernel backend and `cxlms attach/detach/copy`
# (busybox sh).  Sourced by guest-run.sh after its own steps, with
# cxlms.ko loaded and no store attached: uses its ok/not_ok/step helpers,
# so every check is one TAP line of the same run.
#
# The stores: kb/mini-{int8,bf16,fp16}.cxlms, imported on the host from
# tests/guest/gen-mini-model (tensor names prefixed by the variant).
#
# Where: the upper half of the CXL region (--offset).  guest-run.sh's own
# persistence test keeps cxlms-guest-store's known store at the start of
# the region (it uses its first few MiB) and compares it across the
# reboot, so both stores survive boot 1 -> boot 2 side by side.
#   boot 1: region attach errors; the known store is readable through
#           libcxlms; format the upper half, copy the three stores, refuse
#           a duplicate; info/verify; every tensor fetched with `cxlms
#           fetch` from /dev/cxlms0 == from the file (outputs, recons, k
#           from 1 to all planes), the device's --stats equal the file's
#           (exactly k planes read); cxlms-kb-compare: every k x out x
#           recon in one process, and cxlms_gemv()/cxlms_gemm() on both
#           (y bit-identical, the same k planes counted); `cxlms view` of
#           every tensor from the device == from the file; a view mapped
#           with its fd closed pins the module;
#           libcxlms' fetch unit test on the kernel backend; detach
#           (boot 1 also records the store's uuid in the store itself, as
#           the name of a one-element marker tensor, see lk_mark_uuid)
#   boot 2: attach without format: the copied store is there with the
#           uuid boot 1 recorded, verify, fetches equal the files' again;
#           detach
# Exit codes of cxlms: 0 ok, 1 error, 2 usage (an unsupported precision).

LK_CXLMS=./cxlms
LK_DEV=/dev/cxlms0
LK_VARIANTS="int8 bf16 fp16"
LK_TMP=/tmp/lk
mkdir -p "$LK_TMP"
# Half the region, page aligned: bytes for --offset.
lk_half=$(( ${CXLMS_REGION_SIZE:-0} / 2 / 4096 * 4096 ))

lk_file() { echo "kb/mini-$1.cxlms"; }

# Tensor rows of `cxlms info` (name .. stored bytes), blanks squeezed.
lk_rows() {
	$LK_CXLMS info "$1" | awk '/^NAME /{on=1; next} on && NF==0 {on=0} on' | tr -s ' '
}

lk_uuid() {
	$LK_CXLMS info "$1" | awk '$1 == "uuid:" { print $2 }'
}

# Attaching the device with no store must say so and exit 1.
lk_no_store() {
	$LK_CXLMS info $LK_DEV >/dev/null 2>"$LK_TMP/err"
	rc=$?
	[ $rc -eq 1 ] && grep -q 'no store attached' "$LK_TMP/err"
}

# An unknown region is named in the error, exit 1, nothing attached.
lk_bad_region() {
	$LK_CXLMS attach --region region97 >/dev/null 2>"$LK_TMP/err"
	rc=$?
	cat "$LK_TMP/err" | sed 's/^/# /'
	[ $rc -eq 1 ] && grep -q 'region97' "$LK_TMP/err" && lk_no_store
}

# A range that is not page aligned or runs past the region: refused by
# libcxlms before the module sees it, exit 1, nothing attached.
lk_bad_range() {
	for args in "--offset 4097" "--offset $((CXLMS_REGION_SIZE))" \
		    "--offset $lk_half --size $((lk_half + 4096))"; do
		$LK_CXLMS attach --region "$CXLMS_REGION" $args >/dev/null 2>"$LK_TMP/err"
		rc=$?
		sed 's/^/# /' "$LK_TMP/err" | head -n 1
		[ $rc -eq 1 ] && grep -q "$CXLMS_REGION: offset" "$LK_TMP/err" || return 1
	done
	lk_no_store
}

# guest-run.sh's known store (raw ioctls) read through libcxlms: same
# tensors by name, every tile CRC fine.
lk_known_store() {
	$LK_CXLMS attach --region "$CXLMS_REGION" >"$LK_TMP/attach" || return 1
	sed 's/^/# /' "$LK_TMP/attach"
	ok_=0
	grep -q 'existing store, validated' "$LK_TMP/attach" &&
		$LK_CXLMS info $LK_DEV >"$LK_TMP/info" &&
		grep -q '^backend:  kernel' "$LK_TMP/info" &&
		[ "$(grep -c '^persist\.' "$LK_TMP/info")" = 4 ] &&
		$LK_CXLMS verify $LK_DEV >/dev/null && ok_=1
	# Attached already: a second attach is refused and says why.
	$LK_CXLMS attach --region "$CXLMS_REGION" >/dev/null 2>"$LK_TMP/err" && ok_=0
	grep -q 'attached already' "$LK_TMP/err" || ok_=0
	$LK_CXLMS detach >/dev/null || ok_=0
	[ $ok_ = 1 ]
}

lk_attach_mine() {
	$LK_CXLMS attach --region "$CXLMS_REGION" --offset "$lk_half" "$@" \
		>"$LK_TMP/attach" || return 1
	sed 's/^/# /' "$LK_TMP/attach"
}

# A second copy of a store whose names exist: refused, nothing written.
lk_copy_dup() {
	before=$($LK_CXLMS info $LK_DEV | awk '$1 == "tensors:" { print $2 }')
	$LK_CXLMS copy -q "$(lk_file int8)" >/dev/null 2>"$LK_TMP/err"
	rc=$?
	after=$($LK_CXLMS info $LK_DEV | awk '$1 == "tensors:" { print $2 }')
	sed 's/^/# /' "$LK_TMP/err"
	[ $rc -eq 1 ] && grep -q "'int8.embed.weight' exists already" "$LK_TMP/err" &&
		[ -n "$before" ] && [ "$before" = "$after" ]
}

# The device lists exactly the three files' tensors, in copy order.
lk_same_tensors() {
	: >"$LK_TMP/want"
	for v in $LK_VARIANTS; do
		lk_rows "$(lk_file "$v")" >>"$LK_TMP/want"
	done
	# Not the marker tensor, not the engine's Llama (lk_engine).
	lk_rows $LK_DEV | grep -v -e '^boot1\.uuid\.' -e '^model\.' -e '^lm_head\.' >"$LK_TMP/got"
	[ -s "$LK_TMP/want" ] && cmp -s "$LK_TMP/want" "$LK_TMP/got"
}

# lk_cmp FILE TENSOR K OUT RECON: the same fetch from the device and the
# file: identical bytes, identical counters (--stats: the library computes
# the file's from the codec layout, the module counts what it read), and
# the device read planes 0..K-1 and nothing else.
lk_cmp() {
	$LK_CXLMS stats --reset $LK_DEV >/dev/null || return 1
	$LK_CXLMS fetch $LK_DEV "$2" --all -b "$3" --out "$4" -r "$5" --stats \
		-o "$LK_TMP/d.bin" >"$LK_TMP/d.st" 2>&1 || return 1
	$LK_CXLMS fetch "$1" "$2" --all -b "$3" --out "$4" -r "$5" --stats \
		-o "$LK_TMP/f.bin" >"$LK_TMP/f.st" 2>&1 || return 1
	cmp -s "$LK_TMP/d.bin" "$LK_TMP/f.bin" && cmp -s "$LK_TMP/d.st" "$LK_TMP/f.st" &&
		awk -v k="$3" '$1 == "plane" { p = $2; sub(":", "", p); p += 0
			if ((p < k) != ($3 > 0)) bad = 1; n++ }
			END { exit bad || n < k }' "$LK_TMP/d.st"
}

# lk_each_combo INT8_COMBOS 16_COMBOS FN: FN FILE TENSOR COMBO for every
# tensor of every variant and each combo of its format class, counted in
# lk_n; lk_bad counts the calls that failed (FN says what differs).
lk_each_combo() {
	lk_n=0 lk_bad=0
	for v in $LK_VARIANTS; do
		f=$(lk_file "$v")
		if [ "$v" = int8 ]; then combos=$1; else combos=$2; fi
		for t in $(lk_rows "$f" | cut -d' ' -f1); do
			for c in $combos; do
				lk_n=$((lk_n + 1))
				"$3" "$f" "$t" "$c" || lk_bad=$((lk_bad + 1))
			done
		done
	done
}

# lk_fetch_cli COMBOS...: every tensor of every variant fetched through the
# CLI for each "K OUT RECON" of its format class; together they cover every
# output, every recon and k from 1 to all planes.  cxlms-kb-compare does
# the exhaustive matrix in one process (a process per fetch is slow in TCG).
LK_INT8_COMBOS="1:planes:floor 3:packed:table 5:f32:midpoint 8:int:default 2:bf16:floor"
LK_16_COMBOS="3:planes:floor 6:packed:midpoint 9:f32:default 12:bf16:floor 16:int:midpoint"
lk_fetch_cli() {
	lk_each_combo "${1:-$LK_INT8_COMBOS}" "${2:-$LK_16_COMBOS}" lk_fetch_one
	echo "# lib-kernel: $lk_n CLI fetches compared, $lk_bad differ"
	[ "$lk_bad" -eq 0 ] && [ "$lk_n" -gt 0 ]
}

# lk_fetch_one FILE TENSOR K:OUT:RECON: lk_cmp, what differs printed.
lk_fetch_one() {
	k=${3%%:*} r=${3##*:} o=${3#*:}
	o=${o%%:*}
	lk_cmp "$1" "$2" "$k" "$o" "$r" && return 0
	echo "# mismatch: $2 k=$k out=$o recon=$r"
	sed 's/^/#   /' "$LK_TMP/d.st" | head -n 5
	return 1
}

# cxlms fetch --rows --verify from the device == from the file, for every
# tensor: rows across the first tile boundary (row 0 of a one-tile
# tensor), packed output with side data at 3 bits, and int at full planes.
lk_rows_verify() {
	lk_n=0 lk_bad=0
	for v in $LK_VARIANTS; do
		f=$(lk_file "$v")
		if [ "$v" = int8 ]; then full=8; else full=16; fi
		lk_rows "$f" | while read -r t _ _ _ _ tiles _; do
			n=${tiles%%x*} tr=${tiles##*x}
			if [ "$n" -ge 2 ]; then r="$((tr - 1)):2"; else r="0:1"; fi
			for c in "3 packed" "$full int"; do
				set -- $c
				$LK_CXLMS fetch $LK_DEV "$t" --rows "$r" -b "$1" --out "$2" --verify \
					-o "$LK_TMP/rd.bin" 2>"$LK_TMP/rd.err" &&
				$LK_CXLMS fetch "$f" "$t" --rows "$r" -b "$1" --out "$2" \
					-o "$LK_TMP/rf.bin" 2>>"$LK_TMP/rd.err" &&
				cmp -s "$LK_TMP/rd.bin" "$LK_TMP/rf.bin" ||
					{ echo "# rows mismatch: $t --rows $r -b $1 --out $2"
					  sed 's/^/#   /' "$LK_TMP/rd.err"; echo bad; }
			done
		done
	done >"$LK_TMP/rows.log"
	grep -v '^bad$' "$LK_TMP/rows.log"
	! grep -q '^bad$' "$LK_TMP/rows.log"
}

# The exhaustive comparison: every k, out, recon of every tensor, bytes
# and counters, through libcxlms in one process.
lk_compare_all() {
	./cxlms-kb-compare $LK_DEV $(for v in $LK_VARIANTS; do lk_file "$v"; done) \
		>"$LK_TMP/cmp" 2>&1
	rc=$?
	head -n 20 "$LK_TMP/cmp" | sed 's/^\([^#]\)/# \1/'
	[ $rc -eq 0 ]
}

# Device-wide counters: a known fetch adds exactly its bytes.
lk_device_stats() {
	$LK_CXLMS stats --reset $LK_DEV >/dev/null || return 1
	$LK_CXLMS fetch $LK_DEV int8.lm_head.weight --all -b 2 --out f32 --stats \
		-o "$LK_TMP/d.bin" >"$LK_TMP/d.st" || return 1
	$LK_CXLMS stats $LK_DEV >"$LK_TMP/stats" || return 1
	sed 's/^/# /' "$LK_TMP/stats" | head -n 5
	want=$(awk '$1 == "read" { print $3 }' "$LK_TMP/d.st")
	got=$(awk '$1 == "read" { print $3 }' "$LK_TMP/stats")
	! grep -q 'per process' "$LK_TMP/stats" && grep -q '^backend:     kernel' "$LK_TMP/stats" &&
		[ -n "$want" ] && [ "$want" = "$got" ] && [ "$want" -gt 0 ]
}

# cxlms view from the device (VIEW_CREATE + mmap, the module fills the
# pages) == from the file (userfaultfd) for every tensor, a packed and an
# integer layout each.
LK_INT8_VIEWS="packed:3 int8:5 int8:8"
LK_16_VIEWS="packed:6 int16:12 packed:16"
lk_view() {
	lk_each_combo "$LK_INT8_VIEWS" "$LK_16_VIEWS" lk_view_one
	echo "# lib-kernel: $lk_n views compared, $lk_bad differ"
	[ "$lk_bad" -eq 0 ] && [ "$lk_n" -gt 0 ]
}

# lk_view_one FILE TENSOR LAYOUT:K: the view from the device == from FILE.
lk_view_one() {
	$LK_CXLMS view $LK_DEV "$2" --layout "${3%%:*}" -b "${3##*:}" \
		-o "$LK_TMP/vd.bin" 2>"$LK_TMP/ve" &&
	$LK_CXLMS view "$1" "$2" --layout "${3%%:*}" -b "${3##*:}" \
		-o "$LK_TMP/vf.bin" 2>>"$LK_TMP/ve" &&
	cmp -s "$LK_TMP/vd.bin" "$LK_TMP/vf.bin" && return 0
	echo "# view mismatch: $2 $3"
	sed 's/^/#   /' "$LK_TMP/ve" | head -n 3
	return 1
}

# A view mapped by a process that closed its fd pins the module and the
# store: rmmod and DETACH are refused, reclaim (drop_caches) drops its
# pages, and the next loads decode the same bytes again.
lk_view_hold() {
	rm -f "$LK_TMP/go"
	mkfifo "$LK_TMP/go" || return 1
	./cxlms-guest-store view-hold <"$LK_TMP/go" >"$LK_TMP/hold" 2>&1 &
	pid=$!
	exec 4>"$LK_TMP/go"
	i=0
	while ! grep -q '^mapped' "$LK_TMP/hold" && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	good=1
	grep -q '^mapped' "$LK_TMP/hold" || good=0
	rmmod cxlms 2>/dev/null && good=0
	$LK_CXLMS detach >/dev/null 2>"$LK_TMP/err" && good=0
	echo 2 >/proc/sys/vm/drop_caches
	exec 4>&-
	wait $pid
	rc=$?
	sed 's/^/# /' "$LK_TMP/hold" "$LK_TMP/err"
	[ $good -eq 1 ] && [ $rc -eq 0 ] && lsmod | grep -q '^cxlms '
}

# Record the uuid in the store: copy in a one-element tensor named
# boot1.uuid.<uuid>, imported from a safetensors file written here.
lk_mark_uuid() {
	u=$(lk_uuid $LK_DEV)
	[ -n "$u" ] || return 1
	hdr="{\"boot1.uuid.$u\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
	while [ $((${#hdr} % 8)) -ne 0 ]; do hdr="$hdr "; done
	# 8-byte little-endian header length (< 256 here), header, 1.0f.
	{
		printf "\\$(printf %03o ${#hdr})\\000\\000\\000\\000\\000\\000\\000"
		printf '%s' "$hdr"
		printf '\000\000\200\077'
	} >"$LK_TMP/mark.safetensors"
	$LK_CXLMS import -q --format fp16 "$LK_TMP/mark.safetensors" "$LK_TMP/mark.cxlms" &&
		$LK_CXLMS copy -q "$LK_TMP/mark.cxlms"
}

# Boot 2: the marker names the uuid the store has now.
lk_check_uuid() {
	u=$(lk_uuid $LK_DEV)
	mark=$(lk_rows $LK_DEV | grep '^boot1\.uuid\.' | cut -d' ' -f1)
	echo "# lib-kernel: uuid $u, boot 1 recorded '$mark'"
	[ -n "$u" ] && [ "$mark" = "boot1.uuid.$u" ]
}

# libcxlms' own fetch unit test with its store copied into a RAM store.
lk_unit_fetch() {
	[ -x ./test_lib_fetch ] || { echo "# test_lib_fetch not in the payload"; return 1; }
	CXLMS_TEST_DEVICE=$LK_DEV CMOCKA_MESSAGE_OUTPUT=TAP ./test_lib_fetch \
		>"$LK_TMP/unit" 2>&1
	rc=$?
	sed 's/^/    /' "$LK_TMP/unit"
	[ $rc -eq 0 ]
}

# The reference Llama engine on the device: `cxlms run` on /dev/cxlms0
# (config.json given with --config: the device keeps no metadata) prints
# the same tokens as on the store file, greedy, at 4 bits and at full
# precision (kb/llama.cxlms: tools/gen-model -l 1, copied in boot 1).
lk_engine() {
	for b in 4 full; do
		$LK_CXLMS run $LK_DEV --config kb/llama.json --tokens 1,2,3 -n 6 --bits $b \
			>"$LK_TMP/rd" 2>"$LK_TMP/re" &&
		$LK_CXLMS run kb/llama.cxlms --tokens 1,2,3 -n 6 --bits $b >"$LK_TMP/rf" 2>>"$LK_TMP/re" ||
			{ sed 's/^/# /' "$LK_TMP/re"; return 1; }
		echo "# engine --bits $b: device '$(head -n 1 "$LK_TMP/rd")', file '$(head -n 1 "$LK_TMP/rf")'"
		[ -s "$LK_TMP/rd" ] && [ "$(head -n 1 "$LK_TMP/rd")" = "$(head -n 1 "$LK_TMP/rf")" ] ||
			return 1
	done
	# Without --config the device's missing metadata is named (exit 8).
	$LK_CXLMS run $LK_DEV --tokens 1 -n 1 >/dev/null 2>"$LK_TMP/re"
	[ $? -eq 8 ] && grep -q 'no metadata' "$LK_TMP/re"
}

echo "# lib-kernel: libcxlms kernel backend, cxlms attach/copy (boot ${CXLMS_BOOT:-1})"
if [ -z "${CXLMS_REGION:-}" ] || [ "$lk_half" -lt $((16 << 20)) ]; then
	not_ok "lib-kernel: no CXL region (CXLMS_REGION/CXLMS_REGION_SIZE)"
elif [ "${CXLMS_BOOT:-1}" = 1 ]; then
	step "lib-kernel: no store attached: cxlms info $LK_DEV exits 1 and says so" lk_no_store
	step "lib-kernel: cxlms attach --region region97: exit 1 naming it (libcxl lookup)" lk_bad_region
	step "lib-kernel: cxlms attach --offset/--size outside the region or unaligned: exit 1" lk_bad_range
	step "lib-kernel: cxlms attach --region $CXLMS_REGION finds the known store; info/verify; second attach refused; detach" \
		lk_known_store
	if lk_attach_mine --format; then
		ok "lib-kernel: cxlms attach --region $CXLMS_REGION --offset $lk_half --format"
		for v in $LK_VARIANTS; do
			step "lib-kernel: cxlms copy $(lk_file "$v") $LK_DEV" \
				$LK_CXLMS copy -q "$(lk_file "$v")"
		done
		step "lib-kernel: copy of existing names refused (EEXIST), nothing written" lk_copy_dup
		step "lib-kernel: cxlms info $LK_DEV lists the files' tensors" lk_same_tensors
		step "lib-kernel: cxlms verify $LK_DEV" $LK_CXLMS verify $LK_DEV
		step "lib-kernel: cxlms fetch $LK_DEV == file (bytes, --stats) for every tensor, out, recon, k 1..max; exactly k planes read" \
			lk_fetch_cli
		step "lib-kernel: libcxlms kernel == file backend: every tensor x k x out x recon, bytes and counters; cxlms_gemv/gemm y and counters" \
			lk_compare_all
		step "lib-kernel: cxlms fetch --rows --verify $LK_DEV == file --rows for every tensor" \
			lk_rows_verify
		step "lib-kernel: cxlms copy kb/llama.cxlms $LK_DEV (the engine's Llama)" \
			$LK_CXLMS copy -q kb/llama.cxlms
		step "lib-kernel: cxlms run on $LK_DEV == on the file (same tokens, 4 bits and full)" lk_engine
		step "lib-kernel: cxlms view $LK_DEV == file for every tensor (packed and integer layouts)" lk_view
		step "lib-kernel: a view mapped after close pins the module (rmmod and DETACH refused), survives reclaim" \
			lk_view_hold
		step "lib-kernel: cxlms stats $LK_DEV: device-wide counters" lk_device_stats
		step "lib-kernel: store uuid recorded in the store for boot 2" lk_mark_uuid
		echo "# lib-kernel: store uuid $(lk_uuid $LK_DEV)"
		step "lib-kernel: cxlms detach" $LK_CXLMS detach
		step "lib-kernel: test_lib_fetch on the kernel backend (RAM store)" lk_unit_fetch
	else
		not_ok "lib-kernel: cxlms attach --region $CXLMS_REGION --offset $lk_half --format"
	fi
else
	if lk_attach_mine; then
		ok "lib-kernel: cxlms attach --region $CXLMS_REGION --offset $lk_half finds the copied store"
		grep -q 'existing store, validated' "$LK_TMP/attach" ||
			not_ok "lib-kernel: attach without --format reported a fresh store"
		step "lib-kernel: same store uuid as in boot 1" lk_check_uuid
		step "lib-kernel: same tensors as the files after reboot" lk_same_tensors
		step "lib-kernel: cxlms verify $LK_DEV after reboot" $LK_CXLMS verify $LK_DEV
		step "lib-kernel: libcxlms kernel == file backend after reboot: every tensor x k x out x recon; gemv/gemm" \
			lk_compare_all
		step "lib-kernel: cxlms run on $LK_DEV == on the file after reboot" lk_engine
		step "lib-kernel: cxlms fetch $LK_DEV == file after reboot (full precision, every tensor)" \
			lk_fetch_cli "8:int:default" "16:int:default"
		step "lib-kernel: cxlms detach" $LK_CXLMS detach
	else
		not_ok "lib-kernel: cxlms attach --region $CXLMS_REGION --offset $lk_half finds the copied store"
	fi
fi
