"""BSON conversion: pymongo's ``bson`` module when present, else raw bytes.

Without the module, values cross the API as BSON bytes of ``{"v": value}``
and ciphertexts as their binary subtype 6 payload; the two tiny codecs below
are all that needs parsing then.
"""
from __future__ import annotations

import struct
from typing import Any

try:  # Debian python3-bson (pymongo's bson package)
    import bson as _bson
    from bson.binary import Binary as _Binary
    from bson.codec_options import CodecOptions as _CodecOptions
    try:
        from bson.binary import UuidRepresentation as _UuidRep
        _OPTS = _CodecOptions(uuid_representation=_UuidRep.STANDARD)
    except ImportError:  # older pymongo
        _OPTS = _CodecOptions()
    from bson.errors import InvalidDocument as EncodeError
    HAVE_BSON = True
except ImportError:  # pragma: no cover - exercised by the no-bson tests via use_bson=False
    _bson = None
    _Binary = None
    _OPTS = None
    HAVE_BSON = False

    class EncodeError(Exception):  # type: ignore[no-redef]
        """Never raised: nothing is encoded without the bson module."""

ENCRYPTED_SUBTYPE = 6


def encode(doc: Any) -> bytes:
    """dict (or Mapping) -> BSON bytes."""
    if not HAVE_BSON:
        raise TypeError("encoding a Python value needs the 'bson' module (python3-bson); pass BSON bytes")
    return _bson.encode(doc, codec_options=_OPTS)


def decode(data: bytes) -> dict:
    """BSON bytes -> dict."""
    return _bson.decode(data, codec_options=_OPTS)


def wrap_binary6(payload: bytes) -> bytes:
    """BSON of {"v": BinData(6, payload)} without the bson module."""
    elem = b"\x05v\x00" + struct.pack("<i", len(payload)) + bytes([ENCRYPTED_SUBTYPE]) + bytes(payload)
    return struct.pack("<i", 4 + len(elem) + 1) + elem + b"\x00"


def unwrap_binary6(doc: bytes) -> bytes:
    """The payload of BSON {"v": BinData(6, ...)} (what phicrypt_encrypt returns)."""
    if len(doc) < 13 or doc[4:7] != b"\x05v\x00":
        raise ValueError("not a {v: binary} document")
    (n,) = struct.unpack_from("<i", doc, 7)
    if doc[11] != ENCRYPTED_SUBTYPE or len(doc) != 13 + n:
        raise ValueError("not an encrypted value")
    return doc[12:12 + n]


def binary6(payload: bytes, want_python: bool) -> Any:
    """The ciphertext as returned to callers: Binary(subtype 6) with bson, else bytes."""
    return _Binary(payload, ENCRYPTED_SUBTYPE) if want_python else bytes(payload)


# Extended JSON type wrappers: a dict holding one of these came from json.loads of
# Extended JSON, and its "ciphertexts" are dicts, not BSON binaries.
_EXT_WRAPPERS = frozenset({"$binary", "$date", "$numberLong", "$numberInt", "$numberDouble", "$numberDecimal",
                           "$oid", "$uuid", "$regularExpression", "$timestamp", "$symbol", "$code", "$minKey",
                           "$maxKey", "$undefined", "$dbPointer"})


def ext_json_wrapper(doc: Any, path: str = "", depth: int = 0) -> str:
    """The path of the first Extended JSON wrapper in a Python document, or ""."""
    from collections.abc import Mapping
    if depth > 100:
        return ""
    if isinstance(doc, Mapping):
        for k, v in doc.items():
            if isinstance(k, str) and k in _EXT_WRAPPERS:
                return path or "(top level)"
            p = ext_json_wrapper(v, f"{path}.{k}" if path else str(k), depth + 1)
            if p:
                return p
    elif isinstance(doc, (list, tuple)):
        for i, v in enumerate(doc):
            p = ext_json_wrapper(v, f"{path}.{i}", depth + 1)
            if p:
                return p
    return ""


def from_ext_json(text: str) -> Any:
    """Extended JSON text (canonical or relaxed) -> a Python document."""
    if not HAVE_BSON:
        raise TypeError("Extended JSON text needs the 'bson' module (python3-bson); pass BSON bytes")
    from bson import json_util
    return json_util.loads(text, json_options=json_util.JSONOptions(uuid_representation=_UuidRep.STANDARD)
                           if "_UuidRep" in globals() else json_util.DEFAULT_JSON_OPTIONS)


def to_ext_json(doc: Any) -> str:
    """A Python document -> relaxed Extended JSON text."""
    from bson import json_util
    return json_util.dumps(doc, json_options=json_util.RELAXED_JSON_OPTIONS)
