"""A real Prometheus (Debian's package) for the ops tests: own config, data dir and free port, stopped after."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pulse.errors import MissingToolError
from pulse.stack.prometheus import ALERT_RULES, LocalPrometheus, start_prometheus
from tests.services import free_port

REPO = Path(__file__).resolve().parents[3]
ALERTS = ALERT_RULES
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "pulse-overview.json"


@dataclass
class Prometheus:
    """A running Prometheus and its HTTP API."""

    url: str
    log: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; a PromQL error fails with Prometheus's message."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", f"{expr!r}: {answer.get('errorType')}: {answer.get('error')}"
        return list(answer["data"]["result"])

    def value(self, expr: str) -> float:
        """The one value of a query that must return exactly one series."""
        result = self.query(expr)
        assert len(result) == 1, f"{expr!r} returned {result}"
        return float(result[0]["value"][1])

    def api(self, path: str) -> Any:
        """GET /api/v1/<path> (alerts, rules, targets)."""
        answer = httpx.get(f"{self.url}/api/v1/{path}", timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
        """Poll `check` until it holds; fail with `what` and the end of Prometheus's log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; prometheus log:\n"
                             + self.log.read_text(errors="replace")[-2000:])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[dict[str, int]], Prometheus]]:
    """Start Prometheus scraping `{job: port on 127.0.0.1}` every second and evaluating alerts.yml every second."""
    started: list[LocalPrometheus] = []

    def start(jobs: dict[str, int]) -> Prometheus:
        try:
            local = start_prometheus(
                tmp_path / f"prometheus-{len(started)}", free_port(),
                {job: [f"127.0.0.1:{port}"] for job, port in jobs.items()}, [ALERTS], interval_s=1.0,
            )
        except MissingToolError as exc:
            pytest.fail(str(exc))
        started.append(local)
        return Prometheus(local.url, local.log)

    yield start
    for local in started:
        local.stop()
