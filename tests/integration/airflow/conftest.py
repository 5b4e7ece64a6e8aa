"""A real Airflow (its own venv .venv-airflow) with one SQLite metadata database for the session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulse.settings import Settings
from pulse.testing.slack import SlackReceiver
from tests.services import env_for

REPO = Path(__file__).parents[3]
AIRFLOW_VENV = REPO / ".venv-airflow" / "bin"
DAGS = REPO / "deploy" / "airflow" / "dags"
PULSE_BIN = Path(sys.executable).parent / "pulse"


@pytest.fixture(scope="session")
def airflow_env() -> Iterator[dict[str, str]]:
    """Environment of an Airflow whose metadata database is migrated and whose DAGs folder is pulse's."""
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
    result = subprocess.run([str(AIRFLOW_VENV / "airflow"), "db", "migrate"], env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    if result.returncode != 0:
        pytest.fail(f"`airflow db migrate` failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    yield env
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    """The local webhook receiver the Airflow connection slack_pulse points at."""
    with SlackReceiver() as receiver:
        yield receiver


def dag_env(airflow_env: dict[str, str], settings: Settings, slack: SlackReceiver, **extra: str) -> dict[str, str]:
    """Airflow's environment plus what its tasks need: the pulse CLI, the test's warehouse, the Slack connection."""
    pulse_env = {k: v for k, v in env_for(settings).items() if k.startswith("PULSE_") or k == "PGPASSFILE"}
    connection = f'{{"conn_type": "slackwebhook", "password": "{slack.url}"}}'
    return {**airflow_env, **pulse_env, "PULSE_BIN": str(PULSE_BIN), "AIRFLOW_CONN_SLACK_PULSE": connection, **extra}


def airflow(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the real `airflow` command line."""
    return subprocess.run([str(AIRFLOW_VENV / "airflow"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
