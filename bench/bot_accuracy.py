"""Recall and false-positive rate of pulse's bot rule on public labelled user agents, with the data versions.

Usage: .venv/bin/python bench/bot_accuracy.py [--json] [--misses N] [--without SOURCE]. No services needed.
`--without matomo` gives the honest recall on device-detector's fixtures, `--without crawler-user-agents`
on the crawler-user-agents examples (each corpus measured by the rule with its own list left out).

Bot corpora (recall):
- crawler-user-agents `instances` (the installed package): CIRCULAR, the matcher is built from the same
  list's patterns; it shows the patterns compile and run as their authors meant, not how well pulse generalises.
- isbot `fixtures/crawlers.yml` (pinned copy in tests/fixtures/bots/, Unlicense): the honest figure, a list
  nobody here wrote and neither source is built from.
- device-detector's bot fixtures (the `device-detector` package, `pip install device-detector==6.5.1`,
  in the `bench` extra): half-circular, they test Matomo's own bots.yml.
Browser corpora (false positives):
- isbot `fixtures/browsers.yml` (pinned copy, as above);
- device-detector's device fixtures (desktop, smartphone, tablet, TV, console, wearable, ... : real
  browsers and in-app browsers; not its bot, library, feed-reader or media-app files).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from crawleruseragents import CRAWLER_USER_AGENTS_DATA  # type: ignore[import-untyped]

from pulse.enrich.bots import CRAWLER_USER_AGENTS, MATOMO, PULSE, BotMatcher, data_versions, load_bot_patterns
from pulse.enrich.useragent import UserAgentParser

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "bots"
# device-detector fixture files of real people's devices (file name prefixes).
DEVICE_FIXTURES = (
    "desktop", "smartphone", "tablet", "phablet", "feature_phone", "tv", "console", "wearable", "car_browser",
    "camera", "portable_media_player", "smart_display", "smart_speaker", "peripheral",
)  # fmt: skip
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def isbot_fixture(name: str) -> list[str]:
    """User agents of a pinned isbot fixture (`crawlers` or `browsers`): a mapping of name -> list."""
    data = yaml.load((FIXTURES / f"isbot-{name}.yml").read_text("utf-8"), Loader=_LOADER)
    return [ua for uas in data.values() for ua in uas if isinstance(ua, str) and ua.strip()]


def crawler_instances() -> list[str]:
    """The `instances` examples of every crawler-user-agents entry."""
    return [ua for entry in CRAWLER_USER_AGENTS_DATA for ua in entry["instances"]]


def _device_detector_dir() -> Path | None:
    try:
        dist = metadata.distribution("device-detector")
    except metadata.PackageNotFoundError:
        return None
    return Path(str(dist.locate_file("device_detector/tests/fixtures/upstream")))


def device_detector_fixtures(bots: bool) -> list[str] | None:
    """device-detector's bot fixtures (`bots`) or its real-device fixtures; None when it is not installed."""
    folder = _device_detector_dir()
    if folder is None:
        return None
    files = [folder / "bots.yml"] if bots else [
        path for path in sorted(folder.glob("*.yml")) if path.stem.split("-")[0] in DEVICE_FIXTURES
    ]
    uas: list[str] = []
    for path in files:
        for case in yaml.load(path.read_text("utf-8"), Loader=_LOADER) or []:
            ua = case.get("user_agent")
            if isinstance(ua, str) and ua.strip() and (bots or "bot" not in case):
                uas.append(ua)
    return uas


def _rate(parser: UserAgentParser, uas: Iterable[str]) -> tuple[int, int, list[str], Counter[str]]:
    flagged, total, unflagged, reasons = 0, 0, [], Counter[str]()
    for ua in dict.fromkeys(uas):  # distinct, in order
        info = parser.parse(ua)
        total += 1
        if info.is_bot:
            flagged += 1
            reasons[(info.bot_reason or "").split(":")[0]] += 1
        else:
            unflagged.append(ua)
    return flagged, total, unflagged, reasons


def main(argv: list[str] | None = None) -> int:
    """Print recall on the bot corpora and false-positive rate on the browser corpora."""
    args_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args_parser.add_argument("--json", action="store_true", help="print one JSON object")
    args_parser.add_argument("--misses", type=int, default=0, help="print up to N misses / false positives")
    args_parser.add_argument(
        "--without", choices=(CRAWLER_USER_AGENTS, MATOMO, PULSE), action="append", default=[],
        help="leave a source out (the honest recall on a corpus made for that source)",
    )
    args = args_parser.parse_args(argv)
    started = time.perf_counter()
    kept = [pattern for pattern in load_bot_patterns() if pattern.source not in args.without]
    parser = UserAgentParser(cache_size=0, bots=BotMatcher(kept))
    build_s = time.perf_counter() - started
    dd_bots, dd_devices = device_detector_fixtures(bots=True), device_detector_fixtures(bots=False)
    bot_sets = {
        "crawler-user-agents instances (circular)": crawler_instances(),
        "isbot crawlers.yml": isbot_fixture("crawlers"),
    }
    browser_sets = {"isbot browsers.yml": isbot_fixture("browsers")}
    if dd_bots is not None and dd_devices is not None:
        bot_sets["device-detector bots.yml fixtures"] = dd_bots
        browser_sets["device-detector device fixtures"] = dd_devices
    versions = data_versions() | {"isbot fixtures": "5.2.1 (344052d)"}
    if dd_devices is not None:
        versions["device-detector fixtures"] = metadata.version("device-detector")
    report: dict[str, Any] = {
        "versions": versions, "without": args.without, "build_s": round(build_s, 3), "recall": {},
        "false_positives": {},
    }
    for name, uas in bot_sets.items():
        flagged, total, misses, reasons = _rate(parser, uas)
        report["recall"][name] = {"flagged": flagged, "total": total, "recall": round(flagged / total, 4),
                                  "by_source": dict(reasons), "misses": misses[: args.misses]}
    for name, uas in browser_sets.items():
        flagged, total, _, reasons = _rate(parser, uas)
        false_positives = [(ua, parser.parse(ua).bot_reason) for ua in dict.fromkeys(uas) if parser.parse(ua).is_bot]
        report["false_positives"][name] = {
            "flagged": flagged, "total": total, "rate": round(flagged / total, 5), "by_source": dict(reasons),
            "examples": false_positives[: args.misses],
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("data: " + ", ".join(f"{key} {value}" for key, value in versions.items()))
    if args.without:
        print("left out: " + ", ".join(args.without))
    for name, row in report["recall"].items():
        print(f"recall  {row['recall']:.4f}  {row['flagged']}/{row['total']}  {name}  {row['by_source']}")
        for ua in row["misses"]:
            print(f"    miss: {ua}")
    for name, row in report["false_positives"].items():
        print(f"FP rate {row['rate']:.5f}  {row['flagged']}/{row['total']}  {name}  {row['by_source']}")
        for ua, reason in row["examples"]:
            print(f"    FP: {reason}  {ua}")
    if dd_devices is None:
        print("device-detector not installed (pip install device-detector==6.5.1): its fixtures were skipped",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
