"""Connections to the warehouse for readers and writers alike: session settings, the reader pool, login errors."""

from __future__ import annotations

from enum import StrEnum

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from pulse.errors import TerminalError, TransientError
from pulse.settings import Settings

CONNECT_TIMEOUT_S = 5
OWNER_URL_SETTING = "PULSE_DATABASE_URL"

# The batch statement's row estimates (a never-analysed temp stage, the kpi_zone cross join) pass the
# planner's JIT thresholds; compiling it then took 3.5 s of a 4 s batch (5,000 events). Statements this
# short and this frequent never earn that back, so pulse's sessions run without JIT (the API's reads too).
NO_JIT = "SET jit = off"
# Readers cannot write by mistake, whatever role their URL logs in as (the owner's, when no reader URL is set).
READ_ONLY = "SET default_transaction_read_only = on"


class Access(StrEnum):
    """What a session is for: its settings follow from it."""

    read = "read"  # KPI reads, health, the canary's probe, data-quality checks
    write = "write"  # the loader, migrations, maintenance, the canary's record


SESSION_SETTINGS: dict[Access, tuple[str, ...]] = {
    Access.read: (NO_JIT, READ_ONLY),
    Access.write: (NO_JIT,),
}


def configure_session(conn: psycopg.Connection, access: Access) -> None:
    """Apply the session settings of `access` to an open connection (outside any transaction)."""
    for statement in SESSION_SETTINGS[access]:
        conn.execute(statement)


def configure_reader(conn: psycopg.Connection) -> None:
    """The reader pool's per-connection setup: short index reads, read-only (JIT would cost more than a query)."""
    configure_session(conn, Access.read)


def connect(
    url: str, *, setting: str = OWNER_URL_SETTING, access: Access = Access.write, autocommit: bool = False,
    application_name: str = "pulse",
) -> psycopg.Connection:
    """Open a connection with pulse's session settings, telling transient trouble (retry) from a wrong setting (stop).

    `setting` names the variable `url` came from: the messages say which one to fix.
    """
    try:
        conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, application_name=application_name)
        configure_session(conn, access)
        conn.commit()
        conn.autocommit = autocommit
        return conn
    except psycopg.OperationalError as exc:
        raise classify_connect_error(exc, setting, role_of(url)) from None
    except psycopg.ProgrammingError:  # libpq could not parse the URL: never repeat it (it may hold a password)
        raise TerminalError(f"{setting} is not a valid PostgreSQL connection string") from None


def connect_reader(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """A read-only session on the reader URL (PULSE_READER_DATABASE_URL, else PULSE_DATABASE_URL)."""
    return connect(settings.reader_url, setting=settings.reader_url_setting, access=Access.read, autocommit=autocommit)


def connect_loader(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """A writing session on the loader URL (PULSE_LOADER_DATABASE_URL, else PULSE_DATABASE_URL)."""
    return connect(settings.loader_url, setting=settings.loader_url_setting, autocommit=autocommit)


def connect_owner(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """A writing session as the schema owner (PULSE_DATABASE_URL): migrations, maintenance, raw quarantine."""
    return connect(settings.database_url, autocommit=autocommit)


def reader_pool(settings: Settings, *, name: str, max_size: int) -> ConnectionPool:
    """A closed pool of read-only autocommit sessions on the reader URL (open it at startup)."""
    return ConnectionPool(
        settings.reader_url, min_size=1, max_size=max_size, open=False, name=name,
        check=ConnectionPool.check_connection, configure=configure_reader,
        kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, "application_name": name},
    )


_TERMINAL_CONNECT_HINTS = (
    "password authentication failed",
    "no password supplied",
    "does not exist",
    "invalid connection option",
    "invalid dsn",
    "missing \"=\"",
    "permission denied",
    "not permitted to log in",
    "no pg_hba.conf entry",
)


def classify_connect_error(exc: Exception, setting: str = OWNER_URL_SETTING, role: str | None = None) -> Exception:
    """A refused login (TerminalError: fix the setting or the roles) or an unreachable server (TransientError)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if any(hint in message.lower() for hint in _TERMINAL_CONNECT_HINTS):
        who = f"the login of role {role!r}" if role else "the connection"
        return TerminalError(f"PostgreSQL refused {who}: {message} (check {setting} and the roles)")
    return TransientError(f"PostgreSQL unavailable: {message} (is it running? check {setting})")


def role_of(url: str) -> str | None:
    """The user a connection string logs in as (never its password), for messages."""
    try:
        user = conninfo_to_dict(url).get("user")
    except psycopg.ProgrammingError:
        return None
    return str(user) if user else None


def check_login(url: str, *, setting: str = "PULSE_DATABASE_URL") -> None:
    """Stop now (TerminalError) when the role cannot log in: a wrong user or password. A database that is down
    is waited for later (the engines retry, the API answers 503 until it is back)."""
    try:
        connect(url, setting=setting).close()
    except TransientError:
        pass
