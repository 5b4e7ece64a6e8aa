"""What `pulse dq` measures: facts and quarantined messages in a time window, and the all-time load totals.

Facts are windowed by event time, quarantined messages by arrival time. Readable by the dashboard role
(it sees quarantine reasons and times, never raw payloads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

# Unknown storefront country: noise hosts (dev, proxies, other sites) and events without a URL;
# International (glamira.com) is a known bucket. Unknown browser: ua-parser's "Other" family.
_WINDOW_FACTS = """
SELECT count(*),
       count(*) FILTER (WHERE s.country_name IS NULL),
       count(*) FILTER (WHERE b.browser IS NULL OR b.browser = 'Other'),
       count(*) - count(DISTINCT f.event_id)
FROM fact_event f
LEFT JOIN dim_site s ON s.site_key = f.site_key
LEFT JOIN dim_browser b ON b.browser_key = f.browser_key
WHERE f.event_time >= %(start)s AND f.event_time < %(end)s
  AND f.event_date >= (%(start)s AT TIME ZONE 'UTC')::date AND f.event_date <= (%(end)s AT TIME ZONE 'UTC')::date
"""
_WINDOW_QUARANTINE = "SELECT count(*) FROM quarantine WHERE quarantined_at >= %(start)s AND quarantined_at < %(end)s"
_TOTALS = "SELECT events_loaded, duplicates_skipped, last_commit_at, clock_timestamp() FROM load_state"


@dataclass(frozen=True, slots=True)
class LoadTotals:
    """All-time totals of load_state, and the database's clock when read."""

    loaded: int
    duplicates: int
    last_commit_at: datetime | None
    db_now: datetime | None


@dataclass(frozen=True, slots=True)
class WindowFacts:
    """Counts over the facts of one window."""

    events: int
    unknown_country: int
    unknown_browser: int
    duplicate_event_ids: int


def load_totals(conn: psycopg.Connection) -> LoadTotals:
    """Events loaded and duplicates skipped so far, the last commit time and the database's now."""
    row = conn.execute(_TOTALS).fetchone()
    return LoadTotals(int(row[0]), int(row[1]), row[2], row[3]) if row else LoadTotals(0, 0, None, None)


def window_facts(conn: psycopg.Connection, start: datetime, end: datetime) -> WindowFacts:
    """Events with event time in [start, end): in all, without a storefront country, of an unknown browser,
    and stored more than once."""
    row = conn.execute(_WINDOW_FACTS, {"start": start, "end": end}).fetchone()
    assert row is not None  # an aggregate always returns one row
    return WindowFacts(*(int(v) for v in row))


def window_quarantined(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    """Messages quarantined in [start, end) (by arrival time)."""
    row = conn.execute(_WINDOW_QUARANTINE, {"start": start, "end": end}).fetchone()
    return int(row[0]) if row else 0
