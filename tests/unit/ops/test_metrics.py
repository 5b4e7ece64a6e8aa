"""Engine and API metrics: names and units, bulk histogram against prometheus_client's own, batch accounting."""

from __future__ import annotations

import random
import socket
import time
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from pulse.errors import ConfigError
from pulse.events.model import Rejection, RejectReason, Stage
from pulse.model.star import StarBatch
from pulse.ops.metrics import END_TO_END_BUCKETS, ApiMetrics, BulkHistogram, EngineMetrics, serve_metrics
from pulse.warehouse.loader import BatchResult


def samples(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition.decode())
        for s in family.samples
    }


def test_bulk_histogram_matches_one_by_one_observation() -> None:
    rng = random.Random(3)
    values = [rng.expovariate(1 / 3) for _ in range(5000)] + [0.05, 1.0, 600.0, 5000.0]  # bounds are inclusive
    bulk = BulkHistogram("lat_seconds", "x", END_TO_END_BUCKETS)
    registry = CollectorRegistry()
    registry.register(bulk)
    bulk.observe_many(values[:1234])
    bulk.observe_many(values[1234:])
    reference_registry = CollectorRegistry()
    reference = Histogram("lat_seconds", "x", buckets=END_TO_END_BUCKETS, registry=reference_registry)
    for v in values:
        reference.observe(v)
    from prometheus_client import generate_latest

    got, want = samples(generate_latest(registry)), samples(generate_latest(reference_registry))
    want = {k: v for k, v in want.items() if not k[0].endswith("_created")}
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert abs(got[key] - value) < 1e-6 * max(1.0, abs(value)), key


def test_ages_in_bulk_match_one_by_one_observation() -> None:
    rng = random.Random(5)
    now_ms = 1_800_000_000_000
    stamps = [now_ms - int(rng.expovariate(1 / 4000)) for _ in range(3000)]
    stamps += [now_ms - 50, now_ms - 1000, now_ms - 600_000, now_ms + 700, 0, -1]  # bounds, the future, none
    bulk = BulkHistogram("age_seconds", "x", END_TO_END_BUCKETS)
    registry = CollectorRegistry()
    registry.register(bulk)
    bulk.observe_ages_ms(stamps, now_ms)
    reference_registry = CollectorRegistry()
    reference = Histogram("age_seconds", "x", buckets=END_TO_END_BUCKETS, registry=reference_registry)
    for ts in stamps:
        if ts > 0:
            reference.observe(max(now_ms - ts, 0) / 1000)
    from prometheus_client import generate_latest

    got, want = samples(generate_latest(registry)), samples(generate_latest(reference_registry))
    want = {k: v for k, v in want.items() if not k[0].endswith("_created")}
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert abs(got[key] - value) < 1e-6 * max(1.0, abs(value)), key


def test_a_committed_batch_is_counted_by_reason_and_latency() -> None:
    metrics = EngineMetrics()
    newest = datetime(2026, 5, 1, 12, 0, 7, tzinfo=UTC)
    batch = StarBatch(
        rejections=[
            Rejection(Stage.DECODE, RejectReason.INVALID_JSON, "x", b"{", None),
            Rejection(Stage.DECODE, RejectReason.INVALID_JSON, "x", b"[", None),
            Rejection(Stage.VALIDATE, RejectReason.MISSING_COLLECTION, "x", b"{}", None),
        ],
    )
    now_ms = int(time.time() * 1000)
    metrics.batch_committed(
        batch, BatchResult(loaded=1, duplicates=1, quarantined=3, newest_event_time=newest),
        {("t", 0): 10, ("t", 3): 5},
        messages=5, started=time.monotonic() - 0.2, commit_seconds=0.05,
        kafka_times_ms=[now_ms - 300, now_ms - 2000, now_ms - 2000, now_ms - 100_000, -1],
    )
    metrics.database_retry("commit a batch")
    metrics.database_retry("something new")
    metrics.kafka_error("client")
    metrics.retrying("commit a batch", 12.5)
    got = samples(metrics.exposition())
    assert got[("pulse_engine_retrying_seconds", (("operation", "commit_batch"),))] == 12.5
    assert got[("pulse_engine_retrying_seconds", (("operation", "read_offsets"),))] == 0
    metrics.retrying("commit a batch", 0)
    assert samples(metrics.exposition())[("pulse_engine_retrying_seconds", (("operation", "commit_batch"),))] == 0

    assert got[("pulse_engine_events_consumed_total", ())] == 5
    assert got[("pulse_engine_events_loaded_total", ())] == 1
    assert got[("pulse_engine_events_duplicate_total", ())] == 1
    assert got[("pulse_engine_events_quarantined_total", (("reason", "invalid_json"),))] == 2
    assert got[("pulse_engine_events_quarantined_total", (("reason", "missing_collection"),))] == 1
    # every reason code exists from the start, at zero
    assert got[("pulse_engine_events_quarantined_total", (("reason", "load_failed"),))] == 0
    assert got[("pulse_engine_batch_size_messages_sum", ())] == 5
    assert got[("pulse_engine_newest_committed_event_timestamp_seconds", ())] == newest.timestamp()
    # a later batch of older events (or of duplicates only: no newest) does not move it back
    metrics.batch_committed(StarBatch(), BatchResult(0, 2, 0, newest_event_time=datetime(2026, 1, 1, tzinfo=UTC)),
                            {}, messages=2, started=time.monotonic(), commit_seconds=0.01, kafka_times_ms=[])
    metrics.batch_committed(StarBatch(), BatchResult(0, 2, 0), {}, messages=2, started=time.monotonic(),
                            commit_seconds=0.01, kafka_times_ms=[])
    got = samples(metrics.exposition())
    assert got[("pulse_engine_newest_committed_event_timestamp_seconds", ())] == newest.timestamp()
    assert got[("pulse_engine_events_consumed_total", ())] == 9
    # four messages carry a Kafka timestamp (-1: none): 0.3 s, 2 s, 2 s, 100 s old at commit
    assert got[("pulse_engine_end_to_end_latency_seconds_count", ())] == 4
    assert got[("pulse_engine_end_to_end_latency_seconds_bucket", (("le", "0.5"),))] == 1
    assert got[("pulse_engine_end_to_end_latency_seconds_bucket", (("le", "2.5"),))] == 3
    assert got[("pulse_engine_end_to_end_latency_seconds_bucket", (("le", "60.0"),))] == 3
    assert got[("pulse_engine_end_to_end_latency_seconds_bucket", (("le", "120.0"),))] == 4
    assert got[("pulse_engine_database_retries_total", (("operation", "commit_batch"),))] == 1
    assert got[("pulse_engine_database_retries_total", (("operation", "other"),))] == 1
    assert got[("pulse_engine_database_retries_total", (("operation", "read_offsets"),))] == 0
    assert got[("pulse_engine_kafka_errors_total", (("kind", "client"),))] == 1
    assert ("process_resident_memory_bytes", ()) in got


def test_metric_names_follow_prometheus_conventions() -> None:
    metrics = EngineMetrics()
    families = list(text_string_to_metric_families(metrics.exposition().decode()))
    ours = [f for f in families if f.name.startswith("pulse_") and not f.name.endswith("_created")]
    assert len(ours) >= 14
    for family in ours:
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
        if family.type in ("histogram", "gauge"):
            assert family.name.endswith(("_seconds", "_messages", "_bytes")), family.name
        for s in family.samples:
            assert set(s.labels) <= {"reason", "operation", "kind", "partition", "le"}, (family.name, s.labels)


def test_api_metrics_label_routes_by_template() -> None:
    metrics = ApiMetrics()
    metrics.observe("/api/kpis/{name}", "GET", 404, 0.01)
    metrics.observe("/api/kpis/{name}", "GET", 404, 0.02)
    got = samples(metrics.exposition())
    key = ("pulse_api_requests_total", (("method", "GET"), ("route", "/api/kpis/{name}"), ("status", "404")))
    assert got[key] == 2


def test_a_busy_metrics_port_is_a_clear_configuration_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*PULSE_METRICS_PORT"):
            serve_metrics(CollectorRegistry(), "127.0.0.1", port)


def test_the_metrics_endpoint_serves_the_registry() -> None:
    metrics = EngineMetrics()
    metrics.kafka_error("consume")
    server = serve_metrics(metrics.registry, "127.0.0.1", _free_port())
    try:
        port = server.server_address[1]
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
    assert 'pulse_engine_kafka_errors_total{kind="consume"} 1.0' in body


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
