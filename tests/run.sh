#!/usr/bin/env bash
# The one test command: installs what is missing, builds, runs every suite,
# and ends with the line `N passed, N failed`.
#   ./tests/run.sh              all suites (unit, CLI) in build/
#   ./tests/run.sh --sanitize   also the C suites and the fuzz corpora under ASan + UBSan in build-asan/
#   ./tests/run.sh --valgrind   also the C unit suites under valgrind (leaks, invalid reads)
#   ./tests/run.sh --tsan       also the C unit suites (threaded clients, deid threads) under ThreadSanitizer
#   ./tests/run.sh --no-install never call apt-get
#   ./tests/run.sh --packages   also build and check the Debian packages (suite 'deb', slow)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${PHICRYPT_BUILD_DIR:-build}   # build directory (the sanitizer build is $B-asan)
# libmongoc (linked for the MongoDB key vault) initialises itself when the
# library loads and keeps counters in /dev/shm/mongoc-<pid>; processes the
# tests kill -9 leave those files behind, and a later process that reuses
# the pid warns on stderr. The tests need no counters.
export MONGOC_DISABLE_SHM=1
SANITIZE=0
VALGRIND=0
TSAN=0
INSTALL=1
PACKAGES=0
for a in "$@"; do
  case "$a" in
    --sanitize) SANITIZE=1 ;;
    --valgrind) VALGRIND=1 ;;
    --tsan) TSAN=1 ;;
    --no-install) INSTALL=0 ;;
    --packages) PACKAGES=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

[ $INSTALL = 0 ] && export PHICRYPT_NO_INSTALL=1
scripts/deps.sh || exit 1
if [ $PACKAGES = 1 ]; then
  scripts/deps.sh debhelper dh-python help2man lintian || exit 1
  NO_DEB=()
else
  NO_DEB=(--no-suite deb)
fi

build() { # DIR [meson options...]
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
  ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { tail -50 "$dir.ninja.log"; return 1; }
}

# The MongoDB wire-protocol test server (jongodb behind a small relay, both
# on 127.0.0.1) for the MongoDB key vault suite; stopped on exit.
if [ -z "${PHICRYPT_TEST_MONGODB_URI:-}" ]; then
  command -v npm >/dev/null || { [ $INSTALL = 1 ] && scripts/deps.sh npm; }
  if uri=$(tests/mongo/server.sh start "$ROOT/$B.mongo-server"); then
    export PHICRYPT_TEST_MONGODB_URI=$uri
    trap 'tests/mongo/server.sh stop "$ROOT/$B.mongo-server"' EXIT
  else
    echo "run.sh: the MongoDB test server did not start; the MongoDB suites will fail" >&2
    export PHICRYPT_TEST_MONGODB_URI=mongodb://127.0.0.1:1/
  fi
fi

# The official Node.js driver for the interop suite (tests/interop/): pinned in
# tests/interop/node/package-lock.json; mongodb-client-encryption is built from
# source against Debian's libmongocrypt (no prebuilt download). Without it,
# interop_node skips.
nd=tests/interop/node
if [ ! -e $nd/node_modules/mongodb-client-encryption/build/Release/mongocrypt.node ] && command -v npm >/dev/null; then
  echo "== npm ci ($nd)"
  (cd $nd && BUILD_TYPE=dynamic npm_config_nodedir=/usr npm_config_build_from_source=true \
    npm ci --no-audit --no-fund) >"$B.interop-npm.log" 2>&1 ||
    echo "run.sh: npm ci in $nd failed (see $B.interop-npm.log); interop_node will skip" >&2
fi

logs=()
status=0
echo "== build"
if build "$B"; then
  echo "== tests"
  meson test -C "$B" --num-processes 2 --print-errorlogs "${NO_DEB[@]}" >"$B/test-output.log" 2>&1 || status=1
  grep -E "^ *[0-9]+/[0-9]+ " "$B/test-output.log"
  logs+=("$B/meson-logs/testlog.json")
else
  echo "run.sh: build failed"; echo "0 passed, 1 failed"; exit 1
fi

if [ $VALGRIND = 1 ]; then
  echo "== tests (valgrind)"
  command -v valgrind >/dev/null || scripts/deps.sh valgrind
  rm -f "$B"/meson-logs/valgrind*.json
  MESON_TESTTHREADS=2 meson test -C "$B" --suite unit --logbase valgrind --num-processes 2 --print-errorlogs \
    --wrap='valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect -q' \
    >"$B/valgrind-output.log" 2>&1 || status=1
  grep -E "^ *[0-9]+/[0-9]+ " "$B/valgrind-output.log"
  # meson names the log after the wrapper too (valgrind-valgrind.json)
  vlog=$(ls -t "$B"/meson-logs/valgrind*.json 2>/dev/null | head -1)
  if [ -n "$vlog" ]; then logs+=("valgrind=$vlog"); else echo "run.sh: no valgrind log"; status=1; fi
fi

if [ $SANITIZE = 1 ]; then
  echo "== build (ASan + UBSan)"
  if build "$B-asan" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
    echo "== tests (ASan + UBSan)"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      meson test -C "$B-asan" --suite unit --suite fuzz --num-processes 2 --print-errorlogs >"$B-asan/test-output.log" 2>&1 || status=1
    grep -E "^ *[0-9]+/[0-9]+ " "$B-asan/test-output.log"
    logs+=("asan=$B-asan/meson-logs/testlog.json")
  else
    echo "run.sh: sanitizer build failed"; echo "0 passed, 1 failed"; exit 1
  fi
fi

if [ $TSAN = 1 ]; then
  echo "== build (ThreadSanitizer)"
  if build "$B-tsan" -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug; then
    echo "== tests (ThreadSanitizer)"
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      meson test -C "$B-tsan" --suite unit --num-processes 2 --print-errorlogs >"$B-tsan/test-output.log" 2>&1 || status=1
    grep -E "^ *[0-9]+/[0-9]+ " "$B-tsan/test-output.log"
    logs+=("tsan=$B-tsan/meson-logs/testlog.json")
  else
    echo "run.sh: ThreadSanitizer build failed"; echo "0 passed, 1 failed"; exit 1
  fi
fi

echo "== results"
/usr/bin/python3 "$ROOT/tests/count_results.py" "${logs[@]}" || status=1
exit $status
