"""Minimum necessary (access.h) and the audit log (audit.h).

Argument orders follow the C functions: ``session``, then ``ns`` (the
namespace "db.collection", or None), then the field, then the data.
"""
from __future__ import annotations

from ctypes import byref
from typing import Any, Dict, NamedTuple, Optional, Union

from . import _bson, _check
from ._lib import SessionStruct
from ._util import DocLike
from .deid import PathLike, Policy, PolicyLike
from .tokens import token_opts


class Session(NamedTuple):
    """Who is asking, in which role, and why (minimum necessary; see access.h).

    ``subject`` optionally names the patient concerned, only to compute the
    pseudonymous subject id of the audit line.
    """
    actor: str
    role: str
    purpose: str
    subject: Optional[str] = None

    def _c(self, fn: str = "Session") -> SessionStruct:
        return SessionStruct(1, _check.cstring(fn, "session.actor", self.actor),
                             _check.cstring(fn, "session.role", self.role),
                             _check.cstring(fn, "session.purpose", self.purpose),
                             _check.cstring(fn, "session.subject", self.subject, optional=True))


def _session(fn: str, session: Any) -> SessionStruct:
    _check.instance(fn, "session", session, Session, "a phicrypt.Session",
                    "phicrypt.Session(actor, role, purpose)")
    return session._c(fn)


class AccessMixin:
    """Client methods over access.h and audit.h (mixed into :class:`phicrypt.Client`)."""

    # -- minimum necessary (access.h) -------------------------------------------------------------
    def decrypt_document_as(self, session: Session, ns: Optional[str], doc: Union[DocLike, str]) -> Any:
        """Decrypt only the fields ``session`` may see in ``ns``; audited. Denied fields stay
        encrypted, become null or a marker (configuration ``access.denied_fields``)."""
        fn = "decrypt_document_as"
        s = _session(fn, session)
        n = _check.cstring(fn, "ns", ns, optional=True)
        data, like = self._doc_in(fn, doc)
        return self._doc_out(self._buf_call("phicrypt_decrypt_document_as", byref(s), n, data, len(data)), like)

    def decrypt_as(self, session: Session, ns: Optional[str], field: str, ciphertext: bytes) -> Any:
        """:meth:`decrypt` of the value of ``field`` (a path), checked against the session's rules."""
        fn = "decrypt_as"
        s = _session(fn, session)
        n = _check.cstring(fn, "ns", ns, optional=True)
        f = _check.cstring(fn, "field", field)
        doc = _bson.wrap_binary6(_check.raw(fn, "ciphertext", ciphertext,
                                            "the bson.Binary subtype 6 (or its bytes) encrypt() returned"))
        out = self._buf_call("phicrypt_decrypt_as", byref(s), n, f, doc, len(doc))
        return _bson.decode(out)["v"] if self._bson else out

    def detokenize_as(self, session: Session, ns: Optional[str], field: str, key_name: str,
                      token: Union[str, bytes], *, format: Optional[str] = None, context: Optional[str] = None,
                      alphabet: Optional[str] = None, key_version: int = 0) -> str:
        """:meth:`detokenize` of a token of ``field``: the role must see the field and may use the
        keyring key (``access.roles.<role>.keys``); audited."""
        fn = "detokenize_as"
        s = _session(fn, session)
        n = _check.cstring(fn, "ns", ns, optional=True)
        f = _check.cstring(fn, "field", field)
        k = _check.cstring(fn, "key_name", key_name)
        t = _check.text(fn, "token", token)
        opts = token_opts(fn, format, context, alphabet, key_version)
        return self._buf_call("phicrypt_detokenize_as", byref(s), n, f, k, t, len(t), byref(opts)).decode("utf-8")

    def reidentify_file_as(self, session: Session, ns: Optional[str], policy: Union[Policy, PolicyLike],
                           in_path: PathLike, out_path: PathLike, *, threads: int = 1, format: str = "auto",
                           skip_bad: bool = False) -> Dict[str, Any]:
        """:meth:`reidentify_file` for ``session``: restores the fields the role may see (with
        keys it may use), leaves the others as configured; the report lists ``reid_fields`` and
        ``withheld_fields``. The output appears only once its audit line is written."""
        fn = "reidentify_file_as"
        s = _session(fn, session)
        n = _check.cstring(fn, "ns", ns, optional=True)
        return self._deid("phicrypt_reid_file_as", fn, policy, in_path, out_path, threads, format, skip_bad, None,
                          pre=(byref(s), n))

    def access_allowed(self, session: Session, ns: Optional[str], field: str) -> bool:
        """Whether ``session`` may decrypt ``field`` of ``ns`` (nothing is decrypted)."""
        from .errors import AccessDenied
        fn = "access_allowed"
        s = _session(fn, session)
        n = _check.cstring(fn, "ns", ns, optional=True)
        f = _check.cstring(fn, "field", field)
        try:
            self._call("phicrypt_access_check", byref(s), n, f)
        except AccessDenied:
            return False
        return True

    # -- audit log (audit.h) ----------------------------------------------------------------------
    def audit_verify(self, path: Optional[PathLike] = None) -> str:
        """Check the hash chain of an audit log (default: the configured one).

        Returns "intact: N lines"; raises AuthenticationError (a line edited, removed,
        reordered or forged) or BadData (a torn line) naming the first bad line.
        """
        p = None if path is None else _check.path("audit_verify", "path", path)
        return self._buf_call("phicrypt_audit_verify", p).decode("utf-8")

    def audit_disclosures(self, subject_value: str, since_ms: int = 0) -> Any:
        """Accounting of disclosures for one patient: {"subject", "disclosures": [...]}
        (a dict with bson, else BSON bytes)."""
        fn = "audit_disclosures"
        v = _check.cstring(fn, "subject_value", subject_value)
        data = self._buf_call("phicrypt_audit_disclosures", v, _check.integer(fn, "since_ms", since_ms, 0,
                                                                                _check.INT64_MAX))
        return _bson.decode(data) if self._bson else data

    def audit_subject_id(self, subject_value: str) -> str:
        """The pseudonymous subject id ("sub1.<hex>") the audit log records for a patient."""
        return self._buf_call("phicrypt_audit_subject_id",
                              _check.cstring("audit_subject_id", "subject_value", subject_value)).decode("utf-8")
