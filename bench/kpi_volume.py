"""KPI read latency at volume: 1M then 10M events in one day (plus older days), via the API, SQL and a fact scan.

How the data is made (10M events through the whole engine would take hours on 2 cores):
1. a base of synthetic events for today (pulse's traffic generator) goes through the real transform and
   the real loader (facts, dimensions, 15-minute and local-day rollups, one transaction per batch);
2. the base is replicated in bulk with INSERT ... SELECT: new event ids, times shifted by a multiple of
   15 minutes within the day (wrapping at midnight), so each replica's 15-minute rollup rows are the
   base's rows shifted by the same amount; older days get whole-day shifts (with --ledger their event
   ids are ledgered too; the KPIs never read the ledger). The local-day rollups are then recomputed
   from the 15-minute ones (pulse_rebuild_kpi_zone, the same function that adds a zone);
3. every KPI answered from the rollups is checked against the same KPI computed by scanning fact_event.
The replication spreads every base bucket over the whole day, so the day's traffic curve is flat.
The conversion state is replicated the same way (migrations 0012, 0013): each replica's visits, visitor-day
ledger rows and orders get new visitor and order ids (so replicas are new visitors, as new events would bring),
times shifted like the facts' (a visit's funnel times with its start, so its orders stay in it); the visit,
order and campaign-order day rollups are then rebuilt from them
(pulse_rebuild_kpi_zone) and the visitor rollup recounted from its ledger. `visitors` and `sessions` are
checked against a scan of the ledger and of the visits; the other conversion KPIs have no scan baseline.

Measured, warm, sequentially, per KPI: HTTP through `pulse serve` (uvicorn, loopback, httpx), the KPI
library's SQL on a psycopg connection (what the API runs), and the fact scan (baseline), next to a
`SELECT 1` round trip (the machine is shared: compare ratios).

Usage: .venv/bin/python bench/kpi_volume.py [--events 1M,10M] [--history-days 3] [--reps 300] [--ledger]
Starts its own PostgreSQL (temporary home, free port) and stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pulse.events.model import SourceRef
from pulse.model.star import FACT_COLUMNS
from pulse.pipeline import Enrichers, transform_batch
from pulse.settings import Settings, load_settings
from pulse.stack import cluster
from pulse.stack.credentials import pgpass_path, role_url
from pulse.stack.roles import DASHBOARD_ROLE, ENGINE_ROLE
from pulse.traffic.generator import TrafficGenerator, encode
from pulse.warehouse.db import connect_reader
from pulse.warehouse.folding import Folder
from pulse.warehouse.kpis import KPI_NAMES, VIEW_KPI_NAMES, KpiWindow, run_kpi
from pulse.warehouse.loader import WarehouseLoader
from pulse.warehouse.migrate import migrate

console = Console()
HERE = Path(__file__).parent
VIEWS = ("view_product_detail",)
ROLLUPS = {  # 15-minute rollup -> its natural key after the bucket
    "rollup_product": ("collection", "is_bot", "product_id"),
    "rollup_site_store": ("collection", "is_bot", "site_key", "store_id"),
    "rollup_referrer": ("collection", "is_bot", "referrer_url"),
    "rollup_browser_os": ("collection", "is_bot", "browser", "os"),
}
STEP = 37 * 900  # replica k is shifted by k * 37 quarter-hours (37 is prime to 96: distinct shifts)


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


# ------------------------------------------------------------------------------------------- the stack
def start_database(home: Path) -> Settings:
    """A private PostgreSQL cluster with pulse's roles, migrated."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = load_settings(home=home, database_url=f"postgresql://pulse@127.0.0.1:{port}/pulse")
    cluster.start_postgres(settings)
    settings = settings.using_passfile(pgpass_path(settings)).model_copy(
        update={"loader_database_url": role_url(settings, ENGINE_ROLE),
                "reader_database_url": role_url(settings, DASHBOARD_ROLE)})
    with psycopg.connect(settings.database_url) as conn:
        migrate(conn)
    return settings


# ------------------------------------------------------------------------------------------- loading
def load_base(settings: Settings, day: date, count: int) -> int:
    """`count` generated events of `day` through the real transform and loader; returns facts loaded."""
    start = datetime.combine(day, datetime.min.time(), UTC)
    end = start + timedelta(days=1)
    gen = TrafficGenerator(seed=20261128, start=start, events_per_day=count * 1.02)
    enrichers = Enrichers.create(hash_key=b"kpi-bench-hash-key-0123456789")
    loader = WarehouseLoader(settings.loader_url, "kpi-bench", kpi_zone="UTC")
    loaded, offset, now = 0, 0, end.timestamp() + 3600
    with _progress() as bar:
        task = bar.add_task("base: generate, transform, load", total=count)
        while offset < count:
            chunk = []
            for event in gen.events(min(5000, count - offset)):
                if event["time_stamp"] < end.timestamp():
                    chunk.append((encode(event), SourceRef("kpi-bench", 0, offset + len(chunk))))
            if not chunk:
                break
            loaded += loader.commit_batch(transform_batch(chunk, enrichers, now=now), {}).loaded
            offset += len(chunk)
            bar.update(task, completed=offset)
    loader.close()
    folder = Folder(settings.loader_url)  # the batches' deltas into the rollups, their visits into `visit`
    try:
        folder.fold()
        folder.fold()
    finally:
        folder.close()
    with psycopg.connect(settings.database_url) as conn:  # the base, kept apart for replication
        conn.execute("CREATE TABLE bench_base AS SELECT * FROM fact_event WHERE event_date = %s", (day,))
        for table in CONVERSION_BASE:
            conn.execute(sql.SQL("CREATE TABLE {} AS SELECT * FROM {}").format(
                sql.Identifier(f"bench_base_{table}"), sql.Identifier(table)))
        for table in ROLLUPS:
            conn.execute(sql.SQL("CREATE TABLE {} AS SELECT * FROM {}").format(
                sql.Identifier(f"bench_base_{table}"), sql.Identifier(table)))
    return loaded


_SHIFTED = ("(CASE WHEN {t} + make_interval(secs => %(shift)s) >= %(day_end)s"
            " THEN {t} + make_interval(secs => %(shift)s - 86400) ELSE {t} + make_interval(secs => %(shift)s) END)"
            " + make_interval(days => %(off)s)")
_FACT_EXPR = {
    "event_id": "s.event_id || %(suffix)s", "event_date": "s.event_date + %(off)s", "event_time": "s.nt",
    "date_key": "%(date_key)s", "hour_key": "floor(extract(epoch FROM s.nt) / 3600)::bigint",
}
_COPY_FACTS = sql.SQL("INSERT INTO fact_event ({}) SELECT {} FROM (SELECT b.*, {} AS nt FROM bench_base b) s").format(
    sql.SQL(", ").join(map(sql.Identifier, FACT_COLUMNS)),
    sql.SQL(", ").join(sql.SQL(_FACT_EXPR.get(c, f"s.{c}")) for c in FACT_COLUMNS),  # type: ignore[arg-type]
    sql.SQL(_SHIFTED.format(t="b.event_time")),  # type: ignore[arg-type]
)
_LEDGER = ("INSERT INTO event_ledger (event_id, event_date)"
           " SELECT event_id || %(suffix)s, event_date + %(off)s FROM bench_base")
# The conversion tables a replica copies, with new visitor and order ids and shifted times.
CONVERSION_BASE = ("visit", "visitor_day", "fact_order")
_VISIT_COLUMNS = ("visitor", "started_at", "ended_at", "events", "page_views", "entry_path", "exit_path", "site_key",
                  "device_type_key", "referrer_key", "utm_source", "utm_medium", "utm_campaign", "first_product_view",
                  "carts", "checkouts", "successes", "funnel_step")
_COPY_CONVERSION = [
    sql.SQL("INSERT INTO visit ({cols}) SELECT visitor || %(suffix)s, s.ns, s.ns + (ended_at - started_at), events,"
            " page_views, entry_path, exit_path, site_key, device_type_key, referrer_key, utm_source, utm_medium,"
            " utm_campaign, first_product_view + (s.ns - started_at),"
            " ARRAY(SELECT t + (s.ns - started_at) FROM unnest(carts) t),"
            " ARRAY(SELECT t + (s.ns - started_at) FROM unnest(checkouts) t),"
            " ARRAY(SELECT t + (s.ns - started_at) FROM unnest(successes) t), funnel_step"
            " FROM (SELECT b.*, {shifted} AS ns FROM bench_base_visit b) s").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, _VISIT_COLUMNS)),
        shifted=sql.SQL(_SHIFTED.format(t="b.started_at"))),  # type: ignore[arg-type]
    sql.SQL("INSERT INTO visitor_day (zone, day, site_key, visitor)"
            " SELECT zone, day + %(off)s, site_key, visitor || %(suffix)s FROM bench_base_visitor_day"),
    sql.SQL("INSERT INTO fact_order (order_id, event_id, event_time, collection, site_key, store_id, is_bot, currency,"
            " revenue, items, issue, visitor) SELECT order_id || %(suffix)s, event_id || %(suffix)s, {shifted},"
            " collection, site_key, store_id, is_bot, currency, revenue, items, issue, visitor || %(suffix)s"
            " FROM bench_base_fact_order b").format(
        shifted=sql.SQL(_SHIFTED.format(t="b.event_time"))),  # type: ignore[arg-type]
]
_RECOUNT = [
    "INSERT INTO rollup_order (bucket, collection, is_bot, site_key, currency, issue, orders, items, revenue)"
    " SELECT date_bin('15 minutes', event_time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), collection, is_bot, site_key,"
    " coalesce(currency, ''), coalesce(issue, ''), count(*), sum(items), coalesce(sum(revenue), 0) FROM fact_order"
    " GROUP BY 1, 2, 3, 4, 5, 6",
    "INSERT INTO rollup_visitor_day (zone, day, site_key, visitors)"
    " SELECT zone, day, site_key, count(*) FROM visitor_day GROUP BY 1, 2, 3",
]


def _copy_rollup(table: str) -> sql.Composed:
    keys = ROLLUPS[table]
    cols = sql.SQL(", ").join(map(sql.Identifier, keys))
    return sql.SQL(
        "INSERT INTO {table} AS r (bucket, {cols}, events) SELECT {shifted}, {cols}, events FROM {base}"
        " ON CONFLICT (bucket, {cols}) DO UPDATE SET events = r.events + EXCLUDED.events"
    ).format(table=sql.Identifier(table), cols=cols, base=sql.Identifier(f"bench_base_{table}"),
             shifted=sql.SQL(_SHIFTED.format(t="bucket")))  # type: ignore[arg-type]


def replicate(settings: Settings, day: date, replicas: list[tuple[int, int]], label: str, ledger: bool) -> None:
    """Add copies of the base: (day offset, replica number) each; then recompute the day rollups."""
    day_end = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    with psycopg.connect(settings.database_url) as conn, _progress() as bar:
        task = bar.add_task(label, total=len(replicas))
        for off, k in replicas:
            target = day + timedelta(days=off)
            with conn.transaction():
                conn.execute("SELECT pulse_ensure_fact_partitions(%s::date[])", ([target],))
                _dims_for_day(conn, day, target)
                params = {"shift": k * STEP % 86400, "off": off, "day_end": day_end,
                          "suffix": f":{off}:{k}", "date_key": int(target.strftime("%Y%m%d"))}
                if ledger:
                    conn.execute(_LEDGER, params)
                conn.execute(_COPY_FACTS, params)
                for table in ROLLUPS:
                    conn.execute(_copy_rollup(table), params)
                for statement in _COPY_CONVERSION:
                    conn.execute(statement, params)
                conn.execute("UPDATE load_totals SET events_loaded = events_loaded + (SELECT count(*) FROM bench_base)")
            bar.advance(task)
        task = bar.add_task("local-day rollups, statistics", total=1)
        conn.execute("TRUNCATE rollup_order, rollup_visitor_day")  # recounted from the replicated ledgers
        for statement in _RECOUNT:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("SELECT pulse_rebuild_kpi_zone('UTC')")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        bar.advance(task)


def _dims_for_day(conn: psycopg.Connection, base: date, target: date) -> None:
    if target == base:
        return
    iso = target.isocalendar()
    key = int(target.strftime("%Y%m%d"))
    conn.execute("INSERT INTO dim_date VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                 (key, target, target.year, (target.month - 1) // 3 + 1, target.month, target.day, iso[1], iso[2]))
    conn.execute("INSERT INTO dim_hour SELECT hour_key + 24 * %s, hour_start + make_interval(days => %s), %s,"
                 " hour_of_day FROM dim_hour WHERE date_key = %s ON CONFLICT DO NOTHING",
                 ((target - base).days, (target - base).days, key, int(base.strftime("%Y%m%d"))))


# ------------------------------------------------------------------------------------------- KPIs
def _scan_queries() -> dict[str, str]:
    text = (HERE / "kpi_scan.sql").read_text()
    parts = text.split("-- name: ")[1:]
    return {p.split("\n", 1)[0].strip(): p.split("\n", 1)[1].strip().rstrip(";") for p in parts}


# The conversion KPIs with a baseline: the ledger and the visits scanned, shaped like a part of the answer.
_CONVERSION_SCANS = {
    "visitors": ("SELECT s.host, count(*) FROM visitor_day v JOIN dim_site s USING (site_key)"
                 " WHERE v.zone = %(tz)s AND v.day = %(day)s GROUP BY 1 ORDER BY 2 DESC, 1",
                 lambda rows: [(r["storefront"], r["visitors"]) for r in rows["by_storefront"]]),
    "sessions": ("SELECT s.host, count(*) FROM visit v JOIN dim_site s USING (site_key)"
                 " WHERE (v.started_at AT TIME ZONE %(tz)s)::date = %(day)s GROUP BY 1 ORDER BY 2 DESC, 1",
                 lambda rows: [(r["storefront"], r["visits"]) for r in rows["by_storefront"]]),
}


def comparable(name: str, rows: Any) -> Any:
    """The part of a KPI answer its scan computes."""
    return _CONVERSION_SCANS[name][1](rows) if name in _CONVERSION_SCANS else rows


def scan_answer(conn: psycopg.Connection, name: str, window: KpiWindow, params: dict[str, Any]) -> Any:
    """One KPI from a fact scan (a ledger or visit scan for visitors and sessions), shaped like the rollup
    answer's rows (`comparable`); None for a KPI without a baseline."""
    if name in _CONVERSION_SCANS:
        return [tuple(r) for r in conn.execute(_CONVERSION_SCANS[name][0], window.params()).fetchall()]
    if name not in VIEW_KPI_NAMES:
        return None
    start, end = window.bounds
    args = {**window.params(), "d0": start.date(), "d1": (end - timedelta(microseconds=1)).date(), **params}
    cur = conn.execute(_scan_queries()[name], args)  # type: ignore[arg-type]
    names = [c.name for c in cur.description or ()]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if name != "browser-os-hourly":
        return rows
    split: dict[str, list[dict[str, Any]]] = {"by_browser": [], "by_os": []}
    for r in rows:
        split[r["part"]].append({"hour": r["hour"], "browser" if r["part"] == "by_browser" else "os": r["family"],
                                 "views": r["views"]})
    return split


def kpi_params(conn: psycopg.Connection, window: KpiWindow) -> dict[str, dict[str, Any]]:
    """The arguments of each KPI: a country with many stores, a product of middling popularity."""
    top = run_kpi(conn, "top-products", window)["rows"]
    product = top[len(top) // 2]["product_id"] if top else "0"
    return {name: ({"country": "DE"} if name == "stores-by-country" else
                   {"product_id": product} if name == "product-hourly" else {}) for name in KPI_NAMES}


def check_consistency(settings: Settings, window: KpiWindow) -> dict[str, bool]:
    """Each KPI from the rollups (as the reader role) equals the KPI from a full scan (as the owner: the
    reader may not read the visitor ledger or the visits)."""
    verdict = {}
    with psycopg.connect(settings.reader_url, autocommit=True) as conn, \
            psycopg.connect(settings.database_url, autocommit=True) as owner:
        for name, params in kpi_params(conn, window).items():
            scanned = scan_answer(owner, name, window, params)
            if scanned is not None:
                verdict[name] = comparable(name, run_kpi(conn, name, window, **params)["rows"]) == scanned
    return verdict


def _timed(fn: Callable[[], object], reps: int, warm: int) -> list[float]:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def measure(settings: Settings, api: str, window: KpiWindow, reps: int, scan_reps: int) -> dict[str, Any]:
    """p50/p95 in ms per KPI: API over HTTP, library SQL over psycopg, fact scan; plus SELECT 1."""
    out: dict[str, Any] = {}
    with connect_reader(settings, autocommit=True) as conn, httpx.Client(base_url=api) as http, \
            psycopg.connect(settings.database_url, autocommit=True) as owner:  # reads as the API's pool; scans
        one = _timed(lambda: conn.execute("SELECT 1").fetchone(), reps, 20)
        out["select 1"] = {"sql_p50": _pct(one, 0.5), "sql_p95": _pct(one, 0.95)}
        for name, params in kpi_params(conn, window).items():
            query = {"date": window.day.isoformat(), "tz": window.tz, **params}
            http_ms = _timed(lambda n=name, q=query: http.get(f"/api/kpis/{n}", params=q).raise_for_status(), reps, 20)  # type: ignore[misc]
            sql_ms = _timed(lambda n=name, p=params: run_kpi(conn, n, window, **p), reps, 20)  # type: ignore[misc]
            scanned = scan_answer(owner, name, window, params) is not None
            scan_ms = _timed(lambda n=name, p=params: scan_answer(owner, n, window, p), scan_reps, 1) \
                if scanned else []  # type: ignore[misc]
            out[name] = {"api_p50": _pct(http_ms, 0.5), "api_p95": _pct(http_ms, 0.95),
                         "sql_p50": _pct(sql_ms, 0.5), "sql_p95": _pct(sql_ms, 0.95),
                         "scan_p50": _pct(scan_ms, 0.5) if scan_ms else None,
                         "scan_p95": _pct(scan_ms, 0.95) if scan_ms else None}
            console.print(f"  {name}: {out[name]}")
    return out


def sizes(settings: Settings, day: date) -> dict[str, int]:
    """Row counts that matter for the reads."""
    with psycopg.connect(settings.database_url) as conn:
        q = {"facts_today": ("SELECT count(*) FROM fact_event WHERE event_date = %s", (day,)),
             "visits": ("SELECT count(*) FROM visit", ()), "orders": ("SELECT count(*) FROM fact_order", ()),
             "visitor_day_rows": ("SELECT count(*) FROM visitor_day", ()),
             "facts_total": ("SELECT count(*) FROM fact_event", ()),
             "rollup_product_rows_today": (
                 "SELECT count(*) FROM rollup_product WHERE bucket >= %s AND bucket < %s + 1", (day, day)),
             "rollup_product_day_rows_today": (
                 "SELECT count(*) FROM rollup_product_day WHERE zone = 'UTC' AND day = %s", (day,))}
        return {k: int(conn.execute(s, p).fetchone()[0]) for k, (s, p) in q.items()}  # type: ignore[index, arg-type]


def start_api(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update({"PULSE_HOME": str(settings.home), "PULSE_DATABASE_URL": settings.database_url,
                "PULSE_READER_DATABASE_URL": settings.reader_url, "PULSE_API_PORT": str(port)})
    proc = subprocess.Popen([sys.executable, "-m", "pulse.cli", "serve"], env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("pulse serve did not answer /healthz within 20 s")


# ------------------------------------------------------------------------------------------- report
def write_report(report: dict[str, Any], out: Path, stamp: str) -> Path:
    """The report so far (rewritten after each phase, so a long run that is stopped keeps its figures)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"kpi-{stamp}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    lines = [f"# KPI read latency at volume, {report['date']}", "", f"{report['machine']}. Command: "
             f"`{report['command']}`. Milliseconds, warm, {report['reps']} sequential requests per KPI "
             f"({report['scan_reps']} for the fact scan). Target: p95 ≤ 20 ms per KPI.", ""]
    for phase in report["phases"]:
        res, one = phase["results"], phase["results"]["select 1"]["sql_p95"]
        lines += [f"## {phase['name']}", "", f"Sizes: {phase['sizes']}. Rollups equal the fact scan: "
                  f"{phase.get('consistent', 'not checked')}. `SELECT 1` p50/p95: "
                  f"{phase['results']['select 1']['sql_p50']} / {one} ms.", "",
                  "| KPI | API p50 | API p95 | SQL p50 | SQL p95 | scan p50 | scan / SQL (p50) "
                  "| API p95 / SELECT 1 p95 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name in KPI_NAMES:
            r = res[name]
            ratio = f"{r['scan_p50'] / max(r['sql_p50'], 0.01):,.0f}×" if r["scan_p50"] is not None else "—"
            lines.append(f"| {name} | {r['api_p50']} | {r['api_p95']} | {r['sql_p50']} | {r['sql_p95']} | "
                         f"{r['scan_p50'] if r['scan_p50'] is not None else '—'} | {ratio} | "
                         f"{r['api_p95'] / max(one, 0.01):,.0f}× |")
        lines.append("")
    if report.get("flat"):
        lines += ["## History", "", "p95 with the history days / p95 without (SQL): " +
                  ", ".join(f"{k} {v}×" for k, v in report["flat"].items()), ""]
    (out / f"kpi-{stamp}.md").write_text("\n".join(lines))
    return out / f"kpi-{stamp}.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="1M,10M", help="today's sizes, ascending (default 1M,10M)")
    parser.add_argument("--base", type=_size, default=200_000, help="events through the real engine path")
    parser.add_argument("--history-days", type=int, default=3, help="older days of the first size each")
    parser.add_argument("--ledger", action="store_true", help="also ledger the replicated event ids (slower)")
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--scan-reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    targets = [_size(s) for s in args.events.split(",")]
    day = datetime.now(UTC).date()
    window = KpiWindow(day=day, tz="UTC", view_collections=VIEWS)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    home = Path(tempfile.mkdtemp(prefix="pulse-kpibench-"))
    home.chmod(0o755)
    settings = start_database(home)
    api = None
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "day": day,
                              "command": "python bench/kpi_volume.py " + " ".join(sys.argv[1:]),
                              "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other jobs",
                              "reps": args.reps, "scan_reps": args.scan_reps, "phases": []}
    try:
        base = load_base(settings, day, args.base)
        api, url = start_api(settings)
        have = 1
        for i, target in enumerate(targets):
            want = max(1, round(target / base))
            replicate(settings, day, [(0, k) for k in range(have, want)], f"today: replicas up to {want * base:,}",
                      args.ledger)
            have = want
            phase: dict[str, Any] = {"name": f"{want * base:,} events today", "sizes": sizes(settings, day)}
            console.print(f"[bold]{phase['name']}[/]: checking rollups against a fact scan")
            phase["consistent"] = check_consistency(settings, window)
            phase["results"] = measure(settings, url, window, args.reps, args.scan_reps)
            report["phases"].append(phase)
            write_report(report, args.out, stamp)
            if i == 0 and args.history_days:
                replicate(settings, day, [(-d, k) for d in range(1, args.history_days + 1) for k in range(want)],
                          f"history: {args.history_days} older days", args.ledger)
                again = {"name": f"{want * base:,} events today + {args.history_days} older days",
                         "sizes": sizes(settings, day)}
                again["results"] = measure(settings, url, window, args.reps, args.scan_reps)
                report["phases"].append(again)
                report["flat"] = {
                    n: round(again["results"][n]["sql_p95"] / max(phase["results"][n]["sql_p95"], 0.01), 2)
                    for n in KPI_NAMES}
                write_report(report, args.out, stamp)
        path = write_report(report, args.out, stamp)
        console.print(path.read_text())
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        cluster.stop_postgres(settings)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
