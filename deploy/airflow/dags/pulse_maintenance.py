"""pulse_maintenance: daily, create the coming days' fact partitions and apply retention (`pulse maintain`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from pulse_common import DEFAULT_ARGS, run_pulse


@dag(
    dag_id="pulse_maintenance",
    schedule="15 0 * * *",  # 00:15 UTC: shortly after the new day's first events
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 2, "retry_delay": timedelta(minutes=10),
                  "execution_timeout": timedelta(hours=1)},
    tags=["pulse", "ops"],
    doc_md=__doc__,
)
def pulse_maintenance() -> None:
    @task
    def maintain() -> str:
        """Partitions for the next PULSE_PARTITION_DAYS_AHEAD days; drop what is older than PULSE_RETENTION_DAYS."""
        return run_pulse("maintain", "--format", "json")

    maintain()


pulse_maintenance()
