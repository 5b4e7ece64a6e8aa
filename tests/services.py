"""Helpers for tests that talk to the real services: connections, the CLI, environment for subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psycopg

from pulse.settings import Settings
from pulse.stack import postgres


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def superuser(settings: Settings) -> psycopg.Connection:
    """The cluster's bootstrap superuser over the stack's unix socket (peer authentication)."""
    target = postgres.parse_target(settings)
    return psycopg.connect(
        host=str(postgres.cluster_files(settings).socket_dir), port=target.port, user="postgres",
        dbname="postgres", autocommit=True,
    )


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
