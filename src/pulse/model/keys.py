"""Deterministic keys: dimension keys (a stable signed 64-bit hash) and index-safe bounded key values."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import overload

_SEP = "\x1f"
_NULL = "\x00"

# Longest value (UTF-8 bytes) a text column that is part of an index or a rollup key may hold. PostgreSQL's
# btree refuses index rows over 2704 bytes; a rollup key has at most three such columns (collection,
# browser, os), so 3 x 512 bytes plus the fixed-size columns stays well below it.
MAX_KEY_BYTES = 512
# What ends a shortened value: an ellipsis and 16 hex digits of a BLAKE2b digest of the whole value.
_DIGEST_HEX = 16
_MARK = "\u2026"


@lru_cache(maxsize=65_536)
def dim_key(*parts: str | bool | None) -> int:
    """Key of a dimension row: identical natural values give the identical key in every engine."""
    text = _SEP.join(_NULL if p is None else str(p) for p in parts)
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@overload
def bounded_key(value: str, max_bytes: int = MAX_KEY_BYTES) -> str: ...
@overload
def bounded_key(value: None, max_bytes: int = MAX_KEY_BYTES) -> None: ...
def bounded_key(value: str | None, max_bytes: int = MAX_KEY_BYTES) -> str | None:
    """`value` itself when its UTF-8 form fits in `max_bytes`, else a fixed-size stand-in that does.

    The stand-in is the longest UTF-8-safe prefix that leaves room for "…" and 16 hex digits of a
    digest of the whole value, so distinct long values stay distinct (and the same value always gives
    the same key, in every engine). `max_bytes` must leave room for the mark (at least 35 bytes).
    """
    if value is None or len(value) * 4 <= max_bytes:  # fast path: cannot be longer, whatever the characters
        return value
    encoded = value.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return value
    digest = hashlib.blake2b(encoded, digest_size=_DIGEST_HEX // 2).hexdigest()
    cut = max_bytes - len(_MARK.encode()) - _DIGEST_HEX
    while cut > 0 and encoded[cut] & 0xC0 == 0x80:  # never split a character: back up to its first byte
        cut -= 1
    return encoded[:cut].decode("utf-8", "surrogatepass") + _MARK + digest
