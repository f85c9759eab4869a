#!/usr/bin/env bash
# The residual-PHI gate and the run manifest through the phicrypt tool, as
# TAP: a broken Safe Harbor policy (keep on notes) fails closed with no
# output and no value in any message; warn writes and lists; the manifest
# is written beside the output, signed with the audit key when one is
# configured, verified with only the public key, and a changed manifest or
# output is detected. Usage: test_gate_cli.sh PATH/TO/phicrypt
set -u
P=$(realpath "${1:?usage: test_gate_cli.sh PATH/TO/phicrypt}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-gate-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
unset PHICRYPT_CONFIG
cd "$T" || exit 1
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # NAME EXPECTED_STATUS CMD... (stdout in $T/out, stderr in $T/err)
  local name=$1 want=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" -eq "$want" ]; then ok "$name"; else notok "$name" "exit $got, wanted $want" "$(head -c 300 "$T/err")"; fi
}
expect_grep() { if grep -q -- "$3" "$2"; then ok "$1"; else notok "$1" "no '$3' in $2"; fi; }
expect_no_file() { if [ -e "$2" ]; then notok "$1" "$2 exists"; else ok "$1"; fi; }
expect_file() { if [ -e "$2" ]; then ok "$1"; else notok "$1" "no $2"; fi; }

/usr/bin/python3 "$ROOT/examples/data/generate_patients.py" --records 300 --seed 7 > in.jsonl || { echo "Bail out! generator"; exit 1; }
cat > bad.json <<'J'
{"version":1,"preset":"safe-harbor","unknown_fields":"drop","fields":{"notes":{"action":"keep"},"balance":{"action":"drop"}}}
J
SH=$ROOT/examples/data/policy-safe-harbor.json
# Values the generator planted in record 1 (never printed by a failing check).
NAME=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(open("in.jsonl").readline())["name"]["first"])')
SSN=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(open("in.jsonl").readline())["ssn"])')
no_values() { # NAME FILE...
  local name=$1; shift
  if grep -q -F -e "$NAME" -e "$SSN" "$@" 2>/dev/null; then notok "$name" "a planted value appears"; else ok "$name"; fi
}

check "test_gate_cli__broken_policy_fails" 1 "$P" deid --policy bad.json --in in.jsonl --out out.jsonl --report rep.json
expect_no_file "test_gate_cli__broken_policy_writes_no_output" out.jsonl
expect_no_file "test_gate_cli__broken_policy_writes_no_manifest" out.jsonl.manifest.json
expect_grep "test_gate_cli__failure_names_field_class_place" err "residual-PHI gate: a value of 'name.first' (names) survives in the output at 'notes'"
no_values "test_gate_cli__failure_shows_no_value" err rep.json
check "test_gate_cli__warn_writes" 0 "$P" deid --policy bad.json --in in.jsonl --out out.jsonl --gate warn --report rep.json
expect_grep "test_gate_cli__warn_warns" err "warning: .*residual-PHI gate"
expect_grep "test_gate_cli__warn_report_lists" rep.json '"found_at":"notes"'
check "test_gate_cli__off" 0 "$P" deid --policy bad.json --in in.jsonl --out out2.jsonl --gate off --no-manifest
expect_no_file "test_gate_cli__no_manifest_option" out2.jsonl.manifest.json
check "test_gate_cli__bad_mode_is_usage_error" 2 "$P" deid --policy bad.json --in in.jsonl --out out3.jsonl --gate maybe
# --explain and --dry-run: the rule behind each path, never a value, nothing written.
check "test_gate_cli__dry_run" 0 "$P" deid --policy bad.json --in in.jsonl --dry-run --gate warn
expect_grep "test_gate_cli__explain_names_rule" out '^notes  *keep  *300  rule "notes"'
expect_grep "test_gate_cli__explain_names_preset" out '^ssn  *redact  *300  Safe Harbor preset: the field name (social security numbers)'
expect_grep "test_gate_cli__explain_names_enclosing_rule" out '^balance  *drop  *300  rule "balance"'
no_values "test_gate_cli__explain_shows_no_value" out err
if ls "$T" | grep -q -v -e '^in.jsonl$' -e '^bad.json$' -e '^out' -e '^err$' -e '^rep.json$' -e '^out.jsonl' -e '^out2.jsonl'; then
  notok "test_gate_cli__dry_run_writes_nothing" "$(ls "$T")"; else ok "test_gate_cli__dry_run_writes_nothing"; fi
check "test_gate_cli__dry_run_refuses_out" 2 "$P" deid --policy bad.json --in in.jsonl --dry-run --out x.jsonl
check "test_gate_cli__explain_with_output" 0 "$P" deid --policy "$SH" --in in.jsonl --out e.jsonl --explain --no-manifest
expect_grep "test_gate_cli__explain_with_output_lists" out '^name.first  *redact  *300  Safe Harbor preset'
check "test_gate_cli__safe_harbor_passes" 0 "$P" deid --policy "$SH" --in in.jsonl --out sh.jsonl --report sh.json
expect_grep "test_gate_cli__report_has_gate" sh.json '"gate":{"mode":"fail","records_checked":300,'
# Manifest, unsigned (no configuration).
expect_file "test_gate_cli__manifest_beside_output" sh.jsonl.manifest.json
expect_grep "test_gate_cli__unsigned_warning" err "is not signed"
expect_grep "test_gate_cli__manifest_counts_per_class" sh.jsonl.manifest.json '"path":"ssn","action":"redact","class":"social security numbers","count":300'
no_values "test_gate_cli__manifest_has_no_phi" sh.jsonl.manifest.json
# The file hashes in the manifest are the files' SHA-256 (checked with coreutils, not phicrypt).
IN_SHA=$(sha256sum in.jsonl | cut -d' ' -f1)
OUT_SHA=$(sha256sum sh.jsonl | cut -d' ' -f1)
expect_grep "test_gate_cli__manifest_input_sha256" sh.jsonl.manifest.json "\"input\":{\"name\":\"in.jsonl\",\"sha256\":\"$IN_SHA\""
expect_grep "test_gate_cli__manifest_output_sha256" sh.jsonl.manifest.json "\"output\":{\"name\":\"sh.jsonl\",\"sha256\":\"$OUT_SHA\""
check "test_gate_cli__unsigned_does_not_verify" 1 "$P" manifest verify sh.jsonl.manifest.json --public-key /dev/null
# Signed: a configuration with an audit log.
"$P" init --dir "$T/ks" >/dev/null 2>&1 || { echo "Bail out! phicrypt init failed"; exit 1; }
export PHICRYPT_CONFIG="$T/ks/phicrypt.json"
/usr/bin/python3 - "$PHICRYPT_CONFIG" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["audit"] = {"path": "audit.jsonl"}; json.dump(c, open(sys.argv[1], "w"))
PY
check "test_gate_cli__signed_run" 0 "$P" deid --policy "$SH" --in in.jsonl --out s.jsonl --manifest s.manifest.json
expect_grep "test_gate_cli__manifest_signed" s.manifest.json '"signature":{"alg":"ed25519","key":"audit:sign","kv":1'
"$P" audit public-key > pub.json
unset PHICRYPT_CONFIG
check "test_gate_cli__verify_with_public_key_only" 0 "$P" manifest verify s.manifest.json --public-key pub.json
expect_grep "test_gate_cli__verify_checks_output" out "output: s.jsonl matches"
sed 's/"records_in":300/"records_in":299/' s.manifest.json > t.manifest.json
cp s.jsonl t.jsonl 2>/dev/null
check "test_gate_cli__edited_manifest_fails" 1 "$P" manifest verify t.manifest.json --public-key pub.json
expect_grep "test_gate_cli__edited_manifest_says_why" err "signature does not match"
printf '\n' >> s.jsonl
check "test_gate_cli__changed_output_fails" 1 "$P" manifest verify s.manifest.json --public-key pub.json
expect_grep "test_gate_cli__changed_output_named" err "s.jsonl is not the one the run wrote"
check "test_gate_cli__manifest_verify_usage" 2 "$P" manifest verify

# policy check: the example Safe Harbor policy meets it; derived codes, shifted
# dates and kept identifiers do not, each named with its reason.
check "test_gate_cli__policy_check_example_passes" 0 "$P" policy check --standard safe-harbor "$SH"
cat > codes.json <<'J'
{"version":1,"unknown_fields":"keep","fields":{"mrn":{"action":"pseudonymize","key":"k"},
 "visit":{"action":"date_shift","subject":"mrn","key":"k"},"name":{"action":"keep"},"city":{"action":"keep"},
 "notes":{"action":"keep"},"ssn":{"action":"mask","keep_last":4},"dob":{"action":"generalize","to":"year"}}}
J
"$P" init --dir "$T/ks2" >/dev/null 2>&1
export PHICRYPT_CONFIG="$T/ks2/phicrypt.json"
"$P" token create k --algorithm hmac >/dev/null 2>&1
check "test_gate_cli__policy_check_finds" 1 "$P" policy check --standard safe-harbor codes.json
expect_grep "test_gate_cli__policy_check_pseudonym" out 'fields."mrn" (pseudonymize): an HMAC pseudonym: a code derived'
expect_grep "test_gate_cli__policy_check_date_shift" out 'fields."visit" (date_shift): a shifted full date keeps a day and a month'
expect_grep "test_gate_cli__policy_check_keep_name" out 'fields."name" (keep): keeps a field of a HIPAA identifier class (names'
expect_grep "test_gate_cli__policy_check_free_text" out 'fields."notes" (keep): free text kept'
expect_grep "test_gate_cli__policy_check_mask" out 'fields."ssn" (mask): keeps the last characters of social security numbers'
expect_grep "test_gate_cli__policy_check_unknown_keep" out '^unknown_fields (keep)'
if grep -q '"dob"' out; then notok "test_gate_cli__policy_check_year_is_fine"; else ok "test_gate_cli__policy_check_year_is_fine"; fi
check "test_gate_cli__policy_check_lds" 1 "$P" policy check --standard limited-data-set codes.json
if grep -q -e '"mrn"' -e '"visit"' -e '"city"' out; then notok "test_gate_cli__lds_allows_codes_dates_city" "$(cat out)"; else ok "test_gate_cli__lds_allows_codes_dates_city"; fi
expect_grep "test_gate_cli__lds_flags_name" out 'fields."name" (keep): keeps a direct identifier'
unset PHICRYPT_CONFIG
check "test_gate_cli__policy_check_usage" 2 "$P" policy check --standard hipaa-ish "$SH"

echo "1..$n"
[ "$fails" -eq 0 ]
