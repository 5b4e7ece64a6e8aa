"""Every Kafka client of pulse comes from here: `consumer`, `producer`, `admin` and the engine's `create_consumer`.

What they share: the bootstrap servers (PULSE_KAFKA_BOOTSTRAP), a client.id, librdkafka's own lines at DEBUG,
errors through `error_cb` (an outage reported a few times, not 20 a second), and their timeouts. The engine's
consumer takes its offsets from the warehouse, not from Kafka.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from pulse.errors import TerminalError
from pulse.ops.logging import LIBRDKAFKA_LOG
from pulse.settings import Settings

log = logging.getLogger(__name__)
BOOTSTRAP_SETTING = "PULSE_KAFKA_BOOTSTRAP"
# librdkafka cannot reach any broker: it keeps reconnecting by itself, pulse only says so.
UNREACHABLE_CODES = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE}

# Errors that librdkafka recovers from by itself: log them, keep consuming.
_TRANSIENT_CODES = {
    KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT, KafkaError._RESOLVE,
    KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.REQUEST_TIMED_OUT, KafkaError.NETWORK_EXCEPTION,
    KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART,
}


# Where a client connects: the settings (their kafka_bootstrap) or the bootstrap servers themselves.
Bootstrap = Settings | str
ErrorCallback = Callable[[KafkaError], None]
# Every producer of pulse is idempotent and waits for all in-sync replicas: a delivery is durable or an error.
PRODUCER_DEFAULTS: dict[str, Any] = {"enable.idempotence": True, "acks": "all"}


def client_config(
    source: Bootstrap, *, client_id: str, outage: KafkaOutage | None = None, on_error: ErrorCallback | None = None,
    quiet: bool = False, timeout_s: float | None = None,
) -> dict[str, Any]:
    """The configuration every client shares.

    Client errors go to `outage` (a new KafkaOutage unless given; none when `quiet`: a probe whose result
    says what failed) and then to `on_error`. `timeout_s` bounds socket operations and connection setup.
    """
    bootstrap = source.kafka_bootstrap if isinstance(source, Settings) else source
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "client.id": client_id, "logger": LIBRDKAFKA_LOG}
    if timeout_s is not None:
        config["socket.timeout.ms"] = config["socket.connection.setup.timeout.ms"] = int(timeout_s * 1000)
    callbacks: list[ErrorCallback] = [] if quiet else [(outage or KafkaOutage(bootstrap)).error]
    if on_error is not None:
        callbacks.append(on_error)
    if callbacks:
        config["error_cb"] = callbacks[0] if len(callbacks) == 1 else _each(callbacks)
    return config


def _each(callbacks: list[ErrorCallback]) -> ErrorCallback:
    def error_cb(error: KafkaError) -> None:
        for callback in callbacks:
            callback(error)

    return error_cb


def consumer(
    source: Bootstrap, *, group: str, client_id: str = "pulse", config: dict[str, Any] | None = None,
    outage: KafkaOutage | None = None, on_error: ErrorCallback | None = None, quiet: bool = False,
    timeout_s: float | None = None,
) -> Consumer:
    """A consumer of group `group`; `config` adds or overrides librdkafka properties."""
    shared = client_config(source, client_id=client_id, outage=outage, on_error=on_error, quiet=quiet,
                           timeout_s=timeout_s)
    return Consumer({**shared, "group.id": group, **(config or {})})


def producer(
    source: Bootstrap, *, client_id: str, delivery_timeout_s: float, linger_ms: int,
    config: dict[str, Any] | None = None, outage: KafkaOutage | None = None, on_error: ErrorCallback | None = None,
    quiet: bool = False,
) -> Producer:
    """An idempotent, fully acknowledged producer; a message not acknowledged within `delivery_timeout_s` fails."""
    shared = client_config(source, client_id=client_id, outage=outage, on_error=on_error, quiet=quiet)
    return Producer({
        **shared, **PRODUCER_DEFAULTS, "linger.ms": linger_ms, "message.timeout.ms": int(delivery_timeout_s * 1000),
        **(config or {}),
    })


def admin(
    source: Bootstrap, *, client_id: str = "pulse-admin", timeout_s: float | None = None, quiet: bool = True,
) -> AdminClient:
    """An admin client (metadata, offsets); quiet by default: its callers report what failed."""
    return AdminClient(client_config(source, client_id=client_id, quiet=quiet, timeout_s=timeout_s))


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic of `topic`: every message quarantined from it is also produced there."""
    return f"{topic}.dlq"


def ensure_topic(
    client: AdminClient, name: str, partitions: int, *, timeout: float = 30.0,
    on_create: Callable[[str], None] | None = None,
) -> int:
    """Create topic `name` with `partitions` partitions if missing, wait until every partition has a leader,
    and return its partition count (an existing topic is left as it is). `on_create` hears "creating ..."."""
    found = client.list_topics(timeout=10).topics.get(name)
    if found is None or found.error is not None:
        if on_create is not None:
            on_create(f"creating topic {name!r} with {partitions} partitions")
        try:
            client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                                 operation_timeout=timeout)[name].result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TerminalError(f"could not create topic {name!r}: {exc}") from exc
    # Creation returns before every partition has a leader; producers want leaders.
    deadline = time.monotonic() + timeout
    while True:
        topic = client.list_topics(topic=name, timeout=5).topics.get(name)
        if topic is not None and topic.error is None and topic.partitions and all(
            p.leader >= 0 for p in topic.partitions.values()
        ):
            return len(topic.partitions)
        if time.monotonic() > deadline:
            raise TerminalError(f"topic {name!r} has no leaders after {timeout:.0f} s")
        time.sleep(0.2)


def create_consumer(
    bootstrap: str,
    group: str,
    topic: str,
    resume_offsets: Callable[[str], dict[int, int]],
    extra_config: dict[str, Any] | None = None,
    on_error: Callable[[KafkaError], None] | None = None,
) -> Consumer:
    """A consumer that, on every assignment, seeks each partition to the offset the warehouse holds.

    `on_error` also sees every client-level error librdkafka reports (the engine counts them).
    """

    outage = KafkaOutage(bootstrap)
    config: dict[str, Any] = {
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": 10000,
        "max.poll.interval.ms": 600000,
        "fetch.wait.max.ms": 50,
        "queued.max.messages.kbytes": 16384,
        **(extra_config or {}),
    }
    engine = consumer(bootstrap, group=group, client_id="pulse-native", config=config, outage=outage,
                      on_error=on_error)

    def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
        outage.recovered()
        stored = resume_offsets(topic)
        for tp in partitions:
            tp.offset = stored.get(tp.partition, OFFSET_BEGINNING)
        log.info(
            "partitions assigned",
            extra={"pulse.kafka.topic": topic, "pulse.kafka.partitions": [tp.partition for tp in partitions],
                   "pulse.kafka.offsets": [f"{tp.partition}:{tp.offset}-" for tp in partitions]},
        )
        c.incremental_assign(partitions)

    def on_revoke(c: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"pulse.kafka.topic": topic,
                                              "pulse.kafka.partitions": [tp.partition for tp in partitions]})
        c.incremental_unassign(partitions)

    engine.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    return engine


def message_error(message: Message) -> KafkaError | None:
    """The error a consumed message carries; raises TerminalError for errors that will not heal."""
    error = message.error()
    if error is None:
        return None
    if error.code() in _TRANSIENT_CODES or error.retriable():
        return error
    if error.fatal():
        raise TerminalError(f"Kafka consumer failed: {error.str()}")
    return error


class KafkaOutage:
    """The `error_cb` side of a client: "Kafka unreachable at PULSE_KAFKA_BOOTSTRAP=...", once per backoff step.

    While no broker answers, librdkafka reports every failed reconnect (about 20 a second). This says so
    at once, then again after 2, 4, 8 ... s (at most every `max_interval_s`); a new outage after a quiet
    `quiet_reset_s` starts over. Other client errors are logged as they come (fatal ones as errors).
    """

    def __init__(self, bootstrap: str, *, first_interval_s: float = 2.0, max_interval_s: float = 60.0,
                 quiet_reset_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.bootstrap = bootstrap
        self.reports = 0
        self._first, self._max, self._quiet_reset, self._clock = first_interval_s, max_interval_s, quiet_reset_s, clock
        self._interval = first_interval_s
        self._due = 0.0
        self._last_seen: float | None = None

    def error(self, error: KafkaError) -> None:
        """Handle one client error (librdkafka's error_cb)."""
        if error.code() not in UNREACHABLE_CODES:
            if error.fatal():
                log.error("kafka fatal error: %s", error.str())
            else:
                log.warning("kafka: %s", error.str())
            return
        now = self._clock()
        if self._last_seen is not None and now - self._last_seen > self._quiet_reset:
            self._restart()
        self._last_seen = now
        if now < self._due:
            return
        log.warning("Kafka unreachable at %s=%s (%s): retrying, next report in %g s",
                    BOOTSTRAP_SETTING, self.bootstrap, _reason(error), self._interval)
        self.reports += 1
        self._due = now + self._interval
        self._interval = min(self._interval * 2, self._max)

    def recovered(self) -> None:
        """Kafka answered (partitions were assigned): say so once if an outage was reported."""
        if self.reports:
            log.info("Kafka reachable again at %s=%s", BOOTSTRAP_SETTING, self.bootstrap)
        self._restart()
        self._last_seen = None

    def _restart(self) -> None:
        self.reports, self._interval, self._due = 0, self._first, 0.0


def _reason(error: KafkaError) -> str:
    """"Connection refused" out of "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection
    refused (after 0ms in state CONNECT)"."""
    text = error.str()
    found = re.search(r"failed: (.+?)(?: \(after \d+ms in state \w+\))?$", text)
    return found.group(1) if found else text


__all__ = ["KafkaException", "KafkaOutage", "admin", "client_config", "consumer", "create_consumer",
           "dead_letter_topic", "ensure_topic", "message_error", "producer"]
