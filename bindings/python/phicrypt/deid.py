"""De-identification of exports: policies, files, single documents (deid.h)."""
from __future__ import annotations

import json
import os
import weakref
from ctypes import byref, c_void_p
from typing import Any, Callable, Dict, Mapping, Optional, Union

from ._lib import DeidOpts, PROGRESS_FN, lib
from ._util import _b, _text
from .errors import InvalidArgument

_FORMATS = {"auto": 0, "jsonl": 1, "json": 2, "bson": 3, "csv": 4}
PolicyLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]


class Policy:
    """A validated de-identification policy bound to a client (see :meth:`Client.policy`).

    The C policy holds the client by reference; this object keeps the client
    alive and is freed before the client closes.
    """

    def __init__(self, client: Any, policy: PolicyLike) -> None:
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



class DeidMixin:
    """Client methods over deid.h (mixed into :class:`phicrypt.Client`)."""

    # -- de-identification ------------------------------------------------------------------------
    def policy(self, policy: PolicyLike) -> Policy:
        """Parse and validate a de-identification policy (dict, JSON text or path)."""
        return Policy(self, policy)

    def _deid(self, fname: str, policy: Any, in_path: str, out_path: str, threads: int, format: str,
              skip_bad: bool, progress: Optional[Callable[[int, int, int], None]],
              pre: tuple = ()) -> Dict[str, Any]:
        own = not isinstance(policy, Policy)
        pol = Policy(self, policy) if own else policy
        try:
            fmt = _FORMATS.get(format)
            if fmt is None:
                raise InvalidArgument("format must be one of " + ", ".join(_FORMATS), -1)
            # Keep the callback object alive for the whole call (ctypes does not).
            cb = PROGRESS_FN(lambda _u, r, d, t: progress(r, d, t)) if progress else PROGRESS_FN()
            opts = DeidOpts(1, fmt, threads, int(skip_bad), cb, None)
            data = self._buf_call(fname, *pre, pol._handle(), _b(os.fspath(in_path)), _b(os.fspath(out_path)),
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

