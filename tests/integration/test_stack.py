"""The local stack lifecycle against the real Kafka and PostgreSQL, in a private PULSE_HOME on free ports."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pulse.settings import Settings, load_settings
from pulse.stack import broker, cluster
from pulse.stack.broker import start_kafka, stop_kafka
from pulse.stack.cluster import restart_postgres
from pulse.stack.credentials import pgpass_path
from pulse.stack.manager import StackStatus, stack_down, stack_status, stack_up
from pulse.stack.topics import topic_partitions

pytestmark = pytest.mark.integration

TOPIC_PARTITIONS = 3  # not the default, so the test sees the setting was used


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def stack_settings() -> Iterator[Settings]:
    """Settings for a throw-away stack; it is stopped and its files removed after the module."""
    # Not pytest's tmp_path: its parents are private to root, and as root the cluster runs as the
    # postgres OS user, which must be able to reach the data directory.
    home = Path(tempfile.mkdtemp(prefix="pulse-stack-test-"))
    home.chmod(0o755)
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.startswith("PULSE_")]:
            env.delenv(name)  # a private stack: nothing from the session's own stack settings
        settings = load_settings(
            home=home,
            kafka_bootstrap=f"127.0.0.1:{_free_port()}",
            database_url=f"postgresql://pulse@127.0.0.1:{_free_port()}/pulse",
            topic="stack_test_views",
            topic_partitions=TOPIC_PARTITIONS,
        )
        try:
            yield settings
        finally:
            stack_down(settings)
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def up(stack_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> StackStatus:
    """The stack running (started once per module; `stack_up` on a running stack is cheap)."""
    monkeypatch.delenv("PGPASSFILE", raising=False)
    return stack_up(stack_settings, progress=PROGRESS.append)


PROGRESS: list[str] = []


def _postmaster_pid(settings: Settings) -> int:
    return int((cluster.cluster_files(settings).data / "postmaster.pid").read_text().split()[0])


def test_up_starts_both_and_is_idempotent(stack_settings: Settings, up: StackStatus) -> None:
    assert (up.kafka, up.postgres) == ("up", "up"), up.as_dict()
    assert up.topic_partitions == TOPIC_PARTITIONS
    assert stack_status(stack_settings).as_dict() == up.as_dict()
    postmaster_pid = _postmaster_pid(stack_settings)

    again = stack_up(stack_settings)
    assert again.kafka_pid == up.kafka_pid and _postmaster_pid(stack_settings) == postmaster_pid
    assert again.as_dict() == up.as_dict()
    assert topic_partitions(stack_settings) == TOPIC_PARTITIONS


def test_roles_log_in_through_pgpass(stack_settings: Settings, up: StackStatus) -> None:
    passfile = pgpass_path(stack_settings)
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert "PGPASSFILE" not in os.environ  # nothing exported: each URL names the password file itself
    expected = {
        up.database_url: ("pulse", None),
        up.loader_database_url: ("pulse_engine", "pulse_loader"),
        up.reader_database_url: ("pulse_dashboard", "pulse_reader"),
    }
    for url, (role, group) in expected.items():
        assert url.startswith(f"postgresql://{role}@127.0.0.1:")  # no password in the URL
        assert conninfo_to_dict(url)["passfile"] == str(passfile)
        with psycopg.connect(url, connect_timeout=10) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
            if group:
                member = conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", [group]).fetchone()
                assert member == (True,)

    # no password ever shows up in what pulse reports
    passwords = [line.rsplit(":", 1)[1] for line in passfile.read_text().splitlines() if line[:1] != "#"]
    shown = " ".join(PROGRESS) + repr(up.as_dict())
    assert len(passwords) == 3 and not any(password in shown for password in passwords)


def test_stack_env_gives_later_commands_the_role_urls(stack_settings: Settings, up: StackStatus) -> None:
    assert stat.S_IMODE(up.stack_env.stat().st_mode) == 0o600
    text = up.stack_env.read_text()
    key = next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith("PULSE_HASH_KEY="))
    assert key not in repr(up.as_dict())

    later = load_settings(home=stack_settings.home)  # what a command run after `stack up` sees
    assert later.loader_url == up.loader_database_url
    assert later.reader_url == up.reader_database_url
    assert later.passfile == up.pgpass and conninfo_to_dict(later.database_url)["passfile"] == str(up.pgpass)
    assert len(later.require_hash_key()) >= 16
    stack_up(stack_settings)
    assert up.stack_env.read_text() == text  # the key is kept across runs


def test_pulse_home_is_private_to_its_owner(stack_settings: Settings, up: StackStatus) -> None:
    home = stack_settings.home.expanduser().resolve()
    readable = []
    for directory, _subdirectories, filenames in os.walk(home):
        for path in (Path(directory), *(Path(directory) / name for name in filenames)):
            if path != home and stat.S_IMODE(path.lstat().st_mode) & 0o077:
                readable.append(f"{oct(stat.S_IMODE(path.lstat().st_mode))} {path.relative_to(home)}")
    assert readable == []
    kafka_data = broker.broker_files(stack_settings).data
    segments = [p for p in kafka_data.rglob("*.log") if p.is_file()]
    files = cluster.cluster_files(stack_settings)
    assert segments and (files.data / "PG_VERSION").is_file()  # the walk did see the services' data
    for path in (kafka_data, *segments, files.data, up.pgpass, up.stack_env):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    # as root the cluster runs as the postgres OS user: its own directories are its own
    if os.geteuid() == 0:
        assert {files.root.stat().st_uid, files.data.stat().st_uid} == {pwd.getpwnam("postgres").pw_uid}


def test_restart_each_service(stack_settings: Settings, up: StackStatus) -> None:
    restart_postgres(stack_settings)
    assert cluster.postgres_is_up(stack_settings)
    with psycopg.connect(up.loader_database_url, connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    assert stop_kafka(stack_settings) is True
    assert stack_status(stack_settings).kafka == "down"
    assert stop_kafka(stack_settings) is False
    pid = start_kafka(stack_settings)
    status = stack_status(stack_settings)
    assert (status.kafka, status.kafka_pid, status.topic_partitions) == ("up", pid, TOPIC_PARTITIONS)


def test_down_stops_both(stack_settings: Settings, up: StackStatus) -> None:
    down = stack_down(stack_settings)
    assert (down.kafka, down.postgres) == ("down", "down")
    assert stack_status(stack_settings).as_dict() == down.as_dict()
    assert not broker.broker_files(stack_settings).pid.exists()
    assert stack_down(stack_settings).as_dict() == down.as_dict()  # down again is a no-op
