#!/usr/bin/env bash
# The Dask example (examples/dask/deid_dask.py) with 1 and 2 LocalCluster
# workers on the same generated export, against each other, and its output
# compared byte for byte with one `phicrypt deid` process. Needs
# python3-dask and python3-distributed (Debian); says so and stops if not.
#   tests/bench/bench_dask.sh PATH/TO/phicrypt MB POLICY   (PHICRYPT_CONFIG: the key set)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=$1
MB=$2
POLICY=$3
B=$(cd "$(dirname "$P")/../.." && pwd)
if ! /usr/bin/python3 -c 'import dask.distributed' 2>/dev/null; then
  echo "Dask: python3-dask / python3-distributed not installed, not measured"
  echo "ROW dask_2w_1w -"
  exit 0
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-bench-dask-XXXXXX")
trap 'rm -rf "$W"' EXIT
if [ -n "${BENCH_INPUT:-}" ]; then ln -s "$BENCH_INPUT" "$W/in.jsonl"; else
  /usr/bin/python3 "$ROOT/examples/data/generate_patients.py" --records $(( MB * 1000000 / 845 )) --seed 7 > "$W/in.jsonl"
fi
export PHICRYPT_LIBRARY="$B/libphicrypt.so"
"$P" deid --policy "$POLICY" --in "$W/in.jsonl" --out "$W/one.jsonl" --threads 1
t() { /usr/bin/time -f "%e" -o "$W/t" "$@" > /dev/null 2>&1; cat "$W/t"; }
w1=$(t /usr/bin/python3 "$ROOT/examples/dask/deid_dask.py" --config "$PHICRYPT_CONFIG" --policy "$POLICY" \
       --in "$W/in.jsonl" --out "$W/d1.jsonl" --workers 1)
w2=$(t /usr/bin/python3 "$ROOT/examples/dask/deid_dask.py" --config "$PHICRYPT_CONFIG" --policy "$POLICY" \
       --in "$W/in.jsonl" --out "$W/d2.jsonl" --workers 2)
same=yes
cmp -s "$W/one.jsonl" "$W/d1.jsonl" && cmp -s "$W/one.jsonl" "$W/d2.jsonl" || same=NO
echo "Dask: 1 worker ${w1} s, 2 workers ${w2} s wall; output byte-identical to one process: $same"
awk -v a="$w1" -v b="$w2" 'BEGIN { printf "ROW dask_2w_1w %.2f\n", a / b }'
