#!/usr/bin/env bash
# The re-identification risk report and --suppress-below-k through the
# phicrypt tool, as TAP: the report equals a brute-force count (Python, from
# the output file) on 10,000 generated records in JSON lines, a JSON array
# and CSV; a tiny memory budget (spilled runs) gives the same numbers; the
# suppression pass leaves no class below k; bad policies are refused; no
# value of a quasi-identifier appears in the report, manifest or messages.
# Usage: test_risk_cli.sh PATH/TO/phicrypt
set -u
P=$(realpath "${1:?usage: test_risk_cli.sh PATH/TO/phicrypt}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-risk-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
unset PHICRYPT_CONFIG
cd "$T" || exit 1
PY=/usr/bin/python3
BF=$ROOT/tests/deid/risk_bruteforce.py
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
# Compares the report's risk counts with the brute-force count: NAME REPORT OUTPUT
same_as_bruteforce() {
  local name=$1 rep=$2 out=$3 msg
  if msg=$($PY - "$rep" <(${PY} "$BF" "$out" 5 address.zip dob sex) <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["risk"]
b = json.load(open(sys.argv[2]))
diff = [k for k in b if r.get(k) != b[k]]
if diff:
    print("differ:", diff, {k: (r.get(k), b[k]) for k in diff if k != "histogram"})
    sys.exit(1)
PY
  ); then ok "$name"; else notok "$name" "$msg"; fi
}
# The risk blocks of two reports agree (but for the memory figures).
same_risk() {
  local name=$1 msg
  if msg=$($PY - "$2" "$3" <<'PY'
import json, sys
a, b = (json.load(open(f))["risk"] for f in sys.argv[1:3])
for x in (a, b):
    x.pop("memory_budget"); x.pop("spilled_runs")
if a != b:
    print("the risk reports differ")
    sys.exit(1)
PY
  ); then ok "$name"; else notok "$name" "$msg"; fi
}
field() { $PY -c 'import json,sys; r=json.load(open(sys.argv[1]))["risk"]
for k in sys.argv[2].split("."): r = r[k]
print(json.dumps(r))' "$1" "$2"; }

for f in jsonl json csv; do
  $PY "$ROOT/examples/data/generate_patients.py" --records 10000 --seed 11 --format $f > in.$f || { echo "Bail out! generator"; exit 1; }
done
$PY - "$ROOT/examples/data/policy-safe-harbor.json" > qi.json <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["quasi_identifiers"] = ["address.zip", "dob", "sex"]
p["k"] = 5
print(json.dumps(p))
PY

check "test_risk_cli__jsonl_runs" 0 "$P" deid --policy qi.json --in in.jsonl --out out.jsonl --report rep.jsonl.json --threads 2
expect_grep "test_risk_cli__summary_line" "$T/err" "risk: k=5: 10000 records in"
same_as_bruteforce "test_risk_cli__jsonl_equals_bruteforce" rep.jsonl.json out.jsonl
expect_grep "test_risk_cli__manifest_has_risk" out.jsonl.manifest.json '"risk":{"k":5'

check "test_risk_cli__spill_runs" 0 "$P" deid --policy qi.json --in in.jsonl --out spill.jsonl --report rep.spill.json --threads 2 --risk-memory 4096 --no-manifest
if [ "$(field rep.spill.json spilled_runs)" -gt 0 ]; then ok "test_risk_cli__spill_spilled"; else notok "test_risk_cli__spill_spilled" "no run spilled"; fi
same_risk "test_risk_cli__spill_identical" rep.jsonl.json rep.spill.json
if ls -a | grep -q phicrypt-risk; then notok "test_risk_cli__spill_files_gone" "a spill file is left"; else ok "test_risk_cli__spill_files_gone"; fi

for f in json csv; do
  check "test_risk_cli__${f}_runs" 0 "$P" deid --policy qi.json --in in.$f --out out.$f --report rep.$f.json --no-manifest
  same_as_bruteforce "test_risk_cli__${f}_equals_bruteforce" rep.$f.json out.$f
  same_risk "test_risk_cli__${f}_same_as_jsonl" rep.jsonl.json rep.$f.json
done

# Suppression: every format, then no class below k in the written file.
for f in jsonl json csv; do
  check "test_risk_cli__suppress_${f}" 0 "$P" deid --policy qi.json --in in.$f --out sup.$f --report sup.$f.json --suppress-below-k
  below=$(field rep.jsonl.json records_below_k)
  if [ "$(field sup.$f.json suppression.records)" = "$below" ] && [ "$below" -gt 0 ]; then
    ok "test_risk_cli__suppress_${f}_counts"
  else notok "test_risk_cli__suppress_${f}_counts" "suppressed $(field sup.$f.json suppression.records), below k $below"; fi
  if [ "$($PY "$BF" sup.$f 5 address.zip dob sex | $PY -c 'import json,sys; print(json.load(sys.stdin)["classes_below_k"])')" = 0 ]; then
    ok "test_risk_cli__suppress_${f}_no_class_below_k"
  else notok "test_risk_cli__suppress_${f}_no_class_below_k"; fi
  if [ "$(field sup.$f.json suppression.after.classes_below_k)" = 0 ]; then ok "test_risk_cli__suppress_${f}_after"; else notok "test_risk_cli__suppress_${f}_after"; fi
done
expect_grep "test_risk_cli__suppress_marker_string" sup.jsonl '"sex":"\*"'
# More classes below k than the budget holds (k = 40, 4 KiB): the set is read
# a part at a time and marks a bitmap; the output is the same byte for byte.
sed 's/"k": 5/"k": 40/' qi.json > qi40.json
check "test_risk_cli__suppress_big_set" 0 "$P" deid --policy qi40.json --in in.jsonl --out sup40.jsonl --suppress-below-k --no-manifest --threads 2
check "test_risk_cli__suppress_big_set_small_budget" 0 "$P" deid --policy qi40.json --in in.jsonl --out sup40s.jsonl --suppress-below-k --no-manifest --risk-memory 4096
if cmp -s sup40.jsonl sup40s.jsonl; then ok "test_risk_cli__suppress_big_set_same_output"; else notok "test_risk_cli__suppress_big_set_same_output"; fi
expect_grep "test_risk_cli__suppress_manifest" sup.jsonl.manifest.json '"suppression":{'
check "test_risk_cli__suppress_stdout_refused" 1 "$P" deid --policy qi.json --in in.jsonl --out - --suppress-below-k --manifest m.json
expect_grep "test_risk_cli__suppress_stdout_message" "$T/err" "needs an output file"
check "test_risk_cli__suppress_without_qi_refused" 1 "$P" deid --policy "$ROOT/examples/data/policy-safe-harbor.json" --in in.jsonl --out x.jsonl --suppress-below-k
expect_no_file "test_risk_cli__suppress_without_qi_no_output" x.jsonl
check "test_risk_cli__suppress_dry_run_usage" 2 "$P" deid --policy qi.json --in in.jsonl --dry-run --suppress-below-k
check "test_risk_cli__risk_memory_usage" 2 "$P" deid --policy qi.json --in in.jsonl --out y.jsonl --risk-memory 12
check "test_risk_cli__reid_refuses_suppress" 2 "$P" reid --policy qi.json --in in.jsonl --out y.jsonl --suppress-below-k

# Policy validation.
bad() { # NAME MEMBERS EXPECTED_MESSAGE
  echo "{\"version\":1,\"unknown_fields\":\"keep\",\"fields\":{\"name\":{\"action\":\"redact\"}},$2}" > bad.json
  check "test_risk_cli__policy_$1" 1 "$P" deid --policy bad.json --in in.jsonl --out z.jsonl
  expect_grep "test_risk_cli__policy_$1_message" "$T/err" "$3"
}
bad unknown_type '"quasi_identifiers":["dob",3]' 'quasi_identifiers\[1\]: must be a string'
bad not_array '"quasi_identifiers":"dob"' 'quasi_identifiers: must be an array'
bad empty '"quasi_identifiers":[]' 'quasi_identifiers: empty'
bad duplicate '"quasi_identifiers":["dob","sex","dob"]' "quasi_identifiers\[2\]: 'dob' given twice"
bad overlap '"quasi_identifiers":["address","address.zip"]' 'overlap'
bad wildcard '"quasi_identifiers":["visits[].date"]' 'plain keys only'
bad k_one '"quasi_identifiers":["dob"],"k":1' 'k: must be from 2'
bad k_string '"quasi_identifiers":["dob"],"k":"5"' 'k: must be an integer'
bad k_alone '"k":5' 'k: needs "quasi_identifiers"'
expect_no_file "test_risk_cli__policy_no_output" z.jsonl

# Canary: quasi-identifier values kept as they are never reach the report,
# manifest or messages (only paths and counts do).
cat > canary.json <<'J'
{"version":1,"unknown_fields":"keep","fields":{"name":{"action":"redact"}},"quasi_identifiers":["zip","tag.code"],"k":3}
J
{
  for i in $(seq 1 50); do echo "{\"name\":\"n$i\",\"zip\":\"ZQX$((i % 5))CANARY\",\"tag\":{\"code\":\"TAGCANARY$((i % 2))\"}}"; done
  echo '{"name":"x","zip":"ZQXLONECANARY","tag":{"code":"TAGLONECANARY"}}'
} > canary.jsonl
check "test_risk_cli__canary_run" 0 "$P" deid --policy canary.json --in canary.jsonl --out canary.out.jsonl --report canary.rep.json --suppress-below-k
cat "$T/err" > canary.stderr
if grep -q CANARY canary.rep.json canary.out.jsonl.manifest.json canary.stderr; then
  notok "test_risk_cli__canary_absent" "a quasi-identifier value appears in the report, manifest or stderr"
else ok "test_risk_cli__canary_absent"; fi
if grep -q LONECANARY canary.out.jsonl; then notok "test_risk_cli__canary_suppressed" "the unique record's values survive"; else ok "test_risk_cli__canary_suppressed"; fi

echo "1..$n"
[ "$fails" -eq 0 ]
