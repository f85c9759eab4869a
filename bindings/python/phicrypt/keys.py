"""Data keys in the key vault: create, look up, list, delete, alternate names, rewrap."""
from __future__ import annotations

import ctypes
import json
from ctypes import byref
from typing import Any, Iterable, Mapping, Optional

from . import _bson
from ._lib import DatakeyOpts
from ._util import KEY_ID_BYTES, _b, _key_id
from .errors import InvalidArgument


class DataKeysMixin:
    """Client methods over keys.h (mixed into :class:`phicrypt.Client`)."""

    # -- data keys --------------------------------------------------------------------------------
    def create_data_key(self, provider: str = "local", *, key_alt_names: Iterable[str] = (),
                        master_key: Optional[Mapping[str, Any]] = None,
                        key_material: Optional[bytes] = None) -> bytes:
        """Create a data key wrapped by ``provider``'s master key; returns its 16-byte id."""
        names = [n.encode("utf-8") for n in key_alt_names]
        arr = (ctypes.c_char_p * max(1, len(names)))(*names)
        opts = DatakeyOpts(1, provider.encode("utf-8"),
                           _b(json.dumps(master_key)) if master_key is not None else None,
                           arr if names else None, len(names),
                           key_material, len(key_material) if key_material else 0)
        out = ctypes.create_string_buffer(KEY_ID_BYTES)
        self._call("phicrypt_datakey_create", out, byref(opts))
        return out.raw

    def get_data_key(self, key_id: Any = None, *, key_alt_name: Optional[str] = None) -> Any:
        """The key document (without key material): a dict with bson, else BSON bytes."""
        if (key_id is None) == (key_alt_name is None):
            raise InvalidArgument("give exactly one of key_id and key_alt_name", -1)
        if key_id is not None:
            data = self._buf_call("phicrypt_datakey_get", _key_id(key_id))
        else:
            data = self._buf_call("phicrypt_datakey_get_by_alt_name", _b(key_alt_name))
        return self._from_bson(data, None)

    def list_data_keys(self) -> Any:
        """Every key document: a list of dicts with bson, else BSON bytes of {"keys": [...]}."""
        data = self._buf_call("phicrypt_datakey_list")
        return _bson.decode(data)["keys"] if self._bson else data

    def delete_data_key(self, key_id: Any) -> None:
        """Delete a data key: what it encrypted can no longer be decrypted."""
        self._call("phicrypt_datakey_delete", _key_id(key_id))

    def add_key_alt_name(self, key_id: Any, alt_name: str) -> None:
        self._call("phicrypt_datakey_add_alt_name", _key_id(key_id), _b(alt_name))

    def remove_key_alt_name(self, key_id: Any, alt_name: str) -> None:
        self._call("phicrypt_datakey_remove_alt_name", _key_id(key_id), _b(alt_name))

    def key_id_by_alt_name(self, alt_name: str) -> bytes:
        out = ctypes.create_string_buffer(KEY_ID_BYTES)
        self._call("phicrypt_datakey_id_by_alt_name", out, _b(alt_name))
        return out.raw

    def rewrap_data_keys(self, filter: Optional[Mapping[str, Any]] = None, *, provider: Optional[str] = None,
                         master_key: Optional[Mapping[str, Any]] = None) -> int:
        """Rotate master keys: rewrap the data keys matching ``filter`` (a MongoDB filter over key
        documents; None: all) under ``provider``'s master key (None: each key's own), atomically.
        Ciphertexts do not change. Returns the number of keys rewrapped."""
        n = ctypes.c_size_t()
        self._call("phicrypt_datakey_rewrap", byref(n), _b(json.dumps(filter)) if filter is not None else None,
                   _b(provider), _b(json.dumps(master_key)) if master_key is not None else None)
        return n.value

