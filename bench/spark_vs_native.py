"""Spark engine vs native engine on the same topic in one run: events/s, batch latency, peak memory.

One topic of synthetic events; each engine runs in its own child process into its own fresh database,
until the warehouse holds every event (`--until-idle`). The parent samples the RSS of the child's whole
process tree with psutil (for Spark: the Python driver, the JVM and the Python workers).
- native: `NativeEngine` (micro-batches of PULSE_BATCH_MAX_EVENTS), latency = poll start -> commit;
- spark:  `SparkEngine` on local[*] (one slice per Kafka partition per micro-batch), latency = the
          foreachBatch call (read from Kafka, transform and commit on the executors).

Usage: .venv/bin/python bench/spark_vs_native.py [--events 1000000] [--out bench/results]
Needs the local stack (`pulse stack up`); writes a JSON and a Markdown report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).parent))
from e2e import START, _fresh_database  # noqa: E402
from pulse.settings import load_settings  # noqa: E402
from pulse.stack.credentials import parse_target, pgpass_path  # noqa: E402
from pulse.stack.manager import stack_up  # noqa: E402
from pulse.traffic.producer import produce_synthetic  # noqa: E402

IDLE_S = 10.0


def child(engine: str, result_file: Path, max_offsets: int) -> None:
    """Run one engine over the topic in this process (settings from the environment); write its figures."""
    settings = load_settings()
    latencies: list[float] = []
    started = time.monotonic()
    if engine == "native":
        from pulse.engines.native import NativeEngine

        native = NativeEngine(settings, on_batch=lambda _r, s: latencies.append(s.last_batch_latency_s))
        stats = native.run(until_idle=IDLE_S).as_dict()
    else:
        from pulse.engines.spark import SparkEngine, build_session

        session = build_session(settings.spark_master, app_name="pulse-bench")
        spark = SparkEngine(settings, session, checkpoint=Path(tempfile.mkdtemp(prefix="pulse-bench-ckpt-")),
                            trigger_seconds=1.0, max_offsets_per_trigger=max_offsets)
        spark_stats = spark.run(until_idle=IDLE_S)
        latencies = spark_stats.batch_seconds
        stats = spark_stats.as_dict()
        session.stop()
    stats["wall_s_with_idle"] = time.monotonic() - started
    stats["latencies"] = latencies
    result_file.write_text(json.dumps(stats))


def run_engine(engine: str, settings: Any, url: str, topic: str, expected: int, max_offsets: int) -> dict[str, Any]:
    """Start the child, sample its process tree's RSS, time first message -> every event committed."""
    target = parse_target(settings)
    result_file = Path(tempfile.mkstemp(prefix=f"bench-{engine}-", suffix=".json")[1])
    env = {**os.environ, "PULSE_TOPIC": topic, "PULSE_CONSUMER_GROUP": f"bench-{topic}-{engine}",
           "PULSE_DATABASE_URL": url, "PULSE_LOADER_DATABASE_URL": url.replace(f"{target.owner}@", "pulse_engine@"),
           "PULSE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "PULSE_HOME": str(settings.home),
           "PULSE_HASH_KEY": "bench-key-0123456789abcdef"}
    proc = subprocess.Popen([sys.executable, __file__, "--child", engine, "--result", str(result_file),
                             "--max-offsets", str(max_offsets)], env=env)
    import psycopg

    peak = 0
    first_commit = done_at = None
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        while proc.poll() is None:
            try:
                tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            loaded = int(conn.execute("SELECT events_loaded FROM load_state").fetchone()[0])  # type: ignore[index]
            if loaded and first_commit is None:
                first_commit = time.monotonic()
            if loaded >= expected and done_at is None:
                done_at = time.monotonic()
            time.sleep(0.5)
    if proc.returncode != 0 or done_at is None:
        raise SystemExit(f"{engine} engine failed (exit {proc.returncode}) or did not load every event")
    stats = json.loads(result_file.read_text())
    result_file.unlink()
    lat = sorted(stats["latencies"])
    elapsed = done_at - started  # includes start-up (JVM, session) for Spark: reported separately below
    steady = done_at - first_commit if first_commit else elapsed
    return {
        "engine": engine, "events": expected, "seconds_total": round(elapsed, 1),
        "seconds_from_first_commit": round(steady, 1),
        "events_per_s": round(expected / elapsed), "events_per_s_from_first_commit": round(expected / steady),
        "batches": stats["batches"],
        "batch_latency_p50_s": round(statistics.median(lat), 3) if lat else None,
        "batch_latency_p95_s": round(lat[int(0.95 * (len(lat) - 1))], 3) if lat else None,
        "peak_rss_mb": round(peak / 2**20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--max-offsets", type=int, default=100_000, help="Spark micro-batch bound")
    parser.add_argument("--child", choices=["native", "spark"], help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.result, args.max_offsets)
        return

    settings = load_settings()
    stack_up(settings)
    settings = settings.using_passfile(pgpass_path(settings))
    run_id = f"sbench_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(run_id, settings.topic_partitions, 1)])[run_id].result(timeout=30)
    print(f"producing {args.events:,} events to {run_id} ...", flush=True)
    produce_synthetic(settings.model_copy(update={"topic": run_id}), count=args.events, rate=None, seed=42,
                      progress=True, start=START)
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "bench-probe"})
    sent = sum(consumer.get_watermark_offsets(TopicPartition(run_id, p), timeout=10)[1]
               for p in range(settings.topic_partitions))
    consumer.close()

    results = []
    for engine in ("native", "spark"):
        url = _fresh_database(settings, f"{run_id}_{engine}")
        print(f"running {engine} ...", flush=True)
        results.append(run_engine(engine, settings, url, run_id, sent, args.max_offsets))
        print(results[-1], flush=True)
    native, spark = results
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Kafka and PostgreSQL on the same machine"
                   f" (load average at the end {os.getloadavg()[0]:.1f})",
        "events": sent, "spark_master": settings.spark_master, "spark_max_offsets_per_trigger": args.max_offsets,
        "results": results,
        "native_over_spark": round(native["events_per_s"] / spark["events_per_s"], 2),
        "native_over_spark_from_first_commit": round(
            native["events_per_s_from_first_commit"] / spark["events_per_s_from_first_commit"], 2),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"spark-vs-native-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Spark vs native engine {report['date']}", "", f"{sent:,} synthetic events, {report['machine']}.",
             f"Spark: {settings.spark_master}, at most {args.max_offsets:,} messages per micro-batch.", "",
             "| engine | events/s (total) | events/s (from first commit) | seconds | batches"
             " | batch latency p50 / p95 s"
             " | peak RSS MB (process tree) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['engine']} | {r['events_per_s']:,} | {r['events_per_s_from_first_commit']:,} |"
                     f" {r['seconds_total']} | {r['batches']} | {r['batch_latency_p50_s']} / {r['batch_latency_p95_s']}"
                     f" | {r['peak_rss_mb']} |")
    lines += ["", f"native / spark = **{report['native_over_spark']}×** (total), "
              f"**{report['native_over_spark_from_first_commit']}×** (from the first commit, without start-up)", ""]
    (args.out / f"spark-vs-native-{stamp}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
