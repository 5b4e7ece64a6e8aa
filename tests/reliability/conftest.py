"""The reliability suite's own stack (it restarts PostgreSQL and Kafka), its size and its results table.

`pytest tests/reliability` runs the reduced size (CI); `--reliability-full` (or PULSE_RELIABILITY_SCALE=full)
the full size; `--reliability-report PATH` writes the results table (docs/reliability.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from pulse.settings import Settings
from tests.reliability.report import ROWS, Row, Scale, write_report
from tests.services import private_stack

# Large enough for the multi-megabyte hostile messages (the broker's default is about 1 MB).
TOPIC_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reliability")
    group.addoption("--reliability-full", action="store_true", help="run the reliability suite at full size")
    group.addoption("--reliability-report", metavar="PATH", help="write the reliability results table to PATH")


@pytest.fixture(scope="package")
def scale(request: pytest.FixtureRequest) -> Scale:
    """Reduced (CI) or full size."""
    full = request.config.getoption("reliability_full", default=False)
    return Scale.full() if full or os.environ.get("PULSE_RELIABILITY_SCALE") == "full" else Scale.reduced()


@pytest.fixture(scope="package")
def stack() -> Iterator[Settings]:
    """A private Kafka + PostgreSQL for this package (overrides the session stack): the tests restart
    them, which other tests must not see."""
    with private_stack("pulse-rel-", 4) as settings:
        yield settings


@pytest.fixture
def workspace(pipeline: Settings) -> Settings:
    """A fresh database and topic (the `pipeline` fixture, on the private stack) whose topic takes
    messages up to TOPIC_MAX_MESSAGE_BYTES."""
    admin = AdminClient({"bootstrap.servers": pipeline.kafka_bootstrap})
    resource = ConfigResource(
        ConfigResource.Type.TOPIC, pipeline.topic,
        incremental_configs=[ConfigEntry("max.message.bytes", str(TOPIC_MAX_MESSAGE_BYTES),
                                         incremental_operation=AlterConfigOpType.SET)],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    return pipeline


@pytest.fixture
def report_row(request: pytest.FixtureRequest, scale: Scale) -> Iterator[Row]:
    """The results-table row of this test (filled by the test, outcome set by the hook below); its wall
    time runs from after the workspace exists to the end of the test."""
    row = Row(test=request.node.nodeid, scale=scale.name)
    ROWS.append(row)
    started = time.monotonic()
    yield row
    row.wall_s = time.monotonic() - started


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call" or (report.when == "setup" and report.failed):
        for row in ROWS:
            if row.test == item.nodeid:
                row.outcome = "pass" if report.passed else "FAIL"
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("reliability_report", default=None)
    if path and ROWS:
        write_report(Path(path), ROWS)
