"""A visit's COPY row is in the `visit` table's column order, funnel times as array literals; read back the same."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from pulse.model.sessions import Visit
from pulse.warehouse.sessions import VISIT_COLUMNS, _row, _visit

AT = datetime(2026, 3, 29, 12, tzinfo=UTC)


def test_a_visit_row_round_trips_in_column_order() -> None:
    visit = Visit("v", AT, AT + timedelta(minutes=5), 4, 2, "/in", "/out", 7, 8, 9, "newsletter", "email", "spring",
                  AT, (AT + timedelta(minutes=1),), (), (AT + timedelta(minutes=4),))
    assert tuple(field.name for field in dataclasses.fields(Visit)) == VISIT_COLUMNS
    row = _row(visit)
    assert row[:14] == tuple(getattr(visit, name) for name in VISIT_COLUMNS[:14])
    assert row[14:] == ("{2026-03-29T12:01:00+00:00}", "{}", "{2026-03-29T12:04:00+00:00}")  # array literals
    as_read = (*row[:14], [AT + timedelta(minutes=1)], [], [AT + timedelta(minutes=4)])  # what psycopg returns
    assert _visit(as_read) == visit
