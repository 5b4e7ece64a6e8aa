"""Freshness, Kafka produce -> queryable in PostgreSQL, at steady rates (part of bench/suite.py).

The engine (`pulse run`, normal settings) runs on a fresh topic and database. A paced producer sends
synthetic events at a fixed rate; a sample of them (about 200 a second) is watched: a poller asks the
warehouse every POLL_S which sampled event ids are committed. Latency = first poll that sees the id -
the moment produce() was called, so it includes the producer's linger, the engine's micro-batch wait
and the commit; the poll interval bounds the resolution.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from confluent_kafka import Producer

from pulse.traffic.generator import TrafficGenerator, encode

POLL_S = 0.02
SAMPLES_PER_S = 200


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
    watcher.finish(timeout=30)
    lat = [x * 1000 for x in watcher.latencies]
    return {"rate": rate, "achieved_rate": round(total / elapsed), "seconds": round(elapsed, 1),
            "sampled": len(lat), "unseen": len(watcher.pending),
            "p50_ms": round(_percentile(lat, 0.50), 1), "p95_ms": round(_percentile(lat, 0.95), 1),
            "p99_ms": round(_percentile(lat, 0.99), 1), "max_producer_lag_ms": round(late * 1000, 1)}
