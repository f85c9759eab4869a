#!/usr/bin/env bash
# Benchmark of `phicrypt deid` on a generated mongoexport JSON-lines file
# with the Safe Harbor example policy: MB/s with 1 and 2 threads, against
# `jq -c` doing a one-field replacement on the same file, and peak RSS.
# Measures, never asserts (not run by tests/run.sh).
#   tests/bench/bench_deid.sh [PATH/TO/phicrypt] [MB] [POLICY]
#   (defaults: build/examples/cli/phicrypt, 300, examples/data/policy-safe-harbor.json)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=${1:-$ROOT/build/examples/cli/phicrypt}
MB=${2:-300}
POLICY=${3:-$ROOT/examples/data/policy-safe-harbor.json}
W=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-bench-deid-XXXXXX")
trap 'rm -rf "$W"' EXIT
# ~845 bytes per generated record
RECORDS=$(( MB * 1000000 / 845 ))
/usr/bin/python3 "$ROOT/examples/data/generate_patients.py" --records "$RECORDS" --seed 42 > "$W/in.jsonl"
BYTES=$(stat -c %s "$W/in.jsonl")
cat "$W/in.jsonl" > /dev/null # warm the page cache

# run NAME CMD...: prints wall seconds, CPU seconds and max RSS (KB) of CMD.
run() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$W/time.$name" "$@"
  read -r wall user sys rss < "$W/time.$name"
  echo "$name $wall $user $sys $rss"
}
mbs() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }

r1=$(run deid1 "$P" deid --policy "$POLICY" --in "$W/in.jsonl" --out "$W/out1.jsonl" --threads 1)
r2=$(run deid2 "$P" deid --policy "$POLICY" --in "$W/in.jsonl" --out "$W/out2.jsonl" --threads 2)
rj=$(run jq sh -c "jq -c '.ssn = \"[REDACTED]\"' '$W/in.jsonl' > '$W/outjq.jsonl'")
cmp -s "$W/out1.jsonl" "$W/out2.jsonl" || { echo "bench_deid: 1 and 2 threads differ" >&2; exit 1; }

set -- $r1; w1=$2; c1=$(awk -v u="$3" -v s="$4" 'BEGIN{print u+s}'); rss1=$5
set -- $r2; w2=$2; c2=$(awk -v u="$3" -v s="$4" 'BEGIN{print u+s}'); rss2=$5
set -- $rj; wj=$2; cj=$(awk -v u="$3" -v s="$4" 'BEGIN{print u+s}')
echo "input: $(awk -v b="$BYTES" 'BEGIN{printf "%.0f", b/1e6}') MB, $RECORDS records, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
echo "deid 1 thread : $(mbs "$w1") MB/s wall ($(mbs "$c1") MB/s per CPU second), peak RSS $((rss1 / 1024)) MB"
echo "deid 2 threads: $(mbs "$w2") MB/s wall ($(mbs "$c2") MB/s per CPU second), peak RSS $((rss2 / 1024)) MB"
echo "jq -c (1 field): $(mbs "$wj") MB/s wall ($(mbs "$cj") MB/s per CPU second)"
awk -v a="$w1" -v b="$w2" -v j="$wj" -v ca="$c1" -v cj="$cj" 'BEGIN { printf "2 threads / 1 thread: %.2fx wall   deid (1 thread) / jq: %.1fx wall, %.1fx per CPU second\n", a / b, j / a, cj / ca }'
