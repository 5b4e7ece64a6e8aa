"""pulse maintain on the real warehouse: future partitions, retention of facts, ledger, rollups, quarantine."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from pulse.settings import Settings
from pulse.warehouse.maintenance import MaintenancePolicy, maintain
from tests.services import pulse_cli, scalar

from .quality_fixture import DUPLICATES, KEPT, OLD, RECENT, build_lines, load_fixture, replay_and_load

pytestmark = pytest.mark.integration

ROLLUPS = ("rollup_browser_os", "rollup_product", "rollup_referrer", "rollup_site_store")


def _partitions(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'fact_event'::regclass"
        ).fetchall()
    return {r[0] for r in rows}


def _counts(url: str) -> dict[str, int]:
    tables = ("fact_event", "event_ledger", "quarantine", *ROLLUPS)
    return {t: int(scalar(url, f"SELECT count(*) FROM {t}")) for t in tables}  # type: ignore[arg-type]  # noqa: S608


def test_maintain_creates_ahead_and_removes_only_what_is_older_than_retention(
    pipeline: Settings, tmp_path: Path
) -> None:
    loaded = load_fixture(pipeline, tmp_path)
    url = pipeline.database_url
    today = loaded.now.date()
    # two quarantined messages aged past the quarantine retention (90 days), one stays
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE quarantine SET quarantined_at = now() - interval '100 days'"
                     " WHERE quarantine_id IN (SELECT quarantine_id FROM quarantine ORDER BY 1 LIMIT 2)")
    before = _counts(url)
    assert before["fact_event"] == RECENT + OLD + KEPT
    parts_before = _partitions(url)
    old_part = f"fact_event_{loaded.old_day:%Y%m%d}"
    assert old_part in parts_before and f"fact_event_{loaded.kept_day:%Y%m%d}" in parts_before
    wanted = {f"fact_event_{today + timedelta(days=n):%Y%m%d}" for n in range(4)}
    policy = MaintenancePolicy(days_ahead=3, retention_days=400, quarantine_retention_days=90)
    # The OLD events (quality_fixture.py) share a day, IP, agent and storefront and have no device id: one
    # visitor (ledgered for its storefront and for all storefronts, in the one zone UTC), one visit (a minute
    # apart), no order.
    conversion = {"visitor_day": 2, "fact_order": 0, "visit": 1, "rollup_order": 0}
    expected_deleted = {"event_ledger": OLD, "quarantine": 2, **{t: 1 for t in ROLLUPS}, **conversion}

    with psycopg.connect(url) as conn:
        plan = maintain(conn, policy, dry_run=True)
    assert plan.dropped == [old_part]
    assert set(plan.created) == wanted - parts_before
    assert plan.deleted == expected_deleted
    assert _counts(url) == before and _partitions(url) == parts_before, "a dry run changes nothing"

    with psycopg.connect(url) as conn:
        done = maintain(conn, policy)
    assert (done.dropped, sorted(done.created), done.deleted) == (plan.dropped, sorted(plan.created), plan.deleted)
    after = _counts(url)
    assert after["fact_event"] == RECENT + KEPT
    assert after["event_ledger"] == before["event_ledger"] - OLD
    assert after["quarantine"] == before["quarantine"] - 2
    assert all(after[t] == before[t] - 1 for t in ROLLUPS)
    assert _partitions(url) == (parts_before - {old_part}) | wanted
    with psycopg.connect(url) as conn:
        runs = conn.execute("SELECT cutoff_date, dropped FROM maintenance_runs").fetchall()
    assert runs == [(today - timedelta(days=400), [old_part])]

    with psycopg.connect(url) as conn:
        again = maintain(conn, policy)
    assert (again.created, again.dropped) == ([], [])
    assert set(again.deleted.values()) == {0}, "a second run finds nothing to do"

    # Deduplication still holds inside the retention window after maintenance: a full resend adds nothing
    # recent, and the old events (outside the window) come back once each until the next run removes them.
    replay_and_load(pipeline, build_lines(loaded.now), tmp_path / "again.jsonl")
    assert scalar(url, "SELECT count(*) FROM fact_event") == RECENT + KEPT + OLD
    assert scalar(url, "SELECT duplicates_skipped FROM load_state") == DUPLICATES + DUPLICATES + RECENT + KEPT


def test_cli_maintain_dry_run_json_and_owner_only(pipeline: Settings, tmp_path: Path) -> None:
    load_fixture(pipeline, tmp_path)
    result = pulse_cli(pipeline, "maintain", "--dry-run", "--retention-days", "400", "--days-ahead", "1",
                       "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["dry_run"] is True and len(doc["dropped"]) == 1 and doc["deleted"]["event_ledger"] == OLD
    # the dashboard role cannot maintain: a clear message, not a traceback
    reader = pipeline.model_copy(update={"database_url": pipeline.reader_url})
    denied = pulse_cli(reader, "maintain", "--retention-days", "400")
    assert denied.returncode == 2
    assert "owner connection" in denied.stderr and "Traceback" not in denied.stderr
