"""Consumer lag per partition on a real Kafka: the high watermark minus the offset committed in the warehouse."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from pulse.model.star import StarBatch
from pulse.ops.metrics import EngineMetrics
from pulse.settings import Settings
from pulse.sources.kafka import create_consumer
from pulse.warehouse.loader import BatchResult

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
