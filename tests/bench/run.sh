#!/usr/bin/env bash
# Benchmarks: every figure is a ratio against a baseline measured in the same
# run on the same machine. Builds in build/ (release flags are not needed:
# the default is debugoptimized, -O2). Prints one table per benchmark.
#   tests/bench/run.sh [SECONDS_PER_MEASUREMENT] [DEID_MB]   (defaults 3, 1000: the issue's 1 GB file)
#   PHICRYPT_BUILD_DIR selects the build directory (default build).
set -eu
cd "$(dirname "$0")/../.."
S=${1:-3}
MB=${2:-1000}
B=${PHICRYPT_BUILD_DIR:-build}
scripts/deps.sh
[ -f "$B/build.ninja" ] || meson setup "$B" >/dev/null
ninja -C "$B" >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "phicrypt $("$B"/examples/cli/phicrypt --version | cut -d' ' -f2-)"
echo
"$B"/tests/bench/bench_decrypt "$S"
echo
"$B"/tests/bench/bench_token
echo
echo "de-identification (Safe Harbor example policy), $MB MB generated JSON lines"
tests/bench/bench_deid.sh "$PWD/$B/examples/cli/phicrypt" "$MB"
