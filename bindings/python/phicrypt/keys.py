"""Data keys in the key vault: create, look up, list, delete, alternate names, rewrap."""
from __future__ import annotations

import ctypes
import json
from collections.abc import Mapping as _MappingABC
from ctypes import byref
from typing import Any, Iterable, Mapping, Optional

from . import _bson, _check
from ._lib import DatakeyOpts
from ._util import KEY_ID_BYTES, KeyIdLike, _key_id
from .errors import InvalidArgument


def _json_doc(fn: str, arg: str, v: Any) -> Optional[bytes]:
    if v is None:
        return None
    _check.instance(fn, arg, v, _MappingABC, "a dict or None")
    return json.dumps(v).encode("utf-8")


class DataKeysMixin:
    """Client methods over keys.h (mixed into :class:`phicrypt.Client`)."""

    # -- data keys --------------------------------------------------------------------------------
    def create_data_key(self, provider: str = "local", *, key_alt_names: Iterable[str] = (),
                        master_key: Optional[Mapping[str, Any]] = None,
                        key_material: Optional[bytes] = None) -> bytes:
        """Create a data key wrapped by ``provider``'s master key; returns its 16-byte id."""
        fn = "create_data_key"
        p = _check.cstring(fn, "provider", provider)
        if isinstance(key_alt_names, (str, bytes)) or not isinstance(key_alt_names, Iterable):
            raise _check.fail(fn, "key_alt_names", "a list of str", key_alt_names,
                              "one name is ['name']" if isinstance(key_alt_names, str) else "")
        names = [_check.cstring(fn, "key_alt_names[]", n) for n in key_alt_names]
        material = None if key_material is None else _check.raw(fn, "key_material", key_material)
        arr = (ctypes.c_char_p * max(1, len(names)))(*names)
        opts = DatakeyOpts(1, p, _json_doc(fn, "master_key", master_key),
                           arr if names else None, len(names),
                           material, len(material) if material else 0)
        out = ctypes.create_string_buffer(KEY_ID_BYTES)
        self._call("phicrypt_datakey_create", out, byref(opts))
        return out.raw

    def get_data_key(self, key_id: Optional[KeyIdLike] = None, *, key_alt_name: Optional[str] = None) -> Any:
        """The key document (without key material): a dict with bson, else BSON bytes."""
        if (key_id is None) == (key_alt_name is None):
            raise InvalidArgument("get_data_key(): give exactly one of key_id and key_alt_name", -1)
        if key_id is not None:
            data = self._buf_call("phicrypt_datakey_get", _key_id(key_id, "get_data_key"))
        else:
            data = self._buf_call("phicrypt_datakey_get_by_alt_name",
                                  _check.cstring("get_data_key", "key_alt_name", key_alt_name))
        return self._from_bson(data, None)

    def list_data_keys(self) -> Any:
        """Every key document: a list of dicts with bson, else BSON bytes of {"keys": [...]}."""
        data = self._buf_call("phicrypt_datakey_list")
        return _bson.decode(data)["keys"] if self._bson else data

    def delete_data_key(self, key_id: KeyIdLike) -> None:
        """Delete a data key: what it encrypted can no longer be decrypted."""
        self._call("phicrypt_datakey_delete", _key_id(key_id, "delete_data_key"))

    def add_key_alt_name(self, key_id: KeyIdLike, alt_name: str) -> None:
        """Add an alternate name to a data key."""
        self._call("phicrypt_datakey_add_alt_name", _key_id(key_id, "add_key_alt_name"),
                   _check.cstring("add_key_alt_name", "alt_name", alt_name))

    def remove_key_alt_name(self, key_id: KeyIdLike, alt_name: str) -> None:
        """Remove an alternate name from a data key."""
        self._call("phicrypt_datakey_remove_alt_name", _key_id(key_id, "remove_key_alt_name"),
                   _check.cstring("remove_key_alt_name", "alt_name", alt_name))

    def key_id_by_alt_name(self, alt_name: str) -> bytes:
        """The 16-byte id of the data key with this alternate name."""
        a = _check.cstring("key_id_by_alt_name", "alt_name", alt_name)
        out = ctypes.create_string_buffer(KEY_ID_BYTES)
        self._call("phicrypt_datakey_id_by_alt_name", out, a)
        return out.raw

    def rewrap_data_keys(self, filter: Optional[Mapping[str, Any]] = None, *, provider: Optional[str] = None,
                         master_key: Optional[Mapping[str, Any]] = None) -> int:
        """Rotate master keys: rewrap the data keys matching ``filter`` (a MongoDB filter over key
        documents; None: all) under ``provider``'s master key (None: each key's own), atomically.
        Ciphertexts do not change. Returns the number of keys rewrapped."""
        fn = "rewrap_data_keys"
        f = _json_doc(fn, "filter", filter)
        p = _check.cstring(fn, "provider", provider, optional=True)
        m = _json_doc(fn, "master_key", master_key)
        n = ctypes.c_size_t()
        self._call("phicrypt_datakey_rewrap", byref(n), f, p, m)
        return n.value
