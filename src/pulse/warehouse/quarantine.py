"""The quarantine listing: rejected messages with their reason, newest first (raw payloads: owner connection only)."""

from __future__ import annotations

from typing import Any

import psycopg

RAW_PREVIEW_BYTES = 300  # of each raw payload, decoded as UTF-8 with undecodable bytes as \xNN escapes

_LIST = (
    "SELECT quarantine_id, quarantined_at, stage, reason, detail, src_topic, src_partition, src_offset, raw"
    " FROM quarantine WHERE (%(reason)s::text IS NULL OR reason = %(reason)s)"
    " ORDER BY quarantine_id DESC LIMIT %(limit)s"
)


def list_quarantine(conn: psycopg.Connection, reason: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` quarantined messages (only those of `reason` when given), each raw payload cut to
    its first RAW_PREVIEW_BYTES bytes as text."""
    cur = conn.execute(_LIST, {"reason": reason, "limit": limit})
    names = [c.name for c in cur.description or ()]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for row in rows:
        row["raw"] = bytes(row["raw"])[:RAW_PREVIEW_BYTES].decode("utf-8", "backslashreplace")
    return rows
