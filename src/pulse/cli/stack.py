"""`pulse stack up|down|status`: the local Kafka and PostgreSQL."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from pulse.cli.common import FormatOpt, OutputFormat, cli_settings, console, print_json

app = typer.Typer(help="Local Kafka + PostgreSQL for development, tests and the demo.", no_args_is_help=True)


@app.command("up")
def stack_up_cmd(fmt: FormatOpt = OutputFormat.table) -> None:
    """Start Kafka (KRaft) and PostgreSQL under PULSE_HOME, create the topic, wait until healthy."""
    from pulse.stack.manager import stack_up

    with console.status("starting the local stack...") as status:
        result = stack_up(cli_settings(), progress=lambda msg: status.update(msg))
    _show_status(result.as_dict(), fmt)


@app.command("down")
def stack_down_cmd(fmt: FormatOpt = OutputFormat.table) -> None:
    """Stop the local Kafka and PostgreSQL (data is kept under PULSE_HOME)."""
    from pulse.stack.manager import stack_down

    _show_status(stack_down(cli_settings()).as_dict(), fmt)


@app.command("status")
def stack_status_cmd(fmt: FormatOpt = OutputFormat.table) -> None:
    """Show whether the local Kafka and PostgreSQL are up, and how to reach them."""
    from pulse.stack.manager import stack_status

    _show_status(stack_status(cli_settings()).as_dict(), fmt)


def _show_status(doc: dict[str, Any], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        print_json(doc)
        return
    table = Table(show_header=False)
    for key, value in doc.items():
        style = "green" if value == "up" else "red" if value == "down" else ""
        table.add_row(key, f"[{style}]{value}[/]" if style else str(value))
    console.print(table)
