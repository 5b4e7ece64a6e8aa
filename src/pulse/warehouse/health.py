"""What `pulse health` and `pulse canary` read and record: server version, heartbeats, freshness, canary runs.

Ages are computed by the database's clock (`now()`), so a skewed clock on the checking host cannot fake them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg

_HEARTBEATS = """
SELECT engine_id, engine, host, pid, extract(epoch FROM now() - beat_at)::float8, stopped_at IS NOT NULL, status
FROM engine_heartbeat WHERE topic = %s ORDER BY beat_at DESC LIMIT %s
"""

_FRESHNESS = """
SELECT newest_event_time, last_commit_at, extract(epoch FROM now() - newest_event_time)::float8,
       extract(epoch FROM now() - last_commit_at)::float8
FROM load_state
"""

# The ledger row commits in the same transaction as the fact (and is the facts' only index on event_id).
_CANARY_SEEN = "SELECT 1 FROM event_ledger WHERE event_date = %s AND event_id = %s"

_CANARY_RUN = """
INSERT INTO canary_run (event_id, sent_at, seen_at, latency_ms, max_latency_ms, ok, detail)
VALUES (%(event_id)s, %(sent_at)s, %(seen_at)s, %(latency_ms)s, %(max_latency_ms)s, %(ok)s, %(detail)s)
"""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One engine's heartbeat row, its age by the database's clock."""

    engine_id: str
    engine: str
    host: str
    pid: int
    age_s: float
    stopped: bool
    status: str | None  # None while all is well, else what holds the engine up ("retrying: ...")


@dataclass(frozen=True, slots=True)
class Freshness:
    """The newest loaded event and the last commit, with their ages in seconds."""

    newest_event_time: datetime | None
    last_commit_at: datetime | None
    event_age_s: float | None
    commit_age_s: float | None


def server_version(conn: psycopg.Connection) -> str | None:
    """The PostgreSQL server's version string."""
    row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else None


def heartbeats(conn: psycopg.Connection, topic: str, limit: int = 20) -> list[Heartbeat]:
    """The engines of `topic`, newest beat first."""
    rows = conn.execute(_HEARTBEATS, (topic, limit)).fetchall()
    return [Heartbeat(*row) for row in rows]


def freshness(conn: psycopg.Connection) -> Freshness:
    """The warehouse's load state as times and ages (all None before the first batch)."""
    row = conn.execute(_FRESHNESS).fetchone()
    return Freshness(*row) if row else Freshness(None, None, None, None)


def canary_seen(conn: psycopg.Connection, event_date: date, event_id: str) -> bool:
    """True once the canary event is queryable in the fact table."""
    return conn.execute(_CANARY_SEEN, (event_date, event_id)).fetchone() is not None


def record_canary_run(
    conn: psycopg.Connection, *, event_id: str, sent_at: datetime, seen_at: datetime | None,
    latency_ms: float | None, max_latency_ms: float, ok: bool, detail: str,
) -> None:
    """Insert one canary run into canary_run (in the caller's transaction, if one is open)."""
    conn.execute(_CANARY_RUN, {
        "event_id": event_id, "sent_at": sent_at, "seen_at": seen_at, "latency_ms": latency_ms,
        "max_latency_ms": max_latency_ms, "ok": ok, "detail": detail,
    })
