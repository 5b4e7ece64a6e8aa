"""The KPI day window: local midnight to local midnight, DST-safe, in any IANA zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pulse.errors import BadRequestError
from pulse.settings import Settings
from pulse.warehouse.kpis import KpiWindow, day_bounds, today_in
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


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(home=tmp_path, **values)  # type: ignore[arg-type]


def test_a_window_parsed_from_nothing_takes_the_settings(tmp_path: Path) -> None:
    settings = _settings(tmp_path, timezone="Asia/Kathmandu", include_bots=True,
                         view_collections=("view_product_detail", "view_listing_page"))
    before = datetime.now(ZoneInfo("Asia/Kathmandu")).date()
    window = KpiWindow.parse(None, None, None, settings)
    after = datetime.now(ZoneInfo("Asia/Kathmandu")).date()
    assert window.tz == "Asia/Kathmandu" and window.day in (before, after)
    assert window.include_bots is True
    assert window.view_collections == ("view_product_detail", "view_listing_page")


def test_what_a_request_names_wins_over_the_settings(tmp_path: Path) -> None:
    window = KpiWindow.parse("2026-03-29", "Europe/Berlin", False, _settings(tmp_path, include_bots=True))
    assert window == KpiWindow(day=date(2026, 3, 29), tz="Europe/Berlin", view_collections=("view_product_detail",),
                               include_bots=False)
    assert KpiWindow.parse("1970-01-01", "UTC", None, _settings(tmp_path)).day == date(1970, 1, 1)
    assert KpiWindow.parse("9998-12-31", "UTC", None, _settings(tmp_path)).day == date(9998, 12, 31)


@pytest.mark.parametrize(
    ("day", "tz", "param", "message"),
    [
        (None, "Mars/Olympus", "tz", "'Mars/Olympus' is not an IANA time zone like Europe/Berlin"),
        (None, "../../etc/passwd", "tz", "'../../etc/passwd' is not an IANA time zone like Europe/Berlin"),
        ("yesterday", "UTC", "date", "'yesterday' is not a date like 2026-11-28"),
        ("2026-13-01", "UTC", "date", "'2026-13-01' is not a date like 2026-11-28"),
        ("0001-01-01", "UTC", "date", "'0001-01-01' is out of range (1970 to 9998)"),
        ("9999-12-31", "UTC", "date", "'9999-12-31' is out of range (1970 to 9998)"),
    ],
)
def test_a_window_that_cannot_be_is_a_bad_request_naming_its_parameter(
    tmp_path: Path, day: str | None, tz: str, param: str, message: str
) -> None:
    with pytest.raises(BadRequestError) as refused:
        KpiWindow.parse(day, tz, None, _settings(tmp_path))
    assert (refused.value.param, str(refused.value)) == (param, message)
