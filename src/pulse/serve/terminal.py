"""Terminal views: one KPI as a table, and the live demo screen of all six KPIs with freshness."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pulse.settings import Settings, load_settings

log = logging.getLogger(__name__)
_SPARK = " ▁▂▃▄▅▆▇█"


def render_kpi(answer: dict[str, Any]) -> RenderableType:
    """A KPI answer as a rich table (hourly KPIs as a bar line)."""
    name, rows = answer["kpi"], answer["rows"]
    title = f"{name} · {answer['date']} ({answer['tz']})"
    if name == "browser-os-hourly":
        return Group(
            _hourly_table(rows["by_browser"], "browser", title + " · by browser"),
            _hourly_table(rows["by_os"], "os", title + " · by OS"),
            _freshness(answer["as_of"]),
        )
    if name == "product-hourly":
        table = Table(title=title + f" · product {answer.get('product_id')}")
        table.add_column("hour", justify="right")
        table.add_column("views", justify="right")
        table.add_column("")
        peak = max((r["views"] for r in rows), default=0) or 1
        for r in rows:
            table.add_row(f"{r['hour']:02d}", f"{r['views']:,}", "█" * round(20 * r["views"] / peak))
        return Group(table, _freshness(answer["as_of"]))
    table = Table(title=title)
    columns = list(rows[0].keys()) if rows else ["(no views yet)"]
    for col in columns:
        table.add_column(col, justify="right" if col == "views" else "left", overflow="fold")
    for r in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v if v is not None else "—") for v in r.values()))
    return Group(table, _freshness(answer["as_of"]))


def _hourly_table(rows: list[dict[str, Any]], key: str, title: str, top: int = 6) -> Table:
    totals: dict[str, int] = {}
    per_hour: dict[str, list[int]] = {}
    for r in rows:
        totals[r[key]] = totals.get(r[key], 0) + r["views"]
        per_hour.setdefault(r[key], [0] * 24)[r["hour"]] += r["views"]
    table = Table(title=title)
    table.add_column(key)
    table.add_column("views", justify="right")
    table.add_column("00 ─ by hour ─ 23")
    for name in sorted(totals, key=lambda n: (-totals[n], n))[:top]:
        hours = per_hour[name]
        peak = max(hours) or 1
        table.add_row(name, f"{totals[name]:,}", "".join(_SPARK[round(8 * h / peak)] for h in hours))
    return table


def _freshness(as_of: dict[str, str | None]) -> Text:
    committed = as_of.get("last_commit_at")
    if not committed:
        return Text("data as of: nothing loaded yet", style="yellow")
    age = (datetime.now(UTC) - datetime.fromisoformat(committed)).total_seconds()
    style = "green" if age < 10 else "yellow" if age < 60 else "red"
    return Text(
        f"data as of: newest event {as_of.get('newest_event_time')} · last commit {age:.1f} s ago",
        style=style,
    )


def _dashboard(conn: Any, settings: Settings, stats: dict[str, Any], page_url: str = "") -> RenderableType:
    from pulse.warehouse.kpis import KpiWindow, run_kpi, today_in

    window = KpiWindow(
        day=today_in(settings.timezone), tz=settings.timezone,
        view_collections=settings.view_collections, include_bots=settings.include_bots,
    )
    products = run_kpi(conn, "top-products", window)
    countries = run_kpi(conn, "top-countries", window)
    referrers = run_kpi(conn, "top-referrers", window)
    top_country = countries["rows"][0]["country_code"] if countries["rows"] else None
    top_country = top_country or (countries["rows"][0]["country"] if countries["rows"] else "DE")
    stores = run_kpi(conn, "stores-by-country", window, country=top_country)
    top_product = products["rows"][0]["product_id"] if products["rows"] else "0"
    hourly = run_kpi(conn, "product-hourly", window, product_id=top_product)
    browser_os = run_kpi(conn, "browser-os-hourly", window)
    header = Text(
        f"pulse live · {window.day} ({window.tz}) · engine: {stats.get('messages', 0):,} messages, "
        f"{stats.get('loaded', 0):,} loaded, {stats.get('quarantined', 0):,} quarantined, "
        f"{stats.get('events_per_s', 0)} msg/s · live page {page_url or 'off'} · Ctrl-C to stop",
        style="bold",
    )
    return Group(
        header,
        Columns([Panel(render_kpi(products)), Panel(render_kpi(countries)), Panel(render_kpi(referrers))]),
        Columns([Panel(render_kpi(stores)), Panel(_hourly_line(hourly))]),
        Panel(render_kpi(browser_os)),
    )


def _hourly_line(answer: dict[str, Any]) -> RenderableType:
    """product-hourly as one bar line: the demo screen has no room for 24 rows."""
    views = [r["views"] for r in answer["rows"]]
    peak = max(views) or 1
    return Group(
        Text(
            f"product-hourly · product {answer.get('product_id')} · {answer['date']} ({answer['tz']})",
            style="italic",
        ),
        Text("00 " + "".join(_SPARK[round(8 * v / peak)] for v in views) + " 23"),
        Text(f"total {sum(views):,} views · peak hour {views.index(max(views)):02d}"),
        _freshness(answer["as_of"]),
    )


def run_demo(settings: Settings, *, rate: float, refresh: float, console: Console) -> None:
    """The README's demo: local stack, schema, synthetic traffic, engine, a live KPI screen and the live page."""
    from pulse.collect.server import running
    from pulse.engines.native import NativeEngine
    from pulse.serve.api import create_app
    from pulse.sources.kafka_producer import produce_forever
    from pulse.stack.manager import stack_up
    from pulse.warehouse.loader import connect
    from pulse.warehouse.migrate import migrate

    with console.status("starting Kafka and PostgreSQL...") as status:
        stack = stack_up(settings, progress=lambda msg: status.update(msg)).as_dict()
        settings = settings.using_passfile(Path(str(stack["pgpass"])))
        status.update("migrating the warehouse...")
        with connect(settings.database_url) as conn:
            migrate(conn)
    # `stack up` has just written stack.env (role URLs, the local hash key): read it before starting.
    local = load_settings(home=settings.home)
    settings = settings.model_copy(
        update={
            "loader_database_url": settings.loader_database_url or stack.get("loader_database_url"),
            "reader_database_url": settings.reader_database_url or stack.get("reader_database_url"),
            "hash_key": settings.hash_key or local.hash_key,
        }
    )
    settings.require_hash_key()
    stop = threading.Event()
    engine = NativeEngine(settings)
    producer = threading.Thread(target=produce_forever, args=(settings, rate, int(time.time()), stop),
                                name="producer", daemon=True)
    runner = threading.Thread(target=engine.run, name="engine", daemon=True)
    producer.start()
    runner.start()
    logging.getLogger().setLevel(logging.WARNING)  # the live screen is the output now
    try:
        with running(create_app(settings), host=settings.api_host, port=_page_port(settings)) as page_url:
            console.print(f"live page: [bold]{page_url}/[/] · KPI API {page_url}/api/kpis · docs {page_url}/docs")
            reader = connect(settings.reader_url, setting=settings.reader_url_setting)
            with reader as conn, Live(console=console, refresh_per_second=4) as live:
                conn.autocommit = True
                while runner.is_alive():
                    live.update(_dashboard(conn, settings, engine.stats.as_dict(), page_url))
                    time.sleep(refresh)
    except KeyboardInterrupt:
        console.print("stopping: finishing the batch in flight...")
    finally:
        stop.set()
        engine.request_stop()
        producer.join(timeout=10)
        runner.join(timeout=30)
    console.print(f"engine: {engine.stats.as_dict()}")
    console.print("the stack keeps running; `pulse stack down` stops it")


def _page_port(settings: Settings) -> int:
    """PULSE_API_PORT when it is free, else any free port (a second demo, or `pulse serve` already running)."""
    from pulse.collect.server import free_port

    with socket.socket() as probe:
        try:
            probe.bind((settings.api_host, settings.api_port))
        except OSError:
            return free_port(settings.api_host)
    return settings.api_port
