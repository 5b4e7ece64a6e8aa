"""The `pulse` command line: a thin layer over the library, one module per area, each only parsing and rendering.

    stack.py     stack up|down|status          warehouse.py  migrate, maintain, fold
    pipeline.py  run, spark, produce, replay   reads.py      kpi, stats, quarantine
    serve.py     serve, collect, demo          ops.py        health, canary, dq, prometheus
    alert.py     alert send|test               superset.py   superset up|provision

This module holds the app, the global options and main(): every failure an operator can fix ends as one line.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.text import Text

from pulse.cli import alert, ops, pipeline, reads, serve, stack, superset, warehouse
from pulse.cli.common import err_console
from pulse.errors import PulseError, operator_message, quoted
from pulse.settings import load_settings

__all__ = ["app", "main", "operator_message"]

app = typer.Typer(
    help="pulse: real-time user-behaviour analytics. Kafka -> enriched PostgreSQL star schema -> live KPIs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


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


# In this order in `pulse --help`; the groups follow.
for _command in (
    warehouse.migrate, pipeline.run, pipeline.produce, pipeline.replay, reads.kpi, reads.stats, reads.quarantine,
    serve.demo, serve.collect, serve.serve, ops.prometheus, ops.health, ops.canary, warehouse.maintain, warehouse.fold,
    ops.dq,
    pipeline.spark,
):
    app.command()(_command)
app.add_typer(stack.app, name="stack")
app.add_typer(alert.app, name="alert")
app.add_typer(superset.app, name="superset")

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
