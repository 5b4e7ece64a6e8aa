"""A real Prometheus (Debian's package) for the ops tests: own config, data dir and free port, stopped after."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services import free_port

REPO = Path(__file__).resolve().parents[3]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "pulse-overview.json"
HOW_TO_INSTALL = "install it with `bash scripts/install.sh` (Debian package `prometheus`)"


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
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(f"the prometheus binary is not on PATH: {HOW_TO_INSTALL}")
    started: list[subprocess.Popen[bytes]] = []

    def start(jobs: dict[str, int]) -> Prometheus:
        home = tmp_path / f"prometheus-{len(started)}"
        home.mkdir()
        scrapes = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            for job, port in jobs.items()
        )
        config = home / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {ALERTS}\nscrape_configs:\n{scrapes}"
        )
        port = free_port()
        log = home / "prometheus.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={home / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                stdout=out, stderr=subprocess.STDOUT,
            )
        started.append(process)
        server = Prometheus(f"http://127.0.0.1:{port}", log)

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                return httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        server.wait_for("prometheus to be ready", ready, timeout=30)
        return server

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
