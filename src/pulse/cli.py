"""The `pulse` command line: a thin layer over the library (stack, migrate, run, produce, kpi, demo)."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pulse.errors import PulseError, quoted
from pulse.settings import Settings, load_settings

app = typer.Typer(
    help="pulse: real-time user-behaviour analytics. Kafka -> enriched PostgreSQL star schema -> live KPIs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
stack_app = typer.Typer(help="Local Kafka + PostgreSQL for development, tests and the demo.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("pulse")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class OutputFormat(StrEnum):
    """How read commands print their answer."""

    table = "table"
    json = "json"


FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="table for people, json for programs.")]


@app.callback()
def _main(
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR.")] = "INFO",
    log_format: Annotated[str, typer.Option(help="text, or json (one object per line, for Elastic).")] = "text",
) -> None:
    from pulse.ops.logging import configure_logging

    # ---- health: mask the configured secrets in every log line (a bad setting is reported later)
    try:
        settings = load_settings()
        secrets = [settings.hash_key, settings.api_token]
    except PulseError:
        secrets = []
    if log_format not in ("text", "json"):
        raise typer.BadParameter("use text or json", param_hint="--log-format")
    if log_level.upper() not in LOG_LEVELS:
        raise typer.BadParameter(f"{quoted(log_level)} is not a level: use {', '.join(LOG_LEVELS)}",
                                 param_hint="--log-level")
    configure_logging(log_level.upper(), log_format, secrets=secrets)


def _settings() -> Settings:
    return load_settings()  # the local stack's password file comes in with stack.env (PULSE_PASSFILE)


def _print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


# ---------------------------------------------------------------------------------------- stack
@stack_app.command("up")
def stack_up_cmd(fmt: FormatOpt = OutputFormat.table) -> None:
    """Start Kafka (KRaft) and PostgreSQL under PULSE_HOME, create the topic, wait until healthy."""
    from pulse.stack.manager import stack_up

    with console.status("starting the local stack...") as status:
        result = stack_up(_settings(), progress=lambda msg: status.update(msg))
    _show_status(result.as_dict(), fmt)


@stack_app.command("down")
def stack_down_cmd(fmt: FormatOpt = OutputFormat.table) -> None:
    """Stop the local Kafka and PostgreSQL (data is kept under PULSE_HOME)."""
    from pulse.stack.manager import stack_down

    _show_status(stack_down(_settings()).as_dict(), fmt)


@stack_app.command("status")
def stack_status_cmd(fmt: FormatOpt = OutputFormat.table) -> None:
    """Show whether the local Kafka and PostgreSQL are up, and how to reach them."""
    from pulse.stack.manager import stack_status

    _show_status(stack_status(_settings()).as_dict(), fmt)


def _show_status(doc: dict[str, Any], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        _print_json(doc)
        return
    table = Table(show_header=False)
    for key, value in doc.items():
        style = "green" if value == "up" else "red" if value == "down" else ""
        table.add_row(key, f"[{style}]{value}[/]" if style else str(value))
    console.print(table)


# ---------------------------------------------------------------------------------------- warehouse
@app.command()
def migrate() -> None:
    """Create or upgrade the warehouse schema (idempotent)."""
    from pulse.warehouse.loader import connect
    from pulse.warehouse.migrate import migrate as apply

    settings = _settings()
    with connect(settings.database_url) as conn:
        done = apply(conn)
    if done:
        for m in done:
            console.print(f"applied migration {m.version:04d} {m.name}")
    else:
        console.print("warehouse schema is up to date")


# ---------------------------------------------------------------------------------------- engine
@app.command()
def run(
    until_idle: Annotated[
        float | None, typer.Option(help="Exit after this many seconds without new messages.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Serve Prometheus metrics at :PORT/metrics"
                                 " (default: PULSE_METRICS_PORT; 0 = off).")
    ] = None,
) -> None:
    """Run the native streaming engine: Kafka -> transform -> PostgreSQL, exactly once."""
    from pulse.engines.native import NativeEngine

    settings = _settings()
    _check_login(settings.loader_url, settings.loader_url_setting)
    engine = NativeEngine(settings)
    engine.install_signal_handlers()
    # ---- metrics: the engine's /metrics endpoint, for the life of the engine
    port = settings.metrics_port if metrics_port is None else metrics_port
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


# ---------------------------------------------------------------------------------------- traffic
@app.command()
def produce(
    count: Annotated[int, typer.Option(min=1, help="How many events to send.")],
    rate: Annotated[
        float | None, typer.Option(min=0.001, help="Events per second (default: as fast as possible).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed sends the same events.")] = 0,
) -> None:
    """Send realistic synthetic Glamira traffic to the topic."""
    from pulse.sources.kafka_producer import produce_synthetic

    sent = produce_synthetic(_settings(), count=count, rate=rate, seed=seed, progress=True)
    console.print(f"sent {sent} events")


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="One message per line.")],
    rate: Annotated[float | None, typer.Option(min=0.001, help="Messages per second.")] = None,
) -> None:
    """Send each line of a file to the topic as is (invalid lines too: they get quarantined)."""
    from pulse.sources.kafka_producer import replay_file

    sent = replay_file(_settings(), file, rate=rate, progress=True)
    console.print(f"sent {sent} messages")


# ---------------------------------------------------------------------------------------- KPIs
@app.command()
def kpi(
    name: Annotated[str, typer.Argument(help="top-products, top-countries, top-referrers, stores-by-country,"
                                             " product-hourly or browser-os-hourly.")],
    day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today in --tz).")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="IANA time zone (default: PULSE_TIMEZONE).")] = None,
    country: Annotated[str | None, typer.Option(help="For stores-by-country: ISO code or English name.")] = None,
    product_id: Annotated[str | None, typer.Option(help="For product-hourly.")] = None,
    include_bots: Annotated[bool | None, typer.Option("--include-bots/--exclude-bots",
                                                      help="Count bot traffic (default: PULSE_INCLUDE_BOTS).")] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Answer one of the six KPIs for a day."""
    from pulse.warehouse.kpis import run_kpi

    window = _window(day, tz, include_bots)
    with _reader() as conn:
        answer = run_kpi(conn, name, window, country=country, product_id=product_id)
    if fmt is OutputFormat.json:
        _print_json(answer)
    else:
        from pulse.serve.terminal import render_kpi

        console.print(render_kpi(answer))


def _window(day: str | None, tz: str | None, include_bots: bool | None) -> Any:
    from pulse.warehouse.kpis import KpiWindow, today_in

    settings = _settings()
    zone = tz or settings.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise typer.BadParameter(f"{quoted(zone)} is not an IANA time zone like Europe/Berlin",
                                 param_hint="--tz") from None
    try:
        chosen = date.fromisoformat(day) if day else today_in(zone)
    except ValueError:
        raise typer.BadParameter(f"{day!r} is not a date like 2026-11-28", param_hint="--date") from None
    return KpiWindow(
        day=chosen, tz=zone, view_collections=settings.view_collections,
        include_bots=settings.include_bots if include_bots is None else include_bots,
    )


def _reader() -> Any:
    from pulse.warehouse.loader import connect

    settings = _settings()
    return connect(settings.reader_url, setting=settings.reader_url_setting)


def _check_listen(host: str, port: int, settings_hint: str) -> None:
    """A ConfigError now, rather than a server log line later, when nothing can listen on host:port."""
    import socket

    from pulse.errors import ConfigError

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host.strip("[]"), port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): check {settings_hint}") from None


def _check_login(url: str, setting: str) -> None:
    """Stop now when the role cannot log in (a wrong user or password); a database that is down is waited for
    (the engines retry, the API answers 503 until it is back)."""
    from pulse.errors import TransientError
    from pulse.warehouse.loader import connect

    try:
        connect(url, setting=setting).close()
    except TransientError:
        pass


@app.command()
def stats(fmt: FormatOpt = OutputFormat.table) -> None:
    """Events loaded, duplicates skipped, quarantined (by reason) and freshness."""
    from pulse.warehouse.kpis import load_stats

    with _reader() as conn:
        doc = load_stats(conn)
    if fmt is OutputFormat.json:
        _print_json(doc)
        return
    table = Table(title="pulse warehouse", show_header=False)
    for key in ("events_loaded", "duplicates_skipped", "quarantined", "batches"):
        table.add_row(key, f"{doc[key]:,}")
    for reason, n in doc["quarantined_by_reason"].items():
        table.add_row(f"  {reason}", f"{n:,}")
    for key, value in doc["as_of"].items():
        table.add_row(key, str(value))
    console.print(table)


@app.command()
def quarantine(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """List rejected messages with their reason (needs the owner connection: raw payloads are private)."""
    from pulse.warehouse.loader import connect

    sql = (
        "SELECT quarantine_id, quarantined_at, stage, reason, detail, src_topic, src_partition, src_offset, raw"
        " FROM quarantine WHERE (%(reason)s::text IS NULL OR reason = %(reason)s)"
        " ORDER BY quarantine_id DESC LIMIT %(limit)s"
    )
    with connect(_settings().database_url) as conn:
        cur = conn.execute(sql, {"reason": reason, "limit": limit})
        names = [c.name for c in cur.description or ()]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for row in rows:
        row["raw"] = bytes(row["raw"])[:300].decode("utf-8", "backslashreplace")
    if fmt is OutputFormat.json:
        _print_json(rows)
        return
    table = Table(title=f"quarantine (newest {limit})")
    for col in ("quarantine_id", "quarantined_at", "reason", "detail", "src_partition", "src_offset", "raw"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("quarantine_id", "quarantined_at", "reason", "detail",
                                               "src_partition", "src_offset", "raw")))
    console.print(table)


# ---------------------------------------------------------------------------------------- demo
@app.command()
def demo(
    rate: Annotated[float, typer.Option(min=1, help="Synthetic events per second.")] = 200.0,
    refresh: Annotated[float, typer.Option(min=0.2, help="Seconds between screen refreshes.")] = 1.0,
) -> None:
    """Stack up, migrate, synthetic traffic, the engine, and the six KPIs live (terminal and page) until Ctrl-C."""
    from pulse.serve.terminal import run_demo

    run_demo(_settings(), rate=rate, refresh=refresh, console=console)


# ---------------------------------------------------------------------------------------- collect
@app.command()
def collect(
    host: Annotated[str | None, typer.Option(help="Listen address (default: PULSE_COLLECT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Listen port (default: PULSE_COLLECT_PORT).")] = (
        None
    ),
) -> None:
    """Serve the HTTP collector: POST /collect (and a GET pixel) -> Kafka, with /metrics and /healthz."""
    from pulse.collect.app import serve

    settings = load_settings()
    host, port = host or settings.collect_host, port or settings.collect_port
    _check_listen(host, port, "PULSE_COLLECT_HOST / PULSE_COLLECT_PORT (or --host / --port)")
    console.print(f"pulse collector on http://{host}:{port}/collect -> Kafka {settings.kafka_bootstrap}"
                  f" topic {settings.topic}")
    serve(settings, host=host, port=port)


# ---------------------------------------------------------------------------------------- serve
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default: PULSE_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Listen port (default: PULSE_API_PORT).")] = None,
) -> None:
    """Serve the KPI API (/api/kpis/NAME, /api/stats, /healthz, /docs) and the live page at / (read-only role)."""
    from pulse.serve.api import serve as serve_api

    settings = _settings()
    _check_login(settings.reader_url, settings.reader_url_setting)
    host, port = host or settings.api_host, port or settings.api_port
    _check_listen(host, port, "PULSE_API_HOST / PULSE_API_PORT (or --host / --port)")
    url = f"http://{host}:{port}"
    auth = "bearer token required" if settings.api_token else "no token (PULSE_API_TOKEN unset)"
    console.print(f"pulse live page on {url}/ · API {url}/api/kpis · docs {url}/docs · {auth}")
    serve_api(settings, host=host, port=port)


# ---------------------------------------------------------------------------------------- metrics
@app.command("prometheus")
def prometheus_cmd(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of Prometheus's web UI and API.")] = 9090,
    engine_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Engine metrics port (default: PULSE_METRICS_PORT or 8440).")
    ] = None,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between scrapes and rule evaluations.")] = 5.0,
) -> None:
    """Run a local Prometheus (Debian's package) until Ctrl-C: it scrapes the engine, the API and the collector
    and evaluates pulse's alert rules (data under PULSE_HOME/prometheus)."""
    from pulse.stack.prometheus import ALERT_RULES as REPO_ALERTS
    from pulse.stack.prometheus import start_prometheus

    settings = _settings()

    def local(host: str) -> str:
        return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # a wildcard listen address: scrape loopback

    jobs = {
        "pulse-engine": [f"{local(settings.metrics_host)}:{engine_port or settings.metrics_port or 8440}"],
        "pulse-api": [f"{local(settings.api_host)}:{settings.api_port}"],
        "pulse-collect": [f"{local(settings.collect_host)}:{settings.collect_port}"],
    }
    rules = [REPO_ALERTS] if REPO_ALERTS.is_file() else []
    server = start_prometheus(settings.home / "prometheus", port, jobs, rules, interval_s=interval)
    console.print(f"Prometheus on {server.url} (alerts: {server.url}/alerts) scraping "
                  + ", ".join(f"{job} {targets[0]}" for job, targets in jobs.items())
                  + ("" if rules else "; no alert rules (deploy/prometheus/alerts.yml not found)"))
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
# ---- health: `pulse health` and `pulse canary` (exit codes for schedulers; Airflow calls both with --format json)
@app.command()
def health(
    max_lag: Annotated[int | None, typer.Option(min=0, help="Warn above this consumer lag in messages"
                                                " (default: PULSE_HEALTH_MAX_LAG).")] = None,
    max_staleness: Annotated[float | None, typer.Option(min=0, help="Warn when the newest loaded event is older"
                                                        " than this many seconds (default:"
                                                        " PULSE_HEALTH_MAX_STALENESS_S).")] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Check brokers, topic (partitions, replication), PostgreSQL, schema version, engine, lag and freshness.

    Exit status: 0 healthy, 1 degraded (a warning), 2 unhealthy (a failure).
    """
    from pulse.ops.health import Status, Thresholds, check_health

    settings = _settings()
    report = check_health(settings, Thresholds.from_settings(settings, max_lag, max_staleness))
    if fmt is OutputFormat.json:
        _print_json(report.as_dict())
    else:
        colour = {Status.ok: "green", Status.warn: "yellow", Status.fail: "red"}
        table = Table(title=f"pulse health: [{colour[report.status]}]{report.status}[/]")
        for column in ("check", "status", "message"):
            table.add_column(column, overflow="fold")
        for check in report.checks:
            table.add_row(check.name, f"[{colour[check.status]}]{check.status}[/]", check.message)
        console.print(table)
    raise typer.Exit(report.exit_code)


@app.command()
def canary(
    timeout: Annotated[float | None, typer.Option(min=0.1, help="Seconds to wait for the event in the warehouse"
                                                  " (default: PULSE_CANARY_TIMEOUT_S).")] = None,
    max_latency: Annotated[float | None, typer.Option(min=0.001, help="Fail above this produce-to-queryable latency"
                                                      " in seconds (default: PULSE_CANARY_MAX_LATENCY_S).")] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Send one marked event through Kafka, wait until it is queryable, record the latency in canary_run.

    Canary events never count in the KPIs. Exit status: 0 ok, 1 too slow, timed out or not sent.
    """
    from pulse.ops.canary import run_canary

    settings = _settings()
    with console.status("canary in flight...") if fmt is OutputFormat.table else _nothing():
        result = run_canary(
            settings,
            timeout_s=settings.canary_timeout_s if timeout is None else timeout,
            max_latency_s=settings.canary_max_latency_s if max_latency is None else max_latency,
        )
    if fmt is OutputFormat.json:
        _print_json(result.as_dict())
    else:
        style = "green" if result.ok else "red"
        console.print(f"[{style}]canary {'ok' if result.ok else 'FAILED'}[/]: {result.detail} ({result.event_id})")
    raise typer.Exit(0 if result.ok else 1)


def _nothing() -> Any:
    from contextlib import nullcontext

    return nullcontext()


# ---- alerts, maintenance and data quality (pulse alert, pulse maintain, pulse dq)
alert_app = typer.Typer(help="Alerts to Slack (incoming webhook PULSE_SLACK_WEBHOOK_URL).", no_args_is_help=True)
app.add_typer(alert_app, name="alert")


@alert_app.command("send")
def alert_send_cmd(
    title: Annotated[str, typer.Option(help="What happened, in one line.")],
    severity: Annotated[str, typer.Option(help="info, warning or critical.")] = "warning",
    text: Annotated[str, typer.Option(help="Details (Slack mrkdwn).")] = "",
    link: Annotated[str | None, typer.Option(help="A URL to open (dashboard, run, runbook).")] = None,
) -> None:
    """Send one alert to Slack (retries rate limits and server errors)."""
    from pulse.ops.alerts import Alert, Severity, send_alert

    try:
        level = Severity(severity)
    except ValueError:
        raise typer.BadParameter("use info, warning or critical", param_hint="--severity") from None
    send_alert(load_settings(), Alert(title=title, severity=level, text=text, link=link))
    console.print("alert sent")


@alert_app.command("test")
def alert_test_cmd() -> None:
    """Send a harmless test message to check the webhook."""
    from pulse.ops.alerts import Alert, Severity, send_alert

    send_alert(load_settings(), Alert(title="pulse alert test", severity=Severity.info,
                                      text="If you can read this, pulse alerts reach this channel."))
    console.print("test alert sent")


@app.command()
def maintain(
    days_ahead: Annotated[int | None, typer.Option(min=0, max=366, help="Create partitions this many days ahead"
                                                   " (default: PULSE_PARTITION_DAYS_AHEAD).")] = None,
    retention_days: Annotated[int | None, typer.Option(min=1, help="Keep this many days before today"
                                                       " (default: PULSE_RETENTION_DAYS).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be created and removed.")] = False,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Create the coming days' fact partitions and remove data older than the retention (owner connection)."""
    from pulse.warehouse.loader import connect
    from pulse.warehouse.maintenance import MaintenancePolicy
    from pulse.warehouse.maintenance import maintain as run_maintenance

    settings = _settings()
    policy = MaintenancePolicy(
        days_ahead=settings.partition_days_ahead if days_ahead is None else days_ahead,
        retention_days=settings.retention_days if retention_days is None else retention_days,
        quarantine_retention_days=settings.quarantine_retention_days,
    )
    with connect(settings.database_url) as conn:
        doc = run_maintenance(conn, policy, dry_run=dry_run).as_dict()
    if fmt is OutputFormat.json:
        _print_json(doc)
        return
    verb = "would" if dry_run else "did"
    table = Table(title=f"pulse maintain ({verb}: cutoff {doc['cutoff']})", show_header=False)
    table.add_row("partitions created", ", ".join(doc["created"]) or "-")
    table.add_row("partitions dropped", ", ".join(doc["dropped"]) or "-")
    for name, rows in doc["deleted"].items():
        table.add_row(f"rows deleted from {name}", f"{rows:,}")
    console.print(table)


@app.command()
def dq(
    window_minutes: Annotated[int | None, typer.Option(min=1, help="Check the last N minutes"
                                                       " (default: PULSE_DQ_WINDOW_MINUTES).")] = None,
    max_unknown_country_share: Annotated[float | None, typer.Option(
        min=0, max=1, help="Default: PULSE_DQ_MAX_UNKNOWN_COUNTRY_SHARE.")] = None,
    max_unknown_browser_share: Annotated[float | None, typer.Option(
        min=0, max=1, help="Default: PULSE_DQ_MAX_UNKNOWN_BROWSER_SHARE.")] = None,
    max_quarantine_rate: Annotated[float | None, typer.Option(
        min=0, max=1, help="Default: PULSE_DQ_MAX_QUARANTINE_RATE.")] = None,
    max_duplicate_rate: Annotated[float | None, typer.Option(
        min=0, max=1, help="Default: PULSE_DQ_MAX_DUPLICATE_RATE.")] = None,
    max_commit_age_s: Annotated[float | None, typer.Option(min=0, help="Default: PULSE_DQ_MAX_COMMIT_AGE_S.")] = None,
    alert: Annotated[bool, typer.Option("--alert", help="Also send the failed checks to Slack (for cron).")] = False,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Data-quality checks over the last window; exit status 1 when any check fails (thresholds: PULSE_DQ_MAX_*)."""
    from datetime import timedelta

    from pulse.ops.quality import Thresholds, run_checks

    settings = _settings()
    thresholds = Thresholds.from_settings(
        settings, unknown_country_share=max_unknown_country_share, unknown_browser_share=max_unknown_browser_share,
        quarantine_rate=max_quarantine_rate, duplicate_rate=max_duplicate_rate, commit_age_s=max_commit_age_s,
    )
    window = timedelta(minutes=window_minutes or settings.dq_window_minutes)
    with _reader() as conn:
        report = run_checks(conn, thresholds, window=window)
    if fmt is OutputFormat.json:
        _print_json(report)
    else:
        table = Table(title=f"data quality {report['window']['start']} .. {report['window']['end']}")
        for col in ("check", "value", "threshold", "status", "detail"):
            table.add_column(col, overflow="fold")
        for c in report["checks"]:
            style = "green" if c["status"] == "ok" else "red"
            table.add_row(c["name"], str(c["value"]), str(c["threshold"]), f"[{style}]{c['status']}[/]", c["detail"])
        console.print(table)
    if report["status"] != "ok":
        if alert:
            from pulse.ops.alerts import Alert, Severity, send_alert
            from pulse.ops.quality import failures_summary

            send_alert(settings, Alert(title="pulse data quality checks failed", severity=Severity.warning,
                                       text=failures_summary(report), fields={"Window": report["window"]["start"]}))
        raise typer.Exit(1)
# ---- end of alerts, maintenance and data quality
# ---------------------------------------------------------------------------------------- spark
@app.command()
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
    from pulse.engines.spark import SparkEngine, build_session, default_checkpoint

    settings = _settings()
    _check_login(settings.loader_url, settings.loader_url_setting)
    session = build_session(None if submitted else (master or settings.spark_master))
    engine = SparkEngine(
        settings, session, checkpoint=checkpoint or default_checkpoint(settings), trigger_seconds=trigger,
        max_offsets_per_trigger=max_offsets_per_trigger,
    )
    engine.install_signal_handlers()
    try:
        stats = engine.run(until_idle=until_idle)
    finally:
        session.stop()
    console.print(f"spark engine stopped: {stats.as_dict()}")
# ---------------------------------------------------------------------------------------- superset
superset_app = typer.Typer(help="Apache Superset dashboards of the six KPIs.", no_args_is_help=True)
app.add_typer(superset_app, name="superset")


@superset_app.callback()
def _superset_quiet() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per API call is noise here


def _superset_password(settings: Settings) -> str:
    """PULSE_SUPERSET_PASSWORD, else a prompt on a terminal."""
    if settings.superset_password is not None:
        return settings.superset_password.get_secret_value()
    if not sys.stdin.isatty():
        raise typer.BadParameter("set PULSE_SUPERSET_PASSWORD (no terminal to ask on)", param_hint="password")
    return str(typer.prompt("Superset password", hide_input=True))


@superset_app.command("up")
def superset_up_cmd(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Listen port on 127.0.0.1.")] = 8088,
) -> None:
    """Run a local Superset from .venv-superset until Ctrl-C (metadata in $PULSE_HOME/superset).

    The first run creates the admin user PULSE_SUPERSET_USERNAME with PULSE_SUPERSET_PASSWORD (or a prompt).
    """
    import signal

    from pulse.stack import superset as local

    settings = _settings()
    home = settings.home.expanduser().resolve() / "superset"
    if not (home / local.INIT_STAMP).exists():
        local.init_superset(home, settings.superset_username, _superset_password(settings), err_console.print)
    process = local.start_superset(home, "127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    try:
        local.wait_healthy(url, process, log=home / "superset.log")
        console.print(f"Superset on {url} (log {home / 'superset.log'}); next: pulse superset provision."
                      " Ctrl-C stops it.")
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


@superset_app.command("provision")
def superset_provision_cmd(
    url: Annotated[str | None, typer.Option(help="Superset base URL (default: PULSE_SUPERSET_URL).")] = None,
    username: Annotated[str | None, typer.Option(help="Superset user (default: PULSE_SUPERSET_USERNAME).")] = None,
    bundle: Annotated[Path | None, typer.Option(help="Bundle folder (default: deploy/superset/bundle).")] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Import the KPI dashboard into a running Superset, reading the warehouse as pulse_dashboard (read-only).

    The Superset password comes from PULSE_SUPERSET_PASSWORD, else a prompt. Safe to run again.
    """
    from pulse.serve import superset

    settings = _settings()
    secret = _superset_password(settings)
    done = superset.provision(
        settings, url or settings.superset_url, username or settings.superset_username, secret,
        bundle_dir=bundle or superset.BUNDLE_DIR, progress=err_console.print,
    )
    if fmt is OutputFormat.json:
        _print_json({"dashboard_id": done.dashboard_id, "dashboard_url": done.dashboard_url, "charts": done.charts})
    else:
        console.print(f"dashboard: {done.dashboard_url}")


# click's ClickException (usage errors): typer >= 0.29 vendors click, older typer uses it; BadParameter derives from it.
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main() -> None:
    """Entry point. A bad setting, an unreachable service or a refused login ends as ONE line on stderr
    naming what to fix, exit status 2 (usage errors too); a genuine bug still shows its traceback."""
    try:
        code = app(standalone_mode=False)
    except _CLICK_ERROR as exc:  # a wrong option value, an unknown command
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(2)  # the help is already printed
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        usage: Any = exc
        _fail(usage.format_message() + hint, usage.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except PulseError as exc:
        _fail(str(exc), 2)
    except Exception as exc:
        message = operator_message(exc)
        if message is None:
            raise
        _fail(message, 2)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    """Print `error: message` as one line (no markup: settings may hold brackets) and exit."""
    text = " | ".join(" ".join(line.split()) for line in message.splitlines() if line.strip())
    err_console.print(Text.assemble(("error:", "red"), " ", text), soft_wrap=True, highlight=False)
    sys.exit(code)


def operator_message(exc: BaseException) -> str | None:
    """The one-line message for a known operational failure that escaped as a raw client exception
    (a refused connection, a refused login, an unusable file under PULSE_HOME); None for anything else."""
    import psycopg
    from confluent_kafka import KafkaError, KafkaException

    settings = "PULSE_DATABASE_URL (or PULSE_LOADER_DATABASE_URL / PULSE_READER_DATABASE_URL)"
    if isinstance(exc, psycopg.OperationalError):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"PostgreSQL: {first} (check {settings})"
    if isinstance(exc, psycopg.ProgrammingError) and "connection info string" in str(exc):
        return f"not a valid PostgreSQL connection string (check {settings})"
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        error: KafkaError = exc.args[0]
        if error.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE,
                            KafkaError._TIMED_OUT, KafkaError._MSG_TIMED_OUT):
            return f"Kafka unreachable ({error.str()}): check PULSE_KAFKA_BOOTSTRAP and that Kafka runs"
    if isinstance(exc, PermissionError) and exc.filename:
        return f"cannot use {exc.filename}: {exc.strerror} (check PULSE_HOME and the permissions of its files)"
    return None


if __name__ == "__main__":
    main()
