"""The Spark engine: Structured Streaming reads Kafka, executors transform and commit each slice exactly once.

How a micro-batch flows (no row of it ever reaches the driver):

    Kafka --(Spark's Kafka source, offsets in the checkpoint, failOnDataLoss=true)--> micro-batch N
      foreachBatch(df, N) on the driver:
        df.select(value, topic, partition, offset).mapInArrow(commit_partition).collect()
          one task per Kafka partition's offset range ("slice"), on the executors:
            Arrow rows -> transform_batch (the native engine's core: decode, validate, enrich, model)
                       -> WarehouseLoader.commit_batch in ONE transaction that first inserts the slice's
                          (query id, batch id, topic, partition, first offset) into spark_batches
          -> one summary row per task (counts, duration) is all the driver collects

Exactly once: Spark replays batch N after a crash with the same offset ranges (its offset log). A slice
already in spark_batches is skipped inside the transaction; a slice that never committed is written
then. Facts are idempotent on event id anyway (event_ledger: first commit wins, rollups count only
new ids), so an event that arrives twice - in one slice or in two concurrent slices - counts once.
Rejections go to the same quarantine table with their Kafka coordinates. A failing commit is retried
in the task, then fails the task; Spark retries it or stops the query, and `pulse spark` exits with the
error. The settings executors need travel as one broadcast (secrets are never logged); the geo database
and storefront map are shipped to executors with SparkContext.addFile (or spark-submit --files).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pulse.engines.dead_letters import DeadLetterThread
from pulse.engines.runtime import StoppableEngine, start_folder
from pulse.engines.spark_tasks import SUMMARY_SCHEMA, ExecutorConfig, commit_partition
from pulse.engines.stats import EngineStats
from pulse.errors import ConfigError, PulseError, TerminalError
from pulse.pipeline import Enrichers, PipelineConfig
from pulse.settings import Settings
from pulse.stack.spark import check_pyspark_version, connector_jars
from pulse.warehouse.db import check_login, connect_loader
from pulse.warehouse.heartbeat import EngineIdentity, beat
from pulse.warehouse.sessions import VisitRules

log = logging.getLogger(__name__)

DEFAULT_MASTER = "local[*]"


@dataclass(slots=True)
class SparkStats(EngineStats):
    """Running totals of one `pulse spark` run (driver side): the engine's, plus Spark's own."""

    skipped_slices: int = 0  # slices a replayed micro-batch found committed already
    batch_seconds: list[float] = field(default_factory=list)
    last_data: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain values for logs and JSON."""
        return {**EngineStats.as_dict(self), "skipped_slices": self.skipped_slices}


def build_session(master: str | None, *, app_name: str = "pulse", extra_conf: dict[str, str] | None = None) -> Any:
    """A SparkSession with the Kafka connector jars (local files from the Maven cache).

    `master=None` keeps what spark-submit configured (master, --jars); otherwise the session is created
    with that master and `spark.jars` pointing at the cached connector jars.
    """
    check_pyspark_version()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    conf = {
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.streaming.noDataProgressEventInterval": "1000",
        "spark.ui.showConsoleProgress": "false",
        **(extra_conf or {}),
    }
    if master is not None:
        builder = builder.master(master)
        conf["spark.jars"] = ",".join(str(j) for j in connector_jars())
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def ship_file(session: Any, path: Path | None, setting: str) -> Path | None:
    """Make a data file reachable from every executor; returns the name executors resolve it by."""
    if path is None:
        return None
    path = Path(path).expanduser()
    if path.is_file():
        session.sparkContext.addFile(str(path.resolve()))
        return path.resolve()
    from pyspark import SparkFiles

    if Path(SparkFiles.get(path.name)).is_file():  # shipped by spark-submit --files
        return Path(path.name)
    raise ConfigError(f"{setting}={path} does not exist (on the driver, nor shipped with spark-submit --files)")


class SparkEngine(StoppableEngine):
    """`pulse spark`: one streaming query from the topic into the warehouse."""

    def __init__(
        self,
        settings: Settings,
        session: Any,
        *,
        checkpoint: Path | str,
        trigger_seconds: float = 1.0,
        max_offsets_per_trigger: int | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.session = session
        self.checkpoint = str(checkpoint)
        self.trigger_seconds = trigger_seconds
        self.max_offsets = max_offsets_per_trigger or settings.spark_max_offsets_per_trigger
        self.stats = SparkStats()
        self._query: Any = None
        self._started = threading.Event()
        self._broadcast: Any = None
        self._lock = threading.Lock()
        # The driver beats the engine's heartbeat row, so `pulse health` sees a running Spark engine.
        self.identity = EngineIdentity(settings.consumer_group, settings.topic, engine="spark")
        self._beat_conn: psycopg.Connection | None = None
        self._last_beat = float("-inf")

    # ------------------------------------------------------------------ driver
    def _executor_config(self, query_id: str) -> ExecutorConfig:
        settings = self.settings
        pipeline = PipelineConfig.from_settings(settings)
        geo = pipeline.geoip_database
        if geo is None:
            from pulse.enrich.geoip import bundled_database_path

            geo = bundled_database_path()
        shipped = dataclasses.replace(
            pipeline,
            geoip_database=ship_file(self.session, geo, "PULSE_GEOIP_DATABASE"),
            storefronts_file=ship_file(self.session, pipeline.storefronts_file, "PULSE_STOREFRONTS_FILE"),
        )
        return ExecutorConfig(
            query_id=query_id, loader_url=settings.loader_url, consumer_group=settings.consumer_group,
            retry_max_backoff_s=settings.retry_max_backoff_s, pipeline=shipped,
            visit_rules=VisitRules.from_settings(settings),
        )

    def _check_enrichers(self) -> None:
        """Open the data files once on the driver, so a wrong setting stops before the query starts."""
        pipeline = PipelineConfig.from_settings(self.settings)
        Enrichers.open(dataclasses.replace(
            pipeline, geoip_database=_if_local(pipeline.geoip_database),
            storefronts_file=_if_local(pipeline.storefronts_file),
        ))

    def _on_batch(self, df: Any, batch_id: int) -> None:
        """foreachBatch: run the slices on the executors, collect one summary row per slice."""
        self._started.wait()
        started = time.monotonic()
        kafka_rows = df.select("value", "topic", "partition", "offset")
        task = functools.partial(commit_partition, broadcast=self._broadcast, batch_id=batch_id)
        summaries = kafka_rows.mapInArrow(task, SUMMARY_SCHEMA).collect()  # one small row per slice
        messages = sum(int(r["messages"]) for r in summaries)
        elapsed = time.monotonic() - started
        with self._lock:
            stats = self.stats
            stats.batches += 1
            stats.messages += messages
            stats.loaded += sum(int(r["loaded"]) for r in summaries)
            stats.duplicates += sum(int(r["duplicates"]) for r in summaries)
            stats.quarantined += sum(int(r["quarantined"]) for r in summaries)
            stats.skipped_slices += sum(1 for r in summaries if r["skipped"])
            stats.retries += sum(int(r["retries"]) for r in summaries)
            if messages:
                stats.last_data = time.monotonic()
                stats.batch_seconds.append(elapsed)
        log.info(
            "batch %d: %d messages in %d slices, %d loaded, %d duplicates, %d quarantined, %d slices skipped"
            " (replay), %.2f s",
            batch_id, messages, len(summaries), sum(int(r["loaded"]) for r in summaries),
            sum(int(r["duplicates"]) for r in summaries), sum(int(r["quarantined"]) for r in summaries),
            sum(1 for r in summaries if r["skipped"]), elapsed,
        )

    def start(self) -> Any:
        """Start the streaming query (returns the StreamingQuery)."""
        settings = self.settings
        self._check_enrichers()
        source = (
            self.session.readStream.format("kafka")
            .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
            .option("subscribe", settings.topic)
            .option("startingOffsets", "earliest")
            .option("failOnDataLoss", "true")
            .option("maxOffsetsPerTrigger", str(self.max_offsets))
            .load()
        )
        query = (
            source.writeStream.queryName(f"pulse-{settings.topic}")
            .foreachBatch(self._on_batch)
            .option("checkpointLocation", self.checkpoint)
            .trigger(processingTime=f"{self.trigger_seconds} seconds")
            .start()
        )
        self._query = query
        self._broadcast = self.session.sparkContext.broadcast(self._executor_config(str(query.id)))
        self._started.set()
        log.info("spark query started", extra={"query_id": str(query.id), "topic": settings.topic,
                                               "checkpoint": self.checkpoint})
        return query

    def _heartbeat(self, *, stopped: bool = False) -> None:
        """Beat the heartbeat row at most every PULSE_HEARTBEAT_INTERVAL_S; a failure waits for the next beat."""
        now = time.monotonic()
        if not stopped and now - self._last_beat < self.settings.heartbeat_interval_s:
            return
        self._last_beat = now
        try:
            if self._beat_conn is None or self._beat_conn.closed:
                self._beat_conn = connect_loader(self.settings, autocommit=True)
            self.identity.batches = self.stats.batches
            beat(self._beat_conn, self.identity, stopped=stopped)
        except (psycopg.Error, PulseError) as exc:
            log.warning("heartbeat not written (%s); trying again at the next beat", type(exc).__name__)
            self._beat_conn = None
        if stopped and self._beat_conn is not None:
            self._beat_conn.close()

    def run(self, until_idle: float | None = None) -> SparkStats:
        """Run until stopped, until the query fails (TerminalError), or `until_idle` seconds without data."""
        query = self._query or self.start()
        folder = start_folder(self.settings)  # the driver folds what the executors' slices commit
        try:
            while True:
                self._heartbeat()
                if query.exception() is not None or not query.isActive:
                    break
                idle_since = self.stats.last_data or (self.stats.started if query.lastProgress else None)
                idle = (
                    until_idle is not None and idle_since is not None
                    and time.monotonic() - idle_since >= until_idle
                    and not query.status.get("isTriggerActive", False)
                )
                if idle or self.stop_requested.is_set():
                    if idle:
                        log.info("idle for %.1f s: stopping the query", until_idle)
                    self._stop_between_batches(query)
                    break
                try:
                    query.awaitTermination(0.25)
                except Exception:  # noqa: BLE001 - the query failed: reported below from query.exception()
                    break
        finally:
            if query.isActive:
                query.stop()
            if folder is not None:
                folder.stop()  # after a last fold: the rollups hold every slice committed
            self._broadcast_cleanup()
            self._heartbeat(stopped=True)
            log.info("spark engine stopped", extra=self.stats.as_dict())
        failure = query.exception()
        if failure is not None:
            raise TerminalError(f"the Spark query failed: {_short_error(failure)}")
        return self.stats

    def _broadcast_cleanup(self) -> None:
        if self._broadcast is not None:
            self._broadcast.unpersist()  # the executors' copy of the settings (it holds the loader URL)

    def _stop_between_batches(self, query: Any, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while query.status.get("isTriggerActive", False) and time.monotonic() < deadline:
            time.sleep(0.1)
        query.stop()


def _if_local(path: Path | None) -> Path | None:
    """`path` when it is a file on the driver, else None (a file shipped with --files is checked on executors)."""
    return path if path and Path(path).is_file() else None


def _short_error(failure: Any) -> str:
    """The useful line of a StreamingQueryException: the pulse or Python error, not the JVM stack."""
    text = str(getattr(failure, "desc", None) or failure)
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("pulse.errors.") or stripped.startswith(("psycopg.", "ConfigError", "TerminalError")):
            return stripped[:600]
    return text.strip().splitlines()[0][:600] if text.strip() else type(failure).__name__


def default_checkpoint(settings: Settings) -> Path:
    """Where `pulse spark` keeps its checkpoint unless told: PULSE_SPARK_CHECKPOINT or $PULSE_HOME/spark/<topic>."""
    return settings.spark_checkpoint or Path(settings.home) / "spark" / "checkpoint" / settings.topic


def run_spark(
    settings: Settings,
    *,
    master: str | None = None,
    submitted: bool = False,
    trigger_seconds: float = 1.0,
    checkpoint: Path | None = None,
    until_idle: float | None = None,
    max_offsets_per_trigger: int | None = None,
) -> SparkStats:
    """`pulse spark`: check the loader's login, start a session and run the engine until stopped (SIGTERM,
    Ctrl-C, `until_idle`), then stop the session. `submitted` keeps what spark-submit configured (master,
    jars); otherwise the session gets `master` (default: PULSE_SPARK_MASTER) and the cached connector jars."""
    check_login(settings.loader_url, setting=settings.loader_url_setting)
    session = build_session(None if submitted else (master or settings.spark_master))
    engine = SparkEngine(
        settings, session, checkpoint=checkpoint or default_checkpoint(settings), trigger_seconds=trigger_seconds,
        max_offsets_per_trigger=max_offsets_per_trigger,
    )
    engine.install_signal_handlers()
    # The driver publishes the dead letters the executors quarantined (PULSE_DLQ_PUBLISH_INTERVAL_S; 0: none).
    dead_letters = DeadLetterThread(settings, lambda *_: None) if settings.dlq_publish_interval_s else None
    try:
        return engine.run(until_idle=until_idle)
    finally:
        if dead_letters is not None:
            dead_letters.stop()
        session.stop()
