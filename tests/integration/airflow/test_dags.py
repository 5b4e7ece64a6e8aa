"""pulse's Airflow DAGs on a real Airflow: they parse, and `airflow dags test` runs them against the real stack;
a failing run's Slack message reaches the local webhook receiver."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.settings import Settings
from pulse.testing.slack import SlackReceiver, block_texts
from tests.integration.ops.quality_fixture import MALFORMED, RECENT, load_fixture, replay_and_load
from tests.services import scalar

from .conftest import DAGS, Airflow, task_env

pytestmark = pytest.mark.integration

EXPECTED = {
    "pulse_health": ("*/5 * * * *", {"health", "canary"}),
    "pulse_maintenance": ("15 0 * * *", {"maintain"}),
    "pulse_data_quality": ("5 * * * *", {"data_quality"}),
}
# The fixture's shares (9/53 unknown country, 3/56 quarantined) pass these; 40 more bad lines do not.
DQ_LIMITS = {"PULSE_DQ_MAX_UNKNOWN_COUNTRY_SHARE": "0.3", "PULSE_DQ_MAX_QUARANTINE_RATE": "0.2"}
BAD_LINES = 40


def test_dags_parse_with_their_schedules_and_a_slack_callback_on_every_task(airflow: Airflow) -> None:
    answer, output = airflow.request(dagbag=str(DAGS))
    assert answer["status"] == 0, answer.get("error", output[-3000:])
    report = answer["report"]
    assert report["import_errors"] == {}
    assert {d: (v["schedule"], set(v["tasks"])) for d, v in report["dags"].items()} == EXPECTED
    for dag_id, dag in report["dags"].items():
        assert dag["catchup"] is False and dag["max_active_runs"] == 1, dag_id
        for task_id, task in dag["tasks"].items():
            assert task["on_failure_callback"] == ["notify_task_failure"], f"{dag_id}.{task_id}"


def test_maintenance_and_quality_runs_and_a_failing_run_alerts_slack(
    airflow: Airflow, pipeline: Settings, slack: SlackReceiver, tmp_path: Path
) -> None:
    loaded = load_fixture(pipeline, tmp_path)
    env = task_env(pipeline, slack, **DQ_LIMITS)
    old_part = f"fact_event_{loaded.old_day:%Y%m%d}"

    status, output = airflow.run("dags", "test", "pulse_maintenance", env=env)
    assert status == 0 and "state=success" in output, output[-4000:]
    # the task really ran pulse maintain on this warehouse: the 500-day-old partition is gone
    assert scalar(pipeline.database_url, "SELECT count(*) FROM maintenance_runs") == 1
    assert scalar(pipeline.database_url, f"SELECT to_regclass('{old_part}')::text") is None  # noqa: S608
    assert scalar(pipeline.database_url, "SELECT count(*) FROM fact_event") == RECENT + 3

    status, output = airflow.run("dags", "test", "pulse_data_quality", env=env)
    assert status == 0 and "state=success" in output, output[-4000:]
    assert slack.requests == [], "successful runs send nothing"

    # bad data arrives: 40 more malformed messages push the quarantine rate to 43/96
    replay_and_load(pipeline, [b'{"collection": "view_product_detail", "time_stamp": 17'] * BAD_LINES,
                    tmp_path / "bad.jsonl")
    status, output = airflow.run("dags", "test", "pulse_data_quality", env=env)
    assert status == 1 and "state=failed" in output, output[-4000:]
    [message] = slack.wait_for(1)
    text = block_texts(message)
    assert message["text"] == "[CRITICAL] Airflow: pulse_data_quality.data_quality failed"
    fields = [f["text"] for f in message["blocks"][1]["fields"]]
    assert "*DAG*\npulse_data_quality" in fields and "*Task*\ndata_quality" in fields
    rate = (MALFORMED + BAD_LINES) / (RECENT + MALFORMED + BAD_LINES)
    assert "quarantine_rate" in text and f"{rate:.6f}".rstrip("0") in text, text
    assert "unknown_country_share" not in text, "only the failed check is named"
