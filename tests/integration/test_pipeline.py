"""End to end on the real Kafka and PostgreSQL: replay -> engine -> warehouse -> KPIs, exactly once."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pulse.engines.native import NativeEngine
from pulse.enrich.useragent import UserAgentInfo
from pulse.pipeline import Enrichers
from pulse.serve.api import KpiReader
from pulse.settings import Settings
from pulse.warehouse.db import Access, connect, connect_loader, connect_reader
from pulse.warehouse.kpis import VIEW_KPI_NAMES, KpiWindow, load_stats, run_kpi
from pulse.warehouse.loader import WarehouseLoader
from tests.services import pulse_cli, scalar

from .labelled import Fixture, build_fixture, expected_kpis

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 29)  # the spring-forward day in Europe: a 23-hour local day


def _replay(settings: Settings, fx: Fixture, tmp_path: Path) -> None:
    path = tmp_path / "replay.jsonl"
    path.write_bytes(b"\n".join(fx.lines) + b"\n")
    result = pulse_cli(settings, "replay", str(path))
    assert result.returncode == 0, result.stderr


def _run_engine(settings: Settings, idle: float = 3.0) -> dict[str, Any]:
    return NativeEngine(settings).run(until_idle=idle).as_dict()


def _kpis(settings: Settings, tz: str, country: str, product: str) -> dict[str, Any]:
    window = KpiWindow(day=DAY, tz=tz, view_collections=("view_product_detail",))
    with psycopg.connect(settings.reader_url) as conn:
        return {
            name: run_kpi(conn, name, window, country=country if name == "stores-by-country" else None,
                          product_id=product if name == "product-hourly" else None)["rows"]
            for name in VIEW_KPI_NAMES
        }


@pytest.fixture(scope="module")
def fixture() -> Fixture:
    return build_fixture(DAY, n_valid=3000)


def test_replay_loads_every_valid_event_once_and_quarantines_the_rest(
    pipeline: Settings, fixture: Fixture, tmp_path: Path
) -> None:
    _replay(pipeline, fixture, tmp_path)
    stats = _run_engine(pipeline)
    assert stats["messages"] == len(fixture.lines)

    facts = scalar(pipeline.database_url, "SELECT count(*) FROM fact_event")
    distinct = scalar(pipeline.database_url, "SELECT count(DISTINCT event_id) FROM fact_event")
    assert facts == distinct == len(fixture.valid)
    with psycopg.connect(pipeline.database_url) as conn:
        reasons = dict(conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason").fetchall())
        coordinates = conn.execute(
            "SELECT count(*) FROM quarantine WHERE src_topic IS NULL OR src_offset IS NULL"
        ).fetchone()
    assert reasons == dict(fixture.malformed)
    assert coordinates == (0,)
    with psycopg.connect(pipeline.reader_url) as conn:
        totals = load_stats(conn)
    assert totals["events_loaded"] == len(fixture.valid)
    assert totals["quarantined"] == sum(fixture.malformed.values())
    assert totals["duplicates_skipped"] == fixture.duplicates
    assert totals["quarantined_by_reason"] == dict(fixture.malformed)
    assert totals["as_of"]["newest_event_time"] and totals["as_of"]["last_commit_at"]
    # Why each bot is one, labelled by hand from the fixture's agents (crawler-user-agents names both).
    reasons_by_agent = {
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)":
            "crawler-user-agents:facebookexternalhit",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": "crawler-user-agents:Googlebot",
    }
    bots = Counter(reasons_by_agent[ev["user_agent"]] for ev in fixture.valid if ev["_bot"])
    assert totals["bot_events_by_reason"] == dict(bots)
    assert totals["bot_events"] == bots.total()
    with psycopg.connect(pipeline.database_url) as conn:
        terms = conn.execute(
            "SELECT referrer_url, referrer_class, referrer_search_term FROM dim_referrer"
            " WHERE referrer_url LIKE 'https://www.bing.com/%%'"
        ).fetchall()
    assert terms == [("https://www.bing.com/search?q=ring", "search", "ring")]

    # Replaying the whole file again (a full producer retry) changes nothing.
    _replay(pipeline, fixture, tmp_path)
    _run_engine(pipeline)
    assert scalar(pipeline.database_url, "SELECT count(*) FROM fact_event") == len(fixture.valid)
    assert scalar(pipeline.database_url, "SELECT count(*) FROM quarantine") == 2 * sum(fixture.malformed.values())
    rollup_total = scalar(pipeline.database_url, "SELECT sum(events) FROM rollup_browser_os")
    assert rollup_total == len(fixture.valid), "rollups count each event exactly once"


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/Santiago", "Asia/Kolkata"])
def test_kpis_equal_an_independent_computation(
    pipeline: Settings, fixture: Fixture, tmp_path: Path, tz: str
) -> None:
    _replay(pipeline, fixture, tmp_path)
    _run_engine(pipeline)
    for country, product in (("DE", "101"), ("FR", "100"), ("Chile", "107")):
        expected = expected_kpis(fixture, DAY, tz, country=country if len(country) == 2 else "CL",
                                 product_id=product)
        actual = _kpis(pipeline, tz, country, product)
        assert actual == expected, f"{tz} {country} {product}"
    assert sum(r["views"] for r in _kpis(pipeline, tz, "DE", "101")["top-products"]) > 0


def test_cli_read_commands_answer_in_json(pipeline: Settings, fixture: Fixture, tmp_path: Path) -> None:
    _replay(pipeline, fixture, tmp_path)
    _run_engine(pipeline)
    top = pulse_cli(pipeline, "kpi", "top-countries", "--date", DAY.isoformat(), "--tz", "UTC", "--format", "json")
    assert top.returncode == 0, top.stderr
    answer = json.loads(top.stdout)
    assert answer["rows"] == expected_kpis(fixture, DAY, "UTC", "DE", "101")["top-countries"]
    assert set(answer["as_of"]) == {"newest_event_time", "last_commit_at", "rollups_through"}
    assert answer["as_of"]["rollups_through"] >= answer["as_of"]["last_commit_at"], "the engine folded at its stop"
    stats = json.loads(pulse_cli(pipeline, "stats", "--format", "json").stdout)
    assert stats["events_loaded"] == len(fixture.valid)
    listed = json.loads(pulse_cli(pipeline, "quarantine", "--limit", "500", "--format", "json").stdout)
    assert len(listed) == sum(fixture.malformed.values())
    assert {row["reason"] for row in listed} == set(fixture.malformed)
    bad = pulse_cli(pipeline, "kpi", "top-products", "--tz", "Mars/Olympus")
    assert bad.returncode != 0 and "Mars/Olympus" in bad.stderr
    missing = pulse_cli(pipeline, "kpi", "product-hourly")
    assert missing.returncode != 0 and "--product-id" in missing.stderr


def test_roles_have_least_privilege(pipeline: Settings) -> None:
    with psycopg.connect(pipeline.reader_url, autocommit=True) as reader:
        reader.execute("SELECT count(*) FROM rollup_product")
        for statement in (
            "INSERT INTO dim_store VALUES (1, 'x')",
            "DELETE FROM rollup_product",
            "SELECT raw FROM quarantine",
            "CREATE TABLE sneaky (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)
    with psycopg.connect(pipeline.loader_url, autocommit=True) as loader:
        for statement in ("DROP TABLE fact_event", "TRUNCATE rollup_product", "DELETE FROM fact_event",
                          "CREATE TABLE sneaky (x int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                loader.execute(statement)


def test_the_loader_and_the_api_run_without_jit(pipeline: Settings) -> None:
    """JIT compilation cost 3.5 s per 5,000-event batch (the regression it fixed): both paths switch it off."""
    with psycopg.connect(pipeline.loader_url, autocommit=True) as plain:
        assert plain.execute("SHOW jit").fetchone() == ("on",)  # the server default the sessions override
    loader = WarehouseLoader(pipeline.loader_url, "jit-check")
    try:
        assert loader.connection().execute("SHOW jit").fetchone() == ("off",)
    finally:
        loader.close()
    reader = KpiReader(pipeline)
    reader.pool.open(wait=True)
    try:
        with reader.connection() as conn:
            assert conn.execute("SHOW jit").fetchone() == ("off",)
    finally:
        reader.pool.close()


def test_reader_sessions_are_read_only_whatever_role_they_log_in_as(pipeline: Settings) -> None:
    """Readers cannot write by mistake, even on the owner's URL (the default when no reader URL is set)."""
    harmless_write = "UPDATE load_totals SET batches = batches"
    with connect(pipeline.database_url, access=Access.read, autocommit=True) as owner_reading:
        assert owner_reading.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            owner_reading.execute(harmless_write)
    with connect_reader(pipeline) as reader:
        assert reader.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
    with connect_loader(pipeline, autocommit=True) as writer:
        assert writer.execute("SHOW default_transaction_read_only").fetchone() == ("off",)
    with connect(pipeline.database_url, autocommit=True) as owner:
        owner.execute(harmless_write)  # the same statement, in a writing session
    api = KpiReader(pipeline)
    api.pool.open(wait=True)
    try:
        with api.connection() as conn:
            assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
    finally:
        api.pool.close()


def test_migrate_is_idempotent(pipeline: Settings) -> None:
    first = pulse_cli(pipeline, "migrate")
    assert first.returncode == 0, first.stderr
    assert "up to date" in first.stdout


class _PoisonUserAgents:
    """An enricher double that yields a value PostgreSQL refuses (U+0000 in text)."""

    def parse(self, user_agent: str | None) -> UserAgentInfo:
        return UserAgentInfo(browser="bad\x00browser", browser_major=None, os="Other", device_type="other",
                             is_bot=False)


def test_a_batch_the_database_refuses_is_quarantined_and_the_engine_goes_on(
    pipeline: Settings, fixture: Fixture, tmp_path: Path
) -> None:
    real = Enrichers.create(hash_key=b"integration-test-hash-key-0123456789")
    poison = dataclasses.replace(real, user_agents=_PoisonUserAgents())  # type: ignore[arg-type]
    _replay(pipeline, fixture, tmp_path)
    stats = NativeEngine(pipeline, enrichers=poison).run(until_idle=3)
    assert stats.messages == len(fixture.lines)
    with psycopg.connect(pipeline.database_url) as conn:
        reasons = dict(conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason").fetchall())
        facts = conn.execute("SELECT count(*) FROM fact_event").fetchone()
    assert facts == (0,)
    refused = reasons.pop("load_failed")
    assert reasons == dict(fixture.malformed), "malformed messages keep their own reason"
    assert refused + sum(reasons.values()) == len(fixture.lines), "every message is in quarantine: nothing lost"
    # The engine reads on from there: a healthy engine finds nothing left to do.
    assert NativeEngine(pipeline).run(until_idle=2).messages == 0


def test_oversized_values_load_with_index_safe_keys_and_the_events_behind_them_load_too(
    pipeline: Settings, tmp_path: Path
) -> None:
    # The poison pill: a 7,900-character referrer went into rollup_referrer_day's primary key, the commit
    # failed ("index row size 7976 exceeds btree version 4 maximum 2704") and nothing behind it ever loaded.
    now = int(time.time()) - 60
    incident = "https://www.google.com/search?q=" + "x" * 7_868  # 7,900 characters
    rings = "https://www.google.com/search?q=" + "\U0001f48d" * 2_000  # 8,032 bytes in UTF-8
    sibling = incident[:-1] + "y"  # the same prefix: must stay a row of its own
    docs = [
        {"id": "pill", "referrer_url": incident},
        {"id": "rings", "referrer_url": rings, "user_agent": "Mozilla/5.0 " + "A" * 9_000},
        {"id": "sibling", "referrer_url": sibling, "key_search": "ring " * 400},
        {"id": "behind", "referrer_url": "https://www.google.com/"},
    ]
    lines = [json.dumps({"collection": "view_product_detail", "time_stamp": now, "product_id": "96672",
                         "current_url": "https://www.glamira.de/ring.html", **doc}).encode() for doc in docs]
    path = tmp_path / "oversized.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert pulse_cli(pipeline, "replay", str(path)).returncode == 0

    stats = _run_engine(pipeline)
    assert stats["messages"] == len(docs) and stats["quarantined"] == 0
    with psycopg.connect(pipeline.database_url) as conn:
        loaded = {row[0] for row in conn.execute("SELECT event_id FROM fact_event")}
        keys = conn.execute("SELECT referrer_url, octet_length(referrer_url) FROM rollup_referrer_day").fetchall()
        kept = {row[0] for row in conn.execute("SELECT referrer_url FROM dim_referrer")}
        flags = dict(conn.execute("SELECT event_id, extra->'_pulse_truncated' FROM fact_event").fetchall())
    assert loaded == {"pill", "rings", "sibling", "behind"}
    assert max(size for _, size in keys) <= 512 and len(keys) == 4, "four distinct referrers, each within 512 bytes"
    assert {incident, rings, sibling} <= kept, "the dimension keeps each URL whole"
    assert flags == {"pill": None, "rings": ["user_agent"], "sibling": ["key_search"], "behind": None}
    window = KpiWindow(day=datetime.fromtimestamp(now, UTC).date(), tz="UTC", view_collections=("view_product_detail",))
    with psycopg.connect(pipeline.reader_url) as conn:
        top = run_kpi(conn, "top-referrers", window)["rows"]
    assert sorted(row["referrer_url"] for row in top) == sorted(key for key, _ in keys)
