"""Client lifetime, configuration forms, errors, library metadata."""
from __future__ import annotations

import gc
import json

import pytest

import phicrypt
from phicrypt.errors import error_for

from conftest import need


def test_version():
    assert phicrypt.version() == phicrypt.__version__
    assert phicrypt.mongocrypt_version()


def test_strerror():
    assert "key" in phicrypt.strerror(-4).lower()
    assert phicrypt.strerror(-999) == "unknown error code"


def test_config_dict(config):
    with phicrypt.Client(config) as c:
        assert not c.closed
    assert c.closed


def test_config_json_text(config):
    with phicrypt.Client(json.dumps(config)) as c:
        assert c.list_data_keys() == []


def test_config_path(tmp_path, config):
    # relative paths in a file resolve against the file's directory
    rel = {"kms_providers": {"local": {"key_file": "master.key"}}, "key_vault": "file:keyvault.jsonl"}
    p = tmp_path / "phicrypt.json"
    p.write_text(json.dumps(rel))
    with phicrypt.Client(str(p)) as c:
        c.create_data_key("local", key_alt_names=["k"])
    with phicrypt.Client(p) as c:  # os.PathLike
        assert len(c.list_data_keys()) == 1


def test_bad_config_unknown_key(config):
    config["kms_providers"]["local"]["keyfile"] = config["kms_providers"]["local"].pop("key_file")
    with pytest.raises(phicrypt.ConfigError) as e:
        phicrypt.Client(config)
    assert e.value.code == -13
    assert "keyfile" in e.value.message


def test_bad_config_not_json():
    with pytest.raises(phicrypt.PhicryptError) as e:
        phicrypt.Client("{not json")
    assert e.value.code in (-2, -13)


def test_bad_config_missing_file(tmp_path):
    with pytest.raises(phicrypt.PhicryptError):
        phicrypt.Client(str(tmp_path / "nope.json"))


def test_bad_config_type():
    with pytest.raises(TypeError):
        phicrypt.Client(42)  # type: ignore[arg-type]


def test_close_idempotent(config):
    c = phicrypt.Client(config)
    c.close()
    c.close()
    with pytest.raises(phicrypt.InvalidArgument):
        c.list_data_keys()


def test_finalizer_frees_forgotten_client(config):
    c = phicrypt.Client(config)
    fin = c._fin
    assert fin.alive
    del c
    gc.collect()
    assert not fin.alive


def test_error_classes_mirror_codes():
    expected = {
        -1: phicrypt.InvalidArgument, -2: phicrypt.BadData, -3: phicrypt.SchemaError,
        -4: phicrypt.KeyNotFound, -5: phicrypt.KeyVaultError, -6: phicrypt.KmsError,
        -7: phicrypt.KmsAuthError, -8: phicrypt.OperationTimeout, -9: phicrypt.AuthenticationError,
        -10: phicrypt.AccessDenied, -11: phicrypt.OutOfMemory, -12: phicrypt.BufferTooSmall,
        -13: phicrypt.ConfigError, -14: phicrypt.FileIOError, -15: phicrypt.AlreadyExists,
        -16: phicrypt.Unsupported, -17: phicrypt.InternalError,
    }
    for code, cls in expected.items():
        e = error_for(code, "m")
        assert type(e) is cls and e.code == code and str(e) == "m"
        assert isinstance(e, phicrypt.PhicryptError)
        # the class and the C library agree on what the code means
        assert phicrypt.strerror(code) != "unknown error code"
    assert phicrypt.EncryptionError is phicrypt.AuthenticationError
    assert isinstance(error_for(-100, "x"), phicrypt.PhicryptError)


def test_local_key_file_refuses_overwrite(tmp_path):
    phicrypt.create_local_key_file(str(tmp_path / "m.key"))
    assert (tmp_path / "m.key").stat().st_size == 96
    with pytest.raises(phicrypt.AlreadyExists):
        phicrypt.create_local_key_file(str(tmp_path / "m.key"))


def test_access_denied(config, tmp_path):
    need("phicrypt_decrypt_as")
    config["access"] = {"roles": {"billing": {"purposes": ["PAYMENT"], "fields": ["ssn"], "keys": ["patients"]},
                                  "physician": {"purposes": ["TREATMENT"], "fields": ["*"]}}}
    config["audit"] = {"path": str(tmp_path / "audit.jsonl")}
    with phicrypt.Client(config) as c:
        c.create_data_key("local", key_alt_names=["patients"])
        ssn = c.encrypt("123-45-6789", key_alt_name="patients", algorithm="deterministic")
        dx = c.encrypt("flu", key_alt_name="patients", algorithm="random")
        billing = phicrypt.Session("clerk-7", "billing", "PAYMENT")
        assert c.access_allowed(billing, "hospital.patients", "ssn")
        assert not c.access_allowed(billing, "hospital.patients", "diagnosis")
        assert c.decrypt_as(billing, "hospital.patients", "ssn", ssn) == "123-45-6789"
        with pytest.raises(phicrypt.AccessDenied) as e:
            c.decrypt_as(billing, "hospital.patients", "diagnosis", dx)
        assert e.value.code == -10 and "flu" not in e.value.message
        with pytest.raises(phicrypt.AccessDenied):  # purpose not allowed for the role
            c.decrypt_as(phicrypt.Session("clerk-7", "billing", "TREATMENT"), None, "ssn", ssn)
        out = c.decrypt_document_as(billing, "hospital.patients", {"ssn": ssn, "diagnosis": dx})
        assert out["ssn"] == "123-45-6789" and out["diagnosis"] == dx  # denied: left encrypted
        doc = c.decrypt_document_as(phicrypt.Session("dr-1", "physician", "TREATMENT"), None,
                                    {"ssn": ssn, "diagnosis": dx})
        assert doc == {"ssn": "123-45-6789", "diagnosis": "flu"}
        with pytest.raises(TypeError, match="session.purpose must be str"):  # a purpose is required
            c.decrypt_as(phicrypt.Session("x", "billing", None), None, "ssn", ssn)  # type: ignore[arg-type]
        with pytest.raises(phicrypt.InvalidArgument):
            c.decrypt_as(phicrypt.Session("x", "billing", ""), None, "ssn", ssn)
    assert (tmp_path / "audit.jsonl").exists()


def test_audit_log(config, tmp_path):
    need("phicrypt_audit_verify")
    log = tmp_path / "audit.jsonl"
    config["access"] = {"roles": {"billing": {"purposes": ["PAYMENT"], "fields": ["ssn"], "keys": ["patients"]}}}
    config["audit"] = {"path": str(log), "subject_field": "mrn"}
    with phicrypt.Client(config) as c:
        c.create_data_key("local", key_alt_names=["patients"])
        ssn = c.encrypt("123-45-6789", key_alt_name="patients", algorithm="deterministic")
        s = phicrypt.Session("clerk-7", "billing", "PAYMENT", subject="MRN-0042")
        for _ in range(3):
            c.decrypt_as(s, "hospital.patients", "ssn", ssn)
        assert c.audit_verify().startswith("intact")
        sid = c.audit_subject_id("MRN-0042")
        assert sid.startswith("sub1.") and "0042" not in sid
        acc = c.audit_disclosures("MRN-0042")
        assert acc["subject"] == sid and len(acc["disclosures"]) >= 3
        assert "123-45-6789" not in log.read_text() and "MRN-0042" not in log.read_text()
        lines = log.read_text().splitlines()
        del lines[1]  # a deleted line breaks the chain
        log.write_text("\n".join(lines) + "\n")
        with pytest.raises((phicrypt.AuthenticationError, phicrypt.BadData)):
            c.audit_verify(str(log))
