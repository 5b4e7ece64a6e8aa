"""Real Kafka and PostgreSQL for the integration tests: one local stack per session, one database and
one topic per test. A stack that cannot start fails the tests with its reason; nothing is skipped."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql
from pydantic import SecretStr

from pulse.settings import Settings, load_settings
from pulse.stack import postgres
from pulse.stack.manager import export_local_credentials, stack_down, stack_up
from pulse.warehouse.migrate import migrate
from tests.services import free_port, superuser

PARTITIONS = 4


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """A private local stack (temporary PULSE_HOME, free ports) for the whole session."""
    home = Path(tempfile.mkdtemp(prefix="pulse-it-"))
    home.chmod(0o755)  # as root the cluster runs as the postgres OS user, which must reach it
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PULSE_") or k == "PGPASSFILE"}
    settings = load_settings(
        home=home,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        database_url=f"postgresql://pulse@127.0.0.1:{free_port()}/pulse",
        topic_partitions=PARTITIONS,
    )
    try:
        stack_up(settings)
        export_local_credentials(settings)
        yield settings
    finally:
        stack_down(settings)
        shutil.rmtree(home, ignore_errors=True)
        os.environ.pop("PGPASSFILE", None)
        os.environ.update(saved)


@pytest.fixture
def pipeline(stack: Settings) -> Iterator[Settings]:
    """Settings for one test: a fresh migrated database, a fresh topic and consumer group."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    target = postgres.parse_target(stack)
    with superuser(stack) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(target.owner)))
    base = f"127.0.0.1:{target.port}/{name}"
    settings = stack.model_copy(
        update={
            "database_url": f"postgresql://{target.owner}@{base}",
            "loader_database_url": f"postgresql://pulse_engine@{base}",
            "reader_database_url": f"postgresql://pulse_dashboard@{base}",
            "topic": name,
            "consumer_group": f"group-{name}",
            "hash_key": SecretStr("integration-test-hash-key-0123456789"),
            "batch_max_wait_ms": 100,
        }
    )
    admin_client = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    for future in admin_client.create_topics([NewTopic(name, PARTITIONS, 1)]).values():
        future.result(timeout=30)
    with psycopg.connect(settings.database_url) as conn:
        migrate(conn)
    yield settings
    admin_client.delete_topics([name])
    with superuser(stack) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
