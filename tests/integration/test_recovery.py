"""Crash and restart on the real services: kill -9 of the engine, PostgreSQL and Kafka restarts.

After each, the warehouse must hold every distinct event exactly once, with rollups and counters that
agree with the facts. PULSE_TEST_CRASH_EVENTS sets the size of the kill -9 run (default 200,000).
"""

from __future__ import annotations

import os
import random
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from pulse.settings import Settings
from pulse.stack.broker import start_kafka, stop_kafka
from pulse.stack.cluster import restart_postgres
from pulse.testing.engine import (
    EngineProcess,
    end_offsets,
    events_loaded,
    finish_engine,
    wait_until_caught_up,
    wait_until_loading,
)
from pulse.traffic.generator import TrafficGenerator
from pulse.traffic.producer import produce_synthetic
from tests.services import env_for

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 1, tzinfo=UTC)
CRASH_EVENTS = int(os.environ.get("PULSE_TEST_CRASH_EVENTS", "200000"))


def _expected_ids(seed: int, count: int) -> set[str]:
    """Event identities of what was sent: `id`, else `_id` (its `$oid` when an object)."""
    ids = set()
    for event in TrafficGenerator(seed=seed, start=START).events(count):
        oid = event.get("_id")
        ids.add(str(event.get("id") or (oid["$oid"] if isinstance(oid, dict) else oid)))
    return ids


def _assert_exactly_once(settings: Settings, expected: set[str]) -> None:
    with psycopg.connect(settings.database_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT event_id FROM fact_event")]
        ledger = conn.execute("SELECT count(*) FROM event_ledger").fetchone()
        rollups = conn.execute(
            "SELECT (SELECT sum(events) FROM rollup_browser_os), (SELECT sum(events) FROM rollup_site_store)"
        ).fetchone()
        state = conn.execute("SELECT events_loaded FROM load_state").fetchone()
        consumed = conn.execute("SELECT sum(next_offset) FROM kafka_offsets").fetchone()
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicated facts"
    assert set(ids) == expected, f"{len(expected - set(ids))} lost, {len(set(ids) - expected)} unexpected"
    assert ledger == (len(expected),)
    assert rollups == (len(expected), len(expected)), "rollups count every event exactly once"
    assert state == (len(expected),)
    assert consumed == (end_offsets(settings),), "the offsets ledger reached the end of every partition"


def _engine_loading(settings: Settings, *args: str) -> EngineProcess:
    """An engine subprocess that has committed its first batch."""
    engine = EngineProcess(env_for(settings), *args)
    wait_until_loading(settings, engine)
    return engine


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(pipeline: Settings) -> None:
    seed = 11
    produce_synthetic(pipeline, count=CRASH_EVENTS, rate=None, seed=seed, progress=False, start=START)
    expected = _expected_ids(seed, CRASH_EVENTS)
    rng = random.Random(5)
    kills = 0
    while kills < 5 and events_loaded(pipeline) < len(expected) * 0.8:
        with EngineProcess(env_for(pipeline)) as engine:
            time.sleep(rng.uniform(3.0, 7.0))
            engine.kill()
        kills += 1
    assert kills >= 2, "the run was too short to kill the engine twice"
    finish_engine(env_for(pipeline))
    _assert_exactly_once(pipeline, expected)


def test_postgres_restart_mid_stream_is_retried(pipeline: Settings, stack: Settings) -> None:
    seed, count = 12, 60_000
    produce_synthetic(pipeline, count=count, rate=None, seed=seed, progress=False, start=START)
    with _engine_loading(pipeline, "--until-idle", "8") as engine:
        restart_postgres(stack)
        time.sleep(2)
        restart_postgres(stack)
        assert engine.wait() == 0, engine.log()[-2000:]
        assert "retrying" in engine.log(), "the engine saw the restarts and retried"
    finish_engine(env_for(pipeline))
    _assert_exactly_once(pipeline, _expected_ids(seed, count))


def test_kafka_restart_mid_stream_is_survived(pipeline: Settings, stack: Settings) -> None:
    seed, count = 13, 40_000
    produce_synthetic(pipeline, count=count, rate=None, seed=seed, progress=False, start=START)
    with _engine_loading(pipeline, "--until-idle", "20") as engine:
        stop_kafka(stack)
        time.sleep(3)
        start_kafka(stack)
        assert engine.wait() == 0, engine.log()[-2000:]
    finish_engine(env_for(pipeline))
    _assert_exactly_once(pipeline, _expected_ids(seed, count))


def test_sigterm_finishes_the_batch_in_flight_and_exits_cleanly(pipeline: Settings) -> None:
    seed, count = 14, 30_000
    produce_synthetic(pipeline, count=count, rate=None, seed=seed, progress=False, start=START)
    with _engine_loading(pipeline) as engine:
        engine.stop(timeout=60)
    finish_engine(env_for(pipeline))
    _assert_exactly_once(pipeline, _expected_ids(seed, count))


def _gone(pid: int) -> bool:
    """True once `pid` exited (a zombie nobody reaped counts: it runs no more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def test_a_killed_folder_process_is_restarted_and_none_outlives_its_engine(pipeline: Settings) -> None:
    seed, count = 19, 20_000
    produce_synthetic(pipeline, count=count, rate=None, seed=seed, progress=False, start=START)
    with _engine_loading(pipeline) as engine:
        first = engine.folder()
        assert first != engine.process.pid
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while (second := engine.folder()) == first or not _gone(first):
            assert time.monotonic() < deadline, "the killed folder process was not replaced"
            time.sleep(0.1)
        wait_until_caught_up(pipeline, engine)  # the rollups too: the new folder folds
        assert "the folder process exited (status -9)" in engine.log()
        engine.kill()
    deadline = time.monotonic() + 60
    while not _gone(second):  # the pipe to its engine closed: a last fold, then it exits
        assert time.monotonic() < deadline, "the folder process outlived its engine's kill -9"
        time.sleep(0.1)
    _assert_exactly_once(pipeline, _expected_ids(seed, count))
