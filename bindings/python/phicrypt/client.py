"""The phicrypt client: CSFLE, data keys, keyring, tokens, pseudonyms, de-identification.

A :class:`Client` wraps one ``phicrypt_t``, which the C library makes
thread-safe: share one client between threads. Every call releases the GIL
while it runs in C (ctypes ``CDLL``). Bytes the library returns (plaintext
included) are copied into Python objects and the C buffer is wiped
(``phicrypt_buf_dispose``); Python's own copies cannot be wiped, so keep them
short-lived.
"""
from __future__ import annotations

import ctypes
import json
import os
import threading
import weakref
from ctypes import byref, c_uint32, c_void_p
from typing import Any, Callable, Dict, Iterable, Mapping, NamedTuple, Optional, Union

from . import _bson
from ._lib import (DatakeyOpts, EncryptOpts, PseudonymOpts, SessionStruct, TokenOpts, lib, new_buf, take)
from .errors import (AuthenticationError, InvalidArgument, PhicryptError, error_for)

ConfigLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]
DocLike = Union[Mapping[str, Any], bytes]

_ALGORITHMS = {"deterministic": 1, "random": 2}
_KEYRING_ALGORITHMS = {"ff1": 1, "siv": 2, "hmac": 3}
NORM_TRIM = 1
NORM_CASEFOLD = 2
NORM_COLLAPSE = 4
_FORMATS = {"auto": 0, "jsonl": 1, "json": 2, "bson": 3, "csv": 4}
KEY_ID_BYTES = 16


class Session(NamedTuple):
    """Who is asking, in which role, and why (minimum necessary; see access.h).

    ``subject`` optionally names the patient concerned, only to compute the
    pseudonymous subject id of the audit line.
    """
    actor: str
    role: str
    purpose: str
    subject: Optional[str] = None

    def _c(self) -> SessionStruct:
        return SessionStruct(1, _b(self.actor), _b(self.role), _b(self.purpose), _b(self.subject))


def _b(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else s.encode("utf-8")


def _text(v: Union[str, bytes]) -> bytes:
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def _key_id(key_id: Any) -> bytes:
    """Accept 16 raw bytes, a bson Binary subtype 4 or a uuid.UUID."""
    b = getattr(key_id, "bytes", key_id)  # uuid.UUID
    b = bytes(b)
    if len(b) != KEY_ID_BYTES:
        raise InvalidArgument(f"a key id is {KEY_ID_BYTES} bytes, not {len(b)}", -1)
    return b


def _config_json_or_path(config: ConfigLike) -> tuple:
    """(json_text, None) or (None, path)."""
    if isinstance(config, Mapping):
        return json.dumps(config), None
    if isinstance(config, os.PathLike):
        return None, os.fspath(config)
    if isinstance(config, str):
        return (config, None) if config.lstrip().startswith("{") else (None, config)
    raise TypeError("config must be a dict, a JSON string or a path to phicrypt.json")


def _raise_new_failure(rc: int) -> None:
    L = lib()
    msg = L.phicrypt_errmsg(None).decode("utf-8", "replace")
    raise error_for(rc, msg)


class Policy:
    """A validated de-identification policy bound to a client (see :meth:`Client.policy`).

    The C policy holds the client by reference; this object keeps the client
    alive and is freed before the client closes.
    """

    def __init__(self, client: "Client", policy: Union[Mapping[str, Any], str, "os.PathLike[str]"]) -> None:
        if isinstance(policy, Mapping):
            text = json.dumps(policy)
        elif isinstance(policy, os.PathLike) or (isinstance(policy, str) and not policy.lstrip().startswith("{")):
            with open(os.fspath(policy), encoding="utf-8") as f:
                text = f.read()
        elif isinstance(policy, str):
            text = policy
        else:
            raise TypeError("policy must be a dict, JSON text or a path")
        self._client = client
        out = c_void_p()
        with client._use() as h:
            rc = lib().phicrypt_deid_policy_new(byref(out), h, text.encode("utf-8"))
            if rc:
                raise client._error(h, rc)
        self._ptr: Optional[c_void_p] = out
        self._fin = weakref.finalize(self, lib().phicrypt_deid_policy_free, out)
        client._policies.add(self)

    def close(self) -> None:
        """Free the C policy (idempotent)."""
        self._fin()
        self._ptr = None

    def _handle(self) -> c_void_p:
        if self._ptr is None:
            raise InvalidArgument("the policy is closed", -1)
        return self._ptr

    def __enter__(self) -> "Policy":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Client:
    """A phicrypt client.

    ``config`` is a dict, JSON text, or the path of a ``phicrypt.json``
    (relative paths inside a file resolve against its directory, inside a
    dict or JSON text against the current directory).

    ``use_bson`` (default: whether pymongo's ``bson`` is importable) chooses
    how values cross the API: Python values and dicts, or BSON bytes.
    """

    def __init__(self, config: ConfigLike, *, use_bson: Optional[bool] = None) -> None:
        if use_bson and not _bson.HAVE_BSON:
            raise InvalidArgument("use_bson=True needs the 'bson' module (python3-bson)", -1)
        L = lib()
        text, path = _config_json_or_path(config)
        h = c_void_p()
        rc = L.phicrypt_new(byref(h), text.encode("utf-8")) if text is not None else \
            L.phicrypt_new_from_file(byref(h), path.encode("utf-8"))
        if rc:
            _raise_new_failure(rc)
        self._h: Optional[c_void_p] = h
        self._bson = _bson.HAVE_BSON if use_bson is None else bool(use_bson)
        # close() waits for calls in flight on other threads before freeing.
        self._cond = threading.Condition()
        self._active = 0
        self._policies: "weakref.WeakSet[Policy]" = weakref.WeakSet()
        # A forgotten client is freed when garbage-collected (the finalizer must not reference self).
        self._fin = weakref.finalize(self, L.phicrypt_free, h)

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Free the handle and wipe its keys. Idempotent; waits for calls running on other threads."""
        with self._cond:
            if self._h is None:
                return
            self._h = None
            while self._active:
                self._cond.wait()
        for p in list(self._policies):
            p.close()
        self._fin()

    @property
    def closed(self) -> bool:
        return self._h is None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    class _Use:
        __slots__ = ("c", "h")

        def __init__(self, c: "Client") -> None:
            self.c = c

        def __enter__(self) -> c_void_p:
            c = self.c
            with c._cond:
                if c._h is None:
                    raise InvalidArgument("the client is closed", -1)
                c._active += 1
                self.h = c._h
            return self.h

        def __exit__(self, *exc: Any) -> None:
            c = self.c
            with c._cond:
                c._active -= 1
                if not c._active:
                    c._cond.notify_all()

    def _use(self) -> "Client._Use":
        return Client._Use(self)

    @staticmethod
    def _error(h: c_void_p, rc: int) -> PhicryptError:
        # errmsg is per thread and valid until our next call on h: read it right away.
        return error_for(rc, lib().phicrypt_errmsg(h).decode("utf-8", "replace"))

    def _buf_call(self, name: str, *args: Any) -> bytes:
        """Call a function of the form f(ph, phicrypt_buf *out, ...) and return the bytes."""
        fn = getattr(lib(), name)
        buf = new_buf()
        with self._use() as h:
            try:
                rc = fn(h, byref(buf), *args)
                if rc:
                    raise self._error(h, rc)
            finally:
                data = take(buf)
        return data

    def _call(self, name: str, *args: Any) -> None:
        fn = getattr(lib(), name)
        with self._use() as h:
            rc = fn(h, *args)
            if rc:
                raise self._error(h, rc)

    def _to_bson(self, doc: DocLike) -> bytes:
        if isinstance(doc, (bytes, bytearray, memoryview)):
            return bytes(doc)
        if not self._bson:
            raise TypeError("without the bson module, documents are BSON bytes")
        return _bson.encode(doc)

    def _from_bson(self, data: bytes, like: Any) -> Any:
        """Decode when the caller gave a Python document (or none), else return bytes."""
        if self._bson and not isinstance(like, (bytes, bytearray, memoryview)):
            return _bson.decode(data)
        return data

    # -- data keys --------------------------------------------------------------------------------
    def create_data_key(self, provider: str = "local", *, key_alt_names: Iterable[str] = (),
                        master_key: Optional[Mapping[str, Any]] = None,
                        key_material: Optional[bytes] = None) -> bytes:
        """Create a data key wrapped by ``provider``'s master key; returns its 16-byte id."""
        names = [n.encode("utf-8") for n in key_alt_names]
        arr = (ctypes.c_char_p * max(1, len(names)))(*names)
        opts = DatakeyOpts(1, provider.encode("utf-8"),
                           _b(json.dumps(master_key)) if master_key is not None else None,
                           arr if names else None, len(names),
                           key_material, len(key_material) if key_material else 0)
        out = ctypes.create_string_buffer(KEY_ID_BYTES)
        self._call("phicrypt_datakey_create", out, byref(opts))
        return out.raw

    def get_data_key(self, key_id: Any = None, *, key_alt_name: Optional[str] = None) -> Any:
        """The key document (without key material): a dict with bson, else BSON bytes."""
        if (key_id is None) == (key_alt_name is None):
            raise InvalidArgument("give exactly one of key_id and key_alt_name", -1)
        if key_id is not None:
            data = self._buf_call("phicrypt_datakey_get", _key_id(key_id))
        else:
            data = self._buf_call("phicrypt_datakey_get_by_alt_name", _b(key_alt_name))
        return self._from_bson(data, None)

    def list_data_keys(self) -> Any:
        """Every key document: a list of dicts with bson, else BSON bytes of {"keys": [...]}."""
        data = self._buf_call("phicrypt_datakey_list")
        return _bson.decode(data)["keys"] if self._bson else data

    def delete_data_key(self, key_id: Any) -> None:
        """Delete a data key: what it encrypted can no longer be decrypted."""
        self._call("phicrypt_datakey_delete", _key_id(key_id))

    def add_key_alt_name(self, key_id: Any, alt_name: str) -> None:
        self._call("phicrypt_datakey_add_alt_name", _key_id(key_id), _b(alt_name))

    def remove_key_alt_name(self, key_id: Any, alt_name: str) -> None:
        self._call("phicrypt_datakey_remove_alt_name", _key_id(key_id), _b(alt_name))

    def key_id_by_alt_name(self, alt_name: str) -> bytes:
        out = ctypes.create_string_buffer(KEY_ID_BYTES)
        self._call("phicrypt_datakey_id_by_alt_name", out, _b(alt_name))
        return out.raw

    def rewrap_data_keys(self, filter: Optional[Mapping[str, Any]] = None, *, provider: Optional[str] = None,
                         master_key: Optional[Mapping[str, Any]] = None) -> int:
        """Rotate master keys: rewrap the data keys matching ``filter`` (a MongoDB filter over key
        documents; None: all) under ``provider``'s master key (None: each key's own), atomically.
        Ciphertexts do not change. Returns the number of keys rewrapped."""
        n = ctypes.c_size_t()
        self._call("phicrypt_datakey_rewrap", byref(n), _b(json.dumps(filter)) if filter is not None else None,
                   _b(provider), _b(json.dumps(master_key)) if master_key is not None else None)
        return n.value

    # -- explicit encryption ----------------------------------------------------------------------
    @staticmethod
    def _enc_opts(key_id: Any, key_alt_name: Optional[str], algorithm: str) -> EncryptOpts:
        alg = _ALGORITHMS.get(algorithm)
        if alg is None:
            raise InvalidArgument("algorithm must be 'deterministic' or 'random'", -1)
        if (key_id is None) == (key_alt_name is None):
            raise InvalidArgument("give exactly one of key_id and key_alt_name", -1)
        return EncryptOpts(1, alg, _key_id(key_id) if key_id is not None else None, _b(key_alt_name))

    def encrypt(self, value: Any, *, key_id: Any = None, key_alt_name: Optional[str] = None,
                algorithm: str = "deterministic") -> Any:
        """Encrypt one value (CSFLE).

        With bson: any BSON-encodable Python value; returns ``bson.Binary``
        subtype 6. Without: ``value`` is BSON bytes of ``{"v": value}``;
        returns the subtype 6 payload as bytes.
        """
        opts = self._enc_opts(key_id, key_alt_name, algorithm)
        if self._bson:
            doc = _bson.encode({"v": value})
        elif isinstance(value, (bytes, bytearray, memoryview)):
            doc = bytes(value)
        else:
            raise TypeError("without the bson module, encrypt takes BSON bytes of {'v': value}")
        out = self._buf_call("phicrypt_encrypt", doc, len(doc), byref(opts))
        return _bson.binary6(_bson.unwrap_binary6(out), self._bson)

    def decrypt(self, ciphertext: bytes) -> Any:
        """Decrypt a subtype 6 payload (``Binary`` or bytes): the Python value with
        bson, else BSON bytes of ``{"v": value}``."""
        doc = _bson.wrap_binary6(bytes(ciphertext))
        out = self._buf_call("phicrypt_decrypt", doc, len(doc))
        return _bson.decode(out)["v"] if self._bson else out

    def encrypt_bson(self, value_doc: bytes, *, key_id: Any = None, key_alt_name: Optional[str] = None,
                     algorithm: str = "deterministic") -> bytes:
        """BSON ``{"v": value}`` in, BSON ``{"v": BinData(6, ...)}`` out."""
        opts = self._enc_opts(key_id, key_alt_name, algorithm)
        return self._buf_call("phicrypt_encrypt", bytes(value_doc), len(value_doc), byref(opts))

    def decrypt_bson(self, ciphertext_doc: bytes) -> bytes:
        """BSON ``{"v": BinData(6, ...)}`` in, BSON ``{"v": value}`` out."""
        return self._buf_call("phicrypt_decrypt", bytes(ciphertext_doc), len(ciphertext_doc))

    def encrypt_json(self, value_json: str, *, key_id: Any = None, key_alt_name: Optional[str] = None,
                     algorithm: str = "deterministic") -> str:
        """One Extended JSON value in; the ciphertext as canonical Extended JSON out."""
        opts = self._enc_opts(key_id, key_alt_name, algorithm)
        return self._buf_call("phicrypt_encrypt_json", _b(value_json), byref(opts)).decode("utf-8")

    def decrypt_json(self, ciphertext_json: str, *, canonical: bool = False) -> str:
        """A ciphertext as Extended JSON in; the value as Extended JSON out."""
        return self._buf_call("phicrypt_decrypt_json", _b(ciphertext_json), int(canonical)).decode("utf-8")

    # -- automatic encryption ---------------------------------------------------------------------
    def encrypt_command(self, db: str, cmd: DocLike) -> Any:
        """Encrypt a MongoDB command per the schema map (dict in, dict out; bytes in, bytes out)."""
        data = self._to_bson(cmd)
        return self._from_bson(self._buf_call("phicrypt_encrypt_command", _b(db), data, len(data)), cmd)

    def decrypt_document(self, doc: DocLike) -> Any:
        """Decrypt every encrypted value of a document, at any depth."""
        data = self._to_bson(doc)
        return self._from_bson(self._buf_call("phicrypt_decrypt_document", data, len(data)), doc)

    def encrypt_document(self, ns: str, doc: DocLike) -> Any:
        """The document as inserted into ``ns`` ("db.collection"), encrypted per the schema map."""
        data = self._to_bson(doc)
        return self._from_bson(self._buf_call("phicrypt_encrypt_document", _b(ns), data, len(data)), doc)

    def analyze_command(self, db: str, cmd: DocLike) -> Any:
        """What automatic encryption would do: {"ok": bool, "fields": [...]} or {"ok": false, "error"}."""
        data = self._to_bson(cmd)
        return self._from_bson(self._buf_call("phicrypt_analyze_command", _b(db), data, len(data)), cmd)

    # -- minimum necessary (access.h) -------------------------------------------------------------
    def decrypt_document_as(self, session: Session, doc: DocLike, *, ns: Optional[str] = None) -> Any:
        """Decrypt only the fields ``session`` may see in ``ns``; audited. Denied fields stay
        encrypted, become null or a marker (configuration ``access.denied_fields``)."""
        data = self._to_bson(doc)
        s = session._c()
        return self._from_bson(self._buf_call("phicrypt_decrypt_document_as", byref(s), _b(ns), data, len(data)),
                               doc)

    def decrypt_as(self, session: Session, ciphertext: bytes, field: str, *, ns: Optional[str] = None) -> Any:
        """:meth:`decrypt` of the value of ``field`` (a path), checked against the session's rules."""
        doc = _bson.wrap_binary6(bytes(ciphertext))
        s = session._c()
        out = self._buf_call("phicrypt_decrypt_as", byref(s), _b(ns), _b(field), doc, len(doc))
        return _bson.decode(out)["v"] if self._bson else out

    def access_allowed(self, session: Session, field: str, *, ns: Optional[str] = None) -> bool:
        """Whether ``session`` may decrypt ``field`` of ``ns`` (nothing is decrypted)."""
        from .errors import AccessDenied
        s = session._c()
        try:
            self._call("phicrypt_access_check", byref(s), _b(ns), _b(field))
        except AccessDenied:
            return False
        return True

    # -- audit log (audit.h) ----------------------------------------------------------------------
    def audit_verify(self, path: Optional[str] = None) -> str:
        """Check the hash chain of an audit log (default: the configured one).

        Returns "intact: N lines"; raises AuthenticationError (a line edited, removed,
        reordered or forged) or BadData (a torn line) naming the first bad line.
        """
        return self._buf_call("phicrypt_audit_verify", _b(path)).decode("utf-8")

    def audit_disclosures(self, subject_value: str, since_ms: int = 0) -> Any:
        """Accounting of disclosures for one patient: {"subject", "disclosures": [...]}
        (a dict with bson, else BSON bytes)."""
        data = self._buf_call("phicrypt_audit_disclosures", _b(subject_value), since_ms)
        return _bson.decode(data) if self._bson else data

    def audit_subject_id(self, subject_value: str) -> str:
        """The pseudonymous subject id ("sub1.<hex>") the audit log records for a patient."""
        return self._buf_call("phicrypt_audit_subject_id", _b(subject_value)).decode("utf-8")

    # -- keyring ----------------------------------------------------------------------------------
    def create_token_key(self, name: str, algorithm: str = "ff1") -> None:
        """Create a keyring key: 'ff1' (format-preserving), 'siv' (opaque tokens), 'hmac' (pseudonyms)."""
        alg = _KEYRING_ALGORITHMS.get(algorithm)
        if alg is None:
            raise InvalidArgument("algorithm must be 'ff1', 'siv' or 'hmac'", -1)
        self._call("phicrypt_keyring_create", _b(name), alg)

    def rotate_token_key(self, name: str) -> int:
        """Add a primary version to a keyring key; returns its number."""
        v = c_uint32()
        self._call("phicrypt_keyring_rotate", byref(v), _b(name))
        return v.value

    def retire_token_key(self, name: str, version: int) -> None:
        """Stop using a version for new tokens (it still reverses old ones)."""
        self._call("phicrypt_keyring_retire", _b(name), version)

    def destroy_token_key(self, name: str, version: int = 0) -> None:
        """Destroy one version, or with 0 the whole key (crypto-shredding)."""
        self._call("phicrypt_keyring_destroy", _b(name), version)

    def list_token_keys(self) -> Any:
        """Keyring keys (no material): a list of dicts with bson, else BSON bytes of {"keys": [...]}."""
        data = self._buf_call("phicrypt_keyring_list")
        return _bson.decode(data)["keys"] if self._bson else data

    # -- tokens and pseudonyms --------------------------------------------------------------------
    @staticmethod
    def _tok_opts(format: Optional[str], context: Optional[str], alphabet: Optional[str],
                  key_version: int) -> TokenOpts:
        return TokenOpts(1, _b(format), _b(context), _b(alphabet), key_version)

    def tokenize(self, key_name: str, value: Union[str, bytes], *, format: Optional[str] = None,
                 context: Optional[str] = None, alphabet: Optional[str] = None, key_version: int = 0) -> str:
        """A deterministic reversible token: FF1 formats ("ssn", "digits", ...) or "siv" (default)."""
        v = _text(value)
        opts = self._tok_opts(format, context, alphabet, key_version)
        return self._buf_call("phicrypt_tokenize", _b(key_name), v, len(v), byref(opts)).decode("utf-8")

    def detokenize(self, key_name: str, token: Union[str, bytes], *, format: Optional[str] = None,
                   context: Optional[str] = None, alphabet: Optional[str] = None, key_version: int = 0) -> str:
        """Reverse :meth:`tokenize` (same key, format, context; FF1 needs the version that made it)."""
        t = _text(token)
        opts = self._tok_opts(format, context, alphabet, key_version)
        return self._buf_call("phicrypt_detokenize", _b(key_name), t, len(t), byref(opts)).decode("utf-8")

    def pseudonymize(self, key_name: str, value: Union[str, bytes], *, context: Optional[str] = None,
                     normalize: int = 0, length: int = 0, key_version: int = 0) -> str:
        """A one-way pseudonym ``ps1.<version>.<base32>`` (HMAC-SHA256, per-context subkey)."""
        v = _text(value)
        opts = PseudonymOpts(1, _b(context), normalize, length, key_version)
        return self._buf_call("phicrypt_pseudonymize", _b(key_name), v, len(v), byref(opts)).decode("utf-8")

    def verify_pseudonym(self, key_name: str, value: Union[str, bytes], pseudonym: str, *,
                         context: Optional[str] = None, normalize: int = 0, length: int = 0) -> bool:
        """True when ``pseudonym`` is the pseudonym of ``value`` (constant-time check)."""
        v = _text(value)
        opts = PseudonymOpts(1, _b(context), normalize, length, 0)
        try:
            self._call("phicrypt_pseudonym_verify", _b(key_name), v, len(v), _b(pseudonym), byref(opts))
        except AuthenticationError:
            return False
        return True

    # -- de-identification ------------------------------------------------------------------------
    def policy(self, policy: Union[Mapping[str, Any], str, "os.PathLike[str]"]) -> Policy:
        """Parse and validate a de-identification policy (dict, JSON text or path)."""
        return Policy(self, policy)

    def _deid(self, fname: str, policy: Any, in_path: str, out_path: str, threads: int, format: str,
              skip_bad: bool, progress: Optional[Callable[[int, int, int], None]]) -> Dict[str, Any]:
        from ._lib import DeidOpts, PROGRESS_FN
        own = not isinstance(policy, Policy)
        pol = Policy(self, policy) if own else policy
        try:
            fmt = _FORMATS.get(format)
            if fmt is None:
                raise InvalidArgument("format must be one of " + ", ".join(_FORMATS), -1)
            # Keep the callback object alive for the whole call (ctypes does not).
            cb = PROGRESS_FN(lambda _u, r, d, t: progress(r, d, t)) if progress else PROGRESS_FN()
            opts = DeidOpts(1, fmt, threads, int(skip_bad), cb, None)
            data = self._buf_call(fname, pol._handle(), _b(os.fspath(in_path)), _b(os.fspath(out_path)),
                                  byref(opts))
        finally:
            if own:
                pol.close()
        return json.loads(data.decode("utf-8"))

    def deidentify_file(self, policy: Any, in_path: str, out_path: str, *, threads: int = 1,
                        format: str = "auto", skip_bad: bool = False,
                        progress: Optional[Callable[[int, int, int], None]] = None) -> Dict[str, Any]:
        """De-identify a file (JSON lines, JSON array, BSON, CSV) into ``out_path`` (atomic).

        ``policy`` is a :class:`Policy` or anything :meth:`policy` accepts.
        ``progress(records, bytes_done, bytes_total)`` is called from this thread.
        Returns the report (counts per field and action, bad records ...).
        """
        return self._deid("phicrypt_deid_file", policy, in_path, out_path, threads, format, skip_bad, progress)

    def reidentify_file(self, policy: Any, in_path: str, out_path: str, *, threads: int = 1,
                        format: str = "auto", skip_bad: bool = False,
                        progress: Optional[Callable[[int, int, int], None]] = None) -> Dict[str, Any]:
        """Reverse the reversible actions (tokenize, encrypt) of :meth:`deidentify_file`."""
        return self._deid("phicrypt_reid_file", policy, in_path, out_path, threads, format, skip_bad, progress)

    def deidentify_json(self, policy: Any, document: Union[str, bytes]) -> str:
        """De-identify one JSON document (a line of a JSON-lines export)."""
        own = not isinstance(policy, Policy)
        pol = Policy(self, policy) if own else policy
        try:
            d = _text(document)
            return self._buf_call("phicrypt_deid_json", pol._handle(), d, len(d)).decode("utf-8")
        finally:
            if own:
                pol.close()


__all__ = ["Client", "Policy", "Session", "NORM_TRIM", "NORM_CASEFOLD", "NORM_COLLAPSE"]
