"""Bounded, exact input: field limits, event-time bounds, exact numbers, nesting and the reserved flag key."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from pulse.events.decode import decode_event
from pulse.events.limits import (
    FIELD_LIMITS,
    MAX_NESTING,
    TRUNCATED_KEY,
    FieldLimit,
    Policy,
    may_nest_too_deep,
    nesting_exceeds,
)
from pulse.events.model import Event, Rejection, RejectReason

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()
T = int(NOW) - 3600
DOCS = Path(__file__).parents[3] / "docs" / "input-limits.md"


def _doc(**fields: Any) -> dict[str, Any]:
    return {"id": "e-1", "collection": "view_product_detail", "time_stamp": T, **fields}


def _decode(doc: dict[str, Any] | bytes, **bounds: float) -> Event | Rejection:
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return decode_event(raw, None, now=NOW, **bounds)


def _event(doc: dict[str, Any] | bytes, **bounds: float) -> Event:
    result = _decode(doc, **bounds)
    assert isinstance(result, Event), result
    return result


def _rejection(doc: dict[str, Any] | bytes, reason: RejectReason, **bounds: float) -> Rejection:
    result = _decode(doc, **bounds)
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result.detail
    return result


# ------------------------------------------------------------------------------------------ field limits
# How to put a value of n characters into each field, and how to read it back from the Event.
def _place(field: str, text: str) -> dict[str, Any]:
    if field == "_id":
        return {"_id": text, "id": None}
    if field in ("option.label", "option.value"):
        label, value = (text, "v") if field == "option.label" else ("l", text)
        return {"option": [{"option_label": label, "value_label": value}]}
    if field.startswith("cart_products."):
        item = {"product_id": "p", "amount": 1, "currency": "EUR", field.split(".")[1]: text}
        return {"cart_products": [item]}
    return {field: text}


def _read(field: str, event: Event) -> object:
    if field in ("id", "_id"):
        return event.event_id
    if field == "option.label":
        return event.options[0][0]
    if field == "option.value":
        return event.options[0][1]
    if field.startswith("cart_products."):
        return getattr(event.cart_products[0], field.split(".")[1])
    if field == "email_address":
        return event.email
    return getattr(event, field)


SCALAR_FIELDS = [name for name in FIELD_LIMITS if name not in ("option", "cart_products")]


@pytest.mark.parametrize("field", SCALAR_FIELDS)
def test_a_value_at_its_limit_is_kept_and_one_character_more_is_rejected_or_truncated(field: str) -> None:
    limit = FIELD_LIMITS[field]
    at_limit = "é" * (limit.max_chars - 1) + "x"  # characters, not bytes
    kept = _event(_doc(**_place(field, at_limit)))
    assert _read(field, kept) == at_limit
    assert kept.truncated == ()

    over = _doc(**_place(field, at_limit + "y"))
    if limit.policy is Policy.REJECT:
        rejected = _rejection(over, RejectReason.FIELD_TOO_LONG)
        assert field.split(".")[-1] in rejected.detail and str(limit.max_chars) in rejected.detail
    else:
        cut = _event(over)
        assert _read(field, cut) == at_limit
        assert cut.truncated == (field,)


@pytest.mark.parametrize(("field", "item"), [
    ("option", {"option_label": "alloy", "value_label": "white"}),
    ("cart_products", {"product_id": "1", "amount": 1, "price": "1,00", "currency": "€"}),
])
def test_lists_keep_their_first_items_up_to_the_limit_and_flag_the_rest(field: str, item: dict[str, Any]) -> None:
    most = FIELD_LIMITS[field].max_chars
    full = _event(_doc(**{field: [item] * most}))
    assert len(getattr(full, "options" if field == "option" else field)) == most and full.truncated == ()
    over = _event(_doc(**{field: [item] * (most + 5)}))
    assert len(getattr(over, "options" if field == "option" else field)) == most
    assert over.truncated == (field,)


def test_surrounding_white_space_does_not_count_against_the_limit() -> None:
    url = "https://www.glamira.de/" + "a" * (8192 - 23)
    event = _event(_doc(referrer_url=f"   {url}\n"))
    assert event.referrer_url == url and event.truncated == ()


def test_several_truncated_fields_are_each_listed_once_in_order() -> None:
    event = _event(_doc(referrer_url="r" * 9000, key_search="k" * 2000,
                        option=[{"option_label": "l" * 300, "value_label": "v"}] * 2))
    assert event.truncated == ("referrer_url", "key_search", "option.label")


def test_a_sender_may_not_use_the_truncation_flag_key() -> None:
    rejected = _rejection(_doc(**{TRUNCATED_KEY: ["nothing"]}), RejectReason.RESERVED_FIELD)
    assert TRUNCATED_KEY in rejected.detail


def test_the_documented_table_is_the_table_decode_applies() -> None:
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \| (reject|truncate) \|", DOCS.read_text(), flags=re.MULTILINE)
    documented = {name: FieldLimit(int(chars), Policy(policy)) for name, chars, policy in rows}
    assert documented == dict(FIELD_LIMITS)


# ------------------------------------------------------------------------------------------ event time
DAY = 86_400


@pytest.mark.parametrize(
    ("offset", "bounds", "reason"),
    [
        (-400 * DAY, {}, None),  # exactly the default age: kept
        (-400 * DAY - 1, {}, RejectReason.EVENT_TIME_OUT_OF_BOUNDS),
        (-2 * DAY, {"max_event_age_days": 1}, RejectReason.EVENT_TIME_OUT_OF_BOUNDS),
        (-2 * DAY, {"max_event_age_days": 3}, None),
        (DAY, {}, None),  # exactly the default skew
        (DAY + 1, {}, RejectReason.EVENT_TIME_OUT_OF_BOUNDS),
        (60, {"max_future_skew_s": 0}, RejectReason.EVENT_TIME_OUT_OF_BOUNDS),
        (3 * DAY, {"max_future_skew_s": 7 * DAY}, None),
    ],
)
def test_event_time_bounds_relative_to_now(offset: int, bounds: dict[str, float], reason: RejectReason | None) -> None:
    result = _decode(_doc(time_stamp=int(NOW) + offset), **bounds)
    if reason is None:
        assert isinstance(result, Event), result
    else:
        assert isinstance(result, Rejection) and result.reason is reason
        setting = "PULSE_MAX_EVENT_AGE_DAYS" if offset < 0 else "PULSE_MAX_FUTURE_SKEW_S"
        assert setting in result.detail


def test_an_archive_replay_reaches_back_to_2000_with_the_largest_age() -> None:
    y2k = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
    _rejection(_doc(time_stamp=y2k), RejectReason.EVENT_TIME_OUT_OF_BOUNDS)
    assert _event(_doc(time_stamp=y2k), max_event_age_days=36_500).event_time.year == 2000
    _rejection(_doc(time_stamp=y2k - 1), RejectReason.EVENT_TIME_OUT_OF_RANGE, max_event_age_days=36_500)


@pytest.mark.parametrize("stamp", [0, int(NOW) * 1000, 4_102_444_800, 253_402_300_800, 1e300])
def test_values_that_are_no_unix_seconds_stay_out_of_range_whatever_the_bounds(stamp: float) -> None:
    rejected = _rejection(_doc(time_stamp=stamp), RejectReason.EVENT_TIME_OUT_OF_RANGE,
                          max_event_age_days=36_500, max_future_skew_s=31_536_000)
    assert "milliseconds" in rejected.detail


# ------------------------------------------------------------------------------------------ exact numbers
def _raw(**fields: Any) -> bytes:
    return json.dumps(_doc(**fields)).encode()  # the stdlib writes integers beyond 64 bits as they are


@pytest.mark.parametrize(
    ("value", "kept"),
    [(90476, "90476"), (2**64 - 1, "18446744073709551615"), (-(2**63), "-9223372036854775808"),
     (96672.0, "96672"), (2**53 - 1.0, "9007199254740991")],
)
def test_numeric_ids_keep_their_exact_value(value: object, kept: str) -> None:
    assert _event(_raw(product_id=value)).product_id == kept


@pytest.mark.parametrize(
    ("text", "words"),
    [("123456789012345678901234", "send it as a string"), ("18446744073709551616", "send it as a string"),
     ("1e300", "send it as a string"), ("9007199254740992.0", "send it as a string"), ("96672.5", "fraction")],
)
def test_numeric_ids_that_cannot_be_kept_exactly_are_rejected_saying_why(text: str, words: str) -> None:
    raw = b'{"id": "e", "collection": "c", "time_stamp": %d, "product_id": %s}' % (T, text.encode())
    assert words in _rejection(raw, RejectReason.BAD_FIELD_TYPE).detail


def test_a_numeric_event_id_beyond_64_bits_is_rejected_not_rounded() -> None:
    raw = b'{"id": 123456789012345678901234, "collection": "c", "time_stamp": %d}' % T
    assert "send it as a string" in _rejection(raw, RejectReason.BAD_FIELD_TYPE).detail


@pytest.mark.parametrize(
    ("fields", "where"),
    [({"big": 123456789012345678901234}, "big"),
     ({"deep": {"list": [1, 2, -(2**64)]}}, "deep.list[2]"),
     ({"key_search": 10**30 + 1}, "key_search"),
     ({"option": [{"option_label": "size", "value_id": 2**70 + 1}]}, "option[0].value_id"),
     ({"cart_products": [{"product_id": "1", "price": 2**65 + 3}]}, "cart_products[0].price")],
)
def test_numbers_the_warehouse_would_store_as_another_value_are_rejected(fields: dict[str, Any], where: str) -> None:
    detail = _rejection(_raw(**fields), RejectReason.UNENCODABLE_VALUE).detail
    assert where in detail and "exactly" in detail


@pytest.mark.parametrize("number", [b"0.10000000000000000001", b"1e-400", b"12345678901234567.5"])
def test_decimals_beyond_double_precision_are_rejected(number: bytes) -> None:
    raw = b'{"id": "e", "collection": "c", "time_stamp": %d, "ratio": [%s]}' % (T, number)
    assert "ratio[0]" in _rejection(raw, RejectReason.UNENCODABLE_VALUE).detail


@pytest.mark.parametrize("number", [b"18446744073709551615", b"-9223372036854775808", b"1e300", b"0.1", b"1e+20",
                                    b"2.5e-300", b"1.7976931348623157e308", b"100000000000000000000"])
def test_numbers_a_double_or_a_64_bit_integer_holds_exactly_are_kept(number: bytes) -> None:
    raw = b'{"id": "e", "collection": "c", "time_stamp": %d, "x": %s, "y": 1.5}' % (T, number)
    stored = orjson.dumps(_event(raw).extra["x"]).decode()  # what the extra column receives
    assert Decimal(stored) == Decimal(number.decode())


def test_the_event_time_may_have_more_digits_than_a_double_keeps() -> None:
    raw = b'{"id": "e", "collection": "c", "time_stamp": %d.12345678901234567, "x": 0.5}' % T
    assert _event(raw).event_time.timestamp() == pytest.approx(T + 0.123457, abs=1e-6)


@pytest.mark.parametrize(
    ("amount", "kept"), [(0, 0), (3, 3), (1_000_000, 1_000_000), (2.0, 2), ("7", 7), ("n/a", None), (None, None),
                         (True, None)],
)
def test_cart_amounts_are_whole_numbers_in_range(amount: object, kept: int | None) -> None:
    assert _event(_doc(cart_products=[{"product_id": "1", "amount": amount}])).cart_products[0].amount == kept


@pytest.mark.parametrize(
    ("amount", "reason"),
    [(b"1e300", RejectReason.VALUE_OUT_OF_RANGE), (b"-1", RejectReason.VALUE_OUT_OF_RANGE),
     (b"1000001", RejectReason.VALUE_OUT_OF_RANGE), (b'"99999999999999999999999"', RejectReason.VALUE_OUT_OF_RANGE),
     (b"2.5", RejectReason.BAD_FIELD_TYPE)],
)
def test_cart_amounts_out_of_range_name_the_real_problem(amount: bytes, reason: RejectReason) -> None:
    raw = b'{"id": "e", "collection": "c", "time_stamp": %d, "cart_products": [{"amount": %s}]}' % (T, amount)
    assert "cart_products[0].amount" in _rejection(raw, reason).detail


# ------------------------------------------------------------------------------------------ nesting
def _nested(levels: int) -> bytes:
    """An event object whose field holds arrays so that the whole document nests exactly `levels` deep."""
    inner = b"[" * (levels - 1) + b"]" * (levels - 1)
    return b'{"id": "e", "collection": "c", "time_stamp": %d, "payload": %s}' % (T, inner)


def test_events_nested_to_the_limit_load_and_one_level_more_is_too_deep() -> None:
    assert _event(_nested(MAX_NESTING)).extra["payload"] is not None
    rejected = _rejection(_nested(MAX_NESTING + 1), RejectReason.TOO_DEEP)
    assert str(MAX_NESTING) in rejected.detail


@pytest.mark.parametrize("levels", [255, 300, 1024, 1025, 5000])
def test_what_the_parser_reads_but_the_warehouse_cannot_write_is_too_deep(levels: int) -> None:
    _rejection(_nested(levels), RejectReason.TOO_DEEP)


@pytest.mark.parametrize(
    ("value", "depth"),
    [({}, 1), ([], 1), ({"a": 1}, 1), ({"a": [1, {"b": []}]}, 4), ([[[]]], 3), ("text", 0), (5, 0)],
)
def test_nesting_depth_counts_containers_from_the_top(value: Any, depth: int) -> None:
    assert nesting_exceeds(value, depth) is False
    assert nesting_exceeds(value, depth - 1) is (depth > 0)
    if depth > 0:
        assert may_nest_too_deep(orjson.dumps(value), depth - 1), "the prefilter never rules out a deep value"
