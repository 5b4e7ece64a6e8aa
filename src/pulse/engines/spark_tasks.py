"""What a Spark executor runs for one slice of a micro-batch: transform with the core, commit with the loader.

Each task receives the Kafka rows of one slice (one Kafka partition's offset range in that batch) as
Arrow record batches, runs `transform_batch` - the very code the native engine runs - and commits the
result with `WarehouseLoader.commit_batch` in ONE transaction that also inserts the slice's rows into
`spark_batches`. A slice whose row exists (a replayed batch) is skipped. The task yields one small
summary row; the batch itself never travels to the driver.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pulse.engines.committing import commit_isolating
from pulse.engines.runtime import RetryLoop
from pulse.errors import TerminalError
from pulse.events.model import SourceRef
from pulse.pipeline import Enrichers, PipelineConfig, transform_batch
from pulse.warehouse.loader import BatchResult, WarehouseLoader
from pulse.warehouse.sessions import VisitRules
from pulse.warehouse.spark_ledger import record_slice as record_in_ledger

log = logging.getLogger(__name__)

# One row per task, the only thing that reaches the driver.
SUMMARY_SCHEMA = (
    "messages long, loaded long, duplicates long, quarantined long, skipped boolean, retries int,"
    " commit_ms double"
)
# Transient commit failures are retried inside the task this many times before the task fails
# (Spark may then retry the task; the batch fails and the query stops with the error if it keeps failing).
COMMIT_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    """What executors need to transform and load; shipped once per query as a broadcast."""

    query_id: str
    loader_url: str = field(repr=False)  # may hold a password
    consumer_group: str
    retry_max_backoff_s: float
    # The data files are local paths, or file names shipped with SparkContext.addFile / --files.
    pipeline: PipelineConfig
    visit_rules: VisitRules = field(default_factory=VisitRules)


@dataclass(frozen=True, slots=True)
class Slice:
    """The Kafka range of one task: (topic, partition) -> (first offset, next offset, messages)."""

    ranges: dict[tuple[str, int], tuple[int, int, int]]

    @classmethod
    def of(cls, messages: list[tuple[bytes, SourceRef | None]]) -> Slice:
        """The offset ranges covered by `messages` (in Kafka order)."""
        ranges: dict[tuple[str, int], tuple[int, int, int]] = {}
        for _, src in messages:
            assert src is not None
            key = (src.topic, src.partition)
            first, nxt, count = ranges.get(key, (src.offset, src.offset, 0))
            ranges[key] = (min(first, src.offset), max(nxt, src.offset + 1), count + 1)
        return cls(ranges)

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """Next offset per partition, for the kafka_offsets mirror (lag monitoring)."""
        return {key: nxt for key, (_, nxt, _) in self.ranges.items()}


# Per Python worker process (Spark reuses workers across tasks): enrichers and a warehouse connection.
_enrichers: dict[ExecutorConfig, Enrichers] = {}
_loaders: dict[ExecutorConfig, WarehouseLoader] = {}


def local_file(name: str | Path | None) -> Path | None:
    """A data file on this executor: shipped with addFile/--files if so, else the path as given."""
    if name is None:
        return None
    path = Path(name).expanduser()
    if path.is_file():
        return path
    from pyspark import SparkFiles

    shipped = Path(SparkFiles.get(path.name))
    return shipped if shipped.is_file() else path  # a missing file fails with open_geo_database's message


def enrichers_for(config: ExecutorConfig) -> Enrichers:
    """The process's enrichers for this query (opened once per worker)."""
    if config not in _enrichers:
        pipeline = config.pipeline
        _enrichers[config] = Enrichers.open(dataclasses.replace(
            pipeline, geoip_database=local_file(pipeline.geoip_database),
            storefronts_file=local_file(pipeline.storefronts_file),
        ))
    return _enrichers[config]


def loader_for(config: ExecutorConfig) -> WarehouseLoader:
    """The process's warehouse connection for this query."""
    if config not in _loaders:
        _loaders[config] = WarehouseLoader(config.loader_url, config.consumer_group, visit_rules=config.visit_rules)
    return _loaders[config]


def read_messages(arrow_batches: Iterator[Any]) -> list[tuple[bytes, SourceRef | None]]:
    """Kafka rows (value, topic, partition, offset) as the core's (raw bytes, source) pairs."""
    messages: list[tuple[bytes, SourceRef | None]] = []
    for rb in arrow_batches:
        cols = rb.to_pydict()
        for value, topic, partition, offset in zip(
            cols["value"], cols["topic"], cols["partition"], cols["offset"], strict=True
        ):
            messages.append((value if value is not None else b"", SourceRef(topic, int(partition), int(offset))))
    return messages


def commit_slice(
    messages: list[tuple[bytes, SourceRef | None]], config: ExecutorConfig, batch_id: int
) -> tuple[BatchResult, int]:
    """Transform and commit one slice exactly once; returns the result and the transient retries."""
    if not messages:
        return BatchResult(0, 0, 0), 0
    piece = Slice.of(messages)

    def record_slice(conn: psycopg.Connection) -> bool:
        inserted = record_in_ledger(conn, config.query_id, batch_id, piece.ranges)
        if 0 < inserted < len(piece.ranges):
            raise TerminalError(
                f"batch {batch_id} of query {config.query_id} is partly in spark_batches: the offset ranges"
                " of a replayed batch changed (was the checkpoint edited?)"
            )
        return inserted == len(piece.ranges)

    now = time.time()
    enrichers = enrichers_for(config)
    batch = transform_batch(messages, enrichers, now=now)
    loader = loader_for(config)
    # Transient failures are retried in the task, COMMIT_ATTEMPTS in all; a broken connection is opened anew.
    attempt = RetryLoop(
        config.retry_max_backoff_s, max_failures=COMMIT_ATTEMPTS, context=f" (batch {batch_id})",
        on_failure=lambda _what, _failing_for_s: loader.close(),
    )

    result, _committed = commit_isolating(
        loader, batch, piece.next_offsets(), messages,
        lambda part: transform_batch(part, enrichers, now=now), attempt, guard=record_slice,
    )
    return result, attempt.failures


def commit_partition(arrow_batches: Iterator[Any], broadcast: Any, batch_id: int) -> Iterator[Any]:
    """The mapInArrow function: one task's Kafka rows in, one summary row out (see the module docstring)."""
    import pyarrow as pa

    config: ExecutorConfig = broadcast.value
    started = time.monotonic()
    messages = read_messages(arrow_batches)
    result, retries = commit_slice(messages, config, batch_id)
    yield pa.RecordBatch.from_pydict(
        {
            "messages": [len(messages)], "loaded": [result.loaded], "duplicates": [result.duplicates],
            "quarantined": [result.quarantined], "skipped": [result.skipped], "retries": [retries],
            "commit_ms": [(time.monotonic() - started) * 1000],
        },
        schema=pa.schema([
            ("messages", pa.int64()), ("loaded", pa.int64()), ("duplicates", pa.int64()),
            ("quarantined", pa.int64()), ("skipped", pa.bool_()), ("retries", pa.int32()),
            ("commit_ms", pa.float64()),
        ]),
    )
