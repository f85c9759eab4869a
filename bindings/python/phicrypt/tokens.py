"""The keyring (token and pseudonym keys), tokens and pseudonyms (keyring.h)."""
from __future__ import annotations

from ctypes import byref, c_uint32
from typing import Any, Optional, Union

from . import _bson, _check
from ._lib import PseudonymOpts, TokenOpts
from .errors import AuthenticationError, InvalidArgument

_KEYRING_ALGORITHMS = {"ff1": 1, "siv": 2, "hmac": 3}
NORM_TRIM = 1       # strip leading and trailing spaces
NORM_CASEFOLD = 2   # ASCII case-insensitive
NORM_COLLAPSE = 4   # runs of inner spaces count as one
_NORM_ALL = NORM_TRIM | NORM_CASEFOLD | NORM_COLLAPSE
_VALUE_HINT = "format numbers as text first, e.g. str(n) or f'{n:09d}'"


def token_opts(fn: str, format: Any, context: Any, alphabet: Any, key_version: Any) -> TokenOpts:
    """phicrypt_token_opts from checked keyword arguments (shared with detokenize_as)."""
    return TokenOpts(1, _check.cstring(fn, "format", format, optional=True),
                     _check.cstring(fn, "context", context, optional=True),
                     _check.cstring(fn, "alphabet", alphabet, optional=True),
                     _check.integer(fn, "key_version", key_version, 0, _check.UINT32_MAX))


def _pseudonym_opts(fn: str, context: Any, normalize: Any, length: Any, key_version: Any) -> PseudonymOpts:
    return PseudonymOpts(1, _check.cstring(fn, "context", context, optional=True),
                         _check.integer(fn, "normalize", normalize, 0, _NORM_ALL),
                         _check.integer(fn, "length", length, 0, 1 << 16),
                         _check.integer(fn, "key_version", key_version, 0, _check.UINT32_MAX))


class TokensMixin:
    """Client methods over keyring.h (mixed into :class:`phicrypt.Client`)."""

    # -- keyring ----------------------------------------------------------------------------------
    def create_token_key(self, name: str, algorithm: str = "ff1") -> None:
        """Create a keyring key: 'ff1' (format-preserving), 'siv' (opaque tokens), 'hmac' (pseudonyms)."""
        n = _check.cstring("create_token_key", "name", name)
        alg = _KEYRING_ALGORITHMS.get(_check.string("create_token_key", "algorithm", algorithm) or "")
        if alg is None:
            raise InvalidArgument("create_token_key(): algorithm must be 'ff1', 'siv' or 'hmac'", -1)
        self._call("phicrypt_keyring_create", n, alg)

    def rotate_token_key(self, name: str) -> int:
        """Add a primary version to a keyring key; returns its number."""
        n = _check.cstring("rotate_token_key", "name", name)
        v = c_uint32()
        self._call("phicrypt_keyring_rotate", byref(v), n)
        return v.value

    def retire_token_key(self, name: str, version: int) -> None:
        """Stop using a version for new tokens (it still reverses old ones)."""
        n = _check.cstring("retire_token_key", "name", name)
        self._call("phicrypt_keyring_retire", n, _check.integer("retire_token_key", "version", version, 0,
                                                                _check.UINT32_MAX))

    def destroy_token_key(self, name: str, version: int) -> None:
        """Destroy one version, or with 0 the whole key (crypto-shredding)."""
        n = _check.cstring("destroy_token_key", "name", name)
        self._call("phicrypt_keyring_destroy", n, _check.integer("destroy_token_key", "version", version, 0,
                                                                 _check.UINT32_MAX))

    def list_token_keys(self) -> Any:
        """Keyring keys (no material): a list of dicts with bson, else BSON bytes of {"keys": [...]}."""
        data = self._buf_call("phicrypt_keyring_list")
        return _bson.decode(data)["keys"] if self._bson else data

    # -- tokens and pseudonyms --------------------------------------------------------------------
    def tokenize(self, key_name: str, value: Union[str, bytes], *, format: Optional[str] = None,
                 context: Optional[str] = None, alphabet: Optional[str] = None, key_version: int = 0) -> str:
        """A deterministic reversible token: FF1 formats ("ssn", "digits", ...) or "siv" (default)."""
        k = _check.cstring("tokenize", "key_name", key_name)
        v = _check.text("tokenize", "value", value, _VALUE_HINT)
        opts = token_opts("tokenize", format, context, alphabet, key_version)
        return self._buf_call("phicrypt_tokenize", k, v, len(v), byref(opts)).decode("utf-8")

    def detokenize(self, key_name: str, token: Union[str, bytes], *, format: Optional[str] = None,
                   context: Optional[str] = None, alphabet: Optional[str] = None, key_version: int = 0) -> str:
        """Reverse :meth:`tokenize` (same key, format, context; FF1 needs the version that made it)."""
        k = _check.cstring("detokenize", "key_name", key_name)
        t = _check.text("detokenize", "token", token)
        opts = token_opts("detokenize", format, context, alphabet, key_version)
        return self._buf_call("phicrypt_detokenize", k, t, len(t), byref(opts)).decode("utf-8")

    def pseudonymize(self, key_name: str, value: Union[str, bytes], *, context: Optional[str] = None,
                     normalize: int = 0, length: int = 0, key_version: int = 0) -> str:
        """A one-way pseudonym ``ps1.<version>.<base32>`` (HMAC-SHA256, per-context subkey)."""
        k = _check.cstring("pseudonymize", "key_name", key_name)
        v = _check.text("pseudonymize", "value", value, _VALUE_HINT)
        opts = _pseudonym_opts("pseudonymize", context, normalize, length, key_version)
        return self._buf_call("phicrypt_pseudonymize", k, v, len(v), byref(opts)).decode("utf-8")

    def verify_pseudonym(self, key_name: str, value: Union[str, bytes], pseudonym: str, *,
                         context: Optional[str] = None, normalize: int = 0, length: int = 0) -> bool:
        """True when ``pseudonym`` is the pseudonym of ``value`` (constant-time check)."""
        k = _check.cstring("verify_pseudonym", "key_name", key_name)
        v = _check.text("verify_pseudonym", "value", value, _VALUE_HINT)
        p = _check.cstring("verify_pseudonym", "pseudonym", pseudonym)
        opts = _pseudonym_opts("verify_pseudonym", context, normalize, length, 0)
        try:
            self._call("phicrypt_pseudonym_verify", k, v, len(v), p, byref(opts))
        except AuthenticationError:
            return False
        return True
