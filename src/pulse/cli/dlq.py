"""`pulse dlq publish|status`: the dead-letter topic `<topic>.dlq`, fed from the quarantine outbox."""

from __future__ import annotations

import typer
from rich.table import Table

from pulse.cli.common import FormatOpt, OutputFormat, cli_settings, console, print_json, reader

app = typer.Typer(help="The dead-letter topic: every quarantined message, once, with its reason.",
                  no_args_is_help=True)


@app.command("publish")
def publish(fmt: FormatOpt = OutputFormat.table) -> None:
    """Produce every pending quarantine row to the dead-letter topic now (what the engine does in the background)."""
    from pulse.engines.dead_letters import DeadLetterPublisher
    from pulse.errors import TransientError

    publisher = DeadLetterPublisher(cli_settings())
    try:
        done = publisher.publish_all()
    finally:
        publisher.close()
    if done is None:
        raise TransientError("another dead-letter publisher (an engine, or `pulse dlq publish`) holds the lock:"
                             " it publishes the pending rows")
    doc = {"published": done.published, "produced": done.produced, "found_on_topic": done.found_on_topic}
    if fmt is OutputFormat.json:
        print_json(doc)
    else:
        console.print(f"dead letters published: {done.published:,} ({done.found_on_topic:,} were on the topic already)")


@app.command("status")
def status(fmt: FormatOpt = OutputFormat.table) -> None:
    """Published, pending, and the age of the oldest pending dead letter."""
    from datetime import UTC, datetime

    from pulse.warehouse.dead_letters import dead_letter_counts, oldest_pending_age_s

    with reader() as conn:
        doc = dead_letter_counts(conn)
    age = oldest_pending_age_s(doc, datetime.now(UTC))
    doc["oldest_pending_age_s"] = None if age is None else round(age, 1)
    if fmt is OutputFormat.json:
        print_json(doc)
        return
    table = Table(title="dead letters", show_header=False)
    for key, value in doc.items():
        table.add_row(key, "-" if value is None else f"{value:,}" if isinstance(value, int | float) else str(value))
    console.print(table)
