"""Terminal views: one KPI as a table, and the live demo screen of all six KPIs with freshness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pulse.settings import Settings

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
    if isinstance(rows, dict):  # the conversion KPIs: totals, then a table per breakdown
        parts: list[RenderableType] = []
        for key, value in rows.items():
            if isinstance(value, list):
                parts.append(_rows_table([_flat(r) for r in value], f"{title} · {key.replace('_', ' ')}"))
            elif isinstance(value, dict):
                parts.append(_rows_table([_flat(value)], f"{title} · {key.replace('_', ' ')}"))
            else:
                parts.append(Text(f"{key.replace('_', ' ')}: {_cell(key, value)}"))
        return Group(*parts, _freshness(answer["as_of"]))
    return Group(_rows_table(rows, title), _freshness(answer["as_of"]))


def _rows_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    columns = list(rows[0].keys()) if rows else ["(nothing yet)"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("storefront", "country", "product_id") else "right",
                         overflow="fold")
    for r in rows:
        table.add_row(*(_cell(k, v) for k, v in r.items()))
    return table


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose nested steps (the funnel per storefront) become `step: visits` columns."""
    flat = {k: v for k, v in row.items() if not isinstance(v, list)}
    for step in row.get("steps", []):
        flat[step["step"]] = step["visits"]
    return flat


def _cell(key: str, value: Any) -> str:
    if isinstance(value, list):  # amounts per currency (a campaign's revenue)
        return ", ".join(f"{m['revenue']} {m['currency']}" for m in value) or "—"
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.2%}" if key.endswith("rate") or key.startswith("from_") else f"{value:,.2f}"
    return str(value)


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
    age = age_of(committed)
    style = "green" if age < 10 else "yellow" if age < 60 else "red"
    folded = as_of.get("rollups_through")
    lag = f" · rollups {max(age_of(folded) - age, 0):.1f} s behind" if folded else " · rollups not folded yet"
    return Text(
        f"data as of: newest event {as_of.get('newest_event_time')} · last commit {age:.1f} s ago{lag}",
        style=style,
    )


def age_of(moment: str) -> float:
    """Seconds since an ISO time."""
    return (datetime.now(UTC) - datetime.fromisoformat(moment)).total_seconds()


def dashboard(conn: Any, settings: Settings, stats: dict[str, Any], page_url: str = "") -> RenderableType:
    """The demo screen: all six KPIs of today with the engine's counters and freshness (reads with `conn`)."""
    from pulse.warehouse.kpis import KpiWindow, run_kpi

    window = KpiWindow.parse(None, None, None, settings)
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
