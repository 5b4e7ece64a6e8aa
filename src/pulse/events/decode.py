"""Raw Kafka bytes -> `Event` or `Rejection`: parse, coerce the real-world variants, validate."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from pulse.events.limits import (
    FIELD_LIMITS,
    MAX_CART_AMOUNT,
    MAX_NESTING,
    TRUNCATED_KEY,
    Policy,
    nesting_exceeds,
)
from pulse.events.model import CartItem, Event, Rejection, RejectReason, SourceRef, Stage

# Absolute sanity bounds of a Unix time in seconds: outside them the value is not an event time at all
# (milliseconds, zero, a year-9999 default). The configurable bounds relative to now come on top.
MIN_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
MAX_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
DEFAULT_MAX_EVENT_AGE_DAYS = 400  # PULSE_MAX_EVENT_AGE_DAYS
DEFAULT_MAX_FUTURE_SKEW_S = 86_400.0  # PULSE_MAX_FUTURE_SKEW_S
# Integers beyond this are not exact as JSON numbers in browsers (Number.MAX_SAFE_INTEGER + 1).
MAX_EXACT_FLOAT_INT = 2**53

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
# (name, longest value) of the fields read in the hot loop: a short string passes with one length test.
_ID_LIMITS = tuple((name, FIELD_LIMITS[name].max_chars) for name in _ID_FIELDS)
_TEXT_LIMITS = tuple((name, FIELD_LIMITS[name].max_chars) for name in _TEXT_FIELDS)
_IDENTITY_FIELDS = frozenset({"id", "_id", *_ID_FIELDS})
_ITEM_FIELDS = {
    "option": frozenset({"option_label", "option_id", "value_label", "value_id"}),
    "cart_products": frozenset({"product_id", "amount", "price", "currency"}),
}
_NUMERIC = re.compile(r"^\s*[+-]?\d+(\.\d*)?\s*$")


class _Seen:
    """Internal: what validating one event noticed - the fields it truncated, whether a float is stored."""

    __slots__ = ("floats", "truncated")

    def __init__(self) -> None:
        self.truncated: list[str] = []
        self.floats = False  # orjson gives a float for every non-integer and every integer beyond 64 bits


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


def _validate(doc: dict[str, Any], raw: bytes, source: SourceRef | None, oldest: float, newest: float) -> Event:
    event_time = _event_time(doc)
    collection = _collection(doc.get("collection"))
    seen = _Seen()
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
            fields[name] = _as_id(name, value)
    for name, limit in _TEXT_LIMITS:
        value = doc.get(name)
        if value is None:
            continue
        if value.__class__ is str and len(value) <= limit:
            fields[name] = value.strip() or None
        else:
            fields[name] = _as_text(name, value, seen)
    email = _as_text("email_address", doc.get("email_address"), seen)
    if email is None:
        email = _as_text("email", doc.get("email"), seen)
    if TRUNCATED_KEY in doc:
        raise _Invalid(RejectReason.RESERVED_FIELD, f"field {TRUNCATED_KEY} is reserved for pulse's truncation flags")
    extra = {k: v for k, v in doc.items() if k not in _MODELLED}
    for value in extra.values():
        kind = value.__class__
        if kind is float or ((kind is dict or kind is list) and _has_float(value)):
            seen.floats = True
            break
    event = Event(
        event_id=_event_id(doc, raw, seen),
        collection=collection,
        event_time=datetime.fromtimestamp(event_time, tz=UTC),
        email=email,
        utm_source=_as_flag_text("utm_source", doc.get("utm_source"), seen),
        utm_medium=_as_flag_text("utm_medium", doc.get("utm_medium"), seen),
        options=_options(doc.get("option"), seen),
        cart_products=_cart(doc.get("cart_products"), seen),
        extra=extra,
        source=source,
        truncated=tuple(dict.fromkeys(seen.truncated)) if seen.truncated else (),
        **fields,
    )
    if seen.floats:
        _check_numbers_are_exact(raw)
    if event_time < oldest or event_time > newest:  # last: an old event with a defect is rejected for the defect
        _out_of_bounds(event_time, oldest, newest)
    return event


def _has_float(value: Any) -> bool:
    kind = value.__class__
    if kind is float:
        return True
    if kind is dict:
        return any(_has_float(item) for item in value.values())
    if kind is list:
        return any(_has_float(item) for item in value)
    return False


def _event_time(doc: Mapping[str, Any]) -> float:
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
    if seconds < MIN_EVENT_TIME or seconds >= MAX_EVENT_TIME:
        raise _Invalid(
            RejectReason.EVENT_TIME_OUT_OF_RANGE,
            f"time_stamp {seconds:.6g} is outside [2000-01-01, 2100-01-01): not Unix seconds"
            " (milliseconds are not accepted)",
        )
    return seconds


def _out_of_bounds(seconds: float, oldest: float, newest: float) -> None:
    side = "older than PULSE_MAX_EVENT_AGE_DAYS" if seconds < oldest else "ahead more than PULSE_MAX_FUTURE_SKEW_S"
    raise _Invalid(
        RejectReason.EVENT_TIME_OUT_OF_BOUNDS,
        f"time_stamp {seconds:.0f} ({_utc(seconds)}) is {side} allows; accepted now:"
        f" {_utc(max(oldest, MIN_EVENT_TIME))} .. {_utc(min(newest, MAX_EVENT_TIME))} UTC",
    )


def _utc(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds, tz=UTC):%Y-%m-%d %H:%M:%S}"


def _collection(value: Any) -> str:
    if value is None or value == "":
        raise _Invalid(RejectReason.MISSING_COLLECTION, "collection is missing")
    if not isinstance(value, str):
        raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"collection is a {type(value).__name__}")
    value = value.strip()
    if not value:
        raise _Invalid(RejectReason.MISSING_COLLECTION, "collection is blank")
    limit = FIELD_LIMITS["collection"].max_chars
    if len(value) > limit:
        raise _Invalid(RejectReason.FIELD_TOO_LONG, f"collection longer than {limit} characters")
    return value


def _event_id(doc: Mapping[str, Any], raw: bytes, seen: _Seen) -> str:
    """`id` when present, else the MongoDB `_id`, else a digest of the exact bytes (replays dedupe)."""
    event_id = doc.get("id")
    seen.floats |= event_id.__class__ is float
    event_id = _as_id("id", event_id)
    if event_id is not None:
        return event_id
    oid = doc.get("_id")
    if isinstance(oid, dict):
        oid = oid.get("$oid")
    seen.floats |= oid.__class__ is float
    oid_text = _as_id("_id", oid)
    if oid_text is not None:
        return oid_text
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:40]


def _as_id(name: str, value: Any) -> str | None:
    """An identifier arriving as a string or a number that is exactly an integer; blank means absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a boolean")
    if isinstance(value, int):  # orjson gives ints up to 64 bits, exact
        return str(value)
    if isinstance(value, float):
        return str(_exact_integer(name, value))
    if isinstance(value, str):
        value = value.strip()
        limit = FIELD_LIMITS[name].max_chars
        if len(value) > limit:
            raise _Invalid(RejectReason.FIELD_TOO_LONG, f"{name} longer than {limit} characters")
        return value or None
    raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a {type(value).__name__}")


def _exact_integer(name: str, value: float) -> int:
    """A JSON number that parsed as a float, accepted as an id only when it is exactly an integer."""
    if not value.is_integer():
        raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a number with a fraction ({value!r}): send ids as text")
    if abs(value) >= MAX_EXACT_FLOAT_INT:
        raise _Invalid(
            RejectReason.BAD_FIELD_TYPE,
            f"{name} is a number beyond 2**53 ({value:.6g}) that cannot be kept exactly: send it as a string",
        )
    return int(value)


def _as_text(name: str, value: Any, seen: _Seen) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        limit = FIELD_LIMITS[name]
        if len(value) > limit.max_chars:
            if limit.policy is Policy.REJECT:
                raise _Invalid(RejectReason.FIELD_TOO_LONG, f"{name} longer than {limit.max_chars} characters")
            value = value[: limit.max_chars].rstrip()
            seen.truncated.append(name)
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seen.floats |= value.__class__ is float
        return str(value)
    raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a {type(value).__name__}")


def _as_flag_text(name: str, value: Any, seen: _Seen) -> str | None:
    """utm_source/utm_medium: `false` (not set) or a string."""
    if value is None or value is False or value is True:
        return None
    return _as_text(name, value, seen)


def _scalar_text(value: Any, name: str, seen: _Seen) -> str | None:
    """A nested string or number as text within the limit of `name` (cut and flagged beyond it)."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    if value.__class__ is not str:
        seen.floats |= value.__class__ is float
        value = str(value)
    text = value.strip()
    limit = FIELD_LIMITS[name].max_chars
    if len(text) > limit:
        seen.truncated.append(name)
        text = text[:limit].rstrip()
    return text or None


def _options(value: Any, seen: _Seen) -> tuple[tuple[str, str], ...]:
    """Product options as (label, value) pairs from either the array or the object shape."""
    pairs: list[tuple[str, str]] = []
    most = FIELD_LIMITS["option"].max_chars
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, dict):
                continue
            label = _scalar_text(item.get("option_label"), "option.label", seen) or _scalar_text(
                item.get("option_id"), "option.label", seen)
            chosen = _scalar_text(item.get("value_label"), "option.value", seen) or _scalar_text(
                item.get("value_id"), "option.value", seen)
            if label and chosen:
                if len(pairs) == most:
                    seen.truncated.append("option")
                    break
                pairs.append((label, chosen))
    elif isinstance(value, dict):
        for key, item in value.items():
            chosen = _scalar_text(item, "option.value", seen)
            label = _scalar_text(key, "option.label", seen)
            if chosen and label:
                if len(pairs) == most:
                    seen.truncated.append("option")
                    break
                pairs.append((label, chosen))
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


def _cart(value: Any, seen: _Seen) -> tuple[CartItem, ...]:
    if not isinstance(value, list):
        return ()
    most = FIELD_LIMITS["cart_products"].max_chars
    items: list[CartItem] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        if len(items) == most:
            seen.truncated.append("cart_products")
            break
        product_id, amount, price = item.get("product_id"), item.get("amount"), item.get("price")
        if product_id.__class__ is float:
            product_id = _exact_integer(f"cart_products[{index}].product_id", product_id)
        seen.floats |= float in (product_id.__class__, amount.__class__, price.__class__)
        items.append(
            CartItem(
                product_id=_scalar_text(product_id, "cart_products.product_id", seen),
                amount=_amount(amount, index),
                price=parse_price(price),
                currency=_scalar_text(item.get("currency"), "cart_products.currency", seen),
            )
        )
    return tuple(items)


def _amount(value: Any, index: int) -> int | None:
    """A cart line's quantity: a whole number in 0..MAX_CART_AMOUNT, or None when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    sent = value
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
        value = int(value) if len(value) <= 20 else MAX_CART_AMOUNT + 1
    elif isinstance(value, float):
        if not value.is_integer():
            raise _Invalid(RejectReason.BAD_FIELD_TYPE, f"cart_products[{index}].amount {value!r} is not whole")
        value = int(value) if abs(value) <= MAX_CART_AMOUNT else MAX_CART_AMOUNT + 1
    elif not isinstance(value, int):
        return None
    if not 0 <= value <= MAX_CART_AMOUNT:
        shown = repr(sent) if len(repr(sent)) <= 40 else repr(sent)[:40] + "..."
        raise _Invalid(
            RejectReason.VALUE_OUT_OF_RANGE, f"cart_products[{index}].amount {shown} is outside 0..{MAX_CART_AMOUNT}"
        )
    return value


def _check_numbers_are_exact(raw: bytes) -> None:
    """Reject a number the warehouse would store as another value (a 64-bit double cannot hold it).

    orjson parses an integer beyond 64 bits, or a decimal with more than 17 significant digits, into
    the nearest double: 123456789012345678901234 would be stored as 1.2345678901234569e+23. Only an
    event that stores a float somewhere pays for this second, exact parse (most events have none).
    Every number that is stored is checked; the event time is exempt (it is kept to the microsecond).
    """
    try:
        exact = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):  # orjson accepted it; nothing to compare against
        return
    for key, value in exact.items():
        if key == "time_stamp":
            continue
        if key in _ITEM_FIELDS and isinstance(value, list):  # only the item fields pulse reads are stored
            read = _ITEM_FIELDS[key]
            value = [{k: v for k, v in item.items() if k in read} for item in value if isinstance(item, dict)]
        where = _first_inexact(value, key)
        if where is not None:
            if key in _IDENTITY_FIELDS:
                raise _Invalid(
                    RejectReason.BAD_FIELD_TYPE, f"{where} is a number that cannot be kept exactly: send it as a string"
                )
            raise _Invalid(
                RejectReason.UNENCODABLE_VALUE,
                f"the number at {where[:100]} cannot be stored exactly (beyond 64-bit integers and double"
                " precision): send it as a string",
            )


def _first_inexact(value: Any, path: str) -> str | None:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return None if _is_exact(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_inexact(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_inexact(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _is_exact(number: int | Decimal) -> bool:
    """True when orjson's value of this JSON number is the number itself (what the warehouse stores)."""
    if isinstance(number, int):
        if -(2**63) <= number < 2**64:
            return True  # orjson gives a Python int
        number = Decimal(number)  # beyond 64 bits orjson gives the nearest double
    try:
        as_float = float(number)
        return math.isfinite(as_float) and Decimal(repr(as_float)) == number
    except (InvalidOperation, OverflowError):
        return False
