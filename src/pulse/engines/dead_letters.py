"""The dead-letter publisher: quarantine rows (the outbox) to `<topic>.dlq`, each exactly once.

A round reads the oldest unpublished rows, produces them (idempotent producer, acks=all), waits for every
acknowledgement, then marks them published in a transaction of its own. A crash between produce and mark
leaves rows unpublished whose letters are already on the topic: so whoever publishes next (this process
after a failure, or any process that takes over the publisher lock) first reads the tail of the dead-letter
partitions and marks the keys it finds there instead of producing them again. Only one publisher runs at a
time (a PostgreSQL session advisory lock), and a round produces at most `batch_size` letters before it
marks them, so letters produced but unmarked are always among the last `batch_size` of each partition.
See docs/reliability.md, "Dead letters".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from pulse.errors import PulseError, TransientError
from pulse.settings import Settings
from pulse.sources import kafka
from pulse.warehouse.db import connect
from pulse.warehouse.dead_letters import (
    DeadLetter,
    dead_letter_counts,
    mark_published,
    oldest_pending_age_s,
    pending_dead_letters,
    try_publisher_lock,
)
from pulse.warehouse.errors import translate_errors

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
DELIVERY_TIMEOUT_S = 30.0
# A dead letter carries the raw message up to this size (the broker's default limit is about 1 MB); the
# whole payload stays in the quarantine table, headers say it was cut.
MAX_VALUE_BYTES = 900_000
TAIL_READ_TIMEOUT_S = 30.0
_LEADERLESS = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
               KafkaError.UNKNOWN_TOPIC_OR_PART}


@dataclass(slots=True)
class PublishRound:
    """What one round did."""

    published: int = 0  # rows marked published (produced now, or found already on the topic)
    produced: int = 0
    found_on_topic: int = 0  # letters of a round that crashed before marking them


@dataclass(slots=True)
class _Acks:
    errors: list[str] = field(default_factory=list)

    def on_delivery(self, err: KafkaError | None, _msg: Message | None) -> None:
        if err is not None:
            self.errors.append(f"{err.name()}: {err.str()}")


class DeadLetterPublisher:
    """Publishes the quarantine outbox; one instance per process, `close()` when done.

    `on_produced` runs after every letter of a round is acknowledged and before the round is marked (the
    reliability test kills the process there).
    """

    def __init__(self, settings: Settings, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 on_produced: Callable[[list[DeadLetter]], None] | None = None) -> None:
        self._settings = settings
        self._batch_size = batch_size
        self._on_produced = on_produced
        self._conn: psycopg.Connection | None = None
        self._producer: Producer | None = None
        self._acks = _Acks()
        self._ready_topics: set[str] = set()
        # True until a round has been marked since this process became the publisher or last failed.
        self._unsure = True

    def publish_round(self) -> PublishRound | None:
        """One round; None when another process holds the publisher lock. Raises TransientError when Kafka
        or PostgreSQL failed (nothing is lost: the rows stay pending, the next round checks the topic)."""
        with translate_errors():
            conn = self._connection()
            if conn is None:
                return None
            with conn.transaction():
                letters = pending_dead_letters(conn, self._batch_size)
        done = PublishRound()
        if not letters:
            return done
        on_topic = self._keys_on_topic(letters) if self._unsure else set()
        self._unsure = True
        todo = [letter for letter in letters if letter.key.encode() not in on_topic]
        self._produce(todo)
        if self._on_produced is not None:
            self._on_produced(letters)
        with translate_errors(), conn.transaction():
            mark_published(conn, [letter.quarantine_id for letter in letters])
        self._unsure = False
        done.published, done.produced, done.found_on_topic = len(letters), len(todo), len(letters) - len(todo)
        return done

    def publish_all(self) -> PublishRound | None:
        """Rounds until nothing is pending (None: another publisher holds the lock)."""
        total = PublishRound()
        while (one := self.publish_round()) is not None:
            total.published += one.published
            total.produced += one.produced
            total.found_on_topic += one.found_on_topic
            if one.published < self._batch_size:
                return total
        return None if total.published == 0 else total

    def run(self, stop: threading.Event, interval_s: float,
            on_round: Callable[[PublishRound, dict[str, Any]], None] | None = None) -> None:
        """Publish every `interval_s` until `stop` is set (the engine's thread); failures are logged and
        retried. `on_round(round, counts)` after each round this process published (counts: pending, ...)."""
        while not stop.is_set():
            try:
                done = self.publish_all()
                if done is not None and on_round is not None and self._conn is not None:
                    on_round(done, dead_letter_counts(self._conn))
            except (PulseError, psycopg.Error, kafka.KafkaException) as exc:
                log.warning("dead letters not published: %s (next attempt in %g s)", exc, interval_s)
                self._reset()
            stop.wait(interval_s)

    def close(self) -> None:
        """Flush nothing (a round flushes itself), close the connection (the lock goes with it)."""
        self._reset()

    # ------------------------------------------------------------------ internals
    def _connection(self) -> psycopg.Connection | None:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self._settings.loader_url, setting=self._settings.loader_url_setting)
            self._conn.autocommit = True
            self._unsure = True
            if not try_publisher_lock(self._conn):
                self._conn.close()
                self._conn = None
        return self._conn

    def _reset(self) -> None:
        self._unsure = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _client(self) -> Producer:
        if self._producer is None:
            self._producer = kafka.producer(
                self._settings, client_id="pulse-dlq", delivery_timeout_s=DELIVERY_TIMEOUT_S, linger_ms=5,
                config={"on_delivery": self._acks.on_delivery, "delivery.report.only.error": True},
            )
        return self._producer

    def _topic(self, letter: DeadLetter) -> str:
        topic = kafka.dead_letter_topic(letter.src_topic or self._settings.topic)
        if topic not in self._ready_topics:
            admin = kafka.admin(self._settings, client_id="pulse-dlq-admin")
            source = admin.list_topics(timeout=10).topics.get(letter.src_topic or self._settings.topic)
            partitions = len(source.partitions) if source is not None and source.partitions else 0
            kafka.ensure_topic(admin, topic, partitions or self._settings.topic_partitions)
            self._ready_topics.add(topic)
        return topic

    def _produce(self, letters: list[DeadLetter]) -> None:
        producer = self._client()
        self._acks.errors.clear()
        for letter in letters:
            value, headers = letter.raw, letter.headers()
            if len(value) > MAX_VALUE_BYTES:
                headers += [("pulse.raw.bytes", str(len(value)).encode()), ("pulse.raw.truncated", b"true")]
                value = value[:MAX_VALUE_BYTES]
            while True:
                try:
                    producer.produce(self._topic(letter), value, letter.key.encode(), headers=headers)
                    break
                except BufferError:
                    producer.poll(0.05)
        left = producer.flush(DELIVERY_TIMEOUT_S + 5)
        if left or self._acks.errors:
            first = self._acks.errors[0] if self._acks.errors else f"{left} still queued"
            raise TransientError(f"{len(self._acks.errors) + left} of {len(letters)} dead letters were not"
                                 f" delivered; first error: {first}")

    def _keys_on_topic(self, letters: list[DeadLetter]) -> set[bytes]:
        """Keys among the last `batch_size` messages of every partition of the letters' dead-letter topics."""
        keys: set[bytes] = set()
        reader = kafka.consumer(self._settings, group="pulse-dlq-tail", client_id="pulse-dlq-tail",
                                config={"enable.auto.commit": False, "enable.partition.eof": True})
        try:
            for topic in sorted({self._topic(letter) for letter in letters}):
                keys |= _tail_keys(reader, topic, self._batch_size)
        finally:
            reader.close()
        return keys


def _tail_keys(reader: Consumer, topic: str, depth: int) -> set[bytes]:
    """The keys of the last `depth` messages of each partition of `topic`."""
    metadata = reader.list_topics(topic, timeout=10).topics[topic]
    ends: dict[int, int] = {}
    starts = []
    for partition in sorted(metadata.partitions):
        low, high = _watermarks(reader, TopicPartition(topic, partition))
        if high > low:
            ends[partition] = high
            starts.append(TopicPartition(topic, partition, max(low, high - depth)))
    keys: set[bytes] = set()
    if not starts:
        return keys
    reader.assign(starts)
    left = dict(ends)
    while left:
        message = reader.poll(TAIL_READ_TIMEOUT_S)
        if message is None:
            raise TransientError(f"no answer from Kafka within {TAIL_READ_TIMEOUT_S:g} s reading the tail of {topic!r}")
        error = message.error()
        partition = message.partition() or 0
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                left.pop(partition, None)
                continue
            raise TransientError(f"reading the tail of {topic!r}: {error.str()}")
        if message.key() is not None:
            keys.add(message.key())  # type: ignore[arg-type]
        if (message.offset() or 0) + 1 >= ends.get(partition, 0):
            left.pop(partition, None)
    reader.unassign()
    return keys


class DeadLetterThread:
    """A publisher in a thread of the engine, every PULSE_DLQ_PUBLISH_INTERVAL_S; `stop()` ends it.

    `on_counts(published now, pending, oldest pending age s)` after each round (the engine's metrics).
    """

    def __init__(self, settings: Settings, on_counts: Callable[[int, int, float | None], None]) -> None:
        self._stop = threading.Event()
        self._publisher = DeadLetterPublisher(settings)
        self._on_counts = on_counts
        self._thread = threading.Thread(target=self._run, args=(settings.dlq_publish_interval_s,),
                                        name="pulse-dead-letters", daemon=True)
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        try:
            self._publisher.run(self._stop, interval_s, on_round=lambda done, counts: self._on_counts(
                done.published, counts["pending"], oldest_pending_age_s(counts, datetime.now(UTC))))
            self._publisher.publish_all()  # stopping: what the last batches quarantined too
        except (PulseError, psycopg.Error, kafka.KafkaException) as exc:
            log.warning("dead letters not published at stop: %s (the next publisher will)", exc)
        except Exception:  # a bug here must not stop the engine; the rows stay pending, `pulse stats` shows them
            log.exception("the dead-letter publisher stopped")
        finally:
            self._publisher.close()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Finish the round in flight and publish what is pending, then end the thread."""
        self._stop.set()
        self._thread.join(timeout_s)


def _watermarks(reader: Consumer, partition: TopicPartition) -> tuple[int, int]:
    """Low and high watermark; a partition whose leader is still being elected (a topic just created) is
    asked again for up to TAIL_READ_TIMEOUT_S."""
    deadline = time.monotonic() + TAIL_READ_TIMEOUT_S
    while True:
        try:
            low, high = reader.get_watermark_offsets(partition, timeout=10)
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            waits = error is not None and (error.retriable() or error.code() in _LEADERLESS)
            if not waits or time.monotonic() > deadline:
                raise TransientError(f"reading the tail of {partition.topic!r}: {exc}") from exc
            time.sleep(0.2)
