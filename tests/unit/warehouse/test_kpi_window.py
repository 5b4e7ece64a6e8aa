"""The KPI day window: local midnight to local midnight, DST-safe, in any IANA zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pulse.warehouse.kpis import day_bounds, today_in
from pulse.warehouse.migrate import available_migrations


@pytest.mark.parametrize(
    ("day", "tz", "start", "hours"),
    [
        (date(2026, 3, 29), "Europe/Berlin", datetime(2026, 3, 28, 23, 0, tzinfo=UTC), 23),  # spring forward
        (date(2026, 10, 25), "Europe/Berlin", datetime(2026, 10, 24, 22, 0, tzinfo=UTC), 25),  # fall back
        (date(2026, 6, 1), "UTC", datetime(2026, 6, 1, 0, 0, tzinfo=UTC), 24),
        (date(2026, 6, 1), "Asia/Kolkata", datetime(2026, 5, 31, 18, 30, tzinfo=UTC), 24),
        (date(2026, 6, 1), "Asia/Kathmandu", datetime(2026, 5, 31, 18, 15, tzinfo=UTC), 24),
        (date(2026, 4, 4), "America/Santiago", datetime(2026, 4, 4, 3, 0, tzinfo=UTC), 25),  # Chile falls back at 24:00
    ],
)
def test_day_bounds(day: date, tz: str, start: datetime, hours: int) -> None:
    lo, hi = day_bounds(day, tz)
    assert lo == start
    assert (hi - lo).total_seconds() == hours * 3600


def test_every_bound_is_a_multiple_of_the_15_minute_rollup_bucket() -> None:
    for tz in ("Asia/Kolkata", "Asia/Kathmandu", "Australia/Eucla", "Pacific/Chatham", "America/St_Johns"):
        lo, hi = day_bounds(date(2026, 1, 15), tz)
        assert lo.timestamp() % 900 == 0 and hi.timestamp() % 900 == 0, tz


def test_today_depends_on_the_zone() -> None:
    now = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    assert today_in("UTC", now) == date(2026, 11, 28)
    assert today_in("Europe/Berlin", now) == date(2026, 11, 29)
    assert today_in("America/Los_Angeles", now) == date(2026, 11, 28)


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in available_migrations()]
    assert versions == list(range(1, len(versions) + 1))
