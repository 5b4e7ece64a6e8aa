"""Consumer lag per partition on a real Kafka (high watermark minus the offset committed in the warehouse), and
Kafka client errors counted by the engine."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from pulse.engines.native import NativeEngine
from pulse.model.star import StarBatch
from pulse.ops.metrics import EngineMetrics
from pulse.settings import Settings
from pulse.sources.kafka import create_consumer
from pulse.warehouse.loader import BatchResult
from tests.services import free_port

pytestmark = pytest.mark.integration


def lag_by_partition(metrics: EngineMetrics) -> dict[int, float]:
    return {
        int(s.labels["partition"]): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        if family.name == "pulse_engine_consumer_lag_messages"
        for s in family.samples
    }


def test_lag_per_partition_follows_the_warehouse_offsets(pipeline: Settings) -> None:
    sent = {p: 5 * (p + 1) for p in range(pipeline.topic_partitions)}  # 5, 10, 15, 20 messages
    producer = Producer({"bootstrap.servers": pipeline.kafka_bootstrap})
    for partition, count in sent.items():
        for i in range(count):
            producer.produce(pipeline.topic, f'{{"n": {i}}}'.encode(), partition=partition)
    assert producer.flush(30) == 0

    metrics = EngineMetrics()
    stored = {2: 4}  # the warehouse already holds partition 2 up to offset 4

    def resume(_topic: str) -> dict[int, int]:
        metrics.resumed(stored)
        return stored

    consumer = create_consumer(pipeline.kafka_bootstrap, pipeline.consumer_group, pipeline.topic, resume)
    try:
        expected = sum(sent.values()) - stored[2]
        received, deadline = 0, time.monotonic() + 60
        while received < expected and time.monotonic() < deadline:
            received += sum(1 for m in consumer.consume(100, timeout=0.5) if m.error() is None)
        assert received == expected, f"consumed {received} of {expected} messages"

        metrics.refresh_lag(consumer, force=True)
        # nothing committed yet except what the warehouse held at the start
        assert lag_by_partition(metrics) == {0: 5, 1: 10, 2: 15 - 4, 3: 20}

        metrics.batch_committed(StarBatch(), BatchResult(0, 0, 0), {(pipeline.topic, 0): 5, (pipeline.topic, 3): 12},
                                messages=0, started=time.monotonic(), commit_seconds=0.0, kafka_times_ms=[])
        metrics.refresh_lag(consumer, force=True)
        assert lag_by_partition(metrics) == {0: 0, 1: 10, 2: 11, 3: 8}
    finally:
        consumer.close()


def test_an_unreachable_broker_is_counted_as_kafka_errors(pipeline: Settings) -> None:
    """The engine's consumer reports a broker that does not answer; the engine keeps running (and stops cleanly)."""
    settings = pipeline.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    engine = NativeEngine(settings)
    runner = threading.Thread(target=engine.run, name="engine-under-test", daemon=True)
    runner.start()

    def client_errors() -> float:
        return next(s.value for family in text_string_to_metric_families(engine.metrics.exposition().decode())
                    if family.name == "pulse_engine_kafka_errors" for s in family.samples
                    if s.name.endswith("_total") and s.labels["kind"] == "client")

    try:
        deadline = time.monotonic() + 30
        while client_errors() == 0 and time.monotonic() < deadline and runner.is_alive():
            time.sleep(0.2)
        assert client_errors() > 0
        assert runner.is_alive()
    finally:
        engine.request_stop()
        runner.join(timeout=30)
    assert not runner.is_alive()
