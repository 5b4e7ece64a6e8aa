"""`pulse kpi`, `pulse stats`: answers read from the warehouse, as tables or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pulse.cli.common import FormatOpt, OutputFormat, cli_settings, console, print_json, reader

if TYPE_CHECKING:
    from pulse.warehouse.kpis import KpiWindow

def kpi(
    name: Annotated[str, typer.Argument(help="top-products, top-countries, top-referrers, stores-by-country,"
                                             " product-hourly, browser-os-hourly, visitors, sessions, funnel,"
                                             " campaigns, revenue or realtime.")],
    day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today in --tz).")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="IANA time zone (default: PULSE_TIMEZONE).")] = None,
    country: Annotated[str | None, typer.Option(help="For stores-by-country: ISO code or English name.")] = None,
    product_id: Annotated[str | None, typer.Option(help="For product-hourly.")] = None,
    include_bots: Annotated[bool | None, typer.Option("--include-bots/--exclude-bots",
                                                      help="Count bot traffic (default: PULSE_INCLUDE_BOTS).")] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Answer one of the KPIs for a day: the six view KPIs, visitors (exact uniques) or revenue (orders)."""
    from pulse.warehouse.kpis import run_kpi

    window = _window(day, tz, include_bots)
    with reader() as conn:
        answer = run_kpi(conn, name, window, country=country, product_id=product_id)
    if fmt is OutputFormat.json:
        print_json(answer)
    else:
        from pulse.serve.terminal import render_kpi

        console.print(render_kpi(answer))


def _window(day: str | None, tz: str | None, include_bots: bool | None) -> KpiWindow:
    """The checked window, its refusals as usage errors naming --date or --tz."""
    from pulse.errors import BadRequestError
    from pulse.warehouse.kpis import KpiWindow

    try:  # an empty --date or --tz means the default, as no option does
        return KpiWindow.parse(day or None, tz or None, include_bots, cli_settings())
    except BadRequestError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"--{exc.param}") from None


def stats(fmt: FormatOpt = OutputFormat.table) -> None:
    """Events loaded, duplicates skipped, quarantined (by reason) and freshness."""
    from pulse.warehouse.kpis import load_stats

    with reader() as conn:
        doc = load_stats(conn)
    if fmt is OutputFormat.json:
        print_json(doc)
        return
    table = Table(title="pulse warehouse", show_header=False)
    for key in ("events_loaded", "duplicates_skipped", "quarantined", "batches"):
        table.add_row(key, f"{doc[key]:,}")
    for reason, n in doc["quarantined_by_reason"].items():
        table.add_row(f"  {reason}", f"{n:,}")
    table.add_row("bot_events", f"{doc['bot_events']:,}")
    for reason, n in doc["bot_events_by_reason"].items():
        table.add_row(f"  {reason}", f"{n:,}")
    for key, value in doc["dead_letters"].items():
        table.add_row(f"dead letters {key}", "-" if value is None else f"{value:,}" if isinstance(value, int) else
                      str(value))
    for outcome, n in doc["replayed"].items():
        table.add_row(f"replayed: {outcome}", f"{n:,}")
    for key, value in doc["as_of"].items():
        table.add_row(key, str(value))
    console.print(table)
