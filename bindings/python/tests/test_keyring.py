"""Keyring keys, FF1/SIV tokens and HMAC pseudonyms through a client."""
from __future__ import annotations

import re

import pytest

import phicrypt


def test_list_token_keys(keyring_client):
    keys = {k["name"]: k for k in keyring_client.list_token_keys()}
    assert set(keys) == {"tok:ssn", "tok:opaque", "ps:patient"}
    assert keys["tok:ssn"]["primary"] == 1


def test_create_duplicate(keyring_client):
    with pytest.raises(phicrypt.AlreadyExists):
        keyring_client.create_token_key("tok:ssn", "ff1")


def test_create_bad_algorithm(keyring_client):
    with pytest.raises(phicrypt.InvalidArgument):
        keyring_client.create_token_key("x", "rot13")


def test_ssn_token_keeps_format(keyring_client):
    c = keyring_client
    tok = c.tokenize("tok:ssn", "123-45-6789", format="ssn")
    assert re.fullmatch(r"\d{3}-\d{2}-\d{4}", tok) and tok != "123-45-6789"
    assert c.tokenize("tok:ssn", "123-45-6789", format="ssn") == tok
    assert c.detokenize("tok:ssn", tok, format="ssn") == "123-45-6789"
    assert c.tokenize("tok:ssn", "123-45-6789", format="ssn", context="other") != tok


def test_siv_token(keyring_client):
    c = keyring_client
    tok = c.tokenize("tok:opaque", "Jane Doe", context="name")
    assert tok.startswith("tk1.")
    assert c.detokenize("tok:opaque", tok, context="name") == "Jane Doe"
    with pytest.raises(phicrypt.AuthenticationError):
        c.detokenize("tok:opaque", tok, context="other")
    with pytest.raises((phicrypt.BadData, phicrypt.AuthenticationError)):
        c.detokenize("tok:opaque", "tk1.1.AAAA", context="name")


def test_token_errors(keyring_client):
    c = keyring_client
    with pytest.raises(phicrypt.KeyNotFound):
        c.tokenize("tok:none", "123-45-6789", format="ssn")
    with pytest.raises(phicrypt.BadData):
        c.tokenize("tok:ssn", "12-3", format="ssn")
    with pytest.raises(phicrypt.InvalidArgument):
        c.tokenize("ps:patient", "123-45-6789", format="ssn")


def test_pseudonymize(keyring_client):
    c = keyring_client
    ps = c.pseudonymize("ps:patient", "MRN-0042", context="patient")
    assert ps.startswith("ps1.") and "0042" not in ps
    assert c.pseudonymize("ps:patient", "MRN-0042", context="patient") == ps
    assert c.pseudonymize("ps:patient", "MRN-0042", context="visit") != ps
    assert c.verify_pseudonym("ps:patient", "MRN-0042", ps, context="patient")
    assert not c.verify_pseudonym("ps:patient", "MRN-0043", ps, context="patient")
    norm = phicrypt.NORM_TRIM | phicrypt.NORM_CASEFOLD
    assert c.pseudonymize("ps:patient", " mrn-0042 ", context="patient", normalize=norm) == \
        c.pseudonymize("ps:patient", "MRN-0042", context="patient", normalize=norm)


def test_rotate_retire_destroy(keyring_client):
    c = keyring_client
    old = c.tokenize("tok:opaque", "v")
    assert c.rotate_token_key("tok:opaque") == 2
    new = c.tokenize("tok:opaque", "v")
    assert new != old and c.detokenize("tok:opaque", old) == "v"
    c.retire_token_key("tok:opaque", 1)
    assert c.detokenize("tok:opaque", old) == "v"
    with pytest.raises(phicrypt.PhicryptError):
        c.retire_token_key("tok:opaque", 2)  # the primary cannot be retired
    c.destroy_token_key("tok:opaque", 1)
    with pytest.raises(phicrypt.KeyNotFound):
        c.detokenize("tok:opaque", old)
    c.destroy_token_key("tok:opaque", 0)
    with pytest.raises(phicrypt.KeyNotFound):
        c.detokenize("tok:opaque", new)


def test_no_keyring_configured(config):
    from conftest import need
    need("phicrypt_keyring_create")
    del config["keyring"]
    with phicrypt.Client(config) as c:
        with pytest.raises(phicrypt.Unsupported):
            c.create_token_key("tok:x", "ff1")
