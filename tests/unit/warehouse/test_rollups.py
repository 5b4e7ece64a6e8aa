"""The rollups' one description: it matches the migrations, and the loader's statement built from it is composed."""

from __future__ import annotations

import re
from pathlib import Path

from psycopg import sql

from pulse.warehouse import loader
from pulse.warehouse.rollups import BUCKET_ROLLUPS, DELTA_SLOTS, ROLLUPS, Grain, delta_partitions, fold_statements

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


_DELTA_TABLE = re.compile(r"CREATE TABLE (rollup_\w+_delta) \((.*?)\) PARTITION BY LIST \(slot\);", re.DOTALL)


def _migrated_deltas() -> dict[str, tuple[str, ...]]:
    """Every delta table the migrations create, with its columns other than slot and events (from the SQL)."""
    tables: dict[str, tuple[str, ...]] = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        for name, body in _DELTA_TABLE.findall(path.read_text()):
            columns = [part.strip().split()[0] for part in body.split(",")]
            tables[name] = tuple(column for column in columns if column not in ("slot", "events"))
    return tables


def test_every_15_minute_rollup_has_a_delta_table_with_its_key_columns() -> None:
    deltas = _migrated_deltas()
    assert {rollup.delta_table: rollup.columns for rollup in BUCKET_ROLLUPS} == deltas
    assert len(deltas) == 4


def test_each_slot_statement_of_the_loader_appends_to_that_slot_only_and_upserts_no_rollup() -> None:
    assert len(loader._LOAD_FACTS) == DELTA_SLOTS
    for slot, statement in enumerate(loader._LOAD_FACTS):
        text = statement.as_string(None)
        assert "ON CONFLICT (event_id) DO NOTHING" in text  # the ledger
        assert text.count("ON CONFLICT") == 1, "a batch upserts no rollup row: the folder does"
        named = sorted(re.findall(r'INSERT INTO "(rollup_\w+)"', text))
        assert named == sorted(f"{rollup.delta_table}_{slot}" for rollup in BUCKET_ROLLUPS)
        for rollup in BUCKET_ROLLUPS:
            columns = ", ".join(f'"{column}"' for column in rollup.columns)
            assert f'INSERT INTO "{rollup.delta_table}_{slot}" (slot, {columns}, events)' in text


def test_the_fold_of_a_slot_upserts_every_rollup_once_from_that_slot() -> None:
    for slot in range(DELTA_SLOTS):
        texts = [statement.as_string(None) for statement in fold_statements(slot)]
        assert len(texts) == len(_migrated_rollups())
        for (table, key), text in zip(sorted(_migrated_rollups().items()), sorted(texts, key=_target), strict=True):
            columns = ", ".join(f'"{column}"' for column in key)
            assert f'INSERT INTO "{table}" AS r ({columns}, events)' in text
            assert f"ON CONFLICT ({columns}) DO UPDATE SET events = r.events + EXCLUDED.events" in text
            sources = re.findall(r'FROM "(rollup_\w+_delta_\d)"', text)
            assert len(sources) == 1 and sources[0].endswith(f"_delta_{slot}"), sources
    assert sorted(delta_partitions(1)) == sorted([f"{name}_1" for name in _migrated_deltas()] + ["batch_delta_1"])


def _target(text: str) -> str:
    return re.findall(r'INSERT INTO "(\w+)"', text)[0]


def test_a_local_rollup_folds_from_the_15_minute_rollup_with_its_keys() -> None:
    for rollup in ROLLUPS:
        if rollup.grain is Grain.BUCKET:
            assert rollup.source is None
            continue
        assert rollup.source is not None and rollup.source.grain is Grain.BUCKET
        assert {key.column for key in rollup.keys} <= set(rollup.source.columns)


def test_no_value_is_formatted_into_the_loader_statement() -> None:
    for slot, statement in enumerate(loader._LOAD_FACTS):
        leaves = _leaves(statement)
        assert [leaf for leaf in leaves if isinstance(leaf, sql.Literal)] == [sql.Literal(slot)] * len(BUCKET_ROLLUPS)
        assert {type(leaf) for leaf in leaves} <= {sql.SQL, sql.Identifier, sql.Literal}
        text = statement.as_string(None)
        assert set(re.findall(r"%\(\w+\)s|%s", text)) == {"%(canary)s"}  # the canary collection is a parameter
        assert set(re.findall(r"'[^']*'", text)) == {"'15 minutes'", "'2000-01-01 00:00:00+00'", "''"}
