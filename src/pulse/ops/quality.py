"""Data-quality checks (pulse dq): unknown country and browser shares, quarantine and duplicate rates, freshness.

Facts are windowed by event time, quarantined messages by arrival time: with live traffic the two agree;
during a backfill of old days the quarantine rate reads high (the facts fall outside the window).
Runs with the read-only dashboard role (it sees quarantine reasons and times, never raw payloads).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg

from pulse.settings import Settings

Status = Literal["ok", "fail"]

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
class Thresholds:
    """The largest acceptable value of each check."""

    unknown_country_share: float
    unknown_browser_share: float
    quarantine_rate: float
    duplicate_rate: float
    commit_age_s: float

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: float | None) -> Thresholds:
        """Thresholds from PULSE_DQ_MAX_* with the given (non-None) overrides."""
        values = {
            "unknown_country_share": settings.dq_max_unknown_country_share,
            "unknown_browser_share": settings.dq_max_unknown_browser_share,
            "quarantine_rate": settings.dq_max_quarantine_rate,
            "duplicate_rate": settings.dq_max_duplicate_rate,
            "commit_age_s": settings.dq_max_commit_age_s,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Check:
    """One check: its measured value against its threshold."""

    name: str
    value: float | None
    threshold: float
    status: Status
    detail: str


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _check(name: str, value: float | None, threshold: float, detail: str, *, missing_fails: bool = False) -> Check:
    if value is None:
        return Check(name, None, threshold, "fail" if missing_fails else "ok", detail)
    return Check(name, round(value, 6), threshold, "fail" if value > threshold else "ok", detail)


def run_checks(
    conn: psycopg.Connection, thresholds: Thresholds, *, window: timedelta, end: datetime | None = None
) -> dict[str, Any]:
    """Measure every check over [end - window, end); the document `pulse dq --format json` prints."""
    with conn.transaction():  # one snapshot for all numbers
        loaded, duplicates, last_commit, db_now = conn.execute(_TOTALS).fetchone() or (0, 0, None, None)
        end = end or db_now or datetime.now(UTC)
        start = end - window
        params = {"start": start, "end": end}
        events, unknown_country, unknown_browser, duplicate_ids = conn.execute(
            _WINDOW_FACTS, params
        ).fetchone()  # type: ignore[misc]
        quarantined = conn.execute(_WINDOW_QUARANTINE, params).fetchone()[0]  # type: ignore[index]
    commit_age = (db_now - last_commit).total_seconds() if last_commit and db_now else None
    checks = [
        _check("unknown_country_share", _share(unknown_country, events), thresholds.unknown_country_share,
               f"{unknown_country} of {events} events in the window have no storefront country"),
        _check("unknown_browser_share", _share(unknown_browser, events), thresholds.unknown_browser_share,
               f"{unknown_browser} of {events} events in the window have an unknown browser"),
        _check("quarantine_rate", _share(quarantined, events + quarantined), thresholds.quarantine_rate,
               f"{quarantined} quarantined against {events} loaded in the window"),
        _check("duplicate_rate", _share(int(duplicates), int(loaded) + int(duplicates)), thresholds.duplicate_rate,
               f"{duplicates} duplicates dropped by the ledger against {loaded} events loaded (all time)"),
        _check("duplicate_event_ids", float(duplicate_ids), 0.0,
               f"{duplicate_ids} event ids stored more than once in the window (the ledger must prevent any)"),
        _check("commit_age_s", commit_age, thresholds.commit_age_s,
               "no batch was ever committed" if commit_age is None
               else f"last commit {commit_age:.0f} s ago", missing_fails=True),
    ]
    return {
        "status": "fail" if any(c.status == "fail" for c in checks) else "ok",
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "counts": {"events": events, "quarantined": quarantined, "unknown_country": unknown_country,
                   "unknown_browser": unknown_browser, "duplicate_event_ids": duplicate_ids,
                   "events_loaded_total": int(loaded), "duplicates_skipped_total": int(duplicates)},
        "checks": [asdict(c) for c in checks],
    }


def failures_summary(report: dict[str, Any]) -> str:
    """One line naming each failed check with its value and threshold."""
    return "; ".join(
        f"{c['name']}: {c['detail']}" if c["value"] is None
        else f"{c['name']}={c['value']} > {c['threshold']} ({c['detail']})"
        for c in report["checks"] if c["status"] == "fail"
    )
