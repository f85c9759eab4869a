#!/usr/bin/env bash
# Benchmark of `phicrypt deid` on a generated mongoexport JSON-lines file
# with the Safe Harbor example policy: MB/s with 1 and 2 threads, against
# `jq -c` doing a one-field replacement on the same file, and peak RSS.
# Measures, never asserts (not run by tests/run.sh). Each command runs
# BENCH_RUNS times (default 3) and the fastest run counts, which takes out
# most of a shared machine's noise; peak RSS is the largest seen.
#   tests/bench/bench_deid.sh [PATH/TO/phicrypt] [MB] [POLICY] [LABEL]
#   (defaults: build/examples/cli/phicrypt, 1000, examples/data/policy-safe-harbor.json, deid)
# A keyed policy needs PHICRYPT_CONFIG naming a configuration with its keys
# (tests/bench/run.sh makes one). BENCH_INPUT=FILE reuses a generated input.
# The last lines, "ROW LABEL_... VALUE", are for tests/bench/run.sh.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=${1:-$ROOT/build/examples/cli/phicrypt}
MB=${2:-1000}
RUNS=${BENCH_RUNS:-3}
POLICY=${3:-$ROOT/examples/data/policy-safe-harbor.json}
LABEL=${4:-deid}
W=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-bench-deid-XXXXXX")
trap 'rm -rf "$W"' EXIT
# ~845 bytes per generated record
RECORDS=$(( MB * 1000000 / 845 ))
if [ -n "${BENCH_INPUT:-}" ]; then
  ln -s "$BENCH_INPUT" "$W/in.jsonl"
  RECORDS=$(wc -l < "$BENCH_INPUT")
else
  /usr/bin/python3 "$ROOT/examples/data/generate_patients.py" --records "$RECORDS" --seed 42 > "$W/in.jsonl"
fi
BYTES=$(stat -L -c %s "$W/in.jsonl")
cat "$W/in.jsonl" > /dev/null # warm the page cache

# run NAME CMD...: prints the wall and CPU seconds of the fastest of RUNS
# runs of CMD, and the largest max RSS (KB).
run() {
  local name=$1; shift
  local best="" bu="" bs="" maxrss=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S %M" -o "$W/time.$name" "$@"
    read -r wall user sys rss < "$W/time.$name"
    if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN { exit !(a < b) }'; then
      best=$wall; bu=$user; bs=$sys
    fi
    [ "$rss" -gt "$maxrss" ] && maxrss=$rss
  done
  echo "$name $best $bu $bs $maxrss"
}
mbs() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }

r1=$(run deid1 "$P" deid --policy "$POLICY" --in "$W/in.jsonl" --out "$W/out1.jsonl" --threads 1)
r2=$(run deid2 "$P" deid --policy "$POLICY" --in "$W/in.jsonl" --out "$W/out2.jsonl" --threads 2)
rj=$(run jq sh -c "jq -c '.ssn = \"[REDACTED]\"' '$W/in.jsonl' > '$W/outjq.jsonl'")
cmp -s "$W/out1.jsonl" "$W/out2.jsonl" || { echo "bench_deid: 1 and 2 threads differ" >&2; exit 1; }

set -- $r1; w1=$2; c1=$(awk -v u="$3" -v s="$4" 'BEGIN{print u+s}'); rss1=$5
set -- $r2; w2=$2; c2=$(awk -v u="$3" -v s="$4" 'BEGIN{print u+s}'); rss2=$5
set -- $rj; wj=$2; cj=$(awk -v u="$3" -v s="$4" 'BEGIN{print u+s}')
echo "input: $(awk -v b="$BYTES" 'BEGIN{printf "%.0f", b/1e6}') MB, $RECORDS records, $(nproc) CPUs, best of $RUNS runs, load $(cut -d' ' -f1 /proc/loadavg)"
echo "deid 1 thread : $(mbs "$w1") MB/s wall ($(mbs "$c1") MB/s per CPU second), peak RSS $((rss1 / 1024)) MB"
echo "deid 2 threads: $(mbs "$w2") MB/s wall ($(mbs "$c2") MB/s per CPU second), peak RSS $((rss2 / 1024)) MB"
echo "jq -c (1 field): $(mbs "$wj") MB/s wall ($(mbs "$cj") MB/s per CPU second)"
awk -v a="$w1" -v b="$w2" -v j="$wj" -v ca="$c1" -v cj="$cj" 'BEGIN {
  printf "2 threads / 1 thread: %.2fx wall\n", a / b
  printf "deid / jq: %.1fx wall with 1 thread (%.1fx per CPU second), %.1fx wall with 2 threads\n", j / a, cj / ca, j / b }'
awk -v l="$LABEL" -v a="$w1" -v b="$w2" -v j="$wj" -v by="$BYTES" 'BEGIN {
  printf "ROW %s_mbs_1t %.1f\n", l, by / 1e6 / a
  printf "ROW %s_jq_1t %.2f\n", l, j / a
  printf "ROW %s_jq_2t %.2f\n", l, j / b
  printf "ROW %s_2t_1t %.2f\n", l, a / b
  printf "ROW %s_jq_mbs %.1f\n", l, by / 1e6 / j }'
