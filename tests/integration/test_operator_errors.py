"""Operator mistakes that need the real services: a refused login names the setting actually used, an
unreachable Kafka ends `pulse produce` in bounded time, and the engine waits for Kafka quietly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from pulse.settings import Settings
from tests.cli import assert_one_line_error, run_pulse
from tests.services import env_for, free_port

pytestmark = pytest.mark.integration

ENGINE_WATCH_S = 10.0


def _as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port}"))


@pytest.mark.parametrize(
    ("setting", "argv"),
    [("PULSE_LOADER_DATABASE_URL", ["run", "--until-idle", "1"]),
     ("PULSE_READER_DATABASE_URL", ["stats"]),
     ("PULSE_READER_DATABASE_URL", ["kpi", "top-products"]),
     ("PULSE_READER_DATABASE_URL", ["serve", "--port", str(free_port())]),
     ("PULSE_DATABASE_URL", ["migrate"])],
)
def test_a_login_refused_names_the_setting_it_came_from(pipeline: Settings, setting: str, argv: list[str]) -> None:
    env = env_for(pipeline)
    env[setting] = _as_user(env[setting], "nobody_at_all")  # a role that does not exist
    line = assert_one_line_error(run_pulse(env, *argv, timeout=60), setting, "nobody_at_all")
    others = {"PULSE_DATABASE_URL", "PULSE_LOADER_DATABASE_URL", "PULSE_READER_DATABASE_URL"} - {setting}
    assert not any(f"check {other}" in line for other in others), line


def test_produce_to_an_unreachable_kafka_gives_up_in_bounded_time(pipeline: Settings) -> None:
    env = env_for(pipeline) | {"PULSE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    started = time.monotonic()
    result = run_pulse(env, "produce", "--count", "100", timeout=90)
    took = time.monotonic() - started
    assert_one_line_error(result, "Kafka unreachable", f"PULSE_KAFKA_BOOTSTRAP={env['PULSE_KAFKA_BOOTSTRAP']}")
    assert took < 35, f"pulse produce took {took:.0f} s to give up"


def test_produce_to_a_missing_topic_names_the_topic_setting(pipeline: Settings) -> None:
    env = env_for(pipeline) | {"PULSE_TOPIC": "no_such_topic_here"}
    assert_one_line_error(run_pulse(env, "produce", "--count", "1", timeout=60), "PULSE_TOPIC", "no_such_topic_here")


def test_the_engine_waits_for_an_unreachable_kafka_in_a_few_lines_and_stops_on_sigterm(pipeline: Settings) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    env = env_for(pipeline) | {"PULSE_KAFKA_BOOTSTRAP": bootstrap}
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PULSE_")}
    engine = subprocess.Popen([sys.executable, "-m", "pulse.cli", "run"], env={**clean, **env},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(ENGINE_WATCH_S)
        assert engine.poll() is None, f"the engine exited: {engine.communicate()[1]}"
        stopping = time.monotonic()
        engine.send_signal(signal.SIGTERM)
        stdout, stderr = engine.communicate(timeout=15)
        stopped_after = time.monotonic() - stopping
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
    lines = stderr.splitlines()
    reports = [line for line in lines if "Kafka unreachable" in line]
    # reports at 0, 2 and 6 s of the outage (then 14 s): 3 in 10 s, whatever librdkafka's own rate
    assert 2 <= len(reports) <= 4, stderr
    assert all(f"PULSE_KAFKA_BOOTSTRAP={bootstrap}" in line for line in reports), reports
    assert [re.search(r"next report in (\d+) s", line).group(1) for line in reports][:3] == ["2", "4", "8"][
        : len(reports)]  # type: ignore[union-attr]
    assert not [line for line in lines if re.match(r"%\d+\|", line) or "rdkafka#" in line], stderr
    assert len(lines) <= 10, stderr  # started, the reports, stop requested, stopped
    assert engine.returncode == 0, stderr
    assert stopped_after < 8, f"the engine took {stopped_after:.1f} s to stop"
    assert "engine stopped" in stdout
