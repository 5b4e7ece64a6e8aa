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
from pulse.warehouse.quality import load_totals, window_facts, window_quarantined

Status = Literal["ok", "fail"]


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
        totals = load_totals(conn)
        end = end or totals.db_now or datetime.now(UTC)
        start = end - window
        facts = window_facts(conn, start, end)
        quarantined = window_quarantined(conn, start, end)
    loaded, duplicates, events = totals.loaded, totals.duplicates, facts.events
    last_commit, db_now = totals.last_commit_at, totals.db_now
    commit_age = (db_now - last_commit).total_seconds() if last_commit and db_now else None
    checks = [
        _check("unknown_country_share", _share(facts.unknown_country, events), thresholds.unknown_country_share,
               f"{facts.unknown_country} of {events} events in the window have no storefront country"),
        _check("unknown_browser_share", _share(facts.unknown_browser, events), thresholds.unknown_browser_share,
               f"{facts.unknown_browser} of {events} events in the window have an unknown browser"),
        _check("quarantine_rate", _share(quarantined, events + quarantined), thresholds.quarantine_rate,
               f"{quarantined} quarantined against {events} loaded in the window"),
        _check("duplicate_rate", _share(duplicates, loaded + duplicates), thresholds.duplicate_rate,
               f"{duplicates} duplicates dropped by the ledger against {loaded} events loaded (all time)"),
        _check("duplicate_event_ids", float(facts.duplicate_event_ids), 0.0,
               f"{facts.duplicate_event_ids} event ids stored more than once in the window"
               " (the ledger must prevent any)"),
        _check("commit_age_s", commit_age, thresholds.commit_age_s,
               "no batch was ever committed" if commit_age is None
               else f"last commit {commit_age:.0f} s ago", missing_fails=True),
    ]
    return {
        "status": "fail" if any(c.status == "fail" for c in checks) else "ok",
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "counts": {"events": events, "quarantined": quarantined, "unknown_country": facts.unknown_country,
                   "unknown_browser": facts.unknown_browser, "duplicate_event_ids": facts.duplicate_event_ids,
                   "events_loaded_total": loaded, "duplicates_skipped_total": duplicates},
        "checks": [asdict(c) for c in checks],
    }


def failures_summary(report: dict[str, Any]) -> str:
    """One line naming each failed check with its value and threshold."""
    return "; ".join(
        f"{c['name']}: {c['detail']}" if c["value"] is None
        else f"{c['name']}={c['value']} > {c['threshold']} ({c['detail']})"
        for c in report["checks"] if c["status"] == "fail"
    )
