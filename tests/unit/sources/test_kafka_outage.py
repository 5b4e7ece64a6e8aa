"""An unreachable Kafka is reported once per backoff step, naming the setting; other client errors as they come."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError

from pulse.sources.kafka import KafkaOutage

REFUSED = KafkaError(KafkaError._TRANSPORT, "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: "
                                            "Connection refused (after 0ms in state CONNECT)")
ALL_DOWN = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "Kafka unreachable" in r.getMessage()]


def test_twenty_errors_a_second_for_ten_seconds_give_three_lines(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = KafkaOutage("127.0.0.1:1", clock=clock)
    with caplog.at_level(logging.INFO, logger="pulse.sources.kafka"):
        for _ in range(200):  # what librdkafka does while nothing listens: ~20 error callbacks a second
            outage.error(REFUSED)
            outage.error(ALL_DOWN)
            clock.now += 0.05
    # reports at t = 0, 2 and 6 s (intervals 2, 4, then 8 s: the next would be at 14 s)
    assert _outage_lines(caplog) == [
        "Kafka unreachable at PULSE_KAFKA_BOOTSTRAP=127.0.0.1:1 (Connection refused): retrying, next report in 2 s",
        "Kafka unreachable at PULSE_KAFKA_BOOTSTRAP=127.0.0.1:1 (Connection refused): retrying, next report in 4 s",
        "Kafka unreachable at PULSE_KAFKA_BOOTSTRAP=127.0.0.1:1 (Connection refused): retrying, next report in 8 s",
    ]
    assert len(caplog.records) == 3


def test_the_interval_is_capped_and_a_later_outage_starts_over(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = KafkaOutage("kafka-1:9092", max_interval_s=5, clock=clock)
    with caplog.at_level(logging.INFO, logger="pulse.sources.kafka"):
        for _ in range(300):  # 30 s down
            outage.error(ALL_DOWN)
            clock.now += 0.1
        clock.now += 120  # quiet for two minutes, then down again
        outage.error(ALL_DOWN)
    lines = _outage_lines(caplog)
    steps = [line.rsplit(" in ", 1)[1] for line in lines]
    # t = 0, 2, 6 (cap 5 from then on), 11, 16, 21, 26 -> 7 lines, then the new outage starts at 2 s again
    assert steps == ["2 s", "4 s", "5 s", "5 s", "5 s", "5 s", "5 s", "2 s"]
    assert "(1/1 brokers are down)" in lines[0]


def test_recovery_is_said_once_and_resets_the_steps(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = KafkaOutage("127.0.0.1:1", clock=clock)
    with caplog.at_level(logging.INFO, logger="pulse.sources.kafka"):
        outage.recovered()  # nothing was reported: nothing to say
        outage.error(REFUSED)
        clock.now += 3
        outage.error(REFUSED)
        outage.recovered()
        outage.recovered()
        outage.error(REFUSED)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[2] == "Kafka reachable again at PULSE_KAFKA_BOOTSTRAP=127.0.0.1:1"
    assert len(messages) == 4 and messages[3].endswith("next report in 2 s")


def test_other_client_errors_are_logged_as_they_come(caplog: pytest.LogCaptureFixture) -> None:
    outage = KafkaOutage("127.0.0.1:1", clock=Clock())
    with caplog.at_level(logging.INFO, logger="pulse.sources.kafka"):
        outage.error(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "not allowed"))
        outage.error(KafkaError(KafkaError._FATAL, "producer fenced", fatal=True))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "kafka: not allowed"), ("ERROR", "kafka fatal error: producer fenced")]
