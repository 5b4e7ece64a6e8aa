"""The conversion KPIs (visitors, revenue), read from the rollups the visitor and order ledgers feed.

- `visitors`: unique visitors of the local day, exact (each visitor once per day in the visitor_day ledger,
  migration 0012), per storefront and for every storefront together (`all_storefronts`: a visitor of two
  storefronts is one visitor there). Kept for the zones in kpi_zone only: a zone is counted from when it is
  added (`pulse run` adds PULSE_TIMEZONE). Bots and noise hosts have no visitors.
- `revenue`: orders (one per order id), items, revenue and average order value per currency and per
  storefront and currency, as exact decimal strings in the currency's minor units; orders whose amounts could
  not be read are counted per reason under `unreadable` and add no revenue.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import psycopg

from pulse.enrich.money import minor_units
from pulse.errors import BadRequestError, quoted

if TYPE_CHECKING:
    from pulse.warehouse.kpis import KpiWindow

CONVERSION_KPI_NAMES = ("visitors", "revenue")

_VISITORS = """
SELECT r.site_key, s.host AS storefront, s.country_code, s.country_name AS country, r.visitors
FROM rollup_visitor_day r LEFT JOIN dim_site s USING (site_key)
WHERE r.zone = %(tz)s AND r.day = %(day)s
ORDER BY r.visitors DESC, s.host ASC NULLS FIRST
"""

# Orders of the day: the local-day rollup of a zone in kpi_zone, else the 15-minute buckets in the day's bounds.
_ORDERS_BY_DAY = """
SELECT r.site_key, s.host AS storefront, s.country_code, s.country_name AS country, r.currency, r.issue,
       sum(r.orders)::bigint AS orders, sum(r.items)::bigint AS items, sum(r.revenue) AS revenue
FROM rollup_order_day r JOIN dim_site s USING (site_key)
WHERE r.zone = %(tz)s AND r.day = %(day)s AND (%(bots)s OR NOT r.is_bot)
GROUP BY 1, 2, 3, 4, 5, 6
"""
_ORDERS_BY_BUCKET = """
SELECT r.site_key, s.host AS storefront, s.country_code, s.country_name AS country, r.currency, r.issue,
       sum(r.orders)::bigint AS orders, sum(r.items)::bigint AS items, sum(r.revenue) AS revenue
FROM rollup_order r JOIN dim_site s USING (site_key)
WHERE r.bucket >= %(start)s AND r.bucket < %(end)s AND (%(bots)s OR NOT r.is_bot)
GROUP BY 1, 2, 3, 4, 5, 6
"""


def visitors(conn: psycopg.Connection, window: KpiWindow, *, kept: bool) -> dict[str, Any]:
    """Unique visitors of the day: every storefront together, and per storefront (most first)."""
    if not kept:
        raise BadRequestError(f"visitors are counted for the zones pulse keeps day rollups for, not {quoted(window.tz)}"
                              "; set PULSE_TIMEZONE to it and run the engine to count from now on", param="tz")
    rows = conn.execute(_VISITORS, window.params()).fetchall()
    total = next((int(r[4]) for r in rows if r[0] == 0), 0)
    return {
        "all_storefronts": total,
        "by_storefront": [{"storefront": host, "country_code": code, "country": country, "visitors": int(n)}
                          for site_key, host, code, country, n in rows if site_key != 0],
    }


def revenue(conn: psycopg.Connection, window: KpiWindow, *, kept: bool) -> dict[str, Any]:
    """Orders, items, revenue and average order value per currency and per storefront; unreadable orders."""
    cur = conn.execute(_ORDERS_BY_DAY if kept else _ORDERS_BY_BUCKET, window.params())
    by_currency: dict[str, list[Any]] = {}
    by_storefront: dict[tuple[str, str], list[Any]] = {}
    unreadable: dict[str, int] = {}
    facts: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for _, host, code, country, currency, issue, orders, items, amount in cur.fetchall():
        if issue:
            unreadable[issue] = unreadable.get(issue, 0) + int(orders)
            continue
        for totals in (by_currency.setdefault(currency, [0, 0, Decimal(0)]),
                       by_storefront.setdefault((host, currency), [0, 0, Decimal(0)])):
            totals[0] += int(orders)
            totals[1] += int(items)
            totals[2] += amount
        facts[(host, currency)] = (code, country)
    return {
        "by_currency": sorted((_money(currency, *totals) for currency, totals in by_currency.items()),
                              key=lambda r: (-Decimal(r["revenue"]), r["currency"])),
        "by_storefront": sorted(
            ({"storefront": host, "country_code": facts[(host, currency)][0],
              "country": facts[(host, currency)][1], **_money(currency, *totals)}
             for (host, currency), totals in by_storefront.items()),
            key=lambda r: (r["currency"], -Decimal(r["revenue"]), r["storefront"])),
        "unreadable": [{"issue": issue, "orders": n} for issue, n in sorted(unreadable.items())],
    }


def _money(currency: str, orders: int, items: int, amount: Decimal) -> dict[str, Any]:
    """One line of revenue: exact decimal strings in the currency's minor units (JSON has no decimal type)."""
    unit = Decimal(1).scaleb(-minor_units(currency))
    return {
        "currency": currency, "orders": orders, "items": items, "revenue": str(amount.quantize(unit)),
        "average_order_value": str((amount / orders).quantize(unit)) if orders else None,
    }
