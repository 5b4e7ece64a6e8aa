"""`pulse health` and `pulse canary` against the real Kafka, PostgreSQL and a real `pulse run` subprocess."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from pulse.settings import Settings
from pulse.traffic.producer import produce_synthetic
from pulse.warehouse.kpis import KPI_NAMES, KpiWindow, run_kpi, today_in
from pulse.warehouse.migrate import available_migrations
from tests.conftest import PARTITIONS
from tests.services import pulse_cli, scalar

from .conftest import EngineProcess

pytestmark = pytest.mark.integration

EVENTS = 400


def _health(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    result = pulse_cli(settings, "health", "--format", "json", *args)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def _canary(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    result = pulse_cli(settings, "canary", "--format", "json", *args)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


def _kpi_snapshot(settings: Settings) -> dict[str, Any]:
    """Every KPI answer for today (all collections count as views, bots included) and the rollup totals."""
    window = KpiWindow(day=today_in("UTC"), tz="UTC", include_bots=True,
                       view_collections=("view_product_detail", "view_listing_page", "pulse_canary"))
    snapshot: dict[str, Any] = {}
    with psycopg.connect(settings.reader_url) as conn:
        for name in KPI_NAMES:
            answer = run_kpi(conn, name, window, country="DE", product_id="1")
            snapshot[name] = answer["rows"]
            snapshot["newest_event_time"] = answer["as_of"]["newest_event_time"]  # the commit time moves on
        for table in ("rollup_product", "rollup_site_store", "rollup_referrer", "rollup_browser_os"):
            snapshot[table] = conn.execute(f"SELECT coalesce(sum(events), 0) FROM {table}").fetchone()  # noqa: S608
    return snapshot


def _wait_loaded(settings: Settings, expected: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if scalar(settings.database_url, "SELECT events_loaded + duplicates_skipped FROM load_state") == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"the engine did not load {expected} events within 60 s")


def test_health_and_canary_through_an_engine_lifecycle(
    pipeline: Settings, engine: Callable[..., EngineProcess]
) -> None:
    # 1. Nothing has ever run: unhealthy (exit 2), and the report says why.
    code, report = _health(pipeline)
    checks = _by_name(report)
    assert code == 2 and report["status"] == "fail"
    assert [c["name"] for c in report["checks"]] == [
        "brokers", "topic", "postgresql", "schema", "engine", "lag", "freshness"]
    assert checks["engine"]["status"] == "fail" and "no engine has ever run" in checks["engine"]["message"]
    assert checks["freshness"]["status"] == "warn"
    assert checks["topic"]["details"]["partitions"] == PARTITIONS
    assert checks["topic"]["details"]["replication_factor"] == 1  # the local stack has one broker
    assert checks["schema"]["details"]["applied"] == max(m.version for m in available_migrations())

    # 2. Traffic and a running engine: healthy (exit 0), nothing behind.
    sent = produce_synthetic(pipeline, count=EVENTS, rate=None, seed=7, progress=False)
    running = engine(pipeline)
    _wait_loaded(pipeline, sent)
    code, report = _health(pipeline)
    checks = _by_name(report)
    assert code == 0, report
    assert {c["status"] for c in report["checks"]} == {"ok"}
    assert checks["lag"]["details"]["lag"] == 0
    assert checks["engine"]["details"]["engines"][0]["pid"] == running.proc.pid

    # 3. Canaries go through the running engine, are recorded, and change no KPI.
    before = _kpi_snapshot(pipeline)
    runs = [_canary(pipeline, "--timeout", "60", "--max-latency", "60")]
    for code, result in runs:
        assert code == 0 and result["ok"] is True, result
        assert result["latency_ms"] > 0 and result["recorded"] is True
    slow_code, slow = _canary(pipeline, "--timeout", "60", "--max-latency", "0.001")
    assert slow_code == 1 and slow["ok"] is False and slow["seen_at"] is not None, slow
    assert _kpi_snapshot(pipeline) == before, "canary events must never count in the KPIs"
    with psycopg.connect(pipeline.database_url) as conn:
        rows = conn.execute("SELECT event_id, ok, latency_ms IS NOT NULL FROM canary_run ORDER BY canary_id").fetchall()
        canary_facts = conn.execute("SELECT count(*) FROM fact_event WHERE collection = 'pulse_canary'").fetchone()
    assert rows == [(runs[0][1]["event_id"], True, True), (slow["event_id"], False, True)]
    assert canary_facts == (2,), "canaries are queryable facts"

    # 4. A warning only: degraded (exit 1).
    code, report = _health(pipeline, "--max-staleness", "0")
    assert code == 1, report
    assert [c["name"] for c in report["checks"] if c["status"] != "ok"] == ["freshness"]

    # 5. The engine stops: a canary now times out (exit 1) and is recorded as failed; health is unhealthy,
    #    and the unconsumed canary is the lag: one message behind.
    running.stop()
    code, result = _canary(pipeline, "--timeout", "2")
    assert code == 1 and result["ok"] is False and result["seen_at"] is None
    assert "not queryable" in result["detail"]
    assert scalar(pipeline.database_url, "SELECT count(*) FROM canary_run WHERE NOT ok AND seen_at IS NULL") == 1
    code, report = _health(pipeline, "--max-lag", "0")
    checks = _by_name(report)
    assert code == 2 and checks["engine"]["status"] == "fail"
    assert "stopped cleanly" in checks["engine"]["message"]
    assert checks["lag"]["status"] == "warn" and checks["lag"]["details"]["lag"] == 1

    # 6. A schema behind the code is a failure that names the fix.
    with psycopg.connect(pipeline.database_url) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 2")
    code, report = _health(pipeline)
    assert code == 2 and "pulse migrate" in _by_name(report)["schema"]["message"]


def test_health_without_a_broker_is_unhealthy(pipeline: Settings) -> None:
    from tests.services import free_port

    nowhere = pipeline.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    result = pulse_cli(nowhere, "health", "--format", "json")
    report = json.loads(result.stdout)
    checks = _by_name(report)
    assert result.returncode == 2
    assert checks["brokers"]["status"] == "fail" and "no Kafka broker answered" in checks["brokers"]["message"]
    assert checks["postgresql"]["status"] == "ok"
    assert checks["topic"]["status"] == "fail" and checks["lag"]["status"] == "fail"
