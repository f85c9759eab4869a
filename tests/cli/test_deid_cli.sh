#!/usr/bin/env bash
# End-to-end tests of `phicrypt deid` / `phicrypt reid`, as TAP.
# Usage: test_deid_cli.sh PATH/TO/phicrypt
set -u
P=$(realpath "${1:?usage: test_deid_cli.sh PATH/TO/phicrypt}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GEN="/usr/bin/python3 $ROOT/examples/data/generate_patients.py"
SH="$ROOT/examples/data/policy-safe-harbor.json"
TOK="$ROOT/examples/data/policy-tokens.json"
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-deid-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() {
  local name=$1 want=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" -eq "$want" ]; then ok "$name"; else notok "$name" "exit $got, wanted $want" "$(head -c 400 "$T/err")"; fi
}
expect_grep() { if grep -q -- "$3" "$2"; then ok "$1"; else notok "$1" "no '$3' in $2" "$(head -c 400 "$2")"; fi; }
# no_leak NAME FILE: none of the planted identifiers appears in FILE.
no_leak() {
  local hits
  hits=$(grep -F -o -f "$T/planted.txt" "$2" | sort -u | head -5 | tr '\n' ' ')
  if [ -z "$hits" ]; then ok "$1"; else notok "$1" "leaked: (values withheld) $(echo "$hits" | wc -w) distinct"; fi
}

unset PHICRYPT_CONFIG
cd "$T" || exit 1

check "test_deid_cli__help" 0 "$P" deid --help
expect_grep "test_deid_cli__help_explains_actions" "$T/out" "date_shift"
check "test_deid_cli__reid_help" 0 "$P" reid --help
check "test_deid_cli__missing_args_is_usage_error" 2 "$P" deid --policy "$SH"
check "test_deid_cli__bad_format_is_usage_error" 2 "$P" deid --policy "$SH" --in a --out b --format xml

# Safe Harbor over a generated export with planted identifiers, each format.
$GEN --records 1500 --seed 11 --format jsonl --planted "$T/planted.txt" > "$T/p.jsonl"
$GEN --records 1500 --seed 11 --format csv > "$T/p.csv"
$GEN --records 1500 --seed 11 --format json > "$T/p.json"
if [ "$(wc -l < "$T/planted.txt")" -gt 1000 ] && grep -q -F -f "$T/planted.txt" "$T/p.jsonl"; then ok "test_deid_cli__generator_plants_identifiers"; else notok "test_deid_cli__generator_plants_identifiers"; fi
for f in jsonl csv json; do
  check "test_deid_cli__safe_harbor_$f" 0 "$P" deid --policy "$SH" --in "$T/p.$f" --out "$T/o.$f" --report "$T/r.$f.json"
  no_leak "test_deid_cli__planted_identifiers_gone_$f" "$T/o.$f"
done
expect_grep "test_deid_cli__report_counts_fields" "$T/r.jsonl.json" '"path":"ssn","action":"redact","count":1500'
expect_grep "test_deid_cli__report_elapsed" "$T/r.jsonl.json" '"elapsed_seconds"'
expect_grep "test_deid_cli__csv_header_kept" "$T/o.csv" '^mrn,name.first'
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d)==1500' "$T/o.json"; then ok "test_deid_cli__json_array_output_parses"; else notok "test_deid_cli__json_array_output_parses"; fi
if /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/o.jsonl"; then ok "test_deid_cli__jsonl_output_parses"; else notok "test_deid_cli__jsonl_output_parses"; fi

# Threads: the same bytes with 1 and 4 threads; stdin/stdout streaming.
check "test_deid_cli__threads_4" 0 "$P" deid --policy "$SH" --in "$T/p.jsonl" --out "$T/o4.jsonl" --threads 4
if cmp -s "$T/o.jsonl" "$T/o4.jsonl"; then ok "test_deid_cli__same_output_any_thread_count"; else notok "test_deid_cli__same_output_any_thread_count"; fi
for f in json csv; do
  "$P" deid --policy "$SH" --in "$T/p.$f" --out "$T/o3.$f" --threads 3 2>"$T/err"
  if cmp -s "$T/o.$f" "$T/o3.$f"; then ok "test_deid_cli__same_output_any_thread_count_$f"; else notok "test_deid_cli__same_output_any_thread_count_$f" "$(head -c 300 "$T/err")"; fi
done
"$P" deid --policy "$SH" --in - --out - --format jsonl < "$T/p.jsonl" > "$T/o-pipe.jsonl" 2>"$T/err"
# (stdout is the data; stderr has the one summary line, and nothing else)
if [ $? = 0 ] && cmp -s "$T/o.jsonl" "$T/o-pipe.jsonl" && [ "$(wc -l < "$T/err")" = 1 ] && grep -q '^phicrypt deid: stdin -> stdout: 1500 records in, 1500 out' "$T/err"; then ok "test_deid_cli__stdin_to_stdout_one_summary_line"; else notok "test_deid_cli__stdin_to_stdout_one_summary_line" "$(head -c 300 "$T/err")"; fi

# An existing FIFO (or device, like /dev/null) is written in place, not
# replaced by a renamed file; a directory is refused.
mkfifo "$T/out-fifo"
cat "$T/out-fifo" > "$T/o-fifo.jsonl" &
CPID=$!
"$P" deid --policy "$SH" --in "$T/p.jsonl" --out "$T/out-fifo" --threads 2 2>"$T/err"
frc=$?
# (a FIFO replaced by a file would leave the reader waiting forever)
if [ -p "$T/out-fifo" ]; then wait "$CPID"; else kill "$CPID"; wait "$CPID" 2>/dev/null; fi
if [ $frc = 0 ] && [ -p "$T/out-fifo" ] && cmp -s "$T/o.jsonl" "$T/o-fifo.jsonl"; then ok "test_deid_cli__fifo_output_written_in_place"; else notok "test_deid_cli__fifo_output_written_in_place" "rc $frc" "$(head -c 300 "$T/err")"; fi
# A link to a file: the file is replaced and the link stays. An open
# descriptor (/dev/fd/N, /dev/stdout) is written as it is, append mode kept
# (not tested with /dev/stdout: a regression run as root would replace it).
# The input under another name is refused.
echo old > "$T/real.jsonl"
ln -s "$T/real.jsonl" "$T/link.jsonl"
"$P" deid --policy "$SH" --in "$T/p.jsonl" --out "$T/link.jsonl" 2>"$T/err"
if [ -L "$T/link.jsonl" ] && cmp -s "$T/o.jsonl" "$T/real.jsonl"; then ok "test_deid_cli__symlink_output_replaces_its_target"; else notok "test_deid_cli__symlink_output_replaces_its_target" "$(ls -l "$T/link.jsonl")" "$(head -c 300 "$T/err")"; fi
echo "first line" > "$T/fd3.jsonl"
"$P" deid --policy "$SH" --in "$T/p.jsonl" --out /dev/fd/3 --format jsonl 3>>"$T/fd3.jsonl" 2>"$T/err"
if [ "$(head -1 "$T/fd3.jsonl")" = "first line" ] && tail -n +2 "$T/fd3.jsonl" | cmp -s "$T/o.jsonl" -; then ok "test_deid_cli__descriptor_output_appends"; else notok "test_deid_cli__descriptor_output_appends" "$(head -c 300 "$T/err")"; fi
cp "$T/p.jsonl" "$T/self.jsonl"
ln -s "$T/self.jsonl" "$T/self-link.jsonl"
check "test_deid_cli__input_as_output_refused" 1 "$P" deid --policy "$SH" --in "$T/self.jsonl" --out "$T/self-link.jsonl"
if cmp -s "$T/p.jsonl" "$T/self.jsonl"; then ok "test_deid_cli__input_left_intact"; else notok "test_deid_cli__input_left_intact"; fi
mkdir "$T/outdir"
check "test_deid_cli__directory_output_refused" 1 "$P" deid --policy "$SH" --in "$T/p.jsonl" --out "$T/outdir"
expect_grep "test_deid_cli__directory_output_named" "$T/err" "outdir: is a directory"

# Policy errors name the JSON location; nothing is read or written.
echo '{"version":1,"fields":{"dob":{"action":"blur"}}}' > "$T/bad-policy.json"
check "test_deid_cli__bad_policy_fails" 1 "$P" deid --policy "$T/bad-policy.json" --in "$T/p.jsonl" --out "$T/never.jsonl"
expect_grep "test_deid_cli__bad_policy_names_location" "$T/err" 'fields."dob".action'
if [ ! -e "$T/never.jsonl" ]; then ok "test_deid_cli__bad_policy_writes_nothing"; else notok "test_deid_cli__bad_policy_writes_nothing"; fi

# Malformed input: a clear error with the line, and no output file left behind.
head -c 100000 "$T/p.jsonl" > "$T/trunc.jsonl"
check "test_deid_cli__truncated_input_fails" 1 "$P" deid --policy "$SH" --in "$T/trunc.jsonl" --out "$T/o-trunc.jsonl" --threads 2
expect_grep "test_deid_cli__truncated_input_names_line" "$T/err" "trunc.jsonl: line "
if [ ! -e "$T/o-trunc.jsonl" ] && ! ls -A "$T" | grep -q phicrypt-deid; then ok "test_deid_cli__no_partial_output"; else notok "test_deid_cli__no_partial_output"; fi
check "test_deid_cli__skip_bad_continues" 0 "$P" deid --policy "$SH" --in "$T/trunc.jsonl" --out "$T/o-skip.jsonl" --skip-bad --report "$T/r-skip.json"
expect_grep "test_deid_cli__skip_bad_reported" "$T/r-skip.json" '"bad_records_count":1'
printf '{"a":1}\n' > "$T/unknown.jsonl"
echo '{"version":1,"fields":{"b":{"action":"keep"}}}' > "$T/strict.json"
check "test_deid_cli__unknown_field_error" 1 "$P" deid --policy "$T/strict.json" --in "$T/unknown.jsonl" --out "$T/o-u.jsonl"
expect_grep "test_deid_cli__unknown_field_named" "$T/err" "field 'a' is not in the policy"

# Issue 16, items 8, 9, 12: CSV dialects, warnings in scripts, errors to act on.
check "test_deid_cli__help_lists_strict_and_delimiter" 0 "$P" deid --help
if grep -q -- '--strict' "$T/out" && grep -q -- '--delimiter' "$T/out"; then ok "test_deid_cli__help_documents_strict_and_delimiter"; else notok "test_deid_cli__help_documents_strict_and_delimiter"; fi
# Not a terminal, not stdout: still one summary line (the last one).
"$P" deid --policy "$SH" --in "$T/p.jsonl" --out "$T/o-sum.jsonl" 2>"$T/err"
if [ $? = 0 ] && tail -1 "$T/err" | grep -q "^phicrypt deid: $T/p.jsonl -> $T/o-sum.jsonl: 1500 records in, 1500 out, 0 bad, [0-9]* values de-identified"; then ok "test_deid_cli__summary_line_without_a_terminal"; else notok "test_deid_cli__summary_line_without_a_terminal" "$(head -c 300 "$T/err")"; fi
# A misspelt rule ("snn") matched nothing: a warning; --strict: exit 1, no output.
printf '{"version":1,"unknown_fields":"drop","fields":{"snn":{"action":"redact"},"mrn":{"action":"redact"}}}\n' > "$T/typo.json"
check "test_deid_cli__typo_rule_still_runs" 0 "$P" deid --policy "$T/typo.json" --in "$T/p.jsonl" --out "$T/o-typo.jsonl"
expect_grep "test_deid_cli__typo_rule_warns" "$T/err" "warning: rule 'snn' (redact) matched no field"
expect_grep "test_deid_cli__summary_counts_warnings" "$T/err" "1 rules matched nothing, 1 warnings"
check "test_deid_cli__strict_typo_rule_fails" 1 "$P" deid --policy "$T/typo.json" --in "$T/p.jsonl" --out "$T/o-strict.jsonl" --strict --report "$T/r-strict.json"
expect_grep "test_deid_cli__strict_names_the_cause" "$T/err" "strict: 1 rule(s) matched no field"
if [ ! -e "$T/o-strict.jsonl" ] && ! ls -A "$T" | grep -q phicrypt-deid; then ok "test_deid_cli__strict_writes_no_output"; else notok "test_deid_cli__strict_writes_no_output"; fi
expect_grep "test_deid_cli__strict_report_not_completed" "$T/r-strict.json" '"completed":false'
expect_grep "test_deid_cli__report_lists_unmatched_rules" "$T/r-strict.json" '"unmatched_rules":\[{"path":"snn","action":"redact"}\]'
printf '{"version":1,"unknown_fields":"keep","fields":{"ssn":{"action":"redact"}}}\n' > "$T/keep.json"
check "test_deid_cli__unknown_kept_warns" 0 "$P" deid --policy "$T/keep.json" --in "$T/p.jsonl" --out "$T/o-keep.jsonl"
expect_grep "test_deid_cli__unknown_kept_named" "$T/err" "warning: field 'mrn' is not in the policy and was kept"
check "test_deid_cli__strict_unknown_kept_fails" 1 "$P" deid --policy "$T/keep.json" --in "$T/p.jsonl" --out "$T/o-keep2.jsonl" --strict
if [ ! -e "$T/o-keep2.jsonl" ]; then ok "test_deid_cli__strict_unknown_kept_no_output"; else notok "test_deid_cli__strict_unknown_kept_no_output"; fi
# CSV: a BOM and CRLF line ends (Excel) give the same values, ends and BOM kept.
{ printf '\357\273\277'; sed 's/$/\r/' "$T/p.csv"; } > "$T/bom.csv"
check "test_deid_cli__csv_bom_crlf" 0 "$P" deid --policy "$SH" --in "$T/bom.csv" --out "$T/o-bom.csv"
{ printf '\357\273\277'; sed 's/$/\r/' "$T/o.csv"; } > "$T/o-bom-want.csv"
if cmp -s "$T/o-bom.csv" "$T/o-bom-want.csv"; then ok "test_deid_cli__csv_bom_crlf_same_values_and_line_ends"; else notok "test_deid_cli__csv_bom_crlf_same_values_and_line_ends" "$(cmp "$T/o-bom.csv" "$T/o-bom-want.csv")"; fi
no_leak "test_deid_cli__csv_bom_crlf_no_leak" "$T/o-bom.csv"
# ';' and tab separated: refused unless --delimiter says so; then the same values.
tr ',' ';' < "$T/p.csv" > "$T/semi.csv"
if grep -q ';' "$T/p.csv"; then notok "test_deid_cli__semicolon_fixture" "p.csv holds ';'"; fi
check "test_deid_cli__semicolon_csv_refused" 1 "$P" deid --policy "$SH" --in "$T/semi.csv" --out "$T/o-semi.csv"
expect_grep "test_deid_cli__semicolon_csv_suggests_delimiter" "$T/err" "semi.csv: line 1: .*--delimiter ';'"
check "test_deid_cli__semicolon_csv_with_delimiter" 0 "$P" deid --policy "$SH" --in "$T/semi.csv" --out "$T/o-semi.csv" --delimiter ';'
no_leak "test_deid_cli__semicolon_csv_no_leak" "$T/o-semi.csv"
if [ "$(head -1 "$T/o-semi.csv")" = "$(head -1 "$T/o.csv" | tr ',' ';')" ]; then ok "test_deid_cli__semicolon_csv_same_columns"; else notok "test_deid_cli__semicolon_csv_same_columns"; fi
printf 'mrn\tssn\nMRN1\t123-45-6789\n' > "$T/tab.csv"
check "test_deid_cli__tab_csv_refused" 1 "$P" deid --policy "$SH" --in "$T/tab.csv" --out "$T/o-tab.csv"
check "test_deid_cli__tab_csv_with_delimiter" 0 "$P" deid --policy "$SH" --in "$T/tab.csv" --out "$T/o-tab.csv" --delimiter '\t'
if ! grep -q '123-45-6789' "$T/o-tab.csv" && grep -q "$(printf '^mrn\tssn$')" "$T/o-tab.csv"; then ok "test_deid_cli__tab_csv_rewritten"; else notok "test_deid_cli__tab_csv_rewritten" "$(cat "$T/o-tab.csv")"; fi
check "test_deid_cli__bad_delimiter_is_usage_error" 2 "$P" deid --policy "$SH" --in "$T/tab.csv" --out "$T/o-tab.csv" --delimiter '"'
# Failure: the report is still written, saying so.
check "test_deid_cli__report_on_failure_exit" 1 "$P" deid --policy "$SH" --in "$T/trunc.jsonl" --out "$T/o-rf.jsonl" --report "$T/r-fail.json"
if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["completed"] is False and "trunc.jsonl: line " in d["error"] and d["records_in"] > 0' "$T/r-fail.json"; then ok "test_deid_cli__report_on_failure_says_not_completed"; else notok "test_deid_cli__report_on_failure_says_not_completed" "$(head -c 300 "$T/r-fail.json" 2>&1)"; fi
check "test_deid_cli__report_on_policy_failure" 1 "$P" deid --policy "$T/bad-policy.json" --in "$T/p.jsonl" --out "$T/never.jsonl" --report "$T/r-pol.json"
expect_grep "test_deid_cli__report_on_policy_failure_written" "$T/r-pol.json" '"completed":false'
# mongoexport --pretty: the message says what the file is, --skip-bad or not.
/usr/bin/python3 -c 'import json,sys; [print(json.dumps(json.loads(l), indent="\t")) for l in open(sys.argv[1])]' "$T/p.jsonl" > "$T/pretty.jsonl"
check "test_deid_cli__pretty_export_fails" 1 "$P" deid --policy "$SH" --in "$T/pretty.jsonl" --out "$T/o-pretty.jsonl" --skip-bad
expect_grep "test_deid_cli__pretty_export_named" "$T/err" "pretty.jsonl: line 1: a record spans several lines.*pretty-printed"
# --skip-bad skips a record over 16 MiB (the records around it come out).
{ head -2 "$T/p.jsonl"; printf '{"notes":"'; head -c 17000000 /dev/zero | tr '\0' 'x'; printf '"}\n'; sed -n 3p "$T/p.jsonl"; } > "$T/huge.jsonl"
check "test_deid_cli__oversized_record_fails" 1 "$P" deid --policy "$SH" --in "$T/huge.jsonl" --out "$T/o-huge.jsonl"
expect_grep "test_deid_cli__oversized_record_named" "$T/err" "huge.jsonl: line 3 (byte [0-9]*): record larger than 16777216 bytes"
check "test_deid_cli__oversized_record_skipped" 0 "$P" deid --policy "$SH" --in "$T/huge.jsonl" --out "$T/o-huge.jsonl" --skip-bad --report "$T/r-huge.json"
if [ "$(wc -l < "$T/o-huge.jsonl")" = 3 ] && grep -q '"bad_records_count":1,"bad_records":\[{"record":{"line":3}' "$T/r-huge.json"; then ok "test_deid_cli__oversized_record_listed"; else notok "test_deid_cli__oversized_record_listed" "$(wc -l < "$T/o-huge.jsonl")"; fi
rm -f "$T/huge.jsonl" "$T/o-huge.jsonl"
# An --out name that says another format: a warning.
check "test_deid_cli__out_extension_mismatch_runs" 0 "$P" deid --policy "$SH" --in "$T/p.jsonl" --out "$T/o-ext.json"
expect_grep "test_deid_cli__out_extension_mismatch_warns" "$T/err" "o-ext.json: the name ends in '.json' but the output is jsonl"

# Killed mid-run (input still open): no output file, no temporary file.
mkfifo "$T/fifo"
"$P" deid --policy "$SH" --in "$T/fifo" --out "$T/killed.jsonl" --format jsonl --threads 2 2>/dev/null &
DPID=$!
exec 3>"$T/fifo"
cat "$T/p.jsonl" >&3
sleep 0.5
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
exec 3>&-
if [ ! -e "$T/killed.jsonl" ] && ! ls -A "$T" | grep -q phicrypt-deid; then ok "test_deid_cli__kill_leaves_nothing"; else notok "test_deid_cli__kill_leaves_nothing" "$(ls -A "$T")"; fi

# On a terminal, a progress bar goes to stderr.
if command -v script >/dev/null; then
  script -qec "'$P' deid --policy '$SH' --in '$T/p.jsonl' --out '$T/o-tty.jsonl'" /dev/null > "$T/tty.txt" 2>&1
  if grep -q 'records' "$T/tty.txt" && grep -q 'MB/s' "$T/tty.txt"; then ok "test_deid_cli__progress_on_terminal"; else notok "test_deid_cli__progress_on_terminal" "$(head -c 300 "$T/tty.txt")"; fi
fi

# Keyed policy (tokens, pseudonyms, encryption, date shifts), then reid.
check "test_deid_cli__init" 0 "$P" init --dir "$T/ks"
export PHICRYPT_CONFIG="$T/ks/phicrypt.json"
check "test_deid_cli__data_key" 0 "$P" keys create --provider local --alt-name patients
check "test_deid_cli__ff1_key" 0 "$P" token create tok:ssn --algorithm ff1
check "test_deid_cli__siv_key" 0 "$P" token create tok:mrn --algorithm siv
check "test_deid_cli__hmac_key" 0 "$P" token create ps:patient --algorithm hmac
$GEN --records 300 --seed 5 --format jsonl > "$T/k.jsonl"
check "test_deid_cli__keyed_deid" 0 "$P" deid --policy "$TOK" --in "$T/k.jsonl" --out "$T/k.deid.jsonl" --threads 3
if ! grep -q -E '"ssn":"[0-9]{3}-[0-9]{2}-[0-9]{4}"' "$T/k.deid.jsonl" || ! grep -q '"mrn":"tk1\.' "$T/k.deid.jsonl" || ! grep -q '"subType":"06"' "$T/k.deid.jsonl"; then
  notok "test_deid_cli__keyed_outputs_tokens"; else ok "test_deid_cli__keyed_outputs_tokens"; fi
check "test_deid_cli__reid" 0 "$P" reid --policy "$TOK" --in "$T/k.deid.jsonl" --out "$T/k.back.jsonl" --threads 2
/usr/bin/python3 - "$T/k.jsonl" "$T/k.back.jsonl" <<'PY' && ok "test_deid_cli__reid_restores_tokens_and_ciphertexts" || notok "test_deid_cli__reid_restores_tokens_and_ciphertexts"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b)
for x, y in zip(a, b):
    assert x["ssn"] == y["ssn"] and x["mrn"] == y["mrn"] and x["email"] == y["email"]
    assert x["insurance"]["memberId"] == y["insurance"]["memberId"]
PY
# An action error names the file and line (here: a key version that does not exist).
printf '{"version":1,"unknown_fields":"drop","fields":{"ssn":{"action":"tokenize","key":"tok:ssn","format":"ssn","key_version":9}}}\n' > "$T/kv.json"
{ printf '{"x":1}\n'; head -1 "$T/k.jsonl"; } > "$T/kv.jsonl"
check "test_deid_cli__action_error_fails" 1 "$P" deid --policy "$T/kv.json" --in "$T/kv.jsonl" --out "$T/kv.out.jsonl"
expect_grep "test_deid_cli__action_error_names_file_and_line" "$T/err" "error: $T/kv.jsonl: line 2: ssn: "
check "test_deid_cli__keyed_deid_again" 0 "$P" deid --policy "$TOK" --in "$T/k.jsonl" --out "$T/k.deid2.jsonl"
if cmp -s "$T/k.deid.jsonl" "$T/k.deid2.jsonl"; then ok "test_deid_cli__keyed_output_is_deterministic"; else notok "test_deid_cli__keyed_output_is_deterministic"; fi

echo "1..$n"
[ "$fails" -eq 0 ]
