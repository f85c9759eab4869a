#!/usr/bin/env bash
# Benchmarks: every figure is a ratio against a baseline measured in the same
# run on the same machine. Builds in build/ (release flags are not needed:
# the default is debugoptimized, -O2). Prints one table per benchmark.
#   tests/bench/run.sh [SECONDS_PER_MEASUREMENT]   (default 3)
set -eu
cd "$(dirname "$0")/../.."
S=${1:-3}
scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "phicrypt $(build/examples/cli/phicrypt --version | cut -d' ' -f2-)"
echo
build/tests/bench/bench_decrypt "$S"
for b in build/tests/bench/bench_token tests/bench/bench_deid.sh; do
  if [ -x "$b" ]; then echo; "$b"; fi
done
