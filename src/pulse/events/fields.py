"""Field coercion of one decoded document: the real-world variants of ids, text, options, cart lines, numbers.

Every function raises `Invalid` (reason code and a short detail) for a value pulse cannot store as sent,
and notes in `Seen` what it truncated and whether a float is stored (decode then checks numbers exactly).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from pulse.events.limits import FIELD_LIMITS, MAX_CART_AMOUNT, Policy
from pulse.events.model import CartItem, RejectReason

# Integers beyond this are not exact as JSON numbers in browsers (Number.MAX_SAFE_INTEGER + 1).
MAX_EXACT_FLOAT_INT = 2**53
ID_FIELDS = ("product_id", "viewing_product_id", "recommendation_product_id", "store_id", "order_id",
              "user_id_db", "cat_id")
IDENTITY_FIELDS = frozenset({"id", "_id", *ID_FIELDS})
ITEM_FIELDS = {
    "option": frozenset({"option_label", "option_id", "value_label", "value_id"}),
    "cart_products": frozenset({"product_id", "amount", "price", "currency"}),
}


class Seen:
    """Internal: what validating one event noticed - the fields it truncated, whether a float is stored."""

    __slots__ = ("floats", "truncated")

    def __init__(self) -> None:
        self.truncated: list[str] = []
        self.floats = False  # orjson gives a float for every non-integer and every integer beyond 64 bits


class Invalid(Exception):
    """Internal: a field failed validation; carries the reason and a short detail."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail



def has_float(value: Any) -> bool:
    kind = value.__class__
    if kind is float:
        return True
    if kind is dict:
        return any(has_float(item) for item in value.values())
    if kind is list:
        return any(has_float(item) for item in value)
    return False



def as_id(name: str, value: Any) -> str | None:
    """An identifier arriving as a string or a number that is exactly an integer; blank means absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a boolean")
    if isinstance(value, int):  # orjson gives ints up to 64 bits, exact
        return str(value)
    if isinstance(value, float):
        return str(exact_integer(name, value))
    if isinstance(value, str):
        value = value.strip()
        limit = FIELD_LIMITS[name].max_chars
        if len(value) > limit:
            raise Invalid(RejectReason.FIELD_TOO_LONG, f"{name} longer than {limit} characters")
        return value or None
    raise Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a {type(value).__name__}")


def exact_integer(name: str, value: float) -> int:
    """A JSON number that parsed as a float, accepted as an id only when it is exactly an integer."""
    if not value.is_integer():
        raise Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a number with a fraction ({value!r}): send ids as text")
    if abs(value) >= MAX_EXACT_FLOAT_INT:
        raise Invalid(
            RejectReason.BAD_FIELD_TYPE,
            f"{name} is a number beyond 2**53 ({value:.6g}) that cannot be kept exactly: send it as a string",
        )
    return int(value)


def as_text(name: str, value: Any, seen: Seen) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        limit = FIELD_LIMITS[name]
        if len(value) > limit.max_chars:
            if limit.policy is Policy.REJECT:
                raise Invalid(RejectReason.FIELD_TOO_LONG, f"{name} longer than {limit.max_chars} characters")
            value = value[: limit.max_chars].rstrip()
            seen.truncated.append(name)
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seen.floats |= value.__class__ is float
        return str(value)
    raise Invalid(RejectReason.BAD_FIELD_TYPE, f"{name} is a {type(value).__name__}")


def as_flag_text(name: str, value: Any, seen: Seen) -> str | None:
    """utm_source/utm_medium: `false` (not set) or a string."""
    if value is None or value is False or value is True:
        return None
    return as_text(name, value, seen)


def scalar_text(value: Any, name: str, seen: Seen) -> str | None:
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


def option_pairs(value: Any, seen: Seen) -> tuple[tuple[str, str], ...]:
    """Product options as (label, value) pairs from either the array or the object shape."""
    pairs: list[tuple[str, str]] = []
    most = FIELD_LIMITS["option"].max_chars
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, dict):
                continue
            label = scalar_text(item.get("option_label"), "option.label", seen) or scalar_text(
                item.get("option_id"), "option.label", seen)
            chosen = scalar_text(item.get("value_label"), "option.value", seen) or scalar_text(
                item.get("value_id"), "option.value", seen)
            if label and chosen:
                if len(pairs) == most:
                    seen.truncated.append("option")
                    break
                pairs.append((label, chosen))
    elif isinstance(value, dict):
        for key, item in value.items():
            chosen = scalar_text(item, "option.value", seen)
            label = scalar_text(key, "option.label", seen)
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


# A price longer than this is no price (the longest real ones, "1.234.567,89 ", are about 14 characters).
MAX_PRICE_TEXT = 40


def price_text(value: Any) -> str | None:
    """A cart line's price as sent, as text, for the order's revenue (read with Babel, model/orders.py)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    return text if text and len(text) <= MAX_PRICE_TEXT else None


def cart_items(value: Any, seen: Seen) -> tuple[CartItem, ...]:
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
            product_id = exact_integer(f"cart_products[{index}].product_id", product_id)
        seen.floats |= float in (product_id.__class__, amount.__class__, price.__class__)
        items.append(
            CartItem(
                product_id=scalar_text(product_id, "cart_products.product_id", seen),
                amount=cart_amount(amount, index),
                price=parse_price(price),
                currency=scalar_text(item.get("currency"), "cart_products.currency", seen),
                price_text=price_text(price),
            )
        )
    return tuple(items)


def cart_amount(value: Any, index: int) -> int | None:
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
            raise Invalid(RejectReason.BAD_FIELD_TYPE, f"cart_products[{index}].amount {value!r} is not whole")
        value = int(value) if abs(value) <= MAX_CART_AMOUNT else MAX_CART_AMOUNT + 1
    elif not isinstance(value, int):
        return None
    if not 0 <= value <= MAX_CART_AMOUNT:
        shown = repr(sent) if len(repr(sent)) <= 40 else repr(sent)[:40] + "..."
        raise Invalid(
            RejectReason.VALUE_OUT_OF_RANGE, f"cart_products[{index}].amount {shown} is outside 0..{MAX_CART_AMOUNT}"
        )
    return value


def check_numbers_are_exact(raw: bytes) -> None:
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
        if key in ITEM_FIELDS and isinstance(value, list):  # only the item fields pulse reads are stored
            read = ITEM_FIELDS[key]
            value = [{k: v for k, v in item.items() if k in read} for item in value if isinstance(item, dict)]
        where = first_inexact(value, key)
        if where is not None:
            if key in IDENTITY_FIELDS:
                raise Invalid(
                    RejectReason.BAD_FIELD_TYPE, f"{where} is a number that cannot be kept exactly: send it as a string"
                )
            raise Invalid(
                RejectReason.UNENCODABLE_VALUE,
                f"the number at {where[:100]} cannot be stored exactly (beyond 64-bit integers and double"
                " precision): send it as a string",
            )


def first_inexact(value: Any, path: str) -> str | None:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return None if is_exact(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = first_inexact(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = first_inexact(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def is_exact(number: int | Decimal) -> bool:
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
