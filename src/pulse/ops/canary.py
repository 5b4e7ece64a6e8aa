"""`pulse canary`: one marked event through Kafka until it is queryable in the warehouse; latency to canary_run.

The event's collection is `pulse_canary` (pulse.model.star.CANARY_COLLECTION): it loads into fact_event like
any event, so the canary proves the whole path, but the loader keeps it out of the rollups and the
freshness, so no KPI ever counts it.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message

from pulse.errors import PulseError
from pulse.model.star import CANARY_COLLECTION
from pulse.settings import Settings
from pulse.sources import kafka
from pulse.warehouse.db import connect_loader, connect_reader
from pulse.warehouse.health import canary_seen, record_canary_run


@dataclass(frozen=True, slots=True)
class CanaryResult:
    """The outcome of one canary run."""

    event_id: str
    sent_at: datetime
    seen_at: datetime | None
    latency_ms: float | None
    max_latency_ms: float
    ok: bool
    detail: str
    recorded: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain values for `--format json`."""
        return {
            "ok": self.ok, "event_id": self.event_id, "sent_at": self.sent_at.isoformat(),
            "seen_at": self.seen_at.isoformat() if self.seen_at else None,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "max_latency_ms": self.max_latency_ms, "detail": self.detail, "recorded": self.recorded,
        }


def canary_event(event_id: str, sent_at: datetime) -> bytes:
    """The marked event: only an id, the canary collection and the time (no personal data)."""
    return orjson.dumps({
        "id": event_id, "collection": CANARY_COLLECTION, "time_stamp": int(sent_at.timestamp()),
        "api_version": "pulse-canary",
    })


def run_canary(settings: Settings, *, timeout_s: float, max_latency_s: float, poll_s: float = 0.05) -> CanaryResult:
    """Send one canary, wait until the reader role can query it, record the run; never raises for a failed run."""
    event_id = f"pulse-canary-{uuid.uuid4()}"
    sent_at = datetime.now(UTC)
    started = time.monotonic()
    max_latency_ms = max_latency_s * 1000
    try:
        _produce(settings, event_id, canary_event(event_id, sent_at), timeout_s)
        seen_after = _wait_until_queryable(settings, event_id, sent_at, started, started + timeout_s, poll_s)
    except PulseError as exc:
        return _record(settings, CanaryResult(event_id, sent_at, None, None, max_latency_ms, False, str(exc)))
    if seen_after is None:
        result = CanaryResult(event_id, sent_at, None, None, max_latency_ms, False,
                              f"not queryable after {timeout_s:g} s (is the engine running? see `pulse health`)")
    else:
        latency_ms = seen_after * 1000
        ok = latency_ms <= max_latency_ms
        detail = f"queryable after {latency_ms:,.0f} ms" + ("" if ok else f" (above {max_latency_ms:,.0f} ms)")
        result = CanaryResult(event_id, sent_at, datetime.fromtimestamp(sent_at.timestamp() + seen_after, tz=UTC),
                              latency_ms, max_latency_ms, ok, detail)
    return _record(settings, result)


def _produce(settings: Settings, event_id: str, payload: bytes, timeout_s: float) -> None:
    errors: list[KafkaError] = []

    def delivered(err: KafkaError | None, _msg: Message | None) -> None:
        if err is not None:
            errors.append(err)

    # quiet: librdkafka chatter is not the canary's output, its result says what matters
    producer = kafka.producer(settings, client_id="pulse-canary", delivery_timeout_s=timeout_s, linger_ms=0, quiet=True)
    producer.produce(settings.topic, key=event_id.encode(), value=payload, on_delivery=delivered)
    left = producer.flush(timeout_s)
    if left or errors:
        reason = errors[0].str() if errors else f"no acknowledgement within {timeout_s:g} s"
        raise PulseError(f"could not send the canary to Kafka at PULSE_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}:"
                         f" {reason}")


def _wait_until_queryable(
    settings: Settings, event_id: str, sent_at: datetime, started: float, deadline: float, poll_s: float
) -> float | None:
    """Seconds from `started` (monotonic, before the send) to the first successful query by the reader role,
    or None at the deadline."""
    with connect_reader(settings, autocommit=True) as conn:
        while True:
            seen = canary_seen(conn, sent_at.date(), event_id)
            now = time.monotonic()
            if seen:
                return now - started
            if now >= deadline:
                return None
            time.sleep(poll_s)


def _record(settings: Settings, result: CanaryResult) -> CanaryResult:
    """Insert the run into canary_run (loader role); a failure to record is said in the detail."""
    try:
        with connect_loader(settings) as conn:
            record_canary_run(
                conn, event_id=result.event_id, sent_at=result.sent_at, seen_at=result.seen_at,
                latency_ms=result.latency_ms, max_latency_ms=result.max_latency_ms, ok=result.ok, detail=result.detail,
            )
    except Exception as exc:  # noqa: BLE001 - the run's outcome still goes to the caller
        return _replace(result, ok=False, detail=f"{result.detail}; could not record the run: {exc}")
    return _replace(result, recorded=True)


def _replace(result: CanaryResult, **changes: Any) -> CanaryResult:
    return dataclasses.replace(result, **changes)
