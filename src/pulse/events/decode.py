"""Raw Kafka bytes -> `Event` or `Rejection`: parse, coerce the real-world variants, validate."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from pulse.events.model import CartItem, Event, Rejection, RejectReason, SourceRef, Stage

# Earliest event time accepted: Glamira's tracking is far younger than this.
MIN_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
# Clock skew tolerated into the future, relative to the engine's clock.
MAX_FUTURE_SKEW_S = 24 * 3600
MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 8192
MAX_COLLECTION_CHARS = 100

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
_ID_FIELDS = ("product_id", "viewing_product_id", "recommendation_product_id", "store_id", "order_id",
              "user_id_db", "cat_id")
_TEXT_FIELDS = ("ip", "user_agent", "device_id", "current_url", "referrer_url", "api_version",
                "local_time", "resolution", "key_search")
_NUMERIC = re.compile(r"^\s*[+-]?\d+(\.\d*)?\s*$")


class _Invalid(Exception):
    """Internal: a field failed validation; carries the reason and a short detail."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode_event(
    raw: bytes,
    source: SourceRef | None = None,
    *,
    now: float,
    max_bytes: int = 1_000_000,
) -> Event | Rejection:
    """Turn one message into an Event, or a Rejection saying why not. Never raises."""
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
    if b"u0000" in raw and _has_nul(doc):  # cheap byte test first; PostgreSQL text cannot hold U+0000
        return _reject(Stage.VALIDATE, RejectReason.NUL_CHARACTER, "a string contains U+0000", raw, source)
    try:
        return _validate(doc, raw, source, now)
    except _Invalid as bad:
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


def _validate(doc: dict[str, Any], raw: bytes, source: SourceRef | None, now: float) -> Event:
    event_time = _event_time(doc, now)
    collection = _collection(doc.get("collection"))
    fields: dict[str, str | None] = {}
    # Hot path: most values are already short strings; only the others take the full coercion.
    for name in _ID_FIELDS:
        value = doc.get(name)
        if value is None:
            continue
        if value.__class__ is str and len(value) <= MAX_ID_CHARS:
            fields[name] = value.strip() or None
        else:
            fields[name] = _as_id(name, value)
    for name in _TEXT_FIELDS:
        value = doc.get(name)
        if value is None:
            continue
        if value.__class__ is str and len(value) <= MAX_TEXT_CHARS:
            fields[name] = value.strip() or None
        else:
            fields[name] = _as_text(name, value)
    email = _as_text("email_address", doc.get("email_address"))
    if email is None:
        email = _as_text("email", doc.get("email"))
    extra = {k: v for k, v in doc.items() if k not in _MODELLED}
    return Event(
        event_id=_event_id(doc, raw),
        collection=collection,
        event_time=datetime.fromtimestamp(event_time, tz=UTC),
        email=email,
        utm_source=_as_flag_text("utm_source", doc.get("utm_source")),
        utm_medium=_as_flag_text("utm_medium", doc.get("utm_medium")),
        options=_options(doc.get("option")),
        cart_products=_cart(doc.get("cart_products")),
        extra=extra,
        source=source,
        **fields,
    )


def _event_time(doc: Mapping[str, Any], now: float) -> float:
    value = doc.get("time_stamp")
    if value is None or value == "":
        raise _Invalid(RejectReason.MISSING_EVENT_TIME, "time_stamp is missing")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Invalid(RejectReason.BAD_EVENT_TIME, f"time_stamp is a {type(value).__name__}")
    if isinstance(value, str):
        if not _NUMERIC.match(value):
            raise _Invalid(RejectReason.BAD_EVENT_TIME, f"time_stamp {value[:40]!r} is not a number")
        value = float(value)
    seconds = float(value)
    if not math.isfinite(seconds):
        raise _Invalid(RejectReason.BAD_EVENT_TIME, "time_stamp is not finite")
    if seconds < MIN_EVENT_TIME or seconds > now + MAX_FUTURE_SKEW_S:
        raise _Invalid(
            RejectReason.EVENT_TIME_OUT_OF_RANGE,
            f"time_stamp {seconds:.0f} outside [2000-01-01, now + 1 day] (milliseconds are not accepted)",
        )
    return seconds


def _collection(value: Any) -> str:
    if value is None or value == "":
        raise _Invalid(RejectReason.MISSING_COLLECTION, "collection is missing")
    if not isinstance(value, str):
        raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"collection is a {type(value).__name__}")
    value = value.strip()
    if not value:
        raise _Invalid(RejectReason.MISSING_COLLECTION, "collection is blank")
    if len(value) > MAX_COLLECTION_CHARS:
        raise _Invalid(RejectReason.FIELD_TOO_LONG, f"collection longer than {MAX_COLLECTION_CHARS}")
    return value


def _event_id(doc: Mapping[str, Any], raw: bytes) -> str:
    """`id` when present, else the MongoDB `_id`, else a digest of the exact bytes (replays dedupe)."""
    event_id = _as_id("id", doc.get("id"))
    if event_id is not None:
        return event_id
    oid = doc.get("_id")
    if isinstance(oid, dict):
        oid = oid.get("$oid")
    oid_text = _as_id("_id", oid)
    if oid_text is not None:
        return oid_text
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:40]


def _as_id(name: str, value: Any) -> str | None:
    """An identifier arriving as a string or a number; blank means absent."""
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a boolean")
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a non-integral number")
        return str(int(value))
    if isinstance(value, str):
        value = value.strip()
        if len(value) > MAX_ID_CHARS:
            raise _Invalid(RejectReason.FIELD_TOO_LONG, f"{name} longer than {MAX_ID_CHARS}")
        return value or None
    raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a {type(value).__name__}")


def _as_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise _Invalid(RejectReason.FIELD_TOO_LONG, f"{name} longer than {MAX_TEXT_CHARS}")
        value = value.strip()
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a {type(value).__name__}")


def _as_flag_text(name: str, value: Any) -> str | None:
    """utm_source/utm_medium: `false` (not set) or a string."""
    if value is None or value is False or value is True:
        return None
    return _as_text(name, value)


def _scalar_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text[:200] or None


def _options(value: Any) -> tuple[tuple[str, str], ...]:
    """Product options as (label, value) pairs from either the array or the object shape."""
    pairs: list[tuple[str, str]] = []
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, dict):
                continue
            label = _scalar_text(item.get("option_label")) or _scalar_text(item.get("option_id"))
            chosen = _scalar_text(item.get("value_label")) or _scalar_text(item.get("value_id"))
            if label and chosen:
                pairs.append((label, chosen))
    elif isinstance(value, dict):
        for key, item in value.items():
            chosen = _scalar_text(item)
            if chosen:
                pairs.append((str(key)[:200], chosen))
    return tuple(pairs)


def parse_price(value: Any) -> float | None:
    """A locale-formatted price ("4.990,00", "1,880.00", "350.00", 350) as a number, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if ch.isdigit() or ch in ".,")
    if not text or not any(ch.isdigit() for ch in text):
        return None
    last_dot, last_comma = text.rfind("."), text.rfind(",")
    decimal_at = max(last_dot, last_comma)
    if decimal_at >= 0 and (last_dot >= 0) == (last_comma >= 0):
        pass  # both present: the right-most one is the decimal separator
    elif decimal_at >= 0 and len(text) - decimal_at - 1 == 3:
        decimal_at = -1  # "4.990" / "1,880": a thousands separator
    integer = "".join(ch for ch in (text[:decimal_at] if decimal_at >= 0 else text) if ch.isdigit())
    fraction = "".join(ch for ch in text[decimal_at + 1 :] if ch.isdigit()) if decimal_at >= 0 else ""
    try:
        return float(f"{integer or '0'}.{fraction or '0'}")
    except ValueError:
        return None


def _cart(value: Any) -> tuple[CartItem, ...]:
    if not isinstance(value, list):
        return ()
    items: list[CartItem] = []
    for item in value:
        if not isinstance(item, dict):
            continue
        amount = item.get("amount")
        items.append(
            CartItem(
                product_id=_scalar_text(item.get("product_id")),
                amount=int(amount) if isinstance(amount, int | float) and not isinstance(amount, bool)
                and math.isfinite(amount) else None,
                price=parse_price(item.get("price")),
                currency=_scalar_text(item.get("currency")),
            )
        )
    return tuple(items)
