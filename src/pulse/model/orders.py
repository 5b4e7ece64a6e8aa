"""What an order event adds to its staged row: the order's currency, revenue, items and issue (pure).

An order is a `checkout_success` event with an order id; fact_order keeps one row per order id (migration
0012), so a resent or replayed checkout adds no second order. Prices are read with the storefront's locale
and the currency symbol is resolved with the storefront as the tie-breaker (`pulse.enrich.money`). An order
whose amounts cannot be read still loads (the event and the order), with the issue as its reason code and
no revenue: the revenue KPI counts such orders per reason.
"""

from __future__ import annotations

from pulse.enrich.money import order_totals
from pulse.events.model import Event

ORDER_COLLECTION = "checkout_success"

# (order_currency, order_revenue, order_items, order_issue) of an event that is not an order
NOT_AN_ORDER: tuple[object, object, object, object] = (None, None, None, None)


def order_columns(event: Event, country_code: str | None) -> tuple[object, object, object, object]:
    """The staged order columns of one event: set only for an order (`order_items` is never None then)."""
    if event.collection != ORDER_COLLECTION or event.order_id is None:
        return NOT_AN_ORDER
    totals = order_totals([(item.price_text, item.amount, item.currency) for item in event.cart_products],
                          country_code)
    return totals.currency, totals.revenue, totals.items, str(totals.issue) if totals.issue else None
