"""The conversion KPIs (visitors, revenue), read from the rollups the visitor and order ledgers feed.

- `visitors`: unique visitors of the local day, exact (each visitor once per day in the visitor_day ledger,
  migration 0012), per storefront and for every storefront together (`all_storefronts`: a visitor of two
  storefronts is one visitor there). Kept for the zones in kpi_zone only: a zone is counted from when it is
  added (`pulse run` adds PULSE_TIMEZONE). Bots and noise hosts have no visitors.
- `sessions`, `funnel`, `campaigns`: visits (model/sessions.py) of the local day their start falls on, per
  storefront or landing source: bounce rate (visits of at most one page view), average duration, pages per
  visit, and the shopping funnel in order (visits reaching each step; `orders` = visits reaching
  checkout_success). `late_events` counts events that came too late to join a visit (they count elsewhere).
  `campaigns` adds the orders and revenue per currency of each source's visits (an order belongs to the visit
  its first checkout_success event is in; rollup_campaign_order_day, migration 0013).
- `realtime`: visitors whose latest visit saw an event in the last 5 minutes (event time; bots excluded).
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

CONVERSION_KPI_NAMES = ("visitors", "sessions", "funnel", "campaigns", "revenue", "realtime")
REALTIME_MINUTES = 5  # migration 0012's visitors_now
FUNNEL_STEPS = ("view_product_detail", "add_to_cart_action", "checkout", "checkout_success")  # model/sessions.py
CAMPAIGN_ROWS = 50

# Visits of the day per storefront (rollup_visit_day: signed deltas summed, so a merged visit counts once).
_VISITS = """
SELECT s.host AS storefront, s.country_code, s.country_name AS country, sum(r.visits)::bigint,
       sum(r.bounces)::bigint, sum(r.duration_s), sum(r.page_views)::bigint, sum(r.funnel_1)::bigint,
       sum(r.funnel_2)::bigint, sum(r.funnel_3)::bigint, sum(r.funnel_4)::bigint
FROM rollup_visit_day r JOIN dim_site s USING (site_key)
WHERE r.zone = %(tz)s AND r.day = %(day)s
GROUP BY 1, 2, 3 HAVING sum(r.visits) > 0
ORDER BY 4 DESC, 1 ASC
"""
_LATE = "SELECT coalesce(sum(late_events), 0)::bigint FROM rollup_visit_late_day WHERE zone = %(tz)s AND day = %(day)s"
# Visits by landing source: the referrer's class and domain (dim_referrer) and the UTM values of the landing page.
_CAMPAIGNS = """
SELECT d.referrer_class, d.referrer_domain, r.utm_source, r.utm_medium, r.utm_campaign, sum(r.visits)::bigint,
       sum(r.bounces)::bigint, sum(r.duration_s), sum(r.page_views)::bigint, sum(r.funnel_1)::bigint,
       sum(r.funnel_2)::bigint, sum(r.funnel_3)::bigint, sum(r.funnel_4)::bigint
FROM rollup_visit_day r LEFT JOIN dim_referrer d USING (referrer_key)
WHERE r.zone = %(tz)s AND r.day = %(day)s
GROUP BY 1, 2, 3, 4, 5 HAVING sum(r.visits) > 0
ORDER BY 6 DESC, 1 ASC NULLS FIRST, 2 ASC NULLS FIRST, 3, 4, 5
LIMIT %(limit)s
"""
# Orders and revenue by landing source: each order in the visit its first checkout_success event is in.
_CAMPAIGN_ORDERS = """
SELECT d.referrer_class, d.referrer_domain, r.utm_source, r.utm_medium, r.utm_campaign, r.currency,
       sum(r.orders)::bigint, sum(r.revenue)
FROM rollup_campaign_order_day r LEFT JOIN dim_referrer d USING (referrer_key)
WHERE r.zone = %(tz)s AND r.day = %(day)s
GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(r.orders) <> 0
ORDER BY 6
"""

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
    _kept(window, kept, "visitors")
    rows = conn.execute(_VISITORS, window.params()).fetchall()
    total = next((int(r[4]) for r in rows if r[0] == 0), 0)
    return {
        "all_storefronts": total,
        "by_storefront": [{"storefront": host, "country_code": code, "country": country, "visitors": int(n)}
                          for site_key, host, code, country, n in rows if site_key != 0],
    }


def sessions(conn: psycopg.Connection, window: KpiWindow, *, kept: bool) -> dict[str, Any]:
    """Visits of the day (by the local day of their start): bounce rate, duration, pages per visit."""
    _kept(window, kept, "visits")
    rows = conn.execute(_VISITS, window.params()).fetchall()
    late = conn.execute(_LATE, window.params()).fetchone()
    every = [sum(row[i] for row in rows) for i in range(3, 11)]
    return {
        "all_storefronts": _visit_metrics(*every),
        "by_storefront": [{"storefront": host, "country_code": code, "country": country, **_visit_metrics(*m)}
                          for host, code, country, *m in rows],
        "late_events": int(late[0]) if late else 0,
    }


def funnel(conn: psycopg.Connection, window: KpiWindow, *, kept: bool) -> dict[str, Any]:
    """Visits reaching each shopping step in order, and the step-to-step and overall conversion."""
    _kept(window, kept, "the funnel")
    rows = conn.execute(_VISITS, window.params()).fetchall()
    every = [sum(row[i] for row in rows) for i in range(7, 11)]
    return {
        "steps": _steps(every),
        "by_storefront": [{"storefront": host, "country_code": code, "country": country, "steps": _steps(m[4:])}
                          for host, code, country, *m in rows],
    }


def campaigns(conn: psycopg.Connection, window: KpiWindow, *, kept: bool) -> list[dict[str, Any]]:
    """Visits by landing source (referrer class and domain, UTM source/medium/campaign), most first, with the
    orders and revenue of those visits per currency (`revenue`) and the orders whose amounts could not be read."""
    _kept(window, kept, "campaigns")
    rows = conn.execute(_CAMPAIGNS, {**window.params(), "limit": CAMPAIGN_ROWS}).fetchall()
    money: dict[tuple[object, ...], list[dict[str, Any]]] = {}
    unreadable: dict[tuple[object, ...], int] = {}
    for *source_key, currency, orders, amount in conn.execute(_CAMPAIGN_ORDERS, window.params()).fetchall():
        if currency:
            money.setdefault(tuple(source_key), []).append(_amount(currency, int(orders), amount))
        else:
            unreadable[tuple(source_key)] = int(orders)
    return [{"referrer_class": klass, "referrer_domain": domain, "utm_source": source or None,
             "utm_medium": medium or None, "utm_campaign": campaign or None, **_visit_metrics(*m),
             "revenue": sorted(money.get((klass, domain, source, medium, campaign), []), key=_most_revenue),
             "unreadable_orders": unreadable.get((klass, domain, source, medium, campaign), 0)}
            for klass, domain, source, medium, campaign, *m in rows]


def _amount(currency: str, orders: int, amount: Decimal) -> dict[str, Any]:
    """Orders and their revenue in one currency."""
    return {"currency": currency, "orders": orders, "revenue": _exact(currency, amount)}


_NOW = """
SELECT n.site_key, s.host AS storefront, s.country_code, s.country_name AS country, n.visitors
FROM visitors_now n LEFT JOIN dim_site s USING (site_key)
ORDER BY n.visitors DESC, s.host ASC NULLS FIRST
"""


def realtime(conn: psycopg.Connection) -> dict[str, Any]:
    """Visitors with an event in the last REALTIME_MINUTES minutes (by event time), in all and per storefront."""
    rows = conn.execute(_NOW).fetchall()
    return {
        "minutes": REALTIME_MINUTES,
        "all_storefronts": next((int(r[4]) for r in rows if r[0] == 0), 0),
        "by_storefront": [{"storefront": host, "country_code": code, "country": country, "visitors": int(n)}
                          for site_key, host, code, country, n in rows if site_key != 0],
    }


def _kept(window: KpiWindow, kept: bool, what: str) -> None:
    if not kept:
        raise BadRequestError(f"{what} are counted for the zones pulse keeps day rollups for, not "
                              f"{quoted(window.tz)}; set PULSE_TIMEZONE to it and run the engine", param="tz")


def _visit_metrics(visits: int, bounces: int, duration_s: float, page_views: int, *funnel: int) -> dict[str, Any]:
    return {
        "visits": int(visits),
        "bounce_rate": _rate(bounces, visits),
        "average_duration_s": round(duration_s / visits, 1) if visits else None,
        "pages_per_visit": round(page_views / visits, 2) if visits else None,
        "orders": int(funnel[3]) if len(funnel) == 4 else None,  # visits that reached checkout_success
        "conversion_rate": _rate(funnel[3], visits) if len(funnel) == 4 else None,
    }


def _steps(reached: list[int] | tuple[int, ...]) -> list[dict[str, Any]]:
    first = reached[0] if reached else 0
    return [{"step": name, "visits": int(n), "from_previous": _rate(n, reached[i - 1]) if i else None,
             "from_first": _rate(n, first)} for i, (name, n) in enumerate(zip(FUNNEL_STEPS, reached, strict=True))]


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


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
                              key=_most_revenue),
        "by_storefront": sorted(
            ({"storefront": host, "country_code": facts[(host, currency)][0],
              "country": facts[(host, currency)][1], **_money(currency, *totals)}
             for (host, currency), totals in by_storefront.items()),
            key=lambda r: (r["currency"], -Decimal(r["revenue"]), r["storefront"])),
        "unreadable": [{"issue": issue, "orders": n} for issue, n in sorted(unreadable.items())],
    }


def _money(currency: str, orders: int, items: int, amount: Decimal) -> dict[str, Any]:
    """One line of revenue, with its items and average order value."""
    return {
        "currency": currency, "orders": orders, "items": items, "revenue": _exact(currency, amount),
        "average_order_value": _exact(currency, amount / orders) if orders else None,
    }


def _exact(currency: str, amount: Decimal) -> str:
    """An exact decimal string in the currency's minor units (JSON has no decimal type)."""
    return str(amount.quantize(Decimal(1).scaleb(-minor_units(currency))))


def _most_revenue(line: dict[str, Any]) -> tuple[Decimal, str]:
    """Sort key of revenue lines: the most first, then by currency."""
    return -Decimal(line["revenue"]), line["currency"]
