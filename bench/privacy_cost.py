"""Cost of the privacy step per event (µs): the model with redaction on and off, and the redactor alone.

Usage: .venv/bin/python bench/privacy_cost.py [--events 50000]. No services needed. Events: synthetic
Glamira traffic plus the shared samples and test cases (tests/cases/valid, ../shared/samples) repeated in.
A timing script, not a test: compare the numbers within one run (the machine is shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from pulse.enrich import privacy
from pulse.events.decode import decode_event
from pulse.events.model import Event, SourceRef
from pulse.model.star import DIMENSIONS, model_event
from pulse.pipeline import Enrichers, transform_batch
from pulse.traffic.generator import TrafficGenerator, encode

KEY = b"bench-key-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FILES = [ROOT / "tests" / "cases" / "valid" / "samples.jsonl", ROOT.parent / "shared" / "samples"]


def _sample_lines() -> list[bytes]:
    lines: list[bytes] = []
    for path in SAMPLE_FILES:
        files = sorted(path.glob("*.json*")) if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            lines += [line for line in file.read_bytes().splitlines() if line.strip()]
    return lines


def _stored_strings(event: Event) -> list[str]:
    """The strings of one event that the model passes to the redactor (as the model sees them)."""
    values = [event.event_id, event.collection, event.product_id, event.store_id, event.order_id,
              event.api_version, event.local_time, event.user_id_db, event.resolution, event.key_search,
              event.cat_id, event.utm_source, event.utm_medium, event.referrer_url]
    return [v for v in values if v is not None]


def measure(n: int) -> dict[str, float]:
    """µs per event of each variant over `n` events (caches warmed once with other events first)."""
    samples = _sample_lines()
    generated = [encode(e) for e in TrafficGenerator(seed=5).events(n)]
    raw = [(line, SourceRef("t", 0, i)) for i, line in enumerate(generated + samples * max(1, n // 1000))]
    now = time.time()
    warm = [(encode(e), SourceRef("t", 0, i)) for i, e in enumerate(TrafficGenerator(seed=9).events(5000))]
    on = Enrichers.create(hash_key=KEY)
    off = dataclasses.replace(on, privacy_redact=False)
    transform_batch(warm, on, now=now)
    events = [e for e in (decode_event(r, s, now=now) for r, s in raw) if isinstance(e, Event)]
    strings = [_stored_strings(e) for e in events]
    total_strings = sum(len(s) for s in strings)
    flagged = sum(privacy._may_hold_personal_data(v) for s in strings for v in s)
    costs: dict[str, float] = {"events": len(events), "strings/event": round(total_strings / len(events), 1),
                               "share past prefilter %": round(100 * flagged / total_strings, 1)}

    def timed(name: str, run: Callable[[], object], repeat: int = 5) -> None:
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - started)
        costs[name] = round(best * 1e6 / len(events), 2)

    def paired(name: str, off_run: Callable[[], object], on_run: Callable[[], object], repeat: int = 5) -> None:
        """Off and on alternately, best of `repeat` each: other load on the machine hits both alike."""
        best = {"off": float("inf"), "on": float("inf")}
        for _ in range(repeat):
            for variant, run in (("off", off_run), ("on", on_run)):
                started = time.perf_counter()
                run()
                best[variant] = min(best[variant], time.perf_counter() - started)
        costs[f"{name}, redaction off"] = round(best["off"] * 1e6 / len(events), 2)
        costs[f"{name}, redaction on"] = round(best["on"] * 1e6 / len(events), 2)
        costs[f"{name} overhead %"] = round(100 * (best["on"] / best["off"] - 1), 1)

    def model(enrichers: Enrichers) -> Callable[[], object]:
        def run() -> object:
            dims: dict[str, dict[int, tuple[object, ...]]] = {name: {} for name in DIMENSIONS}
            return [model_event(e, enrichers, dims) for e in events]
        return run

    privacy._redact_cached.cache_clear()
    started = time.perf_counter()
    for s in strings:
        for v in s:
            privacy.redact_text(v, KEY)
    costs["redactor, cold cache"] = round((time.perf_counter() - started) * 1e6 / len(events), 2)
    timed("redactor, warm cache", lambda: [[privacy.redact_text(v, KEY) for v in s] for s in strings])
    timed("prefilter only", lambda: [[privacy._may_hold_personal_data(v) for v in s] for s in strings])
    paired("model", model(off), model(on))
    paired("transform", lambda: transform_batch(raw, off, now=now), lambda: transform_batch(raw, on, now=now))
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    for name, value in measure(parser.parse_args().events).items():
        print(f"{name:<26} {value:>9}")


if __name__ == "__main__":
    main()
