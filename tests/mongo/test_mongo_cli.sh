#!/usr/bin/env bash
# The phicrypt tool on a MongoDB key vault whose server misbehaves, as TAP:
# a server that refuses writes, and a server restarted in the middle of a
# run. Each case runs its own test server (tests/mongo/server.sh) on
# 127.0.0.1. Usage: test_mongo_cli.sh PATH/TO/phicrypt
set -u
P=$(realpath "${1:?usage: test_mongo_cli.sh PATH/TO/phicrypt}")
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-mongo-cli-XXXXXX")
trap '"$HERE/server.sh" stop "$T/ro"; "$HERE/server.sh" stop "$T/rs"; "$HERE/server.sh" stop "$T/au"; rm -rf "$T"' EXIT
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

# The audit log anchored in MongoDB (issue 18): checkpoints reach the
# anchor and verify finds them, also for an auditor with only the public
# key and the URI; a log rolled back to an older copy is refused.
if URI=$("$HERE/server.sh" start "$T/au"); then
  A="$T/ks/audit-anchored.json"
  python3 - "$T/ks/phicrypt.json" "$A" "${URI%/}/phiaudit_cli" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["audit"] = {"path": "audit-anchored.jsonl", "anchors": [sys.argv[3]]}
json.dump(c, open(sys.argv[2], "w"))
PY
  ALOG="$T/ks/audit-anchored.jsonl"
  "$P" --config "$A" audit rotate-key >/dev/null 2>"$T/err" &&
    cp "$ALOG" "$T/old.jsonl" &&
    "$P" --config "$A" audit rotate-key >/dev/null 2>>"$T/err" &&
    "$P" --config "$A" audit public-key >"$T/ks/audit.pub" 2>>"$T/err"
  "$P" --config "$A" audit verify >"$T/out" 2>>"$T/err"
  st=$?
  mkdir -p "$T/auditor" && cp "$ALOG" "$T/ks/audit.pub" "$T/auditor/"
  (cd "$T/auditor" && env -u PHICRYPT_CONFIG "$P" audit verify audit-anchored.jsonl --public-key audit.pub \
     --anchors "${URI%/}/phiaudit_cli") >"$T/out2" 2>>"$T/err"
  st2=$?
  if [ $st = 0 ] && grep -Eq "\([1-9][0-9]* anchored checkpoints? found" "$T/out" && [ $st2 = 0 ] &&
     grep -Eq "\([1-9][0-9]* anchored checkpoints? found" "$T/out2"; then
    ok "test_mongo_cli__audit_anchor_verify"
  else
    notok "test_mongo_cli__audit_anchor_verify" "exit $st/$st2" "$(head -c 300 "$T/out" "$T/out2" "$T/err")"
  fi
  cp "$T/old.jsonl" "$ALOG"
  "$P" --config "$A" audit checkpoint >/dev/null 2>"$T/err"
  st=$?
  (cd "$T/auditor" && cp "$T/old.jsonl" audit-anchored.jsonl && env -u PHICRYPT_CONFIG "$P" audit verify \
     audit-anchored.jsonl --public-key audit.pub --anchors "${URI%/}/phiaudit_cli") >"$T/out2" 2>&1
  st2=$?
  if [ $st != 0 ] && grep -q "behind its anchor" "$T/err" && cmp -s "$T/old.jsonl" "$ALOG" && [ $st2 = 1 ] &&
     grep -q "truncated or rolled back" "$T/out2"; then
    ok "test_mongo_cli__audit_anchor_rollback_refused"
  else
    notok "test_mongo_cli__audit_anchor_rollback_refused" "exit $st/$st2" "$(head -c 300 "$T/err" "$T/out2")"
  fi
  "$HERE/server.sh" stop "$T/au"
else
  notok "test_mongo_cli__audit_anchor_verify" "test server did not start"
  notok "test_mongo_cli__audit_anchor_rollback_refused" "test server did not start"
fi

echo "1..$n"
[ $fails = 0 ]
