"""The keyring (token and pseudonym keys), tokens and pseudonyms (keyring.h)."""
from __future__ import annotations

from ctypes import byref, c_uint32
from typing import Any, Optional, Union

from . import _bson
from ._lib import PseudonymOpts, TokenOpts
from ._util import _b, _text
from .errors import AuthenticationError, InvalidArgument

_KEYRING_ALGORITHMS = {"ff1": 1, "siv": 2, "hmac": 3}
NORM_TRIM = 1       # strip leading and trailing spaces
NORM_CASEFOLD = 2   # ASCII case-insensitive
NORM_COLLAPSE = 4   # runs of inner spaces count as one


class TokensMixin:
    """Client methods over keyring.h (mixed into :class:`phicrypt.Client`)."""

    # -- keyring ----------------------------------------------------------------------------------
    def create_token_key(self, name: str, algorithm: str = "ff1") -> None:
        """Create a keyring key: 'ff1' (format-preserving), 'siv' (opaque tokens), 'hmac' (pseudonyms)."""
        alg = _KEYRING_ALGORITHMS.get(algorithm)
        if alg is None:
            raise InvalidArgument("algorithm must be 'ff1', 'siv' or 'hmac'", -1)
        self._call("phicrypt_keyring_create", _b(name), alg)

    def rotate_token_key(self, name: str) -> int:
        """Add a primary version to a keyring key; returns its number."""
        v = c_uint32()
        self._call("phicrypt_keyring_rotate", byref(v), _b(name))
        return v.value

    def retire_token_key(self, name: str, version: int) -> None:
        """Stop using a version for new tokens (it still reverses old ones)."""
        self._call("phicrypt_keyring_retire", _b(name), version)

    def destroy_token_key(self, name: str, version: int = 0) -> None:
        """Destroy one version, or with 0 the whole key (crypto-shredding)."""
        self._call("phicrypt_keyring_destroy", _b(name), version)

    def list_token_keys(self) -> Any:
        """Keyring keys (no material): a list of dicts with bson, else BSON bytes of {"keys": [...]}."""
        data = self._buf_call("phicrypt_keyring_list")
        return _bson.decode(data)["keys"] if self._bson else data

    # -- tokens and pseudonyms --------------------------------------------------------------------
    @staticmethod
    def _tok_opts(format: Optional[str], context: Optional[str], alphabet: Optional[str],
                  key_version: int) -> TokenOpts:
        return TokenOpts(1, _b(format), _b(context), _b(alphabet), key_version)

    def tokenize(self, key_name: str, value: Union[str, bytes], *, format: Optional[str] = None,
                 context: Optional[str] = None, alphabet: Optional[str] = None, key_version: int = 0) -> str:
        """A deterministic reversible token: FF1 formats ("ssn", "digits", ...) or "siv" (default)."""
        v = _text(value)
        opts = self._tok_opts(format, context, alphabet, key_version)
        return self._buf_call("phicrypt_tokenize", _b(key_name), v, len(v), byref(opts)).decode("utf-8")

    def detokenize(self, key_name: str, token: Union[str, bytes], *, format: Optional[str] = None,
                   context: Optional[str] = None, alphabet: Optional[str] = None, key_version: int = 0) -> str:
        """Reverse :meth:`tokenize` (same key, format, context; FF1 needs the version that made it)."""
        t = _text(token)
        opts = self._tok_opts(format, context, alphabet, key_version)
        return self._buf_call("phicrypt_detokenize", _b(key_name), t, len(t), byref(opts)).decode("utf-8")

    def pseudonymize(self, key_name: str, value: Union[str, bytes], *, context: Optional[str] = None,
                     normalize: int = 0, length: int = 0, key_version: int = 0) -> str:
        """A one-way pseudonym ``ps1.<version>.<base32>`` (HMAC-SHA256, per-context subkey)."""
        v = _text(value)
        opts = PseudonymOpts(1, _b(context), normalize, length, key_version)
        return self._buf_call("phicrypt_pseudonymize", _b(key_name), v, len(v), byref(opts)).decode("utf-8")

    def verify_pseudonym(self, key_name: str, value: Union[str, bytes], pseudonym: str, *,
                         context: Optional[str] = None, normalize: int = 0, length: int = 0) -> bool:
        """True when ``pseudonym`` is the pseudonym of ``value`` (constant-time check)."""
        v = _text(value)
        opts = PseudonymOpts(1, _b(context), normalize, length, 0)
        try:
            self._call("phicrypt_pseudonym_verify", _b(key_name), v, len(v), _b(pseudonym), byref(opts))
        except AuthenticationError:
            return False
        return True

