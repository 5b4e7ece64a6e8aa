"""Warehouse upkeep (pulse maintain): create the coming days' fact partitions, apply retention.

Each step runs in its own short transaction, so the engine is never blocked for long: dropping a
partition needs a brief exclusive lock on fact_event (waited for at most `LOCK_TIMEOUT`, then retried);
the row deletes take ordinary row locks. Runs with the owner connection (DDL rights).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types.json import Jsonb

from pulse.errors import TerminalError, TransientError

log = logging.getLogger(__name__)

LOCK_TIMEOUT = "5s"
DROP_ATTEMPTS = 4

# Tables with a 15-minute `bucket` column whose name starts with rollup_ (found in the catalog, so a
# rollup added by a later migration is pruned too); not the delta tables, which the folder empties every tick.
_ROLLUP_TABLES = """
SELECT c.table_name FROM information_schema.columns c
JOIN information_schema.tables t USING (table_schema, table_name)
WHERE c.table_schema = current_schema() AND c.column_name = 'bucket' AND t.table_type = 'BASE TABLE'
  AND c.table_name LIKE 'rollup\\_%' AND c.table_name NOT LIKE '%\\_delta%' ORDER BY 1
"""


@dataclass(frozen=True, slots=True)
class MaintenancePolicy:
    """How far ahead partitions exist and how long data stays."""

    days_ahead: int
    retention_days: int
    quarantine_retention_days: int

    def __post_init__(self) -> None:
        if self.days_ahead < 0 or self.retention_days < 1 or self.quarantine_retention_days < 1:
            raise TerminalError("days ahead must be >= 0 and retention days >= 1")


@dataclass(slots=True)
class MaintenanceReport:
    """What one run did (or, with dry_run, would do)."""

    today: date
    cutoff: date  # data of days before this one is removed
    quarantine_cutoff: date
    dry_run: bool
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)  # table -> rows

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (dates as ISO strings)."""
        doc = asdict(self)
        for key in ("today", "cutoff", "quarantine_cutoff"):
            doc[key] = doc[key].isoformat()
        return doc


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def maintain(
    conn: psycopg.Connection, policy: MaintenancePolicy, *, dry_run: bool = False, today: date | None = None
) -> MaintenanceReport:
    """Create missing partitions for today .. today+days_ahead and remove data older than retention."""
    conn.autocommit = True
    today = today or datetime.now(UTC).date()
    report = MaintenanceReport(
        today=today,
        cutoff=today - timedelta(days=policy.retention_days),
        quarantine_cutoff=today - timedelta(days=policy.quarantine_retention_days),
        dry_run=dry_run,
    )
    try:
        _create_partitions(conn, report, [today + timedelta(days=n) for n in range(policy.days_ahead + 1)])
        _drop_partitions(conn, report)
        cutoff_ts = _midnight(report.cutoff)
        _delete(conn, report, "event_ledger", "event_date", report.cutoff)
        _delete(conn, report, "visitor_day", "day", report.cutoff)
        _delete(conn, report, "fact_order", "event_time", cutoff_ts)
        _delete(conn, report, "visit", "started_at", cutoff_ts)
        for (table,) in conn.execute(_ROLLUP_TABLES).fetchall():
            _delete(conn, report, table, "bucket", cutoff_ts)
        _delete(conn, report, "quarantine", "quarantined_at", _midnight(report.quarantine_cutoff))
        if not dry_run:
            conn.execute(
                "INSERT INTO maintenance_runs (cutoff_date, created, dropped, deleted) VALUES (%s, %s, %s, %s)",
                (report.cutoff, report.created, report.dropped, Jsonb(report.deleted)),
            )
    except pg_errors.InsufficientPrivilege as exc:
        raise TerminalError(
            f"pulse maintain needs the owner connection (PULSE_DATABASE_URL): {str(exc).strip()}"
        ) from None
    except pg_errors.UndefinedTable as exc:
        raise TerminalError(f"warehouse schema missing or old ({str(exc).strip()}); run `pulse migrate`") from None
    except psycopg.OperationalError as exc:
        raise TransientError(f"PostgreSQL: {str(exc).strip()}") from None
    log.info("maintenance %s: %s", "planned" if dry_run else "done", report.as_dict())
    return report


def _create_partitions(conn: psycopg.Connection, report: MaintenanceReport, days: list[date]) -> None:
    existing = {row[0] for row in conn.execute("SELECT day FROM fact_partitions WHERE day IS NOT NULL")}
    missing = [d for d in days if d not in existing]
    if missing and not report.dry_run:
        conn.execute("SELECT pulse_ensure_fact_partitions(%s::date[])", (missing,))
    report.created = [f"fact_event_{d:%Y%m%d}" for d in missing]


def _drop_partitions(conn: psycopg.Connection, report: MaintenanceReport) -> None:
    old = conn.execute(
        "SELECT partition_name FROM fact_partitions WHERE day_after <= %s ORDER BY day", (report.cutoff,)
    ).fetchall()
    for (name,) in old:
        if not report.dry_run:
            _drop_with_retries(conn, name)
        report.dropped.append(name)


def _drop_with_retries(conn: psycopg.Connection, name: str) -> None:
    """DROP one partition; give way to the engine's batches when the lock is not free at once."""
    for attempt in range(1, DROP_ATTEMPTS + 1):
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            return
        except pg_errors.LockNotAvailable:
            if attempt == DROP_ATTEMPTS:
                raise TransientError(f"could not lock fact_event to drop {name}: try again later") from None
            log.warning("fact_event busy, retrying the drop of %s (attempt %d)", name, attempt)
            time.sleep(2.0 * attempt)


def _delete(conn: psycopg.Connection, report: MaintenanceReport, table: str, column: str, before: object) -> None:
    where = sql.SQL("{} < %s").format(sql.Identifier(column))
    if report.dry_run:
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(table), where)
        report.deleted[table] = int(conn.execute(query, (before,)).fetchone()[0])  # type: ignore[index]
        return
    query = sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(table), where)
    report.deleted[table] = conn.execute(query, (before,)).rowcount
