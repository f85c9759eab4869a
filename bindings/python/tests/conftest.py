"""Fixtures: a fresh key set (local master key, file key vault, keyring) per test."""
from __future__ import annotations

import base64
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import phicrypt  # noqa: E402


def make_keyset(d) -> dict:
    """Config dict for a new key set in directory d."""
    phicrypt.create_local_key_file(str(d / "master.key"))
    (d / "keyvault.jsonl").write_text("")
    (d / "keyring.jsonl").write_text("")
    return {
        "kms_providers": {"local": {"key_file": str(d / "master.key")}},
        "key_vault": "file:" + str(d / "keyvault.jsonl"),
        "keyring": "file:" + str(d / "keyring.jsonl"),
    }


def with_schema(config: dict, key_id: bytes) -> dict:
    """config plus a schema map encrypting hospital.patients.ssn (deterministic) and .diagnosis (random)."""
    kid = [{"$binary": {"base64": base64.b64encode(key_id).decode(), "subType": "04"}}]
    det = "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic"
    rnd = "AEAD_AES_256_CBC_HMAC_SHA_512-Random"
    return dict(config, schema_map={"hospital.patients": {
        "bsonType": "object",
        "encryptMetadata": {"keyId": kid},
        "properties": {
            "ssn": {"encrypt": {"bsonType": "string", "algorithm": det}},
            "diagnosis": {"encrypt": {"algorithm": rnd}},
        }}})


@pytest.fixture
def config(tmp_path):
    return make_keyset(tmp_path)


@pytest.fixture
def client(config):
    """A client with a data key 'patients' and a schema map that uses it."""
    with phicrypt.Client(config) as c:
        kid = c.create_data_key("local", key_alt_names=["patients"])
    with phicrypt.Client(with_schema(config, kid)) as c:
        c.key_id = kid  # for the tests
        yield c


def need(name: str) -> None:
    """Skip when the loaded library was built before the module exporting ``name``."""
    if not phicrypt.has_function(name):
        pytest.skip(f"{name} is not in {phicrypt.library_path()} yet (module not built)")


@pytest.fixture
def keyring_client(client):
    need("phicrypt_keyring_create")
    client.create_token_key("tok:ssn", "ff1")
    client.create_token_key("tok:opaque", "siv")
    client.create_token_key("ps:patient", "hmac")
    return client
