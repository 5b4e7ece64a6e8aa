"""Versioned, idempotent schema migrations: `migrations/NNNN_name.sql`, each applied once in its own txn."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import psycopg

from pulse.errors import TerminalError

# Serialises concurrent `pulse migrate` runs (an arbitrary constant: "pulse" in ASCII).
_LOCK_ID = 0x70756C7365


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file of the migrations folder."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """Digest of the file, to notice an applied migration that was edited afterwards."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The bundled migrations in version order."""
    found = []
    for entry in resources.files("pulse.warehouse.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(int(version), rest.removesuffix(".sql"), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def applied_migrations(conn: psycopg.Connection) -> dict[int, str]:
    """Version -> checksum of every migration the database has applied (UndefinedTable before the first)."""
    return {int(v): str(c) for v, c in conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()}


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply the migrations the database lacks; returns those applied now (empty when up to date)."""
    conn.autocommit = True
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    try:
        applied = applied_migrations(conn)
        done = []
        for migration in available_migrations():
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise TerminalError(
                        f"migration {migration.version} ({migration.name}) was edited after it was applied;"
                        " add a new migration instead of changing an applied one"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            done.append(migration)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
