"""`pulse stack up|down|status`: the local Kafka and PostgreSQL; `pulse stack spark up|down|status`: a Spark cluster."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from pulse.cli.common import FormatOpt, OutputFormat, cli_settings, console, print_json

app = typer.Typer(help="Local Kafka + PostgreSQL for development, tests and the demo.", no_args_is_help=True)
spark_app = typer.Typer(help="A local Spark standalone cluster (master + workers from the installed pyspark).",
                        no_args_is_help=True)
app.add_typer(spark_app, name="spark")


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


@spark_app.command("up")
def spark_up_cmd(
    workers: Annotated[int, typer.Option(min=1, help="How many workers.")] = 2,
    worker_memory: Annotated[str, typer.Option(help="Memory for executors per worker (1g, 512m).")] = "1g",
    worker_cores: Annotated[int, typer.Option(min=1, help="Cores each worker offers.")] = 1,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Start a Spark master and workers on 127.0.0.1 (free ports, files under PULSE_HOME/spark-cluster); wait
    until every worker is ALIVE. Submit to the printed master_url."""
    from pulse.stack.spark_cluster import start_spark_cluster

    with console.status("starting the Spark cluster...") as status:
        cluster = start_spark_cluster(cli_settings(), workers, worker_memory=worker_memory, worker_cores=worker_cores,
                                      progress=lambda msg: status.update(msg))
    _show_status(cluster.as_dict(), fmt)


@spark_app.command("down")
def spark_down_cmd() -> None:
    """Stop the local Spark workers and master (SIGTERM, SIGKILL after 30 s)."""
    from pulse.stack.spark_cluster import stop_spark_cluster

    console.print("Spark cluster stopped" if stop_spark_cluster(cli_settings()) else "no Spark cluster was running")


@spark_app.command("status")
def spark_status_cmd(fmt: FormatOpt = OutputFormat.table) -> None:
    """Show the local Spark cluster: master URL, web UI, workers ALIVE."""
    from pulse.stack.spark_cluster import alive_workers, spark_cluster_status

    cluster = spark_cluster_status(cli_settings())
    doc = {"spark": "down"} if cluster is None else {"spark": "up", **cluster.as_dict(),
                                                     "alive_workers": alive_workers(cluster.webui_url)}
    _show_status(doc, fmt)


def _show_status(doc: dict[str, Any], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        print_json(doc)
        return
    table = Table(show_header=False)
    for key, value in doc.items():
        style = "green" if value == "up" else "red" if value == "down" else ""
        table.add_row(key, f"[{style}]{value}[/]" if style else str(value))
    console.print(table)
