"""`pulse migrate`, `pulse maintain` and `pulse fold`: the warehouse's schema, its housekeeping, the rollup folder."""

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


def fold(
    once: Annotated[bool, typer.Option("--once", help="Fold what is committed now, say what was done, exit.")] = False,
    interval: Annotated[float | None, typer.Option(min=0.01, max=60, help="Seconds between folds"
                                                    " (default: PULSE_FOLD_INTERVAL_S).")] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Fold the rollup deltas the engines commit into the rollups the KPIs read, until Ctrl-C or SIGTERM.

    `pulse run` and `pulse spark` fold by themselves (PULSE_FOLD_IN_ENGINE); run this one alone when several
    engines share one warehouse and you turned theirs off. Two folders never fold at once (a lock): harmless.
    """
    from pulse.warehouse.folding import Folder, FolderLoop
    from pulse.warehouse.sessions import VisitRules

    settings = cli_settings()
    folder = Folder(settings.loader_url, url_setting=settings.loader_url_setting,
                    statement_timeout_s=settings.commit_timeout_s, visit_rules=VisitRules.from_settings(settings))
    if once:
        try:
            done = folder.fold()
        finally:
            folder.close()
        doc = {"generations": done.generations, "batches": done.batches, "seconds": round(done.seconds, 4),
               "folded_through": done.folded_through.isoformat() if done.folded_through else None}
        if fmt is OutputFormat.json:
            print_json(doc)
        else:
            console.print(f"folded {done.batches:,} batch(es) in {done.seconds * 1000:.0f} ms;"
                          f" rollups through {doc['folded_through'] or '-'}")
        return
    every = settings.fold_interval_s if interval is None else interval
    console.print(f"folding every {every:g} s (Ctrl-C stops after a last fold)")
    FolderLoop(folder, every).run_until_signalled()
