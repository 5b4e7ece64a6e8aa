"""The native engine: poll a micro-batch -> transform with the pure core -> commit it in one txn."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import Consumer, Message, TopicPartition

from pulse.errors import TransientError
from pulse.events.model import SourceRef
from pulse.model.star import Enrichers, StarBatch, transform_batch
from pulse.settings import Settings
from pulse.sources.kafka import create_consumer, message_error
from pulse.warehouse.loader import BatchResult, WarehouseLoader

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class EngineStats:
    """Running totals of one engine process."""

    batches: int = 0
    messages: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    retries: int = 0
    started: float = field(default_factory=time.monotonic)
    last_batch_latency_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain values for logs and JSON."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {
            "batches": self.batches, "messages": self.messages, "loaded": self.loaded,
            "duplicates": self.duplicates, "quarantined": self.quarantined, "retries": self.retries,
            "events_per_s": round(self.messages / elapsed, 1),
        }


class NativeEngine:
    """One process: consumer, transform core and loader, with retries around the I/O."""

    def __init__(
        self,
        settings: Settings,
        enrichers: Enrichers | None = None,
        on_batch: Callable[[BatchResult, EngineStats], None] | None = None,
    ) -> None:
        self.settings = settings
        self.enrichers = enrichers or Enrichers.create(
            hash_key=settings.require_hash_key(),
            geoip_database=settings.geoip_database,
            storefronts_file=settings.storefronts_file,
            max_event_bytes=settings.max_event_bytes,
        )
        self.loader = WarehouseLoader(settings.loader_url, settings.consumer_group)
        self.stats = EngineStats()
        self.stop_requested = threading.Event()
        self._on_batch = on_batch

    def request_stop(self, *_: object) -> None:
        """Finish the batch in flight, then exit (SIGTERM / Ctrl-C)."""
        if not self.stop_requested.is_set():
            log.info("stop requested: finishing the batch in flight")
        self.stop_requested.set()

    def install_signal_handlers(self) -> None:
        """Route SIGTERM and SIGINT to a clean stop (main thread only)."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def run(self, until_idle: float | None = None) -> EngineStats:
        """Consume until stopped, or until `until_idle` seconds pass without a new message."""
        settings = self.settings
        self._retry(lambda: self.loader.stored_offsets(settings.topic), "read the offsets ledger")
        assigned_at: list[float] = []  # the idle clock starts once the group gave us partitions

        def resume_offsets(topic: str) -> dict[int, int]:
            offsets = self._retry(lambda: self.loader.stored_offsets(topic), "read the offsets ledger")
            assigned_at.append(time.monotonic())
            return offsets

        consumer = create_consumer(
            settings.kafka_bootstrap, settings.consumer_group, settings.topic, resume_offsets=resume_offsets
        )
        log.info("engine started", extra={"topic": settings.topic, "group": settings.consumer_group})
        last_message = 0.0
        try:
            while not self.stop_requested.is_set():
                messages = consumer.consume(
                    num_messages=settings.batch_max_events, timeout=settings.batch_max_wait_ms / 1000
                )
                records = [m for m in messages if message_error(m) is None]
                for m in messages:
                    if m.error() is not None:
                        log.warning("kafka: %s", m.error().str())  # type: ignore[union-attr]
                if not records:
                    quiet_since = max(last_message, assigned_at[0] if assigned_at else time.monotonic())
                    if until_idle is not None and time.monotonic() - quiet_since >= until_idle:
                        log.info("idle for %.1f s: exiting", until_idle)
                        break
                    continue
                last_message = time.monotonic()
                self._process(consumer, records)
        finally:
            consumer.close()
            self.loader.close()
            log.info("engine stopped", extra=self.stats.as_dict())
        return self.stats

    def _process(self, consumer: Consumer, records: list[Message]) -> None:
        started = time.monotonic()
        offsets: dict[tuple[str, int], int] = {}
        raw: list[tuple[bytes, SourceRef | None]] = []
        for m in records:
            topic, partition, offset = m.topic() or "", m.partition() or 0, m.offset() or 0
            raw.append((m.value() or b"", SourceRef(topic, partition, offset)))
            key = (topic, partition)
            offsets[key] = max(offsets.get(key, 0), offset + 1)
        batch: StarBatch = transform_batch(raw, self.enrichers, now=time.time())
        result = self._retry(lambda: self.loader.commit_batch(batch, offsets), "commit a batch")
        # Kafka's own committed offsets only feed lag monitoring; the warehouse holds the truth.
        try:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=True
            )
        except Exception as exc:  # noqa: BLE001 - best effort, never fatal
            log.debug("kafka offset commit skipped: %s", exc)
        stats = self.stats
        stats.batches += 1
        stats.messages += len(records)
        stats.loaded += result.loaded
        stats.duplicates += result.duplicates
        stats.quarantined += result.quarantined
        stats.last_batch_latency_s = time.monotonic() - started
        log.debug("batch committed", extra={"loaded": result.loaded, "messages": len(records)})
        if self._on_batch is not None:
            self._on_batch(result, stats)

    def _retry(self, action: Callable[[], T], what: str) -> T:
        delay = 0.2
        while True:
            try:
                return action()
            except TransientError as exc:
                self.stats.retries += 1
                log.warning("could not %s, retrying in %.1f s: %s", what, delay, exc)
                if self.stop_requested.wait(delay) and what != "commit a batch":
                    raise
                delay = min(delay * 2, self.settings.retry_max_backoff_s)
