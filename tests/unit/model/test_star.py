"""The model: batches of raw messages -> fact rows and dimension rows, deterministic and private."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.events.model import RejectReason, SourceRef
from pulse.model.keys import dim_key
from pulse.model.star import DIMENSIONS, STAGE_COLUMNS, Enrichers, StarBatch, transform_batch
from pulse.testing.geo import build_test_mmdb
from pulse.testing.privacy import planted_traffic

SAMPLES = (Path(__file__).parents[2] / "cases" / "valid" / "samples.jsonl").read_bytes().splitlines()
NOW = 1_800_000_000.0
KEY = b"unit-test-key-0123456789"


@pytest.fixture(scope="module")
def enrichers(tmp_path_factory: pytest.TempPathFactory) -> Enrichers:
    db = build_test_mmdb(
        tmp_path_factory.mktemp("geo") / "city.mmdb",
        {"203.0.113.0/24": {"country_code": "CL", "country_name": "Chile", "region": "Santiago Metropolitan",
                            "city": "Santiago"}},
    )
    return Enrichers.create(hash_key=KEY, geoip_database=db)


def _messages(lines: list[bytes]) -> list[tuple[bytes, SourceRef | None]]:
    return [(line, SourceRef("product_views", 0, i)) for i, line in enumerate(lines)]


def _row(batch_row: tuple[object, ...]) -> dict[str, object]:
    return dict(zip(STAGE_COLUMNS, batch_row, strict=True))


def test_dimension_keys_are_a_stable_64_bit_hash_of_the_natural_values() -> None:
    expected = int.from_bytes(hashlib.blake2b(b"store\x1f6", digest_size=8).digest(), "big", signed=True)
    assert dim_key("store", "6") == expected
    assert dim_key("store", None) != dim_key("store", "")


def test_samples_become_fact_rows_with_enrichment(enrichers: Enrichers) -> None:
    batch = transform_batch(_messages(SAMPLES), enrichers, now=NOW)
    assert batch.rejections == []
    rows = [_row(r) for r in batch.facts]
    assert len(rows) == len(SAMPLES)
    first = rows[0]
    assert first["product_id"] == "96672"
    assert first["store_key"] == dim_key("store", "85")
    site = batch.dims["dim_site"][first["site_key"]]  # type: ignore[index]
    assert site[3:5] == ("CL", "Chile")
    location = batch.dims["dim_location"][first["location_key"]]  # type: ignore[index]
    assert location[1:] == ("CL", "Chile", "Santiago Metropolitan", "Santiago")
    assert first["ip_truncated"] == "203.0.113.0"
    assert first["browser"] == "Mobile Safari" and first["os"] == "iOS" and first["is_bot"] is False
    # recommendation event: the product is the viewed one
    assert rows[1]["product_id"] == "110474"
    # glamira.com is International, not a country code
    intl = batch.dims["dim_site"][rows[4]["site_key"]]  # type: ignore[index]
    assert intl[3:5] == (None, "International")
    assert rows[4]["is_bot"] is True  # facebookexternalhit


def test_raw_personal_data_never_reaches_a_row(enrichers: Enrichers) -> None:
    batch = transform_batch(_messages(SAMPLES), enrichers, now=NOW)
    text = repr(batch.facts) + repr(batch.dims)
    for secret in (b"someone@example.com", b"buyer@example.com", b"5a1d2c3b-0000-4c5d-8e9f-000000000001",
                   b"203.0.113.17", b"198.51.100.4"):
        assert secret.decode() not in text
    row = _row(batch.facts[1])
    assert row["email_hash"] == hmac.new(KEY, b"someone@example.com", hashlib.sha256).hexdigest()[:32]


def test_duplicates_in_a_batch_keep_the_first_and_rejections_carry_coordinates(enrichers: Enrichers) -> None:
    lines = [SAMPLES[0], SAMPLES[0], b"{not json", SAMPLES[2]]
    batch = transform_batch(_messages(lines), enrichers, now=NOW)
    assert len(batch.facts) == 2
    assert batch.duplicates_in_batch == 1
    assert [(r.reason, r.source.offset if r.source else None) for r in batch.rejections] == [
        (RejectReason.INVALID_JSON, 2)
    ]



def _deep_event(event_id: str, levels: int, collection: str) -> bytes:
    nested = b"[" * levels + b"]" * levels
    return b'{"id": "%s", "collection": "%s", "time_stamp": 1716883882, "payload": %s}' % (
        event_id.encode(), collection.encode(), nested)


def test_unstorably_deep_unmodelled_fields_are_too_deep_and_do_not_hide_a_valid_copy(enrichers: Enrichers) -> None:
    # 300 levels parse (orjson reads up to 1024) but cannot be written back as JSON (254): reject as
    # too_deep, and the valid copy of the same id later in the batch must still load (it was once
    # counted as a duplicate of the rejected one and lost).
    lines = [_deep_event("dup-1", 300, "first"), _deep_event("dup-1", 3, "second"), _deep_event("ok", 200, "deep")]
    batch = transform_batch(_messages(lines), enrichers, now=NOW)
    assert [(r.reason, r.stage, r.source.offset if r.source else None) for r in batch.rejections] == [
        (RejectReason.TOO_DEEP, "validate", 0)
    ]
    assert [(_row(r)["event_id"], _row(r)["collection"]) for r in batch.facts] == [("dup-1", "second"), ("ok", "deep")]
    assert batch.duplicates_in_batch == 0


def test_a_too_deep_copy_after_a_valid_one_is_quarantined_like_in_another_batch(enrichers: Enrichers) -> None:
    lines = [_deep_event("dup-2", 3, "first"), _deep_event("dup-2", 300, "second"), _deep_event("dup-2", 3, "third")]
    batch = transform_batch(_messages(lines), enrichers, now=NOW)
    assert [(r.reason, r.source.offset if r.source else None) for r in batch.rejections] == [(RejectReason.TOO_DEEP, 1)]
    assert [_row(r)["collection"] for r in batch.facts] == ["first"]
    assert batch.duplicates_in_batch == 1

def test_the_same_input_gives_identical_rows(enrichers: Enrichers) -> None:
    a = transform_batch(_messages(SAMPLES), enrichers, now=NOW)
    b = transform_batch(_messages(SAMPLES), enrichers, now=NOW)
    assert a.facts == b.facts and a.dims == b.dims


def test_every_dimension_row_matches_its_column_list(enrichers: Enrichers) -> None:
    batch = transform_batch(_messages(SAMPLES), enrichers, now=NOW)
    for table, rows in batch.dims.items():
        for key, row in rows.items():
            assert len(row) == len(DIMENSIONS[table]) and row[0] == key
    assert all(len(r) == len(STAGE_COLUMNS) for r in batch.facts)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=15,
)
event_fields = st.sampled_from(
    ["id", "_id", "collection", "ip", "user_agent", "product_id", "store_id", "option", "cart_products",
     "email_address", "current_url", "referrer_url", "viewing_product_id", "utm_medium", "local_time", "extra"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(event_fields | st.text(max_size=6), json_values, max_size=8))
def test_any_json_object_with_a_time_becomes_a_storable_row_or_a_rejection(enrichers: Enrichers, doc: dict) -> None:
    doc = {**doc, "time_stamp": 1716883882}
    doc.setdefault("collection", "view_product_detail")
    raw = json.dumps(doc).encode()
    batch = transform_batch([(raw, None)], enrichers, now=NOW)
    assert len(batch.facts) + len(batch.rejections) == 1
    for row in batch.facts:
        for value in row:
            if isinstance(value, str):
                assert "\x00" not in value, "PostgreSQL text cannot hold U+0000"


def _planted_batch(enrichers: Enrichers) -> tuple[list[str], StarBatch]:
    traffic = planted_traffic(1716883882)
    lines = [json.dumps(doc).encode() for doc in traffic.events + traffic.rejected]
    return traffic.needles, transform_batch(_messages(lines), enrichers, now=NOW)


def test_planted_personal_data_reaches_no_row_and_no_rejection_detail(enrichers: Enrichers) -> None:
    needles, batch = _planted_batch(enrichers)
    assert len(batch.facts) == 4
    assert [r.reason for r in batch.rejections] == [RejectReason.BAD_EVENT_TIME]
    stored = (repr(batch.facts) + repr(batch.dims) + "".join(r.detail for r in batch.rejections)).lower()
    assert [n for n in needles if n.lower() in stored] == []
    first = _row(batch.facts[0])
    marker = "[email:" + hmac.new(KEY, b"p-product@example.org", hashlib.sha256).hexdigest()[:12] + "]"
    assert first["product_id"] == marker
    assert first["email_hash"] == hmac.new(KEY, b"p-email-address@example.org", hashlib.sha256).hexdigest()[:32]
    assert first["referrer_url"] == "https://www.google.com/search?q=" + "[email:" + hmac.new(
        KEY, b"p-referrer@example.org", hashlib.sha256).hexdigest()[:12] + "]&from=198.51.100.0"
    expected_id = "redacted:" + hmac.new(KEY, b"evt-p-id@example.org", hashlib.sha256).hexdigest()[:32]
    assert first["event_id"] == expected_id
    extra = json.loads(str(first["extra"]))
    assert extra["client_ip"] == "198.51.100.0"
    assert extra["callback"].startswith("https://intranet.example.com/hook?to=[email:")


def test_redaction_can_be_switched_off(enrichers: Enrichers) -> None:
    raw_enrichers = dataclasses.replace(enrichers, privacy_redact=False)
    needles, batch = _planted_batch(raw_enrichers)
    stored = repr(batch.facts) + repr(batch.dims)
    assert "p-product@example.org" in stored and "alice:s3cr3t" in stored
    assert "p-email-address@example.org" not in stored, "the hashed fields stay hashed"
    assert "198.51.100.11" not in stored, "the ip field stays truncated"
