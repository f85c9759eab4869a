"""The phicrypt client: CSFLE, data keys, keyring, tokens, pseudonyms, de-identification.

A :class:`Client` wraps one ``phicrypt_t``, which the C library makes
thread-safe: share one client between threads. Every call releases the GIL
while it runs in C (ctypes ``CDLL``). Bytes the library returns (plaintext
included) are copied into Python objects and the C buffer is wiped
(``phicrypt_buf_dispose``); Python's own copies cannot be wiped, so keep them
short-lived. The methods live in one module per C header; this class joins them.
"""
from __future__ import annotations

from ._handle import _Handle
from .access import AccessMixin, Session
from .deid import DeidMixin, Policy
from .fle import EncryptionMixin
from .keys import DataKeysMixin
from .tokens import NORM_CASEFOLD, NORM_COLLAPSE, NORM_TRIM, TokensMixin


class Client(DataKeysMixin, EncryptionMixin, AccessMixin, TokensMixin, DeidMixin, _Handle):
    """A phicrypt client.

    ``config`` is a dict, JSON text, or the path of a ``phicrypt.json``
    (relative paths inside a file resolve against its directory, inside a
    dict or JSON text against the current directory).

    ``use_bson`` (default: whether pymongo's ``bson`` is importable) chooses
    how values cross the API: Python values and dicts, or BSON bytes.
    It is a context manager; :meth:`close` is idempotent and waits for calls
    in flight, and a client never closed is freed when garbage-collected.
    """


__all__ = ["Client", "Policy", "Session", "NORM_TRIM", "NORM_CASEFOLD", "NORM_COLLAPSE"]
