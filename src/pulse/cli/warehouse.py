"""`pulse migrate` and `pulse maintain`: the warehouse's schema and its housekeeping (owner connection)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pulse.cli.common import FormatOpt, OutputFormat, cli_settings, console, owner, print_json


def migrate() -> None:
    """Create or upgrade the warehouse schema (idempotent)."""
    from pulse.warehouse.migrate import migrate as apply

    with owner() as conn:
        done = apply(conn)
    if done:
        for m in done:
            console.print(f"applied migration {m.version:04d} {m.name}")
    else:
        console.print("warehouse schema is up to date")


def maintain(
    days_ahead: Annotated[int | None, typer.Option(min=0, max=366, help="Create partitions this many days ahead"
                                                   " (default: PULSE_PARTITION_DAYS_AHEAD).")] = None,
    retention_days: Annotated[int | None, typer.Option(min=1, help="Keep this many days before today"
                                                       " (default: PULSE_RETENTION_DAYS).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be created and removed.")] = False,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Create the coming days' fact partitions and remove data older than the retention (owner connection)."""
    from pulse.warehouse.maintenance import MaintenancePolicy
    from pulse.warehouse.maintenance import maintain as run_maintenance

    settings = cli_settings()
    policy = MaintenancePolicy(
        days_ahead=settings.partition_days_ahead if days_ahead is None else days_ahead,
        retention_days=settings.retention_days if retention_days is None else retention_days,
        quarantine_retention_days=settings.quarantine_retention_days,
    )
    with owner(settings) as conn:
        doc = run_maintenance(conn, policy, dry_run=dry_run).as_dict()
    if fmt is OutputFormat.json:
        print_json(doc)
        return
    verb = "would" if dry_run else "did"
    table = Table(title=f"pulse maintain ({verb}: cutoff {doc['cutoff']})", show_header=False)
    table.add_row("partitions created", ", ".join(doc["created"]) or "-")
    table.add_row("partitions dropped", ", ".join(doc["dropped"]) or "-")
    for name, rows in doc["deleted"].items():
        table.add_row(f"rows deleted from {name}", f"{rows:,}")
    console.print(table)
