#!/usr/bin/env bash
# bench-gemv, function only (timings on shared machines prove nothing here):
# a --quick run prints every column and target line and a complete JSON form
# for k = 8..2 at 1 and 2 threads, with errors that grow as k falls; bad
# options exit 2.  The ggml-linked build is checked the same way when it
# exists (make bench-gemv builds it; this test never fetches anything).
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
command -v python3 >/dev/null || { echo "python3 missing"; exit 77; }
[ -x "$O/tools/bench-gemv" ] || { echo "$O/tools/bench-gemv not built"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$O/tools/bench-gemv" --help >"$tmp/help" || { echo "--help failed"; exit 1; }
grep -q '^usage: ' "$tmp/help" || { echo "--help prints no usage"; exit 1; }
for bad in "-r 0" "-r 99" "--shape 100x100" "--shape 8x" "-l 9,1" "--bogus" "extra"; do
	# shellcheck disable=SC2086
	"$O/tools/bench-gemv" $bad >/dev/null 2>&1; rc=$?
	[ $rc -eq 2 ] || { echo "bench-gemv $bad: exit $rc, want 2 (usage)"; exit 1; }
done

check() {	# check BINARY WANT_GGML
	local bin=$1 ggml=$2
	"$bin" --quick --json "$tmp/g.json" >"$tmp/out" 2>"$tmp/err" ||
		{ echo "$bin --quick failed:"; cat "$tmp/err"; exit 1; }
	for col in contender bpw MiB us GB/s "read us" rd/t rel.err "t(k)/t(8)" k/8; do
		grep -qF "$col" "$tmp/out" || { echo "$bin: no column '$col'"; cat "$tmp/out"; exit 1; }
	done
	for t in "|t(k)/t(8) - k/8| <= 0.15" "2 threads, k >= 4: >= 0.8 x read-only"; do
		grep -qF "$t" "$tmp/out" || { echo "$bin: no target line '$t'"; exit 1; }
	done
	if [ "$ggml" = 1 ]; then
		for k in 8 7 6 5 4 3 2; do
			grep -qE "^(MET|MISSED) +time k=$k <= ggml" "$tmp/out" ||
				{ echo "$bin: no time target at k=$k"; exit 1; }
			grep -qE "^(MET|MISSED) +error k=$k " "$tmp/out" ||
				{ echo "$bin: no error target at k=$k"; exit 1; }
		done
	fi
	python3 - "$tmp/g.json" "$ggml" <<'PY' || exit 1
import json, math, sys
rows = json.load(open(sys.argv[1]))
ggml = sys.argv[2] == "1"
for th in (1, 2):
    for kind in ("cxlms-f32", "cxlms-q8"):
        r = {e["k"]: e for e in rows if e["threads"] == th and e["kind"] == kind}
        assert sorted(r) == list(range(2, 9)), (th, kind, sorted(r))
        for e in r.values():
            assert e["us"] > 0 and e["read_us"] > 0 and e["gbs"] > 0, e
            assert math.isfinite(e["rel_err"]) and e["rel_err"] > 0, e
        b = [r[k]["bytes"] for k in range(2, 9)]
        assert b == sorted(b) and len(set(b)) == 7, b
        # fewer planes, coarser weights: the error must grow as k falls
        err = [r[k]["rel_err"] for k in range(2, 9)]
        assert err == sorted(err, reverse=True), (kind, err)
        assert r[8]["rel_err"] < 0.05, r[8]
    g = [e for e in rows if e["threads"] == th and e["kind"] == "ggml"]
    if ggml:
        types = {e["ggml_type"] for e in g}
        want = {"Q8_0", "Q6_K", "Q5_K", "Q4_0", "Q4_K", "Q3_K", "Q2_K"}
        assert types == want, types
        for e in g:
            assert e["us"] > 0 and e["read_us"] > 0 and 0 < e["rel_err"] < 1, e
        q8 = [e for e in g if e["ggml_type"] == "Q8_0"][0]
        assert abs(q8["bpw"] - 8.5) < 1e-9, q8
    else:
        assert not g, g
PY
}

check "$O/tools/bench-gemv" 0
if [ -x "$O/tools/bench-gemv-ggml" ]; then
	check "$O/tools/bench-gemv-ggml" 1
	echo "bench-gemv and bench-gemv-ggml: ok"
else
	echo "bench-gemv: ok; ggml part skipped: $O/tools/bench-gemv-ggml absent (make bench-gemv builds it)"
fi
