"""A hand-counted traffic fixture for pulse maintain and pulse dq: every expected number is written here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pulse.engines.native import NativeEngine
from pulse.settings import Settings
from tests.services import pulse_cli

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")

# Hand counts (see build_lines): what a correct warehouse holds after loading the lines.
RECENT_GOOD = 40  # www.glamira.de, Chrome: known country and browser
RECENT_NOISE_HOST = 6  # dev1.glamira.de: a non-production host, no country
RECENT_NO_URL = 3  # no current_url: no country
RECENT_NO_AGENT = 4  # www.glamira.co.uk without a user agent: browser "Other"
RECENT = RECENT_GOOD + RECENT_NOISE_HOST + RECENT_NO_URL + RECENT_NO_AGENT  # 53, all within the last 30 minutes
UNKNOWN_COUNTRY = RECENT_NOISE_HOST + RECENT_NO_URL  # 9
UNKNOWN_BROWSER = RECENT_NO_AGENT  # 4
DUPLICATES = 5  # five good lines sent twice
MALFORMED = 3  # quarantined (invalid JSON)
OLD = 5  # identical except id, 500 days ago, one 15-minute bucket, one product, one referrer
OLD_DAYS_AGO = 500
KEPT = 3  # 10 days ago: inside any retention used here
KEPT_DAYS_AGO = 10


@dataclass
class Loaded:
    """What was loaded and when."""

    now: datetime
    lines: list[bytes] = field(default_factory=list)

    @property
    def old_day(self) -> date:
        return (self.now - timedelta(days=OLD_DAYS_AGO)).date()

    @property
    def kept_day(self) -> date:
        return (self.now - timedelta(days=KEPT_DAYS_AGO)).date()


def _event(n: int, ts: float, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": f"00000000-0000-4000-8000-{n:012d}", "time_stamp": int(ts), "collection": "view_product_detail",
        "product_id": "96672", "store_id": "6", "user_agent": CHROME, "ip": "81.2.69.160",
        "current_url": "https://www.glamira.de/glamira-ring-96672.html", "referrer_url": "https://www.google.com/",
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


def build_lines(now: datetime) -> list[bytes]:
    """The fixture's lines: recent events (good, noise host, no URL, no user agent), duplicates,
    malformed lines, five events 500 days ago and three 10 days ago."""
    recent = now.timestamp() - 30 * 60  # spread over the last 30 minutes
    events: list[dict[str, Any]] = []
    n = 0
    for kind, count in (("good", RECENT_GOOD), ("noise", RECENT_NOISE_HOST), ("no_url", RECENT_NO_URL),
                        ("no_agent", RECENT_NO_AGENT)):
        for _ in range(count):
            n += 1
            extra: dict[str, Any] = {}
            if kind == "noise":
                extra["current_url"] = "https://dev1.glamira.de/glamira-ring-96672.html"
            elif kind == "no_url":
                extra["current_url"] = None
            elif kind == "no_agent":
                extra.update(user_agent=None, current_url="https://www.glamira.co.uk/glamira-ring-96672.html",
                             store_id="7")
            events.append(_event(n, recent + n * 20, **extra))
    lines = [json.dumps(e).encode() for e in events]
    lines += lines[:DUPLICATES]
    lines += [b'{"collection": "view_product_detail", "time_stamp": 17'] * MALFORMED
    old_bucket = (now - timedelta(days=OLD_DAYS_AGO)).replace(hour=10, minute=1, second=0, microsecond=0)
    for i in range(OLD):
        lines.append(json.dumps(_event(1000 + i, old_bucket.timestamp() + i * 60)).encode())
    kept = (now - timedelta(days=KEPT_DAYS_AGO)).replace(hour=12, minute=0, second=0, microsecond=0)
    for i in range(KEPT):
        lines.append(json.dumps(_event(2000 + i, kept.timestamp() + i)).encode())
    return lines


def replay_and_load(settings: Settings, lines: list[bytes], path: Path) -> None:
    """Send the lines to the topic with `pulse replay` and run the engine until it is idle."""
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = pulse_cli(settings, "replay", str(path))
    assert result.returncode == 0, result.stderr
    NativeEngine(settings).run(until_idle=3.0)


def load_fixture(settings: Settings, tmp_path: Path) -> Loaded:
    """Load the fixture into the test's warehouse."""
    now = datetime.now(UTC)
    loaded = Loaded(now=now, lines=build_lines(now))
    replay_and_load(settings, loaded.lines, tmp_path / "fixture.jsonl")
    return loaded
