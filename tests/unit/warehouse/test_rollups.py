"""The rollups' one description: it matches the migrations, and the loader's statement built from it is composed."""

from __future__ import annotations

import re
from pathlib import Path

from psycopg import sql

from pulse.warehouse import loader
from pulse.warehouse.rollups import ROLLUPS

MIGRATIONS = Path(loader.__file__).parent / "migrations"
_TABLE = re.compile(r"CREATE TABLE (rollup_\w+) \((.*?)\n\);", re.DOTALL)


def _migrated_rollups() -> dict[str, tuple[str, ...]]:
    """Every rollup table the migrations create, with its primary key (read from the SQL, not from pulse)."""
    tables: dict[str, tuple[str, ...]] = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        for name, body in _TABLE.findall(path.read_text()):
            key = re.search(r"PRIMARY KEY \(([^)]*)\)", body)
            assert key, name
            tables[name] = tuple(column.strip() for column in key.group(1).split(","))
    return tables


def _leaves(composable: sql.Composable) -> list[sql.Composable]:
    if isinstance(composable, sql.Composed):
        return [leaf for part in composable for leaf in _leaves(part)]
    return [composable]


def test_the_description_has_every_rollup_of_the_migrations_with_its_primary_key() -> None:
    migrated = _migrated_rollups()
    assert len(migrated) == 9
    assert {rollup.table: rollup.columns for rollup in ROLLUPS} == migrated


def test_the_loader_statement_names_every_rollup_table_exactly_once() -> None:
    text = loader._LOAD_FACTS.as_string(None)
    named = re.findall(r"(?<!\w)rollup_\w+", text)
    assert sorted(named) == sorted(_migrated_rollups())
    for table, key in _migrated_rollups().items():
        columns = ", ".join(f'"{column}"' for column in key)
        insert = f'INSERT INTO "{table}" AS r ({columns}, events)'
        assert text.count(insert) == 1, insert
        conflict = text[text.index(insert):].split("\n)", 1)[0]
        assert f"ON CONFLICT ({columns}) DO UPDATE SET events = r.events + EXCLUDED.events" in conflict


def test_no_value_is_formatted_into_the_loader_statement() -> None:
    leaves = _leaves(loader._LOAD_FACTS)
    assert not [leaf for leaf in leaves if isinstance(leaf, sql.Literal)]
    assert {type(leaf) for leaf in leaves} <= {sql.SQL, sql.Identifier}
    text = loader._LOAD_FACTS.as_string(None)
    assert set(re.findall(r"%\(\w+\)s|%s", text)) == {"%(canary)s"}  # the canary collection is a parameter
    assert set(re.findall(r"'[^']*'", text)) == {"'15 minutes'", "'2000-01-01 00:00:00+00'", "''"}
