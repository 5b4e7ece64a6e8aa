"""`pulse health`, `pulse canary`, `pulse dq`, `pulse prometheus`: checks with exit codes for schedulers, and a local
Prometheus. Exit status: 0 healthy, 1 a warning or a failed check, 2 unhealthy (health) or a usage error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pulse.cli.common import FormatOpt, OutputFormat, cli_settings, console, print_json, reader, status


def prometheus(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of Prometheus's web UI and API.")] = 9090,
    engine_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Engine metrics port (default: PULSE_METRICS_PORT or 8440).")
    ] = None,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between scrapes and rule evaluations.")] = 5.0,
) -> None:
    """Run a local Prometheus (Debian's package) until Ctrl-C: it scrapes the engine, the API and the collector
    and evaluates pulse's alert rules (data under PULSE_HOME/prometheus)."""
    from pulse.stack.prometheus import LocalPrometheus, run_prometheus

    def ready(server: LocalPrometheus, jobs: dict[str, list[str]], rules: list[Path]) -> None:
        console.print(f"Prometheus on {server.url} (alerts: {server.url}/alerts) scraping "
                      + ", ".join(f"{job} {targets[0]}" for job, targets in jobs.items())
                      + ("" if rules else "; no alert rules (pulse's alerts.yml not found in the package)"))

    run_prometheus(cli_settings(), port, engine_port=engine_port, interval_s=interval, ready=ready)


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

    settings = cli_settings()
    report = check_health(settings, Thresholds.from_settings(settings, max_lag, max_staleness))
    if fmt is OutputFormat.json:
        print_json(report.as_dict())
    else:
        colour = {Status.ok: "green", Status.warn: "yellow", Status.fail: "red"}
        table = Table(title=f"pulse health: [{colour[report.status]}]{report.status}[/]")
        for column in ("check", "status", "message"):
            table.add_column(column, overflow="fold")
        for check in report.checks:
            table.add_row(check.name, f"[{colour[check.status]}]{check.status}[/]", check.message)
        console.print(table)
    raise typer.Exit(report.exit_code)


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

    settings = cli_settings()
    with status("canary in flight...", fmt):
        result = run_canary(
            settings,
            timeout_s=settings.canary_timeout_s if timeout is None else timeout,
            max_latency_s=settings.canary_max_latency_s if max_latency is None else max_latency,
        )
    if fmt is OutputFormat.json:
        print_json(result.as_dict())
    else:
        style = "green" if result.ok else "red"
        console.print(f"[{style}]canary {'ok' if result.ok else 'FAILED'}[/]: {result.detail} ({result.event_id})")
    raise typer.Exit(0 if result.ok else 1)


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

    settings = cli_settings()
    thresholds = Thresholds.from_settings(
        settings, unknown_country_share=max_unknown_country_share, unknown_browser_share=max_unknown_browser_share,
        quarantine_rate=max_quarantine_rate, duplicate_rate=max_duplicate_rate, commit_age_s=max_commit_age_s,
    )
    window = timedelta(minutes=window_minutes or settings.dq_window_minutes)
    with reader(settings) as conn:
        report = run_checks(conn, thresholds, window=window)
    if fmt is OutputFormat.json:
        print_json(report)
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
