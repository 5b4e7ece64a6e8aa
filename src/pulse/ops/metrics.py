"""Prometheus metrics of the native engine, in a registry of its own (one per engine), and their endpoint.

Names follow Prometheus conventions: base units (`_seconds`, `_bytes`), `_total` on counters, and only
bounded label values (reason codes, partition numbers, a fixed set of operations). Every labelled series
that can be known in advance is created at zero, so rates and alert expressions have data from the start.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from pulse.errors import ConfigError
from pulse.events.model import RejectReason
from pulse.model.star import StarBatch
from pulse.warehouse.folding import Fold
from pulse.warehouse.loader import BatchResult

log = logging.getLogger(__name__)

# Kafka message time -> committed in PostgreSQL: well under a second when healthy, minutes when behind.
END_TO_END_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
# What the engine retries against PostgreSQL (the `what` of NativeEngine._retry) -> a stable label value.
DATABASE_OPERATIONS = {
    "read the offsets ledger": "read_offsets",
    "commit a batch": "commit_batch",
    "quarantine a refused batch": "quarantine_batch",
    "isolate refused messages": "isolate_batch",
    "write the heartbeat": "heartbeat",
}
KAFKA_ERROR_KINDS = ("client", "consume")
LAG_REFRESH_S = 1.0


class BulkHistogram(Collector):
    """A histogram that takes a whole batch of observations at once (sorted, then bisected per bucket).

    prometheus_client's Histogram takes one observation per call under a lock; the engine observes the
    end-to-end latency of every message, thousands per batch, so it counts them in bulk instead.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = tuple(sorted(buckets))
        self._counts = [0] * (len(self.bounds) + 1)  # per bucket, not cumulative; the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe_many(self, values: Iterable[float]) -> None:
        """Add every value of a batch."""
        ordered = sorted(values)
        if not ordered:
            return
        below = [bisect.bisect_right(ordered, bound) for bound in self.bounds]
        total = sum(ordered)
        with self._lock:
            previous = 0
            for i, upto in enumerate(below):
                self._counts[i] += upto - previous
                previous = upto
            self._counts[-1] += len(ordered) - previous
            self._sum += total

    def observe_ages_ms(self, timestamps_ms: Sequence[int], now_ms: int) -> None:
        """Add `now - timestamp` (seconds, at least 0) for every timestamp > 0, without per-value Python work:
        sort the timestamps once, then each bucket is one bisection (age <= bound <=> ts >= now - bound)."""
        ordered = sorted(timestamps_ms)
        ordered = ordered[bisect.bisect_right(ordered, 0):]  # 0 or -1: the message carried no timestamp
        n = len(ordered)
        if not n:
            return
        at_most = [n - bisect.bisect_left(ordered, now_ms - round(bound * 1000)) for bound in self.bounds]
        future = ordered[bisect.bisect_right(ordered, now_ms):]  # clock skew: counted as age 0
        total_ms = n * now_ms - sum(ordered) + (sum(future) - len(future) * now_ms)
        with self._lock:
            previous = 0
            for i, upto in enumerate(at_most):
                self._counts[i] += upto - previous
                previous = upto
            self._counts[-1] += n - previous
            self._sum += total_ms / 1000

    def collect(self) -> Iterator[Metric]:
        """The exposition: cumulative buckets, count and sum."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), counts, strict=True):
            running += n
            cumulative.append((_le(bound), running))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=cumulative, sum_value=total)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


@dataclass
class EngineMetrics:
    """Everything the engine reports: throughput, quarantine by reason, batches, latency, lag, freshness,
    retries against PostgreSQL and Kafka errors, plus the process (memory, CPU, file descriptors)."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    _committed: dict[int, int] = field(default_factory=dict)  # partition -> next offset committed
    _lag_updated: float = 0.0
    _newest_event: float = 0.0

    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter("pulse_engine_events_consumed", "Kafka messages in committed batches.", registry=r)
        self.loaded = Counter("pulse_engine_events_loaded", "Events newly loaded into the fact table.", registry=r)
        self.duplicates = Counter(
            "pulse_engine_events_duplicate", "Events skipped because their id was already loaded.", registry=r
        )
        self.quarantined = Counter(
            "pulse_engine_events_quarantined", "Messages quarantined, by reason code.", ("reason",), registry=r
        )
        for reason in RejectReason:
            self.quarantined.labels(reason.value)
        self.batches = Counter("pulse_engine_batches_committed", "Batches committed to the warehouse.", registry=r)
        self.batch_size = Histogram(
            "pulse_engine_batch_size_messages", "Messages per committed batch.", buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "pulse_engine_batch_duration_seconds", "From a batch's poll to its commit (transform, wait, commit).",
            buckets=BATCH_SECONDS_BUCKETS, registry=r,
        )
        self.commit_seconds = Histogram(
            "pulse_engine_commit_duration_seconds", "The warehouse transaction of one batch, retries included.",
            buckets=BATCH_SECONDS_BUCKETS, registry=r,
        )
        self.end_to_end = BulkHistogram(
            "pulse_engine_end_to_end_latency_seconds",
            "From a message's Kafka timestamp to the commit of its batch in the warehouse.", END_TO_END_BUCKETS,
        )
        r.register(self.end_to_end)
        self.lag = Gauge(
            "pulse_engine_consumer_lag_messages",
            "Messages in an assigned partition after the last committed offset (high watermark - committed).",
            ("partition",), registry=r,
        )
        self.newest_event = Gauge(
            "pulse_engine_newest_committed_event_timestamp_seconds",
            "Event time (Unix seconds) of the newest event committed by this process.", registry=r,
        )
        self.last_commit = Gauge(
            "pulse_engine_last_commit_timestamp_seconds", "When this process last committed a batch (Unix).",
            registry=r,
        )
        self.database_retries = Counter(
            "pulse_engine_database_retries", "Transient PostgreSQL failures retried, by operation.",
            ("operation",), registry=r,
        )
        for operation in (*DATABASE_OPERATIONS.values(), "other"):
            self.database_retries.labels(operation)
        self.retrying_now = Gauge(
            "pulse_engine_retrying_seconds",
            "How long the engine has been retrying a transient PostgreSQL failure in this operation (it is not"
            " loading meanwhile); 0 when it is not retrying.",
            ("operation",), registry=r,
        )
        for operation in (*DATABASE_OPERATIONS.values(), "other"):
            self.retrying_now.labels(operation).set(0)
        self.kafka_errors = Counter(
            "pulse_engine_kafka_errors",
            "Kafka errors librdkafka reported and recovers from (client: connection level; consume: on a fetch).",
            ("kind",), registry=r,
        )
        for kind in KAFKA_ERROR_KINDS:
            self.kafka_errors.labels(kind)
        self.fold_seconds = Histogram(
            "pulse_engine_fold_duration_seconds", "One fold of the rollup deltas into the rollups (both transactions).",
            buckets=BATCH_SECONDS_BUCKETS, registry=r,
        )
        self.folded_batches = Counter(
            "pulse_engine_folded_batches", "Batch transactions whose rollup deltas this process folded.", registry=r
        )
        self.fold_errors = Counter(
            "pulse_engine_fold_errors", "Folds that failed (retried at the next tick).", registry=r
        )
        self.folded_through = Gauge(
            "pulse_engine_folded_through_timestamp_seconds",
            "Every batch committed before this time (Unix) is in the rollups the KPIs read.", registry=r,
        )
        self.dlq_published = Counter(
            "pulse_dlq_published", "Quarantine rows this process put on the dead-letter topic (and marked).",
            registry=r,
        )
        self.dlq_pending = Gauge(
            "pulse_dlq_pending_messages", "Quarantine rows not yet on the dead-letter topic.", registry=r
        )
        self.dlq_oldest_pending = Gauge(
            "pulse_dlq_oldest_pending_age_seconds",
            "Age of the oldest quarantine row not yet on the dead-letter topic; 0 when none is pending.", registry=r,
        )
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

    # ------------------------------------------------------------------ hooks the engine calls
    def batch_committed(
        self, batch: StarBatch, result: BatchResult, offsets: dict[tuple[str, int], int], *,
        messages: int, started: float, commit_seconds: float, kafka_times_ms: Sequence[int],
    ) -> None:
        """One batch landed in the warehouse (committer thread). Never raises: metrics never stop the engine."""
        try:
            self._count_batch(batch, result, offsets, messages, started, commit_seconds, kafka_times_ms)
        except Exception:  # noqa: BLE001
            log.exception("batch metrics not recorded")

    def _count_batch(
        self, batch: StarBatch, result: BatchResult, offsets: dict[tuple[str, int], int], messages: int,
        started: float, commit_seconds: float, kafka_times_ms: Sequence[int],
    ) -> None:
        now = time.time()
        self.end_to_end.observe_ages_ms(kafka_times_ms, int(now * 1000))
        self.consumed.inc(messages)
        self.loaded.inc(result.loaded)
        self.duplicates.inc(result.duplicates)
        for rejection in batch.rejections:
            self.quarantined.labels(rejection.reason.value).inc()
        self.batches.inc()
        self.batch_size.observe(messages)
        self.batch_seconds.observe(time.monotonic() - started)
        self.commit_seconds.observe(commit_seconds)
        if result.newest_event_time is not None:
            self._newest_event = max(self._newest_event, result.newest_event_time.timestamp())
            self.newest_event.set(self._newest_event)
        self.last_commit.set(now)
        for (_topic, partition), offset in offsets.items():
            self._committed[partition] = offset

    def folded(self, fold: Fold) -> None:
        """The folder folded (relayed from the folder process)."""
        if fold.generations:
            self.fold_seconds.observe(fold.seconds)
            self.folded_batches.inc(fold.batches)
        if fold.folded_through is not None:
            self.folded_through.set(fold.folded_through.timestamp())

    def fold_failed(self, _exc: Exception) -> None:
        """A fold failed; the folder tries again at the next tick."""
        self.fold_errors.inc()

    def database_retry(self, what: str) -> None:
        """A transient PostgreSQL failure is being retried."""
        self.database_retries.labels(DATABASE_OPERATIONS.get(what, "other")).inc()

    def retrying(self, what: str, seconds: float) -> None:
        """The engine has been retrying `what` for `seconds` (0: it succeeded or gave up)."""
        self.retrying_now.labels(DATABASE_OPERATIONS.get(what, "other")).set(seconds)

    def dead_letters(self, published: int, pending: int, oldest_pending_age_s: float | None) -> None:
        """A dead-letter round: rows published now, and what is pending after it."""
        self.dlq_published.inc(published)
        self.dlq_pending.set(pending)
        self.dlq_oldest_pending.set(oldest_pending_age_s or 0)

    def kafka_error(self, kind: str) -> None:
        """librdkafka reported an error it recovers from (`client` or `consume`)."""
        self.kafka_errors.labels(kind if kind in KAFKA_ERROR_KINDS else "client").inc()

    def resumed(self, stored: dict[int, int]) -> None:
        """The offsets the engine resumes from (the warehouse ledger), the base of the lag until a commit."""
        self._committed.update(stored)

    def refresh_lag(self, consumer: Any, *, force: bool = False) -> None:
        """Consumer lag per assigned partition: the high watermark (cached from fetches, no broker round
        trip) minus the offset committed in the warehouse. Main thread; at most once per LAG_REFRESH_S."""
        now = time.monotonic()
        if not force and now - self._lag_updated < LAG_REFRESH_S:
            return
        self._lag_updated = now
        try:
            assigned = consumer.assignment()
            for tp in assigned:
                low, high = consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    continue  # nothing fetched from this partition yet
                # never committed by this group: it starts at the beginning of the partition
                done = self._committed.get(tp.partition, max(low, 0))
                self.lag.labels(str(tp.partition)).set(max(high - done, 0))
            current = {str(tp.partition) for tp in assigned}
            for labels in list(self.lag._metrics):  # partitions revoked from this process
                if labels[0] not in current:
                    self.lag.remove(*labels)
        except Exception as exc:  # noqa: BLE001 - metrics never stop the engine
            log.debug("consumer lag not refreshed: %s", exc)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


@dataclass
class ApiMetrics:
    """The KPI API's metrics: requests by route template (bounded) and status, latency, the process."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        self.requests = Counter(
            "pulse_api_requests", "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"), registry=self.registry,
        )
        self.request_seconds = Histogram(
            "pulse_api_request_duration_seconds", "Time to answer a request, by route template.", ("route",),
            buckets=BATCH_SECONDS_BUCKETS, registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request; `route` is the matched template (never the raw path: bounded labels)."""
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> Any:
    """Serve `registry` at http://host:port/metrics from a daemon thread; returns the server (call shutdown())."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}):"
            " choose a free port with --metrics-port or PULSE_METRICS_PORT (0 turns metrics off)"
        ) from None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
