#!/usr/bin/env bash
# Keys out of core dumps: a core taken with gdb's gcore, by the same user,
# from a running `phicrypt deid` that has unwrapped a data key, must not
# hold the local master key nor the data key. The tool makes itself
# non-dumpable at start (phicrypt_harden_process), so gcore cannot attach.
# Runs the tool as an unprivileged user (root may ptrace anything).
# TAP. Usage: test_coredump.sh PATH/TO/phicrypt
set -u
P=$(realpath "${1:?usage: test_coredump.sh PATH/TO/phicrypt}")
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "needs root to run the tool as another user"
command -v gcore >/dev/null || skip_all "gdb's gcore is not installed"
command -v setpriv >/dev/null || skip_all "setpriv is not installed"
U=65534
AS="setpriv --reuid=$U --regid=$U --clear-groups"
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-core-XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; exec 7>&- 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
chmod 711 "$T"
mkdir -m 0700 "$T/w" && chown $U:$U "$T/w"
W="$T/w"
$AS "$P" init --dir "$W/ks" >/dev/null || { notok "test_coredump__setup" "init failed"; echo "1..$n"; exit 0; }
C="$W/ks/phicrypt.json"
$AS sh -c "head -c 96 /dev/urandom > '$W/dk.bin'"
$AS "$P" --config "$C" keys create --provider local --alt-name dk --key-material-file "$W/dk.bin" >/dev/null
printf '{"version":1,"unknown_fields":"keep","fields":{"ssn":{"action":"encrypt","key_alt_name":"dk","algorithm":"random"}}}' |
  $AS sh -c "cat > '$W/policy.json'"
$AS mkfifo "$W/in"
# deid streams: after the first record the data key is unwrapped and held
# while the tool waits for more input on the FIFO.
$AS "$P" --config "$C" deid --policy "$W/policy.json" --in "$W/in" --out "$W/out.jsonl" --format jsonl \
  >"$T/deid.log" 2>&1 &
pid=$!
exec 7>"$W/in"
# Enough records to fill the reader's chunks, so some are processed now.
python3 -c 'import sys; sys.stdout.write("{\"ssn\": \"123-45-6789\"}\n" * 40000)' >&7
# The tool is up once it has read the configuration and the key (it then
# waits on the FIFO); limits are visible in /proc.
i=0
while [ $i -lt 100 ] && ! grep -q "Max core file size *0 *0" "/proc/$pid/limits" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
sleep 1
if grep -q "Max core file size *0 *0" "/proc/$pid/limits" 2>/dev/null; then ok "test_coredump__rlimit_core_is_zero"; else notok "test_coredump__rlimit_core_is_zero" "$(grep -i core /proc/$pid/limits 2>&1)"; fi
# Same user, no privilege: what an attacker who runs as the service has.
$AS timeout 120 gcore -o "$W/core" "$pid" >"$T/gcore.log" 2>&1
core=$(ls "$W"/core.* 2>/dev/null | head -1)
if [ -z "$core" ]; then
  ok "test_coredump__gcore_by_same_user_gets_no_core"
  echo "# gcore: $(grep -v '^$' "$T/gcore.log" | tail -1)"
else
  notok "test_coredump__gcore_by_same_user_gets_no_core" "gcore wrote $core ($(stat -c %s "$core") bytes)"
fi
found() { # NAME KEYFILE: searches the core for the key's first 32 bytes
  [ -n "$core" ] || return 1
  python3 - "$core" "$2" <<'PY'
import sys
core = open(sys.argv[1], "rb").read()
key = open(sys.argv[2], "rb").read()
sys.exit(0 if key[:32] in core or key[32:64] in core or key[64:] in core else 1)
PY
}
if found master "$W/ks/master.key"; then notok "test_coredump__master_key_not_in_core" "master key bytes found in the core"; else ok "test_coredump__master_key_not_in_core"; fi
if found data "$W/dk.bin"; then notok "test_coredump__data_key_not_in_core" "data key bytes found in the core"; else ok "test_coredump__data_key_not_in_core"; fi
# The tool still works: end the input, the record is encrypted.
exec 7>&-
wait "$pid"; rc=$?; pid=
if [ $rc = 0 ] && grep -q '"ssn"' "$W/out.jsonl" && ! grep -q "123-45-6789" "$W/out.jsonl"; then ok "test_coredump__deid_completed"; else notok "test_coredump__deid_completed" "exit $rc" "$(head -c 300 "$T/deid.log")"; fi
echo "1..$n"
