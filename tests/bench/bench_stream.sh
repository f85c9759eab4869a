#!/usr/bin/env bash
# Benchmark of `phicrypt decrypt-document --lines` on a mongoexport-style stream
# (issue 20): a 1 GB stream piped through it in bounded memory. The stream is one
# encrypted block (generated patients, ssn and mrn deterministic, phone and notes
# random) repeated to the size asked, so no 1 GB file is written.
#   tests/bench/bench_stream.sh [PATH/TO/phicrypt] [MB] [BLOCK_MB] [BASE_MB]
#   (defaults: build/examples/cli/phicrypt, 1000, 10, 100)
# Prints MB/s and peak RSS for BASE_MB and for MB (the RSS must not grow with the
# stream), and the ratio to `jq -c .` (parse + print every line, no crypto) on the
# same BASE_MB stream, measured in the same run. Measures, never asserts.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P=${1:-$ROOT/build/examples/cli/phicrypt}
MB=${2:-1000}
BLOCK=${3:-10}
BASE=${4:-100}
W=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-bench-stream-XXXXXX")
trap 'rm -rf "$W"' EXIT
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

"$P" init --dir "$W/keys" >/dev/null
kid=$("$P" --config "$W/keys/phicrypt.json" keys create --provider local --alt-name bench)
b64=$(/usr/bin/python3 -c "import uuid,base64,sys;print(base64.b64encode(uuid.UUID(sys.argv[1]).bytes).decode())" "$kid")
enc() { # ALGORITHM
  printf '{"encrypt": {"keyId": [{"$binary": {"base64": "%s", "subType": "04"}}], "bsonType": "string", "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-%s"}}' "$b64" "$1"
}
cat >"$W/keys/auto.json" <<JSON
{"kms_providers": {"local": {"key_file": "master.key"}}, "key_vault": "file:keyvault.jsonl",
 "schema_map": {"hospital.patients": {"bsonType": "object", "properties": {
   "ssn": $(enc Deterministic), "mrn": $(enc Deterministic), "phone": $(enc Random), "notes": $(enc Random)}}}}
JSON
chmod 600 "$W/keys/auto.json"
C="$W/keys/auto.json"

/usr/bin/python3 "$ROOT/examples/data/generate_patients.py" --records $((BLOCK * 1000000 / 845)) --seed 42 >"$W/plain.jsonl"
"$P" --config "$C" encrypt-document --ns hospital.patients --lines <"$W/plain.jsonl" >"$W/block.jsonl"
BB=$(stat -c %s "$W/block.jsonl")
stream() { # MB: the block repeated until at least MB megabytes
  local n=$((($1 * 1000000 + BB - 1) / BB))
  for _ in $(seq "$n"); do cat "$W/block.jsonl"; done
}
bytes() { echo $((($1 * 1000000 + BB - 1) / BB * BB)); }

measure() { # NAME MB CMD...: wall seconds and peak RSS (KB) of CMD reading the stream
  local name=$1 mb=$2; shift 2
  stream "$mb" | /usr/bin/time -f "%e %M %U %S" -o "$W/time.$name" "$@" >/dev/null
  read -r wall rss us sy <"$W/time.$name"
  awk -v b="$(bytes "$mb")" -v s="$wall" -v r="$rss" -v c="$us" -v y="$sy" -v n="$name" \
    'BEGIN { printf "%-34s %6.0f MB in %7.2f s: %6.1f MB/s wall, %6.1f MB/s per CPU second, peak RSS %d MB\n",
             n, b / 1e6, s, b / 1e6 / s, b / 1e6 / (c + y), r / 1024 }'
  echo "$wall $rss $us $sy" >"$W/res.$name"
}

measure "jq -c . (baseline)" "$BASE" jq -c .
measure "decrypt-document --lines" "$BASE" "$P" --config "$C" decrypt-document --lines
measure "decrypt-document --lines (large)" "$MB" "$P" --config "$C" decrypt-document --lines
read -r wj _ uj sj <"$W/res.jq -c . (baseline)"
read -r wd rd ud sd <"$W/res.decrypt-document --lines"
read -r wl rl _ _ <"$W/res.decrypt-document --lines (large)"
awk -v wj="$wj" -v wd="$wd" -v cj="$uj+$sj" -v cd="$ud+$sd" 'BEGIN { split(cj, a, "+"); split(cd, b, "+");
  printf "decrypt-document / jq -c . throughput ratio (same %s MB stream): %.2f wall, %.2f per CPU second\n",
         "'"$BASE"'", wj / wd, (a[1] + a[2]) / (b[1] + b[2]) }'
awk -v rd="$rd" -v rl="$rl" 'BEGIN { printf "peak RSS %s MB stream / %s MB stream: %.2f\n", "'"$MB"'", "'"$BASE"'", rl / rd }'
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
