"""Argument checks shared by every public function.

ctypes converts almost anything: ``bytes(123456789)`` is 123 MB of zeros, an
``int`` passed where a length is expected becomes a different call. Each
public entry point therefore checks the Python type of every argument first
and raises :class:`TypeError` naming the function, the argument, what it
takes and what it got (never the value: it may be PHI), plus a hint when the
mistake is a common one.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Tuple, Type, Union

BytesLike = Union[bytes, bytearray, memoryview]
_BYTES = (bytes, bytearray, memoryview)


def _kind(v: Any) -> str:
    return "None" if v is None else type(v).__name__


def fail(fn: str, arg: str, wants: str, got: Any, hint: str = "") -> TypeError:
    msg = f"{fn}(): {arg} must be {wants}, not {_kind(got)}"
    return TypeError(msg + (f" ({hint})" if hint else ""))


def string(fn: str, arg: str, v: Any, *, optional: bool = False) -> Optional[str]:
    """A str (or None when optional); nothing else, not even bytes."""
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise fail(fn, arg, "str or None" if optional else "str", v)
    return v


def cstring(fn: str, arg: str, v: Any, *, optional: bool = False) -> Optional[bytes]:
    """A str checked and encoded for a C ``const char *`` (no NUL inside)."""
    s = string(fn, arg, v, optional=optional)
    if s is None:
        return None
    if "\0" in s:
        raise ValueError(f"{fn}(): {arg} contains a NUL character")
    return s.encode("utf-8")


def text(fn: str, arg: str, v: Any, hint: str = "") -> bytes:
    """A str (UTF-8) or bytes-like value; an int is refused (``bytes(n)`` is n zero bytes)."""
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, _BYTES):
        return bytes(v)
    raise fail(fn, arg, "str or bytes", v, hint)


def raw(fn: str, arg: str, v: Any, hint: str = "") -> bytes:
    """Bytes-like only (a str is refused: its encoding would be a guess)."""
    if isinstance(v, _BYTES):
        return bytes(v)
    raise fail(fn, arg, "bytes", v, hint)


def integer(fn: str, arg: str, v: Any, lo: int, hi: int) -> int:
    """An int in [lo, hi]; bool is refused (``True`` is not a count)."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise fail(fn, arg, "int", v)
    if not lo <= v <= hi:
        raise ValueError(f"{fn}(): {arg} must be between {lo} and {hi}, not {v}")
    return v


def boolean(fn: str, arg: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise fail(fn, arg, "bool", v)
    return v


def path(fn: str, arg: str, v: Any) -> bytes:
    """A file path: str or os.PathLike (bytes paths are refused to keep errors readable)."""
    if isinstance(v, os.PathLike):
        v = os.fspath(v)
    if not isinstance(v, str):
        raise fail(fn, arg, "str or os.PathLike", v)
    if "\0" in v:
        raise ValueError(f"{fn}(): {arg} contains a NUL character")
    return v.encode("utf-8")


def callable_or_none(fn: str, arg: str, v: Any) -> Any:
    if v is not None and not callable(v):
        raise fail(fn, arg, "callable or None", v)
    return v


def instance(fn: str, arg: str, v: Any, cls: Union[Type[Any], Tuple[Type[Any], ...]], wants: str,
             hint: str = "") -> Any:
    if not isinstance(v, cls):
        raise fail(fn, arg, wants, v, hint)
    return v


UINT32_MAX = 0xFFFFFFFF
INT64_MAX = 2**63 - 1
SIZE_MAX = 2**64 - 1
