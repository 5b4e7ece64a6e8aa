"""Real Kafka and PostgreSQL for the integration tests: one local stack per session, one database and
one topic per test. A stack that cannot start fails the tests with its reason; nothing is skipped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from pydantic import SecretStr

from pulse.settings import Settings
from tests.services import drop_database, fresh_database, private_stack

PARTITIONS = 4
# The fixtures are fixed days (2026-03-29, a DST day; the 2024-05-28 golden samples) that the default
# PULSE_MAX_EVENT_AGE_DAYS (400) rejects once they are that old: integration tests accept events that old.
FIXTURE_MAX_EVENT_AGE_DAYS = 36_500


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """A private local stack (temporary PULSE_HOME, free ports) for the whole session."""
    with private_stack("pulse-it-", PARTITIONS) as settings:
        yield settings


@pytest.fixture
def pipeline(stack: Settings) -> Iterator[Settings]:
    """Settings for one test: a fresh migrated database, a fresh topic and consumer group."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    settings = fresh_database(
        stack, name, topic=name, consumer_group=f"group-{name}",
        hash_key=SecretStr("integration-test-hash-key-0123456789"), batch_max_wait_ms=100,
        max_event_age_days=FIXTURE_MAX_EVENT_AGE_DAYS,
    )
    admin_client = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    for future in admin_client.create_topics([NewTopic(name, PARTITIONS, 1)]).values():
        future.result(timeout=30)
    yield settings
    admin_client.delete_topics([name])
    drop_database(stack, name)
