"""A message the database refuses is isolated, quarantined with PostgreSQL's reason, and loads nothing twice:
every other message of its batch loads (real Kafka, real PostgreSQL, the real engine)."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from pulse.engines.native import NativeEngine
from pulse.enrich.useragent import UserAgentInfo, UserAgentParser
from pulse.model.star import Enrichers
from pulse.settings import Settings
from tests.services import pulse_cli, scalar

pytestmark = pytest.mark.integration

POISON_MARK = "poison-agent"
# Random base64 compresses poorly, so PostgreSQL cannot squeeze it under the btree limit (2704 bytes).
HUGE_BROWSER = secrets.token_urlsafe(6000)


class _PoisonOnMark:
    """The real user-agent parser, except that a marked agent yields a browser name too large for the
    UNIQUE index of dim_browser: a value only the database refuses (SQLSTATE 54000)."""

    def __init__(self) -> None:
        self._real = UserAgentParser()

    def parse(self, user_agent: str | None) -> UserAgentInfo:
        if user_agent and POISON_MARK in user_agent:
            return UserAgentInfo(browser=HUGE_BROWSER + user_agent, browser_major=None, os="Other",
                                 device_type="other", is_bot=False)
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
        assert "54000" in detail and "index row size" in detail, detail
    assert state == (len(good_ids), len(poison_at), 0)
    assert rollup == (len(good_ids),), "the rollups count the loaded events once"
    total = scalar(pipeline.database_url, "SELECT sum(next_offset) FROM kafka_offsets")
    assert total == len(events), "the offsets move past the refused messages: nothing blocks behind them"
    # A restarted engine finds nothing left to read.
    assert NativeEngine(pipeline).run(until_idle=2).messages == 0
