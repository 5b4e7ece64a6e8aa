"""Send messages to Kafka, paced, with progress and checked delivery: a replayed file, or any source's messages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pulse.errors import TerminalError, TransientError
from pulse.settings import Settings
from pulse.sources import kafka
from pulse.sources.kafka import BOOTSTRAP_SETTING

LINGER_MS = 10
DELIVERY_TIMEOUT_MS = 30_000  # a message the broker has not acknowledged by then has failed
FLUSH_TIMEOUT_S = DELIVERY_TIMEOUT_MS / 1000 + 5
METADATA_TIMEOUT_S = 10.0  # before sending: a broker must answer for the topic within this
POLL_EVERY = 1000  # serve delivery callbacks every this many messages
PROGRESS_EVERY = 2000  # redraw the progress bar every this many messages
MAX_BURST_S = 0.1  # after a stall, pacing catches up by at most this much time's worth of messages

# (key, value, progress units) for one message
Outgoing = tuple[bytes | None, bytes, int]


def send(
    settings: Settings,
    messages: Iterable[Outgoing],
    rate: float | None,
    *,
    progress: bool = False,
    description: str = "",
    total: int = 0,
    by_bytes: bool = False,
    stop_event: threading.Event | None = None,
) -> int:
    """Send `messages` to the topic, paced at `rate` per second (None: as fast as Kafka takes them).

    Raises before anything is sent when Kafka is unreachable or the topic is missing, and TransientError
    when a message was not delivered. With `stop_event`, sending ends when it is set; with `progress`, a
    progress bar counts `total` messages (or bytes).
    """
    producer = _Producer(settings)  # Kafka unreachable: an error now, before any progress bar
    with _meter(progress, description, total=total, by_bytes=by_bytes) as advance:
        return _send(producer, messages, rate, advance, stop_event)


def replay_file(settings: Settings, path: Path, rate: float | None, progress: bool = True) -> int:
    """Send each line of `path` as one message, byte for byte (newline removed); return the count.

    Nothing is parsed or skipped: invalid JSON, empty lines and odd encodings go to Kafka as they
    are, so the pipeline's rejection path sees them. Only the empty remainder after a final newline
    is not a line. Messages have no key (the producer spreads them over partitions).
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise TerminalError(f"cannot read replay file {path}: {exc.strerror}") from exc

    def messages() -> Iterator[Outgoing]:
        with path.open("rb") as lines:
            for line in lines:
                yield None, line[:-1] if line.endswith(b"\n") else line, len(line)

    return send(settings, messages(), rate, progress=progress, description=f"{path.name} → {settings.topic}",
                total=size, by_bytes=True)


# --- the sending loop ----------------------------------------------------------------------------
class _Deliveries:
    """What the broker refused. librdkafka calls this from poll() and flush(), errors only."""

    def __init__(self) -> None:
        self.failed = 0
        self.first_error: str | None = None
        self.broker_error: str | None = None

    def on_delivery(self, err: KafkaError | None, msg: Message | None) -> None:
        if err is not None:
            self.failed += 1
            self.first_error = self.first_error or f"{err.name()}: {err.str()}"

    def on_error(self, err: KafkaError) -> None:
        # Broker-level trouble (all brokers down, ...): keep it to explain failed deliveries.
        self.broker_error = f"{err.name()}: {err.str()}"


class _Pacer:
    """Token pacing: at most `rate` messages per second, sleeping while deliveries are served."""

    def __init__(self, rate: float | None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (or None for as fast as possible)")
        self._interval = 1.0 / rate if rate else 0.0
        self._due = time.monotonic()

    def wait(self, producer: Producer) -> None:
        if not self._interval:
            return
        while (delay := self._due - time.monotonic()) > 0:
            if delay >= 0.002:
                producer.poll(delay)
            else:
                time.sleep(delay)
        self._due = max(self._due, time.monotonic() - MAX_BURST_S) + self._interval


def _producer(settings: Settings, deliveries: _Deliveries) -> Producer:
    """Idempotent, fully acknowledged, lz4-compressed batches; callbacks count failures (quiet: the failed
    deliveries say what went wrong, no line goes over the progress bar)."""
    return kafka.producer(
        settings, client_id="pulse-producer", delivery_timeout_s=DELIVERY_TIMEOUT_MS / 1000, linger_ms=LINGER_MS,
        config={"compression.type": "lz4", "delivery.report.only.error": True, "on_delivery": deliveries.on_delivery},
        on_error=deliveries.on_error, quiet=True,
    )


class _Producer:
    """A producer, its delivery tally, and the topic checked reachable (raises before anything is sent)."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topic
        self.where = f"{BOOTSTRAP_SETTING}={settings.kafka_bootstrap}"
        self.deliveries = _Deliveries()
        self.client = _producer(settings, self.deliveries)
        _check_topic(self.client, self.topic, self.where)


def _send(
    sending: _Producer,
    messages: Iterable[Outgoing],
    rate: float | None,
    advance: Callable[[int, int], None],
    stop: threading.Event | None = None,
) -> int:
    """Produce every message, paced; flush; raise TransientError if any was not delivered. A bounded send
    (no `stop`) stops producing at the first failed delivery: it has failed already."""
    producer, deliveries, where = sending.client, sending.deliveries, sending.where
    pacer = _Pacer(rate)
    topic, attempted, units = sending.topic, 0, 0
    try:
        for key, value, work in messages:
            if (stop is not None and stop.is_set()) or (stop is None and deliveries.failed):
                break
            pacer.wait(producer)
            _produce(producer, topic, key, value, deliveries, stop)
            attempted, units = attempted + 1, units + work
            if attempted % POLL_EVERY == 0:
                producer.poll(0)
            if attempted % PROGRESS_EVERY == 0:
                advance(units, PROGRESS_EVERY)
                units = 0
    finally:
        left = producer.flush(FLUSH_TIMEOUT_S)
        advance(units, attempted % PROGRESS_EVERY)
    if left:
        deliveries.failed += left
        deliveries.first_error = deliveries.first_error or f"{left} still queued after {FLUSH_TIMEOUT_S:.0f}s"
    if deliveries.failed:
        cause = f" (broker: {deliveries.broker_error})" if deliveries.broker_error else ""
        raise TransientError(
            f"{deliveries.failed} of {attempted} messages were not delivered to topic {topic!r} at "
            f"{where}; first error: {deliveries.first_error}{cause}"
        )
    return attempted


def _check_topic(producer: Producer, topic: str, where: str) -> None:
    """TransientError when no broker answers within METADATA_TIMEOUT_S; TerminalError when the topic is missing."""
    try:
        metadata = producer.list_topics(topic, timeout=METADATA_TIMEOUT_S)
    except KafkaException as exc:
        reason = exc.args[0].str() if exc.args and isinstance(exc.args[0], KafkaError) else str(exc)
        raise TransientError(
            f"Kafka unreachable at {where}: no broker answered within {METADATA_TIMEOUT_S:g} s ({reason})"
        ) from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        why = found.error.str() if found is not None and found.error is not None else "not in the metadata"
        raise TerminalError(f"topic {topic!r} is not available at {where} ({why}): check PULSE_TOPIC;"
                            " `pulse stack up` creates it")


def _produce(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes,
    deliveries: _Deliveries,
    stop: threading.Event | None,
) -> None:
    """Queue one message; wait while the local queue is full; count a message Kafka refuses outright."""
    while True:
        try:
            producer.produce(topic, value, key)
            return
        except BufferError:
            producer.poll(0.05)  # let deliveries drain the queue
            if stop is not None and stop.is_set():
                deliveries.on_delivery(KafkaError(KafkaError._QUEUE_FULL, "stopped while the queue was full"), None)
                return
        except KafkaException as exc:  # refused before sending: too large, unknown topic, ...
            deliveries.on_delivery(exc.args[0], None)
            return


# --- progress ------------------------------------------------------------------------------------
class _EventRateColumn(ProgressColumn):
    """Messages sent and messages per second."""

    def render(self, task: Task) -> Text:
        events = int(task.fields.get("events", 0))
        speed = events / task.elapsed if task.elapsed else 0.0
        return Text(f"{events:,} events  {speed:,.0f}/s", style="progress.data.speed")


@contextmanager
def _meter(enabled: bool, description: str, total: int, by_bytes: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar (rich) fed with (units done, messages sent); a no-op when disabled."""
    if not enabled:
        yield lambda units, events: None
        return
    amount = DownloadColumn() if by_bytes else MofNCompleteColumn()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), amount, _EventRateColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns) as bar:
        task = bar.add_task(description, total=total, events=0)
        sent = 0

        def advance(units: int, events: int) -> None:
            nonlocal sent
            sent += events
            bar.update(task, advance=units, events=sent)

        yield advance
