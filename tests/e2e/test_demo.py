"""The README's first command, end to end: `pulse demo` on an empty PULSE_HOME with no settings at all."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pulse.settings import load_settings
from pulse.stack.manager import stack_down
from tests.services import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_env() -> Iterator[dict[str, str]]:
    """An environment as on a new machine: no PULSE_* variables, an empty home, free ports."""
    home = Path(tempfile.mkdtemp(prefix="pulse-demo-"))
    home.chmod(0o755)  # as root the cluster runs as the postgres OS user, which must reach it
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_") and k != "PGPASSFILE"}
    env.update({
        "PULSE_HOME": str(home),
        "PULSE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "PULSE_DATABASE_URL": f"postgresql://pulse@127.0.0.1:{free_port()}/pulse",
        "PULSE_API_PORT": str(free_port()),
    })
    try:
        yield env
    finally:
        settings = load_settings(home=home, kafka_bootstrap=env["PULSE_KAFKA_BOOTSTRAP"],
                                 database_url=env["PULSE_DATABASE_URL"])
        stack_down(settings)
        shutil.rmtree(home, ignore_errors=True)


def _stats(env: dict[str, str]) -> dict[str, object] | None:
    done = subprocess.run([sys.executable, "-m", "pulse.cli", "stats", "--format", "json"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def test_demo_starts_everything_loads_live_traffic_and_stops_cleanly(fresh_env: dict[str, str]) -> None:
    demo = subprocess.Popen([sys.executable, "-m", "pulse.cli", "demo", "--rate", "200"], env=fresh_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        loaded = 0
        while loaded == 0:
            assert demo.poll() is None, demo.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the demo loaded nothing in 180 s"
            time.sleep(2)
            stats = _stats(fresh_env)
            loaded = int(stats["events_loaded"]) if stats else 0  # type: ignore[call-overload]
        answer = httpx.get(f"http://127.0.0.1:{fresh_env['PULSE_API_PORT']}/api/kpis/browser-os-hourly",
                           timeout=10).json()
        assert answer["rows"]["by_browser"], "the live page's API answers with live data"
        assert answer["as_of"]["last_commit_at"]
    finally:
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=90)
    assert demo.returncode == 0, err.decode()[-3000:]
    assert "engine:" in out.decode() and "Traceback" not in err.decode()
