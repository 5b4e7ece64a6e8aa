"""The documented bound of every modelled field (docs/input-limits.md), applied by decode to each event."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Policy(StrEnum):
    """What decode does with a value longer than its limit."""

    REJECT = "reject"  # the event is quarantined (field_too_long): shortening it would change its identity
    TRUNCATE = "truncate"  # the value is cut to the limit and the field is listed under TRUNCATED_KEY


@dataclass(frozen=True, slots=True)
class FieldLimit:
    """The longest accepted value of one field (characters, or items for a list) and the policy beyond it."""

    max_chars: int
    policy: Policy


_REJECT, _TRUNCATE = Policy.REJECT, Policy.TRUNCATE
MAX_ID_CHARS = 128

# Field name (as sent; "a.b" is field b of each item of list a) -> limit. Every value is far above what a
# real storefront sends; the warehouse columns hold them all (only the keys below reach an index).
FIELD_LIMITS: MappingProxyType[str, FieldLimit] = MappingProxyType({
    # identity and ids: a shortened id would be another id
    "id": FieldLimit(MAX_ID_CHARS, _REJECT),
    "_id": FieldLimit(MAX_ID_CHARS, _REJECT),
    "product_id": FieldLimit(MAX_ID_CHARS, _REJECT),
    "viewing_product_id": FieldLimit(MAX_ID_CHARS, _REJECT),
    "recommendation_product_id": FieldLimit(MAX_ID_CHARS, _REJECT),
    "store_id": FieldLimit(MAX_ID_CHARS, _REJECT),
    "order_id": FieldLimit(MAX_ID_CHARS, _REJECT),
    "user_id_db": FieldLimit(MAX_ID_CHARS, _REJECT),
    "cat_id": FieldLimit(MAX_ID_CHARS, _REJECT),
    "collection": FieldLimit(100, _REJECT),
    # personal identifiers, hashed or truncated before storage: a cut value would be another person
    "device_id": FieldLimit(256, _REJECT),
    "email": FieldLimit(320, _REJECT),  # RFC 5321: 64 + 1 + 255
    "email_address": FieldLimit(320, _REJECT),
    "ip": FieldLimit(64, _REJECT),  # the longest IPv6 text is 45 characters
    # free text and URLs: the event still counts, the tail is cut and flagged
    "user_agent": FieldLimit(2048, _TRUNCATE),
    "current_url": FieldLimit(8192, _TRUNCATE),
    "referrer_url": FieldLimit(8192, _TRUNCATE),
    "key_search": FieldLimit(1024, _TRUNCATE),
    "utm_source": FieldLimit(512, _TRUNCATE),
    "utm_medium": FieldLimit(512, _TRUNCATE),
    "api_version": FieldLimit(32, _TRUNCATE),
    "local_time": FieldLimit(64, _TRUNCATE),
    "resolution": FieldLimit(32, _TRUNCATE),
    "option": FieldLimit(100, _TRUNCATE),  # (label, value) pairs kept
    "option.label": FieldLimit(200, _TRUNCATE),
    "option.value": FieldLimit(200, _TRUNCATE),
    "cart_products": FieldLimit(200, _TRUNCATE),  # items kept
    "cart_products.product_id": FieldLimit(MAX_ID_CHARS, _TRUNCATE),
    "cart_products.currency": FieldLimit(16, _TRUNCATE),
})

# A cart line's `amount` is a whole number in this range (JSON integer, integral number or digit string);
# another number is rejected (value_out_of_range / bad_field_type), anything else is stored as null.
MAX_CART_AMOUNT = 1_000_000

# Containers (objects, arrays) nested deeper than this are refused by the collector (400 too_deep) and
# quarantined by decode (too_deep). The top-level object is level 1; real events use 3.
MAX_NESTING = 64

# Key of the list of truncated fields in the fact row's `extra` JSON; a sender may not use it.
TRUNCATED_KEY = "_pulse_truncated"


def nesting_exceeds(value: Any, limit: int = MAX_NESTING) -> bool:
    """True when `value` (parsed JSON) nests objects/arrays more than `limit` levels deep."""
    if isinstance(value, dict):
        children: Any = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return False
    if limit <= 0:
        return True
    return any(nesting_exceeds(child, limit - 1) for child in children if isinstance(child, dict | list))


def may_nest_too_deep(raw: bytes, limit: int = MAX_NESTING) -> bool:
    """Cheap prefilter on the encoded JSON: False means it cannot nest deeper than `limit` levels."""
    return raw.count(b"[") + raw.count(b"{") > limit
