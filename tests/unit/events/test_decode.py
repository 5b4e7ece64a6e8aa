"""Decode/validate: golden valid cases, hand-made invalid cases, and properties over arbitrary input."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.events.decode import decode_event
from pulse.events.fields import parse_price
from pulse.events.model import Event, Rejection, RejectReason, SourceRef

CASES = Path(__file__).parents[2] / "cases"
NOW = 1_800_000_000.0  # 2027-01-15: fixed so the future bound is deterministic
# The fixtures are of 2024-05-28, about 960 days before NOW: these tests accept events that old explicitly.
FIXTURE_AGE_DAYS = 3650
decode = functools.partial(decode_event, now=NOW, max_event_age_days=FIXTURE_AGE_DAYS)
SRC = SourceRef("product_views", 2, 41)

VALID_LINES = (CASES / "valid" / "samples.jsonl").read_bytes().splitlines()
EXPECTED = json.loads((CASES / "valid" / "expected.json").read_text())


@pytest.mark.parametrize(("line", "expected"), list(zip(VALID_LINES, EXPECTED, strict=True)))
def test_golden_valid_events(line: bytes, expected: dict) -> None:
    event = decode(line, SRC)
    assert isinstance(event, Event), event
    assert event.event_id == expected["event_id"]
    assert event.collection == expected["collection"]
    assert event.event_time.isoformat() == expected["event_time"]
    assert event.product_id == expected["product_id"]
    assert event.store_id == expected["store_id"]
    assert event.email == expected["email"]
    assert event.referrer_url == expected["referrer_url"]
    assert [list(p) for p in event.options] == expected["options"]
    assert sorted(event.extra) == expected["extra_keys"]
    assert event.source == SRC
    if "viewing_product_id" in expected:
        assert event.viewing_product_id == expected["viewing_product_id"]
    if "order_id" in expected:
        assert event.order_id == expected["order_id"]
    if "cart" in expected:
        assert [[c.product_id, c.amount, c.price, c.currency] for c in event.cart_products] == expected["cart"]


def _expected_reason(path: Path) -> RejectReason:
    stem = path.name.split(".")[0]
    for reason in sorted(RejectReason, key=lambda r: -len(r.value)):
        if stem == reason.value or stem.startswith(reason.value + "_"):
            return reason
    raise AssertionError(f"no reason code in case name {path.name}")


INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.suffix in {".json", ".bin"})


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_cases_are_rejected_with_their_reason(path: Path) -> None:
    raw = path.read_bytes()
    result = decode(raw, SRC)
    assert isinstance(result, Rejection), result
    assert result.reason is _expected_reason(path)
    assert result.raw == raw, "the rejection keeps the exact bytes"
    assert result.source == SRC
    assert result.detail


def test_too_large_is_rejected_before_parsing() -> None:
    raw = b'{"x": "' + b"a" * 2000 + b'"}'
    result = decode(raw, None, max_bytes=1024)
    assert isinstance(result, Rejection) and result.reason is RejectReason.TOO_LARGE


def _event(**fields: object) -> bytes:
    doc: dict[str, object] = {"collection": "view_product_detail", "time_stamp": 1716883882}
    doc.update(fields)
    return orjson.dumps(doc)


def test_identity_prefers_id_then_oid_then_a_digest_of_the_bytes() -> None:
    with_both = decode(_event(id="u-1", _id={"$oid": "abc"}), None)
    oid_only = decode(_event(_id={"$oid": "6650a1f2c3d4e5f6a7b8c9d1"}), None)
    neither = decode(_event(), None)
    again = decode(_event(), None)
    assert isinstance(with_both, Event) and with_both.event_id == "u-1"
    assert isinstance(oid_only, Event) and oid_only.event_id == "6650a1f2c3d4e5f6a7b8c9d1"
    assert isinstance(neither, Event) and isinstance(again, Event)
    assert neither.event_id.startswith("sha256:") and neither.event_id == again.event_id


def test_numbers_become_ids_and_email_field_variants_are_both_read() -> None:
    event = decode(_event(id="e", product_id=90476, store_id=6.0, email="A@B.example"), None)
    assert isinstance(event, Event)
    assert (event.product_id, event.store_id, event.email) == ("90476", "6", "A@B.example")


def test_time_stamp_as_numeric_string_is_accepted_and_floats_keep_subseconds() -> None:
    event = decode(_event(id="e", time_stamp="1716883882.5"), None)
    assert isinstance(event, Event)
    assert event.event_time.isoformat() == "2024-05-28T08:11:22.500000+00:00"


def test_unknown_collection_loads_as_itself_and_unknown_fields_are_kept() -> None:
    event = decode(_event(id="e", collection="brand_new_thing", weird={"a": [1]}), None)
    assert isinstance(event, Event)
    assert event.collection == "brand_new_thing"
    assert event.extra == {"weird": {"a": [1]}}


def test_utm_flags_false_mean_absent() -> None:
    event = decode(_event(id="e", utm_source=False, utm_medium="cpc"), None)
    assert isinstance(event, Event)
    assert (event.utm_source, event.utm_medium) == (None, "cpc")


@pytest.mark.parametrize(
    ("text", "value"),
    [("4.990,00", 4990.0), ("1,880.00", 1880.0), ("350.00", 350.0), ("12,5", 12.5), ("1.880", 1880.0),
     ("AU $ 99", 99.0), (350, 350.0), ("", None), ("n/a", None), (None, None), (True, None)],
)
def test_locale_formatted_prices(text: object, value: float | None) -> None:
    assert parse_price(text) == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    result = decode(raw, SRC)
    assert isinstance(result, Event | Rejection)
    if isinstance(result, Rejection):
        assert result.raw == raw


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
fields = st.sampled_from(
    ["id", "_id", "collection", "time_stamp", "ip", "user_agent", "product_id", "store_id", "option",
     "cart_products", "email_address", "email", "utm_source", "current_url", "referrer_url", "viewing_product_id"]
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(fields | st.text(max_size=8), json_values, max_size=10))
def test_arbitrary_json_objects_give_an_event_or_a_reasoned_rejection(doc: dict) -> None:
    raw = json.dumps(doc).encode()  # the stdlib writes integers beyond 64 bits too
    result = decode(raw, SRC)
    if isinstance(result, Rejection):
        assert result.reason in set(RejectReason)
    else:
        assert result.collection and result.event_id
        assert result.event_time.tzinfo is not None
