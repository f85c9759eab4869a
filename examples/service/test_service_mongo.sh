#!/usr/bin/env bash
# The service example end to end against the suite's MongoDB test server
# (tests/mongo/server.sh: jongodb + relay on 127.0.0.1, not mongod), as TAP.
# Usage: test_service_mongo.sh PATH/TO/phicrypt-service PATH/TO/tests/mongo/server.sh
set -u
S=${1:?usage: test_service_mongo.sh SERVICE SERVER_SH}
SRV=${2:?usage: test_service_mongo.sh SERVICE SERVER_SH}
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-service-mongo-XXXXXX")
trap '"$SRV" stop "$T/server" >/dev/null 2>&1; rm -rf "$T"' EXIT
n=0; fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
expect() { if grep -q -- "$3" "$2"; then ok "$1"; else notok "$1" "no '$3'"; fi; }
expect_not() { if grep -q -- "$3" "$2"; then notok "$1" "'$3' found"; else ok "$1"; fi; }

if ! uri=$("$SRV" start "$T/server" 2>"$T/srv.err"); then
  echo "Bail out! the MongoDB test server did not start: $(head -c 300 "$T/srv.err")"
  exit 1
fi
if MONGODB_URI=$uri "$S" --dir "$T/svc" >"$T/out" 2>"$T/err"; then ok "test_service_mongo__runs_against_the_server"; else notok "test_service_mongo__runs_against_the_server" "$(head -c 400 "$T/err")"; fi
expect "test_service_mongo__connected" "$T/out" 'connected to MongoDB'
grep 'sends:' "$T/out" | head -1 >"$T/insert"
expect "test_service_mongo__insert_is_encrypted" "$T/insert" '"ssn" : { "$binary"'
expect "test_service_mongo__client_generated_ids" "$T/insert" '"_id" : { "$oid"'
expect_not "test_service_mongo__no_plaintext_sent" <(grep 'sends:' "$T/out") '123-45-6789\|diabetes'
expect "test_service_mongo__finds_by_ssn" "$T/out" 'found 1 record'
grep -A1 'billing for PAYMENT' "$T/out" >"$T/billing"
expect "test_service_mongo__billing_sees_ssn" "$T/billing" '123-45-6789'
expect_not "test_service_mongo__billing_does_not_see_diagnosis" "$T/billing" 'diabetes'
grep -A1 'physician for TREATMENT' "$T/out" >"$T/physician"
expect "test_service_mongo__physician_sees_diagnosis" "$T/physician" 'Type 2 diabetes mellitus'
# the record read back carries the _id the service generated, not one the server made
id=$(sed -n 's/.*"documents" : \[ { "_id" : { "$oid" : "\([0-9a-f]*\)".*/\1/p' "$T/insert")
if [ -n "$id" ] && grep -q "\"\$oid\" : \"$id\"" "$T/physician"; then ok "test_service_mongo__reads_its_own_id"; else notok "test_service_mongo__reads_its_own_id" "id '$id'"; fi
expect "test_service_mongo__audit_intact" "$T/out" 'verify: intact: 2 lines'
expect_not "test_service_mongo__no_phi_in_audit_log" "$T/svc/audit.jsonl" '123-45-6789\|MRN-0042\|diabetes'
echo "1..$n"
[ "$fails" -eq 0 ]
