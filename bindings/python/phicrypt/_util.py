"""Small conversions shared by the client modules."""
from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional, Union

from . import _check
from ._lib import lib
from .errors import InvalidArgument, error_for

ConfigLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]
DocLike = Union[Mapping[str, Any], bytes]
KEY_ID_BYTES = 16


def _b(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else s.encode("utf-8")


KeyIdLike = Union[bytes, bytearray, memoryview, "uuid.UUID"]


def _key_id(key_id: Any, fn: str = "key id", arg: str = "key_id") -> bytes:
    """Accept 16 raw bytes, a bson Binary subtype 4 or a uuid.UUID."""
    import uuid
    if isinstance(key_id, uuid.UUID):
        b = key_id.bytes
    else:
        b = _check.raw(fn, arg, key_id, "16 bytes, bson.Binary subtype 4 or uuid.UUID; "
                                        "for a hex string use uuid.UUID(text)")
    if len(b) != KEY_ID_BYTES:
        raise InvalidArgument(f"a key id is {KEY_ID_BYTES} bytes, not {len(b)}", -1)
    return b


def _config_json_or_path(config: ConfigLike) -> "tuple[Optional[str], Optional[str]]":
    """(json_text, None) or (None, path)."""
    if isinstance(config, Mapping):
        return json.dumps(config), None
    if isinstance(config, os.PathLike):
        return None, os.fspath(config)
    if isinstance(config, str):
        return (config, None) if config.lstrip().startswith("{") else (None, config)
    raise _check.fail("Client", "config", "a dict, JSON text or the path of phicrypt.json", config)


def _raise_new_failure(rc: int) -> None:
    L = lib()
    msg = L.phicrypt_errmsg(None).decode("utf-8", "replace")
    raise error_for(rc, msg)


