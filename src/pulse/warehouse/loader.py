"""Loads one batch in ONE PostgreSQL transaction: facts (COPY), dimensions, rollup deltas, quarantine, offsets.

Every step is idempotent (ledgered event ids, ON CONFLICT, GREATEST offsets), so retrying a batch
whose commit outcome is unknown can neither lose nor double-count anything.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql

from pulse.events.model import Rejection, RejectReason, SourceRef, Stage
from pulse.model.star import CANARY_COLLECTION, FACT_COLUMNS, STAGE_COLUMNS, StarBatch
from pulse.warehouse.db import connect
from pulse.warehouse.dimensions import DimRows, KnownDimensions, upsert_dimensions
from pulse.warehouse.errors import ErrorKind, classify, refusal_detail, translate_errors
from pulse.warehouse.heartbeat import EngineIdentity, beat
from pulse.warehouse.offsets import stored_offsets
from pulse.warehouse.rollups import BATCH_DELTA, DELTA_SLOTS, bucket_of, delta_ctes, delta_partition
from pulse.warehouse.sessions import VisitRules, append_visits, visit_events

log = logging.getLogger(__name__)

# (topic, partition) -> next offset to read
Offsets = Mapping[tuple[str, int], int]
# The raw messages of a batch in Kafka order, and the pure transform that turns any run of them into rows:
# what the loader needs to isolate the messages the database refuses (see `commit_batch(isolate=...)`).
Messages = Sequence[tuple[bytes, SourceRef | None]]
Transform = Callable[[Messages], StarBatch]

_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS stage_fact
  (LIKE fact_event INCLUDING DEFAULTS, referrer_url text, browser text, os text,
   visitor text, order_currency text, order_revenue numeric, order_items int, order_issue text, page_path text)
  ON COMMIT DELETE ROWS
"""

_FACT_COLS = sql.SQL(", ").join(map(sql.Identifier, FACT_COLUMNS))

# Ledger first: only ids new to the warehouse reach the facts and the rollup deltas (warehouse/rollups.py).
# Canary events (`pulse canary`) reach the facts, never the rollups nor the freshness: no KPI counts them.
# Then the two other ledgers (migration 0012), each counted only where it is new: an order id once ever
# (fact_order: a resent checkout with a new event id adds no order), a visitor once per zone's local day and
# storefront, and once more under site_key 0 for every storefront (visitor_day). Both insert in key order,
# so writers meeting on a key wait for each other in one order. The statement returns the staged ids its
# ledger already held: the other events' visits are appended to visit_delta in the same transaction, for the
# folder to merge into the stored visits (warehouse/sessions.py).
_LOAD_FACTS_SQL = """
WITH new_ids AS (
  INSERT INTO event_ledger (event_id, event_date)
  SELECT event_id, event_date FROM stage_fact ORDER BY event_id
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
), fresh AS MATERIALIZED (
  SELECT s.*, {bucket} AS bucket
  FROM stage_fact s JOIN new_ids USING (event_id)
), facts AS (
  INSERT INTO fact_event ({cols}) SELECT {cols} FROM fresh
), counted AS NOT MATERIALIZED (
  SELECT * FROM fresh WHERE collection <> %(canary)s
), new_orders AS (
  INSERT INTO fact_order (order_id, event_id, event_time, collection, site_key, store_id, is_bot,
                          currency, revenue, items, issue, visitor)
  SELECT DISTINCT ON (order_id) order_id, event_id, event_time, collection, site_key, store_id, is_bot,
         order_currency, order_revenue, order_items, order_issue, visitor
  FROM counted WHERE order_items IS NOT NULL AND order_id IS NOT NULL
  ORDER BY order_id, event_time, event_id
  ON CONFLICT (order_id) DO NOTHING
  RETURNING *, {order_bucket} AS bucket
), new_visitors AS (
  INSERT INTO visitor_day (zone, day, site_key, visitor)
  SELECT DISTINCT z.zone, (c.event_time AT TIME ZONE z.zone)::date, s.site_key, c.visitor
  FROM counted c CROSS JOIN kpi_zone z CROSS JOIN LATERAL (VALUES (c.site_key), (0::bigint)) s (site_key)
  WHERE c.visitor IS NOT NULL
  ORDER BY 1, 2, 3, 4
  ON CONFLICT DO NOTHING
  RETURNING zone, day, site_key
), {deltas}
SELECT count(*), max(event_time) FILTER (WHERE collection <> %(canary)s),
       (SELECT array_agg(event_id) FROM stage_fact WHERE event_id NOT IN (SELECT event_id FROM new_ids))
FROM fresh
"""
# One statement per delta slot (the open generation picks it): the partitions are named, not routed to.
_LOAD_FACTS = [
    sql.SQL(_LOAD_FACTS_SQL).format(cols=_FACT_COLS, bucket=bucket_of("s", "event_time"),
                                    order_bucket=bucket_of("event_time"), deltas=delta_ctes(slot))
    for slot in range(DELTA_SLOTS)
]

# The open generation, held FOR SHARE to the commit: the folder's close waits for this batch (migration 0008).
_GENERATION = "SELECT generation FROM fold_state FOR SHARE"

_COPY_STAGE = sql.SQL("COPY stage_fact ({}) FROM STDIN").format(
    sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS))
)

_QUARANTINE = """
INSERT INTO quarantine (stage, reason, detail, raw, src_topic, src_partition, src_offset)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::bytea[], %s::text[], %s::int[], %s::bigint[])
ON CONFLICT (src_topic, src_partition, src_offset) DO NOTHING
"""

_OFFSETS = """
INSERT INTO kafka_offsets AS o (consumer_group, topic, kafka_partition, next_offset, updated_at)
SELECT %s, t, p, n, clock_timestamp() FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS x(t, p, n)
ON CONFLICT (consumer_group, topic, kafka_partition)
DO UPDATE SET next_offset = GREATEST(o.next_offset, EXCLUDED.next_offset), updated_at = EXCLUDED.updated_at
"""

# This batch's totals: a row of its own (no row shared with other writers); the folder sums them into load_totals.
_BATCH_TOTALS = [
    sql.SQL("""
INSERT INTO {} (slot, events_loaded, duplicates_skipped, quarantined, newest_event_time, committed_at)
VALUES ({}, %(loaded)s, %(duplicates)s, %(quarantined)s, %(newest)s, clock_timestamp())
""").format(sql.Identifier(delta_partition(BATCH_DELTA, slot)), sql.Literal(slot))
    for slot in range(DELTA_SLOTS)
]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one committed batch changed."""

    loaded: int
    duplicates: int
    quarantined: int
    newest_event_time: datetime | None = None  # of the facts newly loaded (metrics: freshness)
    skipped: bool = False  # the guard found the batch already committed (a Spark replay)
    # Messages the database refused, isolated by `commit_batch(isolate=...)` and quarantined instead.
    refused: tuple[Rejection, ...] = field(default_factory=tuple)


# Pieces a refused batch may be split into while isolating (breadth first): enough to single out a few
# dozen refused messages in a 5,000-message batch at a few milliseconds a piece.
ISOLATION_MAX_PIECES = 256


@dataclass(frozen=True, slots=True)
class Isolation:
    """How to find the messages of a refused batch: its raw messages and the transform that made it."""

    messages: Messages
    transform: Transform


@dataclass(slots=True)
class _Written:
    """What the data part of a batch (dimensions, partitions, facts) wrote inside the transaction."""

    loaded: int = 0
    offered: int = 0  # fact rows offered to the ledger (new or not)
    duplicates_in_batch: int = 0
    newest: datetime | None = None
    dims: list[DimRows] = field(default_factory=list)
    days: list[object] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    refused: list[Rejection] = field(default_factory=list)

    def add(self, other: _Written) -> None:
        self.loaded += other.loaded
        self.offered += other.offered
        self.duplicates_in_batch += other.duplicates_in_batch
        if other.newest is not None and (self.newest is None or other.newest > self.newest):
            self.newest = other.newest
        self.dims += other.dims
        self.days += other.days
        self.rejections += other.rejections
        self.refused += other.refused


class WarehouseLoader:
    """A connection to the warehouse that commits whole batches (engines own one each)."""

    def __init__(
        self, url: str, consumer_group: str, identity: EngineIdentity | None = None, kpi_zone: str | None = None,
        *, statement_timeout_s: float | None = None, url_setting: str = "PULSE_DATABASE_URL",
        visit_rules: VisitRules | None = None,
    ) -> None:
        self._visit_rules = visit_rules or VisitRules()
        self._url = url
        self._url_setting = url_setting  # the variable `url` came from: a refused login names it
        # A statement waiting on a lock held elsewhere is cancelled (57014, transient) instead of hanging unseen.
        self._statement_timeout_ms = int(statement_timeout_s * 1000) if statement_timeout_s else None
        self.identity = identity  # when set, every batch transaction also beats the engine's heartbeat
        # The engine's idle heartbeat (committer thread) may meet an offsets read (consumer thread).
        self._use = threading.Lock()
        self._group = consumer_group
        self._kpi_zone = kpi_zone  # the zone whose local-day rollups this loader makes sure exist
        self._conn: psycopg.Connection | None = None
        # Dimension rows known to be committed: skipped on later batches (keys are deterministic).
        self._known_dims = KnownDimensions()
        self._known_days: set[object] = set()

    # ------------------------------------------------------------------ connection
    def connection(self) -> psycopg.Connection:
        """The open connection, reconnecting if needed (raises TransientError/TerminalError)."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self._url, setting=self._url_setting)
            with self._conn.transaction():
                self._conn.execute(_STAGE_DDL)
                if self._statement_timeout_ms:
                    self._conn.execute("SELECT set_config('statement_timeout', %s, false)",
                                       (str(self._statement_timeout_ms),))
            if self._kpi_zone:
                with translate_errors(), self._conn.transaction():
                    self._conn.execute("SELECT pulse_add_kpi_zone(%s)", (self._kpi_zone,))
        return self._conn

    def close(self) -> None:
        """Close the connection (a batch in flight is rolled back by PostgreSQL)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ reads
    def stored_offsets(self, topic: str) -> dict[int, int]:
        """Next offset per partition recorded by this consumer group (resume point)."""
        with self._use, translate_errors():
            conn = self.connection()
            with conn.transaction():
                return stored_offsets(conn, self._group, topic)

    def heartbeat(self, *, stopped: bool = False, status: str | None = None) -> None:
        """Beat the engine's heartbeat in a transaction of its own (start, idle, retrying, stop).

        `status` says what the engine is doing when it is not simply running ("retrying: why").
        """
        if self.identity is None:
            return
        with self._use, translate_errors():
            conn = self.connection()
            with conn.transaction():
                beat(conn, self.identity, stopped=stopped, status=status)

    # ------------------------------------------------------------------ the batch
    def commit_batch(
        self,
        batch: StarBatch,
        offsets: Offsets,
        *,
        guard: Callable[[psycopg.Connection], bool] | None = None,
        isolate: Isolation | None = None,
    ) -> BatchResult:
        """Write everything of one batch and the offsets it consumed, atomically.

        `guard` runs first inside the transaction (the Spark engine records its batch ledger there);
        when it returns False the batch was committed before and nothing is written.

        With `isolate`, a batch the database refuses as data (a value too large for an index, a
        constraint) is bisected inside the same transaction, each half under a savepoint and
        transformed again from its raw messages, until the refused messages stand alone; those are
        quarantined (`load_failed`, with PostgreSQL's SQLSTATE and message) and every other message
        loads. Still one transaction: the offsets and the guard's ledger row commit with all of it.
        Without `isolate`, a refused batch raises DataRejectedError.
        """
        with self._use, translate_errors():
            conn = self.connection()
            with conn.transaction():
                if guard is not None and not guard(conn):
                    return BatchResult(loaded=0, duplicates=0, quarantined=0, skipped=True)
                generation = conn.execute(_GENERATION).fetchone()
                slot = int(generation[0]) % DELTA_SLOTS if generation else 0
                if isolate is None:
                    written = self._write(conn, batch, slot, clear_stage=False)
                else:
                    written = self._write_isolating(conn, list(isolate.messages), batch, isolate.transform, slot)
                quarantined = self._quarantine(conn, written.rejections + written.refused)
                if offsets:
                    keys = sorted(offsets)
                    conn.execute(
                        _OFFSETS,
                        (self._group, [t for t, _ in keys], [p for _, p in keys], [offsets[k] for k in keys]),
                    )
                duplicates = written.offered - written.loaded + written.duplicates_in_batch
                conn.execute(
                    _BATCH_TOTALS[slot],
                    {"loaded": written.loaded, "duplicates": duplicates, "quarantined": quarantined,
                     "newest": written.newest},
                )
                if self.identity is not None:
                    beat(conn, self.identity)
        for pending in written.dims:
            self._known_dims.remember(pending)
        self._known_days.update(written.days)
        return BatchResult(
            loaded=written.loaded, duplicates=duplicates, quarantined=quarantined, newest_event_time=written.newest,
            refused=tuple(written.refused),
        )

    def _write(self, conn: psycopg.Connection, batch: StarBatch, slot: int, *, clear_stage: bool) -> _Written:
        """Partitions, dimensions and facts (with their rollups) of one batch, in the open transaction."""
        pending = self._known_dims.pending(batch)
        days = sorted({row[1] for row in batch.facts} - self._known_days)  # type: ignore[type-var]
        if days:
            conn.execute("SELECT pulse_ensure_fact_partitions(%s::date[])", (days,))
        upsert_dimensions(conn, pending)
        loaded, newest = 0, None
        if batch.facts:
            if clear_stage:
                conn.execute("TRUNCATE stage_fact")  # an earlier piece of this transaction staged rows
            with conn.cursor().copy(_COPY_STAGE) as copy:
                for row in batch.facts:
                    copy.write_row(row)
            loaded, newest, known = conn.execute(  # type: ignore[misc]
                _LOAD_FACTS[slot], {"canary": CANARY_COLLECTION}
            ).fetchone()
            append_visits(conn, slot, self._visit_rules.gap, visit_events(batch.facts, set(known or ())))
        return _Written(
            loaded=loaded, offered=len(batch.facts), duplicates_in_batch=batch.duplicates_in_batch, newest=newest,
            dims=[pending], days=list(days), rejections=list(batch.rejections),
        )

    def _write_isolating(
        self, conn: psycopg.Connection, messages: list[tuple[bytes, SourceRef | None]], batch: StarBatch,
        transform: Transform, slot: int,
    ) -> _Written:
        """`_write` per piece under a savepoint; a refused piece is halved (breadth first), down to one message.

        At most ISOLATION_MAX_PIECES pieces are tried: a batch the database refuses almost everywhere (a
        systematic problem, not one bad message) then has its remaining refused pieces quarantined whole,
        so isolation never holds the stream up for minutes.
        """
        written = _Written()
        queue: deque[tuple[list[tuple[bytes, SourceRef | None]], StarBatch]] = deque([(messages, batch)])
        tried = 0
        while queue:
            piece, rows = queue.popleft()
            tried += 1
            try:
                with conn.transaction():  # a savepoint: a refused piece leaves no trace
                    written.add(self._write(conn, rows, slot, clear_stage=True))
                continue
            except (psycopg.Error, UnicodeError) as exc:
                if classify(exc) is not ErrorKind.data:
                    raise
                detail = refusal_detail(exc)
            if len(piece) > 1 and tried + len(queue) + 2 <= ISOLATION_MAX_PIECES:
                half = len(piece) // 2
                queue.extend((part, transform(part)) for part in (piece[:half], piece[half:]))
                continue
            if len(piece) > 1:
                detail = f"{detail[:380]} (in a piece of {len(piece)} messages: too many refusals to isolate singly)"
            log.warning("quarantining %d message(s) the database refused: %s", len(piece), detail)
            already = {r.source for r in rows.rejections}  # the transform's own rejections keep their reason
            written.rejections += rows.rejections
            written.refused += [Rejection(Stage.LOAD, RejectReason.LOAD_FAILED, detail, raw, src)
                                for raw, src in piece if src not in already]
        return written

    def _quarantine(self, conn: psycopg.Connection, rej: list[Rejection]) -> int:
        if not rej:
            return 0
        cur = conn.execute(
            _QUARANTINE,
            (
                [str(r.stage) for r in rej],
                [str(r.reason) for r in rej],
                [r.detail.replace("\x00", "\\0") for r in rej],
                [r.raw for r in rej],
                [r.source.topic if r.source else None for r in rej],
                [r.source.partition if r.source else None for r in rej],
                [r.source.offset if r.source else None for r in rej],
            ),
        )
        return cur.rowcount


