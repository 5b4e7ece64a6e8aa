"""The model: batches of raw messages -> fact rows and dimension rows, deterministic and private."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
import ua_parser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ua_parser.matchers import OSMatcher, UserAgentMatcher

from pulse.enrich.useragent import MAX_FAMILY_LENGTH
from pulse.events.limits import FIELD_LIMITS, TRUNCATED_KEY, Policy
from pulse.events.model import Event, RejectReason
from pulse.model.keys import MAX_KEY_BYTES, bounded_key, dim_key
from pulse.model.star import DIMENSIONS, KEY_COLUMNS, STAGE_COLUMNS, StarBatch, UnstorableValueError, model_event
from pulse.pipeline import Enrichers, transform_batch
from pulse.testing.privacy import planted_traffic
from tests.unit.batches import FIXTURE_AGE_DAYS, KEY, NOW, SAMPLES, open_enrichers
from tests.unit.batches import messages as _messages
from tests.unit.batches import row as _row
from tests.unit.batches import view as _view


@pytest.fixture(scope="module")
def enrichers(tmp_path_factory: pytest.TempPathFactory) -> Enrichers:
    return open_enrichers(tmp_path_factory.mktemp("geo"))


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


# ---------------------------------------------------------------------------- bounded keys and flags
def _key_values(batch: StarBatch) -> list[str]:
    """Every text that reaches a rollup primary key or a dimension's UNIQUE index."""
    staged = [_row(row)[column] for row in batch.facts for column in KEY_COLUMNS]
    unique = [row[1] for table in ("dim_product", "dim_store", "dim_browser", "dim_os", "dim_device_type")
              for row in batch.dims[table].values()]
    return [value for value in staged + unique if isinstance(value, str)]


def test_the_incident_referrer_gets_a_bounded_key_and_the_dimension_keeps_it_whole(enrichers: Enrichers) -> None:
    referrer = "https://www.google.com/url?q=" + "%E2%82%AC" * 877  # 7,922 characters, as in the incident
    other = referrer[:-1] + "F"  # differs in the last character only
    batch = transform_batch(_messages([_view(referrer_url=referrer), _view(id="v-2", referrer_url=other)]),
                            enrichers, now=NOW)
    assert batch.rejections == []
    keys = [_row(row)["referrer_url"] for row in batch.facts]
    assert all(isinstance(k, str) and len(k.encode()) <= MAX_KEY_BYTES for k in keys)
    assert keys[0] != keys[1] and keys == [bounded_key(referrer), bounded_key(other)]
    assert sorted(row[1] for row in batch.dims["dim_referrer"].values()) == sorted([referrer, other])


def test_truncated_fields_are_listed_in_the_extra_column(enrichers: Enrichers) -> None:
    batch = transform_batch(_messages([_view(key_search="ring " * 300, colour="red")]), enrichers, now=NOW)
    extra = json.loads(str(_row(batch.facts[0])["extra"]))
    assert extra == {"colour": "red", TRUNCATED_KEY: ["key_search"]}
    assert _row(batch.facts[0])["key_search"] == ("ring " * 300)[:1024].rstrip()


def test_a_row_without_truncation_has_no_flag(enrichers: Enrichers) -> None:
    batch = transform_batch(_messages([_view()]), enrichers, now=NOW)
    assert _row(batch.facts[0])["extra"] is None


def test_families_a_user_agent_rule_captures_are_bounded(enrichers: Enrichers) -> None:
    # ua-parser's families are regex captures; a rule that captures everything stands in for a hostile match.
    hostile = Enrichers.create(hash_key=KEY, max_event_age_days=FIXTURE_AGE_DAYS)
    parser = hostile.user_agents
    parser._resolver = ua_parser.BasicResolver(([UserAgentMatcher(r"(.+)")], [OSMatcher(r"(.+)")], []))
    agent = "Mozilla/5.0 " + "\U0001f48d" * 900
    info = parser.parse(agent)
    assert info.browser == agent[:MAX_FAMILY_LENGTH] and info.os == agent[:MAX_FAMILY_LENGTH]
    batch = transform_batch(_messages([_view(user_agent=agent)]), hostile, now=NOW)
    assert (_row(batch.facts[0])["browser"], _row(batch.facts[0])["os"]) == (info.browser, info.os)


# Oversized and odd values for every modelled field: long texts in many scripts (up to each field's limit
# for fields that reject beyond it, far beyond it for those that truncate), numbers beyond 64 bits,
# non-integral and huge floats, nesting, and the wrong types.
_chars = st.sampled_from(["a", "é", "€", "\U0001f48d", " ", "%", "/", "\\"])
_long_text = st.builds(lambda c, n: c * n, _chars, st.integers(0, 12_000))
_odd = (_long_text | st.text(max_size=50) | st.integers(-(2**80), 2**80) | st.floats(allow_nan=False,
        allow_infinity=False) | st.just(1e300) | st.booleans() | st.none()
        | st.lists(st.text(max_size=5), max_size=3) | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _oversized(name: str) -> st.SearchStrategy[object]:
    """Mostly text at or beyond the field's limit (as far as the event can still load), sometimes anything."""
    limit = FIELD_LIMITS[name]
    if limit.policy is Policy.TRUNCATE:
        sized = _long_text
    else:
        sized = st.builds(lambda c, n: "x" + c * n, _chars, st.integers(0, limit.max_chars - 1))
    return st.sampled_from([sized] * 7 + [_odd]).flatmap(lambda strategy: strategy)


_odd_options = st.lists(st.fixed_dictionaries({"option_label": _oversized("option.label"),
                                               "value_label": _oversized("option.value")}), max_size=3) | _odd
_odd_cart = st.lists(st.fixed_dictionaries({"product_id": _oversized("cart_products.product_id"), "amount": _odd,
                                            "price": _odd, "currency": _oversized("cart_products.currency")}),
                     max_size=3) | _odd
MODELLED_FIELDS = ["id", "_id", "ip", "user_agent", "device_id", "email", "email_address", "current_url",
                   "referrer_url", "product_id", "viewing_product_id", "recommendation_product_id", "store_id",
                   "order_id", "api_version", "local_time", "user_id_db", "resolution", "utm_source", "utm_medium",
                   "key_search", "cat_id"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(
    values=st.fixed_dictionaries({}, optional={name: _oversized(name) for name in MODELLED_FIELDS}),
    option=_odd_options, cart=_odd_cart, collection=_oversized("collection"),
)
def test_oversized_values_in_every_field_never_raise_and_never_make_an_index_row_too_big(
    enrichers: Enrichers, values: dict[str, object], option: object, cart: object, collection: str
) -> None:
    doc = {"time_stamp": 1716883882, "collection": collection, "option": option, "cart_products": cart, **values}
    batch = transform_batch([(json.dumps(doc).encode(), None)], enrichers, now=NOW)
    assert len(batch.facts) + len(batch.rejections) == 1
    for value in _key_values(batch):
        assert len(value.encode("utf-8")) <= 1024, "a value that reaches an index stays far below 2704 bytes"
    for rejection in batch.rejections:
        assert rejection.stage in ("decode", "validate"), rejection  # a reasoned rejection, never an enricher crash


def _event_with_extra(extra: dict[str, object]) -> Event:
    return Event(event_id="e", collection="view_product_detail",
                 event_time=datetime.fromtimestamp(1716883882, tz=UTC), extra=extra)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [({"n": 2**70}, RejectReason.UNENCODABLE_VALUE),
     ({"deep": json.loads("[" * 300 + "]" * 300)}, RejectReason.TOO_DEEP)],
)
def test_a_value_the_json_encoder_refuses_names_the_real_problem(
    enrichers: Enrichers, extra: dict[str, object], reason: RejectReason
) -> None:
    # Decode lets neither through (exact numbers, 64 levels); the model still says which it is, should one arrive.
    dims: dict[str, dict[int, tuple[object, ...]]] = {name: {} for name in DIMENSIONS}
    with pytest.raises(UnstorableValueError) as caught:
        model_event(_event_with_extra(extra), enrichers, dims)
    assert caught.value.reason is reason
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


def test_a_bot_row_carries_its_reason_and_a_person_keeps_the_key_it_had(enrichers: Enrichers) -> None:
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    person = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"
    batch = transform_batch(_messages([_view(user_agent=bot), _view(id="v-2", user_agent=person)]), enrichers, now=NOW)
    bot_row, person_row = (_row(row) for row in batch.facts)
    assert batch.dims["dim_device_type"][bot_row["device_type_key"]] == (  # type: ignore[index]
        dim_key("device_type", "bot", "crawler-user-agents:Googlebot"), "bot", "crawler-user-agents:Googlebot",
    )
    # the key of a person's row is the one before bot reasons existed: old facts still join
    assert person_row["device_type_key"] == dim_key("device_type", "desktop")
    assert batch.dims["dim_device_type"][person_row["device_type_key"]][2] is None  # type: ignore[index]


def test_a_search_referrer_row_carries_the_search_term_after_the_privacy_step(enrichers: Enrichers) -> None:
    url = "https://www.google.de/search?q=ring+for+anna%40example.com"
    batch = transform_batch(_messages([_view(referrer_url=url)]), enrichers, now=NOW)
    (row,) = batch.dims["dim_referrer"].values()
    assert row[3] == "search"
    assert isinstance(row[4], str) and row[4].startswith("ring for ") and "anna@example.com" not in row[4]


def test_a_search_term_grown_by_redaction_still_fits_its_column(enrichers: Enrichers) -> None:
    # 64 short addresses: 256 characters as typed, each redaction marker longer than the address it replaces
    term = "+".join(["a%40b.co"] * 32)  # 32 x "a@b.co" + 31 spaces = 223 characters decoded
    url = "https://www.google.de/search?q=" + term + "+" + "x" * 40
    batch = transform_batch(_messages([_view(referrer_url=url)]), enrichers, now=NOW)
    (row,) = batch.dims["dim_referrer"].values()
    assert isinstance(row[4], str) and "@" not in row[4]
    assert len(row[4]) == 256  # the CHECK in migration 0010: at most 256 characters
