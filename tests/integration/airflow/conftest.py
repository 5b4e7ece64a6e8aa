"""A real Airflow (its own venv .venv-airflow), started once per session with a SQLite metadata database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from pulse.settings import Settings
from pulse.testing.slack import SlackReceiver
from tests.services import env_for

REPO = Path(__file__).parents[3]
AIRFLOW_VENV = REPO / ".venv-airflow" / "bin"
DAGS = REPO / "deploy" / "airflow" / "dags"
PULSE_BIN = Path(sys.executable).parent / "pulse"
MARK = "PULSE-AIRFLOW-RESULT "


class Airflow:
    """The `airflow` command line in one long-lived process (airflow_driver.py), so it starts only once."""

    def __init__(self, env: dict[str, str], log: IO[str]) -> None:
        self.log = log
        self._proc = subprocess.Popen(
            [str(AIRFLOW_VENV / "python"), str(Path(__file__).parent / "airflow_driver.py")],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def request(self, **request: Any) -> tuple[dict[str, Any], str]:
        """Send one request; returns the answer and everything Airflow printed meanwhile."""
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        output: list[str] = []
        for line in self._proc.stdout:
            self.log.write(line)
            if line.startswith(MARK):
                return json.loads(line.removeprefix(MARK)), "".join(output)
            output.append(line)
        raise AssertionError(f"Airflow exited ({self._proc.wait()}):\n{''.join(output)[-4000:]}")

    def run(self, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        """`airflow ARGV` with these extra environment variables: (exit status, output)."""
        answer, output = self.request(argv=list(argv), env=env or {})
        return int(answer["status"]), output + answer.get("error", "")

    def close(self) -> None:
        """End the Airflow process."""
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


@pytest.fixture(scope="session")
def airflow() -> Iterator[Airflow]:
    """Airflow with a migrated SQLite metadata database and pulse's DAGs folder."""
    if not (AIRFLOW_VENV / "airflow").exists():
        pytest.fail("Airflow is not installed: run `bash scripts/install.sh` (it creates .venv-airflow)")
    home = Path(tempfile.mkdtemp(prefix="pulse-airflow-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PULSE_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    })
    with open(home / "driver.log", "w") as log:
        running = Airflow(env, log)
        try:
            status, output = running.run("db", "migrate")
            if status != 0:
                pytest.fail(f"`airflow db migrate` failed:\n{output[-4000:]}")
            yield running
        finally:
            running.close()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    """The local webhook receiver the Airflow connection slack_pulse points at."""
    with SlackReceiver() as receiver:
        yield receiver


def task_env(settings: Settings, slack: SlackReceiver, **extra: str) -> dict[str, str]:
    """What the DAGs' tasks need: the pulse CLI, the test's warehouse, the Slack connection."""
    pulse_env = {k: v for k, v in env_for(settings).items() if k.startswith("PULSE_") or k == "PGPASSFILE"}
    connection = json.dumps({"conn_type": "slackwebhook", "password": slack.url})
    return {**pulse_env, "PULSE_BIN": str(PULSE_BIN), "AIRFLOW_CONN_SLACK_PULSE": connection, **extra}
