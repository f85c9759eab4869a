"""Canonical Extended JSON -> BSON bytes, written from the BSON and Extended JSON
specifications (bsonspec.org; mongodb/specifications extended-json.md), for the
interop suite. Independent of libbson, js-bson and libmongocrypt on purpose: the
suite compares values as the bytes each side would encrypt, so a check does not
depend on how one implementation prints a double or orders regex options.

Covers the types CSFLE encrypts (and null/bool for documents). Decimal128 text is
converted by python3-bson (Debian), the only part not done by hand here.
"""
import base64
import struct

TYPE_NAMES = {
    0x01: "double", 0x02: "string", 0x03: "object", 0x04: "array", 0x05: "binData",
    0x07: "objectId", 0x08: "bool", 0x09: "date", 0x0A: "null", 0x0B: "regex",
    0x0D: "javascript", 0x10: "int", 0x11: "timestamp", 0x12: "long", 0x13: "decimal",
}


class EjsonError(ValueError):
    pass


def _cstring(s):
    b = s.encode("utf-8")
    if b"\0" in b:
        raise EjsonError("NUL byte in a BSON cstring")
    return b + b"\0"


def _string(s):
    b = s.encode("utf-8") + b"\0"
    return struct.pack("<i", len(b)) + b


def _double(text):
    if text in ("Infinity", "-Infinity", "NaN"):
        return struct.pack("<d", float(text.lower().replace("infinity", "inf")))
    return struct.pack("<d", float(text))


def value(v):
    """(BSON type byte, value bytes) of one canonical Extended JSON value."""
    if isinstance(v, bool):
        return 0x08, b"\x01" if v else b"\x00"
    if v is None:
        return 0x0A, b""
    if isinstance(v, str):
        return 0x02, _string(v)
    if isinstance(v, (int, float)):
        raise EjsonError("bare JSON number: canonical Extended JSON wraps numbers ($numberInt ...)")
    if isinstance(v, list):
        return 0x04, document([(str(i), x) for i, x in enumerate(v)])
    if not isinstance(v, dict):
        raise EjsonError("unsupported JSON value")
    keys = list(v.keys())
    if keys == ["$numberInt"]:
        return 0x10, struct.pack("<i", int(v["$numberInt"]))
    if keys == ["$numberLong"]:
        return 0x12, struct.pack("<q", int(v["$numberLong"]))
    if keys == ["$numberDouble"]:
        return 0x01, _double(v["$numberDouble"])
    if keys == ["$numberDecimal"]:
        from bson.decimal128 import Decimal128  # python3-bson
        return 0x13, Decimal128(v["$numberDecimal"]).bid
    if keys == ["$date"]:
        d = v["$date"]
        if not (isinstance(d, dict) and list(d.keys()) == ["$numberLong"]):
            raise EjsonError("$date must be canonical ({\"$numberLong\": ...})")
        return 0x09, struct.pack("<q", int(d["$numberLong"]))
    if keys == ["$oid"]:
        b = bytes.fromhex(v["$oid"])
        if len(b) != 12:
            raise EjsonError("$oid must be 24 hex digits")
        return 0x07, b
    if keys == ["$binary"]:
        b = base64.b64decode(v["$binary"]["base64"], validate=True)
        sub = int(v["$binary"]["subType"], 16)
        return 0x05, struct.pack("<i", len(b)) + bytes([sub]) + b
    if keys == ["$regularExpression"]:
        r = v["$regularExpression"]
        return 0x0B, _cstring(r["pattern"]) + _cstring("".join(sorted(r["options"])))
    if keys == ["$code"]:
        return 0x0D, _string(v["$code"])
    if keys == ["$timestamp"]:
        t = v["$timestamp"]
        return 0x11, struct.pack("<II", int(t["i"]), int(t["t"]))
    if any(k.startswith("$") for k in keys):
        raise EjsonError("unsupported Extended JSON wrapper " + ",".join(keys))
    return 0x03, document(list(v.items()))


def document(items):
    body = b""
    for k, x in items:
        t, b = value(x)
        body += bytes([t]) + _cstring(k) + b
    return struct.pack("<i", len(body) + 5) + body + b"\0"
