#!/usr/bin/env bash
# The service example in its no-server mode, as TAP.
set -u
S=${1:?usage: test_service.sh PATH/TO/phicrypt-service}
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-service-test-XXXXXX")
trap 'rm -rf "$T"' EXIT
n=0; fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
expect() { if grep -q -- "$3" "$2"; then ok "$1"; else notok "$1" "no '$3'"; fi; }
expect_not() { if grep -q -- "$3" "$2"; then notok "$1" "'$3' found"; else ok "$1"; fi; }

if MONGODB_URI= "$S" --dir "$T/svc" >"$T/out" 2>"$T/err"; then ok "test_service__runs_without_a_server"; else notok "test_service__runs_without_a_server" "$(head -c 400 "$T/err")"; fi
expect "test_service__insert_is_encrypted" "$T/out" '"insert" : "patients".*"ssn" : { "$binary"'
expect_not "test_service__no_plaintext_sent" <(grep 'sends:' "$T/out") '123-45-6789'
expect "test_service__finds_by_ssn" "$T/out" 'found 1 record'
grep -A1 'billing for PAYMENT' "$T/out" >"$T/billing"
expect "test_service__billing_sees_ssn" "$T/billing" '123-45-6789'
expect_not "test_service__billing_does_not_see_diagnosis" "$T/billing" 'diabetes'
expect "test_service__billing_sees_marker" "$T/billing" 'RESTRICTED'
grep -A1 'physician for TREATMENT' "$T/out" >"$T/physician"
expect "test_service__physician_sees_diagnosis" "$T/physician" 'Type 2 diabetes mellitus'
expect "test_service__audit_intact" "$T/out" 'verify: intact: 2 lines'
expect_not "test_service__no_phi_in_audit_log" "$T/svc/audit.jsonl" '123-45-6789\|MRN-0042\|diabetes'
expect_not "test_service__store_holds_no_plaintext" "$T/svc/hospital.patients.jsonl" '123-45-6789\|diabetes\|Inhaler'
echo "1..$n"
[ "$fails" -eq 0 ]
