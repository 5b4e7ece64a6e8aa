"""pulse_health: every 5 minutes, `pulse health` and `pulse canary`; a failure (degraded, unhealthy, canary lost) alerts Slack."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task
from pulse_common import DEFAULT_ARGS, run_pulse


@dag(
    dag_id="pulse_health",
    schedule="*/5 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=4),
    default_args={**DEFAULT_ARGS, "retries": 0, "execution_timeout": timedelta(minutes=3)},
    tags=["pulse", "ops"],
    doc_md=__doc__,
)
def pulse_health() -> None:
    @task
    def health() -> str:
        """Exit 0 healthy; 1 degraded and 2 unhealthy fail the task (and alert)."""
        return run_pulse("health", "--format", "json")

    @task
    def canary() -> str:
        """A marked event through Kafka -> engine -> warehouse; exit 1 when it did not arrive in time."""
        return run_pulse("canary", "--format", "json")

    health()
    canary()


pulse_health()
