"""The values that flow through the core: a decoded `Event`, or a `Rejection` with its reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a message came from (Kafka coordinates, or a file and line for replays)."""

    topic: str
    partition: int
    offset: int


class Stage(StrEnum):
    """Pipeline stage that rejected a message."""

    DECODE = "decode"
    VALIDATE = "validate"
    ENRICH = "enrich"
    LOAD = "load"


class RejectReason(StrEnum):
    """Stable reason codes. Never rename one: dashboards and alerts key on them."""

    TOO_LARGE = "too_large"
    EMPTY = "empty"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    TOO_DEEP = "too_deep"
    NUL_CHARACTER = "nul_character"
    MISSING_EVENT_TIME = "missing_event_time"
    BAD_EVENT_TIME = "bad_event_time"
    EVENT_TIME_OUT_OF_RANGE = "event_time_out_of_range"  # not a plausible Unix time in seconds at all
    EVENT_TIME_OUT_OF_BOUNDS = "event_time_out_of_bounds"  # older than PULSE_MAX_EVENT_AGE_DAYS, or too far ahead
    MISSING_COLLECTION = "missing_collection"
    BAD_FIELD_TYPE = "bad_field_type"
    FIELD_TOO_LONG = "field_too_long"
    VALUE_OUT_OF_RANGE = "value_out_of_range"
    UNENCODABLE_VALUE = "unencodable_value"  # e.g. a number that JSON storage cannot keep exactly
    RESERVED_FIELD = "reserved_field"
    ENRICH_FAILED = "enrich_failed"
    LOAD_FAILED = "load_failed"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message pulse could not accept, kept whole so nothing is lost."""

    stage: Stage
    reason: RejectReason
    detail: str
    raw: bytes
    source: SourceRef | None = None


@dataclass(frozen=True, slots=True)
class CartItem:
    """One product line of a cart or checkout event."""

    product_id: str | None
    amount: int | None
    price: float | None
    currency: str | None
    price_text: str | None = None  # the price as sent (a locale-formatted string): orders read it with Babel


@dataclass(slots=True)
class Event:
    """A validated behaviour event: spec fields and the real variants folded into one shape.

    Not frozen on purpose: a frozen dataclass sets each of its 27 fields through object.__setattr__,
    which made construction the largest single cost of decoding. Treat it as immutable all the same.
    """

    event_id: str
    collection: str
    event_time: datetime  # aware, UTC, from time_stamp
    ip: str | None = None
    user_agent: str | None = None
    device_id: str | None = None
    email: str | None = None
    current_url: str | None = None
    referrer_url: str | None = None
    product_id: str | None = None
    viewing_product_id: str | None = None
    recommendation_product_id: str | None = None
    store_id: str | None = None
    order_id: str | None = None
    api_version: str | None = None
    local_time: str | None = None  # kept raw: browser-local and unreliable
    user_id_db: str | None = None
    resolution: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    key_search: str | None = None
    cat_id: str | None = None
    options: tuple[tuple[str, str], ...] = ()  # (option_label, value) pairs, normalised
    cart_products: tuple[CartItem, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # every field pulse does not model
    source: SourceRef | None = None
    truncated: tuple[str, ...] = ()  # fields cut to their limit (pulse.events.limits), in the order met
