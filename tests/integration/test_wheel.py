"""The built wheel, installed into a clean venv outside the repository, runs against the test stack.

It finds its package data (migrations, the Superset bundle and config, the alert rules) through
importlib.resources, so `pulse migrate` creates the schema from the wheel's own files and `pulse kpi`
answers what an independent computation of the replayed fixture expects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from pydantic import SecretStr

from pulse.engines.native import NativeEngine
from pulse.settings import Settings
from tests.conftest import FIXTURE_MAX_EVENT_AGE_DAYS, PARTITIONS
from tests.services import drop_database, env_for, fresh_database

from .labelled import build_fixture, expected_kpis

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = sorted(p.stem for p in (ROOT / "src" / "pulse" / "warehouse" / "migrations").glob("[0-9]*.sql"))
DAY = date(2026, 3, 29)
INSTALL_TIMEOUT_S = 900  # the dependencies come from the package index (pip's cache makes a rerun fast)


def _clean_env(base: dict[str, str], venv: Path) -> dict[str, str]:
    """`base` without anything that would put the repository's pulse or its venv first."""
    env = {k: v for k, v in base.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSAFEPATH")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{base.get('PATH', '')}"
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the repository with nothing but the freshly built wheel and its dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    assert not work.is_relative_to(ROOT)
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)],
                 work, _clean_env(dict(os.environ), work), timeout=INSTALL_TIMEOUT_S)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("pulse-*.whl")
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], work, _clean_env(dict(os.environ), venv))
    assert made.returncode == 0, made.stderr
    done = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], work,
                _clean_env(dict(os.environ), venv), timeout=INSTALL_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv


@pytest.fixture
def empty_warehouse(stack: Settings) -> Iterator[Settings]:
    """A database with no schema yet, a topic and a consumer group of its own."""
    name = f"w_{uuid.uuid4().hex[:10]}"
    settings = fresh_database(
        stack, name, migrated=False, topic=name, consumer_group=f"group-{name}",
        hash_key=SecretStr("wheel-test-hash-key-0123456789"), batch_max_wait_ms=100,
        max_event_age_days=FIXTURE_MAX_EVENT_AGE_DAYS,
    )
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    for future in admin.create_topics([NewTopic(name, PARTITIONS, 1)]).values():
        future.result(timeout=30)
    yield settings
    admin.delete_topics([name])
    drop_database(stack, name)


def test_the_wheel_finds_its_package_data_outside_the_repository(installed: Path) -> None:
    outside = installed.parent
    env = _clean_env(dict(os.environ), installed)
    probe = (
        "import json, pulse; from pulse.serve.superset import BUNDLE_DIR; from pulse.stack.prometheus import"
        " ALERT_RULES; from pulse.stack.superset import CONFIG; from pulse.warehouse.migrate import"
        " available_migrations; print(json.dumps({'pulse': pulse.__file__, 'bundle': str(BUNDLE_DIR / 'metadata.yaml'),"
        " 'charts': len(list((BUNDLE_DIR / 'charts').glob('*.yaml'))), 'alerts': str(ALERT_RULES),"
        " 'config': str(CONFIG), 'migrations': [f'{m.version:04d}_{m.name}' for m in available_migrations()]}))"
    )
    done = _run([str(installed / "bin" / "python"), "-c", probe], outside, env)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    site = next((installed / "lib").glob("python3*/site-packages"))
    assert Path(found["pulse"]).is_relative_to(site), found["pulse"]
    for key in ("bundle", "alerts", "config"):
        assert Path(found[key]).is_relative_to(site) and Path(found[key]).is_file(), found[key]
    assert found["charts"] == len(list((ROOT / "src/pulse/resources/superset/bundle/charts").glob("*.yaml"))) == 7
    assert found["migrations"] == MIGRATIONS
    helped = _run([str(installed / "bin" / "pulse"), "superset", "provision", "--help"], outside, env)
    assert helped.returncode == 0 and "--bundle" in helped.stdout, helped.stderr


def test_every_module_imports_with_the_declared_dependencies_alone(installed: Path) -> None:
    probe = (
        "import importlib, pkgutil, pulse\n"
        "for m in pkgutil.walk_packages(pulse.__path__, 'pulse.'):\n"
        "    if not m.name.endswith('superset_config'):  # Superset's config file, read by Superset\n"
        "        importlib.import_module(m.name)\n"
    )
    done = _run([str(installed / "bin" / "python"), "-c", probe], installed.parent,
                _clean_env(dict(os.environ), installed))
    assert done.returncode == 0, done.stderr[-3000:]  # a runtime import of a test-only package shows here


def test_the_installed_cli_migrates_and_answers_a_kpi(
    installed: Path, empty_warehouse: Settings, tmp_path: Path
) -> None:
    outside = installed.parent
    env = _clean_env(env_for(empty_warehouse), installed)
    pulse = str(installed / "bin" / "pulse")

    helped = _run([pulse, "--help"], outside, env)
    assert helped.returncode == 0, helped.stderr
    assert all(command in helped.stdout for command in ("migrate", "kpi", "stack", "run", "serve"))

    migrated = _run([pulse, "migrate"], outside, env)
    assert migrated.returncode == 0, migrated.stderr
    assert [line.split()[2] + "_" + line.split()[3] for line in migrated.stdout.splitlines()
            if line.startswith("applied migration")] == MIGRATIONS
    again = _run([pulse, "migrate"], outside, env)
    assert (again.returncode, again.stdout.strip()) == (0, "warehouse schema is up to date")

    fixture = build_fixture(DAY, n_valid=300)
    replay = tmp_path / "replay.jsonl"
    replay.write_bytes(b"\n".join(fixture.lines) + b"\n")
    sent = _run([pulse, "replay", str(replay)], outside, env)
    assert sent.returncode == 0, sent.stderr
    NativeEngine(empty_warehouse).run(until_idle=3.0)

    args = [pulse, "kpi", "top-products", "--date", DAY.isoformat(), "--tz", "UTC"]
    answer = _run([*args, "--format", "json"], outside, env)
    assert answer.returncode == 0, answer.stderr
    rows = json.loads(answer.stdout)["rows"]
    assert rows == expected_kpis(fixture, DAY, "UTC", "DE", "101")["top-products"] and rows
    table = _run(args, outside, {**env, "COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert all(str(row["product_id"]) in table.stdout for row in rows)
