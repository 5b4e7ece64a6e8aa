"""Visits on the delta path: a batch appends its own visits, the folder merges them into the stored ones.

1. In the batch transaction (`append_visits`): the batch's events that are new to the warehouse and have a
   visitor, joined per visitor where at most one gap apart (model/sessions.py), are appended to the
   `visit_delta` partition of the open slot, like every other delta: a plain append, no lock, nothing another
   writer touches.
2. In the fold transaction of that slot (`fold_visits`, run by the one folder before the rollup folds):
   - a batch visit that ended more than PULSE_SESSION_LATENESS_MINUTES before its visitor's newest stored
     visit is LATE: its events still load and count as views, visitors and orders, but re-shape no visit; they
     are counted per storefront and day as `late_events`;
   - the others are re-sessionized with the stored visits within one gap of them: a late event that bridges
     two visits merges them, one between them extends one or stands alone; the visits that changed are
     deleted and what they became inserted;
   - the change goes to the visit rollups' delta partitions of the slot, which the rollup folds that follow
     sum: -1 visit (and its bounce, duration, page views, funnel steps) for each visit removed, +1 for each
     written, on the local day of its start in every zone of kpi_zone (a merge of two visits is -2 +1).
Exactly once: the facts' ledger admits each event once, the fold of a slot commits or rolls back whole, and
only the folder (one at a time, FOLDER_LOCK) writes `visit`, so no two writers can race on a visitor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from pulse.model.sessions import Visit, VisitEvent, sessionize, visits_of_events
from pulse.model.star import CANARY_COLLECTION, STAGE_COLUMNS, Row
from pulse.warehouse.rollups import (
    CAMPAIGN_ORDER_DAY,
    DELTA_SLOTS,
    VISIT_DAY,
    VISIT_DELTA,
    VISIT_LATE_DAY,
    Rollup,
    delta_partition,
)

if TYPE_CHECKING:
    from pulse.settings import Settings

# The columns of a visit row, in the order of the `visit` table's INSERT and of `Visit`'s fields.
VISIT_COLUMNS = (
    "visitor", "started_at", "ended_at", "events", "page_views", "entry_path", "exit_path", "site_key",
    "device_type_key", "referrer_key", "utm_source", "utm_medium", "utm_campaign", "first_product_view", "carts",
    "checkouts", "successes",
)
_NEWEST = "SELECT visitor, max(ended_at) FROM visit WHERE visitor = ANY(%s) GROUP BY 1"
_WINDOW = sql.SQL("""
SELECT {columns} FROM visit v JOIN unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS w (who, lo, hi)
  ON v.visitor = w.who AND v.ended_at >= w.lo AND v.started_at <= w.hi
""").format(columns=sql.SQL(", ").join(sql.Identifier("v", c) for c in VISIT_COLUMNS))
# The orders of visits: those whose first checkout_success event is one of the visit's (visitor, success time).
_ORDERS = """
SELECT o.visitor, o.event_time, CASE WHEN o.issue IS NULL THEN o.currency ELSE '' END, coalesce(o.revenue, 0)
FROM fact_order o JOIN unnest(%s::text[], %s::timestamptz[]) AS s (who, at)
  ON o.visitor = s.who AND o.event_time = s.at
"""
_DELETE = """
DELETE FROM visit v USING unnest(%s::text[], %s::timestamptz[]) AS gone (who, started)
WHERE v.visitor = gone.who AND v.started_at = gone.started
"""
_INSERT = sql.SQL("COPY visit ({}, funnel_step) FROM STDIN").format(
    sql.SQL(", ").join(map(sql.Identifier, VISIT_COLUMNS)))
_APPEND = [sql.SQL("COPY {} (slot, {}) FROM STDIN").format(
    sql.Identifier(delta_partition(VISIT_DELTA, slot)), sql.SQL(", ").join(map(sql.Identifier, VISIT_COLUMNS)))
    for slot in range(DELTA_SLOTS)]
_PARTIALS = [sql.SQL("SELECT {} FROM {} ORDER BY visitor, started_at").format(
    sql.SQL(", ").join(map(sql.Identifier, VISIT_COLUMNS)), sql.Identifier(delta_partition(VISIT_DELTA, slot)))
    for slot in range(DELTA_SLOTS)]


@dataclass(frozen=True, slots=True)
class VisitRules:
    """How visits are cut: the idle gap that ends one, and how late an event may come and still join one."""

    gap: timedelta = timedelta(minutes=30)
    lateness: timedelta = timedelta(minutes=120)

    @classmethod
    def from_settings(cls, settings: Settings) -> VisitRules:
        """PULSE_SESSION_GAP_MINUTES and PULSE_SESSION_LATENESS_MINUTES."""
        return cls(gap=timedelta(minutes=settings.session_gap_minutes),
                   lateness=timedelta(minutes=settings.session_lateness_minutes))


@dataclass(frozen=True, slots=True)
class VisitChange:
    """What one batch did to the visits."""

    removed: int = 0
    written: int = 0
    late: int = 0


def append_visits(conn: psycopg.Connection, slot: int, gap: timedelta, staged: dict[str, list[VisitEvent]]) -> int:
    """Step 1: the batch's visits (`staged`: its new visitor events per visitor) into the slot's visit_delta."""
    count = 0
    if staged:
        with conn.cursor().copy(_APPEND[slot]) as copy:
            for visitor, rows in staged.items():
                for visit in visits_of_events(visitor, rows, gap):
                    copy.write_row((slot, *_row(visit)))
                    count += 1
    return count


def fold_visits(conn: psycopg.Connection, slot: int, rules: VisitRules) -> VisitChange:
    """Step 2, in the folder's transaction for `slot`, before the rollup folds."""
    partials: dict[str, list[Visit]] = defaultdict(list)
    for found in conn.execute(_PARTIALS[slot]).fetchall():
        partials[found[0]].append(_visit(found))  # type: ignore[index]
    if not partials:
        return VisitChange()
    visitors = sorted(partials)
    newest: dict[str, datetime] = dict(conn.execute(_NEWEST, (visitors,)).fetchall())  # type: ignore[arg-type]
    late: dict[tuple[int, datetime], int] = defaultdict(int)  # (site_key, start) -> late events
    events: dict[str, list[Visit]] = {}
    for visitor, visits in partials.items():
        bound = newest.get(visitor)
        if bound is not None:
            limit = bound - rules.lateness
            for visit in visits:
                if visit.ended_at < limit:
                    late[(visit.site_key, visit.started_at)] += visit.events
            visits = [visit for visit in visits if visit.ended_at >= limit]
        if visits:
            events[visitor] = sessionize(visits, rules.gap)
    stored: dict[str, list[Visit]] = defaultdict(list)
    if events:
        who = sorted(events)
        low = [events[w][0].started_at - rules.gap for w in who]
        high = [events[w][-1].ended_at + rules.gap for w in who]
        for found in conn.execute(_WINDOW, (who, low, high)).fetchall():
            stored[found[0]].append(_visit(found))  # type: ignore[index]
    removed: list[Visit] = []
    written: list[Visit] = []
    for visitor, new in events.items():
        before = stored.get(visitor, [])
        after = sessionize([*before, *new], rules.gap) if before else new
        if not before:
            written += after
            continue
        kept_before, kept_after = set(before), set(after)
        removed += [v for v in before if v not in kept_after]
        written += [v for v in after if v not in kept_before]
    if removed:
        conn.execute(_DELETE, ([v.visitor for v in removed], [v.started_at for v in removed]))
    if written:
        with conn.cursor().copy(_INSERT) as copy:
            for visit in written:
                copy.write_row((*_row(visit), visit.funnel_step))
    zones = [zone for (zone,) in conn.execute("SELECT zone FROM kpi_zone ORDER BY zone").fetchall()]
    _append_deltas(conn, slot, zones, removed, written, late)
    _append_order_deltas(conn, slot, zones, removed, written)
    return VisitChange(removed=len(removed), written=len(written), late=sum(late.values()))


_AT = {name: STAGE_COLUMNS.index(name) for name in (
    "event_id", "collection", "visitor", "event_time", "page_path", "site_key", "device_type_key", "referrer_key",
    "utm_source", "utm_medium", "utm_campaign")}


def visit_events(facts: list[Row], known: set[object]) -> dict[str, list[VisitEvent]]:
    """The staged fact rows' visitor events per visitor: not canaries, not ids the ledger already held."""
    at = _AT
    visitor_at, id_at, collection_at = at["visitor"], at["event_id"], at["collection"]
    fields = itemgetter(at["event_time"], at["collection"], at["page_path"], at["site_key"], at["device_type_key"],
                        at["referrer_key"], at["utm_source"], at["utm_medium"], at["utm_campaign"])
    staged: dict[str, list[VisitEvent]] = defaultdict(list)
    for row in facts:
        visitor = row[visitor_at]
        if visitor is None or row[collection_at] == CANARY_COLLECTION or (known and row[id_at] in known):
            continue
        staged[visitor].append(fields(row))  # type: ignore[index]
    return staged


def _visit(row: tuple[object, ...]) -> Visit:
    """A visit from its row in VISIT_COLUMNS order (positional: the fold reads every batch visit of a slot)."""
    carts, checkouts, successes = row[14:17]
    return Visit(*row[:14], tuple(carts or ()), tuple(checkouts or ()), tuple(successes or ()))  # type: ignore[arg-type, call-arg]


def _row(v: Visit) -> tuple[object, ...]:
    """The visit's COPY row in VISIT_COLUMNS order (spelled out: this runs for every visit a batch writes). The
    funnel times go as array literals: mostly empty, and psycopg's list dumper was a tenth of a batch's time."""
    return (v.visitor, v.started_at, v.ended_at, v.events, v.page_views, v.entry_path, v.exit_path, v.site_key,
            v.device_type_key, v.referrer_key, v.utm_source, v.utm_medium, v.utm_campaign, v.first_product_view,
            _times(v.carts), _times(v.checkouts), _times(v.successes))


def _times(times: tuple[datetime, ...]) -> str:
    """A timestamptz[] literal: ISO 8601 times hold no character an array literal would need to quote."""
    return "{" + ",".join(moment.isoformat() for moment in times) + "}" if times else "{}"


def _append_deltas(
    conn: psycopg.Connection, slot: int, zones: list[str], removed: Iterable[Visit], written: Iterable[Visit],
    late: dict[tuple[int, datetime], int],
) -> None:
    """The visit rollups' deltas: each removed visit subtracted, each written one added, per zone's local day."""
    totals: dict[tuple[object, ...], list[float]] = defaultdict(lambda: [0] * 8)
    for sign, visits in ((-1, removed), (1, written)):
        for visit in visits:
            step = visit.funnel_step
            measures = (1, int(visit.bounced), visit.duration_s, visit.page_views,
                        int(step >= 1), int(step >= 2), int(step >= 3), int(step >= 4))
            for zone in zones:
                row = totals[_landing(visit, zone)]
                for index, value in enumerate(measures):
                    row[index] += sign * value
    changed = [(*key, *values) for key, values in sorted(totals.items()) if any(values)]
    if changed:
        _copy_deltas(conn, VISIT_DAY, slot, changed)
    late_rows: dict[tuple[object, ...], int] = defaultdict(int)
    for (site_key, at), count in late.items():
        for zone in zones:
            late_rows[(zone, at.astimezone(ZoneInfo(zone)).date(), site_key)] += count
    if late_rows:
        _copy_deltas(conn, VISIT_LATE_DAY, slot, [(*key, n) for key, n in sorted(late_rows.items())])


def _append_order_deltas(
    conn: psycopg.Connection, slot: int, zones: list[str], removed: list[Visit], written: list[Visit]
) -> None:
    """The campaign order rollup's deltas: the orders of each removed visit subtracted, of each written added.

    An order is matched by its visitor and the time of its first checkout_success event, which is one of the
    visit's success times (model/sessions.py keeps MAX_STEP_TIMES of them): a late order event that re-shapes
    a visit is not in the old shape's times, so it is never subtracted before it was added."""
    pairs = sorted({(v.visitor, at) for v in (*removed, *written) for at in v.successes})
    if not pairs:
        return
    orders: dict[tuple[str, datetime], list[tuple[str, Decimal]]] = defaultdict(list)
    for visitor, at, currency, amount in conn.execute(_ORDERS, ([p[0] for p in pairs], [p[1] for p in pairs])):
        orders[(visitor, at)].append((currency, amount))
    totals: dict[tuple[object, ...], list[object]] = defaultdict(lambda: [0, Decimal(0)])
    for sign, visits in ((-1, removed), (1, written)):
        for visit in visits:
            found = [order for at in set(visit.successes) for order in orders.get((visit.visitor, at), ())]
            for zone in zones:
                landing = _landing(visit, zone)
                for currency, amount in found:
                    row = totals[(*landing, currency)]
                    row[0] += sign  # type: ignore[operator]
                    row[1] += sign * amount  # type: ignore[operator]
    changed = [(*key, *values) for key, values in sorted(totals.items()) if any(values)]
    if changed:
        _copy_deltas(conn, CAMPAIGN_ORDER_DAY, slot, changed)


def _landing(visit: Visit, zone: str) -> tuple[object, ...]:
    """The visit rollups' key of a visit in `zone`: the local day of its start, storefront, landing source."""
    return (zone, visit.started_at.astimezone(ZoneInfo(zone)).date(), visit.site_key, visit.referrer_key or 0,
            visit.utm_source or "", visit.utm_medium or "", visit.utm_campaign or "")


def _copy_deltas(conn: psycopg.Connection, rollup: Rollup, slot: int, rows: list[tuple[object, ...]]) -> None:
    """Rows of (key columns, measures) into the rollup's delta partition of `slot`."""
    _copy(conn, rollup.delta_table, slot, rollup.columns + tuple(m.column for m in rollup.measures), rows)


def _copy(conn: psycopg.Connection, table: str, slot: int, columns: tuple[str, ...], rows: list[tuple[object, ...]]
          ) -> None:
    statement = sql.SQL("COPY {} (slot, {}) FROM STDIN").format(
        sql.Identifier(delta_partition(table, slot)), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row((slot, *row))
