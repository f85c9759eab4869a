#!/usr/bin/env bash
# Audit append latency/throughput: audit log v1 (OLD_REF, default main) against
# this tree, fsync "always" and "never", and the cost of checkpoints (default
# every 1000 lines / 60 s against none). Old and new run interleaved in one
# run on one machine; the figures that matter are the ratios.
#   tests/bench/bench_audit.sh [N_NEVER] [N_ALWAYS] [ROUNDS]   (defaults 20000 500 3)
#   PHICRYPT_BUILD_DIR (default build), OLD_REF (default main)
set -eu
cd "$(dirname "$0")/../.."
NN=${1:-20000}
NA=${2:-500}
R=${3:-3}
B=${PHICRYPT_BUILD_DIR:-build}
OLD_REF=${OLD_REF:-main}
ninja -C "$B" tests/bench/bench_audit examples/cli/phicrypt >/dev/null
OLD="$PWD/$B/bench-old"
if [ ! -x "$OLD/build/tests/bench/bench_audit" ] || [ "$(cat "$OLD/ref" 2>/dev/null)" != "$(git rev-parse "$OLD_REF")" ]; then
  rm -rf "$OLD"; mkdir -p "$OLD/src"
  git archive "$OLD_REF" | tar -x -C "$OLD/src"
  cp tests/bench/bench_audit.c "$OLD/src/tests/bench/"
  grep -q bench_audit "$OLD/src/tests/bench/meson.build" || cat >>"$OLD/src/tests/bench/meson.build" <<'M'
bench_audit = executable('bench_audit', 'bench_audit.c',
  include_directories : inc,
  dependencies : [phicrypt_internal_dep])
M
  meson setup "$OLD/build" "$OLD/src" >/dev/null
  ninja -C "$OLD/build" tests/bench/bench_audit >/dev/null
  git rev-parse "$OLD_REF" >"$OLD/ref"
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-bench-audit-XXXXXX")
trap 'rm -rf "$W"' EXIT
"$B"/examples/cli/phicrypt init --dir "$W" >/dev/null
# Private copies: a rebuild during the run must not swap the binaries.
cp "$OLD/build/tests/bench/bench_audit" "$W/bench_v1"
cp "$B/tests/bench/bench_audit" "$W/bench_v2"
cfg() { # NAME FSYNC EXTRA_AUDIT_JSON
  python3 - "$W/phicrypt.json" "$W/$1.json" "$2" "$3" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["audit"] = {"path": "audit.jsonl", "subject_field": "mrn", "fsync": sys.argv[3]}
c["audit"].update(json.loads(sys.argv[4]))
json.dump(c, open(sys.argv[2], "w"))
PY
}
run() { # BINARY CONFIG N [cp] -> lines/s
  rm -f "$W/audit.jsonl" "$W/anchors.jsonl"
  "$1" "$W/$2.json" "$3" ${4:-} | awk '{print $8}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-8s %-40s %12s %14s %10s\n' fsync variant lines/s us/append "vs v1"
for mode in never always; do
  n=$NN; [ "$mode" = always ] && n=$NA
  cfg "v1_$mode" "$mode" '{}'
  cfg "v2_$mode" "$mode" '{}'
  cfg "v2nocp_$mode" "$mode" '{"checkpoint_every": {"lines": 100000000, "seconds": 0}}'
  cfg "v2every100_$mode" "$mode" '{"checkpoint_every": {"lines": 100, "seconds": 0}}'
  cfg "v2anchor_$mode" "$mode" '{"anchors": ["file:anchors.jsonl"]}'
  : >"$W/r_old"; : >"$W/r_new"; : >"$W/r_nocp"; : >"$W/r_100"; : >"$W/r_anc"
  for i in $(seq 1 "$R"); do
    run "$W/bench_v1" "v1_$mode" "$n" >>"$W/r_old"
    run "$W/bench_v2" "v2_$mode" "$n" >>"$W/r_new"
    run "$W/bench_v2" "v2nocp_$mode" "$n" >>"$W/r_nocp"
    run "$W/bench_v2" "v2every100_$mode" "$n" >>"$W/r_100"
    run "$W/bench_v2" "v2anchor_$mode" "$n" >>"$W/r_anc"
  done
  old=$(median <"$W/r_old")
  for v in "old:v1 (HMAC chain, main)" "new:v2, checkpoints 1000 lines/60 s" "nocp:v2, no checkpoints" \
           "100:v2, checkpoint every 100 lines" "anc:v2, 1000/60 s + file anchor"; do
    k=${v%%:*}; name=${v#*:}
    x=$(median <"$W/r_$k")
    printf '%-8s %-40s %12.0f %14.1f %10.2f\n' "$mode" "$name" "$x" "$(echo "1000000/$x" | bc -l)" "$(echo "$x/$old" | bc -l)"
  done
  nocp=$(median <"$W/r_nocp"); new=$(median <"$W/r_new"); e100=$(median <"$W/r_100")
  printf '%-8s checkpoint cost (1000/60 s vs none): %.1f%% ; every 100 lines: %.1f%%\n' "$mode" \
    "$(echo "(1-$new/$nocp)*100" | bc -l)" "$(echo "(1-$e100/$nocp)*100" | bc -l)"
done

# The cost of one checkpoint, by difference: append+checkpoint pairs against
# appends alone (fsync never, interleaved), then its share at 1000 lines.
: >"$W/r_plain"; : >"$W/r_pair"
for i in $(seq 1 "$R"); do
  run "$W/bench_v2" v2nocp_never 3000 >>"$W/r_plain"
  run "$W/bench_v2" v2nocp_never 3000 cp >>"$W/r_pair"
done
plain=$(median <"$W/r_plain"); pair=$(median <"$W/r_pair")
cp_us=$(echo "1000000/$pair - 1000000/$plain" | bc -l)
printf 'one checkpoint (fsync never): %.1f us against %.1f us per append: %.2f%% of 1000 appends (wall clock)\n' \
  "$cp_us" "$(echo "1000000/$plain" | bc -l)" "$(echo "100*$cp_us/(1000*1000000/$plain)" | bc -l)"
# The same in instructions (callgrind: user space only, no noise from the machine's load).
if command -v valgrind >/dev/null; then
  ir() { rm -f "$W/audit.jsonl"; valgrind --tool=callgrind --callgrind-out-file=/dev/null "$W/bench_v2" "$W/$1.json" "$2" ${3:-} 2>&1 >/dev/null | awk '/Collected/ {print $4}'; }
  i1=$(ir v2nocp_never 1000); i2=$(ir v2nocp_never 3000); i3=$(ir v2nocp_never 3000 cp); i4=$(ir v2_never 3000)
  per_app=$(echo "($i2-$i1)/2000" | bc -l); per_cp=$(echo "($i3-$i2)/3000" | bc -l)
  printf 'instructions: %.0f per append, %.0f per checkpoint: %.2f%% of 1000 appends; 3000 appends with default checkpoints vs none: +%.2f%%\n' \
    "$per_app" "$per_cp" "$(echo "100*$per_cp/(1000*$per_app)" | bc -l)" "$(echo "100*($i4-$i2)/$i2" | bc -l)"
fi
