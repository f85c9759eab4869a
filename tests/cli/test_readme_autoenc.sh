#!/usr/bin/env bash
# The README's automatic-encryption block, run as written (with this build's phicrypt on
# PATH, in a scratch directory): the schema it adds makes encrypt-command really encrypt,
# analyze refuses the randomized field and names a namespace without a schema.
# TAP. Usage: test_readme_autoenc.sh PATH/TO/phicrypt README.md
set -u
P=$(realpath "${1:?usage: test_readme_autoenc.sh PATH/TO/phicrypt README.md}")
R=$(realpath "${2:?usage: test_readme_autoenc.sh PATH/TO/phicrypt README.md}")
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-readme-XXXXXX")
trap 'rm -rf "$T"' EXIT
n=0; fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
mkdir "$T/bin" "$T/work"
ln -s "$P" "$T/bin/phicrypt"
awk '/^## Automatic encryption, without mongocryptd/ {s = 1} s && /^```sh$/ {c = 1; next} c && /^```$/ {exit} c {print}' \
  "$R" > "$T/block.sh"
grep -q "schema_map" "$T/block.sh" && ok "test_readme_autoenc__block_found" || notok "test_readme_autoenc__block_found"
(cd "$T/work" && env -u PHICRYPT_CONFIG PATH="$T/bin:$PATH" bash "$T/block.sh") > "$T/out" 2> "$T/err"
if [ "$(grep -c '"subType":"06"' "$T/out")" -ge 2 ] && [ "$(grep -o '"subType":"06"' "$T/out" | wc -l)" -ge 3 ]; then
  ok "test_readme_autoenc__encrypt_command_encrypts"
else notok "test_readme_autoenc__encrypt_command_encrypts" "$(head -c 600 "$T/out")" "$(head -c 600 "$T/err")"; fi
# the plaintext SSN appears only in the last (unencrypted, no schema) analysis, which prints no values
if ! grep -q "123-45-6789" "$T/out"; then ok "test_readme_autoenc__no_plaintext_in_output"
else notok "test_readme_autoenc__no_plaintext_in_output"; fi
grep -q "^refused: .*'diagnosis'" "$T/out" && ok "test_readme_autoenc__randomized_query_refused" ||
  notok "test_readme_autoenc__randomized_query_refused" "$(tail -3 "$T/out")"
grep -q "^no schema for hospital.patient " "$T/out" && ok "test_readme_autoenc__no_schema_names_the_namespace" ||
  notok "test_readme_autoenc__no_schema_names_the_namespace" "$(tail -3 "$T/out")"
echo "1..$n"
exit $((fails > 0))
