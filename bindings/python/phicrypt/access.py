"""Minimum necessary (access.h) and the audit log (audit.h)."""
from __future__ import annotations

from ctypes import byref
from typing import Any, NamedTuple, Optional, Union

from . import _bson
from ._lib import SessionStruct
from ._util import DocLike, _b, _text


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




class AccessMixin:
    """Client methods over access.h and audit.h (mixed into :class:`phicrypt.Client`)."""

    # -- minimum necessary (access.h) -------------------------------------------------------------
    def decrypt_document_as(self, session: Session, doc: DocLike, *, ns: Optional[str] = None) -> Any:
        """Decrypt only the fields ``session`` may see in ``ns``; audited. Denied fields stay
        encrypted, become null or a marker (configuration ``access.denied_fields``)."""
        data, like = self._doc_in(doc)
        s = session._c()
        return self._doc_out(self._buf_call("phicrypt_decrypt_document_as", byref(s), _b(ns), data, len(data)),
                             like)

    def decrypt_as(self, session: Session, ciphertext: bytes, field: str, *, ns: Optional[str] = None) -> Any:
        """:meth:`decrypt` of the value of ``field`` (a path), checked against the session's rules."""
        doc = _bson.wrap_binary6(bytes(ciphertext))
        s = session._c()
        out = self._buf_call("phicrypt_decrypt_as", byref(s), _b(ns), _b(field), doc, len(doc))
        return _bson.decode(out)["v"] if self._bson else out

    def detokenize_as(self, session: Session, key_name: str, token: Union[str, bytes], field: str, *,
                      ns: Optional[str] = None, format: Optional[str] = None, context: Optional[str] = None,
                      alphabet: Optional[str] = None, key_version: int = 0) -> str:
        """:meth:`detokenize` of a token of ``field``: the role must see the field and may use the
        keyring key (``access.roles.<role>.keys``); audited."""
        from ._lib import TokenOpts
        t = _text(token)
        opts = TokenOpts(1, _b(format), _b(context), _b(alphabet), key_version)
        s = session._c()
        return self._buf_call("phicrypt_detokenize_as", byref(s), _b(ns), _b(field), _b(key_name), t, len(t),
                              byref(opts)).decode("utf-8")

    def reidentify_file_as(self, session: Session, policy: Any, in_path: str, out_path: str, *,
                           ns: Optional[str] = None, threads: int = 1, format: str = "auto",
                           skip_bad: bool = False) -> Any:
        """:meth:`reidentify_file` for ``session``: restores the fields the role may see (with
        keys it may use), leaves the others as configured; the report lists ``reid_fields`` and
        ``withheld_fields``. The output appears only once its audit line is written."""
        s = session._c()
        return self._deid("phicrypt_reid_file_as", policy, in_path, out_path, threads, format, skip_bad, None,
                          pre=(byref(s), _b(ns)))

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

