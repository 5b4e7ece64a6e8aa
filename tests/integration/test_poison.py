"""A message the database refuses is isolated, quarantined with PostgreSQL's reason, and loads nothing twice:
every other message of its batch loads (real Kafka, real PostgreSQL, the real engine)."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from pulse.engines.native import NativeEngine
from pulse.enrich.useragent import UserAgentInfo, UserAgentParser
from pulse.pipeline import Enrichers
from pulse.settings import Settings
from tests.services import pulse_cli, scalar

pytestmark = pytest.mark.integration

POISON_MARK = "poison-agent"


class _PoisonOnMark:
    """The real user-agent parser, except that a marked agent yields no bot flag: a row only the database
    refuses (fact_event.is_bot NOT NULL, SQLSTATE 23502), after every bound the transform applies. (The
    incident's own refusal, a value too large for an index, cannot reach the database any more: the
    transform bounds every key, see test_the_audit_reproduction below.)"""

    def __init__(self) -> None:
        self._real = UserAgentParser()

    def parse(self, user_agent: str | None) -> UserAgentInfo:
        if user_agent and POISON_MARK in user_agent:
            return UserAgentInfo(browser="Poisoned", browser_major=None, os="Other", device_type="other",
                                 is_bot=None)  # type: ignore[arg-type]
        return self._real.parse(user_agent)


def _events(n: int, poison_at: set[int]) -> list[dict[str, object]]:
    now = int(time.time())
    return [
        {
            "id": str(uuid.UUID(int=i + 1)), "collection": "view_product_detail", "time_stamp": now - i,
            "product_id": str(1000 + i % 17), "store_id": "6", "ip": "203.0.113.9",
            "current_url": f"https://www.glamira.de/glamira-ring-{i % 17}.html",
            "user_agent": f"{POISON_MARK}-{i}" if i in poison_at else
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
        }
        for i in range(n)
    ]


def _replay(settings: Settings, events: list[dict[str, object]], tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    result = pulse_cli(settings, "replay", str(path))
    assert result.returncode == 0, result.stderr


def test_refused_messages_are_isolated_and_every_other_message_loads(pipeline: Settings, tmp_path: Path) -> None:
    poison_at = {3, 150, 151, 399}  # alone, side by side, last: in one batch and across partitions
    events = _events(400, poison_at)
    _replay(pipeline, events, tmp_path)
    real = Enrichers.create(hash_key=pipeline.require_hash_key())
    enrichers = dataclasses.replace(real, user_agents=_PoisonOnMark())  # type: ignore[arg-type]
    stats = NativeEngine(pipeline.model_copy(update={"batch_max_events": 5000}), enrichers=enrichers).run(
        until_idle=3
    )
    assert stats.messages == len(events)

    poisoned_ids = {events[i]["id"] for i in poison_at}
    good_ids = {e["id"] for e in events} - poisoned_ids
    with psycopg.connect(pipeline.database_url) as conn:
        loaded = {r[0] for r in conn.execute("SELECT event_id FROM fact_event").fetchall()}
        rows = conn.execute("SELECT reason, stage, detail, raw FROM quarantine").fetchall()
        state = conn.execute("SELECT events_loaded, quarantined, duplicates_skipped FROM load_state").fetchone()
        rollup = conn.execute("SELECT sum(events) FROM rollup_browser_os").fetchone()
    assert loaded == good_ids, "every message the database accepts loads, the refused ones do not"
    assert scalar(pipeline.database_url, "SELECT count(*) FROM fact_event") == len(good_ids), "each exactly once"
    assert {json.loads(bytes(r[3]))["id"] for r in rows} == poisoned_ids, "the refused messages, whole"
    for reason, stage, detail, _raw in rows:
        assert (reason, stage) == ("load_failed", "load")
        assert "23502" in detail and "is_bot" in detail, detail
    assert state == (len(good_ids), len(poison_at), 0)
    assert rollup == (len(good_ids),), "the rollups count the loaded events once"
    total = scalar(pipeline.database_url, "SELECT sum(next_offset) FROM kafka_offsets")
    assert total == len(events), "the offsets move past the refused messages: nothing blocks behind them"
    # A restarted engine finds nothing left to read.
    assert NativeEngine(pipeline).run(until_idle=2).messages == 0


def test_the_audit_reproduction_one_post_with_a_7900_character_referrer_loads_whole(pipeline: Settings) -> None:
    """The finding as found: one unauthenticated 8.5 KB POST to the collector whose referrer_url is 7,900
    characters (accepted, 202) stopped loading for good. Now that event and the good events of the same
    request load, and the engine goes on."""
    from tests.integration.test_collector import STOREFRONT, collector

    now = int(time.time())
    referrer = "https://www.google.com/search?q=" + "ring" * 1967  # 7,900 characters
    events = [
        {"id": f"audit-{i}", "collection": "view_product_detail", "time_stamp": now, "product_id": "96672",
         "current_url": "https://www.glamira.de/glamira-ring-96672.html",
         **({"referrer_url": referrer} if i == 1 else {})}
        for i in range(3)
    ]
    body = json.dumps(events).encode()
    assert 8_000 < len(body) < 9_000 and len(referrer) == 7_900
    with collector(pipeline) as client:
        answer = client.post("/collect", content=body, headers={"Content-Type": "application/json",
                                                                 "Origin": STOREFRONT})
    assert answer.status_code == 202, answer.text
    stats = NativeEngine(pipeline).run(until_idle=3)
    assert (stats.messages, stats.loaded, stats.quarantined) == (3, 3, 0)
    with psycopg.connect(pipeline.database_url) as conn:
        loaded = {r[0] for r in conn.execute("SELECT event_id FROM fact_event").fetchall()}
        stored = conn.execute("SELECT referrer_url FROM dim_referrer WHERE length(referrer_url) > 7000").fetchall()
        key = conn.execute("SELECT max(octet_length(referrer_url)) FROM rollup_referrer_day").fetchone()
    assert loaded == {"audit-0", "audit-1", "audit-2"}
    assert stored == [(referrer,)], "the dimension keeps the whole URL"
    assert key is not None and key[0] <= 600, "the rollup key is bounded (prefix and digest)"
