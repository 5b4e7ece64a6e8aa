"""Cost of the user-agent enricher per distinct user agent (cache off) and per event (cache on), in µs.

Usage: .venv/bin/python bench/bots.py [--repeat 3]. No services needed. Agents: the pinned isbot fixtures
(browsers and crawlers, tests/fixtures/bots/). Run it with PYTHONPATH at an older checkout's src/ for the
"before" figure (the script uses only `UserAgentParser`). A timing script: compare numbers of one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

from pulse.enrich.useragent import UserAgentParser

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "bots"


def _agents() -> list[str]:
    agents: list[str] = []
    for name in ("browsers", "crawlers"):
        data = yaml.safe_load((FIXTURES / f"isbot-{name}.yml").read_text("utf-8"))
        agents += [ua for uas in data.values() for ua in uas if isinstance(ua, str) and ua.strip()]
    return list(dict.fromkeys(agents))


def main(argv: list[str] | None = None) -> int:
    """Print build time, µs per distinct agent and µs per cached event."""
    args_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args_parser.add_argument("--repeat", type=int, default=3)
    args = args_parser.parse_args(argv)
    agents = _agents()
    started = time.perf_counter()
    UserAgentParser(cache_size=0).parse(agents[0])
    build_s = time.perf_counter() - started
    best_distinct = best_cached = float("inf")
    for _ in range(args.repeat):
        parser = UserAgentParser(cache_size=0)
        started = time.perf_counter()
        for ua in agents:
            parser.parse(ua)
        best_distinct = min(best_distinct, (time.perf_counter() - started) / len(agents) * 1e6)
        cached = UserAgentParser()
        for ua in agents:
            cached.parse(ua)
        events = agents * 20
        started = time.perf_counter()
        for ua in events:
            cached.parse(ua)
        best_cached = min(best_cached, (time.perf_counter() - started) / len(events) * 1e6)
    print(f"{len(agents)} distinct agents; first parser built and used in {build_s:.2f} s")
    print(f"per distinct agent (cache off): {best_distinct:.1f} us")
    print(f"per event (cache warm):         {best_cached:.2f} us")
    try:
        from pulse.enrich.bots import default_bot_matcher
    except ImportError:  # an older checkout: no separate matcher
        return 0
    matcher = default_bot_matcher()
    best_matcher = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        for ua in agents:
            matcher.match(ua)
        best_matcher = min(best_matcher, (time.perf_counter() - started) / len(agents) * 1e6)
    print(f"of which the bot matcher:       {best_matcher:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
