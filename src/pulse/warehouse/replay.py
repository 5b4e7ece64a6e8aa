"""Replay from quarantine, its SQL: the rows to run again, and marking what came of them in the load's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from pulse.events.model import Rejection, SourceRef

# Rows that loaded on an earlier replay are never replayed again; rows still rejected are (the rules may
# have changed once more).
_CANDIDATES = (
    "SELECT quarantine_id, raw, src_topic, src_partition, src_offset, reason FROM quarantine"
    " WHERE replay_outcome IS DISTINCT FROM 'loaded'"
    " AND (%(reason)s::text IS NULL OR reason = %(reason)s)"
    " AND (%(since)s::timestamptz IS NULL OR quarantined_at >= %(since)s)"
    " AND quarantine_id > %(after)s ORDER BY quarantine_id LIMIT %(limit)s"
)
# The same rows, counted (the progress bar's total): every row has an id > 0, no limit.
_COUNT_CANDIDATES = f"SELECT count(*) FROM ({_CANDIDATES}) AS c"  # noqa: S608 - constant SQL, no values
_LOCK = (
    "SELECT quarantine_id FROM quarantine WHERE quarantine_id = ANY(%s)"
    " AND replay_outcome IS DISTINCT FROM 'loaded' FOR UPDATE"
)
_MARK_LOADED = (
    "UPDATE quarantine SET replayed_at = clock_timestamp(), replay_outcome = 'loaded' WHERE quarantine_id = ANY(%s)"
)
_MARK_REJECTED = """
UPDATE quarantine AS q SET stage = x.stage, reason = x.reason, detail = x.detail,
  replayed_at = clock_timestamp(), replay_outcome = 'rejected'
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS x(id, stage, reason, detail)
WHERE q.quarantine_id = x.id
"""
_COUNTS = "SELECT replay_outcome, count(*) FROM quarantine WHERE replay_outcome IS NOT NULL GROUP BY 1"


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One quarantine row to run again: its stored raw bytes and coordinates."""

    quarantine_id: int
    raw: bytes
    source: SourceRef | None
    reason: str


def replay_candidates(
    conn: psycopg.Connection, *, reason: str | None, since: datetime | None, after: int, limit: int,
) -> list[Quarantined]:
    """The next `limit` rows (by id, after `after`) not yet loaded by a replay, of `reason` and since `since`."""
    rows = conn.execute(_CANDIDATES, {"reason": reason, "since": since, "after": after, "limit": limit}).fetchall()
    return [Quarantined(i, bytes(raw), None if t is None or p is None or o is None else SourceRef(t, p, o), r)
            for i, raw, t, p, o, r in rows]


def count_candidates(conn: psycopg.Connection, *, reason: str | None, since: datetime | None) -> int:
    """How many rows `replay_candidates` will go through (the progress bar's total)."""
    params = {"reason": reason, "since": since, "after": 0, "limit": None}
    row = conn.execute(_COUNT_CANDIDATES, params).fetchone()
    return int(row[0]) if row else 0


def mark_replayed(conn: psycopg.Connection, loaded: list[int], rejected: dict[int, Rejection]) -> bool:
    """Mark the outcome of a replayed batch inside the loader's transaction (`commit_batch(guard=...)`).

    False, writing nothing, when another replay loaded one of these rows meanwhile: the batch is skipped.
    """
    ids = loaded + list(rejected)
    if len(conn.execute(_LOCK, (ids,)).fetchall()) != len(ids):
        return False
    if loaded:
        conn.execute(_MARK_LOADED, (loaded,))
    if rejected:
        conn.execute(_MARK_REJECTED, (
            list(rejected), [str(r.stage) for r in rejected.values()], [str(r.reason) for r in rejected.values()],
            [r.detail.replace("\x00", "\\0") for r in rejected.values()],
        ))
    return True


def replay_counts(conn: psycopg.Connection) -> dict[str, Any]:
    """Quarantine rows by the outcome of their last replay: loaded, rejected (still)."""
    counts: dict[str, int] = dict(conn.execute(_COUNTS).fetchall())
    return {"loaded": int(counts.get("loaded", 0)), "rejected": int(counts.get("rejected", 0))}
