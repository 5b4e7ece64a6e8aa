"""A local Prometheus (Debian's `prometheus` package): pulse's scrape targets and alert rules, own data dir and port.

Used by `pulse prometheus` (development: look at the metrics and alerts of a local engine) and by the ops tests.
It never touches the system service: it runs the binary with a config written under the given directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pulse.errors import MissingToolError, TransientError
from pulse.resources import resource_path
from pulse.settings import Settings
from pulse.stack.files import PRIVATE_UMASK, open_private_append, private_dir, write_private
from pulse.stack.proc import tail

ALERT_RULES = resource_path("prometheus", "alerts.yml")  # also what deploy/docker-compose.yml mounts
READY_TIMEOUT_S = 30.0


@dataclass
class LocalPrometheus:
    """A Prometheus process started by start_prometheus."""

    process: subprocess.Popen[bytes]
    url: str
    config: Path
    log: Path

    def stop(self, timeout: float = 20.0) -> None:
        """Stop it (SIGTERM, then SIGKILL after `timeout`)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def find_prometheus() -> str:
    """The prometheus binary, or a MissingToolError saying how to install it."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise MissingToolError("prometheus is not installed: apt-get install prometheus (or run scripts/install.sh)")
    return binary


def write_config(directory: Path, jobs: dict[str, list[str]], rule_files: list[Path], interval_s: float) -> Path:
    """prometheus.yml scraping `jobs` (job name -> host:port targets) and evaluating `rule_files` every interval."""
    lines = [
        "# Written by pulse (pulse.stack.prometheus); the deployment config is deploy/prometheus/prometheus.yml.",
        "global:",
        f"  scrape_interval: {interval_s:g}s",
        f"  scrape_timeout: {interval_s:g}s",
        f"  evaluation_interval: {interval_s:g}s",
        "rule_files:" if rule_files else "rule_files: []",
        *(f"  - {path.resolve()}" for path in rule_files),
        "scrape_configs:",
    ]
    for job, targets in jobs.items():
        lines += [f"  - job_name: {job}", "    static_configs:", f"      - targets: {list(targets)!r}"]
    private_dir(directory)
    config = directory / "prometheus.yml"
    write_private(config, "\n".join(lines) + "\n")
    return config


def start_prometheus(
    directory: Path, port: int, jobs: dict[str, list[str]], rule_files: list[Path] | None = None,
    interval_s: float = 1.0, host: str = "127.0.0.1",
) -> LocalPrometheus:
    """Start Prometheus with its config and data under `directory`, listening on host:port; wait until ready."""
    binary = find_prometheus()
    config = write_config(directory, jobs, list(rule_files or []), interval_s)
    log = directory / "prometheus.log"
    with os.fdopen(open_private_append(log), "ab") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address={host}:{port}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, umask=PRIVATE_UMASK,
        )
    server = LocalPrometheus(process, f"http://{host}:{port}", config, log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TransientError(f"prometheus exited with status {process.returncode}: {tail(log, 20) or '(no log)'}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    server.stop()
    raise TransientError(f"prometheus was not ready after {READY_TIMEOUT_S:.0f} s: {tail(log, 20) or '(no log)'}")


def scrape_jobs(settings: Settings, engine_port: int | None = None) -> dict[str, list[str]]:
    """pulse's scrape targets: the engine's metrics (`engine_port`, else PULSE_METRICS_PORT, else 8440), the API
    and the collector; a wildcard listen address (0.0.0.0, ::) is scraped on loopback."""

    def local(host: str) -> str:
        return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host

    return {
        "pulse-engine": [f"{local(settings.metrics_host)}:{engine_port or settings.metrics_port or 8440}"],
        "pulse-api": [f"{local(settings.api_host)}:{settings.api_port}"],
        "pulse-collect": [f"{local(settings.collect_host)}:{settings.collect_port}"],
    }


def run_prometheus(
    settings: Settings, port: int, *, engine_port: int | None = None, interval_s: float = 5.0,
    ready: Callable[[LocalPrometheus, dict[str, list[str]], list[Path]], None] | None = None,
) -> None:
    """Run Prometheus (data under PULSE_HOME/prometheus) on pulse's scrape jobs and alert rules until Ctrl-C.

    `ready(server, jobs, rule_files)` is called once it is ready; the rules are pulse's alerts.yml (package
    data) when it is there (none otherwise).
    """
    jobs = scrape_jobs(settings, engine_port)
    rules = [ALERT_RULES] if ALERT_RULES.is_file() else []
    server = start_prometheus(settings.home / "prometheus", port, jobs, rules, interval_s=interval_s)
    try:
        if ready:
            ready(server, jobs, rules)
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
