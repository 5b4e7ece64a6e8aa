"""pulse_data_quality: hourly `pulse dq` (unknown country/browser shares, quarantine and duplicate rates, freshness)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from pulse_common import DEFAULT_ARGS, run_pulse


@dag(
    dag_id="pulse_data_quality",
    schedule="5 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 0, "execution_timeout": timedelta(minutes=10)},
    tags=["pulse", "quality"],
    doc_md=__doc__,
)
def pulse_data_quality() -> None:
    @task
    def data_quality() -> str:
        """Every check against its PULSE_DQ_MAX_* threshold; the failed checks are the Slack message."""
        return run_pulse("dq", "--format", "json")

    data_quality()


pulse_data_quality()
