"""The pipeline: a batch of raw messages -> decoded, validated, enriched and modelled rows, or rejections."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.engines.native import NativeEngine
from pulse.engines.spark_tasks import ExecutorConfig, enrichers_for
from pulse.events.model import RejectReason
from pulse.pipeline import Enrichers, PipelineConfig, transform_batch
from pulse.settings import load_settings
from tests.unit.batches import FIXTURE_AGE_DAYS, KEY, NOW, SAMPLES, open_enrichers
from tests.unit.batches import messages as _messages
from tests.unit.batches import row as _row
from tests.unit.batches import view as _view


@pytest.fixture(scope="module")
def enrichers(tmp_path_factory: pytest.TempPathFactory) -> Enrichers:
    return open_enrichers(tmp_path_factory.mktemp("geo"))


def test_duplicates_in_a_batch_keep_the_first_and_rejections_carry_coordinates(enrichers: Enrichers) -> None:
    lines = [SAMPLES[0], SAMPLES[0], b"{not json", SAMPLES[2]]
    batch = transform_batch(_messages(lines), enrichers, now=NOW)
    assert len(batch.facts) == 2
    assert batch.duplicates_in_batch == 1
    assert [(r.reason, r.source.offset if r.source else None) for r in batch.rejections] == [
        (RejectReason.INVALID_JSON, 2)
    ]


def _deep_event(event_id: str, levels: int, collection: str) -> bytes:
    nested = b"[" * levels + b"]" * levels
    return b'{"id": "%s", "collection": "%s", "time_stamp": 1716883882, "payload": %s}' % (
        event_id.encode(), collection.encode(), nested)


def test_unstorably_deep_unmodelled_fields_are_too_deep_and_do_not_hide_a_valid_copy(enrichers: Enrichers) -> None:
    # 300 levels parse (orjson reads up to 1024) but pass pulse's nesting limit (64; orjson cannot write
    # back more than 254): reject as too_deep, and the valid copy of the same id later in the batch must
    # still load (it was once counted as a duplicate of the rejected one and lost). 63 arrays inside the
    # event object are exactly 64 levels: stored.
    lines = [_deep_event("dup-1", 300, "first"), _deep_event("dup-1", 3, "second"), _deep_event("ok", 63, "deep")]
    batch = transform_batch(_messages(lines), enrichers, now=NOW)
    assert [(r.reason, r.stage, r.source.offset if r.source else None) for r in batch.rejections] == [
        (RejectReason.TOO_DEEP, "decode", 0)
    ]
    assert [(_row(r)["event_id"], _row(r)["collection"]) for r in batch.facts] == [("dup-1", "second"), ("ok", "deep")]
    assert batch.duplicates_in_batch == 0


def test_a_too_deep_copy_after_a_valid_one_is_quarantined_like_in_another_batch(enrichers: Enrichers) -> None:
    lines = [_deep_event("dup-2", 3, "first"), _deep_event("dup-2", 300, "second"), _deep_event("dup-2", 3, "third")]
    batch = transform_batch(_messages(lines), enrichers, now=NOW)
    assert [(r.reason, r.source.offset if r.source else None) for r in batch.rejections] == [(RejectReason.TOO_DEEP, 1)]
    assert [_row(r)["collection"] for r in batch.facts] == ["first"]
    assert batch.duplicates_in_batch == 1


def test_the_event_time_bounds_travel_with_the_enrichers() -> None:
    strict = Enrichers.create(hash_key=KEY, max_event_age_days=1, max_future_skew_s=60)
    now = 1716883882 + 3600.0
    lines = [_view(), _view(id="old", time_stamp=1716883882 - 86_400 * 2), _view(id="ahead", time_stamp=now + 120)]
    batch = transform_batch(_messages(lines), strict, now=now)
    assert [_row(row)["event_id"] for row in batch.facts] == ["v-1"]
    assert [r.reason for r in batch.rejections] == [RejectReason.EVENT_TIME_OUT_OF_BOUNDS] * 2


def test_the_engines_build_their_enrichers_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, hash_key="unit-test-hash-key-0123456789",
                             max_event_age_days=36_500, max_future_skew_s=600)
    native = NativeEngine(settings).enrichers
    assert (native.max_event_age_days, native.max_future_skew_s) == (36_500, 600)
    pipeline = PipelineConfig(hash_key=b"k" * 16, geoip_database=None, storefronts_file=None, max_event_bytes=2048,
                              max_event_age_days=36_500, max_future_skew_s=600)
    config = ExecutorConfig(query_id="q", loader_url="postgresql://x", consumer_group="g", retry_max_backoff_s=1.0,
                            pipeline=pipeline)
    executor = enrichers_for(config)
    assert (executor.max_event_bytes, executor.max_event_age_days, executor.max_future_skew_s) == (2048, 36_500, 600)


def test_one_batch_holds_events_of_a_bounded_number_of_days() -> None:
    capped = Enrichers.create(hash_key=KEY, max_event_age_days=FIXTURE_AGE_DAYS, max_days_per_batch=3)
    base = 1716883882
    # five days, in this order: day 0, 1, 0 again, 2, 3 (the fourth distinct day), 1 again, 4
    offsets = [0, 1, 0, 2, 3, 1, 4]
    lines = [_view(id=f"d-{i}", time_stamp=base + d * 86_400) for i, d in enumerate(offsets)]
    batch = transform_batch(_messages(lines), capped, now=base + 5 * 86_400)
    assert [_row(row)["event_id"] for row in batch.facts] == ["d-0", "d-1", "d-2", "d-3", "d-5"]
    assert [r.reason for r in batch.rejections] == [RejectReason.EVENT_TIME_OUT_OF_BOUNDS] * 2
    assert all("PULSE_MAX_DAYS_PER_BATCH" in r.detail for r in batch.rejections)


def test_the_pipeline_config_carries_every_setting_the_pipeline_reads(tmp_path: Path) -> None:
    geo, storefronts = tmp_path / "city.mmdb", tmp_path / "storefronts.csv"
    settings = load_settings(
        home=tmp_path, hash_key="unit-test-hash-key-0123456789", geoip_database=str(geo),
        storefronts_file=str(storefronts), max_event_bytes=4096, max_event_age_days=12, max_future_skew_s=90,
        privacy_redact=False, max_days_per_batch=5,
    )
    assert PipelineConfig.from_settings(settings) == PipelineConfig(
        hash_key=b"unit-test-hash-key-0123456789", geoip_database=geo, storefronts_file=storefronts,
        max_event_bytes=4096, max_event_age_days=12, max_future_skew_s=90, privacy_redact=False, max_days_per_batch=5,
    )
