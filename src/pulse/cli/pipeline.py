"""`pulse run`, `pulse spark`, `pulse produce`, `pulse replay`: the engines, and traffic into the topic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pulse.cli.common import cli_settings, console


def run(
    ctx: typer.Context,
    until_idle: Annotated[
        float | None, typer.Option(help="Exit after this many seconds without new messages.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Serve Prometheus metrics at :PORT/metrics"
                                 " (default: PULSE_METRICS_PORT; 0 = off); with --processes, PORT+i for each.")
    ] = None,
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="Engine processes in one consumer group (partitions split"
                          " between them), supervised: restarted when they die, stopped together.")
    ] = 1,
    supervised: Annotated[bool, typer.Option("--supervised", hidden=True, help="A child of --processes.")] = False,
) -> None:
    """Run the native streaming engine: Kafka -> transform -> PostgreSQL, exactly once."""
    from pulse.engines.native import NativeEngine
    from pulse.warehouse.db import check_login

    settings = cli_settings()
    check_login(settings.loader_url, setting=settings.loader_url_setting)
    port = settings.metrics_port if metrics_port is None else metrics_port
    if processes > 1:
        from pulse.engines.processes import Supervisor

        options = ctx.parent.params if ctx.parent is not None else {}  # the children log as the parent does
        supervisor = Supervisor(settings, processes, until_idle=until_idle, metrics_port=port, pulse_options=[
            f"--{name.replace('_', '-')}={options[name]}" for name in ("log_level", "log_format") if name in options])
        supervisor.install_signal_handlers()
        console.print(f"supervising {processes} engine processes in consumer group {settings.consumer_group}")
        raise typer.Exit(supervisor.run())
    if supervised:
        from pulse.engines.processes import exit_with_supervisor

        exit_with_supervisor()
    engine = NativeEngine(settings)
    engine.install_signal_handlers()
    # ---- metrics: the engine's /metrics endpoint, for the life of the engine
    metrics_server = None
    if port:
        from pulse.ops.metrics import serve_metrics

        metrics_server = serve_metrics(engine.metrics.registry, settings.metrics_host, port)
        console.print(f"engine metrics on http://{settings.metrics_host}:{port}/metrics")
    try:
        stats = engine.run(until_idle=until_idle)
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
    console.print(f"engine stopped: {stats.as_dict()}")


def produce(
    count: Annotated[int, typer.Option(min=1, help="How many events to send.")],
    rate: Annotated[
        float | None, typer.Option(min=0.001, help="Events per second (default: as fast as possible).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed sends the same events.")] = 0,
) -> None:
    """Send realistic synthetic Glamira traffic to the topic."""
    from pulse.traffic.producer import produce_synthetic

    sent = produce_synthetic(cli_settings(), count=count, rate=rate, seed=seed, progress=True)
    console.print(f"sent {sent} events")


def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="One message per line.")],
    rate: Annotated[float | None, typer.Option(min=0.001, help="Messages per second.")] = None,
) -> None:
    """Send each line of a file to the topic as is (invalid lines too: they get quarantined)."""
    from pulse.sources.kafka_producer import replay_file

    sent = replay_file(cli_settings(), file, rate=rate, progress=True)
    console.print(f"sent {sent} messages")


def spark(
    master: Annotated[
        str | None, typer.Option(help="Spark master: local[*] (default, PULSE_SPARK_MASTER), spark://host:7077.")
    ] = None,
    trigger: Annotated[float, typer.Option(min=0.1, help="Seconds between micro-batches.")] = 1.0,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint directory (Kafka offsets); shared storage on a cluster.")
    ] = None,
    until_idle: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without new messages.")
    ] = None,
    max_offsets_per_trigger: Annotated[
        int | None, typer.Option(min=1, help="Most messages per micro-batch (PULSE_SPARK_MAX_OFFSETS_PER_TRIGGER).")
    ] = None,
    submitted: Annotated[
        bool, typer.Option("--submitted", hidden=True, help="Run under spark-submit: keep its master and jars.")
    ] = False,
) -> None:
    """Run the Spark Structured Streaming engine: Kafka -> the same transform and loader, on executors."""
    from pulse.engines.spark import run_spark

    stats = run_spark(cli_settings(), master=master, submitted=submitted, trigger_seconds=trigger,
                      checkpoint=checkpoint, until_idle=until_idle, max_offsets_per_trigger=max_offsets_per_trigger)
    console.print(f"spark engine stopped: {stats.as_dict()}")
