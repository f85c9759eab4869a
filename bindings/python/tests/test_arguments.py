"""Argument checking: every public function refuses a wrongly typed argument with a
TypeError naming the function and the argument before anything reaches C, and the
positional arguments come in the order of the C function they wrap."""
from __future__ import annotations

import inspect
import os
import re
import tracemalloc

import pytest

import phicrypt
from conftest import need

HEADERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, os.pardir,
                       "include", "phicrypt")
S = phicrypt.Session("clerk", "billing", "PAYMENT")
CT = b"\x01" + b"\x00" * 16 + b"\x02" + b"\x00" * 64  # shaped like a payload; never reaches C here


class Bad:
    """A value of no type any argument takes."""


# method -> (positional args, keyword args) that pass the type checks.
CALLS = {
    "encrypt": (["v"], {"algorithm": "random", "key_alt_name": "patients"}),
    "decrypt": ([CT], {}),
    "encrypt_bson": ([b"\x05\x00\x00\x00\x00"], {"algorithm": "random", "key_alt_name": "patients"}),
    "decrypt_bson": ([b"\x05\x00\x00\x00\x00"], {}),
    "encrypt_json": (['"v"'], {"algorithm": "random", "key_alt_name": "patients"}),
    "decrypt_json": (['"v"'], {"canonical": False}),
    "encrypt_command": (["hospital", {"find": "patients"}], {}),
    "encrypt_document": (["hospital.patients", {"a": 1}], {}),
    "analyze_command": (["hospital", {"find": "patients"}], {}),
    "decrypt_document": ([{"a": 1}], {}),
    "create_data_key": (["local"], {"key_alt_names": ["k"], "master_key": None, "key_material": None}),
    "get_data_key": ([b"\x00" * 16], {}),
    "delete_data_key": ([b"\x00" * 16], {}),
    "add_key_alt_name": ([b"\x00" * 16, "k"], {}),
    "remove_key_alt_name": ([b"\x00" * 16, "k"], {}),
    "key_id_by_alt_name": (["k"], {}),
    "rewrap_data_keys": ([None], {"provider": "local", "master_key": None}),
    "create_token_key": (["t", "ff1"], {}),
    "rotate_token_key": (["t"], {}),
    "retire_token_key": (["t", 1], {}),
    "destroy_token_key": (["t", 1], {}),
    "tokenize": (["t", "v"], {"format": None, "context": None, "alphabet": None, "key_version": 0}),
    "detokenize": (["t", "v"], {"format": None, "context": None, "alphabet": None, "key_version": 0}),
    "pseudonymize": (["t", "v"], {"context": None, "normalize": 0, "length": 0, "key_version": 0}),
    "verify_pseudonym": (["t", "v", "ps1.1.x"], {"context": None, "normalize": 0, "length": 0}),
    "deidentify_file": ([{"fields": {}}, "in.jsonl", "out.jsonl"],
                        {"threads": 1, "format": "auto", "skip_bad": False, "progress": None}),
    "reidentify_file": ([{"fields": {}}, "in.jsonl", "out.jsonl"],
                        {"threads": 1, "format": "auto", "skip_bad": False, "progress": None}),
    "deidentify_json": ([{"fields": {}}, "{}"], {}),
    "decrypt_as": ([S, "hospital.patients", "ssn", CT], {}),
    "decrypt_document_as": ([S, "hospital.patients", {"a": 1}], {}),
    "detokenize_as": ([S, "hospital.patients", "ssn", "t", "v"],
                      {"format": None, "context": None, "alphabet": None, "key_version": 0}),
    "reidentify_file_as": ([S, "hospital.patients", {"fields": {}}, "in.jsonl", "out.jsonl"],
                           {"threads": 1, "format": "auto", "skip_bad": False}),
    "access_allowed": ([S, "hospital.patients", "ssn"], {}),
    "audit_verify": (["audit.jsonl"], {}),
    "audit_disclosures": (["MRN-1", 0], {}),
    "audit_subject_id": (["MRN-1"], {}),
}
# Arguments where None is a valid value (so it is not a bad value there).
OPTIONAL = {("encrypt", 0), ("get_data_key", 0), ("rewrap_data_keys", 0), ("audit_verify", 0)} | {
    (m, 1) for m in ("decrypt_as", "decrypt_document_as", "detokenize_as", "reidentify_file_as", "access_allowed")}


def _cases():
    for name, (args, kwargs) in CALLS.items():
        for i in range(len(args)):
            yield name, i, None
        for k in kwargs:
            yield name, None, k


@pytest.fixture
def closed_client(config):
    """A client whose methods must fail on their arguments before they look at the handle."""
    c = phicrypt.Client(config)
    c.close()
    return c


def test_every_public_method_is_covered():
    public = {n for n, v in inspect.getmembers(phicrypt.Client, inspect.isfunction) if not n.startswith("_")}
    public -= {"close", "list_data_keys", "list_token_keys"}  # no arguments
    public -= {"policy"}  # test_config_and_policy_types
    assert public == set(CALLS), sorted(public ^ set(CALLS))


@pytest.mark.parametrize("name,pos,kw", list(_cases()))
def test_wrong_type_is_a_typeerror_naming_the_argument(closed_client, name, pos, kw):
    args, kwargs = CALLS[name]
    args, kwargs = list(args), dict(kwargs)
    if pos is not None:
        args[pos] = Bad()
        param = list(inspect.signature(getattr(phicrypt.Client, name)).parameters)[pos + 1]
    else:
        kwargs[kw] = Bad()
        param = kw
    with pytest.raises(TypeError) as e:
        getattr(closed_client, name)(*args, **kwargs)
    msg = str(e.value)
    assert msg.startswith(f"{name}(): ") and param in msg and "Bad" in msg, msg
    if (name, pos) not in OPTIONAL and pos is not None:
        args[pos] = None
        with pytest.raises(TypeError, match=re.escape(f"{name}(): ")):
            getattr(closed_client, name)(*args, **kwargs)


def test_good_types_reach_the_handle(closed_client):
    """The table's arguments pass every check: the call fails only on the closed handle
    (so the test above really exercises one bad argument at a time)."""
    for name, (args, kwargs) in CALLS.items():
        with pytest.raises(phicrypt.InvalidArgument, match="closed"):
            getattr(closed_client, name)(*args, **kwargs)


def test_tokenize_int_does_not_allocate(keyring_client):
    """bytes(123456789) would be a 123 MB buffer of zeros tokenized as a value."""
    tracemalloc.start()
    try:
        with pytest.raises(TypeError, match=r"tokenize\(\): value must be str or bytes, not int.*str\(n\)"):
            keyring_client.tokenize("tok:ssn", 123456789)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    for fn in (keyring_client.pseudonymize, keyring_client.detokenize):
        with pytest.raises(TypeError):
            fn("tok:ssn", 123456789)


def test_decrypt_str_has_a_hint(client):
    with pytest.raises(TypeError, match=r"decrypt\(\): ciphertext must be bytes, not str.*decrypt_json"):
        client.decrypt("hello")


def test_deidentify_json_dict_has_a_hint(client):
    need("phicrypt_deid_json")
    with pytest.raises(TypeError, match=r"deidentify_json\(\): document must be str or bytes, not dict.*json.dumps"):
        client.deidentify_json({"version": 1, "fields": {}}, {"name": "x"})


def test_encrypt_needs_an_algorithm(client):
    """Deterministic encryption leaks equality: it is never chosen silently (the CLI requires it too)."""
    for fn in (client.encrypt, client.encrypt_json, client.encrypt_bson):
        with pytest.raises(TypeError, match="algorithm"):
            fn("x" if fn is not client.encrypt_bson else b"", key_alt_name="patients")
        assert inspect.signature(fn).parameters["algorithm"].default is inspect.Parameter.empty


def test_bool_is_not_a_count(closed_client):
    with pytest.raises(TypeError, match="threads must be int, not bool"):
        closed_client.deidentify_file({}, "a", "b", threads=True)
    with pytest.raises(ValueError, match="key_version"):
        closed_client.tokenize("t", "v", key_version=-1)
    with pytest.raises(ValueError, match="key_version"):
        closed_client.tokenize("t", "v", key_version=2**32)


def test_nul_in_a_name_is_refused(closed_client):
    with pytest.raises(ValueError, match="key_name contains a NUL"):
        closed_client.tokenize("tok\0ssn", "v")


def test_key_id_str_has_a_hint(closed_client):
    with pytest.raises(TypeError, match=r"uuid\.UUID\(text\)"):
        closed_client.delete_data_key("0123456789abcdef0123456789abcdef")


def test_alt_names_str_is_refused(closed_client):
    with pytest.raises(TypeError, match=r"\['name'\]"):
        closed_client.create_data_key("local", key_alt_names="patients")


def test_config_and_policy_types(config):
    with pytest.raises(TypeError, match=r"Client\(\): config"):
        phicrypt.Client(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Client\(\): use_bson"):
        phicrypt.Client(config, use_bson="yes")  # type: ignore[arg-type]
    with phicrypt.Client(config) as c:
        with pytest.raises(TypeError, match=r"policy\(\): policy"):
            c.policy(42)  # type: ignore[arg-type]


def test_module_functions(tmp_path):
    with pytest.raises(TypeError, match=r"ff1_encrypt\(\): key must be bytes, not str"):
        phicrypt.ff1_encrypt("k" * 32, b"", "0123456789", "0123456789")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ff1_decrypt\(\): text must be bytes, not int"):
        phicrypt.ff1_decrypt(b"k" * 32, b"", "0123456789", 1234567890)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"create_local_key_file\(\): path"):
        phicrypt.create_local_key_file(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"strerror\(\): code must be int"):
        phicrypt.strerror("-4")  # type: ignore[arg-type]
    assert not (tmp_path / "3").exists()


# Python method -> C function; Python parameter -> C parameter where the names differ.
C_FUNCTIONS = {
    "encrypt_command": "phicrypt_encrypt_command", "encrypt_document": "phicrypt_encrypt_document",
    "analyze_command": "phicrypt_analyze_command", "add_key_alt_name": "phicrypt_datakey_add_alt_name",
    "remove_key_alt_name": "phicrypt_datakey_remove_alt_name", "rewrap_data_keys": "phicrypt_datakey_rewrap",
    "retire_token_key": "phicrypt_keyring_retire", "destroy_token_key": "phicrypt_keyring_destroy",
    "tokenize": "phicrypt_tokenize", "detokenize": "phicrypt_detokenize", "pseudonymize": "phicrypt_pseudonymize",
    "verify_pseudonym": "phicrypt_pseudonym_verify", "deidentify_file": "phicrypt_deid_file",
    "reidentify_file": "phicrypt_reid_file", "deidentify_json": "phicrypt_deid_json",
    "decrypt_as": "phicrypt_decrypt_as", "decrypt_document_as": "phicrypt_decrypt_document_as",
    "detokenize_as": "phicrypt_detokenize_as", "reidentify_file_as": "phicrypt_reid_file_as",
    "access_allowed": "phicrypt_access_check", "audit_disclosures": "phicrypt_audit_disclosures",
    "ff1_encrypt": "phicrypt_ff1_encrypt", "ff1_decrypt": "phicrypt_ff1_decrypt",
}
RENAMES = {"cmd": "cmd_bson", "doc": "doc_bson", "document": "json", "policy": "p", "filter": "filter_json",
           "ciphertext": "ciphertext_doc", "text": "in", "key_id": "id"}


def _c_params(fn: str) -> list:
    for h in os.listdir(HEADERS):
        src = open(os.path.join(HEADERS, h), encoding="utf-8").read()
        m = re.search(r"\b(?:int|void|size_t)\s+" + fn + r"\(([^)]*)\)", src)
        if m:
            return [re.sub(r"\[.*", "", p.split()[-1]).lstrip("*") for p in m.group(1).split(",")]
    raise AssertionError(f"{fn} not found in {HEADERS}")


@pytest.mark.parametrize("name", sorted(C_FUNCTIONS))
def test_argument_order_matches_c(name):
    f = getattr(phicrypt.Client, name, None) or getattr(phicrypt, name)
    py = [p.name for p in inspect.signature(f).parameters.values()
          if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"]
    c = _c_params(C_FUNCTIONS[name])
    mapped = [RENAMES.get(p, p) for p in py]
    missing = [p for p in mapped if p not in c]
    assert not missing, f"{name}: {missing} not parameters of {C_FUNCTIONS[name]}{c}"
    assert [c.index(p) for p in mapped] == sorted(c.index(p) for p in mapped), f"{name}{py} vs C {c}"
