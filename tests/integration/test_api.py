"""The KPI API on the real warehouse: the same answers as `pulse kpi`, clear 4xx refusals, token, 503."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from pulse.collect.server import running
from pulse.engines.native import NativeEngine
from pulse.serve.api import SWAGGER_DIR, create_app
from pulse.settings import Settings
from pulse.warehouse.kpis import KPI_NAMES, VIEW_KPI_NAMES, load_stats
from tests.services import free_port, pulse_cli

from .labelled import Fixture, build_fixture, expected_kpis

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 29)
PARAMS: dict[str, dict[str, str]] = {"stores-by-country": {"country": "DE"}, "product-hourly": {"product_id": "101"}}


@pytest.fixture(scope="module")
def fixture() -> Fixture:
    return build_fixture(DAY, n_valid=2000)


@contextmanager
def api(settings: Settings) -> Iterator[httpx.Client]:
    """The API served by uvicorn on a free port, and a client for it."""
    with running(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def _load(settings: Settings, fx: Fixture, tmp_path: Path) -> None:
    path = tmp_path / "replay.jsonl"
    path.write_bytes(b"\n".join(fx.lines) + b"\n")
    result = pulse_cli(settings, "replay", str(path))
    assert result.returncode == 0, result.stderr
    NativeEngine(settings).run(until_idle=3)


def _cli_kpi(settings: Settings, name: str, tz: str) -> dict[str, Any]:
    extra = [arg for key, value in PARAMS.get(name, {}).items() for arg in (f"--{key.replace('_', '-')}", value)]
    result = pulse_cli(settings, "kpi", name, "--date", DAY.isoformat(), "--tz", tz, "--format", "json", *extra)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_every_endpoint_answers_as_the_cli_and_the_labelled_truth(
    pipeline: Settings, fixture: Fixture, tmp_path: Path
) -> None:
    _load(pipeline, fixture, tmp_path)
    with api(pipeline) as client:
        for name in KPI_NAMES:
            query = {"date": DAY.isoformat(), "tz": "UTC", **PARAMS.get(name, {})}
            response = client.get(f"/api/kpis/{name}", params=query)
            assert response.status_code == 200, response.text
            assert response.headers["cache-control"] == "no-store"
            answer = response.json()
            assert answer == _cli_kpi(pipeline, name, "UTC"), name
            assert answer["as_of"]["last_commit_at"] and answer["as_of"]["newest_event_time"]
        for tz in ("Europe/Berlin", "Asia/Kolkata"):
            expected = expected_kpis(fixture, DAY, tz, country="DE", product_id="101")
            for name in VIEW_KPI_NAMES:
                answer = client.get(f"/api/kpis/{name}", params={"date": DAY.isoformat(), "tz": tz,
                                                                 **PARAMS.get(name, {})}).json()
                assert answer["rows"] == expected[name], f"{name} in {tz}"
        stats = client.get("/api/stats").json()
        with psycopg.connect(pipeline.reader_url) as conn:
            assert stats == json.loads(json.dumps(load_stats(conn), default=str))
        assert stats["events_loaded"] == len(fixture.valid)
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["as_of"] == stats["as_of"]
        # the default day is today in the configured zone: nothing from March counts there
        assert client.get("/api/kpis/top-products").json()["date"] != DAY.isoformat()
        assert client.get("/api/kpis").json()["kpis"][0] == {"name": "top-products", "path": "/api/kpis/top-products"}


def test_openapi_documents_every_kpi_and_the_docs_are_served_locally(pipeline: Settings) -> None:
    with api(pipeline) as client:
        schema = client.get("/openapi.json").json()
        assert {f"/api/kpis/{name}" for name in KPI_NAMES} <= set(schema["paths"])
        hourly = schema["paths"]["/api/kpis/product-hourly"]["get"]["parameters"]
        assert {p["name"]: p["required"] for p in hourly} == {
            "product_id": True, "date": False, "tz": False, "include_bots": False
        }
        docs = client.get("/docs")
        assert docs.status_code == (200 if SWAGGER_DIR.is_dir() else 503)
        assert "cdn" not in docs.text.lower()
        if SWAGGER_DIR.is_dir():
            assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


BAD_REQUESTS = [
    ("/api/kpis/top-products?date=2026-13-01", 422, "invalid_parameter", "date"),
    ("/api/kpis/top-products?date=yesterday", 422, "invalid_parameter", "2026-11-28"),
    ("/api/kpis/top-products?date=0001-01-01", 422, "invalid_parameter", "out of range"),
    ("/api/kpis/top-products?tz=Mars/Olympus", 422, "invalid_parameter", "Mars/Olympus"),
    ("/api/kpis/top-products?tz=../../etc/passwd", 422, "invalid_parameter", "IANA"),
    ("/api/kpis/top-products?include_bots=perhaps", 422, "invalid_parameter", "include_bots"),
    ("/api/kpis/product-hourly", 422, "invalid_parameter", "product_id: this query parameter is required"),
    ("/api/kpis/product-hourly?product_id=", 422, "invalid_parameter", "product_id"),
    ("/api/kpis/product-hourly?product_id=1%002", 422, "invalid_parameter", "product_id"),
    (f"/api/kpis/product-hourly?product_id={'9' * 65}", 422, "invalid_parameter", "product_id"),
    ("/api/kpis/stores-by-country", 422, "invalid_parameter", "country: this query parameter is required"),
    ("/api/kpis/stores-by-country?country=%20", 422, "invalid_parameter", "country"),
    ("/api/kpis/top-sellers", 404, "unknown_kpi", "top-products"),
    ("/api/nothing-here", 404, "not_found", "Not Found"),
]


def test_bad_parameters_get_a_4xx_with_a_clear_reason(pipeline: Settings) -> None:
    with api(pipeline) as client:
        for path, status, code, mention in BAD_REQUESTS:
            response = client.get(path)
            assert response.status_code == status, (path, response.text)
            body = response.json()
            assert body["error"] == code, (path, body)
            assert mention in body["detail"], (path, body)
        assert client.post("/api/kpis/top-products").status_code == 405
        # a country or product nobody viewed is a valid question with an empty answer
        assert client.get("/api/kpis/stores-by-country?country=XX").json()["rows"] == []


def test_a_configured_token_guards_every_api_route_but_not_health_or_the_page(pipeline: Settings) -> None:
    guarded = pipeline.model_copy(update={"api_token": SecretStr("s3cret-token-for-tests")})
    with api(guarded) as client:
        for path in ("/api/kpis/top-products", "/api/stats", "/api/page", "/api/kpis/top-sellers"):
            missing = client.get(path)
            assert missing.status_code == 401, path
            assert missing.headers["www-authenticate"] == "Bearer"
            assert missing.json()["error"] == "unauthorized"
            wrong = client.get(path, headers={"Authorization": "Bearer s3cret-token-for-test"})
            assert wrong.status_code == 401 and "not valid" in wrong.json()["detail"]
        ok = client.get("/api/stats", headers={"Authorization": "Bearer s3cret-token-for-tests"})
        assert ok.status_code == 200 and "as_of" in ok.json()
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200
        schema = client.get("/openapi.json").json()
        assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_a_database_that_is_down_answers_503(pipeline: Settings) -> None:
    down = pipeline.model_copy(update={"reader_database_url": f"postgresql://pulse_dashboard@127.0.0.1:{free_port()}/x"})
    with api(down) as client:
        answer = client.get("/api/kpis/top-products")
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "database_unavailable"
        assert answer.headers["retry-after"] == "5"
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["database"] == "down"
        assert client.get("/").status_code == 200, "the page itself still loads and shows the outage"
