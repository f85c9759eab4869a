"""Stand-alone FF1 format-preserving encryption (NIST SP 800-38G) with raw keys (token.h)."""
from __future__ import annotations

import ctypes
from typing import Any, Union

from . import _check
from ._lib import lib
from ._util import _raise_new_failure
from .errors import InvalidArgument

TextLike = Union[str, bytes]


def ff1_encrypt(key: bytes, tweak: bytes, alphabet: TextLike, text: TextLike) -> TextLike:
    """NIST SP 800-38G FF1 with a raw AES key (16, 24 or 32 bytes); keeps length and alphabet.

    Arguments in the order of ``phicrypt_ff1_encrypt``. Symbols are bytes: str
    arguments must be Latin-1 (one byte per character). Returns str for str
    ``text``, bytes for bytes ``text``.
    """
    return _ff1("phicrypt_ff1_encrypt", "ff1_encrypt", key, tweak, alphabet, text)


def ff1_decrypt(key: bytes, tweak: bytes, alphabet: TextLike, text: TextLike) -> TextLike:
    """Reverse :func:`ff1_encrypt`."""
    return _ff1("phicrypt_ff1_decrypt", "ff1_decrypt", key, tweak, alphabet, text)


def _latin1(fn: str, arg: str, s: Any) -> bytes:
    if isinstance(s, str):
        try:
            b = s.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidArgument(f"{fn}(): {arg} symbols are single bytes (Latin-1)", -1) from None
    else:
        b = _check.raw(fn, arg, s, "str (Latin-1) or bytes")
    if b"\0" in b:
        raise ValueError(f"{fn}(): {arg} contains a NUL byte")
    return b


def _ff1(name: str, fname: str, key: Any, tweak: Any, alphabet: Any, text: Any) -> TextLike:
    k = _check.raw(fname, "key", key, "16, 24 or 32 raw key bytes")
    tw = _check.raw(fname, "tweak", tweak)
    a = _latin1(fname, "alphabet", alphabet)
    t = _latin1(fname, "text", text)
    L = lib()
    fn = getattr(L, name)
    rc = L.phicrypt_init()
    if rc:
        _raise_new_failure(rc)
    out = ctypes.create_string_buffer(len(t) + 1)
    try:
        rc = fn(out, k, len(k), tw, len(tw), a, t, len(t))
        if rc:
            _raise_new_failure(rc)
        r = out.raw[:len(t)]
        return r.decode("latin-1") if isinstance(text, str) else r
    finally:
        ctypes.memset(out, 0, len(t) + 1)  # may hold a decryption's plaintext


__all__ = ["ff1_encrypt", "ff1_decrypt"]
