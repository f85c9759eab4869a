#!/usr/bin/python3
"""An independent check of CSFLE ciphertexts, with no libmongocrypt at all.

Implements AEAD_AES_256_CBC_HMAC_SHA_512 (deterministic and random) as the MongoDB
Client Side Encryption specification defines it, on python3-cryptography (Debian),
and the local KMS provider's key wrapping (the same AEAD, random IV, no associated
data, under the 96-byte master key).

  aead_check.py check FIXTURE          unwrap each key, verify each tag, decrypt, compare
      with the fixture's value (as BSON bytes), and recompute the whole ciphertext from the
      plaintext (deterministic: IV derived from the IV key; random: the IV it carries).
      Exit 1 on any mismatch; messages name the case, never a value or a key.
  aead_check.py produce REQUEST OUT    create a data key wrapped by REQUEST's local master
      key and encrypt REQUEST's cases itself: a fixture v1 that other sides must decrypt.

Layout, from the specification (and libmongocrypt's FLE1 key format):
  data key K (96 bytes) = MAC_KEY (32) || ENC_KEY (32) || IV_KEY (32)
  AD  = blob subtype (1 det, 2 random) || key UUID (16) || original BSON type (1)
  AL  = bit length of AD, 64-bit big endian
  IV  = deterministic: HMAC-SHA-512(IV_KEY, AD || AL || P)[:16]; random: 16 random bytes
  S   = AES-256-CBC(ENC_KEY, IV, P with PKCS#7 padding)
  T   = HMAC-SHA-512(MAC_KEY, AD || IV || S || AL)[:32]
  BinData subtype 6 payload = AD || IV || S || T
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import uuid

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ejson_bson  # noqa: E402

DET = "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic"
RND = "AEAD_AES_256_CBC_HMAC_SHA_512-Random"
SUBTYPE = {DET: 1, RND: 2}


class CheckError(Exception):
    pass


def _al(ad):
    return (8 * len(ad)).to_bytes(8, "big")


def seal(key, ad, plaintext, iv=None):
    """IV || S || T of plaintext under the 96-byte key; iv=None derives it (deterministic)."""
    if len(key) != 96:
        raise CheckError("key is not 96 bytes")
    mac_key, enc_key, iv_key = key[:32], key[32:64], key[64:]
    if iv is None:
        iv = hmac.new(iv_key, ad + _al(ad) + plaintext, hashlib.sha512).digest()[:16]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    s = enc.update(padded) + enc.finalize()
    t = hmac.new(mac_key, ad + iv + s + _al(ad), hashlib.sha512).digest()[:32]
    return iv + s + t


def open_(key, ad, c):
    """Verify the tag of C = IV || S || T and return the plaintext."""
    if len(key) != 96:
        raise CheckError("key is not 96 bytes")
    if len(c) < 16 + 16 + 32 or (len(c) - 48) % 16:
        raise CheckError("ciphertext has a wrong length")
    mac_key, enc_key = key[:32], key[32:64]
    iv, s, t = c[:16], c[16:-32], c[-32:]
    want = hmac.new(mac_key, ad + iv + s + _al(ad), hashlib.sha512).digest()[:32]
    if not hmac.compare_digest(want, t):
        raise CheckError("HMAC tag does not verify")
    dec = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    padded = dec.update(s) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise CheckError("bad PKCS#7 padding") from None


def _bin(v, subtype):
    if not (isinstance(v, dict) and "$binary" in v and v["$binary"]["subType"] == subtype):
        raise CheckError("expected BinData subtype " + subtype)
    return base64.b64decode(v["$binary"]["base64"], validate=True)


def _ejson_bin(data, subtype):
    return {"$binary": {"base64": base64.b64encode(data).decode(), "subType": subtype}}


def master_key(fx):
    local = fx.get("kms_providers", {}).get("local", {})
    k = _bin(local.get("key"), "00")
    if len(k) != 96:
        raise CheckError("local master key is not 96 bytes")
    return k


def unwrap_keys(fx):
    """{key UUID bytes: 96-byte data key} of the fixture's key documents."""
    mk = master_key(fx)
    keys = {}
    for i, doc in enumerate(fx["keys"]):
        kid = _bin(doc["_id"], "04")
        if doc.get("masterKey", {}).get("provider") != "local":
            raise CheckError("key %d: masterKey provider is not local" % i)
        try:
            keys[kid] = open_(mk, b"", _bin(doc["keyMaterial"], "00"))
        except CheckError as e:
            raise CheckError("key %d: cannot unwrap keyMaterial: %s" % (i, e)) from None
        if len(keys[kid]) != 96:
            raise CheckError("key %d: data key is not 96 bytes" % i)
    return keys


def check_fixture(fx):
    """Failure messages (case names only) for every case that does not recompute."""
    if fx.get("format") != "phicrypt-interop-fixture" or fx.get("version") != 1:
        return ["not a phicrypt-interop-fixture version 1"]
    try:
        keys = unwrap_keys(fx)
    except (CheckError, KeyError, ValueError) as e:
        return ["keys: %s" % e]
    failures = []
    for c in fx["cases"]:
        name = c.get("name", "?")
        try:
            payload = _bin(c["ciphertext"], "06")
            if len(payload) < 18:
                raise CheckError("ciphertext payload too short")
            subtype, kid, btype, body = payload[0], payload[1:17], payload[17], payload[18:]
            if subtype != SUBTYPE[c["algorithm"]]:
                raise CheckError("blob subtype %d does not match the algorithm" % subtype)
            if kid != _bin(c["key_id"], "04"):
                raise CheckError("key id in the ciphertext is not the case's key id")
            if kid not in keys:
                raise CheckError("no key document for the ciphertext's key id")
            want_type, want_plain = ejson_bson.value(c["value"])
            if btype != want_type:
                raise CheckError("original BSON type 0x%02x, expected 0x%02x" % (btype, want_type))
            ad = payload[:18]
            plain = open_(keys[kid], ad, body)
            if not hmac.compare_digest(plain, want_plain):
                raise CheckError("decrypted bytes differ from the expected value")
            iv = None if subtype == 1 else body[:16]
            if seal(keys[kid], ad, plain, iv) != body:
                raise CheckError("recomputed ciphertext differs")
        except (CheckError, KeyError, ValueError, ejson_bson.EjsonError) as e:
            failures.append("%s: %s" % (name, e))
    return failures


def produce(rq):
    mk = master_key(rq)
    data_key = os.urandom(96)
    kid = uuid.uuid4().bytes
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)
    key_doc = {
        "_id": _ejson_bin(kid, "04"),
        "keyAltNames": ["interop-python-" + uuid.uuid4().hex[:12]],
        "keyMaterial": _ejson_bin(seal(mk, b"", data_key, os.urandom(16)), "00"),
        "creationDate": {"$date": {"$numberLong": str(now)}},
        "updateDate": {"$date": {"$numberLong": str(now)}},
        "status": {"$numberInt": "0"},
        "masterKey": {"provider": "local"},
    }
    cases = []
    for c in rq["cases"]:
        btype, plain = ejson_bson.value(c["value"])
        ad = bytes([SUBTYPE[c["algorithm"]]]) + kid + bytes([btype])
        iv = None if c["algorithm"] == DET else os.urandom(16)
        ct = ad + seal(data_key, ad, plain, iv)
        cases.append(dict(c, key_id=_ejson_bin(kid, "04"), ciphertext=_ejson_bin(ct, "06")))
    return {
        "format": "phicrypt-interop-fixture",
        "version": 1,
        "producer": {"name": "python", "version": "aead_check.py on python3-cryptography"},
        "kms_providers": rq["kms_providers"],
        "key_vault_namespace": rq["key_vault_namespace"],
        "keys": [key_doc],
        "cases": cases,
    }


def main(argv):
    if len(argv) == 3 and argv[1] == "check":
        with open(argv[2], encoding="utf-8") as f:
            fx = json.load(f)
        failures = check_fixture(fx)
        for msg in failures:
            print("aead_check: FAIL " + msg, file=sys.stderr)
        n = len(fx.get("cases", []))
        print("aead_check: %d of %d ciphertexts of %s recomputed" % (n - len(failures), n, fx.get("producer", {}).get("name")))
        return 1 if failures else 0
    if len(argv) == 4 and argv[1] == "produce":
        with open(argv[2], encoding="utf-8") as f:
            rq = json.load(f)
        fx = produce(rq)
        with open(argv[3], "w", encoding="utf-8") as f:
            json.dump(fx, f, indent=1)
        return 0
    print("usage: aead_check.py check FIXTURE | produce REQUEST OUT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
