"""`pulse quarantine replay`: messages quarantined under an older rule (PULSE_MAX_EVENT_AGE_DAYS tightened,
then relaxed) load exactly once, in the KPIs of their own day; the still-invalid stay with their reason; a
second replay changes nothing; kill -9 mid-replay and a re-run give exact counts (real PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import psycopg
import pytest

from pulse.events.model import SourceRef
from pulse.pipeline import Enrichers, transform_batch
from pulse.settings import Settings
from pulse.warehouse.loader import WarehouseLoader
from tests.services import env_for, pulse_cli

pytestmark = pytest.mark.integration

DAY = "2024-05-28"
_DAY_START = int(datetime(2024, 5, 28, tzinfo=UTC).timestamp())
PRODUCTS = ["96672", "110474", "90476", "88123"]
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
          " Version/17.4 Mobile/15E148 Safari/604.1")


def _view(i: int) -> bytes:
    """A product view of DAY (valid under any age bound that reaches back to it)."""
    return json.dumps({
        "id": f"replay-{i:05d}", "time_stamp": _DAY_START + 3600 + i * 7, "ip": "203.0.113.17",
        "user_agent": SAFARI, "store_id": "85", "collection": "view_product_detail",
        "current_url": f"https://www.glamira.cl/anillo-{i}.html", "product_id": PRODUCTS[i % len(PRODUCTS)],
    }).encode()


def _quarantine_under_a_tight_rule(settings: Settings, raws: list[bytes]) -> None:
    """Transform with PULSE_MAX_EVENT_AGE_DAYS=1 (every view of DAY is too old) and commit with the real
    loader: the engines' own path into the quarantine."""
    tight = Enrichers.create(hash_key=settings.require_hash_key(), max_event_age_days=1)
    messages = [(raw, SourceRef(settings.topic, i % 4, i)) for i, raw in enumerate(raws)]
    batch = transform_batch(messages, tight, now=time.time())
    assert not batch.facts and len(batch.rejections) == len(raws)
    loader = WarehouseLoader(settings.loader_url, settings.consumer_group)
    try:
        loader.commit_batch(batch, {})
    finally:
        loader.close()


def _replay(settings: Settings, *args: str) -> dict[str, object]:
    done = pulse_cli(settings, "quarantine", "replay", "--format", "json", *args, timeout=600)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _one(settings: Settings, query: str) -> object:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


def _top_products(settings: Settings) -> dict[str, int]:
    done = pulse_cli(settings, "kpi", "top-products", "--date", DAY, "--tz", "UTC", "--include-bots", "--format",
                     "json")
    assert done.returncode == 0, done.stderr
    return {row["product_id"]: row["views"] for row in json.loads(done.stdout)["rows"]}


def test_a_message_quarantined_under_an_old_rule_loads_once_in_its_day(pipeline: Settings) -> None:
    views = [_view(i) for i in range(10)]
    _quarantine_under_a_tight_rule(pipeline, [*views, b"{not json"])
    assert _one(pipeline, "SELECT count(*) FROM quarantine") == 11

    dry = _replay(pipeline, "--dry-run")
    assert (dry["considered"], dry["valid"], dry["loaded"], dry["still_rejected"]) == (11, 10, 0, 1)
    assert _one(pipeline, "SELECT count(*) FROM fact_event") == 0, "a dry run wrote facts"
    assert _one(pipeline, "SELECT count(*) FROM quarantine WHERE replayed_at IS NOT NULL") == 0

    first = _replay(pipeline)
    assert (first["considered"], first["loaded"], first["still_rejected"]) == (11, 10, 1)
    assert first["still_rejected_by_reason"] == {"invalid_json": 1}
    assert _one(pipeline, "SELECT count(*) FROM fact_event") == 10
    expected = Counter(json.loads(raw)["product_id"] for raw in views)  # computed from the messages
    assert _top_products(pipeline) == dict(expected)
    assert _one(pipeline, "SELECT reason FROM quarantine WHERE replay_outcome = 'rejected'") == "invalid_json"

    second = _replay(pipeline)
    assert (second["considered"], second["loaded"], second["still_rejected"]) == (1, 0, 1)
    assert _one(pipeline, "SELECT count(*) FROM fact_event") == 10
    assert _top_products(pipeline) == dict(expected)
    stats = json.loads(pulse_cli(pipeline, "stats", "--format", "json").stdout)
    assert stats["replayed"] == {"loaded": 10, "rejected": 1}
    assert stats["events_loaded"] == 10


def test_only_the_reason_asked_for_is_replayed(pipeline: Settings) -> None:
    _quarantine_under_a_tight_rule(pipeline, [_view(0), b"{not json"])
    done = _replay(pipeline, "--reason", "invalid_json")
    assert (done["considered"], done["loaded"]) == (1, 0)
    assert _one(pipeline, "SELECT count(*) FROM fact_event") == 0


@pytest.mark.reliability
def test_kill_9_during_replay_then_a_rerun_gives_exact_counts(pipeline: Settings) -> None:
    count = 600
    views = [_view(i) for i in range(count)]
    _quarantine_under_a_tight_rule(pipeline, views)
    child = subprocess.Popen([sys.executable, "-m", "pulse.cli", "quarantine", "replay", "--batch-size", "1",
                              "--format", "json"], env=env_for(pipeline), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    marked = 0
    while child.poll() is None and marked < 50:
        marked = int(_one(pipeline, "SELECT count(*) FROM quarantine WHERE replay_outcome = 'loaded'"))  # type: ignore[arg-type]
    child.kill()
    child.wait()
    marked = int(_one(pipeline, "SELECT count(*) FROM quarantine WHERE replay_outcome = 'loaded'"))  # type: ignore[arg-type]
    assert 0 < marked < count, f"the replay was not killed mid-way ({marked} of {count} loaded)"
    # What was marked is exactly what loaded: the marks and the facts commit together.
    assert _one(pipeline, "SELECT count(*) FROM fact_event") == marked

    rerun = _replay(pipeline)
    assert (rerun["considered"], rerun["loaded"]) == (count - marked, count - marked)
    assert _one(pipeline, "SELECT count(*) FROM fact_event") == count
    assert _one(pipeline, "SELECT count(DISTINCT event_id) FROM fact_event") == count
    assert _top_products(pipeline) == dict(Counter(json.loads(raw)["product_id"] for raw in views))
    assert _replay(pipeline)["considered"] == 0
