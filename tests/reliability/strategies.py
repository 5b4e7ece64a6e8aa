"""Hypothesis strategies for labelled hostile traffic: valid events with odd content, events with exactly one
known defect (labelled with its reason code), and unlabelled fuzz (random bytes, arbitrary JSON)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import orjson
from hypothesis import strategies as st

from pulse.events.model import RejectReason
from tests.reliability.workload import (
    MAX_TIME,
    MIN_TIME,
    NESTING_LIMIT,
    SQL_LOOKING,
    Outgoing,
    rejected,
    unlabelled,
    valid,
)

R = RejectReason
KNOWN_COLLECTIONS = ["view_product_detail", "view_listing_page", "checkout", "add_to_cart_action",
                     "product_detail_recommendation_clicked"]
PLACEHOLDER = b"@@pulse-placeholder@@"  # replaced by raw bytes after encoding
PLACEHOLDER_JSON = b'"' + PLACEHOLDER + b'"'
# Names pulse models itself (wrong types there are defects): generated extra fields avoid them.
MODELLED = {"id", "_id", "collection", "time_stamp", "ip", "user_agent", "device_id", "email", "email_address",
            "current_url", "referrer_url", "product_id", "viewing_product_id", "recommendation_product_id",
            "store_id", "order_id", "api_version", "local_time", "user_id_db", "resolution", "utm_source",
            "utm_medium", "key_search", "cat_id", "option", "cart_products"}

# Storable text: no U+0000 (PostgreSQL cannot hold it), no lone surrogates (not UTF-8).
_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
text = st.text(_chars, max_size=40) | st.sampled_from(SQL_LOOKING)
_DOTTED_QUAD = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")


def _kept_as_sent(value: str) -> bool:
    """Conservatively, nothing the privacy step could redact (docs/privacy.md: e-mails, also %40-encoded, IPs,
    URL credentials): labelled values (id, collection, product id) must be stored exactly as sent."""
    return ("@" not in value and "%" not in value and "::" not in value and value.count(":") < 7
            and not _DOTTED_QUAD.search(value))


# Non-blank, no surrounding whitespace (pulse trims), within a length limit, nothing to redact.
def _word(limit: int) -> st.SearchStrategy[str]:
    return (st.text(_chars, min_size=1, max_size=limit) | st.sampled_from(SQL_LOOKING)).map(
        lambda s: s.strip()[:limit].strip()).filter(bool).filter(_kept_as_sent)


json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
extra_fields = st.dictionaries(text.filter(lambda k: k not in MODELLED), json_value, max_size=4)


def event_times(now: float) -> st.SearchStrategy[int | float | str]:
    """Valid event times on a few days only (each new day is a new fact partition): 2000-01-01, near now."""
    day = st.sampled_from([MIN_TIME, int(now) - 2 * 86400, int(now) - 3600])
    seconds = st.builds(lambda d, s: d + s, day, st.integers(0, 3599))
    return seconds | seconds.map(lambda s: s + 0.25) | seconds.map(str)


@st.composite
def valid_docs(draw: st.DrawFn, now: float) -> dict[str, Any]:
    """A valid event: odd but acceptable content everywhere."""
    doc: dict[str, Any] = draw(extra_fields)
    identity = draw(st.sampled_from(["pool", "text", "number", "oid", "oid-object", "none"]))
    if identity == "pool":  # a small pool: the same id again, with other content (here and in later examples)
        doc["id"] = f"dup-{draw(st.integers(0, 7))}"
    elif identity == "text":
        doc["id"] = draw(_word(128))
    elif identity == "number":
        doc["id"] = draw(st.integers(0, 2**63))
    elif identity.startswith("oid"):
        oid = draw(st.text("0123456789abcdef", min_size=24, max_size=24))
        doc["_id"] = {"$oid": oid} if identity == "oid-object" else oid
    doc["collection"] = draw(st.sampled_from(KNOWN_COLLECTIONS) | _word(100))
    doc["time_stamp"] = draw(event_times(now))
    if draw(st.booleans()):
        doc["product_id"] = draw(_word(128) | st.integers(0, 10**12).map(str))
    for name in draw(st.sets(st.sampled_from(["user_agent", "current_url", "referrer_url", "ip", "key_search"]))):
        doc[name] = draw(text)
    return doc


def _mutations(doc: dict[str, Any], now: float) -> st.SearchStrategy[tuple[bytes, RejectReason, str]]:
    """Exactly one defect each, and the reason code it must get."""

    def with_fields(**fields: Any) -> bytes:
        changed = {**doc, **fields}
        return orjson.dumps({k: v for k, v in changed.items() if v is not _DROP})

    def cut(raw: bytes, at: int) -> bytes:
        chars = raw.decode()
        return chars[: max(1, min(at, len(chars) - 1))].encode()  # a proper prefix of an object, whole chars

    dumped = orjson.dumps(doc)
    options = [
        st.just((with_fields(time_stamp=_DROP), R.MISSING_EVENT_TIME, "missing time_stamp")),
        st.sampled_from([None, ""]).map(lambda v: (with_fields(time_stamp=v), R.MISSING_EVENT_TIME, "empty time")),
        st.sampled_from([True, False, [1], {"s": 1}, "noon", "1e9", "0x10"]).map(
            lambda v: (with_fields(time_stamp=v), R.BAD_EVENT_TIME, f"time_stamp {v!r}")),
        (st.integers(-(2**63), MIN_TIME - 1) | st.integers(MAX_TIME, 2**63)).map(
            lambda v: (with_fields(time_stamp=v), R.EVENT_TIME_OUT_OF_RANGE, f"time_stamp {v}")),
        st.integers(int(now) + 2 * 86400, MAX_TIME - 1).map(
            lambda v: (with_fields(time_stamp=v), R.EVENT_TIME_OUT_OF_BOUNDS, f"time_stamp {v} (ahead)")),
        st.sampled_from([_DROP, None, "", "  \t"]).map(
            lambda v: (with_fields(collection=v), R.MISSING_COLLECTION, "no collection")),
        st.sampled_from([7, 1.5, True, ["x"], {"$ne": None}]).map(
            lambda v: (with_fields(collection=v), R.BAD_FIELD_TYPE, f"collection {v!r}")),
        st.tuples(st.sampled_from(["product_id", "store_id", "order_id"]),
                  st.sampled_from([True, {"$gt": ""}, [1], 2.5])).map(
            lambda fv: (with_fields(**{fv[0]: fv[1]}), R.BAD_FIELD_TYPE, f"{fv[0]} {fv[1]!r}")),
        st.integers(129, 600).map(lambda n: (with_fields(id="i" * n), R.FIELD_TOO_LONG, f"id of {n} chars")),
        st.integers(101, 300).map(lambda n: (with_fields(collection="c" * n), R.FIELD_TOO_LONG, "long collection")),
        st.sampled_from(["collection", "user_agent", "zz_extra"]).map(
            lambda f: (with_fields(**{f: "a\x00b"}), R.NUL_CHARACTER, f"NUL in {f}")),
        st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]).map(
            lambda b: (with_fields(zz_bad=PLACEHOLDER.decode()).replace(PLACEHOLDER, b), R.INVALID_UTF8,
                       f"bytes {b!r}")),
        st.integers(1, len(dumped)).map(lambda at: (cut(dumped, at), R.INVALID_JSON, f"cut at {at}")),
        st.sampled_from([b"[%s]", b'"%s"', b"%s%s"]).map(
            lambda shape: (shape.replace(b"%s", dumped) if shape != b'"%s"' else orjson.dumps(dumped.decode()),
                           R.NOT_AN_OBJECT if shape != b"%s%s" else R.INVALID_JSON, f"shape {shape!r}")),
        st.integers(1025, 20_000).map(lambda n: (b"[" * n + b"]" * n, R.TOO_DEEP, f"{n} levels")),
        st.integers(NESTING_LIMIT, 1000).map(
            lambda n: (with_fields(zz_deep=PLACEHOLDER.decode()).replace(PLACEHOLDER_JSON, b"[" * n + b"]" * n),
                       R.TOO_DEEP, f"field {n} levels")),
    ]
    return st.one_of(options)


@st.composite
def labelled_messages(draw: st.DrawFn, now: float) -> Outgoing:
    """One message with its expected fate."""
    kind = draw(st.sampled_from(["valid", "valid", "defect", "defect", "fuzz"]))
    if kind == "fuzz":
        if draw(st.booleans()):
            return unlabelled(draw(st.binary(max_size=300)), "fuzz: bytes")
        return unlabelled(orjson.dumps(draw(json_value)), "fuzz: JSON value")
    doc = draw(valid_docs(now))
    if kind == "valid":
        keyed = "id" in doc and draw(st.booleans())  # keyed by id: all copies in one partition
        return valid(doc, f"valid: {orjson.dumps(doc)[:120]!r}", key=str(doc["id"]).encode() if keyed else None)
    raw, reason, what = draw(_mutations(doc, now))
    return rejected(raw, reason, f"defect: {what}")


_DROP = object()


# Values far over any field's limit, or of an odd size or shape: 4-byte characters, huge and inexact numbers,
# the deepest nesting a field may have, long arrays. Their fate is not labelled (loaded with a truncation
# flag, or quarantined with a reason): the property is that they never block the messages behind them.
_big_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
oversized_value = st.one_of(
    st.integers(3_000, 20_000).flatmap(lambda n: st.sampled_from(["x", "é", "€", "\U0001f48d", "a/b?c=d&"]).map(
        lambda c: (c * n)[:n])),
    st.text(_big_chars, min_size=2_600, max_size=9_000),
    st.sampled_from([1e300, -1e300, 1.0000000000000002, 0.1, 2**63 - 1]),
    st.sampled_from(["2" * 22, "-1180591620717411303424", "123456789012345678901234", "1e400", "12.5e-400"]).map(
        lambda digits: _Literal(digits)),
    st.integers(1, 63).map(lambda depth: _nested(depth)),
    st.integers(200, 2_000).map(lambda n: [{"option_label": f"l{i}", "value_label": "v" * 300} for i in range(n)]),
)
OVERSIZE_FIELDS = sorted(MODELLED - {"id", "_id", "collection", "time_stamp"}) + ["zz_extra"]


_ODD_IDS = itertools.count()


class _Literal(str):
    """A JSON number written as is (beyond what orjson encodes: integers over 64 bits, huge exponents)."""


def _nested(depth: int) -> object:
    value: object = "deep"
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def oversized_examples(draw: st.DrawFn, now: float) -> list[Outgoing]:
    """One message with an oversized value in one field, between valid events, all on one partition (one key),
    so the valid events after it can only load if it does not block them."""
    key = b"oversized-" + str(draw(st.integers(0, 3))).encode()
    doc = draw(valid_docs(now))
    doc.pop("_id", None)
    # An identity no other message has (hypothesis repeats its draws across examples): loaded or quarantined,
    # the audit finds it by its offset.
    doc["id"] = f"oversized-{next(_ODD_IDS)}"
    field = draw(st.sampled_from(OVERSIZE_FIELDS))
    value = draw(oversized_value)
    doc[field] = PLACEHOLDER.decode() if isinstance(value, _Literal) else value
    raw = orjson.dumps(doc)
    if isinstance(value, _Literal):
        raw = raw.replace(PLACEHOLDER_JSON, value.encode())
    odd = Outgoing(raw, unlabelled(b"", "").expect, f"oversized {field}: {raw[:80]!r}", key)
    before = [valid(d, "valid before", key=key) for d in draw(st.lists(valid_docs(now), min_size=1, max_size=3))]
    after = [valid(d, "valid after", key=key) for d in draw(st.lists(valid_docs(now), min_size=1, max_size=5))]
    return [*before, odd, *after]
