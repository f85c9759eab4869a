"""The client handle: creation, thread-safe use, close, errors, BSON conversion."""
from __future__ import annotations

import threading
import weakref
from ctypes import byref, c_void_p
from typing import Any, Optional

from . import _bson, _check
from ._lib import lib, new_buf, take
from ._util import ConfigLike, DocLike, _config_json_or_path, _raise_new_failure
from .errors import InvalidArgument, PhicryptError, error_for


class _Handle:
    """The handle, its lifetime and the call plumbing every Client method uses."""

    def __init__(self, config: ConfigLike, *, use_bson: Optional[bool] = None) -> None:
        if use_bson is not None:
            _check.boolean("Client", "use_bson", use_bson)
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
        self._policies: "weakref.WeakSet[Any]" = weakref.WeakSet()  # open deid Policy objects
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

    def __enter__(self) -> "_Handle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    class _Use:
        __slots__ = ("c", "h")

        def __init__(self, c: "_Handle") -> None:
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

    def _use(self) -> "_Handle._Use":
        return _Handle._Use(self)

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
            raise TypeError("without the bson module (python3-bson), documents are BSON bytes")
        return _bson.encode(doc)

    def _doc_in(self, fn: str, doc: Any) -> "tuple[bytes, Any]":
        """A document for decryption as BSON, refusing what cannot be meant: a dict holding
        Extended JSON wrappers (``json.loads`` output) would decrypt nothing."""
        from collections.abc import Mapping
        from .errors import BadData
        raw = getattr(doc, "raw", None)  # bson.raw_bson.RawBSONDocument
        if not isinstance(doc, (str, Mapping, bytes, bytearray, memoryview)) and \
                not isinstance(raw, (bytes, bytearray)):
            raise _check.fail(fn, "doc", "a dict, BSON bytes or Extended JSON text", doc)
        if isinstance(doc, str):
            return self._to_bson(_bson.from_ext_json(doc)), doc
        if isinstance(raw, (bytes, bytearray)):
            return bytes(raw), {}
        if not isinstance(doc, (bytes, bytearray, memoryview)):
            where = _bson.ext_json_wrapper(doc)
            if where:
                raise BadData(f"decrypt document: '{where}' is an Extended JSON wrapper (a dict from json.loads?); "
                              "pass the JSON text itself or a document from bson.json_util.loads", -2)
        return self._to_bson(doc), doc

    def _doc_out(self, data: bytes, like: Any) -> Any:
        if isinstance(like, str):
            return _bson.to_ext_json(_bson.decode(data))
        return self._from_bson(data, like)

    def _from_bson(self, data: bytes, like: Any) -> Any:
        """Decode when the caller gave a Python document (or none), else return bytes."""
        if self._bson and not isinstance(like, (bytes, bytearray, memoryview)):
            return _bson.decode(data)
        return data

