"""The dead-letter outbox: quarantine rows not yet produced to `<topic>.dlq`, marking them, and its counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

# One dead-letter publisher at a time across processes (a session advisory lock: "dlq" in ASCII).
PUBLISHER_LOCK_ID = 0x646C71

_PENDING = (
    "SELECT quarantine_id, stage, reason, detail, raw, src_topic, src_partition, src_offset, quarantined_at"
    " FROM quarantine WHERE dlq_published_at IS NULL ORDER BY quarantine_id LIMIT %s"
)
_MARK = "UPDATE quarantine SET dlq_published_at = clock_timestamp() WHERE quarantine_id = ANY(%s)"
_COUNTS = (
    "SELECT count(*) FILTER (WHERE dlq_published_at IS NOT NULL),"
    " count(*) FILTER (WHERE dlq_published_at IS NULL),"
    " min(quarantined_at) FILTER (WHERE dlq_published_at IS NULL)"
    " FROM quarantine"
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One quarantine row as the dead-letter topic carries it."""

    quarantine_id: int
    stage: str
    reason: str
    detail: str
    raw: bytes
    src_topic: str | None
    src_partition: int | None
    src_offset: int | None
    quarantined_at: datetime

    @property
    def key(self) -> str:
        """The message key, deterministic so a republished letter is recognised: `topic:partition:offset`
        (`quarantine:<id>` for a message without Kafka coordinates, e.g. from a replayed file)."""
        if self.src_topic is None or self.src_partition is None or self.src_offset is None:
            return f"quarantine:{self.quarantine_id}"
        return f"{self.src_topic}:{self.src_partition}:{self.src_offset}"

    def headers(self) -> list[tuple[str, str | bytes | None]]:
        """Why and where from, as Kafka headers (`pulse.*`); the value is the raw message as it arrived."""
        values: dict[str, Any] = {
            "pulse.reason": self.reason, "pulse.stage": self.stage, "pulse.detail": self.detail,
            "pulse.src.topic": self.src_topic, "pulse.src.partition": self.src_partition,
            "pulse.src.offset": self.src_offset, "pulse.quarantine_id": self.quarantine_id,
            "pulse.quarantined_at": self.quarantined_at.isoformat(),
        }
        return [(name, str(value).encode()) for name, value in values.items() if value is not None]


def pending_dead_letters(conn: psycopg.Connection, limit: int) -> list[DeadLetter]:
    """The oldest `limit` quarantine rows not yet on the dead-letter topic, in quarantine order."""
    return [DeadLetter(i, s, r, d, bytes(raw), t, p, o, at)
            for i, s, r, d, raw, t, p, o, at in conn.execute(_PENDING, (limit,)).fetchall()]


def mark_published(conn: psycopg.Connection, ids: list[int]) -> None:
    """Record that these rows are on the dead-letter topic (the caller's transaction)."""
    if ids:
        conn.execute(_MARK, (ids,))


def try_publisher_lock(conn: psycopg.Connection) -> bool:
    """Become THE publisher for as long as this session lives (False: another one is)."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (PUBLISHER_LOCK_ID,)).fetchone()
    return bool(row and row[0])


def dead_letter_counts(conn: psycopg.Connection) -> dict[str, Any]:
    """Published, pending, and when the oldest pending row was quarantined (None when nothing is pending)."""
    published, pending, oldest = conn.execute(_COUNTS).fetchone() or (0, 0, None)
    return {"published": int(published), "pending": int(pending), "oldest_pending_at": oldest}


def oldest_pending_age_s(counts: dict[str, Any], now: datetime) -> float | None:
    """Seconds since the oldest pending row was quarantined, from `dead_letter_counts` (None: none pending)."""
    oldest = counts["oldest_pending_at"]
    return None if oldest is None else max((now - oldest).total_seconds(), 0.0)
