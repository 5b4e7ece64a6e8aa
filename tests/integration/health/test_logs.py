"""A real engine run with `--log-format json`: its lines carry the fields the Elastic configs rely on."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from pulse.settings import Settings
from tests.integration.labelled import build_fixture
from tests.logfields import expand, leaf_paths, read_elastic_fields
from tests.services import pulse_cli

pytestmark = pytest.mark.integration

# Only lines with a real exception carry error.*; the unit tests send one through the same formatter.
EXCEPTION_ONLY = {"error.type", "error.message", "error.stack_trace"}


def test_engine_json_lines_carry_the_fields_filebeat_logstash_and_the_template_use(
    pipeline: Settings, tmp_path: Path
) -> None:
    fixture = build_fixture(date(2026, 3, 29), n_valid=300)
    replay = tmp_path / "replay.jsonl"
    replay.write_bytes(b"\n".join(fixture.lines) + b"\n")
    assert pulse_cli(pipeline, "replay", str(replay)).returncode == 0

    result = pulse_cli(pipeline, "--log-format", "json", "run", "--until-idle", "3")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    docs = [expand(json.loads(line)) for line in lines]  # every line is one JSON object
    fields = read_elastic_fields()

    for doc in docs:
        assert doc["service"]["name"] == "pulse"
        assert fields.every_line <= leaf_paths(doc), doc
        assert {"@timestamp", "log.level", "log.logger", "message", "ecs.version"} <= leaf_paths(doc)
    emitted = set().union(*(leaf_paths(doc) for doc in docs))
    assert fields.expected_from_pulse - EXCEPTION_ONLY - emitted == set(), "fields the configs use but no line has"
    assert emitted - fields.mapped == set(), "fields pulse emits that the index template does not map"

    # Batch lines: ids unique, and their offset ranges cover every replayed message exactly once.
    batches = [d["pulse"] for d in docs if "batch" in d.get("pulse", {})]
    assert len({b["batch"]["id"] for b in batches}) == len(batches) > 0
    assert sum(b["batch"]["messages"] for b in batches) == len(fixture.lines)
    covered = 0
    for b in batches:
        assert b["kafka"]["topic"] == pipeline.topic
        for span in b["kafka"]["offsets"]:
            partition, low, high = map(int, re.fullmatch(r"(\d+):(\d+)-(\d+)", span).groups())  # type: ignore[union-attr]
            assert partition in b["kafka"]["partitions"]
            covered += high - low + 1
    assert covered == len(fixture.lines)
    assert sum(b["batch"]["quarantined"] for b in batches) == sum(fixture.malformed.values())

    # Nothing secret or personal in the whole log.
    text = result.stderr
    assert pipeline.require_hash_key().decode() not in text
    personal = {v for event in fixture.valid for v in (event["email_address"], event["ip"]) if v}
    assert len(personal) > 100
    assert [v for v in personal if v in text] == []
