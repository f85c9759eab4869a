"""Explicit and automatic CSFLE: values, BSON and JSON variants, commands, documents."""
from __future__ import annotations

import datetime
import struct

import bson
import pytest
from bson.binary import Binary

import phicrypt
from phicrypt import _bson


@pytest.mark.parametrize("value", ["123-45-6789", 42, 2**40, b"\x00\x01raw", datetime.datetime(1970, 5, 1)])
def test_roundtrip_deterministic(client, value):
    ct = client.encrypt(value, key_alt_name="patients", algorithm="deterministic")
    assert isinstance(ct, Binary) and ct.subtype == 6
    assert client.encrypt(value, key_alt_name="patients", algorithm="deterministic") == ct  # deterministic
    assert client.decrypt(ct) == value


@pytest.mark.parametrize("value", ["Hypertension", 3.5, True, {"a": [1, 2]}, [1, "x"]])
def test_roundtrip_random(client, value):
    ct = client.encrypt(value, key_id=client.key_id, algorithm="random")
    assert client.encrypt(value, key_id=client.key_id, algorithm="random") != ct
    assert client.decrypt(ct) == value


def test_deterministic_refuses_double(client):
    with pytest.raises(phicrypt.InvalidArgument):
        client.encrypt(3.5, key_alt_name="patients", algorithm="deterministic")


def test_refuses_null(client):
    with pytest.raises(phicrypt.InvalidArgument):
        client.encrypt(None, key_alt_name="patients", algorithm="random")


def test_bad_algorithm(client):
    with pytest.raises(phicrypt.InvalidArgument):
        client.encrypt("x", key_alt_name="patients", algorithm="rot13")


def test_needs_exactly_one_key(client):
    with pytest.raises(phicrypt.InvalidArgument):
        client.encrypt("x", algorithm="deterministic")
    with pytest.raises(phicrypt.InvalidArgument):
        client.encrypt("x", key_id=client.key_id, key_alt_name="patients", algorithm="deterministic")


def test_unknown_key(client):
    with pytest.raises(phicrypt.KeyNotFound) as e:
        client.encrypt("x", key_alt_name="nobody", algorithm="deterministic")
    assert e.value.code == -4 and e.value.message


def test_corrupted_blob(client):
    ct = bytearray(client.encrypt("123-45-6789", key_alt_name="patients", algorithm="deterministic"))
    ct[-1] ^= 1
    with pytest.raises(phicrypt.AuthenticationError) as e:
        client.decrypt(bytes(ct))
    assert e.value.code == -9
    assert "123-45-6789" not in str(e.value)  # no plaintext in messages


def test_truncated_blob(client):
    ct = client.encrypt("123-45-6789", key_alt_name="patients", algorithm="deterministic")
    with pytest.raises((phicrypt.BadData, phicrypt.AuthenticationError)):
        client.decrypt(bytes(ct[:20]))


def test_not_a_ciphertext(client):
    with pytest.raises(phicrypt.BadData):
        client.decrypt(b"\x01" * 3)


def test_bson_variants(client):
    doc = bson.encode({"v": "123-45-6789"})
    ct = client.encrypt_bson(doc, key_alt_name="patients", algorithm="deterministic")
    assert bson.decode(ct)["v"].subtype == 6
    assert client.decrypt_bson(ct) == doc
    with pytest.raises(phicrypt.BadData):
        client.decrypt_bson(b"\x05\x00\x00\x00")


def test_json_variants(client):
    ct = client.encrypt_json('"123-45-6789"', key_alt_name="patients", algorithm="deterministic")
    assert '"subType":"06"' in ct
    assert client.decrypt_json(ct) == '"123-45-6789"'
    ct = client.encrypt_json('{"$numberLong": "7"}', key_alt_name="patients", algorithm="deterministic")
    assert client.decrypt_json(ct) == "7"
    assert "numberLong" in client.decrypt_json(ct, canonical=True)
    with pytest.raises(phicrypt.BadData):
        client.decrypt_json("not json")


def test_without_bson_module(config, client):
    with phicrypt.Client(config, use_bson=False) as c:
        doc = bson.encode({"v": "123-45-6789"})
        ct = c.encrypt(doc, key_alt_name="patients", algorithm="deterministic")
        assert type(ct) is bytes
        assert c.decrypt(ct) == doc
        with pytest.raises(TypeError):
            c.encrypt("python str", key_alt_name="patients", algorithm="deterministic")
        with pytest.raises(TypeError):
            c.encrypt_command("hospital", {"find": "patients"})


def test_binary6_codec():
    payload = b"\x01" + bytes(40)
    doc = _bson.wrap_binary6(payload)
    assert bson.decode(doc)["v"] == Binary(payload, 6)
    assert _bson.unwrap_binary6(doc) == payload
    with pytest.raises(ValueError):
        _bson.unwrap_binary6(doc[:-2])
    assert struct.unpack_from("<i", doc)[0] == len(doc)


def test_encrypt_command_and_decrypt_document(client):
    cmd = {"insert": "patients", "documents": [{"name": "A", "ssn": "123-45-6789", "diagnosis": "flu"}]}
    enc = client.encrypt_command("hospital", cmd)
    d = enc["documents"][0]
    assert d["name"] == "A"
    assert isinstance(d["ssn"], Binary) and d["ssn"].subtype == 6
    assert isinstance(d["diagnosis"], Binary)
    assert client.decrypt_document(d) == {"name": "A", "ssn": "123-45-6789", "diagnosis": "flu"}


def test_encrypt_command_bytes_in_bytes_out(client):
    raw = bson.encode({"find": "patients", "filter": {"ssn": "123-45-6789"}})
    enc = client.encrypt_command("hospital", raw)
    assert isinstance(enc, bytes)
    ssn = bson.decode(enc)["filter"]["ssn"]
    ssn = ssn.get("$eq", ssn) if isinstance(ssn, dict) else ssn  # drivers rewrite equality as $eq
    assert ssn.subtype == 6


def test_encrypt_command_schema_refusal(client):
    with pytest.raises(phicrypt.SchemaError) as e:
        client.encrypt_command("hospital", {"find": "patients", "filter": {"diagnosis": "flu"}})
    assert "diagnosis" in e.value.message


def test_encrypt_command_bad_bson(client):
    with pytest.raises(phicrypt.BadData):
        client.encrypt_command("hospital", b"\x07\x00\x00\x00\x00\x00\x00")


def test_encrypt_document(client):
    doc = client.encrypt_document("hospital.patients", {"ssn": "123-45-6789", "age": 40})
    assert doc["ssn"].subtype == 6 and doc["age"] == 40
    assert client.decrypt_document(doc)["ssn"] == "123-45-6789"


def test_analyze_command(client):
    a = client.analyze_command("hospital", {"find": "patients", "filter": {"ssn": "x"}})
    assert a["ok"] is True and a["fields"][0]["algorithm"] == "deterministic"
    r = client.analyze_command("hospital", {"find": "patients", "filter": {"diagnosis": "x"}})
    assert r["ok"] is False and "diagnosis" in r["error"]


def test_decrypt_document_tampered(client):
    doc = client.encrypt_document("hospital.patients", {"ssn": "123-45-6789"})
    b = bytearray(doc["ssn"])
    b[-1] ^= 1
    with pytest.raises(phicrypt.AuthenticationError):
        client.decrypt_document({"ssn": Binary(bytes(b), 6)})


def test_works_without_bson_module(config, tmp_path):
    """With pymongo's bson unavailable the package still imports and works on BSON bytes."""
    import json
    import os
    import subprocess
    import sys
    code = r'''
import json, struct, sys
sys.modules["bson"] = None          # as if python3-bson were not installed
import phicrypt
assert not phicrypt.HAVE_BSON
c = phicrypt.Client(json.loads(sys.argv[1]))
c.create_data_key("local", key_alt_names=["k"])
s = b"123-45-6789\x00"
el = b"\x02v\x00" + struct.pack("<i", len(s)) + s
doc = struct.pack("<i", 4 + len(el) + 1) + el + b"\x00"
ct = c.encrypt(doc, key_alt_name="k", algorithm="deterministic")
assert type(ct) is bytes and c.decrypt(ct) == doc
assert c.decrypt_json(c.encrypt_json('"x"', key_alt_name="k", algorithm="deterministic")) == '"x"'
assert isinstance(c.list_data_keys(), bytes)
print("ok")
'''
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(phicrypt.__file__))))
    r = subprocess.run([sys.executable, "-c", code, json.dumps(config)], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
