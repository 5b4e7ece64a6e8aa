"""The benchmark suite: everything side by side in one run on the same data, as docs/benchmarks.md + PNG plots.

One private stack (Kafka + PostgreSQL, temporary home, free ports), one topic of synthetic events, then:
- throughput, Kafka -> committed, fully enriched: native engine (`pulse run`), Spark engine (`pulse spark`,
  when this checkout has it), a naive loader (row INSERTs in pages of 100 with ON CONFLICT DO NOTHING per
  table, a commit per page: the original design), the ceiling (COPY of the native run's fact rows into a
  fresh database: no transform, no rollups) and the Kafka consume-only rate; each into a fresh database;
- engine peak memory (VmHWM of the engine's process tree);
- freshness p50/p95/p99, produce -> queryable, at steady 100, 1,000 and 10,000 events/s (bench/freshness.py);
- cost of each transform stage per event (bench/stages.py).

--before REV: the native engine's throughput and freshness are also measured for git revision REV, in the same run
and on the same topic: REV's tree is extracted (`git archive REV | tar -x`), its engine runs from its own src
(PYTHONPATH) into fresh databases migrated by its own migrations, and each measurement alternates REV, then this
checkout. The benchmark code is this checkout's for both sides; the report gives both and the after/before ratios.

Usage: .venv/bin/python bench/suite.py [--events 1000000] [--quick] [--before REV]
--quick: 200k events, 10 s per freshness rate, the naive loader on 20k events.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql
from rich.console import Console

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import freshness  # noqa: E402
import stages  # noqa: E402

from e2e import run_naive  # noqa: E402
from pulse.model.star import FACT_COLUMNS  # noqa: E402
from pulse.settings import Settings, load_settings  # noqa: E402
from pulse.stack.cluster import superuser  # noqa: E402
from pulse.stack.credentials import parse_target, pgpass_path, role_url  # noqa: E402
from pulse.stack.manager import stack_down, stack_up  # noqa: E402
from pulse.traffic.producer import produce_synthetic  # noqa: E402
from pulse.warehouse.migrate import migrate  # noqa: E402

console = Console()
START = datetime(2026, 11, 1, tzinfo=UTC)
PARTITIONS = 4
HASH_KEY = "bench-suite-hash-key-0123456789abcdef"
REPO = HERE.parent


@dataclass(frozen=True)
class Tree:
    """A source tree the engine runs from: `src` goes on the engine's PYTHONPATH, `label` names it in the report."""

    label: str
    src: Path


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def current_tree() -> Tree:
    """This checkout: its HEAD, marked `+changes` when the work tree differs from it."""
    dirty = "+changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
    return Tree(label=f"{_git('rev-parse', '--short', 'HEAD')}{dirty} (this checkout)", src=REPO / "src")


def extract_tree(rev: str, into: Path) -> Tree:
    """REV's files (`git archive REV | tar -x -C into`): the engine, its migrations and package data as of REV."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    archive = subprocess.Popen(["git", "-C", str(REPO), "archive", commit], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"git archive {rev} failed")
    return Tree(label=commit[:7] if commit.startswith(rev) else f"{rev} ({commit[:7]})", src=into / "src")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fresh_database(settings: Settings, name: str, tree: Tree | None = None) -> str:
    """A new database, migrated by this process (`tree` None) or by `pulse migrate` run from `tree`'s src."""
    target = parse_target(settings)
    with superuser(settings) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name),
                                                                    sql.Identifier(target.owner)))
    url = role_url(settings, target.owner, name)
    if tree is None:
        with psycopg.connect(url) as conn:
            migrate(conn)
    else:
        subprocess.run([sys.executable, "-m", "pulse.cli", "--log-level", "WARNING", "migrate"],
                       env=engine_env(settings, url, name, tree), check=True, stdout=subprocess.DEVNULL)
    return url


def engine_env(settings: Settings, url: str, topic: str, tree: Tree | None = None) -> dict[str, str]:
    """The environment of an engine subprocess on `topic` into `url`; with `tree`, its code from that tree only."""
    target = parse_target(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    if tree is not None:
        env["PYTHONPATH"] = str(tree.src)
    env.update({"PULSE_HOME": str(settings.home), "PULSE_TOPIC": topic,
                "PULSE_CONSUMER_GROUP": f"g-{uuid.uuid4().hex[:8]}",
                "PULSE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "PULSE_DATABASE_URL": url,
                "PULSE_LOADER_DATABASE_URL": url.replace(f"{target.owner}@", "pulse_engine@"),
                "PULSE_READER_DATABASE_URL": url.replace(f"{target.owner}@", "pulse_dashboard@"),
                "PULSE_HASH_KEY": HASH_KEY})
    return env


def _tree_peak_rss_mb(pid: int) -> float:
    """Sum of VmHWM (peak RSS) over a process and its descendants, MB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def run_engine(name: str, cmd: list[str], env: dict[str, str], url: str, expected: int) -> dict[str, Any]:
    """An engine CLI as a subprocess; seconds until the warehouse holds every event; peak RSS."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    peak = 0.0
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            loaded = conn.execute(  # every message accounted for
                "SELECT events_loaded + quarantined + duplicates_skipped FROM load_state").fetchone()[0]  # type: ignore[index]
            peak = max(peak, _tree_peak_rss_mb(proc.pid))
            if loaded >= expected:
                break
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited early with {proc.returncode}")
            time.sleep(0.2)
    elapsed = time.monotonic() - started
    peak = max(peak, _tree_peak_rss_mb(proc.pid))
    proc.terminate()
    proc.wait(timeout=120)
    return {"engine": name, "events": expected, "seconds": round(elapsed, 2),
            "events_per_s": round(expected / elapsed), "peak_rss_mb": peak}


def run_ceiling(settings: Settings, source_url: str, name: str) -> dict[str, Any]:
    """COPY the native run's fact rows (pre-built, binary) into a fresh database: the load ceiling."""
    cols = sql.SQL(", ").join(map(sql.Identifier, FACT_COLUMNS))
    dump = Path(tempfile.mkstemp(prefix="pulse-ceiling-")[1])
    with psycopg.connect(source_url) as src, dump.open("wb") as out:
        days = [r[0] for r in src.execute("SELECT DISTINCT event_date FROM fact_event").fetchall()]
        export = sql.SQL("COPY (SELECT {} FROM fact_event) TO STDOUT (FORMAT binary)").format(cols)
        with src.cursor().copy(export) as cp:
            for block in cp:
                out.write(block)
    url = fresh_database(settings, name)
    with psycopg.connect(url) as conn:
        started = time.monotonic()
        conn.execute("SELECT pulse_ensure_fact_partitions(%s::date[])", (days,))
        with conn.cursor().copy(sql.SQL("COPY fact_event ({}) FROM STDIN (FORMAT binary)").format(cols)) as cp, \
                dump.open("rb") as data:
            while block := data.read(1 << 20):
                cp.write(block)
        conn.commit()
        elapsed = time.monotonic() - started
        rows = conn.execute("SELECT count(*) FROM fact_event").fetchone()[0]  # type: ignore[index]
    dump.unlink()
    return {"engine": "ceiling (COPY of pre-built fact rows)", "events": rows, "seconds": round(elapsed, 2),
            "events_per_s": round(rows / elapsed), "peak_rss_mb": None}


def run_consume_only(settings: Settings, topic: str, expected: int) -> dict[str, Any]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"raw-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    done, started = 0, time.monotonic()
    while done < expected:
        done += sum(1 for m in consumer.consume(5000, timeout=1.0) if m.error() is None)
    elapsed = time.monotonic() - started
    consumer.close()
    return {"engine": "Kafka consume only (no decode)", "events": done, "seconds": round(elapsed, 2),
            "events_per_s": round(done / elapsed), "peak_rss_mb": None}


def run_native(settings: Settings, topic: str, expected: int, tree: Tree) -> tuple[dict[str, Any], str]:
    """`pulse run` from `tree` on `topic` into a fresh database migrated by `tree`; its row and the database."""
    url = fresh_database(settings, f"{topic}_native_{uuid.uuid4().hex[:4]}", tree)
    row = run_engine("native engine (pulse run)", [sys.executable, "-m", "pulse.cli", "--log-level", "WARNING", "run"],
                     engine_env(settings, url, topic, tree), url, expected)
    return {**row, "tree": tree.label}, url


def run_freshness(settings: Settings, admin: AdminClient, rate: int, seconds: float, tree: Tree) -> dict[str, Any]:
    """Freshness at `rate` events/s: `pulse run` from `tree` on a topic and database of its own."""
    ftopic = f"fresh_{rate}_{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(ftopic, PARTITIONS, 1)])[ftopic].result(timeout=30)
    furl = fresh_database(settings, ftopic, tree)
    engine = subprocess.Popen([sys.executable, "-m", "pulse.cli", "--log-level", "WARNING", "run"],
                              env=engine_env(settings, furl, ftopic, tree), stdout=subprocess.DEVNULL)
    try:
        freshness.measure_rate(settings.kafka_bootstrap, ftopic, furl, 50, 2.0, seed=rate)  # warm-up
        result = freshness.measure_rate(settings.kafka_bootstrap, ftopic, furl, rate, seconds, seed=rate + 1)
        result["engine_peak_rss_mb"] = _tree_peak_rss_mb(engine.pid)
    finally:
        engine.terminate()
        engine.wait(timeout=60)
    console.print({**result, "tree": tree.label})
    return {**result, "tree": tree.label}


def spark_available(env: dict[str, str]) -> bool:
    probe = subprocess.run([sys.executable, "-m", "pulse.cli", "spark", "--help"], env=env, capture_output=True,
                           check=False, timeout=120)
    return probe.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--naive-events", type=int, default=None, help="events for the naive loader (slow)")
    parser.add_argument("--fresh-seconds", type=float, default=None, help="seconds per freshness rate")
    parser.add_argument("--docs", type=Path, default=HERE.parent / "docs")
    parser.add_argument("--before", metavar="REV", help="also measure the native engine of git revision REV"
                        " (its own src and migrations), side by side with this checkout")
    args = parser.parse_args()
    events = 200_000 if args.quick and args.events == 1_000_000 else args.events
    naive_n = args.naive_events or (20_000 if args.quick else 100_000)
    fresh_s = args.fresh_seconds or (10.0 if args.quick else 30.0)
    home = Path(tempfile.mkdtemp(prefix="pulse-suite-"))
    home.chmod(0o755)
    current = current_tree()
    before = extract_tree(args.before, Path(tempfile.mkdtemp(prefix="pulse-before-"))) if args.before else None
    trees = [t for t in (before, current) if t is not None]  # REV first, then this checkout, in each measurement
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PULSE_") or k == "PGPASSFILE"}
    settings = load_settings(home=home, kafka_bootstrap=f"127.0.0.1:{_free_port()}",
                             database_url=f"postgresql://pulse@127.0.0.1:{_free_port()}/pulse",
                             topic_partitions=PARTITIONS)
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                              "command": "python bench/suite.py " + " ".join(sys.argv[1:]),
                              "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                                         f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') >> 30} GiB; "
                                         "Kafka, PostgreSQL and the engine on the same machine",
                              "load_average_at_start": os.getloadavg()}
    try:
        console.print(f"[bold]stack[/] in {home}")
        stack_up(settings)
        settings = settings.using_passfile(pgpass_path(settings))
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
        topic = f"suite_{uuid.uuid4().hex[:6]}"
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=30)
        t0 = time.monotonic()
        produce_synthetic(settings.model_copy(update={"topic": topic}), count=events, rate=None, seed=42,
                          progress=True, start=START)
        report["produce_events_per_s"] = round(events / (time.monotonic() - t0))
        probe = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "probe"})
        sent = sum(probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS))
        probe.close()
        report["events"] = sent
        results = []
        console.print("[bold]throughput[/]: Kafka consume only")
        results.append(run_consume_only(settings, topic, sent))
        natives = {}
        for tree in trees:
            console.print(f"[bold]throughput[/]: native engine ({tree.label})")
            natives[tree.label] = run_native(settings, topic, sent, tree)
        native_row, native_url = natives[current.label]
        results.append(native_row)
        spark_url = fresh_database(settings, f"{topic}_spark")
        spark_env = engine_env(settings, spark_url, topic, current)
        if spark_available(spark_env):
            console.print("[bold]throughput[/]: Spark engine")
            results.append(run_engine("Spark engine (pulse spark)", [sys.executable, "-m", "pulse.cli", "spark",
                                                                     "--until-idle", "30"], spark_env, spark_url, sent))
        else:
            console.print("Spark engine: not available (no `pulse spark` in this checkout)")
            results.append({"engine": "Spark engine (pulse spark)", "events": sent, "seconds": None,
                            "events_per_s": None, "peak_rss_mb": None, "note": "not available"})
        console.print("[bold]throughput[/]: ceiling (COPY)")
        results.append(run_ceiling(settings, native_url, f"{topic}_ceiling"))
        console.print(f"[bold]throughput[/]: naive loader on the first {naive_n:,} events")
        naive_topic = f"{topic}_naive"
        admin.create_topics([NewTopic(naive_topic, PARTITIONS, 1)])[naive_topic].result(timeout=30)
        produce_synthetic(settings.model_copy(update={"topic": naive_topic}), count=naive_n, rate=None, seed=42,
                          progress=False, start=START)
        naive = run_naive(settings, fresh_database(settings, f"{topic}_naive"), naive_topic, naive_n)
        results.append({**naive, "engine": "naive loader (INSERT pages of 100)"})
        report["throughput"] = results

        console.print("[bold]freshness[/]")
        fresh: dict[str, list[dict[str, Any]]] = {tree.label: [] for tree in trees}
        for rate in (100, 1_000, 10_000):
            for tree in trees:
                fresh[tree.label].append(run_freshness(settings, admin, rate, fresh_s, tree))
        report["freshness"] = fresh[current.label]
        report["tree"] = current.label
        if before is not None:
            report["before"] = {"tree": before.label, "throughput": [natives[before.label][0]],
                                "freshness": fresh[before.label]}
        console.print("[bold]stages[/]")
        report["stages_us_per_event"] = stages.stage_costs(min(events, 50_000))
    finally:
        stack_down(settings)
        shutil.rmtree(home, ignore_errors=True)
        if before is not None:
            shutil.rmtree(before.src.parent, ignore_errors=True)
        os.environ.update(saved)
    report["load_average_at_end"] = os.getloadavg()
    import suite_report  # noqa: PLC0415 - matplotlib only when there is something to draw

    path = suite_report.write(report, args.docs, HERE / "results")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
