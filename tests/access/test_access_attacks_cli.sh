#!/usr/bin/env bash
# The attack suite of minimum necessary through the phicrypt tool, as TAP:
# a billing clerk (allowed ssn, mrn) tries to read the diagnosis by
# relabelling ciphertexts, tokens and keys; an unwritable audit log must
# stop every disclosure. Usage: test_access_attacks_cli.sh PATH/TO/phicrypt
set -u
P=$(realpath "${1:?usage: test_access_attacks_cli.sh PATH/TO/phicrypt}")
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-access-attacks-XXXXXX")
trap 'umount "$T/ro" 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
checkin() { # NAME EXPECTED_STATUS INPUT CMD... (stdout in $T/out, stderr in $T/err)
  local name=$1 want=$2 input=$3; shift 3
  printf '%s' "$input" | "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" -eq "$want" ]; then ok "$name"; else notok "$name" "exit $got, wanted $want" "$(head -c 300 "$T/err")"; fi
}
expect_grep() { if grep -q -- "$3" "$2"; then ok "$1"; else notok "$1" "no '$3' in $2"; fi; }
expect_no_grep() { if grep -q -- "$3" "$2"; then notok "$1" "'$3' found in $2"; else ok "$1"; fi; }
# The log's last event is a denial (and holds no PHI); checkpoint lines
# (audit log v2: signed at shutdown) carry no outcome and are passed over.
expect_denied() {
  local last; last=$(grep '"outcome"' "$LOG" | tail -n 1)
  case "$last" in *'"outcome":"denied"'*) ok "$1";; *) notok "$1" "last audit line is not a denial";; esac
  case "$last" in *"$DX"*|*"$SSN"*) notok "$1_no_phi" "PHI in the audit line";; *) ok "$1_no_phi";; esac
}
absent() { if [ -e "$2" ]; then notok "$1" "$2 exists"; else ok "$1"; fi; }

SSN='123-45-6789'
DX='Type 2 diabetes mellitus'
MRN='MRN-4711'
PHONE='617-555-0100'
BILL=(--actor clerk --role billing --purpose PAYMENT)

"$P" init --dir "$T/ks" >/dev/null 2>&1 || { echo "Bail out! phicrypt init failed"; exit 1; }
export PHICRYPT_CONFIG="$T/ks/phicrypt.json"
K_SSN=$("$P" keys create --provider local --alt-name k_ssn) && K_DX=$("$P" keys create --provider local --alt-name k_dx) \
  || { echo "Bail out! keys create failed"; exit 1; }
for k in tok:ssn tok:dx tok:mrn; do "$P" token create "$k" --algorithm siv >/dev/null || { echo "Bail out! token create"; exit 1; }; done
"$P" token create tok:phone --algorithm ff1 >/dev/null || { echo "Bail out! token create"; exit 1; }
SSN_CT=$(printf '"%s"' "$SSN" | "$P" encrypt --key-alt-name k_ssn --algorithm deterministic)
DX_CT=$(printf '"%s"' "$DX" | "$P" encrypt --key-alt-name k_dx --algorithm random)
DX_TOK=$(printf '%s\n' "$DX" | "$P" tokenize --key tok:dx)

# The schema map binds k_ssn to ssn and k_dx to diagnosis; billing may see
# ssn and mrn and use the keyring keys tok:ssn and tok:mrn.
python3 - "$PHICRYPT_CONFIG" "$K_SSN" "$K_DX" <<'PY'
import json, sys
p, kssn, kdx = sys.argv[1:4]
c = json.load(open(p))
enc = lambda k, alg: {"encrypt": {"keyId": [{"$uuid": k}], "bsonType": "string",
                                  "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-" + alg}}
c["schema_map"] = {"hospital.patients": {"bsonType": "object", "properties": {
    "ssn": enc(kssn, "Deterministic"), "diagnosis": enc(kdx, "Random")}}}
c["access"] = {"roles": {"billing": {"purposes": ["PAYMENT"], "fields": ["ssn", "mrn"], "keys": ["tok:ssn", "tok:mrn"]},
                         "physician": {"purposes": ["TREATMENT"], "fields": ["*"]}}}
c["audit"] = {"path": "audit.jsonl", "subject_field": "mrn"}
json.dump(c, open(p, "w"))
PY
LOG="$T/ks/audit.jsonl"

# -- relabelling in explicit decrypt
checkin "test_access_cli__relabel_decrypt_denied" 1 "$DX_CT" "$P" decrypt --field ssn "${BILL[@]}"
expect_no_grep "test_access_cli__relabel_decrypt_no_plaintext" "$T/out" "$DX"
expect_grep "test_access_cli__relabel_decrypt_says_denied" "$T/err" "access denied"
expect_denied "test_access_cli__relabel_decrypt_audited"
checkin "test_access_cli__genuine_decrypt_allowed" 0 "$SSN_CT" "$P" decrypt --field ssn --ns hospital.patients "${BILL[@]}"
expect_grep "test_access_cli__genuine_decrypt_output" "$T/out" "$SSN"

# -- relabelling in decrypt-document: moved, copied, nested, inside arrays
for c in "moved:{\"mrn\":\"$MRN\",\"ssn\":$DX_CT}" \
         "copied:{\"ssn\":$SSN_CT,\"diagnosis\":$DX_CT,\"mrn\":$DX_CT}" \
         "nested:{\"ssn\":{\"x\":$DX_CT}}" \
         "in_array:{\"ssn\":$SSN_CT,\"mrn\":[$DX_CT]}"; do
  name=${c%%:*} doc=${c#*:}
  checkin "test_access_cli__relabel_document_${name}_denied" 1 "$doc" "$P" decrypt-document --ns hospital.patients "${BILL[@]}"
  expect_no_grep "test_access_cli__relabel_document_${name}_no_plaintext" "$T/out" "$DX"
  expect_denied "test_access_cli__relabel_document_${name}_audited"
done

# -- detokenize with another field's token
checkin "test_access_cli__detokenize_other_key_denied" 1 "$DX_TOK" "$P" detokenize --key tok:dx --field ssn "${BILL[@]}"
expect_no_grep "test_access_cli__detokenize_other_key_no_plaintext" "$T/out" "$DX"
expect_denied "test_access_cli__detokenize_other_key_audited"
checkin "test_access_cli__detokenize_own_key_does_not_open" 1 "$DX_TOK" "$P" detokenize --key tok:ssn --field ssn "${BILL[@]}"
expect_no_grep "test_access_cli__detokenize_own_key_no_plaintext" "$T/out" "$DX"

# -- reid with a policy that names a different key
cat >"$T/pol_tok.json" <<'POL'
{"version": 1, "unknown_fields": "keep", "fields": {"ssn": {"action": "tokenize", "key": "tok:dx"}}}
POL
cat >"$T/pol_enc.json" <<'POL'
{"version": 1, "unknown_fields": "keep", "fields": {"ssn": {"action": "encrypt", "key_alt_name": "k_dx"}}}
POL
printf '{"ssn":"%s"}\n' "$DX" >"$T/plain_dx.jsonl"
for pol in tok enc; do
  "$P" deid --policy "$T/pol_$pol.json" --in "$T/plain_dx.jsonl" --out "$T/deid_$pol.jsonl" --actor etl --role physician --purpose TREATMENT 2>/dev/null
  checkin "test_access_cli__reid_policy_${pol}_other_key_denied" 1 "" "$P" reid --policy "$T/pol_$pol.json" --in "$T/deid_$pol.jsonl" --out "$T/reid_$pol.jsonl" "${BILL[@]}"
  absent "test_access_cli__reid_policy_${pol}_other_key_no_file" "$T/reid_$pol.jsonl"
  expect_denied "test_access_cli__reid_policy_${pol}_other_key_audited"
done

# -- minimum necessary partial reid
cat >"$T/pol.json" <<'POL'
{"version": 1, "unknown_fields": "keep",
 "fields": {"ssn": {"action": "tokenize", "key": "tok:ssn"}, "mrn": {"action": "tokenize", "key": "tok:mrn"},
            "phone": {"action": "tokenize", "key": "tok:phone", "format": "phone"}}}
POL
printf '{"ssn":"%s","mrn":"%s","phone":"%s"}\n' "$SSN" "$MRN" "$PHONE" >"$T/plain.jsonl"
"$P" deid --policy "$T/pol.json" --in "$T/plain.jsonl" --out "$T/deid.jsonl" --actor etl --role physician --purpose TREATMENT 2>/dev/null
checkin "test_access_cli__partial_reid_billing_payment" 0 "" "$P" reid --policy "$T/pol.json" --in "$T/deid.jsonl" --out "$T/reid.jsonl" --report "$T/report.json" "${BILL[@]}"
expect_grep "test_access_cli__partial_reid_ssn_back" "$T/reid.jsonl" "\"ssn\":\"$SSN\""
expect_grep "test_access_cli__partial_reid_mrn_back" "$T/reid.jsonl" "\"mrn\":\"$MRN\""
expect_no_grep "test_access_cli__partial_reid_phone_stays_tokenized" "$T/reid.jsonl" "$PHONE"
expect_grep "test_access_cli__partial_reid_report_lists_both" "$T/report.json" '"withheld_fields":\["phone"\]'
expect_grep "test_access_cli__partial_reid_audit_lists_both" "$LOG" '"fields":\["ssn","mrn"\],"denied_fields":\["phone"\]'
checkin "test_access_cli__partial_reid_billing_treatment_denied" 1 "" "$P" reid --policy "$T/pol.json" --in "$T/deid.jsonl" --out "$T/reid2.jsonl" --actor clerk --role billing --purpose TREATMENT
absent "test_access_cli__partial_reid_billing_treatment_no_file" "$T/reid2.jsonl"

# -- session strings that would poison the log
before=$(wc -l <"$LOG")
checkin "test_access_cli__bad_utf8_actor_refused" 1 "$SSN_CT" "$P" decrypt --field ssn --actor $'cl\xffrk' --role billing --purpose PAYMENT
checkin "test_access_cli__control_char_purpose_refused" 1 "$SSN_CT" "$P" decrypt --field ssn --actor clerk --role billing --purpose $'PAY\nMENT'
if [ "$(wc -l <"$LOG")" -eq "$before" ]; then ok "test_access_cli__bad_session_writes_nothing"; else notok "test_access_cli__bad_session_writes_nothing"; fi
checkin "test_access_cli__log_verifies" 0 "" "$P" audit verify

# -- audit without access: the plain CLI decrypt is audited
python3 - "$PHICRYPT_CONFIG" "$T/ks/noaccess.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); del c["access"]; c["audit"]["path"] = "audit_noaccess.jsonl"
json.dump(c, open(sys.argv[2], "w"))
PY
checkin "test_access_cli__plain_decrypt_with_audit" 0 "$SSN_CT" env PHICRYPT_CONFIG="$T/ks/noaccess.json" "$P" decrypt
expect_grep "test_access_cli__plain_decrypt_is_audited" "$T/ks/audit_noaccess.jsonl" '"op":"decrypt"'

# -- fail closed: an unwritable audit log stops every disclosure
mkdir "$T/gone" && rmdir "$T/gone"
for how in full gone; do
  case $how in full) path=/dev/full;; gone) path="$T/gone/audit.jsonl";; esac
  python3 - "$PHICRYPT_CONFIG" "$T/ks/broken.json" "$path" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["audit"]["path"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"))
PY
  B=(env PHICRYPT_CONFIG="$T/ks/broken.json")
  DOC="{\"mrn\":\"$MRN\",\"ssn\":$SSN_CT}"
  checkin "test_access_cli__${how}_log_decrypt_fails" 1 "$SSN_CT" "${B[@]}" "$P" decrypt --field ssn "${BILL[@]}"
  expect_no_grep "test_access_cli__${how}_log_decrypt_no_plaintext" "$T/out" "$SSN"
  checkin "test_access_cli__${how}_log_decrypt_document_fails" 1 "$DOC" "${B[@]}" "$P" decrypt-document "${BILL[@]}"
  expect_no_grep "test_access_cli__${how}_log_decrypt_document_no_plaintext" "$T/out" "$SSN"
  SSN_TOK=$(printf '%s\n' "$SSN" | "$P" tokenize --key tok:ssn)
  checkin "test_access_cli__${how}_log_detokenize_fails" 1 "$SSN_TOK" "${B[@]}" "$P" detokenize --key tok:ssn --field ssn "${BILL[@]}"
  expect_no_grep "test_access_cli__${how}_log_detokenize_no_plaintext" "$T/out" "$SSN"
  checkin "test_access_cli__${how}_log_reid_file_fails" 1 "" "${B[@]}" "$P" reid --policy "$T/pol.json" --in "$T/deid.jsonl" --out "$T/reid_broken.jsonl" "${BILL[@]}"
  absent "test_access_cli__${how}_log_reid_leaves_no_file" "$T/reid_broken.jsonl"
  checkin "test_access_cli__${how}_log_reid_stdout_fails" 1 "" "${B[@]}" "$P" reid --policy "$T/pol.json" --in "$T/deid.jsonl" --out - --format jsonl "${BILL[@]}"
  expect_no_grep "test_access_cli__${how}_log_reid_stdout_no_plaintext" "$T/out" "$SSN"
  # Without access rules too (the plain calls, audited as the process).
  python3 - "$T/ks/broken.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); del c["access"]; json.dump(c, open(sys.argv[1], "w"))
PY
  checkin "test_access_cli__${how}_log_plain_decrypt_fails" 1 "$SSN_CT" "${B[@]}" "$P" decrypt
  expect_no_grep "test_access_cli__${how}_log_plain_decrypt_no_plaintext" "$T/out" "$SSN"
  checkin "test_access_cli__${how}_log_plain_reid_fails" 1 "" "${B[@]}" "$P" reid --policy "$T/pol.json" --in "$T/deid.jsonl" --out "$T/reid_plain.jsonl"
  absent "test_access_cli__${how}_log_plain_reid_leaves_no_file" "$T/reid_plain.jsonl"
done
# A read-only log file: mode 0400 for a user; for root (who writes it anyway) a
# tmpfs remounted read-only, where no process can append. Skipped only when
# neither is possible (root without the right to mount).
RO_DIR=$T/ro
mkdir -p "$RO_DIR"
ro_ready=0
if [ "$(id -u)" != 0 ]; then
  : >"$RO_DIR/ro.jsonl"; chmod 0400 "$RO_DIR/ro.jsonl"; ro_ready=1
elif mount -t tmpfs -o size=64k tmpfs "$RO_DIR" 2>/dev/null; then
  : >"$RO_DIR/ro.jsonl"
  if mount -o remount,ro "$RO_DIR" 2>/dev/null; then ro_ready=1; else umount "$RO_DIR"; fi
fi
if [ "$ro_ready" = 1 ]; then
  python3 - "$PHICRYPT_CONFIG" "$T/ks/ro.json" "$RO_DIR/ro.jsonl" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["audit"]["path"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"))
PY
  checkin "test_access_cli__readonly_log_reid_fails" 1 "" env PHICRYPT_CONFIG="$T/ks/ro.json" "$P" reid --policy "$T/pol.json" --in "$T/deid.jsonl" --out "$T/reid_ro.jsonl" "${BILL[@]}"
  absent "test_access_cli__readonly_log_reid_leaves_no_file" "$T/reid_ro.jsonl"
  mountpoint -q "$RO_DIR" 2>/dev/null && umount "$RO_DIR"
else
  echo "ok $((n += 1)) - test_access_cli__readonly_log_reid_fails # SKIP root without the right to mount a read-only tmpfs"
fi
echo "1..$n"
