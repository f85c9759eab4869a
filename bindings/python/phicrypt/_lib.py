"""Loading libphicrypt.so with ctypes and declaring the C prototypes.

Search order: ``$PHICRYPT_LIBRARY`` (a path), the build tree of the source
checkout this package sits in (``<repo>/build/libphicrypt.so``; absent once
pip-installed), then the installed ``libphicrypt.so.0`` (the soname the
package was written for: the dynamic loader's path, which covers the Debian
package and ``meson install`` into /usr, then meson's default prefix
/usr/local and this Python's prefix, for an install ldconfig has not seen).

Functions are bound lazily by name: a library built before a module (the
keyring, FF1, de-identification) existed still loads, and calling a missing
function raises :class:`phicrypt.Unsupported`.

The library is opened with :class:`ctypes.CDLL`, which releases the GIL for
the duration of every foreign call (``PyDLL`` would keep it), so long calls
such as file de-identification let other Python threads run.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import sysconfig
import threading
from ctypes import POINTER, Structure, byref, c_char_p, c_int, c_size_t, c_uint, c_uint32, c_void_p
from typing import Any, Dict, List, Optional, Tuple

from .errors import Unsupported


class Buf(Structure):
    """struct phicrypt_buf: bytes owned by the library, freed by phicrypt_buf_dispose."""
    _fields_ = [("data", c_void_p), ("len", c_size_t)]


class DatakeyOpts(Structure):
    _fields_ = [("version", c_uint), ("provider", c_char_p), ("master_key_json", c_char_p),
                ("alt_names", POINTER(c_char_p)), ("alt_names_count", c_size_t),
                ("key_material", c_char_p), ("key_material_len", c_size_t)]


class EncryptOpts(Structure):
    _fields_ = [("version", c_uint), ("algorithm", c_int), ("key_id", c_char_p),
                ("key_alt_name", c_char_p)]


class TokenOpts(Structure):
    _fields_ = [("version", c_uint), ("format", c_char_p), ("context", c_char_p),
                ("alphabet", c_char_p), ("key_version", c_uint32)]


class PseudonymOpts(Structure):
    _fields_ = [("version", c_uint), ("context", c_char_p), ("normalize", c_uint),
                ("length", c_size_t), ("key_version", c_uint32)]


PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64)


class DeidOpts(Structure):
    _fields_ = [("version", c_uint), ("format", c_int), ("threads", c_uint), ("skip_bad", c_int),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p)]


class SessionStruct(Structure):
    _fields_ = [("version", c_uint), ("actor", c_char_p), ("role", c_char_p), ("purpose", c_char_p),
                ("subject", c_char_p)]


H = c_void_p  # phicrypt_t *
PBUF = POINTER(Buf)

# name -> (restype, argtypes). Mirrors include/phicrypt/*.h.
_PROTOTYPES: Dict[str, Tuple[Any, list]] = {
    # common.h / client.h
    "phicrypt_buf_dispose": (None, [PBUF]),
    "phicrypt_strerror": (c_char_p, [c_int]),
    "phicrypt_init": (c_int, []),
    "phicrypt_version": (c_char_p, []),
    "phicrypt_mongocrypt_version": (c_char_p, []),
    "phicrypt_new": (c_int, [POINTER(H), c_char_p]),
    "phicrypt_new_from_file": (c_int, [POINTER(H), c_char_p]),
    "phicrypt_free": (None, [H]),
    "phicrypt_errmsg": (c_char_p, [H]),
    "phicrypt_errcode": (c_int, [H]),
    # keys.h
    "phicrypt_key_id_bytes": (c_size_t, []),
    "phicrypt_datakey_create": (c_int, [H, c_char_p, POINTER(DatakeyOpts)]),
    "phicrypt_datakey_get": (c_int, [H, PBUF, c_char_p]),
    "phicrypt_datakey_get_by_alt_name": (c_int, [H, PBUF, c_char_p]),
    "phicrypt_datakey_list": (c_int, [H, PBUF]),
    "phicrypt_datakey_delete": (c_int, [H, c_char_p]),
    "phicrypt_datakey_add_alt_name": (c_int, [H, c_char_p, c_char_p]),
    "phicrypt_datakey_remove_alt_name": (c_int, [H, c_char_p, c_char_p]),
    "phicrypt_datakey_id_by_alt_name": (c_int, [H, c_char_p, c_char_p]),
    "phicrypt_datakey_rewrap": (c_int, [H, POINTER(c_size_t), c_char_p, c_char_p, c_char_p]),
    "phicrypt_local_key_file_create": (c_int, [c_char_p]),
    # fle.h
    "phicrypt_encrypt": (c_int, [H, PBUF, c_char_p, c_size_t, POINTER(EncryptOpts)]),
    "phicrypt_decrypt": (c_int, [H, PBUF, c_char_p, c_size_t]),
    "phicrypt_encrypt_json": (c_int, [H, PBUF, c_char_p, POINTER(EncryptOpts)]),
    "phicrypt_decrypt_json": (c_int, [H, PBUF, c_char_p, c_int]),
    "phicrypt_encrypt_command": (c_int, [H, PBUF, c_char_p, c_char_p, c_size_t]),
    "phicrypt_decrypt_document": (c_int, [H, PBUF, c_char_p, c_size_t]),
    "phicrypt_encrypt_document": (c_int, [H, PBUF, c_char_p, c_char_p, c_size_t]),
    "phicrypt_analyze_command": (c_int, [H, PBUF, c_char_p, c_char_p, c_size_t]),
    # keyring.h
    "phicrypt_keyring_create": (c_int, [H, c_char_p, c_int]),
    "phicrypt_keyring_rotate": (c_int, [H, POINTER(c_uint32), c_char_p]),
    "phicrypt_keyring_retire": (c_int, [H, c_char_p, c_uint32]),
    "phicrypt_keyring_destroy": (c_int, [H, c_char_p, c_uint32]),
    "phicrypt_keyring_list": (c_int, [H, PBUF]),
    "phicrypt_tokenize": (c_int, [H, PBUF, c_char_p, c_char_p, c_size_t, POINTER(TokenOpts)]),
    "phicrypt_detokenize": (c_int, [H, PBUF, c_char_p, c_char_p, c_size_t, POINTER(TokenOpts)]),
    "phicrypt_pseudonymize": (c_int, [H, PBUF, c_char_p, c_char_p, c_size_t, POINTER(PseudonymOpts)]),
    "phicrypt_pseudonym_verify": (c_int, [H, c_char_p, c_char_p, c_size_t, c_char_p,
                                          POINTER(PseudonymOpts)]),
    # token.h (stand-alone FF1); out is a caller buffer of in_len + 1 bytes
    "phicrypt_ff1_keybytes": (c_size_t, []),
    "phicrypt_ff1_min_domain": (c_size_t, []),
    "phicrypt_ff1_encrypt": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_char_p,
                                     c_char_p, c_size_t]),
    "phicrypt_ff1_decrypt": (c_int, [c_void_p, c_char_p, c_size_t, c_char_p, c_size_t, c_char_p,
                                     c_char_p, c_size_t]),
    # access.h
    "phicrypt_decrypt_document_as": (c_int, [H, PBUF, POINTER(SessionStruct), c_char_p, c_char_p, c_size_t]),
    "phicrypt_decrypt_as": (c_int, [H, PBUF, POINTER(SessionStruct), c_char_p, c_char_p, c_char_p, c_size_t]),
    "phicrypt_access_check": (c_int, [H, POINTER(SessionStruct), c_char_p, c_char_p]),
    "phicrypt_detokenize_as": (c_int, [H, PBUF, POINTER(SessionStruct), c_char_p, c_char_p, c_char_p, c_char_p,
                                       c_size_t, POINTER(TokenOpts)]),
    "phicrypt_reid_file_as": (c_int, [H, PBUF, POINTER(SessionStruct), c_char_p, c_void_p, c_char_p, c_char_p,
                                      POINTER(DeidOpts)]),
    # audit.h
    "phicrypt_audit_verify": (c_int, [H, PBUF, c_char_p]),
    "phicrypt_audit_disclosures": (c_int, [H, PBUF, c_char_p, ctypes.c_int64]),
    "phicrypt_audit_subject_id": (c_int, [H, PBUF, c_char_p]),
    # deid.h
    "phicrypt_deid_policy_new": (c_int, [POINTER(c_void_p), H, c_char_p]),
    "phicrypt_deid_errmsg": (c_char_p, []),
    "phicrypt_deid_policy_free": (None, [c_void_p]),
    "phicrypt_deid_file": (c_int, [H, PBUF, c_void_p, c_char_p, c_char_p, POINTER(DeidOpts)]),
    "phicrypt_reid_file": (c_int, [H, PBUF, c_void_p, c_char_p, c_char_p, POINTER(DeidOpts)]),
    "phicrypt_deid_json": (c_int, [H, PBUF, c_void_p, c_char_p, c_size_t]),
}

_REPO_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, os.pardir,
                         "build", "libphicrypt.so")
SONAME = "libphicrypt.so.0"


def _prefix_candidates() -> List[str]:
    """libphicrypt.so.0 under /usr/local and sys.prefix (meson's libdir is lib/<multiarch> on Debian)."""
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    out = []
    for prefix in ("/usr/local", sys.prefix):
        for libdir in ([os.path.join("lib", arch)] if arch else []) + ["lib64", "lib"]:
            out.append(os.path.join(prefix, libdir, SONAME))
    return out


def _locate() -> List[str]:
    """Candidate paths or names to dlopen, best first."""
    env = os.environ.get("PHICRYPT_LIBRARY")
    if env:
        return [env]  # an explicit choice is never second-guessed
    out = []
    if os.path.exists(_REPO_LIB):
        out.append(os.path.normpath(_REPO_LIB))
    out.append(SONAME)
    out += [p for p in _prefix_candidates() if os.path.exists(p)]
    found = ctypes.util.find_library("phicrypt")
    if found:
        out.append(found)
    return out


def _open() -> Tuple[str, ctypes.CDLL]:
    errors = []
    for cand in _locate():
        try:
            dll = ctypes.CDLL(cand)
        except OSError as e:
            errors.append(str(e))
            continue
        return _loaded_path(dll, cand), dll
    raise OSError("libphicrypt not found (" + "; ".join(errors) + "): install it (the libphicrypt0 "
                  "package or `meson install`), or set PHICRYPT_LIBRARY to the path of libphicrypt.so.0")


def _loaded_path(dll: ctypes.CDLL, fallback: str) -> str:
    """The file the loader actually mapped (dladdr of a symbol), for library_path()."""
    class _DlInfo(Structure):
        _fields_ = [("dli_fname", c_char_p), ("dli_fbase", c_void_p), ("dli_sname", c_char_p),
                    ("dli_saddr", c_void_p)]
    try:
        libdl = ctypes.CDLL(None)
        dladdr = libdl.dladdr
        dladdr.argtypes = [c_void_p, POINTER(_DlInfo)]
        dladdr.restype = c_int
        info = _DlInfo()
        addr = ctypes.cast(dll.phicrypt_version, c_void_p)
        if dladdr(addr, byref(info)) and info.dli_fname:
            return os.path.realpath(info.dli_fname.decode())
    except (AttributeError, OSError):
        pass
    return fallback


class _Lib:
    """The loaded library; attribute access returns prototyped functions."""

    def __init__(self) -> None:
        self.path, self._dll = _open()
        self._fns: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def has(self, name: str) -> bool:
        return getattr(self._dll, name, None) is not None

    def __getattr__(self, name: str) -> Any:
        fn = self._fns.get(name)
        if fn is not None:
            return fn
        with self._lock:
            fn = getattr(self._dll, name, None)
            if fn is None:
                raise Unsupported(f"{name} is not in {self.path} (built before that module existed?)",
                                  -16)
            restype, argtypes = _PROTOTYPES[name]
            fn.restype = restype
            fn.argtypes = argtypes
            self._fns[name] = fn
            return fn


_instance: Optional[_Lib] = None
_instance_lock = threading.Lock()


def lib() -> _Lib:
    """The process-wide library, loaded on first use."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = _Lib()
    return _instance


def take(buf: Buf) -> bytes:
    """Copy the bytes out of a phicrypt_buf and dispose of it (which wipes it)."""
    try:
        return ctypes.string_at(buf.data, buf.len) if buf.data else b""
    finally:
        lib().phicrypt_buf_dispose(ctypes.byref(buf))


def new_buf() -> Buf:
    return Buf(None, 0)


__all__ = ["Buf", "DatakeyOpts", "EncryptOpts", "TokenOpts", "PseudonymOpts", "DeidOpts", "PROGRESS_FN", "SessionStruct",
           "lib", "take", "new_buf"]
