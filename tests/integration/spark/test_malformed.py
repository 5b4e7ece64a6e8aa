"""Bad input on the Spark engine: every malformed message is quarantined with its reason and Kafka coordinates
and the stream goes on; a warehouse the loader cannot write to stops the query with the error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from psycopg.conninfo import make_conninfo

from pulse.engines.spark import SparkEngine
from pulse.errors import TerminalError
from pulse.events.model import RejectReason
from pulse.settings import Settings
from tests.services import scalar

pytestmark = pytest.mark.integration

CASES = Path(__file__).parents[2] / "cases"
INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.suffix in {".json", ".bin"})
VALID = (CASES / "valid" / "samples.jsonl").read_bytes().splitlines()
EXPECTED_IDS = sorted(case["event_id"] for case in json.loads((CASES / "valid" / "expected.json").read_text()))


def reason_of(path: Path) -> str:
    """The hand-assigned reason code of an invalid case: its file name (see tests/cases/invalid/README.md)."""
    stem = path.name.split(".")[0]
    for reason in sorted(RejectReason, key=lambda r: -len(r.value)):
        if stem == reason.value or stem.startswith(reason.value + "_"):
            return reason.value
    raise AssertionError(f"no reason code in case name {path.name}")


def produce(settings: Settings, messages: list[bytes]) -> list[tuple[int, int]]:
    """Send the messages in order to partition 0 and 1 alternately; return their (partition, offset)."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True})
    coordinates: dict[int, tuple[int, int]] = {}

    def delivered(index: int) -> Any:
        def report(err: Any, msg: Any) -> None:
            assert err is None, err
            coordinates[index] = (msg.partition(), msg.offset())
        return report

    for i, value in enumerate(messages):
        producer.produce(settings.topic, value, partition=i % 2, on_delivery=delivered(i))
    assert producer.flush(30) == 0
    return [coordinates[i] for i in range(len(messages))]


def test_malformed_messages_are_quarantined_and_the_stream_goes_on(
    pipeline: Settings, spark_session: Any, tmp_path: Path
) -> None:
    # valid events before, between and after the malformed ones
    messages = [VALID[0], *(p.read_bytes() for p in INVALID[:7]), *VALID[1:4], *(p.read_bytes() for p in INVALID[7:]),
                VALID[4]]
    coordinates = produce(pipeline, messages)
    expected = {
        coordinates[messages.index(p.read_bytes(), 1)]: reason_of(p) for p in INVALID
    }
    assert len(expected) == len(INVALID)

    stats = SparkEngine(pipeline, spark_session, checkpoint=tmp_path / "checkpoint").run(until_idle=4.0)

    assert stats.messages == len(messages)
    with psycopg.connect(pipeline.database_url) as conn:
        quarantined = {
            (partition, offset): reason for partition, offset, reason in conn.execute(
                "SELECT src_partition, src_offset, reason FROM quarantine WHERE src_topic = %s", (pipeline.topic,)
            )
        }
        raws = {bytes(raw) for (raw,) in conn.execute("SELECT raw FROM quarantine")}
        loaded = [row[0] for row in conn.execute("SELECT event_id FROM fact_event ORDER BY 1")]
    assert quarantined == expected
    assert raws == {p.read_bytes() for p in INVALID}, "the exact bytes are kept"
    assert loaded == EXPECTED_IDS
    assert scalar(pipeline.database_url, "SELECT quarantined FROM load_state") == len(INVALID)


def test_a_warehouse_that_refuses_the_loader_stops_the_query_with_the_error(
    pipeline: Settings, spark_session: Any, tmp_path: Path
) -> None:
    produce(pipeline, VALID[:2])
    # the same role and password file, another database name
    wrong_url = make_conninfo(pipeline.loader_url, dbname="no_such_database")
    wrong = pipeline.model_copy(update={"loader_database_url": wrong_url})
    with pytest.raises(TerminalError, match="no_such_database"):
        SparkEngine(wrong, spark_session, checkpoint=tmp_path / "checkpoint").run(until_idle=30.0)
    assert scalar(pipeline.database_url, "SELECT count(*) FROM fact_event") == 0
