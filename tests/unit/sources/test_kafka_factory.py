"""The Kafka client factory: the shared configuration, error callbacks in order, real clients built from it."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from pulse.ops.logging import LIBRDKAFKA_LOG
from pulse.settings import load_settings
from pulse.sources import kafka
from pulse.sources.kafka import KafkaOutage

UNREACHABLE = "127.0.0.1:1"
REFUSED = KafkaError(KafkaError._TRANSPORT, "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: "
                                            "Connection refused (after 0ms in state CONNECT)")


def test_every_client_shares_bootstrap_client_id_and_the_debug_logger() -> None:
    config = kafka.client_config(UNREACHABLE, client_id="pulse-test", quiet=True)
    assert config == {"bootstrap.servers": UNREACHABLE, "client.id": "pulse-test", "logger": LIBRDKAFKA_LOG}


def test_settings_give_their_bootstrap() -> None:
    settings = load_settings(kafka_bootstrap="kafka-1:9092,kafka-2:9092")
    assert kafka.client_config(settings, client_id="x")["bootstrap.servers"] == "kafka-1:9092,kafka-2:9092"


def test_a_timeout_bounds_sockets_and_connection_setup_in_milliseconds() -> None:
    config = kafka.client_config(UNREACHABLE, client_id="x", quiet=True, timeout_s=2.5)
    assert config["socket.timeout.ms"] == 2500
    assert config["socket.connection.setup.timeout.ms"] == 2500


def test_errors_reach_the_outage_first_then_the_callers_callback() -> None:
    seen: list[str] = []
    outage = KafkaOutage(UNREACHABLE)
    original = outage.error

    def outage_error(error: KafkaError) -> None:
        seen.append("outage")
        original(error)

    outage.error = outage_error  # type: ignore[method-assign]
    config = kafka.client_config(UNREACHABLE, client_id="x", outage=outage, on_error=lambda e: seen.append(e.str()))
    config["error_cb"](REFUSED)
    assert seen == ["outage", REFUSED.str()]
    assert outage.reports == 1


def test_a_quiet_client_passes_errors_only_to_its_callback() -> None:
    errors: list[KafkaError] = []
    config = kafka.client_config(UNREACHABLE, client_id="x", quiet=True, on_error=errors.append)
    config["error_cb"](REFUSED)
    assert errors == [REFUSED]
    assert "error_cb" not in kafka.client_config(UNREACHABLE, client_id="x", quiet=True)


def test_a_client_that_is_not_quiet_reports_outages_by_default() -> None:
    assert "error_cb" in kafka.client_config(UNREACHABLE, client_id="x")


def test_real_clients_accept_the_configuration() -> None:
    """librdkafka refuses an unknown or ill-typed property at construction; none connects before it is used."""
    producer = kafka.producer(UNREACHABLE, client_id="pulse-test", delivery_timeout_s=1.5, linger_ms=3,
                              config={"compression.type": "lz4"}, quiet=True)
    assert isinstance(producer, Producer)
    assert producer.flush(0) == 0
    consumer = kafka.consumer(UNREACHABLE, group="pulse-test", quiet=True, timeout_s=1.0)
    assert isinstance(consumer, Consumer)
    consumer.close()
    assert isinstance(kafka.admin(UNREACHABLE, timeout_s=1.0), AdminClient)
