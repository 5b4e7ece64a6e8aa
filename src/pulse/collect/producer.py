"""The collector's Kafka side: an idempotent producer whose acknowledgements resolve asyncio futures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, Message

from pulse.settings import Settings
from pulse.sources import kafka
from pulse.sources.kafka import KafkaOutage

LINGER_MS = 5
QUEUE_MAX_MESSAGES = 200_000  # local queue bound: beyond it produce() refuses at once (503), never blocks
POLL_INTERVAL_S = 0.05


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge every event of a request in time (or refused them)."""


class _Batch:
    """One request's messages: resolves its future when all are acknowledged, or at the first failure."""

    __slots__ = ("future", "loop", "pending", "lock")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.pending = count
        self.lock = threading.Lock()

    def on_delivery(self, err: KafkaError | None, msg: Message | None) -> None:
        """Called by librdkafka on the poll thread."""
        with self.lock:
            if self.pending <= 0:
                return
            if err is not None:
                self.pending = 0
                self.loop.call_soon_threadsafe(self._fail, f"{err.name()}: {err.str()}")
                return
            self.pending -= 1
            if self.pending == 0:
                self.loop.call_soon_threadsafe(self._done)

    def _done(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    def _fail(self, reason: str) -> None:
        if not self.future.done():
            self.future.set_exception(KafkaUnavailable(reason))


class KafkaBridge:
    """Produce a request's events at once and await the broker's acknowledgement of all of them.

    `message.timeout.ms` equals the collector's delivery timeout, so when a request is answered 503
    librdkafka has given up on its messages too: an answer is final (202 = all stored, acks=all).
    """

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topic
        self.timeout_s = settings.collect_delivery_timeout_s
        self.broker_error: str | None = None
        self._outage = KafkaOutage(settings.kafka_bootstrap)
        self._producer = kafka.producer(
            settings, client_id="pulse-collector", delivery_timeout_s=self.timeout_s, linger_ms=LINGER_MS,
            config={"compression.type": "lz4", "queue.buffering.max.messages": QUEUE_MAX_MESSAGES},
            outage=self._outage, on_error=self._remember_broker_error,
        )
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="pulse-collector-kafka", daemon=True)
        self._poller.start()

    def _remember_broker_error(self, err: KafkaError) -> None:
        self.broker_error = f"{err.name()}: {err.str()}"

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(POLL_INTERVAL_S)

    async def send(self, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Produce (key, value) messages; return once Kafka acknowledged all; KafkaUnavailable otherwise."""
        batch = _Batch(asyncio.get_running_loop(), len(messages))
        try:
            for key, value in messages:
                self._producer.produce(self.topic, value, key, on_delivery=batch.on_delivery)
        except BufferError:
            raise KafkaUnavailable("the collector's Kafka queue is full (Kafka is slow or down)") from None
        except KafkaException as exc:
            raise KafkaUnavailable(f"Kafka refused the events: {exc.args[0]}") from None
        try:
            # librdkafka itself fails each message after message.timeout.ms; the margin covers the poll tick
            await asyncio.wait_for(asyncio.shield(batch.future), self.timeout_s + 1.0)
        except TimeoutError:
            raise KafkaUnavailable(f"Kafka did not acknowledge within {self.timeout_s:g} s") from None

    async def reachable(self, timeout_s: float = 2.0) -> bool:
        """True when the broker answers a metadata request for the topic."""
        try:
            metadata = await asyncio.to_thread(self._producer.list_topics, self.topic, timeout_s)
        except KafkaException:
            return False
        topic = metadata.topics.get(self.topic)
        up = topic is not None and topic.error is None and bool(metadata.brokers)
        if up:
            self._outage.recovered()
        return up

    def close(self, timeout_s: float = 10.0) -> int:
        """Stop polling and flush what is queued; return how many messages were left undelivered."""
        self._stop.set()
        self._poller.join(timeout=2.0)
        return int(self._producer.flush(timeout_s))
