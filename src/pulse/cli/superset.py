"""`pulse superset up|provision`: a local Apache Superset, and the KPI dashboard imported into one."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from pulse.cli.common import FormatOpt, OutputFormat, cli_settings, console, err_console, print_json
from pulse.settings import Settings

app = typer.Typer(help="Apache Superset dashboards of the six KPIs.", no_args_is_help=True)


@app.callback()
def _superset_quiet() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per API call is noise here


def _superset_password(settings: Settings) -> str:
    """PULSE_SUPERSET_PASSWORD, else a prompt on a terminal."""
    if settings.superset_password is not None:
        return settings.superset_password.get_secret_value()
    if not sys.stdin.isatty():
        raise typer.BadParameter("set PULSE_SUPERSET_PASSWORD (no terminal to ask on)", param_hint="password")
    return str(typer.prompt("Superset password", hide_input=True))


@app.command("up")
def superset_up_cmd(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Listen port on 127.0.0.1.")] = 8088,
) -> None:
    """Run a local Superset from .venv-superset until Ctrl-C (metadata in $PULSE_HOME/superset).

    The first run creates the admin user PULSE_SUPERSET_USERNAME with PULSE_SUPERSET_PASSWORD (or a prompt).
    """
    from pulse.stack.superset import run_superset

    def ready(url: str, log: Path) -> None:
        console.print(f"Superset on {url} (log {log}); next: pulse superset provision. Ctrl-C stops it.")

    settings = cli_settings()
    run_superset(settings, port, lambda: _superset_password(settings), progress=err_console.print, ready=ready)


@app.command("provision")
def superset_provision_cmd(
    url: Annotated[str | None, typer.Option(help="Superset base URL (default: PULSE_SUPERSET_URL).")] = None,
    username: Annotated[str | None, typer.Option(help="Superset user (default: PULSE_SUPERSET_USERNAME).")] = None,
    bundle: Annotated[Path | None, typer.Option(help="Bundle folder (default: the one in the package).")] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Import the KPI dashboard into a running Superset, reading the warehouse as pulse_dashboard (read-only).

    The Superset password comes from PULSE_SUPERSET_PASSWORD, else a prompt. Safe to run again.
    """
    from pulse.serve import superset

    settings = cli_settings()
    secret = _superset_password(settings)
    done = superset.provision(
        settings, url or settings.superset_url, username or settings.superset_username, secret,
        bundle_dir=bundle or superset.BUNDLE_DIR, progress=err_console.print,
    )
    if fmt is OutputFormat.json:
        print_json({"dashboard_id": done.dashboard_id, "dashboard_url": done.dashboard_url, "charts": done.charts})
    else:
        console.print(f"dashboard: {done.dashboard_url}")
