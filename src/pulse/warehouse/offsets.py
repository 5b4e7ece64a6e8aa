"""The Kafka offsets the warehouse holds per consumer group (kafka_offsets): the engines' resume point."""

from __future__ import annotations

import psycopg

_STORED = "SELECT kafka_partition, next_offset FROM kafka_offsets WHERE consumer_group = %s AND topic = %s"


def stored_offsets(conn: psycopg.Connection, consumer_group: str, topic: str) -> dict[int, int]:
    """Next offset per partition recorded for the group on `topic` (partitions never committed are absent)."""
    return {int(p): int(n) for p, n in conn.execute(_STORED, (consumer_group, topic)).fetchall()}
