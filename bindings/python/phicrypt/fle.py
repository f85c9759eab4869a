"""Explicit and automatic client-side field-level encryption (fle.h)."""
from __future__ import annotations

from ctypes import byref
from typing import Any, Optional, Union

from . import _bson
from ._lib import EncryptOpts
from ._util import DocLike, _b, _key_id
from .errors import InvalidArgument

_ALGORITHMS = {"deterministic": 1, "random": 2}


class EncryptionMixin:
    """Client methods over fle.h (mixed into :class:`phicrypt.Client`)."""

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

    def decrypt_document(self, doc: Union[DocLike, str]) -> Any:
        """Decrypt every encrypted value of a document, at any depth.

        ``doc`` is a Python document (dict, ``bson.SON``, ``RawBSONDocument``), BSON bytes, or
        Extended JSON text (returned as relaxed Extended JSON text). A dict made by ``json.loads``
        of Extended JSON holds ``{"$binary": ...}`` dicts, not ciphertexts: it raises BadData.
        With ``access`` configured this raises AccessDenied: use :meth:`decrypt_document_as`.
        """
        data, like = self._doc_in(doc)
        return self._doc_out(self._buf_call("phicrypt_decrypt_document", data, len(data)), like)

    def encrypt_document(self, ns: str, doc: DocLike) -> Any:
        """The document as inserted into ``ns`` ("db.collection"), encrypted per the schema map."""
        data = self._to_bson(doc)
        return self._from_bson(self._buf_call("phicrypt_encrypt_document", _b(ns), data, len(data)), doc)

    def analyze_command(self, db: str, cmd: DocLike) -> Any:
        """What automatic encryption would do: {"ok": bool, "fields": [...]} or {"ok": false, "error"}."""
        data = self._to_bson(cmd)
        return self._from_bson(self._buf_call("phicrypt_analyze_command", _b(db), data, len(data)), cmd)

