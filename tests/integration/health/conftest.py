"""A real `pulse run` engine as a subprocess, for health and canary tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from pulse.settings import Settings
from tests.services import env_for

HEARTBEAT_S = 0.5


class EngineProcess:
    """`pulse run` in a subprocess with a short heartbeat; stop() sends SIGTERM and waits."""

    def __init__(self, settings: Settings, *args: str) -> None:
        env = env_for(settings) | {"PULSE_HEARTBEAT_INTERVAL_S": str(HEARTBEAT_S)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pulse.cli", *args, "run"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.settings = settings

    def wait_for_heartbeat(self, timeout: float = 60) -> None:
        """Block until the engine wrote its heartbeat row (it is connected and running)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"engine exited early ({self.proc.returncode}): {self.proc.stderr.read()}")  # type: ignore[union-attr]
            with psycopg.connect(self.settings.database_url) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM engine_heartbeat WHERE pid = %s AND stopped_at IS NULL", (self.proc.pid,)
                ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.2)
        raise AssertionError("the engine wrote no heartbeat within 60 s")

    def stop(self) -> str:
        """SIGTERM, wait for the clean exit; returns its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            _, err = self.proc.communicate()
        return err


@pytest.fixture
def engine() -> Iterator[Callable[..., EngineProcess]]:
    """Start engines with `engine(settings)`; every one still running is stopped at the end."""
    started: list[EngineProcess] = []

    def start(settings: Settings, *args: str) -> EngineProcess:
        process = EngineProcess(settings, *args)
        started.append(process)
        process.wait_for_heartbeat()
        return process

    yield start
    for process in started:
        process.stop()
