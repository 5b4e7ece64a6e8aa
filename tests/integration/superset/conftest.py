"""A real Apache Superset for the dashboard tests: .venv-superset, SQLite metadata in a temporary
folder, one admin, gunicorn on a free port; started once per session and stopped at the end.

It boots in a background thread from the start of the session, so it overlaps the Kafka + PostgreSQL
start; `superset_server` waits until it answers /health (a missing .venv-superset fails with the fix).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from pulse.stack.superset import HEALTH_TIMEOUT_S, init_superset, start_superset, wait_healthy
from tests.services import free_port


@dataclass(frozen=True)
class SupersetServer:
    """Where the test Superset listens and how to log in."""

    url: str
    username: str
    password: str
    home: Path


@dataclass
class SupersetBoot:
    """A Superset on its way up: the server it will be and the start-up running in the background."""

    server: SupersetServer
    started: Future[subprocess.Popen[bytes]]


@pytest.fixture(scope="session")
def superset_boot() -> Iterator[SupersetBoot]:
    """Start Superset in the background (metadata from the install's template, the admin, gunicorn)."""
    home = Path(tempfile.mkdtemp(prefix="pulse-superset-"))
    port = free_port()
    server = SupersetServer(f"http://127.0.0.1:{port}", "admin", secrets.token_urlsafe(16), home)

    def boot() -> subprocess.Popen[bytes]:
        init_superset(home, server.username, server.password)
        return start_superset(home, "127.0.0.1", port)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="superset-boot") as pool:
        started = pool.submit(boot)
        try:
            yield SupersetBoot(server, started)
        finally:
            process = started.result() if started.exception() is None else None
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def superset_server(superset_boot: SupersetBoot) -> SupersetServer:
    """The test Superset, answering /health."""
    process = superset_boot.started.result(timeout=HEALTH_TIMEOUT_S)
    wait_healthy(superset_boot.server.url, process, log=superset_boot.server.home / "superset.log")
    return superset_boot.server
