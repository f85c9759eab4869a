#!/usr/bin/env bash
# Runs the Python binding's pytest suite and prints TAP on stdout
# (`ok N - test_python__<name>`); pytest's own report (-rA) goes to stderr.
# PHICRYPT_LIBRARY selects the library (meson sets it to the one it built).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-pytest-XXXXXX")
trap 'rm -rf "$T"' EXIT
export PYTHONDONTWRITEBYTECODE=1
cd "$HERE"
/usr/bin/python3 -m pytest -rA -p no:cacheprovider --junitxml="$T/report.xml" -o junit_family=xunit1 \
  tests "$@" >&2
status=$?
if [ ! -s "$T/report.xml" ]; then
  echo "1..1"
  echo "not ok 1 - test_python__suite_ran # pytest exited $status without a report"
  exit 1
fi
/usr/bin/python3 "$HERE/junit_to_tap.py" test_python__ "$T/report.xml"
