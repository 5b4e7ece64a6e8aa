"""The quarantine listing (pulse.warehouse.quarantine, `pulse quarantine`): newest first, by reason, raw as text."""

from __future__ import annotations

import pytest

from pulse.settings import Settings
from pulse.warehouse.db import connect
from pulse.warehouse.quarantine import list_quarantine

pytestmark = pytest.mark.integration

# (reason, raw, offset) in the order they are quarantined; expected raw previews written out by hand
STORED = [
    ("invalid_json", b'{"id": ', 7),
    ("missing_time", b"x" * 400, 8),
    ("invalid_json", b'\xff\xfe{"x"}', 9),
]
COLUMNS = ["quarantine_id", "quarantined_at", "stage", "reason", "detail", "src_topic", "src_partition",
           "src_offset", "raw"]


def test_the_listing_is_newest_first_filtered_by_reason_and_cut_to_300_bytes(pipeline: Settings) -> None:
    with connect(pipeline.database_url) as conn:
        for reason, raw, offset in STORED:
            conn.execute("INSERT INTO quarantine (stage, reason, detail, raw, src_topic, src_partition, src_offset)"
                         " VALUES ('decode', %s, 'by hand', %s, 'product_views', 2, %s)", (reason, raw, offset))
        conn.commit()
        every = list_quarantine(conn, None, 20)
        assert [list(row) for row in every] == [COLUMNS] * 3
        assert [row["src_offset"] for row in every] == [9, 8, 7]
        assert [row["raw"] for row in every] == ['\\xff\\xfe{"x"}', "x" * 300, '{"id": ']
        assert [row["src_offset"] for row in list_quarantine(conn, "invalid_json", 20)] == [9, 7]
        assert [row["src_offset"] for row in list_quarantine(conn, "invalid_json", 1)] == [9]
        assert list_quarantine(conn, "no_such_reason", 20) == []
