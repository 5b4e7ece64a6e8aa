"""`pulse quarantine` (list rejected messages) and `pulse quarantine replay` (run them again, current rules)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pulse.cli.common import FormatOpt, OutputFormat, cli_settings, console, err_console, owner, print_json

QUARANTINE_COLUMNS = ("quarantine_id", "quarantined_at", "reason", "detail", "src_partition", "src_offset", "raw")

app = typer.Typer(help="Rejected messages: list them, replay them through the current rules.")
ReasonOpt = Annotated[str | None, typer.Option(help="Only this reason code.")]


@app.callback(invoke_without_command=True)
def quarantine(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    reason: ReasonOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """List rejected messages with their reason (needs the owner connection: raw payloads are private)."""
    if ctx.invoked_subcommand is not None:
        return
    from pulse.warehouse.quarantine import list_quarantine

    with owner() as conn:
        rows = list_quarantine(conn, reason, limit)
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    table = Table(title=f"quarantine (newest {limit})")
    for col in QUARANTINE_COLUMNS:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(str(row[c]) for c in QUARANTINE_COLUMNS))
    console.print(table)


@app.command("replay")
def replay(
    reason: ReasonOpt = None,
    since: Annotated[str | None, typer.Option(help="Only messages quarantined at or after this ISO time"
                                                   " (UTC unless it names an offset), e.g. 2026-11-30.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing: say what would happen.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="Quarantine rows per transaction.")] = 500,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Run quarantined messages again through the current rules: the valid ones load exactly once (in the KPIs
    of their own day), the others keep their new reason. Safe to interrupt and run again."""
    from pulse.engines.replay import replay_quarantine

    columns = (TextColumn("[bold]replaying quarantine"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, disable=fmt is OutputFormat.json) as bar:
        task = bar.add_task("replay", total=None)
        summary = replay_quarantine(
            cli_settings(), reason=reason, since=_since(since), dry_run=dry_run, batch_size=batch_size,
            on_total=lambda n: bar.update(task, total=n), on_progress=lambda n: bar.advance(task, n),
        )
    doc = summary.as_dict()
    if fmt is OutputFormat.json:
        print_json(doc)
        return
    table = Table(title="quarantine replay" + (" (dry run: nothing written)" if dry_run else ""), show_header=False)
    for key in ("considered", "valid", "loaded", "already_loaded", "skipped", "still_rejected"):
        table.add_row(key, f"{doc[key]:,}")
    for code, n in doc["still_rejected_by_reason"].items():
        table.add_row(f"  {code}", f"{n:,}")
    console.print(table)


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date or time (e.g. 2026-11-30T08:00)",
                                 param_hint="--since") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
