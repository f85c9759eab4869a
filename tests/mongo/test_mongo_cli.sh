#!/usr/bin/env bash
# The phicrypt tool on a MongoDB key vault whose server misbehaves, as TAP:
# a server that refuses writes, and a server restarted in the middle of a
# run. Each case runs its own test server (tests/mongo/server.sh) on
# 127.0.0.1. Usage: test_mongo_cli.sh PATH/TO/phicrypt
set -u
P=$(realpath "${1:?usage: test_mongo_cli.sh PATH/TO/phicrypt}")
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-mongo-cli-XXXXXX")
trap '"$HERE/server.sh" stop "$T/ro"; "$HERE/server.sh" stop "$T/rs"; rm -rf "$T"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
export MONGOC_DISABLE_SHM=1

"$P" init --dir "$T/ks" >/dev/null || { echo "Bail out! init failed"; exit 1; }
config() { # URI -> config path
  local f="$T/ks/mongo-$n.json"
  printf '{"kms_providers": {"local": {"key_file": "%s/ks/master.key"}}, "key_vault": "%s",
 "key_vault_namespace": "encryption.__keyVault"}\n' "$T" "$1" >"$f"
  echo "$f"
}

# A server whose user may only read: a clear error, no key.
if URI=$("$HERE/server.sh" start "$T/ro" --refuse-writes); then
  C=$(config "$URI")
  "$P" --config "$C" keys create --provider local --alt-name ro-key >"$T/out" 2>"$T/err"
  st=$?
  if [ $st = 1 ] && grep -qi "key vault" "$T/err" && grep -qi "not authorized\|unauthorized" "$T/err"; then
    ok "test_mongo_cli__write_refused_is_a_clear_error"
  else
    notok "test_mongo_cli__write_refused_is_a_clear_error" "exit $st" "$(head -c 300 "$T/err")"
  fi
  "$P" --config "$C" keys list >"$T/out" 2>"$T/err"
  if [ $? = 0 ] && ! grep -q "ro-key" "$T/out"; then ok "test_mongo_cli__write_refused_leaves_no_key"
  else notok "test_mongo_cli__write_refused_leaves_no_key" "$(head -c 300 "$T/out" "$T/err")"; fi
  "$HERE/server.sh" stop "$T/ro"
else
  notok "test_mongo_cli__write_refused_is_a_clear_error" "test server did not start"
  notok "test_mongo_cli__write_refused_leaves_no_key" "test server did not start"
fi

# The server goes away in the middle of a run, then comes back (empty: it
# keeps data in memory): the write in between fails clearly, the next works.
if URI=$("$HERE/server.sh" start "$T/rs"); then
  C=$(config "${URI}?serverSelectionTimeoutMS=2000")
  "$P" --config "$C" keys create --provider local --alt-name before >/dev/null 2>"$T/err" &&
    ok "test_mongo_cli__create_before_restart" || notok "test_mongo_cli__create_before_restart" "$(head -c 300 "$T/err")"
  "$HERE/server.sh" kill-server "$T/rs"
  timeout 120 "$P" --config "$C" keys create --provider local --alt-name during >"$T/out" 2>"$T/err"
  st=$?
  if [ $st = 1 ] && grep -qi "key vault" "$T/err"; then ok "test_mongo_cli__server_gone_is_a_clear_error"
  else notok "test_mongo_cli__server_gone_is_a_clear_error" "exit $st" "$(head -c 300 "$T/err")"; fi
  "$HERE/server.sh" restart-server "$T/rs"
  "$P" --config "$C" keys create --provider local --alt-name after >/dev/null 2>"$T/err" &&
    ok "test_mongo_cli__create_after_restart" || notok "test_mongo_cli__create_after_restart" "$(head -c 300 "$T/err")"
  "$P" --config "$C" keys list >"$T/out" 2>"$T/err"
  if grep -q '"after"' "$T/out" && ! grep -q '"during"' "$T/out"; then ok "test_mongo_cli__no_partial_key_after_restart"
  else notok "test_mongo_cli__no_partial_key_after_restart" "$(head -c 400 "$T/out")"; fi
else
  for c in create_before_restart server_gone_is_a_clear_error create_after_restart no_partial_key_after_restart; do
    notok "test_mongo_cli__$c" "test server did not start"
  done
fi

echo "1..$n"
[ $fails = 0 ]
