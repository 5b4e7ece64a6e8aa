"""Pure parts of health and canary: verdict aggregation, exit codes, the canary event through the real core."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from pulse.events.decode import decode_event
from pulse.events.model import Event
from pulse.model.star import CANARY_COLLECTION
from pulse.ops.canary import canary_event
from pulse.ops.health import Check, HealthReport, Status
from pulse.pipeline import Enrichers, transform_batch

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("statuses", "overall", "code"),
    [
        ([], Status.ok, 0),
        ([Status.ok, Status.ok], Status.ok, 0),
        ([Status.ok, Status.warn, Status.ok], Status.warn, 1),
        ([Status.warn, Status.fail, Status.ok], Status.fail, 2),
        ([Status.fail], Status.fail, 2),
    ],
)
def test_the_worst_check_decides_status_and_exit_code(statuses: list[Status], overall: Status, code: int) -> None:
    report = HealthReport([Check(f"c{i}", s, "m") for i, s in enumerate(statuses)], NOW)
    assert report.status is overall
    assert report.exit_code == code
    doc = report.as_dict()
    assert doc["status"] == overall.value and doc["exit_code"] == code
    assert [c["status"] for c in doc["checks"]] == [s.value for s in statuses]
    orjson.dumps(doc)  # plain JSON values only


def test_the_canary_event_is_valid_marked_and_carries_no_personal_data() -> None:
    raw = canary_event("pulse-canary-123", NOW)
    assert set(orjson.loads(raw)) == {"id", "collection", "time_stamp", "api_version"}
    event = decode_event(raw, None, now=NOW.timestamp())
    assert isinstance(event, Event), event
    assert event.event_id == "pulse-canary-123"
    assert event.collection == CANARY_COLLECTION
    assert event.event_time == NOW


def test_the_canary_event_becomes_one_fact_row_of_the_canary_collection() -> None:
    enrichers = Enrichers.create(hash_key=b"unit-test-hash-key-0123456789")
    batch = transform_batch([(canary_event("pulse-canary-9", NOW), None)], enrichers, now=NOW.timestamp())
    assert batch.rejections == []
    assert len(batch.facts) == 1
    assert batch.facts[0][0] == "pulse-canary-9" and batch.facts[0][5] == CANARY_COLLECTION
