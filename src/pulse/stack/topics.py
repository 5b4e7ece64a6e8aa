"""The local broker as a client sees it: its address, whether it answers metadata, and the events topic."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from pulse.errors import ConfigError
from pulse.settings import Settings
from pulse.sources import kafka
from pulse.stack.proc import LOCAL_HOSTS, Progress, say


def bootstrap_address(settings: Settings) -> tuple[str, int]:
    """Host and port of the local broker's client listener, from settings.kafka_bootstrap."""
    first = settings.kafka_bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    host = host.strip("[]")
    if host not in LOCAL_HOSTS or not port.isdigit():
        raise ConfigError(
            f"the local stack runs Kafka on this machine, but PULSE_KAFKA_BOOTSTRAP is {first!r}: use 127.0.0.1:<port>"
        )
    return ("127.0.0.1" if host == "localhost" else host), int(port)


def metadata_probe(settings: Settings) -> Callable[[], bool]:
    """A check, cheap to repeat, that the local broker answers a metadata request within 2 s (one AdminClient,
    made on the first call)."""
    clients: list[AdminClient] = []

    def answers() -> bool:
        if not clients:
            clients.append(_admin(settings))
        try:
            return bool(clients[0].list_topics(timeout=2).brokers)
        except KafkaException:
            return False

    return answers


def ensure_topic(settings: Settings, progress: Progress | None = None, timeout: float = 30.0) -> int:
    """Create settings.topic with settings.topic_partitions partitions if missing, and its dead-letter topic
    (`<topic>.dlq`, as many partitions); return the topic's partitions.

    An existing topic is left as it is, whatever its partition count.
    """
    admin = _admin(settings)
    partitions = kafka.ensure_topic(admin, settings.topic, settings.topic_partitions, timeout=timeout,
                                    on_create=lambda line: say(progress, line))
    kafka.ensure_topic(admin, kafka.dead_letter_topic(settings.topic), partitions, timeout=timeout,
                       on_create=lambda line: say(progress, line))
    return partitions


def topic_partitions(settings: Settings, admin: AdminClient | None = None) -> int | None:
    """Partition count of settings.topic, or None when the topic does not exist."""
    metadata = (admin or _admin(settings)).list_topics(timeout=10)
    topic = metadata.topics.get(settings.topic)
    if topic is None or topic.error is not None:
        return None
    return len(topic.partitions)


def _admin(settings: Settings) -> AdminClient:
    host, port = bootstrap_address(settings)
    # quiet: librdkafka reports every refused connection while the broker boots (DEBUG, not the terminal)
    return kafka.admin(f"{host}:{port}", client_id="pulse-stack", quiet=True)
