"""Stand-alone FF1 (token.h) against NIST SP 800-38G sample values."""
from __future__ import annotations

import pytest

import phicrypt

from conftest import need

K128 = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
K256 = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94")
DIGITS = "0123456789"
ALNUM36 = "0123456789abcdefghijklmnopqrstuvwxyz"

# NIST FF1 samples 1, 2, 3 (AES-128) and 7 (AES-256).
VECTORS = [
    (K128, b"", "0123456789", "0123456789", "2433477484"),
    (K128, bytes.fromhex("39383736353433323130"), "0123456789", "0123456789", "6124200773"),
    (K128, bytes.fromhex("3737373770717273373737"), ALNUM36, "0123456789abcdefghi", "a9tv40mll9kdu509eum"),
    (K256, b"", "0123456789", "0123456789", "6657667009"),
]


@pytest.fixture(autouse=True)
def _need_ff1():
    need("phicrypt_ff1_encrypt")


@pytest.mark.parametrize("key,tweak,alphabet,pt,ct", VECTORS)
def test_nist_vectors(key, tweak, alphabet, pt, ct):
    assert phicrypt.ff1_encrypt(key, tweak, alphabet, pt) == ct
    assert phicrypt.ff1_decrypt(key, tweak, alphabet, ct) == pt


def test_bytes_in_bytes_out():
    assert phicrypt.ff1_encrypt(K128, b"", b"0123456789", b"0123456789") == b"2433477484"


def test_symbol_not_in_alphabet():
    with pytest.raises(phicrypt.InvalidArgument) as e:
        phicrypt.ff1_encrypt(K256, b"", DIGITS, "01234x6789")
    assert "01234x6789" not in e.value.message


def test_domain_too_small():
    with pytest.raises(phicrypt.InvalidArgument):
        phicrypt.ff1_encrypt(K256, b"", DIGITS, "12345")


def test_bad_key_length():
    with pytest.raises(phicrypt.InvalidArgument):
        phicrypt.ff1_encrypt(b"short", b"", DIGITS, "0123456789")


def test_non_latin1_refused():
    with pytest.raises(phicrypt.InvalidArgument):
        phicrypt.ff1_encrypt(K256, b"", "0123456789\u20ac", "0123456789")
