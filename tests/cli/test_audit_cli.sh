#!/usr/bin/env bash
# End-to-end tests of access rules and the audit log through the phicrypt
# tool, as TAP. Usage: test_audit_cli.sh PATH/TO/phicrypt
set -u
P=$(realpath "${1:?usage: test_audit_cli.sh PATH/TO/phicrypt}")
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-audit-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # NAME EXPECTED_STATUS CMD... (stdout in $T/out, stderr in $T/err)
  local name=$1 want=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" -eq "$want" ]; then ok "$name"; else notok "$name" "exit $got, wanted $want" "$(head -c 400 "$T/err")"; fi
}
checkin() { # NAME EXPECTED_STATUS INPUT CMD...
  local name=$1 want=$2 input=$3; shift 3
  printf '%s' "$input" | "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" -eq "$want" ]; then ok "$name"; else notok "$name" "exit $got, wanted $want" "$(head -c 400 "$T/err")"; fi
}
expect_grep() { if grep -q -- "$3" "$2"; then ok "$1"; else notok "$1" "no '$3' in $2" "$(head -c 400 "$2")"; fi; }
expect_no_grep() { if grep -q -- "$3" "$2"; then notok "$1" "'$3' found in $2"; else ok "$1"; fi; }

SSN='123-45-6789'
DX='Type 2 diabetes mellitus'
MRN='MRN-4711'

"$P" init --dir "$T/ks" >/dev/null 2>&1 || { echo "Bail out! phicrypt init failed"; exit 1; }
export PHICRYPT_CONFIG="$T/ks/phicrypt.json"
"$P" keys create --provider local --alt-name k_ssn >/dev/null && "$P" keys create --provider local --alt-name k_dx >/dev/null \
  || { echo "Bail out! keys create failed"; exit 1; }
SSN_CT=$(printf '"%s"' "$SSN" | "$P" encrypt --key-alt-name k_ssn --algorithm deterministic)
DX_CT=$(printf '"%s"' "$DX" | "$P" encrypt --key-alt-name k_dx --algorithm random)
DOC="{\"mrn\":\"$MRN\",\"ssn\":$SSN_CT,\"diagnosis\":$DX_CT}"

# Add access rules and an audit log to the generated configuration.
python3 - "$PHICRYPT_CONFIG" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["access"] = {"roles": {"billing": {"purposes": ["PAYMENT"], "fields": ["ssn", "mrn"], "keys": ["k_ssn"]},
                         "physician": {"purposes": ["TREATMENT"], "fields": ["*"]}},
               "break_glass": {"purpose": "EMERGENCY", "roles": ["physician"]}}
c["audit"] = {"path": "audit.jsonl", "subject_field": "mrn"}
json.dump(c, open(p, "w"))
PY
LOG="$T/ks/audit.jsonl"

check "test_audit_cli__decrypt_document_needs_a_session" 2 sh -c "printf '%s' '$DOC' | '$P' decrypt-document"
expect_grep "test_audit_cli__session_error_names_options" "$T/err" "--purpose"
checkin "test_audit_cli__billing_decrypts_ssn" 0 "$DOC" "$P" decrypt-document --ns hospital.patients --actor clerk --role billing --purpose PAYMENT
expect_grep "test_audit_cli__billing_sees_ssn" "$T/out" "$SSN"
expect_no_grep "test_audit_cli__billing_does_not_see_diagnosis" "$T/out" "$DX"
expect_grep "test_audit_cli__diagnosis_stays_encrypted" "$T/out" '"diagnosis":{"$binary"'
checkin "test_audit_cli__physician_decrypts_all" 0 "$DOC" "$P" decrypt-document --actor drh --role physician --purpose TREATMENT
expect_grep "test_audit_cli__physician_sees_diagnosis" "$T/out" "$DX"
checkin "test_audit_cli__wrong_purpose_is_denied" 1 "$DOC" "$P" decrypt-document --actor clerk --role billing --purpose TREATMENT
expect_grep "test_audit_cli__denial_says_access_denied" "$T/err" "access denied"
checkin "test_audit_cli__break_glass" 0 "$DOC" "$P" decrypt-document --actor er --role physician --purpose EMERGENCY
checkin "test_audit_cli__decrypt_value_allowed" 0 "$SSN_CT" "$P" decrypt --field ssn --subject "$MRN" --actor clerk --role billing --purpose PAYMENT
expect_grep "test_audit_cli__decrypt_value_output" "$T/out" "\"$SSN\""
checkin "test_audit_cli__decrypt_value_denied" 1 "$DX_CT" "$P" decrypt --field diagnosis --actor clerk --role billing --purpose PAYMENT
expect_grep "test_audit_cli__decrypt_value_denied_message" "$T/err" "access denied"
checkin "test_audit_cli__decrypt_value_needs_field" 2 "$SSN_CT" "$P" decrypt --actor clerk --role billing --purpose PAYMENT

# Every run ends with a signed checkpoint; events are the other lines.
lines=$(grep -vc '"op":"checkpoint"' "$LOG")
if [ "$lines" -eq 6 ]; then ok "test_audit_cli__one_line_per_event"; else notok "test_audit_cli__one_line_per_event" "$lines lines"; fi
expect_grep "test_audit_cli__break_glass_flagged" "$LOG" '"purpose":"EMERGENCY".*"break_glass":true'
expect_grep "test_audit_cli__denial_logged" "$LOG" '"outcome":"denied"'
for v in "$SSN" "$DX" "$MRN"; do
  expect_no_grep "test_audit_cli__no_phi_in_log_${v//[^A-Za-z0-9]/_}" "$LOG" "$v"
done
# Bare digits of the identifiers, not inside a longer hex or decimal run
# (chain values, key ids and timestamps may contain any short digit run).
for v in 4711 123456789; do
  if grep -qE "(^|[^0-9a-f])$v([^0-9a-f]|\$)" "$LOG"; then notok "test_audit_cli__no_phi_in_log_$v" "'$v' found in $LOG"; else ok "test_audit_cli__no_phi_in_log_$v"; fi
done

check "test_audit_cli__verify_intact" 0 "$P" audit verify
expect_grep "test_audit_cli__verify_reports_lines" "$T/out" "intact: 12 lines, 6 signed checkpoints"
check "test_audit_cli__disclosures_table" 0 "$P" audit disclosures --subject "$MRN"
expect_grep "test_audit_cli__disclosures_count" "$T/out" "4 disclosures"
expect_grep "test_audit_cli__disclosures_show_break_glass" "$T/out" "BREAK-GLASS"
checkin "test_audit_cli__disclosures_json_subject_on_stdin" 0 "$MRN" "$P" audit disclosures --subject - --json
expect_grep "test_audit_cli__disclosures_json" "$T/out" '"disclosures":\[{'
expect_no_grep "test_audit_cli__disclosures_json_no_mrn" "$T/out" "$MRN"
check "test_audit_cli__disclosures_since_future" 0 "$P" audit disclosures --subject "$MRN" --since 2100-01-01
expect_grep "test_audit_cli__disclosures_since_future_empty" "$T/out" "0 disclosures"
check "test_audit_cli__disclosures_bad_since" 2 "$P" audit disclosures --subject "$MRN" --since yesterday

# Damage copies of the log.
cp "$LOG" "$T/edit.jsonl"; sed -i '0,/TREATMENT/s//TREATMENX/' "$T/edit.jsonl"
check "test_audit_cli__verify_edited" 1 "$P" audit verify "$T/edit.jsonl"
expect_grep "test_audit_cli__verify_edited_names_line" "$T/out" "line 3: chain value does not match"
sed '3d' "$LOG" >"$T/del.jsonl"
check "test_audit_cli__verify_deleted" 1 "$P" audit verify "$T/del.jsonl"
expect_grep "test_audit_cli__verify_deleted_names_line" "$T/out" "line 3: .*deleted"
awk 'NR==2{l=$0;next} NR==3{print; print l; next} {print}' "$LOG" >"$T/swap.jsonl"
check "test_audit_cli__verify_reordered" 1 "$P" audit verify "$T/swap.jsonl"
expect_grep "test_audit_cli__verify_reordered_names_line" "$T/out" "line 2: .*reordered"
head -c -30 "$LOG" >"$T/torn.jsonl"
check "test_audit_cli__verify_torn_last_line_exits_3" 3 "$P" audit verify "$T/torn.jsonl"
expect_grep "test_audit_cli__verify_torn_names_it" "$T/out" "the last line is torn"
cp "$LOG" "$T/forged.jsonl"
echo '{"seq":13,"kv":1,"skv":1,"time":"2026-01-01T00:00:00.000Z","actor":"x","op":"decrypt","chain":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}' >>"$T/forged.jsonl"
check "test_audit_cli__verify_forged" 1 "$P" audit verify "$T/forged.jsonl"
expect_grep "test_audit_cli__verify_forged_names_line" "$T/out" "line 13: chain value does not match"
check "test_audit_cli__unknown_subcommand" 2 "$P" audit frobnicate

# Re-identification through a session: the allowed fields, the others left as they are.
cat >"$T/policy.json" <<'POL'
{"version": 1, "unknown_fields": "keep",
 "fields": {"ssn": {"action": "encrypt", "key_alt_name": "k_ssn", "algorithm": "deterministic"},
            "diagnosis": {"action": "encrypt", "key_alt_name": "k_dx", "algorithm": "random"}}}
POL
printf '{"mrn":"%s","ssn":"%s","diagnosis":"%s"}\n' "$MRN" "$SSN" "$DX" >"$T/plain.jsonl"
check "test_audit_cli__deid_run_with_session" 0 "$P" deid --policy "$T/policy.json" --in "$T/plain.jsonl" --out "$T/deid.jsonl" --actor etl --role physician --purpose TREATMENT
expect_no_grep "test_audit_cli__deid_output_has_no_ssn" "$T/deid.jsonl" "$SSN"
check "test_audit_cli__reid_needs_a_session" 2 "$P" reid --policy "$T/policy.json" --in "$T/deid.jsonl" --out "$T/reid.jsonl"
check "test_audit_cli__reid_billing_wrong_purpose_denied" 1 "$P" reid --policy "$T/policy.json" --in "$T/deid.jsonl" --out "$T/reid.jsonl" --actor clerk --role billing --purpose TREATMENT
expect_grep "test_audit_cli__reid_denied_message" "$T/err" "access denied"
if [ -e "$T/reid.jsonl" ]; then notok "test_audit_cli__reid_denied_writes_nothing"; else ok "test_audit_cli__reid_denied_writes_nothing"; fi
check "test_audit_cli__reid_billing_partial" 0 "$P" reid --policy "$T/policy.json" --in "$T/deid.jsonl" --out "$T/reid_billing.jsonl" --actor clerk --role billing --purpose PAYMENT
expect_grep "test_audit_cli__reid_billing_gets_ssn" "$T/reid_billing.jsonl" "$SSN"
expect_no_grep "test_audit_cli__reid_billing_no_diagnosis" "$T/reid_billing.jsonl" "$DX"
expect_grep "test_audit_cli__reid_billing_diagnosis_kept" "$T/reid_billing.jsonl" '"diagnosis":{"$binary"'
expect_grep "test_audit_cli__reid_partial_audited" "$LOG" '"op":"reid".*"fields":\["ssn"\].*"denied_fields":\["diagnosis"\]'
expect_grep "test_audit_cli__reid_partial_key_used" "$LOG" '"op":"reid".*"denied_fields":\["diagnosis"\],"key_ids":\["[^"]*"\]'
check "test_audit_cli__reid_physician" 0 "$P" reid --policy "$T/policy.json" --in "$T/deid.jsonl" --out "$T/reid.jsonl" --actor drh --role physician --purpose TREATMENT
expect_grep "test_audit_cli__reid_restores_values" "$T/reid.jsonl" "$DX"
expect_grep "test_audit_cli__reid_audited" "$LOG" '"op":"reid".*"count":1.*"outcome":"ok"'
expect_grep "test_audit_cli__deid_audited" "$LOG" '"op":"deid"'
check "test_audit_cli__verify_after_reid" 0 "$P" audit verify

. "$(dirname "$0")/audit_v2_cases.sh"

echo "1..$n"
[ "$fails" -eq 0 ]
