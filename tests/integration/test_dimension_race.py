"""Several loaders committing the same NEW dimension rows at the same moment, while the folder folds their
rollup deltas: nothing is refused, every count is exact (the race that quarantined whole valid batches: a
unique violation on a constraint ON CONFLICT did not name)."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest

from pulse.engines.folder_process import FolderProcess, folder_spec
from pulse.events.model import SourceRef
from pulse.pipeline import Enrichers, transform_batch
from pulse.settings import Settings
from pulse.warehouse.loader import BatchResult, WarehouseLoader
from pulse.warehouse.sessions import VisitRules

pytestmark = pytest.mark.integration

LOADERS = 4
ROUNDS = 60
EVENTS_PER_BATCH = 5


def _messages(round_no: int, loader_no: int, now: float) -> list[tuple[bytes, SourceRef | None]]:
    """A batch whose dimensions are new in this round (its own hour, product, store, referrer, agent) and the
    same for every loader; event ids and offsets are the loader's own. The rounds share one or two days, so
    the day partitions exist after the first rounds (creating one serialises its creators on a lock)."""
    at = int(now) - 7_200 - round_no * 3_600 - (int(now) % 3_600)  # the start of an hour of its own
    out: list[tuple[bytes, SourceRef | None]] = []
    for i in range(EVENTS_PER_BATCH):
        doc = {
            "id": f"race-{round_no}-{loader_no}-{i}", "collection": "view_product_detail", "time_stamp": at + i,
            "product_id": f"race-product-{round_no}", "store_id": f"race-store-{round_no}",
            "current_url": f"https://www.glamira.de/race-{round_no}.html", "ip": "203.0.113.7",
            "referrer_url": f"https://www.google.de/search?q=race{round_no}",
            "user_agent": f"Mozilla/5.0 (X11; Linux x86_64) RaceBrowser/{round_no}.0",
        }
        out.append((json.dumps(doc).encode(), SourceRef("race", loader_no, round_no * EVENTS_PER_BATCH + i)))
    return out


def test_concurrent_loaders_never_refuse_a_new_dimension_row(pipeline: Settings) -> None:
    enrichers = Enrichers.create(hash_key=pipeline.require_hash_key())
    loaders = [WarehouseLoader(pipeline.loader_url, f"race-{n}") for n in range(LOADERS)]
    for loader in loaders:
        loader.connection()
    now = time.time()
    failures: list[BaseException] = []
    results: list[BatchResult] = []
    lock = threading.Lock()

    def commit(loader_no: int, round_no: int, barrier: threading.Barrier) -> None:
        messages = _messages(round_no, loader_no, now)
        batch = transform_batch(messages, enrichers, now=now)
        assert not batch.rejections, batch.rejections
        barrier.wait()  # every loader starts its transaction at the same moment
        try:
            result = loaders[loader_no].commit_batch(batch, {("race", loader_no): (round_no + 1) * EVENTS_PER_BATCH})
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            with lock:
                failures.append(exc)
            return
        with lock:
            results.append(result)

    folds: list[int] = []
    spec = folder_spec(pipeline.loader_url, pipeline.loader_url_setting, 60, VisitRules(), 0.02)
    folder = FolderProcess(spec, on_fold=lambda f: folds.append(f.batches))
    folder.start()  # folds between and during the rounds (its last fold after stop() folds the rest)
    try:
        for round_no in range(ROUNDS):
            barrier = threading.Barrier(LOADERS)
            threads = [threading.Thread(target=commit, args=(n, round_no, barrier)) for n in range(LOADERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
    finally:
        for loader in loaders:
            loader.close()
        folder.stop()

    assert not failures, f"{len(failures)} commits refused, first: {failures[0]!r}"
    expected = LOADERS * ROUNDS * EVENTS_PER_BATCH
    assert sum(r.loaded for r in results) == expected
    with psycopg.connect(pipeline.database_url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM fact_event), (SELECT count(*) FROM quarantine),"
            " (SELECT count(*) FROM dim_product WHERE product_id LIKE 'race-product-%%'),"
            " (SELECT count(*) FROM dim_hour), (SELECT count(*) FROM dim_date),"
            " (SELECT sum(events) FROM rollup_product), (SELECT events_loaded FROM load_state)"
        ).fetchone()
    assert counts is not None
    facts, quarantined, products, hours, days, rollup, state = counts
    assert (facts, quarantined, products, hours, rollup, state) == (expected, 0, ROUNDS, ROUNDS, expected, expected)
    assert 1 <= days <= 4
    assert sum(folds) == LOADERS * ROUNDS, "every batch's deltas folded exactly once"
    assert len([n for n in folds if n]) > 1, "the folder folded while the loaders wrote"
