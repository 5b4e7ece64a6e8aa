"""The native engine: poll a micro-batch -> transform with the pure core -> commit it in one txn.

Two stages overlap: while a committer thread writes batch N to PostgreSQL (waiting on I/O), the main
thread polls and transforms batch N+1. Batches commit strictly in order, each with its offsets. A batch closes
as soon as the committer is free and grows while it is busy (batching.py): small and fresh at low rates, large
at high ones. Several engines in one consumer group: `pulse run --processes N` (processes.py).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, TopicPartition

from pulse.engines.batching import BatchPolicy, collect_batch
from pulse.engines.committing import commit_isolating
from pulse.engines.dead_letters import DeadLetterThread
from pulse.engines.runtime import RetryLoop, StoppableEngine, StopRequested, freeze_warm_heap, start_folder
from pulse.engines.stats import EngineStats
from pulse.events.model import SourceRef
from pulse.model.star import StarBatch
from pulse.ops.logging import batch_fields
from pulse.ops.metrics import EngineMetrics
from pulse.pipeline import Enrichers, transform_batch
from pulse.settings import Settings
from pulse.sources.kafka import create_consumer, message_error
from pulse.warehouse.heartbeat import EngineIdentity
from pulse.warehouse.loader import BatchResult, Messages, WarehouseLoader
from pulse.warehouse.sessions import VisitRules

log = logging.getLogger(__name__)

WARM_UP_BATCHES = 3  # after these the enrichers' tables and caches are loaded: the heap is frozen (runtime.py)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A transformed batch waiting for the committer thread."""

    batch: StarBatch
    offsets: dict[tuple[str, int], int]
    messages: int
    started: float
    raw: list[tuple[bytes, SourceRef | None]]
    kafka_times_ms: list[int] = field(default_factory=list)  # message timestamps, for the latency metric
    batch_id: str = ""
    now: float = 0.0  # the clock the transform judged event times by (isolation transforms again with it)


class NativeEngine(StoppableEngine):
    """One process: consumer, transform core and loader, with retries around the I/O."""

    def __init__(
        self,
        settings: Settings,
        enrichers: Enrichers | None = None,
        on_batch: Callable[[BatchResult, EngineStats], None] | None = None,
        metrics: EngineMetrics | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.enrichers = enrichers or Enrichers.from_settings(settings)
        # ---- health: the heartbeat row (liveness) is beaten in every batch transaction and when idle
        self.identity = EngineIdentity(settings.consumer_group, settings.topic)
        self.loader = WarehouseLoader(
            settings.loader_url, settings.consumer_group, identity=self.identity, kpi_zone=settings.timezone,
            statement_timeout_s=settings.commit_timeout_s, url_setting=settings.loader_url_setting,
            visit_rules=VisitRules.from_settings(settings),
        )
        self.stats = EngineStats()
        self.metrics = metrics or EngineMetrics()  # Prometheus; `pulse run --metrics-port` serves it
        # Transient database failures are retried until they pass or a stop is requested; the heartbeat says so.
        self._retry = RetryLoop(
            settings.retry_max_backoff_s, stop=self.stop_requested, on_failure=self._retrying,
            on_done=lambda what: self.metrics.retrying(what, 0),
            beat=lambda status: self.loader.heartbeat(status=status), beat_every_s=settings.heartbeat_interval_s,
        )
        self._on_batch = on_batch
        # One batch may wait while another commits: memory stays bounded at two batches.
        self._pending: queue.Queue[_Pending | None] = queue.Queue(maxsize=1)
        self._batching = BatchPolicy(settings.batch_max_events, settings.batch_max_wait_ms / 1000)
        self._transformed = 0  # batches handed to the committer, for the heap freeze after the warm-up
        self._committed_offsets: dict[tuple[str, int], int] = {}
        self._failure: Exception | None = None
        self._abandoned = False  # stopped while retrying: later batches are dropped, never committed out of order

    def run(self, until_idle: float | None = None) -> EngineStats:
        """Consume until stopped, or until `until_idle` seconds pass without a new message."""
        settings = self.settings
        try:
            self._retry(lambda: self.loader.stored_offsets(settings.topic), "read the offsets ledger")
            self._retry(self.loader.heartbeat, "write the heartbeat")
        except StopRequested:
            log.info("stopped before the warehouse could be reached: nothing was read")
            return self.stats
        # the idle clock starts once the group gave us partitions, and again at each later assignment: partitions
        # handed over by another engine of the group (--processes) are read before an idle exit
        assigned_at: list[float] = []
        committer = threading.Thread(target=self._commit_loop, name="pulse-committer", daemon=True)
        committer.start()
        folder = start_folder(settings, self.metrics)  # rollup deltas -> rollups, beside the writes
        dead_letters = self._start_dead_letters()

        def resume_offsets(topic: str) -> dict[int, int]:
            self._pending.join()  # batches in flight first: their offsets are the resume point
            offsets = self._retry(lambda: self.loader.stored_offsets(topic), "read the offsets ledger")
            assigned_at.append(time.monotonic())
            self.metrics.resumed(offsets)
            return offsets

        consumer = create_consumer(
            settings.kafka_bootstrap, settings.consumer_group, settings.topic, resume_offsets=resume_offsets,
            on_error=lambda _error: self.metrics.kafka_error("client"),
        )
        log.info("engine started", extra={"pulse.kafka.topic": settings.topic, "pulse.kafka.consumer_group":
                                          settings.consumer_group, "pulse.engine.id": self.identity.engine_id})
        last_message = 0.0
        try:
            while not self.stop_requested.is_set():
                self._raise_committer_failure()
                self._commit_to_kafka(consumer)
                self.metrics.refresh_lag(consumer)
                messages = collect_batch(consumer, self._batching, self._committer_busy)
                records = [m for m in messages if message_error(m) is None]
                for m in messages:
                    if m.error() is not None:
                        log.warning("kafka: %s", m.error().str())  # type: ignore[union-attr]
                        self.metrics.kafka_error("consume")
                if not records:
                    quiet_since = max(last_message, assigned_at[-1] if assigned_at else time.monotonic())
                    if until_idle is not None and time.monotonic() - quiet_since >= until_idle:
                        log.info("idle for %.1f s: exiting", until_idle)
                        break
                    continue
                last_message = time.monotonic()
                self._process(consumer, records)
        except StopRequested:  # raised from the rebalance callback: the resume point could not be read
            log.info("stopped while waiting for the warehouse")
        finally:
            self._pending.put(None)  # let the committer finish what is queued, then stop
            committer.join()
            if folder is not None:
                folder.stop()  # after a last fold: the rollups hold every batch this engine committed
            if dead_letters is not None:
                dead_letters.stop()
            self._commit_to_kafka(consumer)
            consumer.close()
            try:
                self.loader.heartbeat(stopped=True)
            except Exception as exc:  # noqa: BLE001 - the row simply ages; health reports it
                log.warning("could not mark the heartbeat stopped: %s", exc)
            self.loader.close()
            log.info("engine stopped", extra={f"pulse.engine.{k}": v for k, v in self.stats.as_dict().items()})
        self._raise_committer_failure()
        return self.stats

    def _start_dead_letters(self) -> DeadLetterThread | None:
        """The dead-letter publisher in the background (PULSE_DLQ_PUBLISH_INTERVAL_S; 0: none)."""
        if not self.settings.dlq_publish_interval_s:
            return None
        return DeadLetterThread(self.settings, self.metrics.dead_letters)

    def _process(self, consumer: Consumer, records: list[Message]) -> None:
        started = time.monotonic()
        offsets: dict[tuple[str, int], int] = {}
        raw: list[tuple[bytes, SourceRef | None]] = []
        kafka_times_ms: list[int] = []
        for m in records:
            topic, partition, offset = m.topic() or "", m.partition() or 0, m.offset() or 0
            raw.append((m.value() or b"", SourceRef(topic, partition, offset)))
            kafka_times_ms.append(m.timestamp()[1])
            key = (topic, partition)
            offsets[key] = max(offsets.get(key, 0), offset + 1)
        now = time.time()
        batch: StarBatch = transform_batch(raw, self.enrichers, now=now)
        self._pending.put(
            _Pending(batch, offsets, len(records), started, raw, kafka_times_ms, self.identity.next_batch_id(), now)
        )
        self._transformed += 1
        if self._transformed == WARM_UP_BATCHES:
            freeze_warm_heap()

    def _committer_busy(self) -> bool:
        """A batch is committing or queued: the next one may keep growing (engines/batching.py)."""
        return self._pending.unfinished_tasks > 0

    def _commit_loop(self) -> None:
        """The committer thread: one transaction per batch, in order, retried until it lands."""
        while True:
            try:
                item = self._pending.get(timeout=self.settings.heartbeat_interval_s)
            except queue.Empty:
                self._idle_heartbeat()
                continue
            try:
                if item is None:
                    return
                if self._failure is not None or self._abandoned:
                    continue  # the engine is stopping: drop, never commit out of order
                commit_started = time.monotonic()
                try:
                    result, committed = commit_isolating(
                        self.loader, item.batch, item.offsets, item.raw, self._transform_at(item.now), self._retry,
                    )
                except StopRequested:
                    self._abandoned = True
                    log.warning("stopped while retrying: the batch in flight and those queued are not committed;"
                                " the next start reads them again from the offsets in the warehouse")
                    continue
                except Exception as exc:  # noqa: BLE001 - handed to the main thread, which raises it
                    self._failure = exc
                    self.stop_requested.set()
                    continue
                self._committed_offsets.update(item.offsets)
                stats = self.stats
                stats.batches += 1
                stats.messages += item.messages
                stats.loaded += result.loaded
                stats.duplicates += result.duplicates
                stats.quarantined += result.quarantined
                stats.last_batch_latency_s = time.monotonic() - item.started
                if result.refused:
                    committed = StarBatch(rejections=committed.rejections + list(result.refused))
                self.metrics.batch_committed(
                    committed, result, item.offsets, messages=item.messages, started=item.started,
                    commit_seconds=time.monotonic() - commit_started, kafka_times_ms=item.kafka_times_ms,
                )
                log.info("batch committed", extra={
                    **batch_fields(item.batch_id, ((s.topic, s.partition, s.offset) for _, s in item.raw if s)),
                    "pulse.batch.messages": item.messages, "pulse.batch.loaded": result.loaded,
                    "pulse.batch.duplicates": result.duplicates, "pulse.batch.quarantined": result.quarantined,
                    "event.duration": int(stats.last_batch_latency_s * 1e9),
                })
                if self._on_batch is not None:
                    self._on_batch(result, stats)
            finally:
                self._pending.task_done()

    def _transform_at(self, now: float) -> Callable[[Messages], StarBatch]:
        """The transform as it ran for a batch (same clock), for isolating the messages the database refuses."""
        return lambda piece: transform_batch(piece, self.enrichers, now=now)

    def _idle_heartbeat(self) -> None:
        """No batch for a while: beat anyway, so health tells an idle engine from a dead one."""
        if self._failure is not None:
            return
        try:
            self.loader.heartbeat()
        except Exception as exc:  # noqa: BLE001 - the next beat or batch tries again
            log.warning("could not write the heartbeat: %s", exc)

    def _commit_to_kafka(self, consumer: Consumer) -> None:
        """Mirror committed offsets to Kafka for lag monitoring; the warehouse holds the truth."""
        if not self._committed_offsets:
            return
        done, self._committed_offsets = self._committed_offsets, {}
        try:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in done.items()], asynchronous=True)
        except Exception as exc:  # noqa: BLE001 - best effort, never fatal
            log.debug("kafka offset commit skipped: %s", exc)

    def _raise_committer_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _retrying(self, what: str, failing_for_s: float) -> None:
        """A transient failure of `what`: counted, and the metrics show the operation as retrying."""
        self.stats.retries += 1
        self.metrics.database_retry(what)
        self.metrics.retrying(what, failing_for_s)
