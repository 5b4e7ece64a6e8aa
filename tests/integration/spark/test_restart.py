"""Crash and resume: kill -9 the `pulse spark` driver (and its executors) mid-stream, restart it from the same
checkpoint, and the warehouse holds every event exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest

from pulse.settings import Settings
from tests.integration.labelled import build_fixture
from tests.services import env_for, pulse_cli, scalar

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 29)


def start_spark(settings: Settings, checkpoint: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "pulse.cli", "spark", "--master", "local[2]", "--trigger", "1",
        "--checkpoint", str(checkpoint), "--max-offsets-per-trigger", "400", *extra,
    ]
    with log.open("ab") as out:
        # its own process group: the kill takes the driver JVM and the Python workers with it
        return subprocess.Popen(command, env=env_for(settings), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def committed_batches(settings: Settings) -> int:
    return int(scalar(settings.database_url, "SELECT count(DISTINCT batch_id) FROM spark_batches") or 0)  # type: ignore[arg-type]


def test_kill_9_mid_stream_then_resume_from_the_checkpoint_loses_and_duplicates_nothing(
    pipeline: Settings, tmp_path: Path
) -> None:
    fx = build_fixture(DAY, n_valid=6000, seed=23)
    replay = tmp_path / "replay.jsonl"
    replay.write_bytes(b"\n".join(fx.lines) + b"\n")
    assert pulse_cli(pipeline, "replay", str(replay)).returncode == 0
    checkpoint, log = tmp_path / "checkpoint", tmp_path / "spark.log"

    first = start_spark(pipeline, checkpoint, log)
    try:
        deadline = time.monotonic() + 600  # a bound, not a timing assertion: JVM start is slow on a busy machine
        while committed_batches(pipeline) < 2:
            assert first.poll() is None, f"pulse spark exited early:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no batch committed in time:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    loaded_at_kill = scalar(pipeline.database_url, "SELECT count(*) FROM fact_event")
    assert 0 < loaded_at_kill < len(fx.valid), "the kill must land mid-stream"  # type: ignore[operator]

    second = start_spark(pipeline, checkpoint, log, "--until-idle", "4")
    try:
        assert second.wait(600) == 0, log.read_text()[-3000:]
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)

    url = pipeline.database_url
    # The driver beats the heartbeat as engine "spark" (pulse health): the killed run left its row, the clean one
    # marked itself stopped.
    assert scalar(url, "SELECT count(*) FROM engine_heartbeat WHERE engine = 'spark'") == 2
    assert scalar(url, "SELECT count(*) FROM engine_heartbeat WHERE engine = 'spark' AND stopped_at IS NOT NULL") == 1
    # expected numbers come from the labelled fixture
    assert scalar(url, "SELECT count(*) FROM fact_event") == len(fx.valid)
    assert scalar(url, "SELECT count(DISTINCT event_id) FROM fact_event") == len(fx.valid)
    assert scalar(url, "SELECT count(*) FROM event_ledger") == len(fx.valid)
    for rollup in ("rollup_product", "rollup_browser_os", "rollup_site_store"):
        assert scalar(url, f"SELECT sum(events) FROM {rollup}") == len(fx.valid), rollup  # noqa: S608
    with psycopg.connect(url) as conn:
        reasons = dict(conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason").fetchall())
        totals = conn.execute("SELECT events_loaded, duplicates_skipped, quarantined FROM load_state").fetchone()
        ranges = conn.execute(
            "SELECT kafka_partition, sum(messages), min(first_offset), max(next_offset) FROM spark_batches"
            " GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert reasons == dict(fx.malformed)
    assert totals == (len(fx.valid), fx.duplicates, sum(fx.malformed.values()))
    # the committed slices tile each partition's offsets exactly: no gap, no overlap
    assert sum(n for _, n, _, _ in ranges) == len(fx.lines)
    assert all(n == last - first for _, n, first, last in ranges)
