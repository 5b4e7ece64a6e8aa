"""The Spark engine on a local standalone cluster: 1 worker against 2 workers on the same topic, end to end.

One private stack (Kafka + PostgreSQL, temporary home, free ports) and one topic of pre-produced synthetic events.
For each size a fresh cluster (pulse.stack.spark_cluster: 1 core, 1 GB per worker) and a fresh database; the job
is submitted as the README documents it (spark-submit --master spark://... --jars --py-files --files spark_job.py)
and timed from its start until the warehouse holds every event (and from its first commit, without start-up).

Usage: .venv/bin/python bench/spark_cluster.py [--events 100000] [--max-offsets 25000] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from suite import PARTITIONS, START, _free_port, _tree_peak_rss_mb, engine_env, fresh_database  # noqa: E402

from pulse.enrich.geoip import bundled_database_path  # noqa: E402
from pulse.settings import Settings, load_settings  # noqa: E402
from pulse.stack.credentials import pgpass_path  # noqa: E402
from pulse.stack.manager import stack_down, stack_up  # noqa: E402
from pulse.stack.spark import connector_jars  # noqa: E402
from pulse.stack.spark_cluster import spark_home, start_spark_cluster, stop_spark_cluster  # noqa: E402
from pulse.traffic.producer import produce_synthetic  # noqa: E402

LOADED = "SELECT events_loaded + duplicates_skipped + quarantined, events_loaded FROM load_state"


def pulse_zip(into: Path) -> Path:
    """This checkout's pulse package as the zip `--py-files` ships (as the README's `zip -qr`)."""
    path = into / "pulse.zip"
    src = HERE.parent / "src"
    with zipfile.ZipFile(path, "w") as out:
        for file in sorted((src / "pulse").rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                out.write(file, file.relative_to(src))
    return path


def submit(settings: Settings, workers: int, topic: str, expected: int, work: Path, max_offsets: int) -> dict[str, Any]:
    """One cluster of `workers`, the job submitted to it; seconds until every event is in the warehouse."""
    cluster = start_spark_cluster(settings, workers, progress=print)
    url = fresh_database(settings, f"{topic}_w{workers}")
    geo = bundled_database_path()
    env = {**engine_env(settings, url, topic), "PULSE_GEOIP_DATABASE": geo.name,
           "PULSE_SPARK_CHECKPOINT": str(work / f"checkpoint-{workers}")}
    cmd = [str(spark_home() / "bin" / "spark-submit"), "--master", cluster.master_url,
           "--jars", ",".join(str(j) for j in connector_jars()), "--py-files", str(pulse_zip(work)),
           "--files", str(geo), "--conf", f"spark.pyspark.python={sys.executable}",
           str(HERE.parent / "src" / "pulse" / "engines" / "spark_job.py"), "--trigger", "1",
           "--until-idle", "10", "--max-offsets-per-trigger", str(max_offsets)]
    log = work / f"spark-submit-{workers}.log"
    started = time.monotonic()
    first_commit = None
    peak = 0.0
    try:
        with log.open("wb") as out:
            job = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=work)
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                done, loaded = conn.execute(LOADED).fetchone()  # type: ignore[misc]
                if loaded and first_commit is None:
                    first_commit = time.monotonic()
                peak = max(peak, _tree_peak_rss_mb(job.pid) + sum(_tree_peak_rss_mb(p) for p in cluster.pids))
                if done >= expected:
                    break
                if job.poll() is not None:
                    raise SystemExit(f"spark-submit exited with {job.returncode}; end of {log}:\n"
                                     f"{log.read_text()[-3000:]}")
                time.sleep(0.2)
        elapsed = time.monotonic() - started
        steady = elapsed - (first_commit - started if first_commit else 0.0)
        if job.wait(timeout=300) != 0:
            raise SystemExit(f"spark-submit exited with {job.returncode}; end of {log}:\n{log.read_text()[-3000:]}")
    finally:
        stop_spark_cluster(settings)
    return {"workers": workers, "events": expected, "seconds": round(elapsed, 1),
            "events_per_s": round(expected / elapsed), "seconds_from_first_commit": round(steady, 1),
            "events_per_s_from_first_commit": round(expected / steady) if steady > 0 else None,
            "peak_rss_mb_driver_and_cluster": round(peak), "load_average_after": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--max-offsets", type=int, default=25_000, help="most messages per micro-batch")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pulse-spark-cluster-"))
    home.chmod(0o755)
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PULSE_") or k == "PGPASSFILE"}
    settings = load_settings(home=home, kafka_bootstrap=f"127.0.0.1:{_free_port()}",
                             database_url=f"postgresql://pulse@127.0.0.1:{_free_port()}/pulse",
                             topic_partitions=PARTITIONS)
    load_start = os.getloadavg()
    print(f"load average at start: {load_start}")
    try:
        stack_up(settings)
        settings = settings.using_passfile(pgpass_path(settings))
        topic = f"sparkc_{uuid.uuid4().hex[:6]}"
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=30)
        produce_synthetic(settings.model_copy(update={"topic": topic}), count=args.events, rate=None, seed=42,
                          progress=True, start=START)
        probe = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "probe"})
        sent = sum(probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS))
        probe.close()
        results = []
        for workers in (1, 2):
            print(f"Spark standalone cluster with {workers} worker(s) ...", flush=True)
            results.append(submit(settings, workers, topic, sent, home, args.max_offsets))
            print(results[-1], flush=True)
    finally:
        stop_spark_cluster(settings)
        stack_down(settings)
        shutil.rmtree(home, ignore_errors=True)
        os.environ.update(saved)
    one, two = results
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python bench/spark_cluster.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores; Kafka, PostgreSQL, master, workers and driver"
                   " on the same machine",
        "load_average_at_start": load_start, "load_average_at_end": os.getloadavg(),
        "events": sent, "partitions": PARTITIONS, "max_offsets_per_trigger": args.max_offsets,
        "worker": "1 core, 1 GB", "results": results,
        "two_over_one": round(two["events_per_s"] / one["events_per_s"], 2),
        "two_over_one_from_first_commit": round(
            two["events_per_s_from_first_commit"] / one["events_per_s_from_first_commit"], 2)
        if one["events_per_s_from_first_commit"] and two["events_per_s_from_first_commit"] else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"spark-cluster-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Spark standalone cluster: 1 vs 2 workers, {report['date']}", "",
             f"`{report['command']}`: {sent:,} synthetic events on {PARTITIONS} partitions, {report['machine']};"
             f" workers of {report['worker']}; at most {args.max_offsets:,} messages per micro-batch. Load average"
             f" at start {', '.join(f'{x:.1f}' for x in load_start)}, at end"
             f" {', '.join(f'{x:.1f}' for x in report['load_average_at_end'])}.", "",
             "| workers | seconds (job start → all in the warehouse) | events/s | events/s from first commit"
             " | peak RSS MB (driver + cluster JVMs) |", "|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['workers']} | {r['seconds']} | {r['events_per_s']:,} |"
                     f" {r['events_per_s_from_first_commit'] or '—'} | {r['peak_rss_mb_driver_and_cluster']} |")
    lines += ["", f"2 workers / 1 worker = **{report['two_over_one']}×** end to end,"
              f" **{report['two_over_one_from_first_commit']}×** from the first commit.", ""]
    (args.out / f"spark-cluster-{stamp}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
