"""Freshness, Kafka produce -> queryable in PostgreSQL, at steady rates (part of bench/suite.py; runs alone too).

The engine (`pulse run`, normal settings) runs on a fresh topic and database. A paced producer sends
synthetic events at a fixed rate; a sample of them (about 200 a second) is watched: a poller asks the
warehouse every POLL_S which sampled event ids are committed. Latency = first poll that sees the id -
the moment produce() was called, so it includes the producer's linger, the engine's micro-batch wait
and the commit; the poll interval bounds the resolution. A second thread samples the backlog (messages in the
topic not yet committed in the warehouse) every BACKLOG_EVERY_S: it grows when the engine does not keep up.

Alone: .venv/bin/python bench/freshness.py [--rates 1000,10000] [--seconds 60] [--engine-src DIR]
(own Kafka + PostgreSQL). Before/after: `git archive COMMIT src | tar -x -C DIR`, then `--engine-src DIR/src`
runs that commit's engine under the same benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean
from typing import Any

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition

from pulse.traffic.generator import TrafficGenerator, encode

POLL_S = 0.02
SAMPLES_PER_S = 200
BACKLOG_EVERY_S = 1.0


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class _Watcher(threading.Thread):
    """Polls the warehouse for the sampled event ids; records when each became visible."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.pending: dict[str, float] = {}  # event id -> produce time
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._deadline = float("inf")

    def watch(self, event_id: str, sent: float) -> None:
        with self.lock:
            self.pending[event_id] = sent

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set() or self.pending:
                with self.lock:
                    ids = list(self.pending)
                if ids:
                    rows = conn.execute("SELECT event_id FROM fact_event WHERE event_id = ANY(%s)", (ids,)).fetchall()
                    seen = time.time()
                    with self.lock:
                        for (event_id,) in rows:
                            self.latencies.append(seen - self.pending.pop(event_id))
                time.sleep(POLL_S)
                if self.stop.is_set() and time.time() > self._deadline:
                    break

    def finish(self, timeout: float) -> None:
        self._deadline = time.time() + timeout
        self.stop.set()
        self.join()


class _Backlog(threading.Thread):
    """Samples (seconds since start, messages in the topic minus messages the warehouse committed)."""

    def __init__(self, bootstrap: str, topic: str, url: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.url = bootstrap, topic, url
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        probe = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "freshness-backlog-probe"})
        partitions = list(probe.list_topics(self.topic, timeout=10).topics[self.topic].partitions)
        started = time.time()
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(BACKLOG_EVERY_S):
                end = sum(probe.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1] for p in partitions)
                done = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets").fetchone()[0]  # type: ignore[index]
                self.samples.append((round(time.time() - started, 1), end - int(done)))
        probe.close()

    def summary(self, rate: int) -> dict[str, Any]:
        """Mean backlog over the first and the last 10 s; growing = the last exceeds the first by > 1 s of events."""
        values = [b for _, b in self.samples]
        if len(values) < 4:
            return {"backlog_samples": self.samples}
        window = max(1, min(10, len(values) // 3))
        first, last = mean(values[:window]), mean(values[-window:])
        return {"backlog_first_10s": round(first), "backlog_last_10s": round(last), "backlog_max": max(values),
                "backlog_growing": last - first > rate}


def measure_rate(bootstrap: str, topic: str, url: str, rate: int, seconds: float, seed: int) -> dict[str, Any]:
    """Produce `rate` events/s for `seconds`; p50/p95/p99 produce -> queryable of the sampled events (ms)."""
    total = int(rate * seconds)
    every = max(1, rate // SAMPLES_PER_S)
    gen = TrafficGenerator(seed=seed, realtime=True)
    events = [e for e in gen.events(total)]  # made before the clock starts: the producer only paces
    payloads = [(e["device_id"].encode(), encode(e), e.get("id") if i % every == 0 else None)
                for i, e in enumerate(events)]
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    watcher = _Watcher(url)
    watcher.start()
    backlog = _Backlog(bootstrap, topic, url)
    backlog.start()
    started = time.time()
    late = 0.0
    for i, (key, value, event_id) in enumerate(payloads):
        due = started + i / rate
        now = time.time()
        if due > now:
            time.sleep(due - now)
        else:
            late = max(late, now - due)
        sent = time.time()
        producer.produce(topic, value, key)
        if event_id:
            watcher.watch(str(event_id), sent)
        if i % 100 == 0:
            producer.poll(0)
    producer.flush(30)
    elapsed = time.time() - started
    backlog.stop.set()
    backlog.join()
    watcher.finish(timeout=30)
    lat = [x * 1000 for x in watcher.latencies]
    return {"rate": rate, "achieved_rate": round(total / elapsed), "seconds": round(elapsed, 1),
            "sampled": len(lat), "unseen": len(watcher.pending),
            "p50_ms": round(_percentile(lat, 0.50), 1), "p95_ms": round(_percentile(lat, 0.95), 1),
            "p99_ms": round(_percentile(lat, 0.99), 1), "max_producer_lag_ms": round(late * 1000, 1),
            **backlog.summary(rate)}


def main() -> None:
    """Freshness alone, on a private stack: one fresh topic, database and engine per rate."""
    import suite  # noqa: PLC0415 - the suite's stack helpers; suite imports this module too
    from confluent_kafka.admin import AdminClient, NewTopic  # noqa: PLC0415

    from pulse.settings import load_settings  # noqa: PLC0415
    from pulse.stack.credentials import pgpass_path  # noqa: PLC0415
    from pulse.stack.manager import stack_down, stack_up  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1000,10000", help="events/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per rate")
    parser.add_argument("--engine-src", type=Path, default=None, help="run the engine from this src/ (before/after)")
    parser.add_argument("--label", default="", help="a name for this run in the report")
    parser.add_argument("--out", type=Path, default=suite.HERE / "results")
    args = parser.parse_args()
    home = Path(suite.tempfile.mkdtemp(prefix="pulse-fresh-"))
    home.chmod(0o755)
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PULSE_") or k == "PGPASSFILE"}
    settings = load_settings(home=home, kafka_bootstrap=f"127.0.0.1:{suite._free_port()}",
                             database_url=f"postgresql://pulse@127.0.0.1:{suite._free_port()}/pulse",
                             topic_partitions=suite.PARTITIONS)
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                              "command": "python bench/freshness.py " + " ".join(sys.argv[1:]),
                              "label": args.label, "engine_src": str(args.engine_src or "this checkout"),
                              "load_average_at_start": os.getloadavg(), "rates": []}
    try:
        stack_up(settings)
        settings = settings.using_passfile(pgpass_path(settings))
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
        for rate in (int(r) for r in args.rates.split(",")):
            topic = f"fresh_{rate}_{os.getpid()}"
            admin.create_topics([NewTopic(topic, suite.PARTITIONS, 1)])[topic].result(timeout=30)
            url = suite.fresh_database(settings, topic)
            env = suite.engine_env(settings, url, topic)
            if args.engine_src is not None:
                env["PYTHONPATH"] = str(args.engine_src.resolve())
            engine = subprocess.Popen([sys.executable, "-m", "pulse.cli", "--log-level", "WARNING", "run"], env=env,
                                      stdout=subprocess.DEVNULL)
            try:
                measure_rate(settings.kafka_bootstrap, topic, url, 50, 2.0, seed=rate)  # warm-up
                result = measure_rate(settings.kafka_bootstrap, topic, url, rate, args.seconds, seed=rate + 1)
                result["engine_peak_rss_mb"] = suite._tree_peak_rss_mb(engine.pid)
            finally:
                engine.terminate()
                engine.wait(timeout=60)
            suite.console.print(result)
            report["rates"].append(result)
    finally:
        stack_down(settings)
        suite.shutil.rmtree(home, ignore_errors=True)
        os.environ.update(saved)
    report["load_average_at_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"freshness-{args.label + '-' if args.label else ''}{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    suite.console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
