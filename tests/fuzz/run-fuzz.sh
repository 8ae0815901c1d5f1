#!/usr/bin/env bash
# Run libFuzzer harnesses one after the other (one process at a time).
# usage: run-fuzz.sh BINDIR SECONDS NAME...
# Each harness starts from its seeds (tests/fuzz/corpus/NAME) plus what
# earlier runs found (BINDIR/corpus/NAME, where new inputs are written).
# Prints per harness: time, execs, coverage (cov/ft), corpus, crashes.
# Exit 1 if any harness crashed, leaked, timed out or ran out of memory
# (the input is in BINDIR/artifacts/NAME/, the log in BINDIR/logs/NAME.log).
set -uo pipefail

bindir=$1 secs=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
failed=0

# Largest input per harness: a store image needs some pages.
max_len() {
	case $1 in
	store) echo 65536 ;;
	policy) echo 16384 ;;
	safetensors) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

for name in "$@"; do
	bin=$bindir/fuzz_$name
	out=$bindir/corpus/$name art=$bindir/artifacts/$name log=$bindir/logs/$name.log
	mkdir -p "$out" "$art" "$(dirname "$log")"
	dict=()
	[ -f "$src/$name.dict" ] && dict=(-dict="$src/$name.dict")
	touch "$log.start"
	start=$(date +%s)
	"$bin" -max_total_time="$secs" -max_len="$(max_len "$name")" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
		"${dict[@]}" "$out" "$src/corpus/$name" >"$log" 2>&1
	rc=$?
	elapsed=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
	crashes=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o \
		-name 'timeout-*' -o -name 'oom-*' \) -newer "$log.start" 2>/dev/null | wc -l)
	printf 'fuzz_%s: %ss, execs %s, cov %s ft %s, corpus %s, crashes %s, rc %s\n' \
		"$name" "$elapsed" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" "$rc"
	if [ "$rc" -ne 0 ]; then
		failed=1
		echo "fuzz_$name: FAILED (exit $rc): see $log and $art/" >&2
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*invariant failed|.*runtime error)' "$log" | head -n5 >&2
	fi
done
exit $failed
