"""What the command modules share: the consoles, `--format`, JSON output, settings, the reader connection."""

from __future__ import annotations

import json
import socket
import sys
from contextlib import AbstractContextManager, nullcontext
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from pulse.errors import ConfigError
from pulse.settings import Settings, load_settings

if TYPE_CHECKING:
    from psycopg import Connection

console = Console()
err_console = Console(stderr=True)


class OutputFormat(StrEnum):
    """How read commands print their answer."""

    table = "table"
    json = "json"


FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="table for people, json for programs.")]


def cli_settings() -> Settings:
    """The settings (the local stack's password file comes in with stack.env: PULSE_PASSFILE)."""
    return load_settings()


def print_json(doc: Any) -> None:
    """`doc` as indented JSON on stdout (dates and other values as their text)."""
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def reader(settings: Settings | None = None) -> Connection:
    """A connection of the read-only role (PULSE_READER_DATABASE_URL, else PULSE_DATABASE_URL)."""
    from pulse.warehouse.db import connect_reader

    return connect_reader(settings or cli_settings())


def owner(settings: Settings | None = None) -> Connection:
    """A connection of the owner (PULSE_DATABASE_URL): migrations, maintenance, raw quarantined payloads."""
    from pulse.warehouse.db import connect_owner

    return connect_owner(settings or cli_settings())


def status(message: str, fmt: OutputFormat) -> AbstractContextManager[Any]:
    """A spinner with `message` while a table is coming; nothing when the answer is JSON."""
    return console.status(message) if fmt is OutputFormat.table else nullcontext()


def check_listen(host: str, port: int, settings_hint: str) -> None:
    """A ConfigError now, rather than a server log line later, when nothing can listen on host:port."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host.strip("[]"), port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): check {settings_hint}") from None
