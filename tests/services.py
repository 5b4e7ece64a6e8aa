"""Helpers for tests that talk to the real services: connections, the CLI, environment for subprocesses."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from pulse.settings import Settings, load_settings
from pulse.stack import cluster
from pulse.stack.credentials import parse_target, pgpass_path, role_url
from pulse.stack.manager import stack_down, stack_up
from pulse.stack.roles import DASHBOARD_ROLE, ENGINE_ROLE
from pulse.warehouse.migrate import migrate


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def superuser(settings: Settings) -> psycopg.Connection:
    """The cluster's bootstrap superuser over the stack's unix socket (peer authentication)."""
    return cluster.superuser(settings)


def env_for(settings: Settings) -> dict[str, str]:
    """Environment variables that make a `pulse` subprocess use these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update(
        {
            "PULSE_HOME": str(settings.home),
            "PULSE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "PULSE_TOPIC": settings.topic,
            "PULSE_CONSUMER_GROUP": settings.consumer_group,
            "PULSE_DATABASE_URL": settings.database_url,
            "PULSE_LOADER_DATABASE_URL": settings.loader_url,
            "PULSE_READER_DATABASE_URL": settings.reader_url,
            "PULSE_HASH_KEY": settings.require_hash_key().decode(),
            "PULSE_BATCH_MAX_WAIT_MS": str(settings.batch_max_wait_ms),
            "PULSE_MAX_EVENT_AGE_DAYS": str(settings.max_event_age_days),
            "PULSE_MAX_FUTURE_SKEW_S": str(settings.max_future_skew_s),
            **({"PULSE_PASSFILE": str(settings.passfile)} if settings.passfile else {}),
        }
    )
    return env


def pulse_cli(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `pulse` command line against these settings."""
    return subprocess.run(
        [sys.executable, "-m", "pulse.cli", *args], env=env_for(settings), capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def scalar(url: str, query: str) -> object:
    """One value from the warehouse."""
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


@contextmanager
def private_stack(prefix: str, partitions: int) -> Iterator[Settings]:
    """A Kafka + PostgreSQL of its own (temporary PULSE_HOME, free ports), without the caller's PULSE_* (or
    PGPASSFILE) environment; stopped and removed at the end, the environment restored. The settings' URLs name
    the stack's password file, as those of a command run after `pulse stack up` do."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    home.chmod(0o755)  # as root the cluster runs as the postgres OS user, which must reach it
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PULSE_") or k == "PGPASSFILE"}
    settings = load_settings(
        home=home,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        database_url=f"postgresql://pulse@127.0.0.1:{free_port()}/pulse",
        topic_partitions=partitions,
    )
    settings = settings.using_passfile(pgpass_path(settings))
    try:
        stack_up(settings)
        yield settings
    finally:
        stack_down(settings)
        shutil.rmtree(home, ignore_errors=True)
        os.environ.update(saved)


def fresh_database(stack: Settings, name: str, *, migrated: bool = True, **update: object) -> Settings:
    """A new database `name` on the stack (migrated unless told otherwise), and settings whose three roles
    point at it."""
    owner = parse_target(stack).owner
    with superuser(stack) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    settings = stack.model_copy(update={
        "database_url": role_url(stack, owner, name),
        "loader_database_url": role_url(stack, ENGINE_ROLE, name),
        "reader_database_url": role_url(stack, DASHBOARD_ROLE, name),
        **update,
    })
    if migrated:
        with psycopg.connect(settings.database_url) as conn:
            migrate(conn)
    return settings


def drop_database(stack: Settings, name: str) -> None:
    """Drop a test database, closing its sessions."""
    with superuser(stack) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
