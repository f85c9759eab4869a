#!/usr/bin/env bash
# Benchmarks: every figure is a ratio against a baseline measured in the same
# run on the same machine (issue 21's table, one row each, at the end).
# Builds in build/ (the default is debugoptimized, -O2).
#   tests/bench/run.sh [--quick] [SECONDS_PER_MEASUREMENT] [DEID_MB]
#     defaults 3 s and 1000 MB (the issue's 1 GB file); --quick: 0.5 s, 20 MB
#     and smaller distinct-name inputs (minutes, for a smoke run)
#   PHICRYPT_BUILD_DIR selects the build directory (default build).
# Measures, never asserts; prints the load average at the start and end.
set -eu
cd "$(dirname "$0")/../.."
QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; shift; fi
if [ $QUICK = 1 ]; then S=${1:-0.5}; MB=${2:-20}; NAMES=15000; export BENCH_RUNS=${BENCH_RUNS:-2}
else S=${1:-3}; MB=${2:-1000}; NAMES=150000; fi
B=${PHICRYPT_BUILD_DIR:-build}
scripts/deps.sh
[ -f "$B/build.ninja" ] || meson setup "$B" >/dev/null
ninja -C "$B" >/dev/null
P="$PWD/$B/examples/cli/phicrypt"
W=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "phicrypt $("$P" --version | cut -d' ' -f2-), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# The key set of the keyed policy (tests/bench/policy-keyed.json).
"$P" init --dir "$W/keys" > /dev/null
export PHICRYPT_CONFIG="$W/keys/phicrypt.json"
"$P" token create bench:ff1 --algorithm ff1 > /dev/null
"$P" token create bench:siv --algorithm siv > /dev/null
"$P" token create bench:hmac --algorithm hmac > /dev/null

"$B"/tests/bench/bench_decrypt "$S" | tee "$W/out"
echo
"$B"/tests/bench/bench_token "$S" | tee -a "$W/out"
echo
/usr/bin/python3 examples/data/generate_patients.py --records $(( MB * 1000000 / 845 )) --seed 42 > "$W/in.jsonl"
export BENCH_INPUT="$W/in.jsonl"
echo "de-identification, Safe Harbor example policy, $MB MB generated JSON lines"
tests/bench/bench_deid.sh "$P" "$MB" examples/data/policy-safe-harbor.json sh | tee -a "$W/out"
echo
echo "de-identification, keyed policy (tests/bench/policy-keyed.json), same input"
tests/bench/bench_deid.sh "$P" "$MB" tests/bench/policy-keyed.json keyed | tee -a "$W/out"
echo
tests/bench/bench_names.sh "$P" "$NAMES" | tee -a "$W/out"
echo
tests/bench/bench_dask.sh "$P" "$MB" tests/bench/policy-keyed.json | tee -a "$W/out"
echo
echo "decrypt-document --lines on a mongoexport stream of $MB MB (issue 20)"
tests/bench/bench_stream.sh "$P" "$MB" $((MB < 10 ? MB : 10)) $((MB < 100 ? MB : 100)) | tee -a "$W/out"
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# The issue's table: one row per measure, from the ROW lines above.
v() { awk -v k="$1" '$1 == "ROW" && $2 == k { print $3; exit }' "$W/out"; }
met() { # met VALUE OP TARGET
  [ -z "$1" ] || [ "$1" = "-" ] && { echo "-"; return; }
  awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { ok = (op == ">=") ? a >= b : a <= b; print ok ? "yes" : "no" }'
}
row() { printf "| %-62s | %-9s | %-8s | %-4s |\n" "$1" "$2" "$3" "$(met "$2" "$4" "$5")"; }
echo "| measure (ratio against its baseline, same run) | measured | target | met |"
echo "|---|---|---|---|"
row "deid keyed policy, 2 threads / jq -c '.ssn=\"[REDACTED]\"'" "$(v keyed_jq_2t)" ">= 10x" ">=" 10
row "deid keyed policy, 1 thread, MB/s" "$(v keyed_mbs_1t)" ">= 150" ">=" 150
row "deid Safe Harbor example policy, 1 thread / jq" "$(v sh_jq_1t)" ">= 10x" ">=" 10
row "deid Safe Harbor example policy, 2 threads / jq" "$(v sh_jq_2t)" ">= 18x" ">=" 18
row "phicrypt_ff1_encrypt (raw key), 9 digits / 10 AES-256 blocks" "$(v ff1_oneshot)" "<= 8x" "<=" 8
row "phicrypt_ff1_encrypt_with (handle) / 10 AES-256 blocks" "$(v ff1_handle)" "<= 4x" "<=" 4
row "bulk decrypt 1,500 fields, 1 thread / raw libmongocrypt" "$(v decrypt_1t)" ">= 3.0x" ">=" 3.0
row "bulk decrypt, phicrypt 2 threads / 1 thread" "$(v decrypt_2t_1t)" ">= 1.9x" ">=" 1.9
row "phicrypt_encrypt_command / raw libmongocrypt + precomputed markings" "$(v insert_raw)" ">= 1.0x" ">=" 1.0
row "phicrypt_encrypt_command / 8 explicit phicrypt_encrypt" "$(v insert_explicit)" ">= 1.5x" ">=" 1.5
row "distinct field names: time of 4N records / N records" "$(v names_4x)" "<= 4.5x" "<=" 4.5
row "Dask example, 2 workers / 1 worker" "$(v dask_2w_1w)" ">= 1.7x" ">=" 1.7
