"""Superset dashboards on a real Superset: provisioned for Berlin's 23-hour DST day, every chart's saved
query equals the pulse API's answer (itself checked against the hand-labelled truth); provisioned again
for UTC (same objects), the dashboard opened in Chromium answers the labelled UTC truth; the warehouse
connection Superset holds is read-only; unreachable Superset and wrong passwords say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from pulse.collect.server import running
from pulse.engines.native import NativeEngine
from pulse.serve.api import create_app
from pulse.serve.superset import SupersetClient
from pulse.settings import Settings
from tests.integration.labelled import Fixture, build_fixture, expected_kpis
from tests.services import env_for, free_port, pulse_cli

from .browser import native_filters_param, render_dashboard
from .conftest import SupersetServer

# Superset boots first (usefixtures comes first): its start overlaps the Kafka + PostgreSQL start.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("superset_boot")]

DAY = date(2026, 3, 29)  # Europe/Berlin switches to summer time that night: a 23-hour day there
COUNTRY, PRODUCT = "DE", "101"
SCREENSHOT = os.environ.get("PULSE_SUPERSET_SCREENSHOT")  # read now: the stack fixture clears PULSE_* later
CHARTS = {  # slice name -> KPI
    "Top 10 products by views": "top-products",
    "Top 10 countries by views": "top-countries",
    "Top 5 referrers by views": "top-referrers",
    "Stores of the selected country": "stores-by-country",
    "Hourly views of the selected product": "product-hourly",
    "Hourly views by browser and OS": "browser-os-hourly",
    "Visits by storefront": "sessions",
}
# The conversion charts are checked against the API only: its answers are proven against independent counts
# in tests/integration/test_conversion.py.
CONVERSION = {"sessions"}


def _visits_by_storefront(rows: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """storefront -> (visits, bounce rate, average visit, orders), from the API's or Superset's rows."""
    return {r["storefront"]: (int(r["visits"]), round(float(r["bounce_rate"]), 4),
                              round(float(r["average_duration_s"]), 1), int(r["orders"])) for r in rows}


@pytest.fixture(scope="module")
def fixture() -> Fixture:
    return build_fixture(DAY, n_valid=2000)


def _load(settings: Settings, fx: Fixture, tmp_path: Path) -> None:
    path = tmp_path / "replay.jsonl"
    path.write_bytes(b"\n".join(fx.lines) + b"\n")
    result = pulse_cli(settings, "replay", str(path))
    assert result.returncode == 0, result.stderr
    NativeEngine(settings).run(until_idle=3)


def _provision(settings: Settings, server: SupersetServer, password: str | None = None,
               url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**env_for(settings), "PULSE_TIMEZONE": settings.timezone, "PULSE_SUPERSET_USERNAME": server.username,
           "PULSE_SUPERSET_PASSWORD": password or server.password}
    if "PGPASSFILE" in os.environ:
        env["PGPASSFILE"] = os.environ["PGPASSFILE"]
    return subprocess.run(
        [sys.executable, "-m", "pulse.cli", "superset", "provision", "--url", url or server.url, "--format", "json"],
        env=env, capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL,
    )


def _provisioned(settings: Settings, server: SupersetServer) -> dict[str, Any]:
    result = _provision(settings, server)
    assert result.returncode == 0, result.stderr
    done: dict[str, Any] = json.loads(result.stdout)
    return done


def _chart_rows(client: SupersetClient, chart_id: int, kpi: str) -> list[dict[str, Any]]:
    """The chart's saved query context with the dashboard's native filters set as the dashboard sets them."""
    saved = json.loads(client.get(f"/api/v1/chart/{chart_id}")["result"]["query_context"])
    query = saved["queries"][0]
    for flt in query["filters"]:
        if flt["op"] == "TEMPORAL_RANGE":  # the Date filter
            flt["val"] = f"{DAY.isoformat()}T00:00:00 : {date.fromordinal(DAY.toordinal() + 1).isoformat()}T00:00:00"
    if kpi == "stores-by-country":  # the Country filter
        query["filters"].append({"col": "country_code", "op": "IN", "val": [COUNTRY]})
    if kpi == "product-hourly":  # the Product filter
        query["filters"].append({"col": "product_id", "op": "IN", "val": [PRODUCT]})
    answer = client.request("POST", "/api/v1/chart/data", json=saved)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["result"][0]["data"]
    return rows


def _as_api_rows(kpi: str, rows: list[dict[str, Any]]) -> Any:
    """Superset's flat rows in the shape of the API's answer (hours with no views are absent in Superset)."""
    if kpi == "product-hourly":
        found = {r["local_hour"]: r["views"] for r in rows}
        return [{"hour": h, "views": found.get(h, 0)} for h in range(24)]
    if kpi == "browser-os-hourly":
        out: dict[str, list[dict[str, Any]]] = {}
        for key, name in (("by_browser", "browser"), ("by_os", "os")):
            sums: dict[tuple[int, str], int] = defaultdict(int)
            for r in rows:
                sums[(r["local_hour"], r[name])] += r["views"]
            out[key] = [{"hour": h, name: v, "views": n}
                        for (h, v), n in sorted(sums.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))]
        return out
    return rows


def _check_charts(settings: Settings, server: SupersetServer, fx: Fixture, charts: dict[str, int]) -> None:
    expected = expected_kpis(fx, DAY, settings.timezone, country=COUNTRY, product_id=PRODUCT)
    params = {"stores-by-country": {"country": COUNTRY}, "product-hourly": {"product_id": PRODUCT}}
    with running(create_app(settings)) as api_url, httpx.Client(base_url=api_url, timeout=30) as api, \
            SupersetClient(server.url) as client:
        client.login(server.username, server.password)
        for name, kpi in CHARTS.items():
            answer = api.get(f"/api/kpis/{kpi}", params={"date": DAY.isoformat(), "tz": settings.timezone,
                                                          **params.get(kpi, {})}).json()
            if kpi in CONVERSION:
                shown = _visits_by_storefront(_chart_rows(client, charts[name], kpi))
                assert shown and shown == _visits_by_storefront(answer["rows"]["by_storefront"]), name
                continue
            assert answer["rows"] == expected[kpi], f"the API itself is wrong: {kpi} in {settings.timezone}"
            assert answer["rows"], f"{kpi}: an empty answer would prove nothing"
            got = _as_api_rows(kpi, _chart_rows(client, charts[name], kpi))
            assert got == answer["rows"], f"{name} ({kpi}) in {settings.timezone}"
            # the saved chart as it is (Date filter at its default) runs too
            assert client.request("GET", f"/api/v1/chart/{charts[name]}/data/").status_code == 200, name


def test_every_chart_answers_as_the_pulse_api(
    pipeline: Settings, superset_server: SupersetServer, fixture: Fixture, tmp_path: Path
) -> None:
    with psycopg.connect(pipeline.database_url, autocommit=True) as owner:  # visits are kept per zone
        owner.execute("SELECT pulse_add_kpi_zone(%s)", ("Europe/Berlin",))
    _load(pipeline, fixture, tmp_path)
    berlin = pipeline.model_copy(update={"timezone": "Europe/Berlin"})
    first = _provisioned(berlin, superset_server)
    assert set(first["charts"]) == set(CHARTS)
    assert first["dashboard_url"].startswith(superset_server.url) and "pulse-kpis" in first["dashboard_url"]
    _check_charts(berlin, superset_server, fixture, first["charts"])

    again = _provisioned(pipeline, superset_server)  # idempotent: same objects, now with the UTC day
    assert (again["dashboard_id"], again["charts"]) == (first["dashboard_id"], first["charts"])

    _check_dashboard_in_a_browser(pipeline, superset_server, fixture, again)  # in UTC now

    with SupersetClient(superset_server.url) as client:
        client.login(superset_server.username, superset_server.password)
        dashboard = client.get(f"/api/v1/dashboard/{again['dashboard_id']}")["result"]
        metadata = json.loads(dashboard["json_metadata"])
        assert metadata["refresh_frequency"] == 10
        filters = {f["name"]: f for f in metadata["native_filter_configuration"]}
        assert set(filters) == {"Date", "Country", "Product"}
        assert filters["Date"]["filterType"] == "filter_time"
        assert [t["column"]["name"] for t in filters["Country"]["targets"]] == ["country_code"]
        assert [t["column"]["name"] for t in filters["Product"]["targets"]] == ["product_id"]
        databases = client.get("/api/v1/database/")["result"]
        assert [d["database_name"] for d in databases] == ["pulse warehouse"]


def _check_dashboard_in_a_browser(settings: Settings, server: SupersetServer, fx: Fixture,
                                  done: dict[str, Any]) -> None:
    """The dashboard as people see it: Chromium logs in and opens it with the filters in the URL; every
    chart's frontend-built query succeeds with the labelled answer (screenshot: PULSE_SUPERSET_SCREENSHOT)."""
    expected = expected_kpis(fx, DAY, settings.timezone, country=COUNTRY, product_id=PRODUCT)
    day_range = f"{DAY.isoformat()}T00:00:00 : {date.fromordinal(DAY.toordinal() + 1).isoformat()}T00:00:00"
    answers = render_dashboard(server.url, server.username, server.password, done["dashboard_url"],
                               native_filters_param(day_range, COUNTRY, PRODUCT), len(CHARTS),
                               Path(SCREENSHOT) if SCREENSHOT else None)
    assert set(answers) == set(done["charts"].values()), "not every chart asked for its data"
    with running(create_app(settings)) as api_url:
        visits = httpx.get(f"{api_url}/api/kpis/sessions", params={"date": DAY.isoformat(), "tz": settings.timezone},
                           timeout=30).json()["rows"]["by_storefront"]
    for name, kpi in CHARTS.items():
        answer = answers[done["charts"][name]]
        assert answer["status"] == 200, (name, answer["body"])
        rows = answer["body"]["result"][0]["data"]
        if kpi == "sessions":
            assert _visits_by_storefront(rows) == _visits_by_storefront(visits), name
        elif kpi == "product-hourly":  # pivoted for the bars: one column per series, here `views`
            assert {r["local_hour"]: r["views"] for r in rows if r["views"]} == {
                r["hour"]: r["views"] for r in expected[kpi] if r["views"]}, name
        elif kpi == "browser-os-hourly":  # one column per (browser, os) series: compare the hourly totals
            hourly: dict[int, int] = defaultdict(int)
            for r in expected[kpi]["by_browser"]:
                hourly[r["hour"]] += r["views"]
            assert {r["local_hour"]: sum(v for k, v in r.items() if k != "local_hour" and v) for r in rows} == hourly
        elif kpi == "stores-by-country":
            assert sorted(rows, key=str) == sorted(expected[kpi], key=str), name
        else:  # the frontend orders by views only: rows tied with the last one may differ, the counts may not
            assert [r["views"] for r in rows] == [r["views"] for r in expected[kpi]], name
            cutoff = rows[-1]["views"]
            assert [r for r in rows if r["views"] > cutoff] == [r for r in expected[kpi] if r["views"] > cutoff]


def _sql_lab(client: SupersetClient, database_id: int, text: str) -> httpx.Response:
    return client.request("POST", "/api/v1/sqllab/execute/",
                          json={"database_id": database_id, "sql": text, "runAsync": False, "schema": "public"})


def test_the_superset_connection_is_read_only(pipeline: Settings, superset_server: SupersetServer) -> None:
    _provisioned(pipeline, superset_server)
    with SupersetClient(superset_server.url) as client:
        client.login(superset_server.username, superset_server.password)
        database_id = client.get("/api/v1/database/")["result"][0]["id"]
        # (Superset refuses current_user, current_setting and pg_settings in SQL Lab; role tests are allowed)
        who = _sql_lab(client, database_id, "SELECT pg_has_role('pulse_reader', 'MEMBER') AS reader,"
                       " pg_has_role('pulse_loader', 'MEMBER') AS loader,"
                       " has_table_privilege('rollup_product', 'SELECT') AS can_select,"
                       " has_table_privilege('rollup_product', 'INSERT') AS can_insert")
        assert who.status_code == 200, who.text
        assert who.json()["data"] == [{"reader": True, "loader": False, "can_select": True, "can_insert": False}]
        for statement in ("DELETE FROM rollup_product", "INSERT INTO dim_os VALUES (1, 'x')",
                          "DROP TABLE rollup_product"):
            refused = _sql_lab(client, database_id, statement)
            assert refused.status_code >= 400, (statement, refused.text)
            assert "DML_NOT_ALLOWED_ERROR" in refused.text, refused.text
        # writes hidden in a SELECT pass Superset's check; the database refuses them
        locking = _sql_lab(client, database_id, "SELECT * FROM load_totals FOR UPDATE")
        assert locking.status_code >= 400, locking.text
        assert "read-only transaction" in locking.text, locking.text
        definer = _sql_lab(client, database_id, "SELECT pulse_ensure_fact_partitions(ARRAY[DATE '2031-01-01'])")
        assert definer.status_code >= 400, definer.text
        assert "permission denied" in definer.text, definer.text
    assert pulse_cli(pipeline, "kpi", "top-products", "--format", "json").returncode == 0


def test_unreachable_superset_and_a_wrong_password_are_clear_errors(
    pipeline: Settings, superset_server: SupersetServer
) -> None:
    nobody = _provision(pipeline, superset_server, url=f"http://127.0.0.1:{free_port()}")
    assert nobody.returncode == 2
    assert "Superset is not reachable" in nobody.stderr and "Traceback" not in nobody.stderr
    wrong = _provision(pipeline, superset_server, password="not-the-password")
    assert wrong.returncode == 2
    assert "refused the login" in wrong.stderr and "not-the-password" not in wrong.stderr + wrong.stdout
