#!/usr/bin/env bash
# Starts the MongoDB wire-protocol test server for the suite: jongodb (npm,
# pinned in package-lock.json, a compatible test server, not mongod) behind
# tests/mongo/relay.py (a test double for the few commands jongodb lacks),
# both on 127.0.0.1. Installs jongodb with npm when missing.
#   tests/mongo/server.sh start DIR [RELAY-OPTION...]   prints the URI; state (pids, logs) in DIR
#   tests/mongo/server.sh stop DIR
#   tests/mongo/server.sh kill-server DIR / restart-server DIR   stop / start jongodb alone, on
#                                        the same port (its data, in memory, is gone)
set -u
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: server.sh start|stop DIR}
dir=${2:?usage: server.sh start|stop DIR}
shift 2
bin=$here/node_modules/@jongodb/memory-server-bin-linux-x64-gnu/bin/jongodb

stop() {
  for p in relay jongodb; do
    [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null
    rm -f "$dir/$p.pid"
  done
  return 0
}

wait_for() { # FILE PATTERN: up to 20 s
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

start_jongodb() { # [PORT]
  "$bin" --host=127.0.0.1 --port="${1:-0}" >"$dir/jongodb.log" 2>&1 &
  echo $! >"$dir/jongodb.pid"
  wait_for "$dir/jongodb.log" '^JONGODB_URI=' || { echo "server.sh: jongodb did not start" >&2; stop; exit 1; }
}

case "$cmd" in
stop) stop ;;
kill-server) kill "$(cat "$dir/jongodb.pid")" 2>/dev/null; rm -f "$dir/jongodb.pid" ;;
restart-server)
  port=$(sed -n 's|^JONGODB_URI=mongodb://[^:]*:\([0-9]*\)/.*|\1|p' "$dir/jongodb.log")
  start_jongodb "$port"
  ;;
start)
  mkdir -p "$dir"
  stop
  if [ ! -x "$bin" ]; then
    command -v npm >/dev/null || { echo "server.sh: npm is missing" >&2; exit 1; }
    (cd "$here" && npm ci --no-audit --no-fund --silent) >"$dir/npm.log" 2>&1 ||
      { echo "server.sh: npm ci failed (see $dir/npm.log)" >&2; exit 1; }
  fi
  start_jongodb 0
  up=$(sed -n 's|^JONGODB_URI=mongodb://\([^/]*\)/.*|\1|p' "$dir/jongodb.log")
  /usr/bin/python3 "$here/relay.py" --upstream "$up" "$@" >"$dir/relay.log" 2>&1 &
  echo $! >"$dir/relay.pid"
  wait_for "$dir/relay.log" '^RELAY_URI=' || { echo "server.sh: relay did not start" >&2; stop; exit 1; }
  sed -n 's/^RELAY_URI=//p' "$dir/relay.log"
  ;;
*) echo "usage: server.sh start|stop|kill-server|restart-server DIR" >&2; exit 2 ;;
esac
