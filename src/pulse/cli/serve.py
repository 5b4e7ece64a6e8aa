"""`pulse serve`, `pulse collect`, `pulse demo`: the API and live page, the HTTP collector, the whole demo."""

from __future__ import annotations

from typing import Annotated

import typer

from pulse.cli.common import check_listen, cli_settings, console
from pulse.settings import load_settings


def demo(
    rate: Annotated[float, typer.Option(min=1, help="Synthetic events per second.")] = 200.0,
    refresh: Annotated[float, typer.Option(min=0.2, help="Seconds between screen refreshes.")] = 1.0,
) -> None:
    """Stack up, migrate, synthetic traffic, the engine, and the six KPIs live (terminal and page) until Ctrl-C."""
    from pulse.demo import run_demo

    run_demo(cli_settings(), rate=rate, refresh=refresh, console=console)


def collect(
    host: Annotated[str | None, typer.Option(help="Listen address (default: PULSE_COLLECT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Listen port (default: PULSE_COLLECT_PORT).")] = (
        None
    ),
) -> None:
    """Serve the HTTP collector: POST /collect (and a GET pixel) -> Kafka, with /metrics and /healthz."""
    from pulse.collect.app import serve as serve_collector

    settings = load_settings()
    host, port = host or settings.collect_host, port or settings.collect_port
    check_listen(host, port, "PULSE_COLLECT_HOST / PULSE_COLLECT_PORT (or --host / --port)")
    console.print(f"pulse collector on http://{host}:{port}/collect -> Kafka {settings.kafka_bootstrap}"
                  f" topic {settings.topic}")
    serve_collector(settings, host=host, port=port)


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default: PULSE_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Listen port (default: PULSE_API_PORT).")] = None,
) -> None:
    """Serve the KPI API (/api/kpis/NAME, /api/stats, /healthz, /docs) and the live page at / (read-only role)."""
    from pulse.serve.api import serve as serve_api
    from pulse.warehouse.db import check_login

    settings = cli_settings()
    check_login(settings.reader_url, setting=settings.reader_url_setting)
    host, port = host or settings.api_host, port or settings.api_port
    check_listen(host, port, "PULSE_API_HOST / PULSE_API_PORT (or --host / --port)")
    url = f"http://{host}:{port}"
    auth = "bearer token required" if settings.api_token else "no token (PULSE_API_TOKEN unset)"
    console.print(f"pulse live page on {url}/ · API {url}/api/kpis · docs {url}/docs · {auth}")
    serve_api(settings, host=host, port=port)
