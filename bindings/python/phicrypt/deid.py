"""De-identification of exports: policies, files, single documents (deid.h)."""
from __future__ import annotations

import json
import os
import weakref
from collections.abc import Mapping as _MappingABC
from ctypes import byref, c_void_p
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

from . import _check
from ._lib import DeidOpts, PROGRESS_FN, lib
from .errors import InvalidArgument

_FORMATS = {"auto": 0, "jsonl": 1, "json": 2, "bson": 3, "csv": 4}
PolicyLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]
PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int, int], None]
_MAX_THREADS = 1024


def _policy_text(fn: str, policy: Any) -> str:
    """The policy's JSON text (a path is read here, so that its errors name the file)."""
    if isinstance(policy, _MappingABC):
        return json.dumps(policy)
    if isinstance(policy, os.PathLike) or (isinstance(policy, str) and not policy.lstrip().startswith("{")):
        with open(os.fspath(policy), encoding="utf-8") as f:
            return f.read()
    if isinstance(policy, str):
        return policy
    raise _check.fail(fn, "policy", "a dict, JSON text, a path or a phicrypt.Policy", policy)


class Policy:
    """A validated de-identification policy bound to a client (see :meth:`Client.policy`).

    The C policy holds the client by reference; this object keeps the client
    alive and is freed before the client closes.
    """

    def __init__(self, client: Any, policy: PolicyLike, fn: str = "policy") -> None:
        text = _policy_text(fn, policy)
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


def deid_opts(fn: str, threads: Any, format: Any, skip_bad: Any,
              progress: Any) -> Tuple[DeidOpts, Any]:
    """phicrypt_deid_opts from checked arguments, and the callback object to keep alive."""
    t = _check.integer(fn, "threads", threads, 0, _MAX_THREADS)
    fmt = _FORMATS.get(_check.string(fn, "format", format) or "")
    if fmt is None:
        raise InvalidArgument(f"{fn}(): format must be one of " + ", ".join(_FORMATS), -1)
    sb = _check.boolean(fn, "skip_bad", skip_bad)
    _check.callable_or_none(fn, "progress", progress)
    # ctypes does not keep the callback alive: the caller holds it for the whole call.
    cb = PROGRESS_FN(lambda _u, r, d, total: progress(r, d, total)) if progress else PROGRESS_FN()
    return DeidOpts(1, fmt, t, int(sb), cb, None), cb


class DeidMixin:
    """Client methods over deid.h (mixed into :class:`phicrypt.Client`)."""

    # -- de-identification ------------------------------------------------------------------------
    def policy(self, policy: PolicyLike) -> Policy:
        """Parse and validate a de-identification policy (dict, JSON text or path)."""
        return Policy(self, policy)

    def _deid(self, fname: str, fn: str, policy: Any, in_path: Any, out_path: Any, threads: Any, format: Any,
              skip_bad: Any, progress: Any, pre: tuple = ()) -> Dict[str, Any]:
        src = _check.path(fn, "in_path", in_path)
        dst = _check.path(fn, "out_path", out_path)
        opts, cb = deid_opts(fn, threads, format, skip_bad, progress)
        own = not isinstance(policy, Policy)
        if own:
            _check.instance(fn, "policy", policy, (_MappingABC, str, os.PathLike),
                            "a dict, JSON text, a path or a phicrypt.Policy")
        pol = Policy(self, policy, fn) if own else policy
        try:
            data = self._buf_call(fname, *pre, pol._handle(), src, dst, byref(opts))
        finally:
            del cb
            if own:
                pol.close()
        return json.loads(data.decode("utf-8"))

    def deidentify_file(self, policy: Union[Policy, PolicyLike], in_path: PathLike, out_path: PathLike, *,
                        threads: int = 1, format: str = "auto", skip_bad: bool = False,
                        progress: Optional[Progress] = None) -> Dict[str, Any]:
        """De-identify a file (JSON lines, JSON array, BSON, CSV) into ``out_path`` (atomic).

        ``policy`` is a :class:`Policy` or anything :meth:`policy` accepts.
        ``progress(records, bytes_done, bytes_total)`` is called from this thread.
        Returns the report (counts per field and action, bad records ...).
        """
        return self._deid("phicrypt_deid_file", "deidentify_file", policy, in_path, out_path, threads, format,
                          skip_bad, progress)

    def reidentify_file(self, policy: Union[Policy, PolicyLike], in_path: PathLike, out_path: PathLike, *,
                        threads: int = 1, format: str = "auto", skip_bad: bool = False,
                        progress: Optional[Progress] = None) -> Dict[str, Any]:
        """Reverse the reversible actions (tokenize, encrypt) of :meth:`deidentify_file`."""
        return self._deid("phicrypt_reid_file", "reidentify_file", policy, in_path, out_path, threads, format,
                          skip_bad, progress)

    def deidentify_json(self, policy: Union[Policy, PolicyLike], document: Union[str, bytes]) -> str:
        """De-identify one JSON document (a line of a JSON-lines export) given as JSON text."""
        d = _check.text("deidentify_json", "document", document,
                        "pass JSON text: json.dumps(doc) or bson.json_util.dumps(doc)"
                        if isinstance(document, _MappingABC) else "")
        own = not isinstance(policy, Policy)
        if own:
            _check.instance("deidentify_json", "policy", policy, (_MappingABC, str, os.PathLike),
                            "a dict, JSON text, a path or a phicrypt.Policy")
        pol = Policy(self, policy, "deidentify_json") if own else policy
        try:
            return self._buf_call("phicrypt_deid_json", pol._handle(), d, len(d)).decode("utf-8")
        finally:
            if own:
                pol.close()
