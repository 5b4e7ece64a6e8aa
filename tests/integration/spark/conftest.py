"""Spark for the Spark engine's tests: one local[2] session (connector jars from the Maven cache), and a
second warehouse database fed from the same topic for engine parity. Missing jars fail, never skip."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pulse.errors import MissingToolError
from pulse.settings import Settings
from tests.services import drop_database, fresh_database

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
    yield fresh_database(pipeline, name, consumer_group=f"spark-{name}")
    drop_database(pipeline, name)
