"""`pulse run --processes 2` on the real Kafka and PostgreSQL: one consumer group, partitions split, exactly once."""

from __future__ import annotations

import psycopg
import pytest

from pulse.settings import Settings
from pulse.testing.engine import EngineProcess, wait_until_caught_up
from pulse.traffic.producer import produce_synthetic
from tests.services import env_for

from .test_recovery import START, _assert_exactly_once, _expected_ids

pytestmark = pytest.mark.integration

EVENTS = 40_000


def test_two_processes_share_the_partitions_and_load_every_event_once(pipeline: Settings) -> None:
    seed = 13
    produce_synthetic(pipeline, count=EVENTS, rate=None, seed=seed, progress=False, start=START)
    with EngineProcess(env_for(pipeline), "--processes", "2") as supervisor:
        wait_until_caught_up(pipeline, supervisor)
        parent = supervisor.process.pid
        log = supervisor.stop()  # SIGTERM, forwarded to both children; a clean exit
    with psycopg.connect(pipeline.database_url) as conn:
        refused = conn.execute("SELECT reason, detail, count(*) FROM quarantine GROUP BY 1, 2").fetchall()
    assert refused == [], f"valid events quarantined: {refused}; {log[-3000:]}"
    _assert_exactly_once(pipeline, _expected_ids(seed, EVENTS))
    with psycopg.connect(pipeline.database_url) as conn:
        engines = conn.execute(
            "SELECT pid, batches, stopped_at IS NOT NULL FROM engine_heartbeat WHERE consumer_group = %s",
            (pipeline.consumer_group,),
        ).fetchall()
    assert len(engines) == 2, f"one heartbeat identity per child: {engines}"
    assert len({pid for pid, _, _ in engines}) == 2 and parent not in {pid for pid, _, _ in engines}
    # a child commits batches only from partitions the group assigned it: both had some
    assert all(batches > 0 for _, batches, _ in engines), f"a child received no partition: {engines}"
    assert all(stopped for _, _, stopped in engines), "both stopped cleanly"


def test_two_processes_with_until_idle_read_every_partition_before_they_exit(pipeline: Settings) -> None:
    seed = 17
    produce_synthetic(pipeline, count=EVENTS, rate=None, seed=seed, progress=False, start=START)
    with EngineProcess(env_for(pipeline), "--processes", "2", "--until-idle", "8") as supervisor:
        code = supervisor.wait(600)
        assert code == 0, supervisor.log()[-2000:]
    _assert_exactly_once(pipeline, _expected_ids(seed, EVENTS))
