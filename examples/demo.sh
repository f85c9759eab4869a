#!/usr/bin/env bash
# The README's first command: installs what is missing, builds phicrypt and
# shows its main job on embedded defaults: a local master key and a file key
# vault are created, a data key is made, and the PHI fields of a synthetic
# patient record are encrypted (MongoDB CSFLE ciphertext) and decrypted.
#   ./examples/demo.sh [--keep DIR]   keep the key set in DIR instead of a temp dir
set -eu
cd "$(dirname "$0")/.."
KEEP=""
[ "${1:-}" = "--keep" ] && KEEP=${2:?--keep needs a DIR}

scripts/deps.sh
if [ ! -f build/build.ninja ]; then meson setup build >/dev/null; fi
ninja -C build >/dev/null
P=$PWD/build/examples/cli/phicrypt

WORK=${KEEP:-$(mktemp -d)}
[ -z "$KEEP" ] && trap 'rm -rf "$WORK"' EXIT
export PHICRYPT_CONFIG=$WORK/keys/phicrypt.json

echo "== 1. a local key set (master key, key vault, configuration)"
"$P" init --dir "$WORK/keys" | sed 's/^/   /'
echo
echo "== 2. a data key for patient records"
KEY=$("$P" keys create --provider local --alt-name patients)
echo "   data key $KEY (alt name 'patients')"
"$P" keys list | sed 's/^/   /'
echo
REC=examples/data/patient.json
echo "== 3. the record, as the application holds it"
jq . "$REC" | sed 's/^/   /'
echo
# SSN and MRN deterministically (the database can still find a patient by
# them), everything else that identifies or describes the patient randomly.
declare -A ALG=([ssn]=deterministic [mrn]=deterministic [name]=random [dob]=random [diagnosis]=random [notes]=random)
enc=$(cat "$REC")
for f in "${!ALG[@]}"; do
  ct=$(jq -c --arg f "$f" '.[$f]' "$REC" | "$P" encrypt --key-alt-name patients --algorithm "${ALG[$f]}")
  enc=$(jq -c --arg f "$f" --argjson ct "$ct" '.[$f] = $ct' <<<"$enc")
done
echo "== 4. encrypted before it leaves the application (BinData subtype 6, readable by any MongoDB driver)"
jq . <<<"$enc" | sed 's/^/   /'
echo
dec=$enc
for f in "${!ALG[@]}"; do
  pt=$(jq -c --arg f "$f" '.[$f]' <<<"$enc" | "$P" decrypt)
  dec=$(jq -c --arg f "$f" --argjson pt "$pt" '.[$f] = $pt' <<<"$dec")
done
echo "== 5. decrypted again with the same key set"
jq . <<<"$dec" | sed 's/^/   /'
if [ "$(jq -S . <<<"$dec")" = "$(jq -S . "$REC")" ]; then
  echo
  echo "== round trip OK: every field decrypted to its original value"
else
  echo "round trip FAILED" >&2
  exit 1
fi
same1=$(jq -c .ssn <<<"$enc")
same2=$(jq -c .ssn "$REC" | "$P" encrypt --key-alt-name patients --algorithm deterministic)
[ "$same1" = "$same2" ] && echo "== deterministic SSN ciphertext is stable, so {ssn: <ciphertext>} finds the patient"

echo
echo "== 6. de-identify a synthetic export (Safe Harbor preset) for analysts"
/usr/bin/python3 examples/data/generate_patients.py --records 2000 --seed 7 > "$WORK/export.jsonl"
"$P" deid --policy examples/data/policy-safe-harbor.json --in "$WORK/export.jsonl" --out "$WORK/deid.jsonl" \
  --threads 2 --report "$WORK/report.json"
echo "   first record before:"
head -1 "$WORK/export.jsonl" | jq -c '{name, ssn, dob, address, notes}' | cut -c1-300 | sed 's/^/     /'
echo "   after:"
head -1 "$WORK/deid.jsonl" | jq -c '{name, ssn, dob, address, notes}' | cut -c1-300 | sed 's/^/     /'
echo "   $(wc -l < "$WORK/deid.jsonl") records written; report: $(jq -c '{records_in, records_out, bad_records: (.bad_records | length)}' "$WORK/report.json" 2>/dev/null || echo "$WORK/report.json")"

echo
echo "== the tool used above is $P"
echo "   put it on your PATH: ln -s $P ~/.local/bin/phicrypt   (or install everything: meson install -C build)"
