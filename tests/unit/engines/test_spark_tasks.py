"""What Spark executors receive: the privacy setting travels with the rest of the engine's configuration."""

from __future__ import annotations

import dataclasses

import pytest

from pulse.engines.spark_tasks import ExecutorConfig, enrichers_for
from pulse.pipeline import PipelineConfig


def _config(**changes: object) -> ExecutorConfig:
    pipeline = PipelineConfig(hash_key=b"k" * 24, geoip_database=None, storefronts_file=None, max_event_bytes=1_000_000)
    return ExecutorConfig(
        query_id="q", loader_url="postgresql://x@127.0.0.1:1/x", consumer_group="g", retry_max_backoff_s=1.0,
        pipeline=dataclasses.replace(pipeline, **changes),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("redact", [True, False])
def test_executors_build_their_enrichers_with_the_privacy_setting(redact: bool) -> None:
    enrichers = enrichers_for(_config(privacy_redact=redact))
    assert enrichers.privacy_redact is redact
    assert enrichers.hash_key == b"k" * 24


def test_redaction_is_on_unless_switched_off() -> None:
    assert _config().pipeline.privacy_redact is True
