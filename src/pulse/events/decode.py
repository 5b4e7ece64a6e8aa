"""Raw Kafka bytes -> `Event` or `Rejection`: parse, coerce the real-world variants, validate."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from pulse.events.fields import (
    ID_FIELDS,
    Invalid,
    Seen,
    as_flag_text,
    as_id,
    as_text,
    cart_items,
    check_numbers_are_exact,
    has_float,
    option_pairs,
)
from pulse.events.limits import (
    FIELD_LIMITS,
    MAX_NESTING,
    TRUNCATED_KEY,
    nesting_exceeds,
)
from pulse.events.model import Event, Rejection, RejectReason, SourceRef, Stage

# Absolute sanity bounds of a Unix time in seconds: outside them the value is not an event time at all
# (milliseconds, zero, a year-9999 default). The configurable bounds relative to now come on top.
MIN_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
MAX_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
DEFAULT_MAX_EVENT_AGE_DAYS = 400  # PULSE_MAX_EVENT_AGE_DAYS
DEFAULT_MAX_FUTURE_SKEW_S = 86_400.0  # PULSE_MAX_FUTURE_SKEW_S

# Fields the Event models directly; everything else is kept in `extra`.
_MODELLED = frozenset(
    {
        "id", "_id", "collection", "time_stamp", "ip", "user_agent", "device_id", "email",
        "email_address", "current_url", "referrer_url", "product_id", "viewing_product_id",
        "recommendation_product_id", "store_id", "order_id", "api_version", "local_time",
        "user_id_db", "resolution", "utm_source", "utm_medium", "key_search", "cat_id", "option",
        "cart_products",
    }
)
_TEXT_FIELDS = ("ip", "user_agent", "device_id", "current_url", "referrer_url", "api_version",
                "local_time", "resolution", "key_search")
# (name, longest value) of the fields read in the hot loop: a short string passes with one length test.
_ID_LIMITS = tuple((name, FIELD_LIMITS[name].max_chars) for name in ID_FIELDS)
_TEXT_LIMITS = tuple((name, FIELD_LIMITS[name].max_chars) for name in _TEXT_FIELDS)
_NUMERIC = re.compile(r"^\s*[+-]?\d+(\.\d*)?\s*$")


def decode_event(
    raw: bytes,
    source: SourceRef | None = None,
    *,
    now: float,
    max_bytes: int = 1_000_000,
    max_event_age_days: float = DEFAULT_MAX_EVENT_AGE_DAYS,
    max_future_skew_s: float = DEFAULT_MAX_FUTURE_SKEW_S,
) -> Event | Rejection:
    """Turn one message into an Event, or a Rejection saying why not. Never raises.

    An event time older than `max_event_age_days` or more than `max_future_skew_s` after `now` is
    rejected (event_time_out_of_bounds); field limits are those of `pulse.events.limits`.
    """
    if len(raw) > max_bytes:
        return _reject(Stage.DECODE, RejectReason.TOO_LARGE, f"{len(raw)} bytes > limit {max_bytes}", raw, source)
    if not raw.strip():
        return _reject(Stage.DECODE, RejectReason.EMPTY, "empty message", raw, source)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _reject(Stage.DECODE, *_classify_json_error(raw, exc), raw, source)
    if not isinstance(doc, dict):
        return _reject(Stage.DECODE, RejectReason.NOT_AN_OBJECT, f"top level is {type(doc).__name__}", raw, source)
    if raw.count(b"[") + raw.count(b"{") > MAX_NESTING and nesting_exceeds(doc):  # may_nest_too_deep, inlined
        return _reject(Stage.DECODE, RejectReason.TOO_DEEP, f"JSON nests deeper than {MAX_NESTING} levels", raw, source)
    if b"u0000" in raw and _has_nul(doc):  # cheap byte test first; PostgreSQL text cannot hold U+0000
        return _reject(Stage.VALIDATE, RejectReason.NUL_CHARACTER, "a string contains U+0000", raw, source)
    try:
        return _validate(doc, raw, source, now - max_event_age_days * 86_400, now + max_future_skew_s)
    except Invalid as bad:
        return _reject(Stage.VALIDATE, bad.reason, bad.detail, raw, source)
    except RecursionError:
        return _reject(Stage.VALIDATE, RejectReason.TOO_DEEP, "nesting too deep", raw, source)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _reject(
    stage: Stage, reason: RejectReason, detail: str, raw: bytes, source: SourceRef | None
) -> Rejection:
    return Rejection(stage=stage, reason=reason, detail=detail[:500], raw=raw, source=source)


def _classify_json_error(raw: bytes, exc: Exception) -> tuple[RejectReason, str]:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return RejectReason.INVALID_UTF8, f"invalid UTF-8 at byte {bad.start}"
    message = str(exc)
    if "recursion" in message.lower() or "depth limit" in message.lower():
        return RejectReason.TOO_DEEP, "JSON nesting too deep"
    return RejectReason.INVALID_JSON, message


def _validate(doc: dict[str, Any], raw: bytes, source: SourceRef | None, oldest: float, newest: float) -> Event:
    event_time = _event_time(doc)
    collection = _collection(doc.get("collection"))
    seen = Seen()
    fields: dict[str, str | None] = {}
    # Hot path: most values are already short strings; only the others take the full coercion.
    for name, limit in _ID_LIMITS:
        value = doc.get(name)
        if value is None:
            continue
        if value.__class__ is str and len(value) <= limit:
            fields[name] = value.strip() or None
        else:
            seen.floats |= value.__class__ is float
            fields[name] = as_id(name, value)
    for name, limit in _TEXT_LIMITS:
        value = doc.get(name)
        if value is None:
            continue
        if value.__class__ is str and len(value) <= limit:
            fields[name] = value.strip() or None
        else:
            fields[name] = as_text(name, value, seen)
    email = as_text("email_address", doc.get("email_address"), seen)
    if email is None:
        email = as_text("email", doc.get("email"), seen)
    if TRUNCATED_KEY in doc:
        raise Invalid(RejectReason.RESERVED_FIELD, f"field {TRUNCATED_KEY} is reserved for pulse's truncation flags")
    extra = {k: v for k, v in doc.items() if k not in _MODELLED}
    for value in extra.values():
        kind = value.__class__
        if kind is float or ((kind is dict or kind is list) and has_float(value)):
            seen.floats = True
            break
    event = Event(
        event_id=_event_id(doc, raw, seen),
        collection=collection,
        event_time=datetime.fromtimestamp(event_time, tz=UTC),
        email=email,
        utm_source=as_flag_text("utm_source", doc.get("utm_source"), seen),
        utm_medium=as_flag_text("utm_medium", doc.get("utm_medium"), seen),
        options=option_pairs(doc.get("option"), seen),
        cart_products=cart_items(doc.get("cart_products"), seen),
        extra=extra,
        source=source,
        truncated=tuple(dict.fromkeys(seen.truncated)) if seen.truncated else (),
        **fields,
    )
    if seen.floats:
        check_numbers_are_exact(raw)
    if event_time < oldest or event_time > newest:  # last: an old event with a defect is rejected for the defect
        _out_of_bounds(event_time, oldest, newest)
    return event


def _event_time(doc: Mapping[str, Any]) -> float:
    value = doc.get("time_stamp")
    if value is None or value == "":
        raise Invalid(RejectReason.MISSING_EVENT_TIME, "time_stamp is missing")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(RejectReason.BAD_EVENT_TIME, f"time_stamp is a {type(value).__name__}")
    if isinstance(value, str):
        if not _NUMERIC.match(value):
            raise Invalid(RejectReason.BAD_EVENT_TIME, f"time_stamp {value[:40]!r} is not a number")
        value = float(value)
    seconds = float(value)
    if not math.isfinite(seconds):
        raise Invalid(RejectReason.BAD_EVENT_TIME, "time_stamp is not finite")
    if seconds < MIN_EVENT_TIME or seconds >= MAX_EVENT_TIME:
        raise Invalid(
            RejectReason.EVENT_TIME_OUT_OF_RANGE,
            f"time_stamp {seconds:.6g} is outside [2000-01-01, 2100-01-01): not Unix seconds"
            " (milliseconds are not accepted)",
        )
    return seconds


def _out_of_bounds(seconds: float, oldest: float, newest: float) -> None:
    side = "older than PULSE_MAX_EVENT_AGE_DAYS" if seconds < oldest else "ahead more than PULSE_MAX_FUTURE_SKEW_S"
    raise Invalid(
        RejectReason.EVENT_TIME_OUT_OF_BOUNDS,
        f"time_stamp {seconds:.0f} ({_utc(seconds)}) is {side} allows; accepted now:"
        f" {_utc(max(oldest, MIN_EVENT_TIME))} .. {_utc(min(newest, MAX_EVENT_TIME))} UTC",
    )


def _utc(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds, tz=UTC):%Y-%m-%d %H:%M:%S}"


def _collection(value: Any) -> str:
    if value is None or value == "":
        raise Invalid(RejectReason.MISSING_COLLECTION, "collection is missing")
    if not isinstance(value, str):
        raise Invalid(RejectReason.BAD_FIELD_TYPE, f"collection is a {type(value).__name__}")
    value = value.strip()
    if not value:
        raise Invalid(RejectReason.MISSING_COLLECTION, "collection is blank")
    limit = FIELD_LIMITS["collection"].max_chars
    if len(value) > limit:
        raise Invalid(RejectReason.FIELD_TOO_LONG, f"collection longer than {limit} characters")
    return value


def _event_id(doc: Mapping[str, Any], raw: bytes, seen: Seen) -> str:
    """`id` when present, else the MongoDB `_id`, else a digest of the exact bytes (replays dedupe)."""
    event_id = doc.get("id")
    seen.floats |= event_id.__class__ is float
    event_id = as_id("id", event_id)
    if event_id is not None:
        return event_id
    oid = doc.get("_id")
    if isinstance(oid, dict):
        oid = oid.get("$oid")
    seen.floats |= oid.__class__ is float
    oid_text = as_id("_id", oid)
    if oid_text is not None:
        return oid_text
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:40]


