"""The dead letter of a quarantine row: its deterministic key and its headers (no services)."""

from __future__ import annotations

from datetime import UTC, datetime

from pulse.sources.kafka import dead_letter_topic
from pulse.warehouse.dead_letters import DeadLetter

AT = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def _letter(**overrides: object) -> DeadLetter:
    fields: dict[str, object] = {
        "quarantine_id": 41, "stage": "decode", "reason": "invalid_json", "detail": "Expecting value: line 1",
        "raw": b"{oops", "src_topic": "product_views", "src_partition": 3, "src_offset": 1234, "quarantined_at": AT,
    }
    return DeadLetter(**{**fields, **overrides})  # type: ignore[arg-type]


def test_the_key_is_the_source_coordinates_so_a_republished_letter_is_recognised() -> None:
    assert _letter().key == "product_views:3:1234"
    assert _letter(quarantine_id=99).key == _letter().key  # the same message, whatever its row


def test_a_message_without_coordinates_is_keyed_by_its_quarantine_row() -> None:
    assert _letter(src_topic=None, src_partition=None, src_offset=None).key == "quarantine:41"


def test_the_headers_say_why_and_where_from() -> None:
    assert dict(_letter().headers()) == {
        "pulse.reason": b"invalid_json", "pulse.stage": b"decode", "pulse.detail": b"Expecting value: line 1",
        "pulse.src.topic": b"product_views", "pulse.src.partition": b"3", "pulse.src.offset": b"1234",
        "pulse.quarantine_id": b"41", "pulse.quarantined_at": b"2026-12-01T08:30:00+00:00",
    }
    bare = dict(_letter(src_topic=None, src_partition=None, src_offset=None).headers())
    assert "pulse.src.topic" not in bare and bare["pulse.reason"] == b"invalid_json"


def test_the_dead_letter_topic_is_named_after_its_topic() -> None:
    assert dead_letter_topic("product_views") == "product_views.dlq"
