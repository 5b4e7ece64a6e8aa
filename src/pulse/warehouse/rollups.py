"""The rollup tables, described once: the loader's upserts are generated from it, the KPI reads name it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from psycopg import sql


class Grain(StrEnum):
    """What a rollup row counts over, besides its keys."""

    BUCKET = "15-minute bucket"  # UTC; every UTC offset in use is a multiple of 15 minutes, so local days are sums
    LOCAL_DAY = "local day"  # per zone in kpi_zone (migration 0003)
    LOCAL_HOUR = "local hour of day"  # per zone in kpi_zone and local day


# The columns of every rollup's primary key that are not its own keys: the grain's, then what every KPI filters on.
_GRAIN_COLUMNS: dict[Grain, tuple[str, ...]] = {
    Grain.BUCKET: ("bucket", "collection", "is_bot"),
    Grain.LOCAL_DAY: ("zone", "day", "collection", "is_bot"),
    Grain.LOCAL_HOUR: ("zone", "day", "collection", "is_bot", "hour"),
}


@dataclass(frozen=True, slots=True)
class Key:
    """A key column of a rollup, read from the staged column of the same name."""

    column: str
    null_as_empty: bool = False  # a staged NULL is counted under '' (a primary-key column cannot be NULL)


@dataclass(frozen=True, slots=True)
class Rollup:
    """One rollup table: `events` counted per grain, collection, bot flag and its keys."""

    table: str
    grain: Grain
    keys: tuple[Key, ...]
    required: str | None = None  # a staged column that must be set for an event to count here

    @property
    def columns(self) -> tuple[str, ...]:
        """The primary key in order: the grain's columns, then the rollup's keys."""
        return _GRAIN_COLUMNS[self.grain] + tuple(key.column for key in self.keys)


PRODUCT = Rollup("rollup_product", Grain.BUCKET, (Key("product_id"),), required="product_id")
SITE_STORE = Rollup("rollup_site_store", Grain.BUCKET, (Key("site_key"), Key("store_id", null_as_empty=True)))
REFERRER = Rollup("rollup_referrer", Grain.BUCKET, (Key("referrer_url"),), required="referrer_url")
BROWSER_OS = Rollup("rollup_browser_os", Grain.BUCKET, (Key("browser"), Key("os")))
PRODUCT_DAY = Rollup("rollup_product_day", Grain.LOCAL_DAY, PRODUCT.keys, required="product_id")
SITE_STORE_DAY = Rollup("rollup_site_store_day", Grain.LOCAL_DAY, SITE_STORE.keys)
REFERRER_DAY = Rollup("rollup_referrer_day", Grain.LOCAL_DAY, REFERRER.keys, required="referrer_url")
BROWSER_HOUR = Rollup("rollup_browser_hour", Grain.LOCAL_HOUR, (Key("browser"),))
OS_HOUR = Rollup("rollup_os_hour", Grain.LOCAL_HOUR, (Key("os"),))

# In the order the loader's statement writes them (15-minute rollups first, as the migrations list them).
ROLLUPS: tuple[Rollup, ...] = (
    PRODUCT, SITE_STORE, REFERRER, BROWSER_OS, PRODUCT_DAY, SITE_STORE_DAY, REFERRER_DAY, BROWSER_HOUR, OS_HOUR,
)

_ZONED = "zoned"

_UPSERT = sql.SQL("""{name} AS (
  INSERT INTO {table} AS r ({columns}, events)
  SELECT {values}, count(*) FROM {source}{where}
  GROUP BY {ordinals} ORDER BY {ordinals}
  ON CONFLICT ({columns}) DO UPDATE SET events = r.events + EXCLUDED.events
)""")

# The local day and hour of each counted event, once per zone in kpi_zone (from its bucket: exact).
_ZONED_CTE = sql.SQL("""{name} AS MATERIALIZED (
  SELECT z.zone, (f.bucket AT TIME ZONE z.zone)::date AS day,
         extract(hour FROM f.bucket AT TIME ZONE z.zone)::smallint AS hour, {columns}
  FROM {source} f CROSS JOIN kpi_zone z
)""")


def bucket_of(*column: str) -> sql.Composed:
    """The 15-minute bucket (Grain.BUCKET) of a timestamptz column, e.g. `bucket_of("s", "event_time")`."""
    return sql.SQL("date_bin('15 minutes', {}, TIMESTAMPTZ '2000-01-01 00:00:00+00')").format(
        sql.Identifier(*column)
    )


def upsert_ctes(counted: str, rollups: Sequence[Rollup] = ROLLUPS) -> sql.Composed:
    """The data-modifying CTEs adding the rows of the CTE `counted` to every rollup, for one WITH list.

    `counted` holds staged rows (the stage's columns) with their `bucket`. Each upsert inserts its groups in
    primary-key order, so concurrent batches lock rollup rows in one order (no deadlock between writers).
    """
    parts = [_upsert(rollup, counted) for rollup in rollups if rollup.grain is Grain.BUCKET]
    local = [rollup for rollup in rollups if rollup.grain is not Grain.BUCKET]
    if local:
        staged = dict.fromkeys(["collection", "is_bot"] + [col for r in local for col in _staged_columns(r)])
        parts.append(_ZONED_CTE.format(
            name=sql.Identifier(_ZONED), source=sql.Identifier(counted),
            columns=sql.SQL(", ").join(sql.Identifier("f", column) for column in staged),
        ))
        parts += [_upsert(rollup, _ZONED) for rollup in local]
    return sql.SQL(",\n").join(parts)


def _staged_columns(rollup: Rollup) -> list[str]:
    """The staged columns a rollup reads besides its grain's."""
    return [key.column for key in rollup.keys] + ([rollup.required] if rollup.required else [])


def _upsert(rollup: Rollup, source: str) -> sql.Composed:
    """One rollup's increment: count the rows of `source` per primary key and add them to the table."""
    keys = {key.column: key for key in rollup.keys}
    values = [
        sql.SQL("coalesce({}, '')").format(sql.Identifier(column))
        if column in keys and keys[column].null_as_empty else sql.Identifier(column)
        for column in rollup.columns
    ]
    where: sql.Composable = sql.SQL("")
    if rollup.required:
        where = sql.SQL(" WHERE {} IS NOT NULL").format(sql.Identifier(rollup.required))
    return _UPSERT.format(
        name=sql.Identifier(f"add_{rollup.table}"), table=sql.Identifier(rollup.table),
        columns=sql.SQL(", ").join(map(sql.Identifier, rollup.columns)),
        values=sql.SQL(", ").join(values), source=sql.Identifier(source), where=where,
        ordinals=sql.SQL(", ").join(sql.SQL(str(position)) for position in range(1, len(rollup.columns) + 1)),
    )
