#!/bin/sh
# Starts the loopback KMS peers (kms_peers.py), runs the cmocka suite with
# their ports in the environment, and always stops them.
#   run_kms_tests.sh TEST_BINARY PEERS_SCRIPT
set -u
bin=$1
peers=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-kms.XXXXXX") || exit 1
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Debian's python3 (python3-botocore, -jwt, -cryptography), never a pyenv one.
/usr/bin/python3 "$peers" "$dir" </dev/null >"$dir/peers.log" 2>&1 &
pid=$!
i=0
while [ ! -f "$dir/env" ]; do
  if ! kill -0 "$pid" 2>/dev/null || [ $i -ge 300 ]; then
    echo "Bail out! the loopback KMS peers did not start:"
    sed 's/^/# /' "$dir/peers.log"
    exit 1
  fi
  sleep 0.1
  i=$((i + 1))
done
set -a
. "$dir/env"
set +a
"$bin"
