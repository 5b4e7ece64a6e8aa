"""Local-day rollups (migration 0003): the engine's zone, a zone added later, and the 15-minute fallback agree."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest

from pulse.engines.native import NativeEngine
from pulse.settings import Settings
from pulse.warehouse.kpis import VIEW_KPI_NAMES, KpiWindow, has_day_rollups, run_kpi
from tests.services import pulse_cli, scalar

from .labelled import build_fixture, expected_kpis

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 29)  # spring forward in Europe: Berlin's local day has 23 hours


def _load(settings: Settings, lines: list[bytes], path: Path) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = pulse_cli(settings, "replay", str(path))
    assert result.returncode == 0, result.stderr
    NativeEngine(settings).run(until_idle=3.0)


def _kpis(settings: Settings, tz: str) -> dict[str, object]:
    window = KpiWindow(day=DAY, tz=tz, view_collections=("view_product_detail",))
    with psycopg.connect(settings.reader_url) as conn:
        return {name: run_kpi(conn, name, window, country="DE" if name == "stores-by-country" else None,
                              product_id="101" if name == "product-hourly" else None)["rows"]
                for name in VIEW_KPI_NAMES}


def test_day_rollups_of_the_engine_zone_and_of_a_zone_added_midway(pipeline: Settings, tmp_path: Path) -> None:
    fixture = build_fixture(DAY, n_valid=2000, seed=11)
    settings = pipeline.model_copy(update={"timezone": "Asia/Kolkata"})  # +05:30: half-hour offset
    half = len(fixture.lines) // 2
    _load(settings, fixture.lines[:half], tmp_path / "first.jsonl")

    # The loader role adds a zone while data exists: it is backfilled from the 15-minute rollups,
    # then maintained by the next batches.
    with psycopg.connect(settings.loader_url, autocommit=True) as conn:
        assert conn.execute("SELECT pulse_add_kpi_zone('America/St_Johns')").fetchone() == (True,)
        assert conn.execute("SELECT pulse_add_kpi_zone('America/St_Johns')").fetchone() == (False,)
    _load(settings, fixture.lines[half:], tmp_path / "second.jsonl")

    zones = {r[0] for r in psycopg.connect(settings.reader_url).execute("SELECT zone FROM kpi_zone").fetchall()}
    assert zones == {"UTC", "Asia/Kolkata", "America/St_Johns"}
    with psycopg.connect(settings.reader_url) as conn:
        assert has_day_rollups(conn, "Asia/Kolkata") and not has_day_rollups(conn, "Europe/Berlin")
    for tz in ("Asia/Kolkata", "America/St_Johns", "Europe/Berlin"):  # day, backfilled day, 15-minute
        assert _kpis(settings, tz) == expected_kpis(fixture, DAY, tz, country="DE", product_id="101"), tz
    total = scalar(settings.database_url,
                   "SELECT sum(events) FROM rollup_site_store_day WHERE zone = 'America/St_Johns'")
    assert total == len(fixture.valid), "each event counted once in a zone's day rollups"


def test_readers_cannot_add_zones_or_write_day_rollups(pipeline: Settings) -> None:
    with psycopg.connect(pipeline.reader_url, autocommit=True) as conn:
        for statement in ("SELECT pulse_add_kpi_zone('Europe/Berlin')", "DELETE FROM rollup_product_day",
                          "INSERT INTO kpi_zone (zone) VALUES ('Europe/Paris')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)  # type: ignore[arg-type]
    with psycopg.connect(pipeline.loader_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("SELECT pulse_add_kpi_zone('Mars/Olympus')")
