"""Stand-alone FF1 format-preserving encryption (NIST SP 800-38G) with raw keys (token.h)."""
from __future__ import annotations

import ctypes
from typing import Union

from ._lib import lib
from ._util import _raise_new_failure
from .errors import InvalidArgument

TextLike = Union[str, bytes]


def ff1_encrypt(key: bytes, tweak: bytes, text: TextLike, alphabet: TextLike = "0123456789") -> TextLike:
    """NIST SP 800-38G FF1 with a raw AES key (16, 24 or 32 bytes); keeps length and alphabet.

    Symbols are bytes: str arguments must be Latin-1 (one byte per character).
    Returns str for str input, bytes for bytes input.
    """
    return _ff1("phicrypt_ff1_encrypt", key, tweak, text, alphabet)


def ff1_decrypt(key: bytes, tweak: bytes, text: TextLike, alphabet: TextLike = "0123456789") -> TextLike:
    """Reverse :func:`ff1_encrypt`."""
    return _ff1("phicrypt_ff1_decrypt", key, tweak, text, alphabet)


def _latin1(s: TextLike, what: str) -> bytes:
    if isinstance(s, str):
        try:
            return s.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidArgument(f"FF1 {what} symbols are single bytes (Latin-1)", -1) from None
    return bytes(s)


def _ff1(name: str, key: bytes, tweak: bytes, text: TextLike, alphabet: TextLike) -> TextLike:
    L = lib()
    fn = getattr(L, name)
    rc = L.phicrypt_init()
    if rc:
        _raise_new_failure(rc)
    t = _latin1(text, "input")
    a = _latin1(alphabet, "alphabet")
    out = ctypes.create_string_buffer(len(t) + 1)
    try:
        rc = fn(out, bytes(key), len(key), bytes(tweak), len(tweak), a, t, len(t))
        if rc:
            _raise_new_failure(rc)
        r = out.raw[:len(t)]
        return r.decode("latin-1") if isinstance(text, str) else r
    finally:
        ctypes.memset(out, 0, len(t) + 1)  # may hold a decryption's plaintext


__all__ = ["ff1_encrypt", "ff1_decrypt"]
