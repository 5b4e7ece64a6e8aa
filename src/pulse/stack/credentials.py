"""How pulse reaches the local PostgreSQL: the address and owner settings ask for, role URLs, the password file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pulse.errors import ConfigError
from pulse.setting_values import with_passfile
from pulse.settings import Settings
from pulse.stack.proc import LOCAL_HOSTS


@dataclass(frozen=True)
class Target:
    """What settings.database_url asks for: where to listen and the owner role and database."""

    host: str
    port: int
    owner: str
    dbname: str
    password: str | None


def parse_target(settings: Settings) -> Target:
    """The local server's address, owner role and database from settings.database_url."""
    try:
        parts = conninfo_to_dict(settings.database_url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"PULSE_DATABASE_URL is not a valid connection string: {exc}") from None
    host = str(parts.get("host") or "127.0.0.1")
    if host not in LOCAL_HOSTS:
        raise ConfigError(
            f"the local stack runs PostgreSQL on this machine, but PULSE_DATABASE_URL points at {host!r}: "
            "use postgresql://<owner>@127.0.0.1:<port>/<database>"
        )
    owner = str(parts.get("user") or "pulse")
    password = parts.get("password")
    return Target(
        host=host,
        port=int(parts.get("port") or 5432),
        owner=owner,
        dbname=str(parts.get("dbname") or owner),
        password=str(password) if password else None,
    )


def pgpass_path(settings: Settings) -> Path:
    """The libpq password file of the local stack: $PULSE_HOME/pgpass."""
    return settings.home.expanduser().resolve() / "pgpass"


def role_url(settings: Settings, role: str, dbname: str | None = None) -> str:
    """Connection URL of `role` on the local server (its database, or `dbname`): no password, but the stack's
    password file as `passfile`, so libpq finds the password without any environment variable."""
    target = parse_target(settings)
    host = f"[{target.host}]" if ":" in target.host else target.host
    database = quote(dbname or target.dbname, safe="")
    return with_passfile(f"postgresql://{quote(role, safe='')}@{host}:{target.port}/{database}", pgpass_path(settings))
