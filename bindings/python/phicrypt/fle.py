"""Explicit and automatic client-side field-level encryption (fle.h)."""
from __future__ import annotations

from collections.abc import Mapping
from ctypes import byref
from typing import Any, Optional, Union

from . import _bson, _check
from ._lib import EncryptOpts
from ._util import DocLike, KeyIdLike, _key_id
from .errors import InvalidArgument

_ALGORITHMS = {"deterministic": 1, "random": 2}
_CT_HINT = ("a ciphertext is the bson.Binary subtype 6 (or its bytes) that encrypt() returned; "
            "for Extended JSON text use decrypt_json()")


def _doc(fn: str, arg: str, v: Any) -> Any:
    """A document argument: a Mapping (with bson) or BSON bytes."""
    if isinstance(v, (Mapping, bytes, bytearray, memoryview)):
        return v
    raise _check.fail(fn, arg, "a dict or BSON bytes", v,
                      "JSON text: parse it with bson.json_util.loads" if isinstance(v, str) else "")


class EncryptionMixin:
    """Client methods over fle.h (mixed into :class:`phicrypt.Client`)."""

    # -- explicit encryption ----------------------------------------------------------------------
    @staticmethod
    def _enc_opts(fn: str, key_id: Any, key_alt_name: Any, algorithm: Any) -> EncryptOpts:
        _check.string(fn, "algorithm", algorithm)
        alg = _ALGORITHMS.get(algorithm)
        if alg is None:
            raise InvalidArgument(f"{fn}(): algorithm must be 'deterministic' or 'random'", -1)
        if (key_id is None) == (key_alt_name is None):
            raise InvalidArgument(f"{fn}(): give exactly one of key_id and key_alt_name", -1)
        kid = _key_id(key_id, fn) if key_id is not None else None
        return EncryptOpts(1, alg, kid, _check.cstring(fn, "key_alt_name", key_alt_name, optional=True))

    def encrypt(self, value: Any, *, algorithm: str, key_id: Optional[KeyIdLike] = None,
                key_alt_name: Optional[str] = None) -> Any:
        """Encrypt one value (CSFLE) under the data key ``key_id`` or ``key_alt_name``.

        ``algorithm`` is required: ``"deterministic"`` (equal values give equal
        ciphertexts: queryable, but it reveals which records share a value) or
        ``"random"``. With bson: any BSON-encodable Python value; returns
        ``bson.Binary`` subtype 6. Without: ``value`` is BSON bytes of
        ``{"v": value}``; returns the subtype 6 payload as bytes.
        """
        opts = self._enc_opts("encrypt", key_id, key_alt_name, algorithm)
        if self._bson:
            try:
                doc = _bson.encode({"v": value})
            except _bson.EncodeError:
                raise _check.fail("encrypt", "value", "a BSON-encodable value", value) from None
        elif isinstance(value, (bytes, bytearray, memoryview)):
            doc = bytes(value)
        else:
            raise _check.fail("encrypt", "value", "BSON bytes of {'v': value} without the bson module", value)
        out = self._buf_call("phicrypt_encrypt", doc, len(doc), byref(opts))
        return _bson.binary6(_bson.unwrap_binary6(out), self._bson)

    def decrypt(self, ciphertext: bytes) -> Any:
        """Decrypt a subtype 6 payload (``Binary`` or bytes): the Python value with
        bson, else BSON bytes of ``{"v": value}``."""
        doc = _bson.wrap_binary6(_check.raw("decrypt", "ciphertext", ciphertext, _CT_HINT))
        out = self._buf_call("phicrypt_decrypt", doc, len(doc))
        return _bson.decode(out)["v"] if self._bson else out

    def encrypt_bson(self, value_doc: bytes, *, algorithm: str, key_id: Optional[KeyIdLike] = None,
                     key_alt_name: Optional[str] = None) -> bytes:
        """BSON ``{"v": value}`` in, BSON ``{"v": BinData(6, ...)}`` out."""
        d = _check.raw("encrypt_bson", "value_doc", value_doc)
        opts = self._enc_opts("encrypt_bson", key_id, key_alt_name, algorithm)
        return self._buf_call("phicrypt_encrypt", d, len(d), byref(opts))

    def decrypt_bson(self, ciphertext_doc: bytes) -> bytes:
        """BSON ``{"v": BinData(6, ...)}`` in, BSON ``{"v": value}`` out."""
        d = _check.raw("decrypt_bson", "ciphertext_doc", ciphertext_doc)
        return self._buf_call("phicrypt_decrypt", d, len(d))

    def encrypt_json(self, value_json: str, *, algorithm: str, key_id: Optional[KeyIdLike] = None,
                     key_alt_name: Optional[str] = None) -> str:
        """One Extended JSON value in (a string is quoted: ``'"123-45-6789"'``); the ciphertext as
        canonical Extended JSON out."""
        v = _check.cstring("encrypt_json", "value_json", value_json)
        opts = self._enc_opts("encrypt_json", key_id, key_alt_name, algorithm)
        return self._buf_call("phicrypt_encrypt_json", v, byref(opts)).decode("utf-8")

    def decrypt_json(self, ciphertext_json: str, *, canonical: bool = False) -> str:
        """A ciphertext as Extended JSON in; the value as Extended JSON out."""
        c = _check.cstring("decrypt_json", "ciphertext_json", ciphertext_json)
        return self._buf_call("phicrypt_decrypt_json", c,
                              int(_check.boolean("decrypt_json", "canonical", canonical))).decode("utf-8")

    # -- automatic encryption ---------------------------------------------------------------------
    def encrypt_command(self, db: str, cmd: DocLike) -> Any:
        """Encrypt a MongoDB command per the schema map (dict in, dict out; bytes in, bytes out)."""
        d = _check.cstring("encrypt_command", "db", db)
        data = self._to_bson(_doc("encrypt_command", "cmd", cmd))
        return self._from_bson(self._buf_call("phicrypt_encrypt_command", d, data, len(data)), cmd)

    def decrypt_document(self, doc: Union[DocLike, str]) -> Any:
        """Decrypt every encrypted value of a document, at any depth.

        ``doc`` is a Python document (dict, ``bson.SON``, ``RawBSONDocument``), BSON bytes, or
        Extended JSON text (returned as relaxed Extended JSON text). A dict made by ``json.loads``
        of Extended JSON holds ``{"$binary": ...}`` dicts, not ciphertexts: it raises BadData.
        With ``access`` configured this raises AccessDenied: use :meth:`decrypt_document_as`.
        """
        data, like = self._doc_in("decrypt_document", doc)
        return self._doc_out(self._buf_call("phicrypt_decrypt_document", data, len(data)), like)

    def encrypt_document(self, ns: str, doc: DocLike) -> Any:
        """The document as inserted into ``ns`` ("db.collection"), encrypted per the schema map."""
        n = _check.cstring("encrypt_document", "ns", ns)
        data = self._to_bson(_doc("encrypt_document", "doc", doc))
        return self._from_bson(self._buf_call("phicrypt_encrypt_document", n, data, len(data)), doc)

    def analyze_command(self, db: str, cmd: DocLike) -> Any:
        """What automatic encryption would do: {"ok": bool, "fields": [...]} or {"ok": false, "error"}."""
        d = _check.cstring("analyze_command", "db", db)
        data = self._to_bson(_doc("analyze_command", "cmd", cmd))
        return self._from_bson(self._buf_call("phicrypt_analyze_command", d, data, len(data)), cmd)
