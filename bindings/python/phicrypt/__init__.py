"""phicrypt: keep PHI encrypted or de-identified — Python binding (ctypes over libphicrypt).

>>> import phicrypt
>>> with phicrypt.Client("keys/phicrypt.json") as c:          # doctest: +SKIP
...     ct = c.encrypt("123-45-6789", key_alt_name="patients", algorithm="random")
...     assert c.decrypt(ct) == "123-45-6789"

The shared library is found through ``$PHICRYPT_LIBRARY``, then the source
tree's ``build/libphicrypt.so``, then the installed ``libphicrypt.so.0``
(Debian package or ``meson install``). ``python3 -m phicrypt --version``
shows which one is loaded.
"""
from __future__ import annotations

import os
from typing import Union

from ._bson import HAVE_BSON
from ._lib import lib as _lib
from .client import NORM_CASEFOLD, NORM_COLLAPSE, NORM_TRIM, Client, Policy, Session
from .ff1 import ff1_decrypt, ff1_encrypt
from .errors import (AccessDenied, AlreadyExists, AuthenticationError, BadData, BufferTooSmall,
                     ConfigError, EncryptionError, FileIOError, InternalError, InvalidArgument, KeyNotFound,
                     KeyVaultError, KmsAuthError, KmsError, OperationTimeout, OutOfMemory, PhicryptError,
                     SchemaError, Unsupported)

__version__ = "0.1.0"


def version() -> str:
    """The run-time version of libphicrypt."""
    return _lib().phicrypt_version().decode()


def mongocrypt_version() -> str:
    """The libmongocrypt version libphicrypt runs with."""
    return _lib().phicrypt_mongocrypt_version().decode()


def strerror(code: int) -> str:
    """The static English description of a C return code."""
    from . import _check
    return _lib().phicrypt_strerror(_check.integer("strerror", "code", code, -2**31, 2**31 - 1)).decode()


def library_path() -> str:
    """The path of the libphicrypt that was loaded."""
    return _lib().path


def has_function(name: str) -> bool:
    """Whether the loaded library exports ``name`` (modules still being written may be absent)."""
    from . import _check
    return _lib().has(_check.string("has_function", "name", name))


def create_local_key_file(path: Union[str, os.PathLike[str]]) -> None:
    """Create a 96-byte local master key file (mode 0600); refuses to overwrite."""
    from . import _check
    from ._util import _raise_new_failure
    rc = _lib().phicrypt_local_key_file_create(_check.path("create_local_key_file", "path", path))
    if rc:
        _raise_new_failure(rc)


__all__ = [
    "Client", "Policy", "Session", "ff1_encrypt", "ff1_decrypt", "version", "mongocrypt_version", "strerror",
    "library_path", "has_function", "create_local_key_file", "HAVE_BSON",
    "NORM_TRIM", "NORM_CASEFOLD", "NORM_COLLAPSE",
    "PhicryptError", "InvalidArgument", "BadData", "SchemaError", "KeyNotFound", "KeyVaultError", "KmsError",
    "KmsAuthError", "OperationTimeout", "AuthenticationError", "EncryptionError", "AccessDenied", "OutOfMemory",
    "BufferTooSmall", "ConfigError", "FileIOError", "AlreadyExists", "Unsupported", "InternalError",
]
