"""`pulse kpi NAME` as a table: every conversion answer's numbers appear, rates as percentages."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from pulse.serve.terminal import render_kpi

AS_OF = {"newest_event_time": None, "last_commit_at": None, "rollups_through": None}


def _shown(answer: dict[str, Any]) -> str:
    console = Console(width=200, record=True)
    console.print(render_kpi({"date": "2026-03-29", "tz": "UTC", "as_of": AS_OF, **answer}))
    return console.export_text()


def test_a_conversion_answer_shows_its_totals_and_each_breakdown() -> None:
    text = _shown({"kpi": "sessions", "rows": {
        "all_storefronts": {"visits": 1234, "bounce_rate": 0.4321, "average_duration_s": 75.5,
                            "pages_per_visit": 3.25, "orders": 12, "conversion_rate": 0.0097},
        "by_storefront": [{"storefront": "www.glamira.de", "country_code": "DE", "country": "Germany",
                           "visits": 1000, "bounce_rate": 0.5, "average_duration_s": 80.0, "pages_per_visit": 3.0,
                           "orders": 10, "conversion_rate": 0.01}],
        "late_events": 3}})
    for shown in ("1,234", "43.21%", "75.50", "3.25", "0.97%", "www.glamira.de", "Germany", "50.00%", "late events: 3"):
        assert shown in text, shown


def test_the_funnel_per_storefront_shows_a_column_per_step() -> None:
    steps = [{"step": s, "visits": n, "from_previous": None, "from_first": 1.0}
             for s, n in (("view_product_detail", 50), ("add_to_cart_action", 7))]
    text = _shown({"kpi": "funnel", "rows": {"steps": steps, "by_storefront": [
        {"storefront": "www.glamira.fr", "country_code": "FR", "country": "France", "steps": steps}]}})
    assert "add_to_cart_action" in text and "www.glamira.fr" in text and "100.00%" in text
    assert text.count("50") >= 2  # the total and the storefront's step


def test_an_empty_answer_says_so() -> None:
    assert "nothing yet" in _shown({"kpi": "campaigns", "rows": []})


def test_a_campaign_shows_its_revenue_per_currency() -> None:
    text = _shown({"kpi": "campaigns", "rows": [
        {"referrer_class": "search", "utm_campaign": "xmas", "visits": 40, "conversion_rate": 0.075,
         "revenue": [{"currency": "EUR", "orders": 2, "revenue": "1880.00"},
                     {"currency": "GBP", "orders": 1, "revenue": "99.50"}], "unreadable_orders": 0}]})
    assert "1880.00 EUR, 99.50 GBP" in text and "xmas" in text and "7.50%" in text
