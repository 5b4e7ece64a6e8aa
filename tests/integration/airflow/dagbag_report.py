"""Run with Airflow's Python: parse the DAGs folder as the DAG processor does and print what it found (JSON)."""

import json
import sys
from pathlib import Path

from airflow.dag_processing.dagbag import BundleDagBag

folder = Path(sys.argv[1])
bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder")
report = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in sorted(bag.dags.items()):
    report["dags"][dag_id] = {
        "schedule": getattr(dag.timetable, "expression", None),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tasks": {
            task.task_id: {
                "on_failure_callback": [getattr(cb, "__name__", repr(cb)) for cb in (
                    task.on_failure_callback if isinstance(task.on_failure_callback, list)
                    else [task.on_failure_callback] if task.on_failure_callback else [])],
                "retries": task.retries,
            }
            for task in dag.tasks
        },
    }
print("REPORT " + json.dumps(report))
