"""Cost of each transform stage per event (µs), on synthetic events: where the engine's time goes.

Usage: .venv/bin/python bench/stages.py [--events 50000] [--before REV] [--rss-events 1000000]. No services
needed; caches are warmed first, then every stage runs over the same decoded events. Compare within one run.
`--before REV` measures the transform of git revision REV too (its src/ from `git archive`, in its own
interpreter) and prints before, after and their ratio. `--rss-events N` adds the peak RSS of a process that
transforms N generated events in batches of 5,000 (each version in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pulse.enrich.privacy import keyed_hash, normalize_email, truncate_ip
from pulse.enrich.referrer import classify_referrer
from pulse.enrich.url import parse_page_url
from pulse.events.decode import decode_event
from pulse.events.model import Event, SourceRef
from pulse.model.star import DIMENSIONS, model_event
from pulse.pipeline import Enrichers, transform_batch
from pulse.traffic.generator import TrafficGenerator, encode


def stage_costs(n: int) -> dict[str, float]:
    """µs per event of each stage over `n` synthetic events (parsers warmed first)."""
    raw = [(encode(e), SourceRef("t", 0, i)) for i, e in enumerate(TrafficGenerator(seed=3).events(n))]
    enrichers = Enrichers.create(hash_key=b"bench-key-0123456789abcdef")
    now = time.time()
    transform_batch(raw[: min(n, 5000)], enrichers, now=now)  # warm the parsers
    events = [e for e in (decode_event(r, s, now=now) for r, s in raw) if isinstance(e, Event)]
    key = b"bench-key-0123456789abcdef"
    dims: dict[str, dict[int, tuple[object, ...]]] = {name: {} for name in DIMENSIONS}
    costs: dict[str, float] = {}

    def measure(name: str, stage: Callable[[], object]) -> None:
        started = time.perf_counter()
        stage()
        costs[name] = round((time.perf_counter() - started) * 1e6 / n, 2)

    measure("decode", lambda: [decode_event(r, s, now=now) for r, s in raw])
    measure("page url", lambda: [parse_page_url(e.current_url) for e in events])
    measure("storefront", lambda: [enrichers.storefronts.lookup(e.current_url) for e in events])
    measure("geo ip", lambda: [enrichers.geo.lookup(e.ip) for e in events])
    measure("user agent", lambda: [enrichers.user_agents.parse(e.user_agent) for e in events])
    measure("referrer", lambda: [classify_referrer(e.referrer_url, parse_page_url(e.current_url),
                                                   storefronts=enrichers.storefronts) for e in events])
    measure("privacy", lambda: [(keyed_hash(normalize_email(e.email), key), keyed_hash(e.device_id, key),
                                 truncate_ip(e.ip)) for e in events])
    measure("model (all)", lambda: [model_event(e, enrichers, dims) for e in events])
    measure("transform", lambda: transform_batch(raw, enrichers, now=now))
    return costs


def transform_rss(n: int, batch: int = 5_000) -> dict[str, float]:
    """Peak RSS (MB) of this process after transforming `n` generated events, batch by batch, as an engine does."""
    enrichers = Enrichers.create(hash_key=b"bench-key-0123456789abcdef")
    generator = TrafficGenerator(seed=3)
    now, started, done = time.time(), time.perf_counter(), 0
    while done < n:
        count = min(batch, n - done)
        raw = [(encode(e), SourceRef("t", 0, done + i)) for i, e in enumerate(generator.events(count))]
        transform_batch(raw, enrichers, now=now)
        done += count
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return {"max RSS MB": round(peak_kb / 1024, 1), "RSS at end MB": round(resident / 2**20, 1),
            "gen+transform s": round(time.perf_counter() - started, 1)}


def _measure_in(src: Path | None, what: str, n: int) -> dict[str, float]:
    """Run `what` (stages or rss) over `n` events in a fresh interpreter importing pulse from `src` (None: here)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run([sys.executable, __file__, "--measure", what, "--events", str(n)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.splitlines()[-1]))


def _archive_src(rev: str, into: Path) -> Path:
    repo = Path(__file__).resolve().parents[1]
    archive = into / "src.tar"
    subprocess.run(["git", "-C", str(repo), "archive", "-o", str(archive), rev, "src"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _print(results: dict[str, dict[str, float]], unit: str) -> None:
    names = list(results)
    print(f"{'':<16}" + "".join(f"{name:>12}" for name in names) + ("  before/now" if len(names) == 2 else ""))
    for stage in results[names[-1]]:
        values = [results[name].get(stage) for name in names]
        ratio = f"{values[0] / values[1]:11.2f}x" if len(values) == 2 and values[0] and values[1] else ""
        print(f"{stage:<16}" + "".join(f"{v:12.1f}" if v is not None else f"{'-':>12}" for v in values)
              + ratio + f"  {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--before", metavar="REV", help="also measure git revision REV (before / after / ratio)")
    parser.add_argument("--rss-events", type=int, default=0, help="peak RSS of transforming this many events")
    parser.add_argument("--measure", choices=["stages", "rss"], help=argparse.SUPPRESS)  # one child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(stage_costs(args.events) if args.measure == "stages" else transform_rss(args.events)))
        return
    if not args.before:
        _print({"µs/event": stage_costs(args.events)}, "µs/event")
        if args.rss_events:
            _print({"now": transform_rss(args.rss_events)}, f"({args.rss_events:,} events)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        before = _archive_src(args.before, Path(tmp))
        here = Path(__file__).resolve().parents[1] / "src"
        versions = {args.before: before, "now": here}
        _print({name: _measure_in(src, "stages", args.events) for name, src in versions.items()}, "µs/event")
        if args.rss_events:
            _print({name: _measure_in(src, "rss", args.rss_events) for name, src in versions.items()},
                   f"({args.rss_events:,} events)")


if __name__ == "__main__":
    main()
