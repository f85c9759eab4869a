# Audit log v2 through the phicrypt tool: signed checkpoints, anchors,
# verification with the public key alone, truncation and rollback, key
# rotation, the accounting report, ENOSPC. Sourced by test_audit_cli.sh
# (uses its helpers and $P, $T, $LOG, $DOC, $SSN_CT, $MRN).

decrypt_ok() { # NAME: one audited decrypt that must succeed
  checkin "$1" 0 "$SSN_CT" "$P" decrypt --field ssn --subject "$MRN" --actor clerk --role billing --purpose PAYMENT
}

# Anchors on: every checkpoint is copied to anchors.jsonl.
python3 - "$PHICRYPT_CONFIG" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["audit"]["anchors"] = ["file:anchors.jsonl"]
c["audit"]["checkpoint_every"] = {"lines": 1000, "seconds": 60}
json.dump(c, open(p, "w"))
PY
ANC="$T/ks/anchors.jsonl"
decrypt_ok "test_audit_cli__append_with_anchor"
if [ -s "$ANC" ] && tail -n 1 "$LOG" | cmp -s - <(tail -n 1 "$ANC"); then ok "test_audit_cli__checkpoint_copied_to_anchor"
else notok "test_audit_cli__checkpoint_copied_to_anchor" "$(tail -n 1 "$ANC" 2>&1)"; fi
check "test_audit_cli__verify_with_anchor" 0 "$P" audit verify
expect_grep "test_audit_cli__verify_reports_anchors" "$T/out" "anchors reached"

# An outside auditor: the public key, a copy of the log, an empty directory.
check "test_audit_cli__public_key" 0 "$P" audit public-key
cp "$T/out" "$T/pub1.jsonl"
expect_grep "test_audit_cli__public_key_names_version" "$T/pub1.jsonl" '"kv":1,"ed25519":"[0-9a-f]\{64\}"'
mkdir -p "$T/auditor"; cp "$LOG" "$T/auditor/log.jsonl"; cp "$T/pub1.jsonl" "$T/auditor/pub.jsonl"; cp "$ANC" "$T/auditor/anc.jsonl"
check "test_audit_cli__verify_public_key_only_empty_dir" 0 \
  env -u PHICRYPT_CONFIG sh -c "cd '$T/auditor' && '$P' audit verify log.jsonl --public-key pub.jsonl --anchors anc.jsonl"
# A key the log was not signed with fails every checkpoint.
printf '{"kv":1,"ed25519":"%064d"}\n' 0 >"$T/auditor/wrong.jsonl"
check "test_audit_cli__verify_wrong_public_key" 1 \
  env -u PHICRYPT_CONFIG sh -c "cd '$T/auditor' && '$P' audit verify log.jsonl --public-key wrong.jsonl"
expect_grep "test_audit_cli__verify_wrong_key_names_signature" "$T/out" "signature"
check "test_audit_cli__verify_no_key_no_config" 2 \
  env -u PHICRYPT_CONFIG sh -c "cd '$T/auditor' && '$P' audit verify log.jsonl"

# Deleting the last line (the checkpoint): the anchor still has it.
cp "$LOG" "$T/good.jsonl"; cp "$ANC" "$T/good_anc.jsonl"
sed -i '$d' "$LOG"
check "test_audit_cli__delete_last_line_detected" 1 "$P" audit verify
expect_grep "test_audit_cli__delete_last_line_says_truncated" "$T/out" "truncated or rolled back"
# ... and then appending: the writer refuses instead of chaining on.
checkin "test_audit_cli__append_after_delete_refused" 1 "$SSN_CT" "$P" decrypt --field ssn --subject "$MRN" --actor clerk --role billing --purpose PAYMENT
expect_grep "test_audit_cli__append_refusal_names_resume" "$T/err" "phicrypt audit resume"
expect_no_grep "test_audit_cli__refused_append_discloses_nothing" "$T/out" "123-45-6789"
check "test_audit_cli__still_detected_after_refused_append" 1 "$P" audit verify
check "test_audit_cli__resume_needs_reason" 2 "$P" audit resume
check "test_audit_cli__resume" 0 "$P" audit resume --reason "INC-42: restored after disk fault"
expect_grep "test_audit_cli__resume_recorded" "$LOG" '"op":"resumed","reason":"INC-42: restored after disk fault"'
decrypt_ok "test_audit_cli__append_after_resume"
check "test_audit_cli__verify_after_resume" 0 "$P" audit verify
check "test_audit_cli__resume_when_not_behind" 1 "$P" audit resume --reason nothing

# Deleting the last k lines.
for i in 1 2 3; do decrypt_ok "test_audit_cli__append_$i"; done
cp "$LOG" "$T/before_k.jsonl"
head -n -3 "$T/before_k.jsonl" >"$LOG"
check "test_audit_cli__delete_last_3_lines_detected" 1 "$P" audit verify
cp "$T/before_k.jsonl" "$LOG"
check "test_audit_cli__restored_log_verifies" 0 "$P" audit verify

# Rollback: an older copy of the log put back.
cp "$LOG" "$T/old.jsonl"
decrypt_ok "test_audit_cli__append_before_rollback"
cp "$T/old.jsonl" "$LOG"
check "test_audit_cli__rollback_detected" 1 "$P" audit verify
checkin "test_audit_cli__append_after_rollback_refused" 1 "$SSN_CT" "$P" decrypt --field ssn --subject "$MRN" --actor clerk --role billing --purpose PAYMENT
# A rolled-back log grown past the anchored seq is still caught (the bytes differ).
check "test_audit_cli__rollback_resume" 0 "$P" audit resume --reason "rollback drill"
check "test_audit_cli__verify_after_rollback_resume" 0 "$P" audit verify

# The whole log deleted: a fresh log would verify on its own, so the writer
# refuses until resumed, and the new log names what it lost.
mv "$LOG" "$T/whole.jsonl"
checkin "test_audit_cli__append_after_log_deleted_refused" 1 "$SSN_CT" "$P" decrypt --field ssn --subject "$MRN" --actor clerk --role billing --purpose PAYMENT
expect_grep "test_audit_cli__deleted_log_refusal_says_why" "$T/err" "empty or missing"
check "test_audit_cli__resume_deleted_log" 0 "$P" audit resume --reason "log volume lost"
check "test_audit_cli__verify_new_log_against_anchor" 0 "$P" audit verify
mv "$T/whole.jsonl" "$LOG"
check "test_audit_cli__old_log_back_is_behind_new_anchor" 1 "$P" audit verify
check "test_audit_cli__resume_old_log" 0 "$P" audit resume --reason "old log restored"
check "test_audit_cli__verify_old_log_resumed" 0 "$P" audit verify

# A torn line hidden in the middle is tampering, not crash damage.
awk 'NR==4{print "{\"seq\":99,\"kv\":1,\"op\":\"decr"} {print}' "$LOG" >"$T/torn_mid.jsonl"
check "test_audit_cli__torn_middle_is_tampering" 1 "$P" audit verify "$T/torn_mid.jsonl" --anchors /dev/null
expect_grep "test_audit_cli__torn_middle_names_line" "$T/out" "line 4: not an audit line"

# Signing key rotation: old and new lines verify with either public key.
check "test_audit_cli__rotate_key" 0 "$P" audit rotate-key
expect_grep "test_audit_cli__rotate_key_version" "$T/out" "audit:sign version 2"
expect_grep "test_audit_cli__rotation_checkpoint" "$LOG" '"op":"checkpoint".*"kv_new":2,"pk":.*"sig_new"'
decrypt_ok "test_audit_cli__append_after_rotation"
check "test_audit_cli__public_keys_after_rotation" 0 "$P" audit public-key
grep '"kv":2' "$T/out" >"$T/pub2.jsonl"
check "test_audit_cli__verify_old_key_only" 0 "$P" audit verify "$LOG" --public-key "$T/pub1.jsonl"
check "test_audit_cli__verify_new_key_only" 0 "$P" audit verify "$LOG" --public-key "$T/pub2.jsonl"
check "test_audit_cli__rotate_subject_key" 0 "$P" audit rotate-key --subject
decrypt_ok "test_audit_cli__append_after_subject_rotation"
check "test_audit_cli__verify_after_subject_rotation" 0 "$P" audit verify
expect_grep "test_audit_cli__new_lines_name_subject_version" "$LOG" '"skv":2,.*"op":"decrypt"'
check "test_audit_cli__disclosures_across_subject_keys" 0 "$P" audit disclosures --subject "$MRN" --format json
want=$(grep -c "\"op\":\"decrypt\".*\"subject\":\"sub1" "$LOG")
got=$(grep -o '"op":"decrypt"' "$T/out" | wc -l)
if [ "$want" -ge 3 ] && [ "$got" -eq "$want" ]; then ok "test_audit_cli__disclosures_count_old_and_new_subject_keys"
else notok "test_audit_cli__disclosures_count_old_and_new_subject_keys" "got $got, want $want"; fi

# The keyring will not rotate or destroy what the log needs, except forced and recorded.
check "test_audit_cli__token_rotate_audit_key_refused" 1 "$P" token rotate audit:sign
expect_grep "test_audit_cli__token_rotate_points_to_audit" "$T/err" "audit rotate-key"
check "test_audit_cli__destroy_needed_version_refused" 1 "$P" token destroy audit:sign --version 1 --yes
expect_grep "test_audit_cli__destroy_refusal_says_why" "$T/err" "still needed by the audit log"
check "test_audit_cli__destroy_subject_key_refused" 1 "$P" token destroy audit:subject --version 1 --yes
check "test_audit_cli__destroy_forced" 0 "$P" token destroy audit:sign --version 1 --yes --force "retention period over"
expect_grep "test_audit_cli__destroy_forced_recorded" "$LOG" '"op":"keyring_destroy_forced".*"key_name":"audit:sign","key_version":1,.*"reason":"retention period over"'
check "test_audit_cli__verify_after_forced_destroy" 0 "$P" audit verify

# The accounting report: formats, and refusal on a tampered log.
check "test_audit_cli__disclosures_csv" 0 "$P" audit disclosures --subject "$MRN" --format csv
expect_grep "test_audit_cli__csv_header" "$T/out" '^date (UTC),recipient (actor),role,purpose,operation'
expect_grep "test_audit_cli__csv_row" "$T/out" '^"20[0-9-]*T[0-9:.]*Z","clerk","billing","PAYMENT","decrypt"'
check "test_audit_cli__disclosures_html" 0 "$P" audit disclosures --subject "$MRN" --format html
expect_grep "test_audit_cli__html_page" "$T/out" '<!DOCTYPE html>'
expect_no_grep "test_audit_cli__html_no_external_assets" "$T/out" 'src=\|href=\|http'
expect_no_grep "test_audit_cli__html_no_mrn" "$T/out" "$MRN"
check "test_audit_cli__disclosures_bad_format" 2 "$P" audit disclosures --subject "$MRN" --format pdf
cp "$LOG" "$T/keep.jsonl"
sed -i '0,/"actor":"clerk"/s//"actor":"clerc"/' "$LOG"
check "test_audit_cli__disclosures_refused_on_tampered_log" 1 "$P" audit disclosures --subject "$MRN"
expect_grep "test_audit_cli__disclosures_refusal_says_why" "$T/err" "does not verify"
check "test_audit_cli__disclosures_unverified" 0 "$P" audit disclosures --subject "$MRN" --unverified --format csv
if grep -qv '^UNVERIFIED ' "$T/out"; then notok "test_audit_cli__unverified_on_every_line" "$(grep -v '^UNVERIFIED ' "$T/out" | head -3)"
else ok "test_audit_cli__unverified_on_every_line"; fi
cp "$T/keep.jsonl" "$LOG"

# ENOSPC during an append: nothing torn is left, the call fails closed,
# and appends continue once there is space.
S="$T/small"; mkdir -p "$S"
python3 - "$PHICRYPT_CONFIG" "$T/ks/small.json" "$S/audit.jsonl" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["audit"] = {"path": sys.argv[3], "subject_field": "mrn"}
json.dump(c, open(sys.argv[2], "w"))
PY
SMALLCFG="$T/ks/small.json"
how=""
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=64k tmpfs "$S" 2>/dev/null; then
  how=tmpfs
  trap 'umount "$S" 2>/dev/null; rm -rf "$T"' EXIT
fi
small_decrypt() { printf '%s' "$SSN_CT" | PHICRYPT_CONFIG="$SMALLCFG" "$P" decrypt --field ssn --subject "$MRN" --actor clerk --role billing --purpose PAYMENT; }
for i in 1 2 3; do small_decrypt >/dev/null 2>&1; done
if [ "$how" = tmpfs ]; then
  dd if=/dev/zero of="$S/fill" bs=1k count=1000 >/dev/null 2>&1
  # The log's last page still has room: append until a line does not fit.
  for i in $(seq 1 20); do small_decrypt >"$T/out" 2>"$T/err"; st=$?; [ "$st" -ne 0 ] && break; done
else
  # No tmpfs (not root): the file size limit gives the same short write.
  how=rlimit_fsize
  size=$(stat -c %s "$S/audit.jsonl")
  (trap '' XFSZ; ulimit -f $(( (size + 1023) / 1024 )); small_decrypt >"$T/out" 2>"$T/err"); st=$?
fi
if [ "$st" -eq 1 ]; then ok "test_audit_cli__enospc_append_fails_closed_$how"; else notok "test_audit_cli__enospc_append_fails_closed_$how" "exit $st" "$(head -c 300 "$T/err")"; fi
expect_no_grep "test_audit_cli__enospc_no_plaintext_$how" "$T/out" "123-45-6789"
expect_grep "test_audit_cli__enospc_error_says_nothing_appended_$how" "$T/err" "nothing was appended"
check "test_audit_cli__enospc_log_verifies_$how" 0 env PHICRYPT_CONFIG="$SMALLCFG" "$P" audit verify
rm -f "$S/fill"
if small_decrypt >/dev/null 2>&1; then ok "test_audit_cli__enospc_appends_continue_$how"; else notok "test_audit_cli__enospc_appends_continue_$how"; fi
check "test_audit_cli__enospc_verify_after_space_returns_$how" 0 env PHICRYPT_CONFIG="$SMALLCFG" "$P" audit verify
[ "$how" = tmpfs ] && umount "$S"
