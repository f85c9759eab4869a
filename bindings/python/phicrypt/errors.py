"""Exceptions mirroring the C library's ``PHICRYPT_E*`` return codes.

Every failure raises a :class:`PhicryptError` subclass carrying ``code`` (the
stable negative C code) and ``message`` (``phicrypt_errmsg`` of the failed
call, which never contains keys, plaintext or credentials).
"""
from __future__ import annotations

from typing import Dict, Type


class PhicryptError(Exception):
    """Base class of every phicrypt failure."""

    code: int = -17

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidArgument(PhicryptError, ValueError):
    """PHICRYPT_EINVAL: a caller's programming error (bad option, disallowed type)."""
    code = -1


class BadData(PhicryptError, ValueError):
    """PHICRYPT_EBADDATA: malformed BSON, JSON, ciphertext or file contents."""
    code = -2


class SchemaError(PhicryptError):
    """PHICRYPT_ESCHEMA: the schema or query analysis refused the command."""
    code = -3


class KeyNotFound(PhicryptError):
    """PHICRYPT_EKEYNOTFOUND: a data key or keyring key was not found."""
    code = -4


class KeyVaultError(PhicryptError):
    """PHICRYPT_EKEYVAULT: key vault I/O failed."""
    code = -5


class KmsError(PhicryptError):
    """PHICRYPT_EKMS: KMS network or protocol failure."""
    code = -6


class KmsAuthError(KmsError):
    """PHICRYPT_EKMSAUTH: the KMS refused our credentials."""
    code = -7


class OperationTimeout(PhicryptError, TimeoutError):
    """PHICRYPT_ETIMEOUT: a KMS or network operation timed out."""
    code = -8


class AuthenticationError(PhicryptError):
    """PHICRYPT_EAUTH: MAC check failed, wrong key, tampered data."""
    code = -9


#: Decryption/authentication failures; an alias kept for readability at call sites.
EncryptionError = AuthenticationError


class AccessDenied(PhicryptError, PermissionError):
    """PHICRYPT_EACCESS: access denied by policy (role, purpose)."""
    code = -10


class OutOfMemory(PhicryptError, MemoryError):
    """PHICRYPT_ENOMEM."""
    code = -11


class BufferTooSmall(PhicryptError):
    """PHICRYPT_EBUFSIZE."""
    code = -12


class ConfigError(PhicryptError):
    """PHICRYPT_ECONFIG: invalid configuration document."""
    code = -13


class FileIOError(PhicryptError, OSError):
    """PHICRYPT_EIO: file I/O failed (other than the key vault)."""
    code = -14


class AlreadyExists(PhicryptError):
    """PHICRYPT_EEXIST: a key alt name, key name or file already exists."""
    code = -15


class Unsupported(PhicryptError):
    """PHICRYPT_EUNSUPPORTED: valid request this build does not support
    (also raised when the loaded libphicrypt lacks the function)."""
    code = -16


class InternalError(PhicryptError):
    """PHICRYPT_EINTERNAL: unexpected failure inside phicrypt or libmongocrypt."""
    code = -17


_BY_CODE: Dict[int, Type[PhicryptError]] = {
    cls.code: cls
    for cls in (InvalidArgument, BadData, SchemaError, KeyNotFound, KeyVaultError, KmsError,
                KmsAuthError, OperationTimeout, AuthenticationError, AccessDenied, OutOfMemory,
                BufferTooSmall, ConfigError, FileIOError, AlreadyExists, Unsupported, InternalError)
}


def error_for(code: int, message: str) -> PhicryptError:
    """The exception for a C return code (unknown codes give a plain PhicryptError)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return PhicryptError(message, code)
    return cls(message, code)
