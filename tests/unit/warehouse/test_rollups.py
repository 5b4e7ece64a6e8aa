"""The rollups' one description: it matches the migrations, and the loader's statement built from it is composed."""

from __future__ import annotations

import re
from pathlib import Path

from psycopg import sql

from pulse.warehouse import loader
from pulse.warehouse.rollups import DELTA_ROLLUPS, DELTA_SLOTS, ROLLUPS, Grain, delta_partitions, fold_statements

MIGRATIONS = Path(loader.__file__).parent / "migrations"
# The rollups whose deltas the batch statement appends; the visits step (warehouse/sessions.py) writes the rest.
STATEMENT_FED = tuple(rollup for rollup in DELTA_ROLLUPS if rollup.feed is not None)
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


def _migrated_measures() -> dict[str, tuple[str, ...]]:
    """Every rollup's columns outside its primary key, in order (what it counts), from the SQL."""
    measures: dict[str, tuple[str, ...]] = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        for name, body in _TABLE.findall(path.read_text()):
            key = set(_migrated_rollups()[name])
            body = re.sub(r"--[^\n]*", "", re.sub(r"PRIMARY KEY \([^)]*\)", "", body))
            columns = [part.split()[0] for part in body.split(",") if part.strip()]
            measures[name] = tuple(c for c in columns if c and c not in key)
    return measures


def _leaves(composable: sql.Composable) -> list[sql.Composable]:
    if isinstance(composable, sql.Composed):
        return [leaf for part in composable for leaf in _leaves(part)]
    return [composable]


def test_the_description_has_every_rollup_of_the_migrations_with_its_primary_key() -> None:
    migrated = _migrated_rollups()
    assert len(migrated) == 15  # 0001: 4, 0003: 5, 0012: 5, 0013: rollup_campaign_order_day
    assert {rollup.table: rollup.columns for rollup in ROLLUPS} == migrated
    assert {rollup.table: tuple(m.column for m in rollup.measures) for rollup in ROLLUPS} == _migrated_measures()


_DELTA_TABLE = re.compile(r"CREATE TABLE (rollup_\w+_delta) \((.*?)\) PARTITION BY LIST \(slot\);", re.DOTALL)


def _migrated_deltas() -> dict[str, tuple[str, ...]]:
    """Every delta table the migrations create, with its columns other than slot (from the SQL)."""
    tables: dict[str, tuple[str, ...]] = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        for name, body in _DELTA_TABLE.findall(path.read_text()):
            columns = [part.strip().split()[0] for part in body.split(",")]
            tables[name] = tuple(column for column in columns if column != "slot")
    return tables


def test_every_rollup_the_batch_feeds_has_a_delta_table_with_its_key_columns_and_measures() -> None:
    deltas = _migrated_deltas()
    assert {rollup.delta_table: rollup.columns + tuple(m.column for m in rollup.measures)
            for rollup in DELTA_ROLLUPS} == deltas
    assert len(deltas) == 9  # 0008: 4, 0012: 4, 0013: 1
    assert all(rollup.grain is not Grain.LOCAL_DAY and rollup.grain is not Grain.LOCAL_HOUR for rollup in DELTA_ROLLUPS)


def test_each_slot_statement_of_the_loader_appends_to_that_slot_only_and_upserts_no_rollup() -> None:
    assert len(loader._LOAD_FACTS) == DELTA_SLOTS
    for slot, statement in enumerate(loader._LOAD_FACTS):
        text = statement.as_string(None)
        assert "ON CONFLICT (event_id) DO NOTHING" in text  # the ledger
        assert "ON CONFLICT (order_id) DO NOTHING" in text  # one order per order id
        assert text.count("ON CONFLICT DO NOTHING") == 1  # the visitor-day ledger
        assert text.count("ON CONFLICT") == 3, "a batch upserts no rollup row: the folder does"
        assert "DO UPDATE" not in text
        named = sorted(re.findall(r'INSERT INTO "(rollup_\w+)"', text))
        assert named == sorted(f"{rollup.delta_table}_{slot}" for rollup in STATEMENT_FED)
        for rollup in STATEMENT_FED:
            columns = ", ".join(f'"{column}"' for column in rollup.columns)
            measures = ", ".join(f'"{m.column}"' for m in rollup.measures)
            assert f'INSERT INTO "{rollup.delta_table}_{slot}" (slot, {columns}, {measures})' in text
            assert f'FROM "{rollup.feed}"' in text


def test_the_fold_of_a_slot_upserts_every_rollup_once_from_that_slot() -> None:
    for slot in range(DELTA_SLOTS):
        texts = [statement.as_string(None) for statement in fold_statements(slot)]
        assert len(texts) == len(_migrated_rollups())
        measured = _migrated_measures()
        for (table, key), text in zip(sorted(_migrated_rollups().items()), sorted(texts, key=_target), strict=True):
            columns = ", ".join(f'"{column}"' for column in key)
            measures = ", ".join(f'"{m}"' for m in measured[table])
            additions = ", ".join(f'"{m}" = r."{m}" + EXCLUDED."{m}"' for m in measured[table])
            assert f'INSERT INTO "{table}" AS r ({columns}, {measures})' in text
            assert f"ON CONFLICT ({columns}) DO UPDATE SET {additions}" in text
            sources = re.findall(r'FROM "(rollup_\w+_delta_\d)"', text)
            assert len(sources) == 1 and sources[0].endswith(f"_delta_{slot}"), sources
    assert sorted(delta_partitions(1)) == sorted([f"{name}_1" for name in _migrated_deltas()]
                                                 + ["batch_delta_1", "visit_delta_1"])


def _target(text: str) -> str:
    return re.findall(r'INSERT INTO "(\w+)"', text)[0]


def test_a_local_rollup_folds_from_the_15_minute_rollup_with_its_keys() -> None:
    for rollup in ROLLUPS:
        if rollup.grain in (Grain.BUCKET, Grain.LEDGER_DAY):
            assert rollup.source is None
            continue
        assert rollup.source is not None and rollup.source.grain is Grain.BUCKET
        assert {key.column for key in rollup.keys} <= set(rollup.source.columns)
        assert rollup.measures == rollup.source.measures


def test_no_value_is_formatted_into_the_loader_statement() -> None:
    for slot, statement in enumerate(loader._LOAD_FACTS):
        leaves = _leaves(statement)
        assert [leaf for leaf in leaves if isinstance(leaf, sql.Literal)] == [sql.Literal(slot)] * len(STATEMENT_FED)
        assert {type(leaf) for leaf in leaves} <= {sql.SQL, sql.Identifier, sql.Literal}
        text = statement.as_string(None)
        assert set(re.findall(r"%\(\w+\)s|%s", text)) == {"%(canary)s"}  # the canary collection is a parameter
        assert set(re.findall(r"'[^']*'", text)) == {"'15 minutes'", "'2000-01-01 00:00:00+00'", "''"}
