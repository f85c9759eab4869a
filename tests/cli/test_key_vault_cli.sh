#!/usr/bin/env bash
# The CLI's --key-vault / --key-vault-namespace (issue 20), as TAP.
# Usage: test_key_vault_cli.sh PATH/TO/phicrypt
# (the mongodb:// form is exercised by tests/interop: interop_node reads the
# Node driver's keys with --key-vault mongodb://...)
set -u
P=$(realpath "${1:?usage: test_key_vault_cli.sh PATH/TO/phicrypt}")
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-kvcli-XXXXXX")
trap 'rm -rf "$T"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # NAME EXPECTED_STATUS CMD...
  local name=$1 want=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" -eq "$want" ]; then ok "$name"; else notok "$name" "exit $got, wanted $want" "$(head -c 400 "$T/err")"; fi
}
expect_grep() { # NAME FILE PATTERN
  if grep -q -- "$3" "$2"; then ok "$1"; else notok "$1" "no '$3' in $2"; fi
}
expect_no_grep() {
  if grep -q -- "$3" "$2"; then notok "$1" "'$3' found in $2"; else ok "$1"; fi
}

"$P" init --dir "$T/ks" >/dev/null || { echo "Bail out! phicrypt init failed"; exit 1; }
C="$T/ks/phicrypt.json"
mkdir "$T/elsewhere"
cd "$T/elsewhere" || exit 1   # a relative --key-vault path is the configuration's directory's

(umask 077 && : >"$T/ks/other.jsonl")   # a file vault must exist (as phicrypt init makes it)
check "test_key_vault_cli__create_in_other_vault" 0 "$P" --config "$C" --key-vault file:other.jsonl keys create --provider local --alt-name in-other
if grep -q in-other "$T/ks/other.jsonl"; then ok "test_key_vault_cli__relative_to_config_dir"; else notok "test_key_vault_cli__relative_to_config_dir" "no $T/ks/other.jsonl"; fi
expect_no_grep "test_key_vault_cli__configured_vault_untouched" "$T/ks/keyvault.jsonl" "in-other"
check "test_key_vault_cli__equals_form" 0 "$P" --config "$C" --key-vault="file:other.jsonl" keys get --key-alt-name in-other
check "test_key_vault_cli__configured_vault_lacks_key" 1 "$P" --config "$C" keys get --key-alt-name in-other

echo '"123-45-6789"' >"$T/v"
check "test_key_vault_cli__encrypt_with_other_vault" 0 sh -c "'$P' --config '$C' --key-vault file:other.jsonl encrypt --key-alt-name in-other --algorithm deterministic < '$T/v'"
cp "$T/out" "$T/ct"
check "test_key_vault_cli__decrypt_with_other_vault" 0 sh -c "'$P' --config '$C' --key-vault file:other.jsonl decrypt < '$T/ct'"
expect_grep "test_key_vault_cli__round_trip" "$T/out" '"123-45-6789"'
check "test_key_vault_cli__configured_vault_cannot_decrypt" 1 sh -c "'$P' --config '$C' decrypt < '$T/ct'"

check "test_key_vault_cli__missing_uri_is_usage_error" 2 "$P" --config "$C" --key-vault
check "test_key_vault_cli__empty_uri_is_usage_error" 2 "$P" --config "$C" --key-vault "" keys list
check "test_key_vault_cli__bad_namespace_refused" 1 "$P" --config "$C" --key-vault-namespace nodot keys list
expect_grep "test_key_vault_cli__bad_namespace_says_why" "$T/err" "db.collection"
check "test_key_vault_cli__bad_scheme_refused" 1 "$P" --config "$C" --key-vault "http://127.0.0.1/" keys list
expect_grep "test_key_vault_cli__bad_scheme_names_the_option" "$T/err" "given by --key-vault"
check "test_key_vault_cli__help_names_option" 0 "$P" --help
expect_grep "test_key_vault_cli__help_text" "$T/out" "--key-vault URI"
echo "1..$n"
exit 0
