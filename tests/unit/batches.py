"""Shared inputs of the pipeline and model tests: the golden samples, one clock, raw messages, staged rows."""

from __future__ import annotations

import json
from pathlib import Path

from pulse.events.model import SourceRef
from pulse.model.star import STAGE_COLUMNS
from pulse.pipeline import Enrichers
from pulse.testing.geo import build_test_mmdb

SAMPLES = (Path(__file__).parents[1] / "cases" / "valid" / "samples.jsonl").read_bytes().splitlines()
NOW = 1_800_000_000.0
# The samples are of 2024-05-28, about 960 days before NOW: these tests accept events that old explicitly.
FIXTURE_AGE_DAYS = 3650
KEY = b"unit-test-key-0123456789"


def open_enrichers(directory: Path) -> Enrichers:
    """Enrichers with a tiny geo database that places 203.0.113.0/24 in Santiago, Chile."""
    db = build_test_mmdb(
        directory / "city.mmdb",
        {"203.0.113.0/24": {"country_code": "CL", "country_name": "Chile", "region": "Santiago Metropolitan",
                            "city": "Santiago"}},
    )
    return Enrichers.create(hash_key=KEY, geoip_database=db, max_event_age_days=FIXTURE_AGE_DAYS)


def messages(lines: list[bytes]) -> list[tuple[bytes, SourceRef | None]]:
    """Raw messages at offsets 0, 1, ... of partition 0."""
    return [(line, SourceRef("product_views", 0, i)) for i, line in enumerate(lines)]


def row(batch_row: tuple[object, ...]) -> dict[str, object]:
    """A staged fact row by column name."""
    return dict(zip(STAGE_COLUMNS, batch_row, strict=True))


def view(**fields: object) -> bytes:
    """A product view of 2024-05-28 with `fields` added or replaced."""
    doc = {"id": "v-1", "collection": "view_product_detail", "time_stamp": 1716883882, "product_id": "96672",
           "current_url": "https://www.glamira.de/ring.html", **fields}
    return json.dumps(doc).encode()
