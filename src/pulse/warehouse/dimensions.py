"""The dimension rows of a batch: their upserts, and the rows this loader knows are committed (skipped later)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from pulse.model.star import DIMENSION_COLUMNS, StarBatch

DimRows = dict[str, list[tuple[object, ...]]]

# Rows remembered per dimension table; past it the table's memory is cleared (re-sending a known row is harmless).
KNOWN_ROWS_PER_TABLE = 100_000


def _upsert_sql(table: str, columns: tuple[tuple[str, str], ...]) -> sql.Composed:
    arrays = sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(sql_type)) for _, sql_type in columns)
    conflict = "DO NOTHING"
    if table == "dim_product":
        # The smallest slug wins, whichever engine or batch saw it first.
        conflict = (
            "DO UPDATE SET product_slug = EXCLUDED.product_slug WHERE EXCLUDED.product_slug IS NOT NULL"
            " AND (d.product_slug IS NULL OR EXCLUDED.product_slug < d.product_slug)"
        )
    return sql.SQL("INSERT INTO {} AS d ({}) SELECT * FROM unnest({}) ORDER BY 1 ON CONFLICT ({}) {}").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns), arrays,
        sql.Identifier(columns[0][0]), sql.SQL(conflict),  # type: ignore[arg-type]
    )


_UPSERTS = {table: _upsert_sql(table, columns) for table, columns in DIMENSION_COLUMNS.items()}


def upsert_dimensions(conn: psycopg.Connection, pending: DimRows) -> None:
    """Insert the pending rows of every dimension (keys are deterministic: a known key is left alone)."""
    for table, rows in pending.items():
        if rows:
            conn.execute(_UPSERTS[table], [list(column) for column in zip(*rows, strict=True)])


class KnownDimensions:
    """The dimension rows known to be committed, per table: a later batch sends only what is new."""

    def __init__(self) -> None:
        self._known: dict[str, dict[int, object]] = {table: {} for table in DIMENSION_COLUMNS}

    def pending(self, batch: StarBatch) -> DimRows:
        """The rows of `batch` not known to be committed (a product with a smaller slug counts as new)."""
        pending: DimRows = {}
        for table, rows in batch.dims.items():
            known = self._known[table]
            if table == "dim_product":
                pending[table] = [
                    row for key, row in rows.items()
                    if key not in known or (row[2] is not None and (known[key] is None or row[2] < known[key]))  # type: ignore[operator]
                ]
            else:
                pending[table] = [row for key, row in rows.items() if key not in known]
        return pending

    def remember(self, committed: DimRows) -> None:
        """Remember rows whose transaction committed (bounded: KNOWN_ROWS_PER_TABLE per table)."""
        for table, rows in committed.items():
            known = self._known[table]
            if len(known) > KNOWN_ROWS_PER_TABLE:
                known.clear()
            for row in rows:
                known[row[0]] = row[2] if table == "dim_product" else True  # type: ignore[index]
