"""API refusals repeat what was sent only in short: a 60 KB parameter gives a short answer, not a 60 KB one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pulse.collect.server import running
from pulse.serve.api import create_app
from pulse.settings import load_settings
from tests.services import free_port

HUGE = "x" * 60_000


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    """The API with a warehouse nobody listens on: these refusals come before any read."""
    settings = load_settings(home=tmp_path, reader_database_url=f"postgresql://pulse_dashboard@127.0.0.1:{free_port()}/x")
    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        (f"/api/kpis/{HUGE}", 404, "unknown_kpi"),
        (f"/api/kpis/top-products?tz={HUGE}", 422, "invalid_parameter"),
        (f"/api/kpis/top-products?date={HUGE}", 422, "invalid_parameter"),
        (f"/api/kpis/top-products?include_bots={HUGE}", 422, "invalid_parameter"),
        (f"/api/kpis/stores-by-country?country={HUGE}", 422, "invalid_parameter"),
        (f"/api/kpis/product-hourly?product_id={HUGE}", 422, "invalid_parameter"),
        (f"/api/{HUGE}", 404, "not_found"),
    ],
)
def test_a_huge_parameter_gets_a_short_refusal(client: httpx.Client, path: str, status: int, error: str) -> None:
    answer = client.get(path)
    assert (answer.status_code, answer.json()["error"]) == (status, error), answer.text[:300]
    assert len(answer.content) < 400, answer.text[:500]
    if "x" * 20 in answer.json()["detail"]:
        assert "60,000 characters" in answer.json()["detail"]


def test_a_short_bad_parameter_is_still_repeated_whole(client: httpx.Client) -> None:
    answer = client.get("/api/kpis/top-products?tz=Mars/Olympus")
    assert answer.status_code == 422 and "'Mars/Olympus' is not an IANA time zone" in answer.json()["detail"]
    unknown = client.get("/api/kpis/top-sellers")
    assert unknown.status_code == 404 and "unknown KPI 'top-sellers'" in unknown.json()["detail"]
