"""The folder: moves the rollup deltas the batches append (migration 0008) into the rollups, exactly once.

One fold is two short transactions:
1. CLOSE the open generation: `UPDATE fold_state SET generation = generation + 1`. The update waits for every
   batch still holding the old generation (FOR SHARE), so once it commits nothing more reaches the closed slot.
   It waits at most CLOSE_LOCK_TIMEOUT; a batch stuck longer only postpones the fold to the next tick.
2. FOLD the closed slot: sum its deltas into the 15-minute rollups and every zone's day and hour rollups, its
   batch totals into load_totals, TRUNCATE its partitions and advance fold_progress, all in one transaction.

A kill -9 between or inside them loses nothing and folds nothing twice: a closed slot is folded by the next
fold of any folder. Only one folder works at a time (an advisory lock); a second one simply finds nothing to do.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from pulse.errors import PulseError
from pulse.warehouse.db import connect
from pulse.warehouse.errors import translate_errors
from pulse.warehouse.rollups import BATCH_DELTA, DELTA_SLOTS, delta_partition, delta_partitions, fold_statements
from pulse.warehouse.sessions import VisitRules, fold_visits

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the folder ("pulse fold" in ASCII): one folder at a time.
FOLDER_LOCK = 0x70756C7365_666F
CLOSE_LOCK_TIMEOUT = "2s"

_CLOSE = """
UPDATE fold_state SET generation = generation + 1, closed_at = clock_timestamp()
WHERE generation = %s
RETURNING generation - 1, closed_at
"""

_PROGRESS = """
SELECT p.folded_generation, s.generation, s.closed_at
FROM fold_progress p CROSS JOIN fold_state s FOR UPDATE OF p
"""

_FOLD_TOTALS = [
    sql.SQL("""
UPDATE load_totals t SET
  events_loaded = t.events_loaded + d.loaded,
  duplicates_skipped = t.duplicates_skipped + d.duplicates,
  quarantined = t.quarantined + d.quarantined,
  batches = t.batches + d.batches,
  newest_event_time = GREATEST(t.newest_event_time, d.newest),
  last_commit_at = GREATEST(t.last_commit_at, d.committed)
FROM (SELECT coalesce(sum(events_loaded), 0) AS loaded, coalesce(sum(duplicates_skipped), 0) AS duplicates,
             coalesce(sum(quarantined), 0) AS quarantined, count(*) AS batches,
             max(newest_event_time) AS newest, max(committed_at) AS committed FROM {}) d
RETURNING d.batches
""").format(sql.Identifier(delta_partition(BATCH_DELTA, slot)))
    for slot in range(DELTA_SLOTS)
]
_TRUNCATE = [
    sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, delta_partitions(slot))))
    for slot in range(DELTA_SLOTS)
]
_FOLD = [fold_statements(slot) for slot in range(DELTA_SLOTS)]


@dataclass(frozen=True, slots=True)
class Fold:
    """What one fold did."""

    generations: int  # closed generations folded (0: another folder had the lock, or nothing was closed)
    batches: int  # batch transactions whose deltas were folded
    seconds: float
    folded_through: datetime | None  # every batch committed before this time is in the rollups


class FoldError(PulseError):
    """The fold state is not what the folder expects (a migration missing or edited by hand)."""


def fold_once(conn: psycopg.Connection, visit_rules: VisitRules | None = None) -> Fold:
    """Close the open generation and fold every closed one (a non-autocommit connection, idle): the batches'
    visits merged into the stored ones first (warehouse/sessions.py), then every rollup and the totals."""
    started = time.monotonic()
    with conn.transaction():
        if not _locked(conn):
            return Fold(0, 0, time.monotonic() - started, None)
        folded, generation, _closed_at = _progress(conn)
    if folded == generation - 1:  # nothing closed is left unfolded: close the open generation
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(CLOSE_LOCK_TIMEOUT)))
            if _locked(conn):
                conn.execute(_CLOSE, (generation,))
    with conn.transaction():
        if not _locked(conn):
            return Fold(0, 0, time.monotonic() - started, None)
        folded, generation, closed_at = _progress(conn)
        closed = list(range(folded + 1, generation))
        if len(closed) >= DELTA_SLOTS:
            raise FoldError(f"{len(closed)} generations are closed and unfolded, more than the {DELTA_SLOTS - 1}"
                            " slots can hold: check fold_state and fold_progress")
        batches = 0
        for gen in closed:
            slot = gen % DELTA_SLOTS
            fold_visits(conn, slot, visit_rules or VisitRules())
            for statement in _FOLD[slot]:
                conn.execute(statement)
            row = conn.execute(_FOLD_TOTALS[slot]).fetchone()
            batches += int(row[0]) if row else 0
            conn.execute(_TRUNCATE[slot])
        if closed:
            conn.execute(
                "UPDATE fold_progress SET folded_generation = %s, folded_through = %s, folded_at = clock_timestamp(),"
                " folded_batches = folded_batches + %s",
                (generation - 1, closed_at, batches),
            )
    return Fold(len(closed), batches, time.monotonic() - started, closed_at if closed else None)


def _locked(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (FOLDER_LOCK,)).fetchone()
    return bool(row and row[0])


def _progress(conn: psycopg.Connection) -> tuple[int, int, datetime | None]:
    row = conn.execute(_PROGRESS).fetchone()
    if row is None:
        raise FoldError("fold_state or fold_progress has no row: run `pulse migrate`")
    return int(row[0]), int(row[1]), row[2]


def folded_since(conn: psycopg.Connection, moment: datetime) -> bool:
    """True when every batch committed before `moment` (a database clock reading) is in the rollups."""
    row = conn.execute("SELECT folded_through >= %s FROM fold_progress", (moment,)).fetchone()
    return bool(row and row[0])


def database_now(conn: psycopg.Connection) -> datetime:
    """The database's clock (the one commit and fold times are read by)."""
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    if row is None:
        raise FoldError("the database returned no time")
    return row[0]  # type: ignore[no-any-return]


def rollups_through(conn: psycopg.Connection) -> datetime | None:
    """Every batch committed before this time is in the rollups (the KPIs' `as_of.rollups_through`)."""
    row = conn.execute("SELECT folded_through FROM fold_progress").fetchone()
    return row[0] if row else None


class Folder:
    """A connection that folds on request, reconnecting after a failure (TransientError is the caller's to retry)."""

    def __init__(self, url: str, *, url_setting: str = "PULSE_DATABASE_URL", statement_timeout_s: float = 60.0,
                 visit_rules: VisitRules | None = None):
        self._url, self._url_setting = url, url_setting
        self._visit_rules = visit_rules or VisitRules()
        self._statement_timeout_ms = int(statement_timeout_s * 1000)
        self._conn: psycopg.Connection | None = None

    def fold(self) -> Fold:
        """One fold (see `fold_once`); database errors come as TransientError or TerminalError."""
        with translate_errors():
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = connect(self._url, setting=self._url_setting, application_name="pulse-folder")
                self._conn.execute("SELECT set_config('statement_timeout', %s, false)",
                                   (str(self._statement_timeout_ms),))
                self._conn.commit()
            try:
                return fold_once(self._conn, self._visit_rules)
            except Exception:
                self.close()
                raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class FolderLoop:
    """Folds every `interval_s` until a stop is set, then once more; a failure is logged and retried next tick."""

    def __init__(
        self, folder: Folder, interval_s: float, on_fold: Callable[[Fold], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self._folder, self._interval_s = folder, interval_s
        self._on_fold, self._on_error = on_fold, on_error

    def run(self, stop: threading.Event) -> None:
        """Fold until `stop` is set; the last fold after it leaves every committed batch in the rollups."""
        self.run_until(stop.wait)

    def run_until(self, wait: Callable[[float], bool]) -> None:
        """Fold every interval until `wait(interval)` returns True (a stop), then once more."""
        try:
            while not wait(self._interval_s):
                self.tick()
            self.tick()
        finally:
            self._folder.close()

    def run_until_signalled(self) -> None:
        """`run` in this (main) thread until SIGTERM or Ctrl-C (`pulse fold`)."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        self.run(stop)

    def tick(self) -> Fold | None:
        """One fold, its failure logged (and handed to `on_error`) instead of raised."""
        try:
            done = self._folder.fold()
        except Exception as exc:  # noqa: BLE001 - the next tick tries again; the metrics show it
            log.warning("could not fold the rollup deltas (retried next tick): %s", exc)
            if self._on_error is not None:
                self._on_error(exc)
            return None
        if self._on_fold is not None:
            self._on_fold(done)
        return done
