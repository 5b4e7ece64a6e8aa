"""End-to-end benchmark: Kafka -> committed in PostgreSQL, fully enriched, native engine vs a naive loader.

Both read the same topic of synthetic events in the same run, into separate fresh databases:
- native: `pulse run` (micro-batches, COPY + rollups + offsets in one transaction per batch);
- naive:  the original design's loader: the same transform, then row INSERTs in pages of 100 with
          ON CONFLICT DO NOTHING per table, a commit per page, no rollups (so it does less work).

Usage: .venv/bin/python bench/e2e.py [--events 1000000] [--out bench/results]
Needs the local stack (`pulse stack up`); writes a JSON and a Markdown report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql

from pulse.events.model import SourceRef
from pulse.model.star import DIMENSIONS, FACT_COLUMNS
from pulse.pipeline import Enrichers, transform_batch
from pulse.settings import load_settings
from pulse.stack.cluster import superuser
from pulse.stack.credentials import parse_target, pgpass_path, role_url
from pulse.stack.manager import stack_up
from pulse.traffic.producer import produce_synthetic
from pulse.warehouse.migrate import migrate

START = datetime(2026, 11, 1, tzinfo=UTC)
PAGE = 100


def _fresh_database(settings: Any, name: str) -> str:
    target = parse_target(settings)
    with superuser(settings) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(target.owner)))
    url = role_url(settings, target.owner, name)
    with psycopg.connect(url) as conn:
        migrate(conn)
    return url


def engine_env(settings: Any, url: str, topic: str, group: str) -> dict[str, str]:
    """The environment of a `pulse run` reading `topic` as `group` into the database at `url` (owner's URL)."""
    owner = parse_target(settings).owner
    return {**os.environ, "PULSE_TOPIC": topic, "PULSE_CONSUMER_GROUP": group, "PULSE_DATABASE_URL": url,
            "PULSE_LOADER_DATABASE_URL": url.replace(f"{owner}@", "pulse_engine@"),
            "PULSE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "PULSE_HOME": str(settings.home)}


def run_native(settings: Any, url: str, topic: str, expected: int) -> dict[str, Any]:
    """`pulse run` as a subprocess; time until the warehouse holds every event."""
    env = engine_env(settings, url, topic, f"bench-{topic}")
    started = time.monotonic()
    engine = subprocess.Popen([sys.executable, "-m", "pulse.cli", "--log-level", "WARNING", "run"], env=env)
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            loaded = conn.execute("SELECT events_loaded FROM load_state").fetchone()[0]  # type: ignore[index]
            if loaded >= expected:
                break
            if engine.poll() is not None:
                raise SystemExit(f"engine exited early with {engine.returncode}")
            time.sleep(0.2)
    elapsed = time.monotonic() - started
    engine.terminate()
    engine.wait(timeout=60)
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"engine": "native", "events": expected, "seconds": round(elapsed, 2),
            "events_per_s": round(expected / elapsed), "peak_rss_mb": round(rss_mb)}


def run_naive(settings: Any, url: str, topic: str, expected: int) -> dict[str, Any]:
    """The original design's loader, in this process: same transform, 100-row INSERT pages."""
    enrichers = Enrichers.create(hash_key=b"bench-key-0123456789abcdef")
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"naive-{topic}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": True})
    consumer.subscribe([topic])
    fact_cols = FACT_COLUMNS
    done = 0
    started = time.monotonic()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE naive_fact (LIKE fact_event INCLUDING DEFAULTS)")
        conn.execute("ALTER TABLE naive_fact ADD PRIMARY KEY (event_id)")
        conn.commit()
        while done < expected:
            messages = [m for m in consumer.consume(1000, timeout=1.0) if m.error() is None]
            if not messages:
                continue
            batch = transform_batch(
                [(m.value() or b"", SourceRef(m.topic() or "", m.partition() or 0, m.offset() or 0)) for m in messages],
                enrichers, now=time.time(),
            )
            for table, rows in batch.dims.items():
                _insert_pages(conn, table, DIMENSIONS[table], list(rows.values()))
            _insert_pages(conn, "naive_fact", fact_cols, [r[: len(fact_cols)] for r in batch.facts])
            done += len(messages)
    elapsed = time.monotonic() - started
    consumer.close()
    return {"engine": "naive (INSERT pages of 100)", "events": expected, "seconds": round(elapsed, 2),
            "events_per_s": round(expected / elapsed), "peak_rss_mb": None}


def _insert_pages(
    conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]
) -> None:
    for i in range(0, len(rows), PAGE):
        page = rows[i : i + PAGE]
        values = sql.SQL(", ").join(
            sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns))) for _ in page
        )
        query = sql.SQL("INSERT INTO {} ({}) VALUES {} ON CONFLICT DO NOTHING").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)), values
        )
        conn.execute(query, [v for row in page for v in row])
        conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()

    settings = load_settings()
    stack_up(settings)
    settings = settings.using_passfile(pgpass_path(settings))
    run_id = f"bench_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(run_id, settings.topic_partitions, 1)])[run_id].result(timeout=30)
    print(f"producing {args.events:,} events to {run_id} ...", flush=True)
    t0 = time.monotonic()
    produce_synthetic(settings.model_copy(update={"topic": run_id}), count=args.events, rate=None, seed=42,
                      progress=True, start=START)
    produce_s = time.monotonic() - t0
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "bench-probe"})
    sent = sum(consumer.get_watermark_offsets(TopicPartition(run_id, p), timeout=10)[1]
               for p in range(settings.topic_partitions))
    consumer.close()

    results = []
    for name, runner in (("native", run_native), ("naive", run_naive)):
        url = _fresh_database(settings, f"{run_id}_{name}")
        print(f"running {name} ...", flush=True)
        results.append(runner(settings, url, run_id, sent))
        print(results[-1], flush=True)
    native, naive = results
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Kafka and PostgreSQL on the same machine",
        "events": sent, "produce_events_per_s": round(sent / produce_s),
        "results": results,
        "native_over_naive": round(native["events_per_s"] / naive["events_per_s"], 2),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"e2e-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# End-to-end benchmark {report['date']}", "", f"{sent:,} synthetic events, {report['machine']}.", "",
             "| engine | events/s | seconds | peak RSS MB |", "|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['engine']} | {r['events_per_s']:,} | {r['seconds']} | {r['peak_rss_mb'] or '—'} |")
    lines += ["", f"native / naive = **{report['native_over_naive']}×**", ""]
    (args.out / f"e2e-{stamp}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
