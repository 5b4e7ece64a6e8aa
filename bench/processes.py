"""Many writers: `pulse run --processes 1` vs `--processes 2` on the same pre-produced topic, end to end.

One private stack (Kafka + PostgreSQL, temporary home, free ports), one topic of synthetic events with
PARTITIONS partitions, produced before any engine starts; then each variant reads the whole topic into its own
fresh database (its own consumer group): seconds from start until the warehouse holds every event (start-up
included), events/s, peak RSS of the process tree (supervisor + children). Reports the 2/1 ratio.

Usage: .venv/bin/python bench/processes.py [--events 400000] [--processes 1,2]
Writes bench/results/processes-*.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import suite  # noqa: E402

from pulse.settings import load_settings  # noqa: E402
from pulse.stack.credentials import pgpass_path  # noqa: E402
from pulse.stack.manager import stack_down, stack_up  # noqa: E402
from pulse.traffic.producer import produce_synthetic  # noqa: E402

PARTITIONS = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--processes", default="1,2", help="variants, comma-separated")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pulse-procs-"))
    home.chmod(0o755)
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PULSE_") or k == "PGPASSFILE"}
    settings = load_settings(home=home, kafka_bootstrap=f"127.0.0.1:{suite._free_port()}",
                             database_url=f"postgresql://pulse@127.0.0.1:{suite._free_port()}/pulse",
                             topic_partitions=PARTITIONS)
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                              "command": "python bench/processes.py " + " ".join(sys.argv[1:]),
                              "machine": f"{platform.machine()}, {os.cpu_count()} cores; Kafka, PostgreSQL and"
                                         " the engines on the same machine",
                              "partitions": PARTITIONS, "load_average_at_start": os.getloadavg(), "runs": []}
    try:
        stack_up(settings)
        settings = settings.using_passfile(pgpass_path(settings))
        topic = f"procs_{uuid.uuid4().hex[:6]}"
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})  # kept alive until the topic exists
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=30)
        produce_synthetic(settings.model_copy(update={"topic": topic}), count=args.events, rate=None, seed=42,
                          progress=True, start=suite.START)
        for n in (int(p) for p in args.processes.split(",")):
            url = suite.fresh_database(settings, f"{topic}_p{n}")
            cmd = [sys.executable, "-m", "pulse.cli", "--log-level", "WARNING", "run", "--processes", str(n)]
            result = suite.run_engine(f"pulse run --processes {n}", cmd, suite.engine_env(settings, url, topic), url,
                                      args.events)
            result["processes"] = n
            suite.console.print(result)
            report["runs"].append(result)
    finally:
        stack_down(settings)
        shutil.rmtree(home, ignore_errors=True)
        os.environ.update(saved)
    report["load_average_at_end"] = os.getloadavg()
    base = next((r["events_per_s"] for r in report["runs"] if r["processes"] == 1), None)
    for r in report["runs"]:
        r["ratio_to_1"] = round(r["events_per_s"] / base, 2) if base else None
    _write(report, args.out)


def _write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"processes-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# pulse run --processes: {report['date']}", "", f"`{report['command']}` · {report['machine']} ·"
             f" {report['partitions']} partitions · load average {report['load_average_at_start']}", "",
             "| processes | events | seconds | events/s | ratio to 1 | peak RSS (tree, MB) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['processes']} | {r['events']:,} | {r['seconds']} | {r['events_per_s']:,} | {r['ratio_to_1']} |"
              f" {r['peak_rss_mb']} |" for r in report["runs"]]
    (out / f"processes-{stamp}.md").write_text("\n".join(lines) + "\n")
    suite.console.print("\n".join(lines))
    suite.console.print(f"wrote {out / f'processes-{stamp}.md'}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    suite.console.print(f"{time.monotonic() - started:.0f} s")
