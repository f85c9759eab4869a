#!/usr/bin/env bash
# Runs the Go binding's tests (offline: no modules, local toolchain), then
# `go vet`, and prints TAP on stdout (`ok N - test_go__<TestName>`).
# PHICRYPT_BUILD_DIR: the meson build directory holding libphicrypt.so
# (default: <repo>/build, which the cgo directives already use).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export GOPROXY=off GOTOOLCHAIN=local GOFLAGS= GO111MODULE=on
export GOCACHE=${GOCACHE:-${TMPDIR:-/tmp}/phicrypt-gocache}
if [ -n "${PHICRYPT_BUILD_DIR:-}" ]; then
  B=$(cd "$PHICRYPT_BUILD_DIR" && pwd)
  export CGO_LDFLAGS="-L$B -Wl,-rpath,$B ${CGO_LDFLAGS:-}"
  export LD_LIBRARY_PATH="$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
cd "$HERE"
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-gotest-XXXXXX")
trap 'rm -rf "$T"' EXIT
go test -count=1 -json ./... >"$T/events" 2>"$T/stderr"
go vet ./... >"$T/vet" 2>&1
vet=$?
/usr/bin/python3 - "$T/events" <<'PY' >&2
import json, sys
for l in open(sys.argv[1]):
    try:
        ev = json.loads(l)
    except ValueError:
        print(l, end=""); continue
    if ev.get("Action") == "output":
        print(ev["Output"], end="")
PY
cat "$T/stderr" >&2
# TAP: the tests, then go vet as one more case
/usr/bin/python3 "$HERE/gotest_to_tap.py" test_go__ <"$T/events" >"$T/tap"
status=$?
n=$(grep -cE '^(ok|not ok) ' "$T/tap")
sed -n '2,$p' "$T/tap" | sed '/^1\.\./d' >"$T/body"
echo "1..$((n + 1))"
cat "$T/body"
if [ $vet = 0 ]; then echo "ok $((n + 1)) - test_go__go_vet"; else
  echo "not ok $((n + 1)) - test_go__go_vet"; sed 's/^/# /' "$T/vet"; status=1; fi
exit $status
