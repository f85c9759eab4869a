"""Minimum necessary through the Python binding: relabelled ciphertexts, tokens
and keys are denied and audited as denied; the plain calls need a session; an
unwritable audit log stops every disclosure; Extended JSON input is handled."""
from __future__ import annotations

import json
import os

import pytest

import phicrypt
from conftest import need

SSN, DX, MRN, PHONE = "123-45-6789", "Type 2 diabetes mellitus", "MRN-4711", "617-555-0100"
BILLING = phicrypt.Session("clerk", "billing", "PAYMENT")
PHYSICIAN = phicrypt.Session("drh", "physician", "TREATMENT")
POLICY = {"version": 1, "unknown_fields": "keep", "fields": {
    "ssn": {"action": "tokenize", "key": "tok:ssn"}, "mrn": {"action": "tokenize", "key": "tok:mrn"},
    "phone": {"action": "tokenize", "key": "tok:phone", "format": "phone"}}}


def _uuid(b: bytes) -> str:
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@pytest.fixture
def world(config, tmp_path):
    """Keys k_ssn (bound to ssn) and k_dx (bound to diagnosis), keyring keys, and a config with
    access rules and an audit log; yields (config, log path, key ids)."""
    need("phicrypt_detokenize_as")
    with phicrypt.Client(config) as c:
        kssn = c.create_data_key("local", key_alt_names=["k_ssn"])
        kdx = c.create_data_key("local", key_alt_names=["k_dx"])
        for k in ("tok:ssn", "tok:dx", "tok:mrn"):
            c.create_token_key(k, "siv")
        c.create_token_key("tok:phone", "ff1")

    def enc(k, alg):
        return {"encrypt": {"keyId": [{"$uuid": _uuid(k)}], "bsonType": "string",
                            "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-" + alg}}
    log = tmp_path / "audit.jsonl"
    cfg = dict(config, schema_map={"hospital.patients": {"bsonType": "object", "properties": {
        "ssn": enc(kssn, "Deterministic"), "diagnosis": enc(kdx, "Random")}}},
        access={"roles": {"billing": {"purposes": ["PAYMENT"], "fields": ["ssn", "mrn"],
                                      "keys": ["tok:ssn", "tok:mrn"]},
                          "physician": {"purposes": ["TREATMENT"], "fields": ["*"]}}},
        audit={"path": str(log), "subject_field": "mrn"})
    return cfg, log


def last_line(log) -> dict:
    return json.loads(log.read_text().splitlines()[-1])


def assert_denied(log, field=None):
    line = last_line(log)
    assert line["outcome"] == "denied"
    if field:
        assert field in line["denied_fields"]
    assert DX not in json.dumps(line) and SSN not in json.dumps(line)


def test_access_attacks__relabel_explicit_decrypt(world):
    cfg, log = world
    with phicrypt.Client(cfg) as c:
        dx = c.encrypt(DX, key_alt_name="k_dx", algorithm="random")
        with pytest.raises(phicrypt.AccessDenied) as e:
            c.decrypt_as(BILLING, "hospital.patients", "ssn", dx)
        assert DX not in str(e.value)
        assert_denied(log, "ssn")
        ssn = c.encrypt(SSN, key_alt_name="k_ssn", algorithm="deterministic")
        assert c.decrypt_as(BILLING, "hospital.patients", "ssn", ssn) == SSN
        assert last_line(log)["fields"] == ["ssn"] and len(last_line(log)["key_ids"]) == 1


@pytest.mark.parametrize("shape", ["moved", "copied", "nested", "in_array"])
def test_access_attacks__relabel_decrypt_document(world, shape):
    cfg, log = world
    with phicrypt.Client(cfg) as c:
        dx = c.encrypt(DX, key_alt_name="k_dx", algorithm="random")
        ssn = c.encrypt(SSN, key_alt_name="k_ssn", algorithm="deterministic")
        doc = {"moved": {"mrn": MRN, "ssn": dx},
               "copied": {"ssn": ssn, "diagnosis": dx, "mrn": dx},
               "nested": {"ssn": {"x": dx}},
               "in_array": {"ssn": ssn, "mrn": [dx]}}[shape]
        with pytest.raises(phicrypt.AccessDenied):
            c.decrypt_document_as(BILLING, "hospital.patients", doc)
        assert_denied(log)


def test_access_attacks__detokenize_other_fields_token(world):
    cfg, log = world
    with phicrypt.Client(cfg) as c:
        tok = c.tokenize("tok:dx", DX)
        with pytest.raises(phicrypt.AccessDenied):
            c.detokenize_as(BILLING, "hospital.patients", "ssn", "tok:dx", tok)
        assert_denied(log, "ssn")
        with pytest.raises(phicrypt.PhicryptError):  # billing's own key does not open it
            c.detokenize_as(BILLING, None, "ssn", "tok:ssn", tok)
        assert c.detokenize_as(BILLING, None, "ssn", "tok:ssn", c.tokenize("tok:ssn", SSN)) == SSN


def _deid(c, tmp_path, policy, plain):
    (tmp_path / "plain.jsonl").write_text(plain)
    c.deidentify_file(policy, str(tmp_path / "plain.jsonl"), str(tmp_path / "deid.jsonl"))
    return str(tmp_path / "deid.jsonl")


def test_access_attacks__reid_policy_names_other_key(world, tmp_path):
    cfg, log = world
    bad = {"version": 1, "unknown_fields": "keep", "fields": {"ssn": {"action": "tokenize", "key": "tok:dx"}}}
    with phicrypt.Client(cfg) as c:
        with phicrypt.Client({k: v for k, v in cfg.items() if k not in ("access", "audit")}) as etl:
            src = _deid(etl, tmp_path, bad, json.dumps({"ssn": DX}) + "\n")
        out = tmp_path / "reid.jsonl"
        with pytest.raises(phicrypt.AccessDenied):
            c.reidentify_file_as(BILLING, None, bad, src, str(out))
        assert not out.exists()
        assert_denied(log, "ssn")


def test_access_attacks__partial_reid(world, tmp_path):
    cfg, log = world
    with phicrypt.Client({k: v for k, v in cfg.items() if k not in ("access", "audit")}) as etl:
        src = _deid(etl, tmp_path, POLICY, json.dumps({"ssn": SSN, "mrn": MRN, "phone": PHONE}) + "\n")
    with phicrypt.Client(cfg) as c:
        out = tmp_path / "reid.jsonl"
        rep = c.reidentify_file_as(BILLING, None, POLICY, src, str(out))
        rec = json.loads(out.read_text())
        assert rec["ssn"] == SSN and rec["mrn"] == MRN and rec["phone"] != PHONE
        assert rep["reid_fields"] == ["ssn", "mrn"] and rep["withheld_fields"] == ["phone"]
        line = last_line(log)
        assert line["fields"] == ["ssn", "mrn"] and line["denied_fields"] == ["phone"]
        out.unlink()
        with pytest.raises(phicrypt.AccessDenied):
            c.reidentify_file_as(phicrypt.Session("clerk", "billing", "TREATMENT"), None, POLICY, src, str(out))
        assert not out.exists()


def test_access_attacks__plain_calls_need_a_session(world, tmp_path):
    cfg, log = world
    with phicrypt.Client({k: v for k, v in cfg.items() if k not in ("access", "audit")}) as etl:
        src = _deid(etl, tmp_path, POLICY, json.dumps({"ssn": SSN, "mrn": MRN, "phone": PHONE}) + "\n")
    with phicrypt.Client(cfg) as c:
        ssn = c.encrypt(SSN, key_alt_name="k_ssn", algorithm="deterministic")
        for call in (lambda: c.decrypt(ssn),
                     lambda: c.decrypt_document({"ssn": ssn}),
                     lambda: c.detokenize("tok:ssn", c.tokenize("tok:ssn", SSN)),
                     lambda: c.reidentify_file(POLICY, src, str(tmp_path / "out.jsonl"))):
            with pytest.raises(phicrypt.AccessDenied):
                call()
            assert_denied(log)
        assert not (tmp_path / "out.jsonl").exists()


def _broken_logs(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    gone.rmdir()
    yield "/dev/full"
    yield str(gone / "audit.jsonl")
    (tmp_path / "isdir").mkdir()
    yield str(tmp_path / "isdir")
    if os.geteuid() != 0:  # root writes a read-only file anyway
        ro = tmp_path / "ro.jsonl"
        ro.write_text("")
        ro.chmod(0o400)
        yield str(ro)


@pytest.mark.parametrize("with_access", [True, False])
def test_access_attacks__unwritable_log_stops_disclosure(world, tmp_path, with_access):
    cfg, _ = world
    with phicrypt.Client({k: v for k, v in cfg.items() if k not in ("access", "audit")}) as etl:
        src = _deid(etl, tmp_path, POLICY, json.dumps({"ssn": SSN, "mrn": MRN, "phone": PHONE}) + "\n")
        ssn = etl.encrypt(SSN, key_alt_name="k_ssn", algorithm="deterministic")
        tok = etl.tokenize("tok:ssn", SSN)
    for path in _broken_logs(tmp_path):
        broken = dict(cfg, audit={"path": path})
        if not with_access:
            del broken["access"]
        out = tmp_path / "reid.jsonl"
        with phicrypt.Client(broken) as c:
            calls = [lambda: c.decrypt_as(PHYSICIAN, None, "ssn", ssn),
                     lambda: c.decrypt_document_as(PHYSICIAN, None, {"ssn": ssn}),
                     lambda: c.detokenize_as(PHYSICIAN, None, "ssn", "tok:ssn", tok),
                     lambda: c.reidentify_file_as(PHYSICIAN, None, POLICY, src, str(out)),
                     lambda: c.reidentify_file_as(PHYSICIAN, None, POLICY, src, "/dev/null")]
            if not with_access:
                calls += [lambda: c.decrypt(ssn), lambda: c.decrypt_document({"ssn": ssn}),
                          lambda: c.detokenize("tok:ssn", tok),
                          lambda: c.reidentify_file(POLICY, src, str(out))]
            for call in calls:
                with pytest.raises(phicrypt.FileIOError):
                    call()
                assert not out.exists()


def test_access_attacks__reid_to_stdout_fails_closed(world, tmp_path):
    """reid to a stream (a descriptor path): nothing reaches it without the audit line."""
    cfg, _ = world
    with phicrypt.Client({k: v for k, v in cfg.items() if k not in ("access", "audit")}) as etl:
        src = _deid(etl, tmp_path, POLICY, json.dumps({"ssn": SSN, "mrn": MRN, "phone": PHONE}) + "\n")
    sink = tmp_path / "stream"
    fd = os.open(str(sink), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with phicrypt.Client(dict(cfg, audit={"path": "/dev/full"})) as c:
            with pytest.raises(phicrypt.FileIOError):
                c.reidentify_file_as(PHYSICIAN, None, POLICY, src, f"/proc/self/fd/{fd}", format="jsonl")
        assert sink.read_text() == ""
        with phicrypt.Client(cfg) as c:  # the same call with a writable log does write
            c.reidentify_file_as(PHYSICIAN, None, POLICY, src, f"/proc/self/fd/{fd}", format="jsonl")
        assert SSN in sink.read_text()
    finally:
        os.close(fd)


def test_access_attacks__decrypt_document_input_forms(world):
    cfg, log = world
    if not phicrypt.HAVE_BSON:
        pytest.skip("needs python3-bson")
    import bson
    from bson import json_util
    from bson.raw_bson import RawBSONDocument
    with phicrypt.Client(cfg) as c:
        ssn = c.encrypt(SSN, key_alt_name="k_ssn", algorithm="deterministic")
        text = json_util.dumps({"mrn": MRN, "ssn": ssn}, json_options=json_util.CANONICAL_JSON_OPTIONS)
        # Extended JSON text in, Extended JSON text out.
        out = c.decrypt_document_as(BILLING, "hospital.patients", text)
        assert isinstance(out, str) and json.loads(out)["ssn"] == SSN
        # A bson document.
        raw = RawBSONDocument(bson.encode(json_util.loads(text)))
        assert c.decrypt_document_as(BILLING, "hospital.patients", raw)["ssn"] == SSN
        # json.loads of Extended JSON: the "ciphertexts" are dicts. Refused, nothing audited.
        before = log.read_text()
        with pytest.raises(phicrypt.BadData):
            c.decrypt_document_as(BILLING, "hospital.patients", json.loads(text))
        with pytest.raises(phicrypt.BadData):
            c.decrypt_document_as(BILLING, None, {"visits": [{"d": {"$date": "2020-01-01T00:00:00Z"}}]})
        assert log.read_text() == before
        # A document without ciphertexts discloses nothing and is not audited as "ok".
        c.decrypt_document_as(BILLING, None, {"mrn": MRN})
        assert log.read_text() == before


def test_access_attacks__session_strings(world):
    cfg, log = world
    with phicrypt.Client(cfg) as c:
        ssn = c.encrypt(SSN, key_alt_name="k_ssn", algorithm="deterministic")
        before = log.read_text() if log.exists() else ""
        for bad in ("cl\nerk", "x" * 257, "a\x7f", "\u0085x"):
            with pytest.raises(phicrypt.InvalidArgument):
                c.decrypt_as(phicrypt.Session(bad, "billing", "PAYMENT"), None, "ssn", ssn)
            with pytest.raises(phicrypt.InvalidArgument):
                c.decrypt_as(BILLING, bad, "ssn", ssn)
        assert (log.read_text() if log.exists() else "") == before
