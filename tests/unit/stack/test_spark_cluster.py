"""The Spark cluster's state without a cluster: nothing running reads as down, a stale state file is removed,
and a master that does not answer has no ALIVE workers (the real cluster: tests/integration/spark/test_cluster.py)."""

from __future__ import annotations

import json
from pathlib import Path

from pulse.settings import load_settings
from pulse.stack.proc import free_port
from pulse.stack.spark_cluster import alive_workers, cluster_root, spark_cluster_status, stop_spark_cluster


def test_no_cluster_is_down_and_stopping_it_says_so(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    assert spark_cluster_status(settings) is None
    assert stop_spark_cluster(settings) is False


def test_a_state_file_whose_master_is_gone_is_removed(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    root = cluster_root(settings)
    root.mkdir(parents=True)
    state = root / "cluster.json"
    state.write_text(json.dumps({"master_url": "spark://127.0.0.1:1", "webui_url": "http://127.0.0.1:1",
                                 "workers": 1, "worker_memory": "1g", "worker_cores": 1, "root": str(root),
                                 "pids": [2**22 + 1, 2**22 + 2]}))
    assert spark_cluster_status(settings) is None
    assert not state.exists()


def test_a_master_that_does_not_answer_has_no_alive_workers() -> None:
    assert alive_workers(f"http://127.0.0.1:{free_port('127.0.0.1')}") == 0
