"""A real Apache Superset for the dashboard tests: .venv-superset, SQLite metadata in a temporary
folder, one admin, gunicorn on a free port; started once per session and stopped at the end."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pulse.stack.superset import init_superset, start_superset, wait_healthy
from tests.services import free_port


@dataclass(frozen=True)
class SupersetServer:
    """Where the test Superset listens and how to log in."""

    url: str
    username: str
    password: str
    home: Path


@pytest.fixture(scope="session")
def superset_server() -> Iterator[SupersetServer]:
    """Superset on loopback; a missing .venv-superset fails with how to install it."""
    home = Path(tempfile.mkdtemp(prefix="pulse-superset-"))
    server = SupersetServer(f"http://127.0.0.1:{free_port()}", "admin", secrets.token_urlsafe(16), home)
    process: subprocess.Popen[bytes] | None = None
    try:
        init_superset(home, server.username, server.password)
        process = start_superset(home, "127.0.0.1", int(server.url.rsplit(":", 1)[1]))
        wait_healthy(server.url, process, log=home / "superset.log")
        yield server
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(home, ignore_errors=True)
