"""The rollup tables, described once: the loader's delta inserts and the folder's upserts are generated from it,
the KPI reads name it.

A batch transaction appends its counts per 15-minute rollup key to the rollup's delta table (in the slot of the
open generation, migration 0008); the folder sums a closed slot into the 15-minute rollups and, through each
zone in kpi_zone, into the local-day and local-hour rollups. The rollups of migration 0012 count other things
than events from other rows of the batch (`Rollup.feed`): orders and revenue from the orders new to the
warehouse, visitors from the visitor-day ledger rows new to it (a LEDGER_DAY rollup, already per zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from psycopg import sql


class Grain(StrEnum):
    """What a rollup row counts over, besides its keys."""

    BUCKET = "15-minute bucket"  # UTC; every UTC offset in use is a multiple of 15 minutes, so local days are sums
    LOCAL_DAY = "local day"  # per zone in kpi_zone (migration 0003)
    LOCAL_HOUR = "local hour of day"  # per zone in kpi_zone and local day
    LEDGER_DAY = "local day, each ledger key once"  # per zone in kpi_zone: counted from a ledger, not summed up


# The columns of every rollup's primary key that are not its own keys: the grain's, then what every KPI filters on.
_GRAIN_COLUMNS: dict[Grain, tuple[str, ...]] = {
    Grain.BUCKET: ("bucket", "collection", "is_bot"),
    Grain.LOCAL_DAY: ("zone", "day", "collection", "is_bot"),
    Grain.LOCAL_HOUR: ("zone", "day", "collection", "is_bot", "hour"),
    Grain.LEDGER_DAY: ("zone", "day"),
}


@dataclass(frozen=True, slots=True)
class Measure:
    """A counted column of a rollup: `delta` aggregates it over the feed's rows; the folds add the deltas up."""

    column: str
    delta: str = "count(*)"


EVENTS = Measure("events")


@dataclass(frozen=True, slots=True)
class Key:
    """A key column of a rollup, read from the staged column of the same name."""

    column: str
    null_as_empty: bool = False  # a staged NULL is counted under '' (a primary-key column cannot be NULL)


@dataclass(frozen=True, slots=True)
class Rollup:
    """One rollup table: its measures (`events` unless said) per grain and its keys."""

    table: str
    grain: Grain
    keys: tuple[Key, ...]
    required: str | None = None  # a staged column that must be set for an event to count here
    source: Rollup | None = None  # a local rollup: the 15-minute rollup whose deltas it is folded from
    measures: tuple[Measure, ...] = (EVENTS,)
    # The CTE of the batch statement whose rows its deltas count (loader.py); None: the folder's visits step
    # writes them (warehouse/sessions.py).
    feed: str | None = "counted"

    @property
    def columns(self) -> tuple[str, ...]:
        """The primary key in order: the grain's columns, then the rollup's keys."""
        return _GRAIN_COLUMNS[self.grain] + tuple(key.column for key in self.keys)

    @property
    def delta_table(self) -> str:
        """The delta table of a rollup the batch writes (partitioned by slot)."""
        if self.source is not None:
            raise ValueError(f"{self.table} is folded from {self.source.table if self.source else '?'}: no deltas")
        return f"{self.table}_delta"


PRODUCT = Rollup("rollup_product", Grain.BUCKET, (Key("product_id"),), required="product_id")
SITE_STORE = Rollup("rollup_site_store", Grain.BUCKET, (Key("site_key"), Key("store_id", null_as_empty=True)))
REFERRER = Rollup("rollup_referrer", Grain.BUCKET, (Key("referrer_url"),), required="referrer_url")
BROWSER_OS = Rollup("rollup_browser_os", Grain.BUCKET, (Key("browser"), Key("os")))
PRODUCT_DAY = Rollup("rollup_product_day", Grain.LOCAL_DAY, PRODUCT.keys, source=PRODUCT)
SITE_STORE_DAY = Rollup("rollup_site_store_day", Grain.LOCAL_DAY, SITE_STORE.keys, source=SITE_STORE)
REFERRER_DAY = Rollup("rollup_referrer_day", Grain.LOCAL_DAY, REFERRER.keys, source=REFERRER)
BROWSER_HOUR = Rollup("rollup_browser_hour", Grain.LOCAL_HOUR, (Key("browser"),), source=BROWSER_OS)
OS_HOUR = Rollup("rollup_os_hour", Grain.LOCAL_HOUR, (Key("os"),), source=BROWSER_OS)
# Orders new to the warehouse (fact_order, one per order id) per storefront, currency and the issue that kept
# the revenue from being read ('' for none): revenue is numeric, never float; an order with an issue adds 0.
ORDER_MEASURES = (Measure("orders"), Measure("items", "sum(items)"), Measure("revenue", "coalesce(sum(revenue), 0)"))
ORDER = Rollup("rollup_order", Grain.BUCKET, (Key("site_key"), Key("currency", null_as_empty=True),
                                               Key("issue", null_as_empty=True)),
               measures=ORDER_MEASURES, feed="new_orders")
ORDER_DAY = Rollup("rollup_order_day", Grain.LOCAL_DAY, ORDER.keys, source=ORDER, measures=ORDER_MEASURES)
# Visitors of a local day per storefront (site_key 0: every storefront), from the visitor_day ledger rows new to it.
VISITOR_DAY = Rollup("rollup_visitor_day", Grain.LEDGER_DAY, (Key("site_key"),), measures=(Measure("visitors"),),
                     feed="new_visitors")
# Visits per zone's local day of their start, storefront and landing source (model/sessions.py): the folder's
# visits step adds each visit it writes and subtracts each it replaces, so these are sums of signed deltas.
VISIT_DAY = Rollup(
    "rollup_visit_day", Grain.LEDGER_DAY,
    (Key("site_key"), Key("referrer_key"), Key("utm_source"), Key("utm_medium"), Key("utm_campaign")),
    measures=tuple(Measure(name) for name in ("visits", "bounces", "duration_s", "page_views", "funnel_1",
                                              "funnel_2", "funnel_3", "funnel_4")),
    feed=None,
)
# Events later than the lateness bound: loaded, but joined into no visit.
VISIT_LATE_DAY = Rollup("rollup_visit_late_day", Grain.LEDGER_DAY, (Key("site_key"),),
                        measures=(Measure("late_events"),), feed=None)

# Orders and revenue per zone's local day of their visit's start, landing source and currency (the folder's
# visits step, signed like VISIT_DAY's: an order belongs to the visit its first checkout_success event is in).
CAMPAIGN_ORDER_DAY = Rollup(
    "rollup_campaign_order_day", Grain.LEDGER_DAY, (*VISIT_DAY.keys, Key("currency")),
    measures=(Measure("orders"), Measure("revenue")), feed=None,
)

# In the order the loader's statement writes them (15-minute rollups first, as the migrations list them).
ROLLUPS: tuple[Rollup, ...] = (
    PRODUCT, SITE_STORE, REFERRER, BROWSER_OS, PRODUCT_DAY, SITE_STORE_DAY, REFERRER_DAY, BROWSER_HOUR, OS_HOUR,
    ORDER, ORDER_DAY, VISITOR_DAY, VISIT_DAY, VISIT_LATE_DAY, CAMPAIGN_ORDER_DAY,
)

# The rollups the batch writes deltas for: the 15-minute ones and the ledger-fed ones; the folder derives the rest.
DELTA_ROLLUPS: tuple[Rollup, ...] = tuple(rollup for rollup in ROLLUPS if rollup.source is None)

# Slots of every delta table (migration 0008 creates partitions 0..3): generation g writes slot g % DELTA_SLOTS.
DELTA_SLOTS = 4
BATCH_DELTA = "batch_delta"  # per-batch load totals, folded into load_totals
VISIT_DELTA = "visit_delta"  # per-batch visits, merged into `visit` by the folder (warehouse/sessions.py)


def delta_partition(table: str, slot: int) -> str:
    """The partition of a delta table holding one slot."""
    if not 0 <= slot < DELTA_SLOTS:
        raise ValueError(f"slot {slot} is not in 0..{DELTA_SLOTS - 1}")
    return f"{table}_{slot}"


def bucket_of(*column: str) -> sql.Composed:
    """The 15-minute bucket (Grain.BUCKET) of a timestamptz column, e.g. `bucket_of("s", "event_time")`."""
    return sql.SQL("date_bin('15 minutes', {}, TIMESTAMPTZ '2000-01-01 00:00:00+00')").format(
        sql.Identifier(*column)
    )


_DELTA = sql.SQL("""{name} AS (
  INSERT INTO {partition} (slot, {columns}, {measures})
  SELECT {slot}, {values}, {aggregates} FROM {source}{where} GROUP BY {ordinals}
)""")


def delta_ctes(slot: int) -> sql.Composed:
    """The data-modifying CTEs appending the rows of each rollup's feed CTE, counted per rollup key, to each
    delta table's partition of `slot`, for one WITH list. A feed holds the rollup's columns (`bucket` included).

    Plain appends to heaps without indexes: no row another writer touches, so writers never wait on each other.
    """
    parts = []
    for rollup in DELTA_ROLLUPS:
        if rollup.feed is None:
            continue
        keys = {key.column: key for key in rollup.keys}
        values = [
            sql.SQL("coalesce({}, '')").format(sql.Identifier(column))
            if column in keys and keys[column].null_as_empty else sql.Identifier(column)
            for column in rollup.columns
        ]
        parts.append(_DELTA.format(
            name=sql.Identifier(f"add_{rollup.table}"),
            partition=sql.Identifier(delta_partition(rollup.delta_table, slot)),
            columns=_names(rollup.columns), measures=_names(tuple(m.column for m in rollup.measures)),
            slot=sql.Literal(slot), values=sql.SQL(", ").join(values),
            aggregates=sql.SQL(", ").join(sql.SQL(m.delta) for m in rollup.measures),
            source=sql.Identifier(rollup.feed), where=_where(rollup), ordinals=_ordinals(len(rollup.columns), first=2),
        ))
    return sql.SQL(",\n").join(parts)


# Folding one slot: the 15-minute rollup from its deltas, and every local rollup of it through each KPI zone.
_FOLD_BUCKET = sql.SQL("""
INSERT INTO {table} AS r ({columns}, {measures})
SELECT {columns}, {sums} FROM {partition}
GROUP BY {ordinals} ORDER BY {ordinals}
ON CONFLICT ({columns}) DO UPDATE SET {additions}
""")

_FOLD_LOCAL = sql.SQL("""
INSERT INTO {table} AS r ({columns}, {measures})
SELECT {columns}, {sums} FROM (
  SELECT z.zone, (d.bucket AT TIME ZONE z.zone)::date AS day,
         extract(hour FROM d.bucket AT TIME ZONE z.zone)::smallint AS hour, d.*
  FROM {partition} d CROSS JOIN kpi_zone z
) zoned
GROUP BY {ordinals} ORDER BY {ordinals}
ON CONFLICT ({columns}) DO UPDATE SET {additions}
""")


def fold_statements(slot: int) -> list[sql.Composed]:
    """The statements adding one slot's deltas to every rollup (in one transaction, with the TRUNCATE after).

    Each inserts its groups in primary-key order, so a fold and a zone rebuild lock rows in one order.
    """
    statements = []
    for rollup in ROLLUPS:
        source = rollup.source or rollup
        template = _FOLD_LOCAL if rollup.source is not None else _FOLD_BUCKET
        measures = tuple(m.column for m in rollup.measures)
        statements.append(template.format(
            table=sql.Identifier(rollup.table), columns=_names(rollup.columns), measures=_names(measures),
            sums=sql.SQL(", ").join(sql.SQL("sum({})").format(sql.Identifier(m)) for m in measures),
            additions=sql.SQL(", ").join(sql.SQL("{0} = r.{0} + EXCLUDED.{0}").format(sql.Identifier(m))
                                         for m in measures),
            partition=sql.Identifier(delta_partition(source.delta_table, slot)),
            ordinals=_ordinals(len(rollup.columns)),
        ))
    return statements


def delta_partitions(slot: int) -> list[str]:
    """Every delta partition of a slot (the rollups' and the batch totals'), for the fold's TRUNCATE."""
    return [delta_partition(rollup.delta_table, slot) for rollup in DELTA_ROLLUPS] + [
        delta_partition(BATCH_DELTA, slot), delta_partition(VISIT_DELTA, slot),
    ]


def _names(columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, columns))


def _ordinals(count: int, first: int = 1) -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL(str(position)) for position in range(first, first + count))


def _where(rollup: Rollup) -> sql.Composable:
    if rollup.required:
        return sql.SQL(" WHERE {} IS NOT NULL").format(sql.Identifier(rollup.required))
    return sql.SQL("")
