#!/usr/bin/python3
"""Writes seed corpora for the fuzz targets from the project's own test data
(run once; the seeds are committed). Uses Debian's python3-bson and
python3-pymongo (for bson.json_util)."""
import base64
import json
import os
import sys

import bson
from bson import json_util
from bson.binary import UuidRepresentation

# Keep subtype-4 binaries as bytes: some test cases hold malformed UUIDs on purpose.
OPTS = json_util.JSONOptions(uuid_representation=UuidRepresentation.UNSPECIFIED)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write(target, name, data):
    d = os.path.join(HERE, "corpora", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def analysis_seeds():
    n = 0
    tdir = os.path.join(ROOT, "tests", "analysis")
    for fn in sorted(os.listdir(tdir)):
        with open(os.path.join(tdir, fn)) as f:
            suite = json.load(f)
        for case in suite.get("cases", []):
            schema = case.get("schema", suite.get("schema", {}))
            cmd = case.get("command")
            if not isinstance(cmd, dict):
                continue
            req = dict(cmd)
            req["jsonSchema"] = schema
            req["isRemoteSchema"] = False
            try:  # some cases hold deliberately malformed Extended JSON
                data = bson.encode(json_util.loads(json.dumps(req), json_options=OPTS))
            except Exception:
                continue
            write("analysis", "%s-%03d.bson" % (fn[:-5], n), data)
            n += 1
    return n


def config_seeds():
    configs = [
        {"kms_providers": {"local": {"key": base64.b64encode(bytes(96)).decode()}}, "key_vault": "file:/nonexistent"},
        {"kms_providers": {"local": {"key_file": "master.key"}}, "key_vault": "file:kv.jsonl",
         "key_vault_namespace": "encryption.__keyVault", "keyring": "file:kr.jsonl",
         "schema_map": {"db.c": {"bsonType": "object", "properties": {}}}},
        {"kms_provider": {}},
        {"kms_providers": {"aws": {}}},
    ]
    for i, c in enumerate(configs):
        write("config", "config-%02d.json" % i, json.dumps(c).encode())
    write("config", "config-bad.json", b'{"kms_providers": {"local": {"key": "QUJD"}}')
    return len(configs) + 1


def decrypt_seeds():
    # The MongoDB specification's published ciphertext of "test" under the
    # custom key material with the all-zero key id (see tests/vectors/PROVENANCE.md).
    ct = base64.b64decode("AQAAAAAAAAAAAAAAAAAAAAACz0ZOLuuhEYi807ZXTdhbqhLaS2/t9wLifJnnNYwiw79d75QYIZ6M/"
                          "aYC1h9nCzCjZ7pGUpAuNnkUhnIXM3PjrA==")
    b6 = bson.Binary(ct, 6)
    write("decrypt", "value.bson", bson.encode({"v": b6}))
    write("decrypt", "nested.bson", bson.encode({"a": {"b": [b6, 1, {"c": b6}]}, "plain": "x"}))
    write("decrypt", "truncated.bson", bson.encode({"v": bson.Binary(ct[:40], 6)}))
    write("decrypt", "unknown-key.bson", bson.encode({"v": bson.Binary(b"\x01" + b"\x11" * 16 + ct[17:], 6)}))
    write("decrypt", "marking.bson", bson.encode({"v": bson.Binary(b"\x00" + bson.encode({"a": 1, "v": 1}), 6)}))
    return 5


def bson_seeds():
    # mongodump-style files: documents back to back, from the synthetic
    # patients generator, plus shapes the policy's paths and date rules meet.
    import datetime
    import subprocess
    gen = os.path.join(ROOT, "examples", "data", "generate_patients.py")
    lines = subprocess.run(["/usr/bin/python3", gen, "--records", "4", "--seed", "5"], check=True,
                           capture_output=True).stdout.decode().splitlines()
    docs = [json_util.loads(l) for l in lines]
    write("bson", "patients.bson", b"".join(bson.encode(d) for d in docs))
    odd = [
        {"a": "x", "b": "123456789", "c": [1, 2], "d": datetime.datetime(2020, 5, 17), "n": 42, "z": "02139",
         "g": 93, "t": "Call 617-555-0101 on 2019-03-04, SSN 123-45-6789", "k": {"v": 1}},
        {"x": {"p": {"y": "s"}, "q": {"y": 1}}, "l": [{"m": 1, "o": 2}, {"m": [3]}], "e": {}, "f": []},
        {"q" * 300: {"ssn": "999-88-7777"}},
        {"deep": [[[[{"a": [[{"b": "c"}]]}]]]], "u": bson.Binary(b"\x00" * 16, 4), "r": bson.Regex("a.*b", "i")},
    ]
    # dates at the ends of int64 (pymongo 3 cannot write them: an int64 retyped as a date)
    extremes = bson.encode({"dob": bson.int64.Int64(-2**63), "d": bson.int64.Int64(2**63 - 1)})
    extremes = extremes.replace(b"\x12dob\x00", b"\x09dob\x00").replace(b"\x12d\x00", b"\x09d\x00")
    write("bson", "shapes.bson", b"".join(bson.encode(d) for d in odd) + extremes)
    write("bson", "truncated.bson", bson.encode(odd[0])[:-7])
    return 3


if __name__ == "__main__":
    if sys.argv[1:] == ["bson"]:
        print("bson", bson_seeds(), file=sys.stderr)
    else:
        print("analysis", analysis_seeds(), "config", config_seeds(), "decrypt", decrypt_seeds(), "bson",
              bson_seeds(), file=sys.stderr)
