"""Where the CPU of one event goes: the native engine's process, PostgreSQL's and Kafka's, per event, in one run.

On a 2-core box with Kafka and PostgreSQL beside the engine, events/s is bounded by the CPU all three need per
event; this says which one binds. It produces `--events` synthetic events to a fresh topic (or reads `--topic`),
runs `pulse run` into a fresh database until every event is loaded, and reports each side's CPU seconds (user +
system, from /proc) per event, the engine's RSS, and the batch count. When the local PostgreSQL preloads
`pg_stat_statements` (`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`, then restart the
stack), it also lists the statements that took the most execution time (which includes waiting for the client
during a COPY, and for locks).

Usage: .venv/bin/pulse stack up && .venv/bin/python bench/cpu_split.py [--events 200000] [--topic T] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # noqa: E402
from pulse.settings import Settings, load_settings  # noqa: E402
from pulse.stack.cluster import superuser  # noqa: E402
from pulse.stack.credentials import pgpass_path  # noqa: E402
from pulse.stack.manager import stack_up  # noqa: E402
from pulse.traffic.producer import produce_synthetic  # noqa: E402


def service_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of every PostgreSQL and Java (Kafka) process now alive, by service."""
    totals = {"postgres": 0.0, "kafka": 0.0}
    for process in psutil.process_iter(["name", "cpu_times"]):
        name, times = process.info["name"] or "", process.info["cpu_times"]
        service = "postgres" if name.startswith("postgres") else "kafka" if name == "java" else None
        if service and times is not None:
            totals[service] += times.user + times.system
    return totals


def statements(settings: Settings, top: int) -> list[dict[str, Any]] | None:
    """The statements with the most execution time since the reset, or None without pg_stat_statements."""
    with superuser(settings) as admin:
        if not _statements_enabled(admin):
            return None
        rows = admin.execute(
            "SELECT calls, total_exec_time, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 120)"
            " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT %s", (top,),
        ).fetchall()
    return [{"calls": c, "exec_ms": round(ms), "rows": r, "query": q} for c, ms, r, q in rows]


def reset_statements(settings: Settings) -> None:
    with superuser(settings) as admin:
        if _statements_enabled(admin):
            admin.execute("SELECT pg_stat_statements_reset()")


def _statements_enabled(admin: psycopg.Connection[Any]) -> bool:
    """pg_stat_statements is preloaded (then its view is created if missing)."""
    if "pg_stat_statements" not in str(admin.execute("SHOW shared_preload_libraries").fetchone()):
        return False
    admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--topic", help="read this topic instead of producing a new one")
    parser.add_argument("--top", type=int, default=12, help="statements to list")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()

    settings = load_settings()
    stack_up(settings)
    settings = settings.using_passfile(pgpass_path(settings))
    topic = args.topic or f"cpu_{uuid.uuid4().hex[:8]}"
    if args.topic is None:
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
        admin.create_topics([NewTopic(topic, settings.topic_partitions, 1)])[topic].result(timeout=30)
        produce_synthetic(settings.model_copy(update={"topic": topic}), count=args.events, rate=None, seed=42,
                          progress=True, start=e2e.START)
    probe = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "cpu-split-probe"})
    sent = sum(probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
               for p in range(settings.topic_partitions))
    probe.close()
    url = e2e._fresh_database(settings, f"{topic}_{uuid.uuid4().hex[:4]}")
    env = e2e.engine_env(settings, url, topic, f"cpu-{uuid.uuid4().hex[:6]}")
    reset_statements(settings)
    before = service_cpu_s()
    started = time.monotonic()
    engine = subprocess.Popen([sys.executable, "-m", "pulse.cli", "--log-level", "WARNING", "run"], env=env)
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT events_loaded FROM load_state").fetchone()[0] < sent:  # type: ignore[index]
            if engine.poll() is not None:
                raise SystemExit(f"engine exited early with {engine.returncode}")
            time.sleep(0.2)
        seconds = time.monotonic() - started
        after = service_cpu_s()  # before the engine stops: its database sessions are still alive
        me = psutil.Process(engine.pid)
        engine_cpu, rss = me.cpu_times().user + me.cpu_times().system, me.memory_info().rss
        batches = conn.execute("SELECT batches FROM load_state").fetchone()
    engine.terminate()
    engine.wait(timeout=60)
    cpu = {"engine": engine_cpu, **{k: after[k] - before[k] for k in after}}
    report = {
        "events": sent, "seconds": round(seconds, 1), "events_per_s": round(sent / seconds),
        "batches": batches[0] if batches else None, "engine_rss_mb": round(rss / 2**20),
        "cpu_s": {k: round(v, 1) for k, v in cpu.items()},
        "cpu_us_per_event": {k: round(v / sent * 1e6) for k, v in cpu.items()},
        "cores_busy": round(sum(cpu.values()) / seconds, 2), "load_average": os.getloadavg(),
        "statements": statements(settings, args.top),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{sent:,} events in {report['seconds']} s = {report['events_per_s']:,}/s, {report['batches']} batches,"
          f" engine RSS {report['engine_rss_mb']} MB, {report['cores_busy']} cores busy")
    for side, us in report["cpu_us_per_event"].items():
        print(f"  {side:9} {report['cpu_s'][side]:7.1f} CPU s  {us:5d} us/event")
    for s in report["statements"] or []:
        print(f"  {s['exec_ms']:8,} ms  {s['calls']:5} calls  {s['rows']:8,} rows  {s['query']}")


if __name__ == "__main__":
    main()
