"""Spark for the Spark engine's tests: one local[2] session (connector jars from the Maven cache), and a
second warehouse database fed from the same topic for engine parity. Missing jars fail, never skip."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pulse.errors import MissingToolError
from pulse.settings import Settings
from pulse.stack import postgres
from pulse.warehouse.migrate import migrate
from tests.services import superuser

# Small and quick on a shared 2-core machine.
SPARK_TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.ui.enabled": "false",
    "spark.sql.streaming.numRecentProgressUpdates": "50",
}


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """A real local[2] SparkSession with Spark's Kafka source."""
    from pulse.engines.spark import build_session

    try:
        session = build_session("local[2]", app_name="pulse-tests", extra_conf=SPARK_TEST_CONF)
    except MissingToolError as exc:
        pytest.fail(f"{exc}\n(the Spark tests need the connector jars: bash scripts/install.sh)", pytrace=False)
    yield session
    session.stop()


@pytest.fixture
def second_warehouse(pipeline: Settings) -> Iterator[Settings]:
    """Settings for another fresh migrated database that reads the same topic as `pipeline`."""
    name = f"{pipeline.topic}_b_{uuid.uuid4().hex[:4]}"
    target = postgres.parse_target(pipeline)
    with superuser(pipeline) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(target.owner)))
    base = f"127.0.0.1:{target.port}/{name}"
    settings = pipeline.model_copy(
        update={
            "database_url": f"postgresql://{target.owner}@{base}",
            "loader_database_url": f"postgresql://pulse_engine@{base}",
            "reader_database_url": f"postgresql://pulse_dashboard@{base}",
            "consumer_group": f"spark-{name}",
        }
    )
    with psycopg.connect(settings.database_url) as conn:
        migrate(conn)
    yield settings
    with superuser(pipeline) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
