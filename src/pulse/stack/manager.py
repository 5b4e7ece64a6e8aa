"""The local stack as one unit: bring Kafka and PostgreSQL up, down, and report their state."""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from confluent_kafka import KafkaException

from pulse.errors import MissingToolError
from pulse.settings import STACK_ENV_FILE, Settings
from pulse.stack import broker, cluster, topics
from pulse.stack.credentials import parse_target, pgpass_path, role_url
from pulse.stack.files import PRIVATE_DIR, open_private_append, private_dir
from pulse.stack.java import JAVA_PACKAGE, find_java
from pulse.stack.kafka import jars_present, kafka_lib_dir
from pulse.stack.proc import Progress, say
from pulse.stack.roles import DASHBOARD_ROLE, ENGINE_ROLE

State = Literal["up", "down"]


@dataclass(frozen=True)
class StackStatus:
    """What runs where. URLs carry no password: they name the stack's password file `pgpass` (libpq's passfile)."""

    home: Path
    kafka: State
    postgres: State
    kafka_bootstrap: str
    topic: str
    topic_partitions: int | None
    kafka_pid: int | None
    database_url: str
    loader_database_url: str
    reader_database_url: str
    pgpass: Path
    stack_env: Path
    kafka_log: Path
    postgres_data: Path
    postgres_log: Path

    @property
    def up(self) -> bool:
        """Both services run."""
        return self.kafka == "up" and self.postgres == "up"

    def as_dict(self) -> dict[str, str | int | None]:
        """Plain values for `--format json`."""
        return {
            "home": str(self.home),
            "kafka": self.kafka,
            "postgres": self.postgres,
            "kafka_bootstrap": self.kafka_bootstrap,
            "topic": self.topic,
            "topic_partitions": self.topic_partitions,
            "kafka_pid": self.kafka_pid,
            "database_url": self.database_url,
            "loader_database_url": self.loader_database_url,
            "reader_database_url": self.reader_database_url,
            "pgpass": str(self.pgpass),
            "stack_env": str(self.stack_env),
            "kafka_log": str(self.kafka_log),
            "postgres_data": str(self.postgres_data),
            "postgres_log": str(self.postgres_log),
        }


def stack_up(settings: Settings, progress: Progress | None = None) -> StackStatus:
    """Start whatever is not running (running services are left alone), create the topic if missing and
    write `$PULSE_HOME/stack.env`. Safe to call again. Settings loaded afterwards read the role URLs and the
    password file from stack.env; settings made before connect through `settings.using_passfile(status.pgpass)`."""
    check_tools()
    with _stack_lock(settings):
        broker.start_kafka(settings, progress, wait=False)  # the JVM boots while PostgreSQL starts
        cluster.start_postgres(settings, progress)
        broker.wait_for_kafka(settings)
        topics.ensure_topic(settings, progress)
        write_stack_env(settings)
    return stack_status(settings)


def stack_down(settings: Settings, progress: Progress | None = None) -> StackStatus:
    """Stop both services gracefully (Kafka first, then PostgreSQL with a fast shutdown)."""
    with _stack_lock(settings):
        if broker.stop_kafka(settings):
            say(progress, "stopped Kafka")
        if cluster.stop_postgres(settings):
            say(progress, "stopped PostgreSQL")
    return stack_status(settings)


def stack_status(settings: Settings) -> StackStatus:
    """The state of both services; cheap enough for a health endpoint (no Maven, no starts)."""
    kafka_pid = broker.broker_pid(settings)
    kafka_up = kafka_pid is not None and broker.kafka_is_up(settings)
    partitions = None
    if kafka_up:
        try:
            partitions = topics.topic_partitions(settings)
        except KafkaException:
            partitions = None
    files = cluster.cluster_files(settings)
    owner = parse_target(settings).owner
    return StackStatus(
        home=settings.home.expanduser().resolve(),
        kafka="up" if kafka_up else "down",
        postgres="up" if cluster.postgres_is_up(settings) else "down",
        kafka_bootstrap=settings.kafka_bootstrap,
        topic=settings.topic,
        topic_partitions=partitions,
        kafka_pid=kafka_pid if kafka_up else None,
        database_url=role_url(settings, owner),
        loader_database_url=role_url(settings, ENGINE_ROLE),
        reader_database_url=role_url(settings, DASHBOARD_ROLE),
        pgpass=pgpass_path(settings),
        stack_env=_stack_env_path(settings),
        kafka_log=broker.broker_files(settings).log,
        postgres_data=files.data,
        postgres_log=files.log,
    )


def check_tools() -> None:
    """MissingToolError naming every missing program: Java 17+, PostgreSQL, and Maven if jars are missing."""
    missing: dict[str, str] = {}  # what -> Debian package
    try:
        find_java()
    except MissingToolError:
        missing["Java 17+"] = JAVA_PACKAGE
    try:
        cluster.server_bindir()
    except MissingToolError:
        missing["the PostgreSQL server"] = "postgresql"
    if not jars_present(kafka_lib_dir()) and shutil.which("mvn") is None:
        missing["Maven (to fetch the Kafka jars once)"] = "maven"
    if missing:
        raise MissingToolError(
            f"the local stack needs {', '.join(missing)}: "
            f"apt-get install {' '.join(missing.values())} (or run scripts/install.sh)"
        )


def write_stack_env(settings: Settings) -> Path:
    """Write `$PULSE_HOME/stack.env` (mode 0600), which load_settings reads below real PULSE_* variables:
    the engine's and the dashboard's role URLs (no passwords), the password file of every connection and,
    unless PULSE_HASH_KEY is set, a local pseudonymisation key generated once and kept across runs."""
    path = _stack_env_path(settings)
    hash_key = _read_env_value(path, "PULSE_HASH_KEY")
    if hash_key is None and settings.hash_key is None:
        hash_key = secrets.token_hex(32)
    lines = [
        "# Written by `pulse stack up`: how to reach the local stack. Real PULSE_* environment variables win.",
        f"PULSE_LOADER_DATABASE_URL={role_url(settings, ENGINE_ROLE)}",
        f"PULSE_READER_DATABASE_URL={role_url(settings, DASHBOARD_ROLE)}",
        "# The passwords of the roles (never in this file or a URL): libpq reads them from here.",
        f"PULSE_PASSFILE={pgpass_path(settings)}",
    ]
    if hash_key is not None:
        lines.append("# Local-only key of the keyed hash of e-mail and device id: keep it, or pseudonyms change.")
        lines.append(f"PULSE_HASH_KEY={hash_key}")
    handle, temporary = tempfile.mkstemp(prefix=".stack-env-", dir=path.parent)  # mode 0600
    with os.fdopen(handle, "w") as out:
        out.write("\n".join(lines) + "\n")
    os.replace(temporary, path)
    return path


def _stack_env_path(settings: Settings) -> Path:
    return settings.home.expanduser().resolve() / STACK_ENV_FILE


def _read_env_value(path: Path, name: str) -> str | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == name and value.strip():
            return value.strip()
    return None


@contextmanager
def _stack_lock(settings: Settings) -> Iterator[None]:
    """One `stack up`/`stack down` at a time per PULSE_HOME."""
    home = settings.home.expanduser().resolve()
    if not home.exists():  # as root the cluster runs as the postgres OS user: it must traverse (never list) it
        private_dir(home, mode=0o711 if os.geteuid() == 0 else PRIVATE_DIR)
    with os.fdopen(open_private_append(home / "stack.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield

