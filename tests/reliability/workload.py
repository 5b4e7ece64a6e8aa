"""Labelled traffic for the reliability runs: every message says what the pipeline must do with it.

The labels come from how a message was built (a valid event with identity X, or a known single
defect with its reason code), never from running pulse's decoder. `send` records where Kafka put each
message, so the audit can match quarantine rows and facts to the exact message.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from confluent_kafka import KafkaError, Message, Producer

from pulse.events.model import RejectReason
from pulse.settings import Settings
from pulse.traffic.generator import TrafficGenerator, encode
from tests.services import env_for

START = datetime(2026, 11, 1, tzinfo=UTC)  # synthetic traffic's time line
MIN_TIME = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())  # the earliest event time pulse accepts at all
MAX_TIME = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())  # the first one it never accepts
# The engines here accept events back to MIN_TIME (the corpus sends 2000-01-01 on purpose); by default
# PULSE_MAX_EVENT_AGE_DAYS (400) would reject them as event_time_out_of_bounds.
MAX_EVENT_AGE_DAYS = 36_500
NESTING_LIMIT = 64  # pulse's MAX_NESTING: levels of objects and arrays, the event object is level 1
MAX_EVENT_BYTES = 1_000_000  # pulse's default PULSE_MAX_EVENT_BYTES (the engine runs with the default)
INVALID_CASES = Path(__file__).parents[1] / "cases" / "invalid"


@dataclass(frozen=True, slots=True)
class Expect:
    """What must become of a message.

    identity set: a valid event; exactly one fact per distinct identity (the event id pulse must use,
    or ("bytes", digest) for an event without any id: identical bytes are the same event).
    reason set: rejected, quarantined with this reason code.
    neither: fuzz whose fate is not labelled: it must be quarantined or loaded, never dropped.
    """

    identity: tuple[str, str] | None = None
    reason: RejectReason | None = None
    collection: str | None = None
    product_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send, with its label; `what` names it in failure messages."""

    value: bytes
    expect: Expect
    what: str
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """A message Kafka acknowledged, and where it put it."""

    message: Outgoing
    partition: int
    offset: int


def valid(doc: dict[str, object], what: str, *, key: bytes | None = None) -> Outgoing:
    """A valid event (built by the caller to pass every rule), labelled with its identity and content."""
    raw = orjson.dumps(doc)
    return Outgoing(raw, expect_valid(doc, raw), what, key)


def expect_valid(doc: dict[str, object], raw: bytes) -> Expect:
    """The label of a valid event: identity from `id`, else `_id` (or its `$oid`), else the bytes."""
    ident = doc.get("id")
    if ident is None:
        oid = doc.get("_id")
        ident = oid.get("$oid") if isinstance(oid, dict) else oid
    identity = ("id", str(ident)) if ident is not None else ("bytes", hashlib.sha256(raw).hexdigest())
    product = doc.get("product_id")
    return Expect(identity=identity, collection=str(doc["collection"]),
                  product_id=str(product) if product is not None else None)


def rejected(value: bytes, reason: RejectReason, what: str) -> Outgoing:
    """A message that must be quarantined with `reason`."""
    return Outgoing(value, Expect(reason=reason), what)


def unlabelled(value: bytes, what: str) -> Outgoing:
    """Fuzz: quarantined or loaded, never lost."""
    return Outgoing(value, Expect(), what)


# ---------------------------------------------------------------------------------------------- traffic
def synthetic(seed: int, count: int) -> list[Outgoing]:
    """Synthetic Glamira traffic (all valid), keyed by device id as the producer keys it."""
    out = []
    for event in TrafficGenerator(seed=seed, start=START).events(count):
        raw = encode(event)
        out.append(Outgoing(raw, Expect(identity=expect_valid(event, raw).identity, collection=event["collection"]),
                            "synthetic", event["device_id"].encode()))
    return out


def mixed(seed: int, synthetic_count: int, now: float) -> list[Outgoing]:
    """Synthetic traffic with the hostile corpus scattered through it (so rejections meet every fault)."""
    rng = random.Random(seed)
    messages = synthetic(seed, synthetic_count)
    for item in hostile_corpus(now, tag=f"s{seed}"):
        messages.insert(rng.randrange(len(messages) + 1), item)
    return messages


def hostile_corpus(now: float, tag: str = "c") -> list[Outgoing]:
    """Hand-made hostile input, each with its expected fate (see docs/reliability.md for the list)."""
    t = int(now) - 3600

    def doc(name: str, **fields: object) -> dict[str, object]:
        base: dict[str, object] = {"id": f"{tag}-{name}", "collection": "view_product_detail", "time_stamp": t,
                                   "product_id": "96672", "current_url": "https://www.glamira.de/x.html"}
        base.update(fields)
        return {k: v for k, v in base.items() if v is not _DROP}

    R = RejectReason
    out: list[Outgoing] = []
    # the hand-checked invalid cases of the unit tests, as they are
    for path in sorted(INVALID_CASES.iterdir()):
        if path.suffix in {".json", ".bin"}:
            out.append(rejected(path.read_bytes(), _reason_of(path), f"case:{path.name}"))
    # invalid UTF-8 inside a string
    for name, bad in {"latin1": b"Caf\xe9", "lone_continuation": b"\x80x", "overlong": b"\xc0\xaf",
                      "cesu_surrogate": b"\xed\xa0\x80", "truncated": b"\xe2\x82"}.items():
        raw = orjson.dumps(doc(f"utf8-{name}", collection="@@")).replace(b"@@", bad)
        out.append(rejected(raw, R.INVALID_UTF8, f"utf8:{name}"))
    # deeply nested JSON: beyond the parser (1024 levels), beyond what the warehouse can store (254), and
    # beyond pulse's nesting limit (64 levels; a field of the event object is level 2)
    for levels in (1025, 5000, 200_000):
        out.append(rejected(b"[" * levels + b"]" * levels, R.TOO_DEEP, f"deep:array-{levels}"))
    out.append(rejected(b'{"a":' * 3000 + b"1" + b"}" * 3000, R.TOO_DEEP, "deep:object-3000"))
    nested = b"[" * 600 + b"]" * 600
    for levels, blob in ((600, nested), (NESTING_LIMIT, b"[" * NESTING_LIMIT + b"]" * NESTING_LIMIT)):
        out.append(rejected(orjson.dumps(doc(f"deep-field-{levels}", payload="@@")).replace(b'"@@"', blob),
                            R.TOO_DEEP, f"deep:field-{levels}"))
    at_limit = orjson.loads(b"[" * (NESTING_LIMIT - 1) + b"]" * (NESTING_LIMIT - 1))
    out.append(valid(doc("deep-ok", payload=at_limit), f"deep:field-{NESTING_LIMIT - 1} (stored, at the limit)"))
    # size: exactly at the decoder's limit (loads), just above it and multi-megabyte (too_large)
    out.append(valid(_padded(doc("size-at-limit", pad=""), MAX_EVENT_BYTES), "size:at limit"))
    out.append(rejected(orjson.dumps(_padded(doc("size-over", pad=""), MAX_EVENT_BYTES + 1)), R.TOO_LARGE,
                        "size:limit+1"))
    for megabytes in (2, 5):
        big = orjson.dumps(_padded(doc(f"size-{megabytes}mb", pad=""), megabytes * 1_000_000))
        out.append(rejected(big, R.TOO_LARGE, f"size:{megabytes} MB"))
    out.append(rejected(b"[" * 1_500_000, R.TOO_LARGE, "size:1.5 MB of brackets"))
    # wrong types
    for name, fields, reason in [
        ("collection-int", {"collection": 7}, R.BAD_FIELD_TYPE),
        ("collection-list", {"collection": ["view_product_detail"]}, R.BAD_FIELD_TYPE),
        ("collection-object", {"collection": {"$ne": None}}, R.BAD_FIELD_TYPE),
        ("collection-bool", {"collection": True}, R.BAD_FIELD_TYPE),
        ("product-object", {"product_id": {"$gt": ""}}, R.BAD_FIELD_TYPE),
        ("product-float", {"product_id": 96672.5}, R.BAD_FIELD_TYPE),
        ("store-bool", {"store_id": True}, R.BAD_FIELD_TYPE),
        ("id-list", {"id": [1, 2]}, R.BAD_FIELD_TYPE),
        ("ip-list", {"ip": ["1.2.3.4"]}, R.BAD_FIELD_TYPE),
        ("email-object", {"email_address": {"x": 1}}, R.BAD_FIELD_TYPE),
        ("time-bool", {"time_stamp": True}, R.BAD_EVENT_TIME),
        ("time-text", {"time_stamp": "yesterday"}, R.BAD_EVENT_TIME),
        ("time-exponent", {"time_stamp": "1.7e9"}, R.BAD_EVENT_TIME),
        ("time-list", {"time_stamp": [t]}, R.BAD_EVENT_TIME),
        ("id-too-long", {"id": "x" * 129}, R.FIELD_TOO_LONG),
        ("collection-too-long", {"collection": "c" * 101}, R.FIELD_TOO_LONG),
        ("ip-too-long", {"ip": "1" * 65}, R.FIELD_TOO_LONG),
        ("device-too-long", {"device_id": "d" * 257}, R.FIELD_TOO_LONG),
        ("email-too-long", {"email_address": "e" * 320 + "@example.com"}, R.FIELD_TOO_LONG),
        ("product-1e300", {"product_id": 1e300}, R.BAD_FIELD_TYPE),
        ("amount-huge", {"cart_products": [{"product_id": "1", "amount": 1e300}]}, R.VALUE_OUT_OF_RANGE),
        ("amount-negative", {"cart_products": [{"product_id": "1", "amount": -1}]}, R.VALUE_OUT_OF_RANGE),
        ("reserved-flag", {"_pulse_truncated": []}, R.RESERVED_FIELD),
        ("nul", {"user_agent": "a\x00b"}, R.NUL_CHARACTER),
        ("nul-in-key", {"x\x00": 1}, R.NUL_CHARACTER),
        # missing fields
        ("no-collection", {"collection": _DROP}, R.MISSING_COLLECTION),
        ("blank-collection", {"collection": "   "}, R.MISSING_COLLECTION),
        ("null-collection", {"collection": None}, R.MISSING_COLLECTION),
        ("no-time", {"time_stamp": _DROP}, R.MISSING_EVENT_TIME),
        ("null-time", {"time_stamp": None}, R.MISSING_EVENT_TIME),
        # far past and far future
        ("time-zero", {"time_stamp": 0}, R.EVENT_TIME_OUT_OF_RANGE),
        ("time-negative", {"time_stamp": -62135596800}, R.EVENT_TIME_OUT_OF_RANGE),
        ("time-1999", {"time_stamp": MIN_TIME - 1}, R.EVENT_TIME_OUT_OF_RANGE),
        ("time-milliseconds", {"time_stamp": int(now) * 1000}, R.EVENT_TIME_OUT_OF_RANGE),
        ("time-in-2 days", {"time_stamp": int(now) + 2 * 86400}, R.EVENT_TIME_OUT_OF_BOUNDS),
        ("time-2100", {"time_stamp": MAX_TIME}, R.EVENT_TIME_OUT_OF_RANGE),
        ("time-year-9999", {"time_stamp": 253402300800}, R.EVENT_TIME_OUT_OF_RANGE),
        ("time-huge", {"time_stamp": 1e300}, R.EVENT_TIME_OUT_OF_RANGE),
    ]:
        out.append(rejected(orjson.dumps(doc(name, **fields)), reason, f"field:{name}"))
    # numbers that JSON parsers read as doubles: sent as numbers they would be stored as other values
    big = 123456789012345678901234
    for name, fields, reason in [("product-big", {"product_id": big}, R.BAD_FIELD_TYPE),
                                 ("id-big", {"id": big}, R.BAD_FIELD_TYPE),
                                 ("extra-big", {"order_total": {"cents": [big]}}, R.UNENCODABLE_VALUE)]:
        out.append(rejected(json.dumps(doc(name, **fields)).encode(), reason, f"number:{name}"))
    out.append(valid(doc("number-u64", extra_count=2**64 - 1, product_id=2**63), "number:64-bit integers (exact)"))
    out += [rejected(b"null", R.NOT_AN_OBJECT, "shape:null"), rejected(b"[{}]", R.NOT_AN_OBJECT, "shape:array"),
            rejected(b"{\"id\": 1,", R.INVALID_JSON, "shape:truncated"), rejected(b"\n\t ", R.EMPTY, "shape:blank")]
    # valid, however odd: edge times, unknown collections, SQL-looking and COPY-hostile strings, numeric ids
    # over-long free text is cut and flagged, and the event loads: the 7,900-character referrer of the
    # poison-pill incident (its rollup key once broke every commit), a long user agent and a long URL
    out += [valid(doc("long-referrer", referrer_url="https://www.google.com/url?q=" + "%E2%82%AC" * 877),
                  "long:referrer of 7,900 characters"),
            valid(doc("long-agent", user_agent="Mozilla/5.0 " + "A" * 9000), "long:user agent (truncated)"),
            valid(doc("long-url", current_url="https://www.glamira.de/x.html?q=" + "é" * 9000),
                  "long:page URL (truncated)"),
            valid(doc("long-search", key_search="ring " * 2000, option=[{"option_label": "l" * 500,
                                                                         "value_label": "v" * 500}]),
                  "long:search text and option (truncated)")]
    out += [valid(doc("time-2000", time_stamp=MIN_TIME), "time:2000-01-01 exactly"),
            valid(doc("time-soon", time_stamp=int(now) + 3600), "time:now + 1 h"),
            valid(doc("time-float", time_stamp=t + 0.999), "time:fractional")]
    for i, collection in enumerate(["zz_never_seen", "VIEW_PRODUCT_DETAIL", "商品を見る", "🛒" * 25, "c" * 100]):
        out.append(valid(doc(f"unknown-collection-{i}", collection=collection), f"collection:{collection[:12]}"))
    for i, text in enumerate(SQL_LOOKING):
        out.append(valid(doc(f"sql-{i}", collection=text[:100], product_id=text[:128], referrer_url=text,
                             key_search=text, **{text[:40]: text}), f"sql:{text[:20]}"))
    hostile_id = f"{tag}'; DELETE FROM event_ledger; --"  # noqa: S608 - hostile input, never a query
    out.append(valid(doc(f"sql-id-{tag}", id=hostile_id), "sql:id"))
    out.append(valid({"id": 91_000_000_001, "collection": "view_product_detail", "time_stamp": t}, "id:number"))
    out.append(valid({"id": "91000000001", "collection": "checkout", "time_stamp": t}, "id:same number as text"))
    # duplicate ids with different content: same partition (keyed: the first must win) and any partition
    for copy in range(3):
        keyed = doc("dup-keyed", collection=f"dup_version_{copy}", product_id=str(copy))
        out.append(valid(keyed, f"dup:keyed v{copy}", key=f"{tag}-dup-keyed".encode()))
        out.append(valid(doc("dup-spread", collection=f"dup_version_{copy}", product_id=str(copy)),
                         f"dup:spread v{copy}"))
    # a rejected copy first, then a valid copy of the same id: the valid one must load
    out.append(rejected(orjson.dumps(doc("dup-bad-first", time_stamp="soon")), R.BAD_EVENT_TIME, "dup:bad first"))
    out.append(valid(doc("dup-bad-first"), "dup:valid after a bad copy"))
    deep_first = orjson.dumps(doc("dup-deep-first", payload="@@")).replace(b'"@@"', nested)
    key = f"{tag}-dup-deep-first".encode()  # one partition, most likely one batch: the valid copy must load
    out.append(Outgoing(deep_first, Expect(reason=R.TOO_DEEP), "dup:too deep first", key))
    out.append(valid(doc("dup-deep-first"), "dup:valid after a too-deep copy", key=key))
    return out


SQL_LOOKING = [
    "'); DROP TABLE fact_event; --",
    "1 OR 1=1",
    "x' UNION SELECT rolpassword FROM pg_authid --",
    "$$; COPY quarantine TO PROGRAM 'id'; $$",
    "\\N",  # COPY's NULL marker
    "tab\there\nnewline\\.\rend",  # COPY's delimiters and end-of-data marker
    "\\x00\\\\'\"",
    "Robert'); TRUNCATE event_ledger;--",
]

_DROP = object()


def _padded(doc: dict[str, object], size: int) -> dict[str, object]:
    """The document with its `pad` field grown so the encoded event is exactly `size` bytes."""
    doc = dict(doc)
    doc["pad"] = ""
    doc["pad"] = "p" * (size - len(orjson.dumps(doc)))
    assert len(orjson.dumps(doc)) == size
    return doc


def _reason_of(path: Path) -> RejectReason:
    """The reason code in a case file's name (tests/cases/invalid/README.md)."""
    stem = path.name.split(".")[0]
    for reason in sorted(RejectReason, key=lambda r: -len(r.value)):
        if stem == reason.value or stem.startswith(reason.value + "_"):
            return reason
    raise AssertionError(f"no reason code in case name {path.name}")


# ------------------------------------------------------------------------------------------------- send
def engine_env(settings: Settings) -> dict[str, str]:
    """The engine's environment for a workspace; retries back off to 2 s at most (outages here are short)."""
    return {**env_for(settings), "PULSE_RETRY_MAX_BACKOFF_S": "2", "PULSE_MAX_EVENT_AGE_DAYS": str(MAX_EVENT_AGE_DAYS)}


def send(settings: Settings, messages: Iterable[Outgoing]) -> list[Sent]:
    """Produce every message (idempotent, acks=all, large messages allowed); return where each landed."""
    sent: list[Sent] = []
    errors: list[str] = []
    producer = Producer({
        "bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "acks": "all",
        "linger.ms": 10, "message.max.bytes": 10_000_000, "compression.type": "lz4",
    })

    def delivered(item: Outgoing) -> object:
        def callback(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(f"{item.what}: {err.str()}")
            else:
                sent.append(Sent(item, msg.partition() or 0, msg.offset() or 0))
        return callback

    for item in messages:
        while True:
            try:
                producer.produce(settings.topic, item.value, item.key, on_delivery=delivered(item))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(120)
    assert not errors and not left, f"{len(errors)} not delivered, {left} still queued: {errors[:3]}"
    return sent
