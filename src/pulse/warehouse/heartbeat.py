"""Engine heartbeats: each engine process upserts its row of `engine_heartbeat` (liveness for `pulse health`)."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

_BEAT = """
INSERT INTO engine_heartbeat AS h
  (engine_id, engine, host, pid, consumer_group, topic, started_at, beat_at, stopped_at, batches, status)
VALUES (%(engine_id)s, %(engine)s, %(host)s, %(pid)s, %(group)s, %(topic)s, %(started_at)s,
        clock_timestamp(), CASE WHEN %(stopped)s THEN clock_timestamp() END, %(batches)s, %(status)s)
ON CONFLICT (engine_id) DO UPDATE SET
  beat_at = EXCLUDED.beat_at, stopped_at = EXCLUDED.stopped_at, batches = GREATEST(h.batches, EXCLUDED.batches),
  status = EXCLUDED.status
"""


@dataclass(slots=True)
class EngineIdentity:
    """Who is beating: one engine process."""

    consumer_group: str
    topic: str
    engine: str = "native"
    engine_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    batches: int = 0

    def next_batch_id(self) -> str:
        """A batch id unique across engines and restarts: `<engine_id>-<n>`; it appears in logs."""
        self.batches += 1
        return f"{self.engine_id}-{self.batches}"


def beat(conn: psycopg.Connection, who: EngineIdentity, *, stopped: bool = False, status: str | None = None) -> None:
    """Upsert the heartbeat row (inside the caller's transaction, if one is open).

    `status` is None while all is well, else what holds the engine up ("retrying: ..."), at most 300 chars.
    """
    conn.execute(
        _BEAT,
        {
            "engine_id": who.engine_id, "engine": who.engine, "host": who.host, "pid": who.pid,
            "group": who.consumer_group, "topic": who.topic, "started_at": who.started_at,
            "stopped": stopped, "batches": who.batches, "status": status[:300] if status else None,
        },
    )
