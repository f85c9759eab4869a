#!/usr/bin/env bash
# De-identification of records with many distinct field names: N and 4N
# one-key records {"field_0000001": "value 1"}, each name new, with the
# Safe Harbor example policy (unknown names dropped and listed). Linear
# time means the 4N run takes about 4x the N run; peak RSS should not grow.
# Measures, never asserts. Best of BENCH_RUNS (default 3) runs each.
#   tests/bench/bench_names.sh [PATH/TO/phicrypt] [N]   (defaults: build/examples/cli/phicrypt, 150000)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=${1:-$ROOT/build/examples/cli/phicrypt}
N=${2:-150000}
RUNS=${BENCH_RUNS:-3}
POLICY=$ROOT/examples/data/policy-safe-harbor.json
W=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-bench-names-XXXXXX")
trap 'rm -rf "$W"' EXIT
gen() { awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "{\"field_%07d\":\"value %d\"}\n", i, i }' > "$2"; }
gen "$N" "$W/n1.jsonl"
gen $((N * 4)) "$W/n4.jsonl"
# best CPU seconds (user + sys) and largest RSS of RUNS runs
run() {
  local best="" maxrss=0
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%U %S %M" -o "$W/t" "$P" deid --policy "$POLICY" --in "$1" --out "$W/out.jsonl" --threads 1
    read -r u s rss < "$W/t"
    c=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
    if [ -z "$best" ] || awk -v a="$c" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$c; fi
    [ "$rss" -gt "$maxrss" ] && maxrss=$rss
  done
  echo "$best $maxrss"
}
set -- $(run "$W/n1.jsonl"); t1=$1; m1=$2
set -- $(run "$W/n4.jsonl"); t4=$1; m4=$2
echo "distinct field names: $N records in $t1 CPU s (peak RSS $((m1 / 1024)) MB), $((N * 4)) in $t4 CPU s (peak RSS $((m4 / 1024)) MB), best of $RUNS"
awk -v a="$t1" -v b="$t4" 'BEGIN { r = (a > 0 ? b / a : 0); printf "4x the records / 1x: %.2fx the time\nROW names_4x %.2f\n", r, r }'
echo "ROW names_rss_mb $((m1 / 1024)) $((m4 / 1024))"
