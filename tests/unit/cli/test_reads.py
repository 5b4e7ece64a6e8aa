"""`pulse kpi` and the API refuse the same windows with the same words: one KpiWindow.parse behind both.

No warehouse runs here: a window is checked before anything is read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pulse.collect.server import running
from pulse.serve.api import create_app
from pulse.settings import load_settings
from tests.cli import assert_one_line_error, run_pulse
from tests.services import free_port

NOWHERE = f"postgresql://pulse_dashboard@127.0.0.1:{free_port()}/x"

# (--date, --tz, parameter at fault, the message both must show)
REFUSED = [
    ("2026-11-28", "Mars/Olympus", "tz", "'Mars/Olympus' is not an IANA time zone like Europe/Berlin"),
    ("yesterday", "UTC", "date", "'yesterday' is not a date like 2026-11-28"),
    ("0001-01-01", "UTC", "date", "'0001-01-01' is out of range (1970 to 9998)"),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = load_settings(home=tmp_path_factory.mktemp("api"), reader_database_url=NOWHERE)
    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.mark.parametrize(("day", "tz", "param", "message"), REFUSED, ids=[r[2] + " " + r[0] for r in REFUSED])
def test_the_cli_and_the_api_refuse_a_window_alike(
    api: httpx.Client, tmp_path: Path, day: str, tz: str, param: str, message: str
) -> None:
    answer = api.get("/api/kpis/top-products", params={"date": day, "tz": tz})
    assert answer.status_code == 422
    assert answer.json() == {"error": "invalid_parameter", "detail": f"{param}: {message}"}
    result = run_pulse({"PULSE_HOME": str(tmp_path), "PULSE_READER_DATABASE_URL": NOWHERE},
                       "kpi", "top-products", "--date", day, "--tz", tz, timeout=60)
    line = assert_one_line_error(result, f"Invalid value for --{param}: {message}")
    assert line.endswith("(see `python -m pulse.cli kpi --help`)"), line
