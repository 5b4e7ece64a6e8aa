"""The model's caches stay within their bounds and are never shared by environments that model differently."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

from pulse.model.cache import BoundedCache, ModelCaches
from pulse.pipeline import Enrichers, transform_batch
from tests.unit.batches import NOW, messages, open_enrichers, row, view


def test_a_full_cache_starts_over_and_a_long_key_is_never_kept() -> None:
    cache: BoundedCache[str, int] = BoundedCache(max_entries=3, max_key_chars=5)
    for number, key in enumerate(["a", "b", "c", "d"]):
        assert cache.put(key, len(key), number) == number
    assert cache.entries == {"d": 3}  # cleared when the fourth came
    assert cache.put("longer", 6, 9) == 9 and "longer" not in cache.entries


def test_every_cache_of_a_long_run_stays_within_its_bounds(tmp_path: Path) -> None:
    enrichers = open_enrichers(tmp_path)
    caches = enrichers.caches
    for name in caches.__slots__:
        getattr(caches, name).max_entries = 4
    lines = [view(id=f"v-{n}", ip=f"203.0.113.{n % 250}", user_agent=f"agent {n}", product_id=str(n), store_id=str(n),
                  current_url=f"https://www.glamira.de/ring-{n}.html", referrer_url=f"https://r{n}.example/")
             for n in range(40)]
    transform_batch(messages(lines), enrichers, now=NOW)
    assert all(0 < size <= 4 for size in caches.sizes().values()), caches.sizes()


def test_a_copy_with_other_settings_gets_its_own_caches(tmp_path: Path) -> None:
    enrichers = open_enrichers(tmp_path)
    line = view(referrer_url="https://jo@example.com/x?ip=203.0.113.9")
    redacted = row(transform_batch(messages([line]), enrichers, now=NOW).facts[0])["referrer_url"]
    as_sent: Enrichers = dataclasses.replace(enrichers, privacy_redact=False)
    assert as_sent.caches is not enrichers.caches
    kept = row(transform_batch(messages([line]), as_sent, now=NOW).facts[0])["referrer_url"]
    assert kept == "https://jo@example.com/x?ip=203.0.113.9" and redacted != kept


def test_a_pickled_cache_arrives_empty() -> None:
    caches = ModelCaches()
    caches.hours.put(1, 0, ("row",))
    assert pickle.loads(pickle.dumps(caches)).sizes() == dict.fromkeys(caches.__slots__, 0)  # noqa: S301
