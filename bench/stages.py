"""Cost of each transform stage per event (µs), on synthetic events: where the engine's time goes.

Usage: .venv/bin/python bench/stages.py [--events 50000]. No services needed; caches are warmed first,
then every stage runs over the same decoded events. Compare stages within one run, not across runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    for name, micros in stage_costs(parser.parse_args().events).items():
        print(f"{name:<12} {micros:7.1f} µs/event")


if __name__ == "__main__":
    main()
