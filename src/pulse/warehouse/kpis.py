"""The six business KPIs and the load statistics, read from the rollup tables.

Semantics (documented in the README): a view is an event whose collection is in the configured view
set (default `view_product_detail`); bots are excluded unless asked; "today" is the calendar date in
a named IANA time zone, and its bounds are computed with zoneinfo, so DST days have 23 or 25 hours;
ties order by the grouping key ascending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import sql

from pulse.errors import BadRequestError, quoted
from pulse.warehouse import conversion, rollups
from pulse.warehouse.conversion import CONVERSION_KPI_NAMES
from pulse.warehouse.dead_letters import dead_letter_counts
from pulse.warehouse.replay import replay_counts
from pulse.warehouse.rollups import Grain, Rollup

if TYPE_CHECKING:
    from pulse.settings import Settings

# The six view KPIs of the spec, then the conversion KPIs (warehouse/conversion.py).
VIEW_KPI_NAMES = (
    "top-products", "top-countries", "top-referrers", "stores-by-country", "product-hourly",
    "browser-os-hourly",
)
KPI_NAMES = VIEW_KPI_NAMES + CONVERSION_KPI_NAMES


@dataclass(frozen=True, slots=True)
class KpiWindow:
    """Which events a KPI counts: one local day, the view collections, bots or not."""

    day: date
    tz: str
    view_collections: tuple[str, ...]
    include_bots: bool = False

    @classmethod
    def parse(cls, day: str | None, tz: str | None, include_bots: bool | None, settings: Settings) -> KpiWindow:
        """The window a CLI or API request asks for, checked; what it leaves out comes from the settings.

        A zone IANA does not know, a text that is not a date, or a year outside 1970-9998 is a BadRequestError
        whose `param` is `tz` or `date`.
        """
        zone = settings.timezone if tz is None else tz
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise BadRequestError(f"{quoted(zone)} is not an IANA time zone like Europe/Berlin", param="tz") from None
        if day is None:
            chosen = today_in(zone)
        else:
            try:
                chosen = date.fromisoformat(day)
            except ValueError:
                raise BadRequestError(f"{quoted(day)} is not a date like 2026-11-28", param="date") from None
            if not 1970 <= chosen.year <= 9998:
                raise BadRequestError(f"{quoted(day)} is out of range (1970 to 9998)", param="date")
        return cls(day=chosen, tz=zone, view_collections=settings.view_collections,
                   include_bots=settings.include_bots if include_bots is None else include_bots)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """UTC start (inclusive) and end (exclusive) of the local day."""
        return day_bounds(self.day, self.tz)

    def params(self) -> dict[str, Any]:
        """Query parameters shared by every KPI query."""
        start, end = self.bounds
        return {
            "start": start, "end": end, "tz": self.tz, "views": list(self.view_collections),
            "bots": self.include_bots, "day": self.day,
            "view": self.view_collections[0] if self.view_collections else None,
        }


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """UTC bounds of a calendar day in a zone (DST-safe: midnight to next midnight, local)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def today_in(tz: str, now: datetime | None = None) -> date:
    """The current calendar date in a zone."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(tz)).date()


# The window filter of each rollup grain (warehouse/rollups.py): 15-minute buckets in the day's UTC bounds, or
# the local-day rollups (migration 0003), one row per key and day for the zones in kpi_zone.
_WINDOW = {
    Grain.BUCKET: sql.SQL(
        "bucket >= %(start)s AND bucket < %(end)s AND collection = ANY(%(views)s) AND (%(bots)s OR NOT is_bot)"
    ),
    Grain.LOCAL_DAY: sql.SQL(
        "zone = %(tz)s AND day = %(day)s AND collection = ANY(%(views)s) AND (%(bots)s OR NOT is_bot)"
    ),
}
_WINDOW[Grain.LOCAL_HOUR] = _WINDOW[Grain.LOCAL_DAY]
# The local hour of a row, by grain.
_HOUR = {
    Grain.BUCKET: sql.SQL("extract(hour FROM bucket AT TIME ZONE %(tz)s)::int"),
    Grain.LOCAL_HOUR: sql.SQL("hour::int"),
}


def _query(text: str, rollup: Rollup, **parts: sql.Composable) -> sql.Composed:
    """A KPI query on one rollup: {table} its name, {where} its grain's window filter, {hour} its local hour."""
    return sql.SQL(text).format(  # type: ignore[arg-type]
        table=sql.Identifier(rollup.table), where=_WINDOW[rollup.grain], hour=_HOUR.get(rollup.grain, sql.SQL("")),
        **parts,
    )


def _both(text: str, pair: tuple[Rollup, Rollup], **parts: sql.Composable) -> tuple[sql.Composed, sql.Composed]:
    """(15-minute rollup query, local-day or local-hour rollup query) of one KPI text (composed, never formatted)."""
    return _query(text, pair[0], **parts), _query(text, pair[1], **parts)


_TOP_PRODUCTS = _both("""
SELECT product_id, sum(events)::bigint AS views FROM {table} WHERE {where}
GROUP BY product_id ORDER BY views DESC, product_id ASC LIMIT %(limit)s
""", (rollups.PRODUCT, rollups.PRODUCT_DAY))

_TOP_COUNTRIES = _both("""
SELECT s.country_code, s.country_name AS country, sum(r.events)::bigint AS views
FROM {table} r JOIN dim_site s USING (site_key)
WHERE {where} AND NOT s.is_noise AND s.country_name IS NOT NULL
GROUP BY s.country_code, s.country_name ORDER BY views DESC, country ASC LIMIT %(limit)s
""", (rollups.SITE_STORE, rollups.SITE_STORE_DAY))

# The default window (one view collection, no bots) reads the day rollup's top rows in index order.
_TOP_PRODUCTS_INDEXED = _query("""
SELECT product_id, events AS views FROM {table}
WHERE zone = %(tz)s AND day = %(day)s AND collection = %(view)s AND NOT is_bot
ORDER BY events DESC, product_id ASC LIMIT %(limit)s
""", rollups.PRODUCT_DAY)

_TOP_REFERRERS_INDEXED = _query("""
SELECT referrer_url, events AS views FROM {table}
WHERE zone = %(tz)s AND day = %(day)s AND collection = %(view)s AND NOT is_bot
ORDER BY events DESC, referrer_url ASC LIMIT %(limit)s
""", rollups.REFERRER_DAY)

_TOP_REFERRERS = _both("""
SELECT referrer_url, sum(events)::bigint AS views FROM {table} WHERE {where}
GROUP BY referrer_url ORDER BY views DESC, referrer_url ASC LIMIT %(limit)s
""", (rollups.REFERRER, rollups.REFERRER_DAY))

_STORES_BY_COUNTRY = _both("""
SELECT r.store_id, sum(r.events)::bigint AS views
FROM {table} r JOIN dim_site s USING (site_key)
WHERE {where} AND NOT s.is_noise AND r.store_id <> ''
  AND (upper(s.country_code) = upper(%(country)s) OR lower(s.country_name) = lower(%(country)s))
GROUP BY r.store_id ORDER BY views DESC, r.store_id ASC
""", (rollups.SITE_STORE, rollups.SITE_STORE_DAY))

_PRODUCT_HOURLY = _query("""
SELECT {hour} AS hour, sum(events)::bigint AS views
FROM {table} WHERE {where} AND product_id = %(product_id)s GROUP BY 1
""", rollups.PRODUCT)

_HOURLY = """
SELECT {hour} AS hour, {family}, sum(events)::bigint AS views
FROM {table} WHERE {where} GROUP BY 1, 2 ORDER BY 1, views DESC, {family} ASC
"""


_BROWSER_HOURLY = _both(_HOURLY, (rollups.BROWSER_OS, rollups.BROWSER_HOUR), family=sql.Identifier("browser"))
_OS_HOURLY = _both(_HOURLY, (rollups.BROWSER_OS, rollups.OS_HOUR), family=sql.Identifier("os"))


def _rows(conn: psycopg.Connection, query: sql.SQL | sql.Composed, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = conn.execute(query, params)
    names = [c.name for c in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def has_day_rollups(conn: psycopg.Connection, tz: str) -> bool:
    """True when the warehouse keeps local-day rollups for this zone (see migration 0003)."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM kpi_zone WHERE zone = %s)", (tz,)).fetchone()
    return bool(row and row[0])


def _pick(
    conn: psycopg.Connection, window: KpiWindow, queries: tuple[sql.Composed, sql.Composed],
    indexed: sql.Composed | None = None,
) -> sql.SQL | sql.Composed:
    """The fastest exact query for the window: top rows of a day rollup, a day rollup, or 15-minute buckets."""
    if not has_day_rollups(conn, window.tz):
        return queries[0]
    if indexed is not None and len(window.view_collections) == 1 and not window.include_bots:
        return indexed
    return queries[1]


def top_products(conn: psycopg.Connection, window: KpiWindow, limit: int = 10) -> list[dict[str, Any]]:
    """KPI 1: the products with the most views in the day."""
    query = _pick(conn, window, _TOP_PRODUCTS, _TOP_PRODUCTS_INDEXED)
    return _rows(conn, query, {**window.params(), "limit": limit})


def top_countries(conn: psycopg.Connection, window: KpiWindow, limit: int = 10) -> list[dict[str, Any]]:
    """KPI 2: countries (from the storefront domain) with the most views; glamira.com is International."""
    return _rows(conn, _pick(conn, window, _TOP_COUNTRIES), {**window.params(), "limit": limit})


def top_referrers(conn: psycopg.Connection, window: KpiWindow, limit: int = 5) -> list[dict[str, Any]]:
    """KPI 3: referrer URLs as sent with the most views, direct traffic excluded."""
    query = _pick(conn, window, _TOP_REFERRERS, _TOP_REFERRERS_INDEXED)
    return _rows(conn, query, {**window.params(), "limit": limit})


def stores_by_country(conn: psycopg.Connection, window: KpiWindow, country: str) -> list[dict[str, Any]]:
    """KPI 4: store ids and their views for one country (ISO code or English name)."""
    return _rows(conn, _pick(conn, window, _STORES_BY_COUNTRY), {**window.params(), "country": country.strip()})


def product_hourly(conn: psycopg.Connection, window: KpiWindow, product_id: str) -> list[dict[str, Any]]:
    """KPI 5: views of one product per local hour of the day, all 24 hours."""
    found = {r["hour"]: r["views"] for r in _rows(conn, _PRODUCT_HOURLY, {**window.params(),
                                                                            "product_id": product_id})}
    return [{"hour": h, "views": int(found.get(h, 0))} for h in range(24)]


def browser_os_hourly(conn: psycopg.Connection, window: KpiWindow) -> dict[str, list[dict[str, Any]]]:
    """KPI 6: views per local hour by browser family and by OS family."""
    params, source = window.params(), int(has_day_rollups(conn, window.tz))
    return {
        "by_browser": _rows(conn, _BROWSER_HOURLY[source], params),
        "by_os": _rows(conn, _OS_HOURLY[source], params),
    }


def as_of(conn: psycopg.Connection) -> dict[str, str | None]:
    """Freshness: the newest event time and the newest commit time in the warehouse, and `rollups_through`:
    every batch committed before it is in the rollups the KPIs read (the folder lags the commits by ~1 tick)."""
    row = conn.execute(
        "SELECT s.newest_event_time, s.last_commit_at, p.folded_through FROM load_state s CROSS JOIN fold_progress p"
    ).fetchone()
    newest, committed, folded = row if row else (None, None, None)
    return {
        "newest_event_time": newest.isoformat() if newest else None,
        "last_commit_at": committed.isoformat() if committed else None,
        "rollups_through": folded.isoformat() if folded else None,
    }


# Bot events per rule (a scan of the facts' is_bot: `pulse stats` is an operator's read, not a KPI).
# Rows loaded before migration 10 have no recorded reason and count as "unrecorded".
_BOTS_BY_REASON = """
SELECT coalesce(d.bot_reason, 'unrecorded') AS reason, count(*)::bigint
FROM fact_event f JOIN dim_device_type d USING (device_type_key)
WHERE f.is_bot
GROUP BY 1 ORDER BY 2 DESC, 1
"""


def load_stats(conn: psycopg.Connection) -> dict[str, Any]:
    """Totals of what was loaded, skipped and quarantined, with counts by reason."""
    loaded, dups, quarantined, batches = conn.execute(
        "SELECT events_loaded, duplicates_skipped, quarantined, batches FROM load_state"
    ).fetchone() or (0, 0, 0, 0)
    reasons = conn.execute(
        "SELECT reason, sum(messages)::bigint FROM quarantine_summary GROUP BY reason ORDER BY reason"
    ).fetchall()
    bots = conn.execute(_BOTS_BY_REASON).fetchall()
    return {
        "events_loaded": int(loaded),
        "duplicates_skipped": int(dups),
        "quarantined": int(quarantined),
        "quarantined_by_reason": {reason: int(n) for reason, n in reasons},
        "batches": int(batches),
        "bot_events": sum(int(n) for _, n in bots),
        "bot_events_by_reason": {reason: int(n) for reason, n in bots},
        "dead_letters": dead_letter_counts(conn),
        "replayed": replay_counts(conn),
        "as_of": as_of(conn),
    }


def run_kpi(
    conn: psycopg.Connection,
    name: str,
    window: KpiWindow,
    *,
    country: str | None = None,
    product_id: str | None = None,
) -> dict[str, Any]:
    """One KPI answer as the JSON document the CLI and the API return."""
    rows: Sequence[dict[str, Any]] | dict[str, Any]
    with conn.transaction():  # one snapshot for the rows and their freshness
        if name == "top-products":
            rows = top_products(conn, window)
        elif name == "top-countries":
            rows = top_countries(conn, window)
        elif name == "top-referrers":
            rows = top_referrers(conn, window)
        elif name == "stores-by-country":
            if not country:
                raise BadRequestError("stores-by-country needs --country (an ISO code or an English name)")
            rows = stores_by_country(conn, window, country)
        elif name == "product-hourly":
            if not product_id:
                raise BadRequestError("product-hourly needs --product-id")
            rows = product_hourly(conn, window, product_id)
        elif name == "browser-os-hourly":
            rows = browser_os_hourly(conn, window)
        elif name == "visitors":
            rows = conversion.visitors(conn, window, kept=has_day_rollups(conn, window.tz))
        elif name == "sessions":
            rows = conversion.sessions(conn, window, kept=has_day_rollups(conn, window.tz))
        elif name == "funnel":
            rows = conversion.funnel(conn, window, kept=has_day_rollups(conn, window.tz))
        elif name == "campaigns":
            rows = conversion.campaigns(conn, window, kept=has_day_rollups(conn, window.tz))
        elif name == "realtime":
            rows = conversion.realtime(conn)
        elif name == "revenue":
            rows = conversion.revenue(conn, window, kept=has_day_rollups(conn, window.tz))
        else:
            raise BadRequestError(f"unknown KPI {quoted(name)}; choose one of: {', '.join(KPI_NAMES)}")
        freshness = as_of(conn)
    answer: dict[str, Any] = {
        "kpi": name,
        "date": window.day.isoformat(),
        "tz": window.tz,
        "view_collections": list(window.view_collections),
        "include_bots": window.include_bots,
    }
    if country:
        answer["country"] = country
    if product_id:
        answer["product_id"] = product_id
    answer["rows"] = rows
    answer["as_of"] = freshness
    return answer
