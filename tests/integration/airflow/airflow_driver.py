"""Run with Airflow's Python: the `airflow` command line, started once and fed commands, for the tests.

Airflow takes tens of seconds to import and to build its in-process execution API; a test session pays that
once instead of per `airflow dags test`. Each stdin line is a JSON request, answered by one stdout line
`PULSE-AIRFLOW-RESULT {...}`: {"argv": [...], "env": {...}} runs `airflow ARGV` exactly as the command does
(exit status as the command's), {"dagbag": folder} parses a DAGs folder as the DAG processor does.
"""

import json
import os
import sys
import traceback
from pathlib import Path

MARK = "PULSE-AIRFLOW-RESULT "


def run_cli(argv: list[str]) -> int:
    from airflow.cli import cli_parser

    args = cli_parser.get_parser().parse_args(argv)
    try:
        args.func(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def parse_folder(folder: Path) -> dict:
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder")
    report: dict = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": {}}
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
    return report


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        os.environ.update(request.get("env", {}))
        try:
            if "dagbag" in request:
                answer = {"status": 0, "report": parse_folder(Path(request["dagbag"]))}
            else:
                answer = {"status": run_cli(request["argv"])}
        except Exception:  # report it to the test rather than die
            answer = {"status": 1, "error": traceback.format_exc()}
        sys.stdout.write("\n" + MARK + json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
