"""The Spark engine's batch ledger (spark_batches): which slices of which micro-batch are committed."""

from __future__ import annotations

from collections.abc import Mapping

import psycopg

_RECORD = """
INSERT INTO spark_batches (query_id, batch_id, topic, kafka_partition, first_offset, next_offset, messages)
SELECT %s, %s, t, p, f, n, m FROM unnest(%s::text[], %s::int[], %s::bigint[], %s::bigint[], %s::int[])
  AS x(t, p, f, n, m)
ON CONFLICT DO NOTHING
RETURNING 1
"""

# (topic, partition) -> (first offset, next offset, messages) of one slice
Ranges = Mapping[tuple[str, int], tuple[int, int, int]]


def record_slice(conn: psycopg.Connection, query_id: str, batch_id: int, ranges: Ranges) -> int:
    """Insert the slice's ranges (in the caller's transaction); returns how many were new (0: committed before)."""
    keys = sorted(ranges)
    rows = (
        [t for t, _ in keys], [p for _, p in keys], [ranges[k][0] for k in keys],
        [ranges[k][1] for k in keys], [ranges[k][2] for k in keys],
    )
    return len(conn.execute(_RECORD, (query_id, batch_id, *rows)).fetchall())
