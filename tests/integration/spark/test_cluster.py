"""Spark on a real standalone cluster: a master and two workers started from the installed pyspark, the README's
`spark-submit` command run as documented (only its placeholders replaced), and the warehouse it builds equal to the
native engine's from the same topic (facts, dimensions, rollups, quarantine, totals, KPIs: exactly once)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulse.settings import Settings
from pulse.stack.spark_cluster import SparkCluster, start_spark_cluster, stop_spark_cluster
from tests.integration.spark.test_parity import assert_same_warehouse, replayed_through_native
from tests.services import scalar

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[3]
LOADED = "SELECT events_loaded + duplicates_skipped + quarantined FROM load_state"
DEADLINE_S = 600.0  # a safety net for a hung job, not a performance assertion


def readme_submit_block() -> str:
    """The README's fenced bash block that runs `spark-submit --master spark://...`."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.DOTALL)
    found = [b for b in blocks if "spark-submit --master spark://" in b]
    assert len(found) == 1, "README.md must document exactly one `spark-submit --master spark://...` block"
    return found[0]


def with_values(block: str, values: dict[str, str]) -> str:
    """`block` with each placeholder replaced by its (shell-quoted) value; every placeholder must be there."""
    for placeholder, value in values.items():
        assert placeholder in block, f"README's spark-submit block no longer has the placeholder {placeholder!r}"
        block = block.replace(placeholder, value)
    return block


def driver_pid(root: int) -> int | None:
    """The Python driver spark-submit started (a descendant of `root` running spark_job.py), if it runs yet."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor not in (None, 0, 1, root):
            ancestor = parents.get(ancestor)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if ancestor == root and b"spark_job.py" in b" ".join(cmdline) and b"java" not in cmdline[0]:
            return pid
    return None


@pytest.fixture
def spark_cluster(stack: Settings) -> Iterator[SparkCluster]:
    """A master and two workers (1 core, 1 GB each) under the stack's PULSE_HOME, stopped afterwards."""
    cluster = start_spark_cluster(stack, workers=2)
    yield cluster
    assert stop_spark_cluster(stack)


def test_the_readme_spark_submit_on_a_standalone_cluster_matches_the_native_engine(
    pipeline: Settings, second_warehouse: Settings, spark_cluster: SparkCluster, tmp_path: Path
) -> None:
    fx = replayed_through_native(pipeline, tmp_path, seed=23)

    script = with_values(readme_submit_block(), {
        "spark://spark-master:7077": spark_cluster.master_url,
        "kafka:9092": shlex.quote(second_warehouse.kafka_bootstrap),
        "PULSE_TOPIC=product_views": f"PULSE_TOPIC={shlex.quote(second_warehouse.topic)}",
        "postgresql://pulse_engine@db/pulse": shlex.quote(second_warehouse.loader_url),
        "PULSE_HASH_KEY=...": f"PULSE_HASH_KEY={shlex.quote(second_warehouse.require_hash_key().decode())}",
        "/shared/pulse/checkpoint": shlex.quote(str(tmp_path / "checkpoint")),
        "/opt/pulse/.venv/bin/python": shlex.quote(sys.executable),
    })
    # A user's shell: no PULSE_* of this session, a home of its own (so no stack.env is read from the repo).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env["PULSE_HOME"] = str(tmp_path / "home")
    log = tmp_path / "spark-submit.log"
    with log.open("wb") as out:
        job = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env, stdout=out,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while scalar(second_warehouse.database_url, LOADED) != len(fx.lines):
            assert job.poll() is None, f"spark-submit exited with {job.returncode}:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"the job did not load every event:\n{log.read_text()[-4000:]}"
            time.sleep(1.0)
        driver = driver_pid(job.pid)
        assert driver is not None, "no Python driver (spark_job.py) under spark-submit"
        os.kill(driver, signal.SIGTERM)  # a clean stop after the batch in flight
        assert job.wait(timeout=180) == 0, log.read_text()[-4000:]
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    output = log.read_text()
    assert "spark engine stopped" in output, output[-4000:]
    # the executors ran on the cluster's workers: each worker's work dir holds this application's executors
    apps = [d for n in (1, 2) for d in (spark_cluster.root / f"worker-{n}").glob("app-*")]
    assert {d.parent.name for d in apps} == {"worker-1", "worker-2"}, apps
    assert_same_warehouse(fx, pipeline, second_warehouse)
