"""The dead-letter topic: exactly one message per quarantine row, with its reason and coordinates in headers,
also when the publisher is killed (-9) between producing a round and marking it (real Kafka, PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest
from confluent_kafka import TopicPartition

from pulse.engines.native import NativeEngine
from pulse.events.model import Rejection, RejectReason, SourceRef, Stage
from pulse.model.star import StarBatch
from pulse.settings import Settings
from pulse.sources import kafka
from pulse.warehouse.loader import WarehouseLoader
from tests.services import env_for, pulse_cli

pytestmark = pytest.mark.integration

# The publisher of a child process, killed with SIGKILL in its N-th round: after the round's letters are
# acknowledged by Kafka, before they are marked published.
_KILLED_PUBLISHER = """
import os, signal, sys
from pulse.engines.dead_letters import DeadLetterPublisher
from pulse.settings import load_settings
rounds = []
def produced(letters):
    rounds.append(len(letters))
    if len(rounds) == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
DeadLetterPublisher(load_settings(), batch_size=int(sys.argv[2]), on_produced=produced).publish_all()
"""


def _quarantine(settings: Settings, count: int, first_offset: int = 0) -> list[Rejection]:
    """`count` rejections committed by the real loader (one batch), as the engines write them."""
    rejections = [
        Rejection(Stage.DECODE if i % 2 else Stage.VALIDATE,
                  RejectReason.INVALID_JSON if i % 2 else RejectReason.MISSING_COLLECTION,
                  f"detail {i}", b"{bad json %d" % i, SourceRef(settings.topic, i % 3, first_offset + i))
        for i in range(count)
    ]
    loader = WarehouseLoader(settings.loader_url, settings.consumer_group)
    try:
        assert loader.commit_batch(StarBatch(rejections=rejections), {}).quarantined == count
    finally:
        loader.close()
    return rejections


def _dead_letters(settings: Settings) -> list[tuple[str, dict[str, str], bytes]]:
    """Every message of the dead-letter topic: key, headers, value."""
    topic = kafka.dead_letter_topic(settings.topic)
    reader = kafka.consumer(settings, group="test-dlq-reader", config={"enable.auto.commit": False})
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        reader.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end])
        found: list[tuple[str, dict[str, str], bytes]] = []
        while len(found) < sum(ends.values()):
            message = reader.poll(30)
            assert message is not None and message.error() is None, "the dead-letter topic did not answer"
            headers = {k: bytes(v).decode() for k, v in message.headers() or []}
            found.append(((message.key() or b"").decode(), headers, message.value() or b""))
        return found
    finally:
        reader.close()


def _pending(settings: Settings) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM quarantine WHERE dlq_published_at IS NULL").fetchone()
        return int(row[0]) if row else -1


def test_every_quarantine_row_becomes_one_dead_letter_with_its_reason_and_coordinates(pipeline: Settings) -> None:
    rejections = _quarantine(pipeline, 7)
    done = pulse_cli(pipeline, "dlq", "publish", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"published": 7, "produced": 7, "found_on_topic": 0}
    again = pulse_cli(pipeline, "dlq", "publish", "--format", "json")
    assert json.loads(again.stdout)["published"] == 0, "a second run published something again"

    letters = {key: (headers, value) for key, headers, value in _dead_letters(pipeline)}
    assert len(letters) == len(_dead_letters(pipeline)) == 7
    for r in rejections:
        assert r.source is not None
        headers, value = letters[f"{r.source.topic}:{r.source.partition}:{r.source.offset}"]
        assert value == r.raw
        assert headers["pulse.reason"] == r.reason.value and headers["pulse.stage"] == r.stage.value
        assert headers["pulse.detail"] == r.detail
        assert (headers["pulse.src.topic"], headers["pulse.src.partition"], headers["pulse.src.offset"]) == (
            r.source.topic, str(r.source.partition), str(r.source.offset))
    assert _pending(pipeline) == 0
    stats = json.loads(pulse_cli(pipeline, "stats", "--format", "json").stdout)
    assert stats["dead_letters"] == {"published": 7, "pending": 0, "oldest_pending_at": None}


@pytest.mark.reliability
@pytest.mark.parametrize("killed_round", [1, 3])
def test_kill_9_between_produce_and_mark_neither_loses_nor_duplicates(pipeline: Settings, killed_round: int) -> None:
    batch = 10
    rejections = _quarantine(pipeline, 45)
    child = subprocess.run([sys.executable, "-c", _KILLED_PUBLISHER, str(killed_round), str(batch)],
                           env=env_for(pipeline), capture_output=True, text=True, timeout=300, check=False)
    assert child.returncode == -9, child.stderr
    # The killed round is on the topic but not marked: those rows are still pending.
    on_topic = _dead_letters(pipeline)
    assert len(on_topic) == killed_round * batch
    assert _pending(pipeline) == 45 - (killed_round - 1) * batch

    done = pulse_cli(pipeline, "dlq", "publish", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"published": 45 - (killed_round - 1) * batch,
                                       "produced": 45 - killed_round * batch, "found_on_topic": batch}
    keys = [key for key, _, _ in _dead_letters(pipeline)]
    expected = {f"{r.source.topic}:{r.source.partition}:{r.source.offset}" for r in rejections if r.source}
    assert len(keys) == 45 and set(keys) == expected, "a dead letter is missing or doubled"
    assert _pending(pipeline) == 0


def test_the_engine_publishes_what_it_quarantines(pipeline: Settings) -> None:
    bad = [b"{not json", b"", b'{"collection": "view_product_detail"}']
    producer = kafka.producer(pipeline, client_id="test", delivery_timeout_s=30, linger_ms=0)
    for i, raw in enumerate(bad):
        producer.produce(pipeline.topic, raw, partition=i % 2)
    assert producer.flush(30) == 0
    NativeEngine(pipeline).run(until_idle=3)
    with psycopg.connect(pipeline.database_url) as conn:
        rows = conn.execute("SELECT src_topic || ':' || src_partition || ':' || src_offset, reason FROM quarantine"
                            ).fetchall()
    assert len(rows) == len(bad)
    letters = {key: headers["pulse.reason"] for key, headers, _ in _dead_letters(pipeline)}
    assert letters == dict(rows)
    assert _pending(pipeline) == 0
