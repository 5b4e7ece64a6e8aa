"""Kafka consumer for the native engine: offsets come from the warehouse, not from Kafka."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from pulse.errors import TerminalError

log = logging.getLogger(__name__)

# Errors that librdkafka recovers from by itself: log them, keep consuming.
_TRANSIENT_CODES = {
    KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT, KafkaError._RESOLVE,
    KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.REQUEST_TIMED_OUT, KafkaError.NETWORK_EXCEPTION,
    KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART,
}


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

    def error_cb(error: KafkaError) -> None:
        _log_client_error(error)
        if on_error is not None:
            on_error(error)

    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": 10000,
        "max.poll.interval.ms": 600000,
        "fetch.wait.max.ms": 50,
        "queued.max.messages.kbytes": 16384,
        "client.id": "pulse-native",
        "error_cb": error_cb,
    }
    config.update(extra_config or {})
    consumer = Consumer(config)

    def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
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

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    return consumer


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


def _log_client_error(error: KafkaError) -> None:
    if error.fatal():
        log.error("kafka fatal error: %s", error.str())
    else:
        log.warning("kafka: %s", error.str())


__all__ = ["KafkaException", "create_consumer", "message_error"]
