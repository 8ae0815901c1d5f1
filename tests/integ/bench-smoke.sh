#!/usr/bin/env bash
# cxlms bench, function only (timings on shared machines prove nothing here):
# a tiny run produces a complete JSON report for every k of both stores and a
# verdict for every target; --help and bad options behave.
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
command -v python3 >/dev/null || { echo "python3 missing"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$O/cxlms" bench --help >"$tmp/help" || { echo "bench --help failed"; exit 1; }
grep -q '^usage: cxlms bench' "$tmp/help" || { echo "bench --help prints no usage"; exit 1; }
for bad in "--reps 0" "--reps x" "--size -1" "--only int4" "--threads 0" "--threads 17" "--bogus"; do
	# shellcheck disable=SC2086
	"$O/cxlms" bench $bad >/dev/null 2>&1; rc=$?
	[ $rc -eq 2 ] || { echo "bench $bad: exit $rc, want 2 (usage)"; exit 1; }
done

"$O/cxlms" bench --size 8 --reps 1 --no-isa-compare --json >"$tmp/b.json" 2>"$tmp/err" ||
	{ echo "bench run failed:"; cat "$tmp/err"; exit 1; }
# every contender split over two threads: the same complete report
"$O/cxlms" bench --size 8 --reps 1 --no-isa-compare --threads 2 --json >"$tmp/t.json" 2>"$tmp/err" ||
	{ echo "bench --threads 2 failed:"; cat "$tmp/err"; exit 1; }
for f in "$tmp/b.json" "$tmp/t.json"; do
python3 - "$f" <<'PY' || exit 1
import json, sys
d = json.load(open(sys.argv[1]))
want = 2 if sys.argv[1].endswith("t.json") else 1
assert d["machine"]["threads"] == want, d["machine"]
stores = {s["name"]: s for s in d["stores"]}
for name, planes in (("int8", 8), ("fp16", 16)):
    ks = [e["k"] for e in stores[name]["k"]]
    assert ks == list(range(1, planes + 1)), (name, ks)
    for e in stores[name]["k"]:
        assert e["bytes_read"] > 0 and e["fetch_packed_s"] > 0, (name, e["k"])
        # in-cache pieces: measured, or null where the variant has none
        assert "pieces_int_s" in e and "pieces_packed_s" in e, (name, e["k"])
    # bytes read grow with k: a fetch never reads planes it was not asked for
    br = [e["bytes_read"] for e in stores[name]["k"]]
    assert br == sorted(br) and len(set(br)) == len(br), (name, br)
assert d["targets"] and all(isinstance(t["met"], bool) for t in d["targets"])
# the view column: both layouts at k = 2, 4, 8, every contender timed
v = d["views"]
assert v["measured"] and v["mode"] in ("userfaultfd", "eager"), v
assert [(r["layout"], r["k"]) for r in v["rows"]] == \
    [(l, k) for l in ("int8", "packed") for k in (2, 4, 8)], v["rows"]
for r in v["rows"]:
    assert r["bytes"] > 0 and r["faults_per_mib"] >= 0, r
    assert all(r[c] > 0 for c in ("cold_s", "warm_s", "eager_s", "fetch_s", "copy_s")), r
print("bench-smoke: report complete,", d["machine"]["threads"], "thread(s),",
      len(d["targets"]), "targets judged")
PY
done
