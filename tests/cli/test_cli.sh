#!/usr/bin/env bash
# End-to-end tests of the phicrypt tool, as TAP. Usage: test_cli.sh PATH/TO/phicrypt
set -u
P=$(realpath "${1:?usage: test_cli.sh PATH/TO/phicrypt}")
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
# check NAME EXPECTED_STATUS CMD...: runs CMD, keeps stdout in $T/out and stderr in $T/err.
check() {
  local name=$1 want=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" -eq "$want" ]; then ok "$name"; else notok "$name" "exit $got, wanted $want" "$(head -c 400 "$T/err")"; fi
}
expect_grep() { # NAME FILE PATTERN
  if grep -q -- "$3" "$2"; then ok "$1"; else notok "$1" "no '$3' in $2" "$(head -c 400 "$2")"; fi
}
expect_no_grep() {
  if grep -q -- "$3" "$2"; then notok "$1" "'$3' found in $2"; else ok "$1"; fi
}


export PHICRYPT_CONFIG="$T/ks/phicrypt.json"

# init
check "test_cli__init_creates_key_set" 0 "$P" init --dir "$T/ks"
if [ "$(stat -c %a "$T/ks/master.key")" = 600 ] && [ "$(stat -c %s "$T/ks/master.key")" = 96 ]; then ok "test_cli__master_key_is_96_bytes_mode_600"; else notok "test_cli__master_key_is_96_bytes_mode_600"; fi
check "test_cli__init_refuses_existing_master_key" 1 "$P" init --dir "$T/ks"
expect_grep "test_cli__init_refusal_says_why" "$T/err" "refusing to replace a master key"
check "test_cli__init_without_dir_is_usage_error" 2 "$P" init

# key stores guarded
mkdir -m 0770 "$T/gw"; chmod 0770 "$T/gw"
check "test_cli__init_refuses_group_writable_dir" 1 "$P" init --dir "$T/gw"
expect_grep "test_cli__init_group_writable_says_why" "$T/err" "let group or others write"
if [ ! -e "$T/gw/master.key" ]; then ok "test_cli__init_refusal_creates_no_key"; else notok "test_cli__init_refusal_creates_no_key"; fi
skip_unless_root() { # NAME...: chown to another user needs root
  for t in "$@"; do n=$((n + 1)); echo "ok $n - $t # SKIP needs root to chown a file to another user"; done
}
if [ "$(id -u)" = 0 ]; then
  mkdir -m 0700 "$T/foreign"; chown 65534 "$T/foreign"
  check "test_cli__init_refuses_foreign_dir" 1 "$P" init --dir "$T/foreign"
  expect_grep "test_cli__init_foreign_dir_says_why" "$T/err" "not by you"
else
  skip_unless_root test_cli__init_refuses_foreign_dir test_cli__init_foreign_dir_says_why
fi
mkdir -m 0700 "$T/planted"
printf '{"kms_providers": {"local": {"key_file": "/evil/master.key"}}, "key_vault": "file:keyvault.jsonl"}\n' > "$T/planted/phicrypt.json"
check "test_cli__init_refuses_planted_config" 1 "$P" init --dir "$T/planted"
expect_grep "test_cli__init_planted_config_says_why" "$T/err" "not written by phicrypt init"
if [ ! -e "$T/planted/master.key" ]; then ok "test_cli__init_planted_config_creates_no_key"; else notok "test_cli__init_planted_config_creates_no_key"; fi
check "test_cli__init_force_replaces_config" 0 "$P" init --dir "$T/planted" --force
expect_no_grep "test_cli__init_force_config_is_ours" "$T/planted/phicrypt.json" "/evil/"
if [ "$(stat -c %a "$T/ks")" = 700 ]; then ok "test_cli__init_dir_mode_700"; else notok "test_cli__init_dir_mode_700" "$(stat -c %a "$T/ks")"; fi
G="$T/planted/phicrypt.json"
chmod 0664 "$G"
check "test_cli__group_writable_config_refused" 1 "$P" --config "$G" keys list
expect_grep "test_cli__group_writable_config_says_why" "$T/err" "let group or others write"
chmod 0644 "$G"
check "test_cli__world_readable_config_without_secrets_ok" 0 "$P" --config "$G" keys list
printf '{"kms_providers": {"local": {"key": "%s"}}, "key_vault": "file:keyvault.jsonl"}\n' "$(head -c 96 /dev/urandom | base64 -w0)" > "$T/planted/inline.json"
chmod 0644 "$T/planted/inline.json"
check "test_cli__readable_config_with_secret_refused" 1 "$P" --config "$T/planted/inline.json" keys list
expect_grep "test_cli__readable_config_with_secret_says_why" "$T/err" "holds secrets"
chmod 0600 "$T/planted/inline.json"
check "test_cli__private_config_with_secret_ok" 0 "$P" --config "$T/planted/inline.json" keys list
chmod 0620 "$T/planted/keyvault.jsonl"
check "test_cli__group_writable_vault_refused" 1 "$P" --config "$G" keys list
chmod 0600 "$T/planted/keyvault.jsonl"
chmod 0400 "$T/planted/keyvault.jsonl"
check "test_cli__read_only_vault_write_refused" 1 "$P" --config "$G" keys create --provider local
expect_grep "test_cli__read_only_vault_says_why" "$T/err" "read-only"
if [ "$(stat -c %a "$T/planted/keyvault.jsonl")" = 400 ] && [ ! -s "$T/planted/keyvault.jsonl" ]; then ok "test_cli__read_only_vault_untouched"; else notok "test_cli__read_only_vault_untouched"; fi
check "test_cli__read_only_vault_still_read" 0 "$P" --config "$G" keys list
chmod 0600 "$T/planted/keyvault.jsonl"
mv "$T/planted/master.key" "$T/planted/real.key"; ln -s real.key "$T/planted/master.key"
check "test_cli__symlinked_key_file_refused" 1 "$P" --config "$G" keys list
expect_grep "test_cli__symlinked_key_file_says_why" "$T/err" "symbolic link"
rm "$T/planted/master.key"; mv "$T/planted/real.key" "$T/planted/master.key"
if [ "$(id -u)" = 0 ]; then
  chown 65534 "$T/planted/master.key"
  check "test_cli__foreign_key_file_refused" 1 "$P" --config "$G" keys list
  expect_grep "test_cli__foreign_key_file_says_why" "$T/err" "not by this user"
  chown "$(id -u)" "$T/planted/master.key"
else
  skip_unless_root test_cli__foreign_key_file_refused test_cli__foreign_key_file_says_why
fi
chmod 0777 "$T/planted"
check "test_cli__writable_key_dir_refused" 1 "$P" --config "$G" keys list
chmod 0700 "$T/planted"
check "test_cli__guarded_store_control" 0 "$P" --config "$G" keys create --provider local

# keys
check "test_cli__keys_create" 0 "$P" keys create --provider local --alt-name patients --alt-name mrn
KID=$(cat "$T/out")
if [[ "$KID" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; then ok "test_cli__keys_create_prints_uuid"; else notok "test_cli__keys_create_prints_uuid" "$KID"; fi
check "test_cli__keys_create_duplicate_alt_name" 1 "$P" keys create --provider local --alt-name patients
expect_grep "test_cli__duplicate_alt_name_named" "$T/err" "'patients' is already used"
check "test_cli__keys_create_needs_provider" 2 "$P" keys create
check "test_cli__keys_list" 0 "$P" keys list
expect_grep "test_cli__keys_list_shows_id" "$T/out" "\"id\":\"$KID\""
expect_no_grep "test_cli__keys_list_hides_key_material" "$T/out" "keyMaterial"
check "test_cli__keys_get_by_alt_name" 0 "$P" keys get --key-alt-name mrn
expect_grep "test_cli__keys_get_finds_key" "$T/out" "$KID"
check "test_cli__keys_add_alt_name" 0 "$P" keys add-alt-name --key-id "$KID" --alt-name records
check "test_cli__keys_remove_alt_name" 0 "$P" keys remove-alt-name --key-alt-name records --alt-name mrn
check "test_cli__keys_get_removed_name_fails" 1 "$P" keys get --key-alt-name mrn

# encrypt / decrypt round trips, deterministic and random, several types
roundtrip() { # NAME VALUE ALG EXPECTED_OUTPUT
  local ct pt
  ct=$(printf '%s' "$2" | "$P" encrypt --key-alt-name patients --algorithm "$3" 2>"$T/err") || { notok "$1" "encrypt failed: $(cat "$T/err")"; return; }
  case "$ct" in *'"subType":"06"'*) ;; *) notok "$1" "not a subtype 6 ciphertext"; return;; esac
  pt=$(printf '%s' "$ct" | "$P" decrypt 2>"$T/err") || { notok "$1" "decrypt failed: $(cat "$T/err")"; return; }
  if [ "$pt" = "$4" ]; then ok "$1"; else notok "$1" "round trip gave a different value"; fi
}
roundtrip "test_cli__roundtrip_string_deterministic" '"123-45-6789"' deterministic '"123-45-6789"'
roundtrip "test_cli__roundtrip_string_random" '"Hypertension, stage 2"' random '"Hypertension, stage 2"'
roundtrip "test_cli__roundtrip_int_deterministic" '42' deterministic '42'
roundtrip "test_cli__roundtrip_date_random" '{"$date":"1991-07-04T00:00:00Z"}' random '{"$date":"1991-07-04T00:00:00Z"}'
roundtrip "test_cli__roundtrip_document_random" '{"a":[1,2]}' random '{"a":[1,2]}'
roundtrip "test_cli__roundtrip_long_canonical_input" '{"$numberLong":"5"}' deterministic '5'

a=$(echo '"same"' | "$P" encrypt --key-alt-name patients --algorithm deterministic)
b=$(echo '"same"' | "$P" encrypt --key-id "$KID" --algorithm deterministic)
c=$(echo '"same"' | "$P" encrypt --key-alt-name patients --algorithm random)
d=$(echo '"same"' | "$P" encrypt --key-alt-name patients --algorithm random)
if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "test_cli__deterministic_is_stable_by_id_or_name"; else notok "test_cli__deterministic_is_stable_by_id_or_name"; fi
if [ -n "$c" ] && [ "$c" != "$d" ]; then ok "test_cli__random_differs_each_time"; else notok "test_cli__random_differs_each_time"; fi

printf '"a"\n"b"\n\n"c"\n' | "$P" encrypt --lines --key-alt-name patients --algorithm random > "$T/lines.ct"
if [ "$(wc -l < "$T/lines.ct")" = 3 ] && [ "$("$P" decrypt --lines < "$T/lines.ct" | tr '\n' ' ')" = '"a" "b" "c" ' ]; then ok "test_cli__lines_mode"; else notok "test_cli__lines_mode"; fi

# rewrap (rotation): data encrypted before keeps decrypting
CT=$(printf '"rotate me"' | "$P" encrypt --key-alt-name patients --algorithm random 2>/dev/null)
check "test_cli__keys_rewrap" 0 "$P" keys rewrap --filter '{"masterKey.provider": "local"}' --provider local
if [ "$(cat "$T/out")" = 1 ]; then ok "test_cli__keys_rewrap_prints_count"; else notok "test_cli__keys_rewrap_prints_count" "$(cat "$T/out")"; fi
if [ "$(printf '%s' "$CT" | "$P" decrypt 2>/dev/null)" = '"rotate me"' ]; then ok "test_cli__rewrapped_key_still_decrypts"; else notok "test_cli__rewrapped_key_still_decrypts"; fi
# not a terminal: exactly one summary line on stderr, no progress drawing (no \r, no escape)
if [ "$(wc -l < "$T/err")" = 1 ] && grep -q '^phicrypt keys rewrap: 1 key rewrapped under local in [0-9.]*s' "$T/err" &&
   ! grep -q "$(printf '[\r\033]')" "$T/err"; then ok "test_cli__keys_rewrap_summary_when_not_a_terminal"
else notok "test_cli__keys_rewrap_summary_when_not_a_terminal" "$(od -c "$T/err" | head -5)"; fi
# a terminal (util-linux script): the progress line is drawn, then cleared, then the summary
if command -v script >/dev/null; then
  script -qec "'$P' keys rewrap --provider local" /dev/null > "$T/tty.txt" 2>&1
  if grep -q "$(printf '\r')keys rewrap \[" "$T/tty.txt" && grep -q "$(printf '\033')\[K" "$T/tty.txt" &&
     grep -q 'phicrypt keys rewrap: [0-9]* keys\{0,1\} rewrapped under local' "$T/tty.txt"; then
    ok "test_cli__keys_rewrap_progress_on_terminal"
  else notok "test_cli__keys_rewrap_progress_on_terminal" "$(od -c "$T/tty.txt" | head -8)"; fi
else
  ok "test_cli__keys_rewrap_progress_on_terminal # SKIP util-linux script missing"
fi
check "test_cli__keys_rewrap_needs_provider" 2 "$P" keys rewrap
check "test_cli__keys_rewrap_unconfigured_provider" 1 "$P" keys rewrap --provider aws --master-key '{"region":"us-east-1","key":"k"}'
expect_grep "test_cli__keys_rewrap_names_provider" "$T/err" "kms_providers.aws"

# refusals and errors
echo '3.5' | "$P" encrypt --key-alt-name patients --algorithm deterministic >"$T/out" 2>"$T/err"
if [ $? -eq 1 ] && grep -q "double cannot be encrypted deterministically" "$T/err"; then ok "test_cli__deterministic_double_refused"; else notok "test_cli__deterministic_double_refused" "$(cat "$T/err")"; fi
check "test_cli__null_refused" 1 sh -c "echo null | '$P' encrypt --key-alt-name patients --algorithm random"
check "test_cli__unknown_key_alt_name" 1 sh -c "echo '\"x\"' | '$P' encrypt --key-alt-name nobody --algorithm random"
expect_grep "test_cli__unknown_key_named" "$T/err" "nobody"
check "test_cli__bad_algorithm_is_usage_error" 2 "$P" encrypt --key-alt-name patients --algorithm rot13
check "test_cli__missing_key_is_usage_error" 2 "$P" encrypt --algorithm random
check "test_cli__malformed_json_input" 1 sh -c "echo '{\"ssn\": \"SECRET-PHI-777\"' | '$P' encrypt --key-alt-name patients --algorithm random"
expect_no_grep "test_cli__no_plaintext_in_errors" "$T/err" "SECRET-PHI"
ct=$(echo '"SECRET-PHI-778"' | "$P" encrypt --key-alt-name patients --algorithm random)
# Flip one character of the base64 body (well inside the ciphertext).
bad=$(printf '%s' "$ct" | python3 -c 'import sys,base64,json; d=json.load(sys.stdin); b=bytearray(base64.b64decode(d["$binary"]["base64"])); b[40]^=1; d["$binary"]["base64"]=base64.b64encode(bytes(b)).decode(); print(json.dumps(d))')
check "test_cli__tampered_ciphertext_rejected" 1 sh -c "printf '%s' '$bad' | '$P' decrypt"
expect_grep "test_cli__tampered_is_authentication_error" "$T/err" "authentication failed"
expect_no_grep "test_cli__tampered_error_has_no_plaintext" "$T/err" "SECRET-PHI"

# key deletion needs --yes and shreds
check "test_cli__delete_needs_yes" 2 "$P" keys delete --key-id "$KID"
check "test_cli__delete_with_yes" 0 "$P" keys delete --key-id "$KID" --yes
check "test_cli__decrypt_after_delete_fails" 1 sh -c "printf '%s' '$ct' | '$P' decrypt"
expect_grep "test_cli__deleted_key_named" "$T/err" "$KID"


# automatic encryption with a schema map (new key, since the old one was deleted)
K2=$("$P" keys create --provider local --alt-name auto)
B64=$(python3 -c "import uuid,base64,sys;print(base64.b64encode(uuid.UUID(sys.argv[1]).bytes).decode())" "$K2")
cat > "$T/ks/auto.json" <<JSON
{"kms_providers": {"local": {"key_file": "master.key"}}, "key_vault": "file:keyvault.jsonl",
 "schema_map": {"hospital.patients": {"bsonType": "object",
   "encryptMetadata": {"keyId": [{"\$binary": {"base64": "$B64", "subType": "04"}}]},
   "properties": {"ssn": {"encrypt": {"bsonType": "string", "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic"}},
                  "diagnosis": {"encrypt": {"bsonType": "string", "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Random"}}}}}}
JSON
echo '{"insert": "patients", "documents": [{"name": "Ada", "ssn": "SECRET-SSN-1", "diagnosis": "SECRET-DX-1"}]}' |
  "$P" --config "$T/ks/auto.json" encrypt-command --db hospital >"$T/cmd.json" 2>"$T/err"
if [ $? = 0 ] && ! grep -q SECRET "$T/cmd.json" && grep -q '"name":"Ada"' "$T/cmd.json"; then ok "test_cli__encrypt_command_insert"; else notok "test_cli__encrypt_command_insert" "$(cat "$T/err")"; fi
python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["documents"][0]))' "$T/cmd.json" |
  "$P" --config "$T/ks/auto.json" decrypt-document >"$T/out" 2>"$T/err"
expect_grep "test_cli__decrypt_document_restores" "$T/out" '"diagnosis":"SECRET-DX-1"'
echo '{"find": "patients", "filter": {"diagnosis": "flu"}}' | "$P" --config "$T/ks/auto.json" analyze --db hospital >"$T/out" 2>&1
if [ $? = 1 ] && grep -q "randomized" "$T/out" && grep -q "diagnosis" "$T/out"; then ok "test_cli__analyze_refusal"; else notok "test_cli__analyze_refusal" "$(cat "$T/out")"; fi
echo '{"insert": "patients", "documents": [{"ssn": "SECRET-SSN-2"}]}' | "$P" --config "$T/ks/auto.json" analyze --db hospital >"$T/out" 2>&1
if grep -q "documents.0.ssn.*deterministic" "$T/out" && ! grep -q SECRET "$T/out"; then ok "test_cli__analyze_lists_fields"; else notok "test_cli__analyze_lists_fields" "$(cat "$T/out")"; fi
printf '{"ssn": "a"}\n{"ssn": "b"}\n' | "$P" --config "$T/ks/auto.json" encrypt-document --ns hospital.patients --lines > "$T/docs.jsonl"
if [ "$("$P" --config "$T/ks/auto.json" decrypt-document --lines < "$T/docs.jsonl" | tr -d '\n')" = '{"ssn":"a"}{"ssn":"b"}' ]; then ok "test_cli__encrypt_document_lines"; else notok "test_cli__encrypt_document_lines"; fi
echo 'not json' | "$P" --config "$T/ks/auto.json" encrypt-command --db hospital >"$T/out" 2>"$T/err"
if [ $? = 1 ]; then ok "test_cli__encrypt_command_bad_json"; else notok "test_cli__encrypt_command_bad_json"; fi
# issue 26: {"$type": 2} is a query operator; countDocuments' pipeline is analysed
echo '{"find": "patients", "filter": {"ssn": "SECRET-SSN-3", "age": {"$type": 16}}}' |
  "$P" --config "$T/ks/auto.json" encrypt-command --db hospital >"$T/out" 2>"$T/err"
if [ $? = 0 ] && grep -q '"\$type":{"\$numberInt":"16"}' "$T/out" && ! grep -q SECRET "$T/out"; then ok "test_cli__encrypt_command_type_operator"; else notok "test_cli__encrypt_command_type_operator" "$(cat "$T/err")"; fi
echo '{"aggregate": "patients", "pipeline": [{"$match": {"ssn": "SECRET-SSN-4"}}, {"$group": {"_id": 1, "n": {"$sum": 1}}}], "cursor": {}}' |
  "$P" --config "$T/ks/auto.json" encrypt-command --db hospital >"$T/out" 2>"$T/err"
if [ $? = 0 ] && grep -q '"\$group"' "$T/out" && ! grep -q SECRET "$T/out"; then ok "test_cli__encrypt_command_count_documents"; else notok "test_cli__encrypt_command_count_documents" "$(cat "$T/err")"; fi


# keyring, tokens and pseudonyms
check "test_cli__token_create_ff1" 0 "$P" token create tok:ssn --algorithm ff1
check "test_cli__token_create_siv" 0 "$P" token create tok:name --algorithm siv
check "test_cli__token_create_hmac" 0 "$P" token create ps:patient --algorithm hmac
check "test_cli__token_create_duplicate" 1 "$P" token create tok:ssn --algorithm ff1
check "test_cli__token_create_needs_algorithm" 2 "$P" token create tok:x
printf '123-45-6789\n\n078-05-1120\n' | "$P" tokenize --key tok:ssn --format ssn --context patients.ssn >"$T/tok" 2>"$T/err"
if [ "$(sed -n 2p "$T/tok")" = "" ] && grep -qE '^[0-9]{3}-[0-9]{2}-[0-9]{4}$' "$T/tok" && ! grep -q "123-45-6789" "$T/tok"; then ok "test_cli__tokenize_ssn_keeps_format"; else notok "test_cli__tokenize_ssn_keeps_format" "$(cat "$T/err")"; fi
if [ "$("$P" detokenize --key tok:ssn --format ssn --context patients.ssn < "$T/tok" | tr '\n' ' ')" = "123-45-6789  078-05-1120 " ]; then ok "test_cli__detokenize_ssn"; else notok "test_cli__detokenize_ssn"; fi
echo "Ada Quintero" | "$P" tokenize --key tok:name > "$T/tok2"
if grep -q '^tk1\.1\.' "$T/tok2" && [ "$("$P" detokenize --key tok:name < "$T/tok2")" = "Ada Quintero" ]; then ok "test_cli__siv_token_roundtrip"; else notok "test_cli__siv_token_roundtrip"; fi
check "test_cli__siv_wrong_context_fails" 1 sh -c "'$P' detokenize --key tok:name --context other < '$T/tok2'"
printf 'Smith \nsmith\n' | "$P" pseudonymize --key ps:patient --normalize all > "$T/ps"
if [ "$(sort -u "$T/ps" | wc -l)" = 1 ] && grep -q '^ps1\.1\.' "$T/ps"; then ok "test_cli__pseudonyms_link_normalised_values"; else notok "test_cli__pseudonyms_link_normalised_values"; fi
printf '12345678\nSECRET-PHI-9\n' | "$P" tokenize --key tok:ssn --format digits >"$T/out" 2>"$T/err"
if [ $? = 1 ] && [ ! -s "$T/out" ] && grep -q "line 2" "$T/err" && ! grep -q SECRET "$T/err"; then ok "test_cli__tokenize_bad_line_writes_nothing"; else notok "test_cli__tokenize_bad_line_writes_nothing" "$(cat "$T/err")"; fi
check "test_cli__token_rotate" 0 "$P" token rotate tok:name
if [ "$(cat "$T/out")" = 2 ] && [ "$("$P" detokenize --key tok:name < "$T/tok2")" = "Ada Quintero" ]; then ok "test_cli__old_siv_token_after_rotation"; else notok "test_cli__old_siv_token_after_rotation"; fi
check "test_cli__token_destroy_needs_yes" 2 "$P" token destroy tok:name --version 1
check "test_cli__token_destroy_version" 0 "$P" token destroy tok:name --version 1 --yes
check "test_cli__destroyed_token_irreversible" 1 sh -c "'$P' detokenize --key tok:name < '$T/tok2'"
check "test_cli__token_list" 0 "$P" token list
expect_no_grep "test_cli__token_list_hides_material" "$T/out" "material"

# the data key that wraps keyring keys is protected
"$P" keys list > "$T/keys"
if grep '"phicrypt-keyring"' "$T/keys" | grep -q '"internal"' && [ "$(grep -c '"internal"' "$T/keys")" = 1 ]; then ok "test_cli__keys_list_marks_internal_keys"; else notok "test_cli__keys_list_marks_internal_keys" "$(cat "$T/keys")"; fi
cp "$T/ks/keyvault.jsonl" "$T/kv.before"
check "test_cli__keyring_key_delete_refused" 1 "$P" keys delete --key-alt-name phicrypt-keyring --yes
if grep -q "wraps 3 keyring keys" "$T/err" && grep -q "'tok:ssn'" "$T/err" && grep -q -- "--shred-keyring" "$T/err" && cmp -s "$T/kv.before" "$T/ks/keyvault.jsonl"; then ok "test_cli__keyring_key_delete_names_dependants"; else notok "test_cli__keyring_key_delete_names_dependants" "$(cat "$T/err")"; fi
# removing its alt name first does not get round it: ciphertexts name the key
kid=$(grep '"phicrypt-keyring"' "$T/keys" | sed 's/.*"id":"\([^"]*\)".*/\1/')
"$P" keys remove-alt-name --key-id "$kid" --alt-name phicrypt-keyring 2>/dev/null
check "test_cli__keyring_key_delete_by_id_refused" 1 "$P" keys delete --key-id "$kid" --yes
"$P" keys add-alt-name --key-id "$kid" --alt-name phicrypt-keyring 2>/dev/null
check "test_cli__shred_keyring_needs_yes" 2 "$P" keys delete --key-alt-name phicrypt-keyring --shred-keyring
if [ "$("$P" detokenize --key tok:ssn --format ssn --context patients.ssn < "$T/tok" | head -1)" = "123-45-6789" ]; then ok "test_cli__tokens_still_reversible"; else notok "test_cli__tokens_still_reversible"; fi

# configuration problems
chmod 644 "$T/ks/master.key"
check "test_cli__loose_master_key_refused" 1 "$P" keys list
expect_grep "test_cli__loose_master_key_says_why" "$T/err" "too open"
chmod 600 "$T/ks/master.key"
check "test_cli__no_config_is_error" 1 env -u PHICRYPT_CONFIG sh -c "cd '$T' && '$P' keys list"

# shredding the keyring on purpose: refused tokens afterwards
check "test_cli__shred_keyring_with_yes" 0 "$P" keys delete --key-alt-name phicrypt-keyring --shred-keyring --yes
check "test_cli__shredded_tokens_irreversible" 1 sh -c "'$P' detokenize --key tok:ssn --format ssn --context patients.ssn < '$T/tok'"

# help everywhere
helpok=1
for c in "" "init" "keys" "encrypt" "decrypt" "keys create" "encrypt-command" "encrypt-document" "decrypt-document" "analyze" "token" "tokenize" "detokenize" "pseudonymize"; do
  # shellcheck disable=SC2086
  "$P" $c --help >"$T/out" 2>&1 && grep -q "Usage" "$T/out" || { helpok=0; echo "# --help failed for '$c'"; }
done
if [ $helpok = 1 ]; then ok "test_cli__help_on_every_command"; else notok "test_cli__help_on_every_command"; fi
echo "1..$n"
exit 0
