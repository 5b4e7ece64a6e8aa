"""Request bodies -> stamped pulse events: parse one/array/NDJSON, check, stamp (pure, no I/O)."""

from __future__ import annotations

import ipaddress
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from pulse.errors import ECHO_LIMIT
from pulse.events.limits import FIELD_LIMITS, MAX_NESTING, may_nest_too_deep, nesting_exceeds

# A client clock this far from ours is not believed: its time_stamp is replaced by the collector's.
MAX_CLIENT_PAST_S = 24 * 3600  # the tracker's retry queue may hold events for a while
MAX_CLIENT_FUTURE_S = 300
MAX_COLLECTION_CHARS = FIELD_LIMITS["collection"].max_chars  # the engine's limit: refuse what it would reject

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class IntakeError(ValueError):
    """A request the collector refuses: HTTP status, a stable reason code and a short detail."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may carry."""

    max_body_bytes: int
    max_batch_events: int
    max_event_bytes: int


def parse_body(body: bytes, limits: Limits) -> list[dict[str, Any]]:
    """One JSON object, a JSON array of objects, or NDJSON (one object per line) -> the event objects."""
    if len(body) > limits.max_body_bytes:
        raise IntakeError(413, "body_too_large", f"body of {len(body)} bytes > limit {limits.max_body_bytes}")
    if not body.strip():
        raise IntakeError(400, "empty_body", "the body is empty: send one JSON object, an array or NDJSON")
    try:
        doc = orjson.loads(body)
        items: list[Any] = doc if isinstance(doc, list) else [doc]
    except orjson.JSONDecodeError as exc:
        if b"\n" not in body.strip():
            raise json_refusal(str(exc)) from None
        items = _ndjson(body)
    if not items:
        raise IntakeError(400, "empty_batch", "the array holds no events")
    if len(items) > limits.max_batch_events:
        raise IntakeError(413, "batch_too_large", f"{len(items)} events > limit {limits.max_batch_events}")
    may_be_deep = may_nest_too_deep(body)
    for index, item in enumerate(items):
        check_event(item, index, may_be_deep=may_be_deep)
    return items


def json_refusal(message: str, where: str = "not JSON, a JSON array or NDJSON") -> IntakeError:
    """The 400 for text orjson could not parse: too_deep when it nests past the parser's depth limit."""
    if "depth limit" in message or "recursion" in message.lower():
        return IntakeError(400, "too_deep", f"{where}: nested deeper than {MAX_NESTING} levels")
    return IntakeError(400, "invalid_json", f"{where}: {message[:ECHO_LIMIT]}")


def _ndjson(body: bytes) -> list[Any]:
    items: list[Any] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise json_refusal(str(exc), f"NDJSON line {number}") from None
    return items


def check_event(item: Any, index: int = 0, *, may_be_deep: bool = True) -> None:
    """An event must be an object with a non-blank `collection` string, nested at most MAX_NESTING levels.

    `may_be_deep=False` skips the nesting walk (the body's bracket count already rules it out).
    """
    if not isinstance(item, dict):
        raise IntakeError(400, "not_an_object", f"event {index} is a {type(item).__name__}, not an object")
    if may_be_deep and nesting_exceeds(item):
        raise IntakeError(400, "too_deep", f"event {index} nests deeper than {MAX_NESTING} levels")
    collection = item.get("collection")
    if not isinstance(collection, str) or not collection.strip():
        raise IntakeError(400, "missing_collection", f"event {index} has no collection")
    if len(collection) > MAX_COLLECTION_CHARS:
        raise IntakeError(400, "bad_collection", f"event {index}: collection longer than {MAX_COLLECTION_CHARS}")


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the collector knows about a request, independent of its body."""

    received_at: float  # Unix seconds, the collector's clock
    client_ip: str
    user_agent: str | None


def stamp_event(event: dict[str, Any], facts: RequestFacts) -> dict[str, Any]:
    """Fill in what the server knows better than the browser; return the event (changed in place).

    `collector_time_stamp` is always the receive time. `time_stamp` stays the client's when it is a
    plausible Unix time; otherwise it becomes the receive time and the client's value is kept as
    `client_time_stamp`. `ip` comes from the proxy chain and `user_agent` from the header (the
    body cannot forge them). `id` is a new UUID when the client sent none.
    """
    event["collector_time_stamp"] = round(facts.received_at, 3)
    if "time_stamp" in event and not _plausible_time(event["time_stamp"], facts.received_at):
        event["client_time_stamp"] = event.pop("time_stamp")
    if "time_stamp" not in event:
        event["time_stamp"] = int(facts.received_at)
    event["ip"] = facts.client_ip
    if facts.user_agent:
        event["user_agent"] = facts.user_agent
    event_id = event.get("id")
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        event["id"] = str(uuid.uuid4())
    return event


def _plausible_time(value: Any, now: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and now - MAX_CLIENT_PAST_S <= value <= now + MAX_CLIENT_FUTURE_S


def encode_event(event: Mapping[str, Any], limits: Limits, index: int = 0) -> bytes:
    """The Kafka message value; 413 when one event alone is larger than the pipeline accepts."""
    try:
        value = orjson.dumps(event)
    except orjson.JSONEncodeError as exc:  # not reachable from parsed JSON within MAX_NESTING; kept as a guard
        raise IntakeError(400, "unencodable_event", f"event {index} cannot be written as JSON: {exc}") from None
    if len(value) > limits.max_event_bytes:
        raise IntakeError(413, "event_too_large", f"event {index} is {len(value)} bytes > {limits.max_event_bytes}")
    return value


def parse_networks(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    """Trusted proxies as networks ("10.0.0.0/8", "127.0.0.1")."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def client_ip(peer: str | None, forwarded_for: str | None, trusted: tuple[IpNetwork, ...]) -> str:
    """The client address: walk X-Forwarded-For from the right while the hop is a trusted proxy.

    The peer (the TCP connection's address) is the first hop. Only a trusted hop may vouch for the one
    before it, so the leftmost entries, which the browser can forge, count only when every proxy after
    them is trusted. A malformed entry ends the walk at the last believable address.
    """
    current = peer or "0.0.0.0"
    if not forwarded_for or not _is_trusted(current, trusted):
        return current
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _valid_ip(hop):
            return current
        current = hop
        if not _is_trusted(hop, trusted):
            return hop
    return current


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
