#!/usr/bin/env bash
# Benchmark of the re-identification risk report (issue 23): wall, CPU and
# peak RSS (/usr/bin/time) of `phicrypt deid` on N generated records with
#   sh       the Safe Harbor example policy, no risk report (the baseline)
#   sh_risk  the same with "quasi_identifiers": ["address.zip","dob","sex"]
#   uniq     every field kept, quasi-identifiers ["email","_id"]: every record
#            its own class (N classes: the worst case for the class tables,
#            which spill past the 64 MiB default budget)
#   uniq_sup the same with --suppress-below-k (two more passes over the output)
# Measures, never asserts (not run by tests/run.sh). One run each.
#   tests/bench/bench_risk.sh [PATH/TO/phicrypt] [RECORDS...]
#   (defaults: build/examples/cli/phicrypt, 1000000 2000000)
# BENCH_INPUT=FILE: a generated JSON-lines file (generate_patients.py --seed 42)
# with at least max(RECORDS) lines; the first RECORDS lines are used. Without
# it, the largest count is generated once (about 1 minute per million records).
# BENCH_THREADS (default 2), BENCH_SKIP (names of runs to skip, e.g. "uniq_sup").
# Output: one line per run, "RECORDS NAME wall_s user_s sys_s maxrss_kb spilled_runs".
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=${1:-$ROOT/build/examples/cli/phicrypt}
shift || true
COUNTS=${*:-1000000 2000000}
THREADS=${BENCH_THREADS:-2}
W=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-bench-risk-XXXXXX")
trap 'rm -rf "$W"' EXIT
MAX=0
for c in $COUNTS; do [ "$c" -gt "$MAX" ] && MAX=$c; done
SRC=${BENCH_INPUT:-}
if [ -z "$SRC" ]; then
  SRC=$W/all.jsonl
  /usr/bin/python3 "$ROOT/examples/data/generate_patients.py" --records "$MAX" --seed 42 > "$SRC"
fi
/usr/bin/python3 - "$ROOT/examples/data/policy-safe-harbor.json" "$W" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
json.dump(p, open(sys.argv[2] + "/sh.json", "w"))
p["quasi_identifiers"] = ["address.zip", "dob", "sex"]
p["k"] = 5
json.dump(p, open(sys.argv[2] + "/sh_risk.json", "w"))
json.dump({"version": 1, "unknown_fields": "keep", "fields": {}, "quasi_identifiers": ["email", "_id"], "k": 5},
          open(sys.argv[2] + "/uniq.json", "w"))
PY
echo "# $(date -u +%FT%TZ) $(nproc) cores, load: $(uptime | sed 's/.*load average: //'), threads $THREADS"
for n in $COUNTS; do
  head -n "$n" "$SRC" > "$W/in.jsonl"
  for run in sh sh_risk uniq uniq_sup; do
    case " ${BENCH_SKIP:-} " in *" $run "*) continue ;; esac
    pol=$run extra=""
    [ "$run" = uniq_sup ] && { pol=uniq; extra=--suppress-below-k; }
    /usr/bin/time -f "%e %U %S %M" -o "$W/time" "$P" deid --policy "$W/$pol.json" --in "$W/in.jsonl" \
      --out "$W/out.jsonl" --threads "$THREADS" --no-manifest --report "$W/rep.json" $extra 2> "$W/err" ||
      { echo "# $run failed: $(tail -1 "$W/err")"; continue; }
    spilled=$(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])).get("risk"); print(r["spilled_runs"] if r else "-")' "$W/rep.json")
    echo "$n $run $(cat "$W/time") $spilled"
    rm -f "$W/out.jsonl"
  done
  echo "# load after $n: $(uptime | sed 's/.*load average: //')"
done
