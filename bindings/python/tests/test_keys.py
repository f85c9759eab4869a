"""Data keys: create, get, list, delete, alternate names."""
from __future__ import annotations

import uuid

import pytest

import phicrypt


def test_create_returns_16_bytes(client):
    kid = client.create_data_key("local", key_alt_names=["a", "b"])
    assert isinstance(kid, bytes) and len(kid) == 16


def test_create_with_key_material(client):
    kid = client.create_data_key("local", key_material=bytes(range(96)))
    assert client.get_data_key(kid)["_id"] == uuid.UUID(bytes=kid)


def test_create_bad_key_material(client):
    with pytest.raises(phicrypt.InvalidArgument):
        client.create_data_key("local", key_material=b"short")


def test_duplicate_alt_name(client):
    with pytest.raises(phicrypt.AlreadyExists):
        client.create_data_key("local", key_alt_names=["patients"])


def test_get_by_id_and_alt_name(client):
    by_id = client.get_data_key(client.key_id)
    by_name = client.get_data_key(key_alt_name="patients")
    assert by_id == by_name
    assert "keyMaterial" not in by_id
    assert by_id["keyAltNames"] == ["patients"]


def test_get_unknown(client):
    with pytest.raises(phicrypt.KeyNotFound):
        client.get_data_key(bytes(16))
    with pytest.raises(phicrypt.KeyNotFound):
        client.get_data_key(key_alt_name="nobody")


def test_get_needs_one_selector(client):
    with pytest.raises(phicrypt.InvalidArgument):
        client.get_data_key()


def test_bad_key_id_length(client):
    with pytest.raises(phicrypt.InvalidArgument):
        client.get_data_key(b"123")


def test_uuid_key_id_accepted(client):
    assert client.get_data_key(uuid.UUID(bytes=client.key_id))["keyAltNames"] == ["patients"]


def test_list(client):
    client.create_data_key("local")
    keys = client.list_data_keys()
    assert len(keys) == 2 and all("keyMaterial" not in k for k in keys)


def test_list_without_bson(config):
    with phicrypt.Client(config, use_bson=False) as c:
        raw = c.list_data_keys()
        assert isinstance(raw, bytes) and raw[4:5] == b"\x04"  # {"keys": [ ... ]}


def test_alt_names(client):
    client.add_key_alt_name(client.key_id, "records")
    assert client.key_id_by_alt_name("records") == client.key_id
    client.remove_key_alt_name(client.key_id, "records")
    with pytest.raises(phicrypt.KeyNotFound):
        client.key_id_by_alt_name("records")


def test_add_taken_alt_name(client):
    other = client.create_data_key("local", key_alt_names=["other"])
    with pytest.raises(phicrypt.AlreadyExists):
        client.add_key_alt_name(other, "patients")


def test_delete(client):
    kid = client.create_data_key("local", key_alt_names=["gone"])
    ct = client.encrypt("x", key_id=kid, algorithm="deterministic")
    client.delete_data_key(kid)
    with pytest.raises(phicrypt.KeyNotFound):
        client.delete_data_key(kid)
    with pytest.raises(phicrypt.KeyNotFound):
        client.decrypt(ct)


def test_rewrap(client):
    from conftest import need
    need("phicrypt_datakey_rewrap")
    ct = client.encrypt("123-45-6789", key_alt_name="patients", algorithm="deterministic")
    before = client.get_data_key(client.key_id)
    client.create_data_key("local", key_alt_names=["other"])
    assert client.rewrap_data_keys({"keyAltNames": "patients"}) == 1
    assert client.rewrap_data_keys() == 2
    assert client.rewrap_data_keys({"keyAltNames": "nobody"}) == 0
    assert client.decrypt(ct) == "123-45-6789"  # same data key, new wrapping
    assert client.get_data_key(client.key_id)["_id"] == before["_id"]
    with pytest.raises(phicrypt.PhicryptError):
        client.rewrap_data_keys({"$where": "1"})
