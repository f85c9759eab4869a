"""De-identification of files and documents through a client."""
from __future__ import annotations

import json

import pytest

import phicrypt

from conftest import need

POLICY = {
    "version": 1,
    "unknown_fields": "keep",
    "fields": {
        "name": {"action": "redact"},
        "phone": {"action": "mask", "keep_last": 4},
        "zip": {"action": "zip3"},
        "age": {"action": "age"},
        "secret": {"action": "drop"},
    },
}

RECORDS = [
    {"_id": i, "name": f"Patient {i}", "phone": "555-010-%04d" % i, "zip": "02139", "age": 80 + i,
     "secret": "x", "note": "kept"}
    for i in range(20)
]


@pytest.fixture(autouse=True)
def _need_deid():
    need("phicrypt_deid_file")


@pytest.fixture
def export(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return p


def test_deidentify_file(client, export, tmp_path):
    out = tmp_path / "out.jsonl"
    seen = []
    report = client.deidentify_file(POLICY, str(export), str(out), threads=2,
                                    progress=lambda r, d, t: seen.append(r))
    assert report["records_in"] == report["records_out"] == 20
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(lines) == 20
    for r in lines:
        assert "Patient" not in json.dumps(r["name"])
        assert "secret" not in r and r["note"] == "kept"
    assert lines[15]["age"] == "90+"


def test_policy_object_and_json_text(client, export, tmp_path):
    with client.policy(json.dumps(POLICY)) as pol:
        a = client.deidentify_file(pol, str(export), str(tmp_path / "a.jsonl"))
        b = client.deidentify_file(POLICY, str(export), str(tmp_path / "b.jsonl"), threads=2)
    assert a["records_out"] == b["records_out"]
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_policy_from_path(client, export, tmp_path):
    p = tmp_path / "policy.json"
    p.write_text(json.dumps(POLICY))
    client.deidentify_file(str(p), str(export), str(tmp_path / "o.jsonl"))


def test_deidentify_json(client):
    out = json.loads(client.deidentify_json(POLICY, json.dumps(RECORDS[0])))
    assert "secret" not in out and out["note"] == "kept"


def test_bad_policy(client):
    with pytest.raises(phicrypt.InvalidArgument) as e:
        client.policy({"version": 1, "fields": {"dob": {"action": "shred"}}})
    assert "dob" in e.value.message


def test_bad_input(client, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "x"}\n{not json\n')
    with pytest.raises(phicrypt.BadData):
        client.deidentify_file(POLICY, str(bad), str(tmp_path / "o.jsonl"))
    assert not (tmp_path / "o.jsonl").exists()  # nothing partial
    rep = client.deidentify_file(POLICY, str(bad), str(tmp_path / "o.jsonl"), skip_bad=True)
    assert len(rep["bad_records"]) == 1


def test_missing_input(client, tmp_path):
    with pytest.raises(phicrypt.FileIOError):
        client.deidentify_file(POLICY, str(tmp_path / "none.jsonl"), str(tmp_path / "o.jsonl"))


def test_policy_freed_with_client(config):
    c = phicrypt.Client(config)
    pol = c.policy(POLICY)
    c.close()
    with pytest.raises(phicrypt.InvalidArgument):
        pol._handle()


def test_reidentify_file(keyring_client, tmp_path):
    need("phicrypt_reid_file")
    c = keyring_client
    policy = {"version": 1, "unknown_fields": "keep",
              "fields": {"ssn": {"action": "tokenize", "key": "tok:ssn", "format": "ssn", "context": "ssn"},
                         "mrn": {"action": "pseudonymize", "key": "ps:patient", "context": "mrn"}}}
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"ssn": "123-45-%04d" % i, "mrn": "MRN-%d" % i}) + "\n"
                           for i in range(10)))
    pol = c.policy(policy)
    c.deidentify_file(pol, str(src), str(tmp_path / "d.jsonl"))
    deid = [json.loads(l) for l in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert all(d["ssn"] != "123-45-%04d" % i and d["mrn"].startswith("ps1.") for i, d in enumerate(deid))
    c.reidentify_file(pol, str(tmp_path / "d.jsonl"), str(tmp_path / "r.jsonl"))
    back = [json.loads(l) for l in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [b["ssn"] for b in back] == ["123-45-%04d" % i for i in range(10)]
    assert [b["mrn"] for b in back] == [d["mrn"] for d in deid]  # pseudonyms are one-way
