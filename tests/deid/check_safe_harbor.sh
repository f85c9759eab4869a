#!/bin/sh
# The Safe Harbor leak test, stand-alone or from meson: generates the
# adversarial and the messy-hospital exports (synthetic), runs
# `phicrypt deid` with examples/data/policy-safe-harbor.json on every
# format and prints the survivors per HIPAA class and format, and whether
# the formats agree. Never prints a planted value. Exit 0 only when nothing
# survives and every format gives the same values.
#   tests/deid/check_safe_harbor.sh BUILD_DIR [check_safe_harbor.py options, e.g. --records 20000 --work DIR]
set -eu
B=${1:?usage: check_safe_harbor.sh BUILD_DIR [options]}
shift
HERE=$(cd "$(dirname "$0")" && pwd)
P=$B/examples/cli/phicrypt
[ -x "$P" ] || { echo "check_safe_harbor.sh: no $P (build first: ninja -C $B)" >&2; exit 2; }
# Generated inputs are kept in the build directory and reused while the generators are unchanged.
exec /usr/bin/python3 "$HERE/check_safe_harbor.py" --phicrypt "$P" \
  --policy "$HERE/../../examples/data/policy-safe-harbor.json" --cache "$B/tests/deid-cache" "$@"
