"""Privacy on the real Kafka and PostgreSQL: planted e-mails, IPs and URL credentials reach no warehouse
column, and the dashboard role reads no per-person column while everything it serves still answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from pulse.collect.server import running
from pulse.engines.native import NativeEngine
from pulse.serve.api import create_app
from pulse.settings import Settings
from pulse.testing.privacy import PlantedTraffic, planted_traffic
from pulse.warehouse.kpis import KPI_NAMES
from tests.services import pulse_cli

pytestmark = pytest.mark.integration

# Every type a planted value could hide in; bytea is searched as bytes. quarantine.raw is exempt: it keeps
# the rejected bytes as sent, and only the owner can read it.
SEARCHED_TYPES = ("text", "character varying", "character", "name", "json", "jsonb", "inet", "cidr", "ARRAY",
                  "bytea")
EXEMPT = {("quarantine", "raw")}
PER_PERSON = ("email_hash", "device_hash", "ip_truncated", "extra", "user_id_db", "order_id", "key_search")
PARAMS: dict[str, dict[str, str]] = {"stores-by-country": {"country": "DE"}, "product-hourly": {"product_id": "96672"}}


def _load(settings: Settings, traffic: PlantedTraffic, tmp_path: Path) -> None:
    """Through Kafka (`pulse replay`) and the real engine, to the end of the topic."""
    path = tmp_path / "planted.jsonl"
    path.write_bytes(b"\n".join(json.dumps(doc).encode() for doc in traffic.events + traffic.rejected) + b"\n")
    result = pulse_cli(settings, "replay", str(path))
    assert result.returncode == 0, result.stderr
    NativeEngine(settings).run(until_idle=3)


def _searched_columns(conn: psycopg.Connection) -> list[tuple[str, str, str, str]]:
    rows = conn.execute(
        "SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') AND t.table_type = 'BASE TABLE'"
        " AND c.data_type = ANY(%s) ORDER BY 1, 2, 3",
        (list(SEARCHED_TYPES),),
    ).fetchall()
    return [(s, t, c, d) for s, t, c, d in rows if (t, c) not in EXEMPT]


def _found(conn: psycopg.Connection, schema: str, table: str, column: str, data_type: str,
           needles: list[str]) -> list[str]:
    """The needles that occur (case-insensitively; as bytes in bytea) in any row of one column."""
    col = sql.Identifier(column)
    match = (sql.SQL("position(convert_to(n, 'UTF8') IN {}) > 0").format(col) if data_type == "bytea"
             else sql.SQL("strpos(lower({}::text), lower(n)) > 0").format(col))
    query = sql.SQL("SELECT n FROM unnest(%s::text[]) AS n WHERE EXISTS (SELECT 1 FROM {}.{} WHERE {})").format(
        sql.Identifier(schema), sql.Identifier(table), match)
    return [row[0] for row in conn.execute(query, (needles,))]


def _marker(address: str, settings: Settings) -> str:
    """Independent reference: "[email:" + 12 hex of HMAC-SHA256(key, address) + "]"."""
    return "[email:" + hmac.new(settings.require_hash_key(), address.encode(), hashlib.sha256).hexdigest()[:12] + "]"


@pytest.fixture
def loaded(pipeline: Settings, tmp_path: Path) -> tuple[Settings, PlantedTraffic, datetime]:
    when = datetime.fromtimestamp(int(time.time()) - 3600, tz=UTC)
    traffic = planted_traffic(int(when.timestamp()))
    _load(pipeline, traffic, tmp_path)
    return pipeline, traffic, when


def test_planted_personal_data_appears_in_no_table_and_no_column(
    loaded: tuple[Settings, PlantedTraffic, datetime],
) -> None:
    settings, traffic, _ = loaded
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM fact_event").fetchone() == (len(traffic.events),)
        assert conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY 1").fetchall() == [("bad_event_time", 1)]
        columns = _searched_columns(conn)
        searched = {(t, c) for _, t, c, _ in columns}
        for wanted in [("fact_event", "extra"), ("fact_event", "key_search"), ("dim_referrer", "referrer_url"),
                       ("rollup_referrer_day", "referrer_url"), ("quarantine", "detail"), ("event_ledger", "event_id"),
                       ("dim_site", "host"), ("dim_product", "product_slug"), ("rollup_product", "product_id")]:
            assert wanted in searched, f"{wanted} is not searched"
        assert any(t.startswith("fact_event_") for t, _ in searched), "the fact partitions are searched"
        leaks = {f"{t}.{c}": found for s, t, c, d in columns if (found := _found(conn, s, t, c, d, traffic.needles))}
        raw = _found(conn, "public", "quarantine", "raw", "bytea", traffic.needles)
    assert leaks == {}
    assert raw, "the search finds a planted value where one is kept (the rejected message's raw bytes)"


def test_the_search_finds_what_it_looks_for_when_redaction_is_off(pipeline: Settings, tmp_path: Path) -> None:
    """The control: with PULSE_PRIVACY_REDACT=false the same search reports the planted values where they land."""
    settings = pipeline.model_copy(update={"privacy_redact": False})
    traffic = planted_traffic(int(time.time()) - 3600)
    _load(settings, traffic, tmp_path)
    with psycopg.connect(settings.database_url) as conn:
        leaks = {f"{t}.{c}" for s, t, c, d in _searched_columns(conn) if _found(conn, s, t, c, d, traffic.needles)}
    expected = {"fact_event.extra", "fact_event.key_search", "fact_event.product_id", "fact_event.options",
                "fact_event.cart_products", "dim_referrer.referrer_url", "rollup_referrer.referrer_url",
                "rollup_referrer_day.referrer_url", "dim_product.product_id", "event_ledger.event_id",
                "quarantine.detail", "dim_site.host"}
    assert expected <= leaks, expected - leaks
    assert not {c for c in leaks if c.endswith((".email_hash", ".device_hash", ".ip_truncated"))}


def test_referrers_are_served_without_credentials_and_with_markers(
    loaded: tuple[Settings, PlantedTraffic, datetime],
) -> None:
    settings, traffic, when = loaded
    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.get("/api/kpis/top-referrers", params={"date": when.date().isoformat(), "tz": "UTC",
                                                                  "include_bots": "true"})
    assert response.status_code == 200, response.text
    marker = _marker("p-referrer@example.org", settings)
    assert response.json()["rows"] == [
        {"referrer_url": f"https://www.google.com/search?q={marker}&from=198.51.100.0", "views": 1}
    ]
    assert not [n for n in traffic.needles if n in response.text]


def test_the_dashboard_role_reads_no_per_person_column_and_its_reads_still_work(
    loaded: tuple[Settings, PlantedTraffic, datetime],
) -> None:
    settings, _, when = loaded
    assert "pulse_dashboard@" in settings.reader_url
    partition = f"fact_event_{when:%Y%m%d}"
    with psycopg.connect(settings.reader_url, autocommit=True) as reader:
        assert reader.execute("SELECT pg_has_role('pulse_reader', 'MEMBER')").fetchone() == (True,)
        for column in PER_PERSON:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(sql.SQL("SELECT {} FROM fact_event LIMIT 1").format(sql.Identifier(column)))
        for statement in ("SELECT * FROM fact_event LIMIT 1", f"SELECT count(*) FROM {partition}",  # noqa: S608
                          f"SELECT email_hash FROM {partition}", "SELECT detail FROM quarantine"):  # noqa: S608
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)
        # What the reader's commands read: counts, ids, keys and times (pulse dq, pulse canary).
        assert reader.execute("SELECT count(*), count(DISTINCT event_id), count(site_key), max(event_time)"
                              " FROM fact_event WHERE event_date = %s", (when.date(),)).fetchone()[:3] == (4, 4, 4)
    with psycopg.connect(settings.database_url) as owner:
        assert owner.execute(f"SELECT count(email_hash) FROM {partition}").fetchone() == (2,)  # noqa: S608
        assert owner.execute("SELECT count(*) FROM information_schema.column_privileges WHERE grantee = 'pulse_reader'"
                             " AND table_name = %s", (partition,)).fetchone() == (0,)

    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        for name in KPI_NAMES:
            query = {"date": when.date().isoformat(), "tz": "UTC", "include_bots": "true", **PARAMS.get(name, {})}
            response = client.get(f"/api/kpis/{name}", params=query)
            assert response.status_code == 200, f"{name}: {response.text}"
        assert client.get("/api/stats").json()["events_loaded"] == 4
    for command in (("stats",), ("dq",), ("health",)):
        result = pulse_cli(settings, *command, "--format", "json")
        assert "permission denied" not in (result.stdout + result.stderr).lower(), (command, result.stderr)
        assert isinstance(json.loads(result.stdout), dict), (command, result.stdout, result.stderr)
