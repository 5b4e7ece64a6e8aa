"""Order amounts: hand-checked currency, price and order cases, and a Babel format -> parse round trip."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.enrich.money import (
    OrderIssue,
    OrderTotals,
    PriceError,
    currency_code,
    minor_units,
    order_totals,
    parse_price,
    storefront_locale,
)

# Expected values written by hand from the rules in the module docstring.
LOCALES = [("AU", "en_AU"), ("CA", "en_CA"), ("CH", "de_CH"), ("RS", "sr_Cyrl_RS"), ("SE", "sv_SE"),
           ("DE", "de_DE"), (None, "en_US"), ("XX", "en_US"), ("au", "en_AU")]  # fmt: skip

CURRENCIES = [
    ("$", "AU", "AUD"),
    ("$", "CA", "CAD"),
    ("$", None, "USD"),
    ("AU $", "AU", "AUD"),
    ("A$", None, "AUD"),
    ("€", "DE", "EUR"),
    ("€", None, "EUR"),
    ("£", "GB", "GBP"),
    ("kr", "SE", "SEK"),
    ("kr", "NO", "NOK"),
    ("CHF", "CH", "CHF"),
    ("zł", "PL", "PLN"),
    ("лв.", "BG", "BGN"),
    ("Kč", "CZ", "CZK"),
    ("R$", "BR", "BRL"),
    ("CA$", None, "CAD"),
    ("US$", "AU", "USD"),
    ("EUR", "GB", "EUR"),
    ("eur", "GB", "EUR"),
    ("", "SE", "SEK"),
    (None, "GB", "GBP"),
    (" \u00a0", "DE", "EUR"),
]

CURRENCY_ERRORS = [
    ("kr", None, OrderIssue.AMBIGUOUS_CURRENCY),
    ("kr", "DK", OrderIssue.AMBIGUOUS_CURRENCY),  # Babel's da_DK writes DKK as "kr.", so "kr" is SEK or NOK
    ("XYZ?", "DE", OrderIssue.UNKNOWN_CURRENCY),
    ("лв", "BG", OrderIssue.UNKNOWN_CURRENCY),  # no CLDR locale writes BGN without the dot
]

PRICES = [
    ("880.00", "AU", "AUD", Decimal("880.00")),
    ("1.880,00", "AU", "AUD", Decimal("1880.00")),
    ("4.990,00", "DE", "EUR", Decimal("4990.00")),
    ("1\u00a0278,00", "SE", "SEK", Decimal("1278.00")),
    ("1\u202f278,00", "FR", "EUR", Decimal("1278.00")),
    ("1 278,00", "FR", "EUR", Decimal("1278.00")),
    ("1 278,00", "SE", "SEK", Decimal("1278.00")),
    ("1'280.00", "CH", "CHF", Decimal("1280.00")),
    ("1\u2019280.00", "CH", "CHF", Decimal("1280.00")),  # the typographic apostrophe shops print
    ("350", "GB", "GBP", Decimal("350.00")),
    ("12.5", "DE", "EUR", Decimal("12.50")),
    ("1.880", "AU", "AUD", Decimal("1880.00")),
    ("1.234.567,89", "DE", "EUR", Decimal("1234567.89")),
    ("459.990", "CL", "CLP", Decimal("459990")),
    ("1,5", "DE", "EUR", Decimal("1.50")),
    (" 880.00 ", "AU", "AUD", Decimal("880.00")),
    ("0", "DE", "EUR", Decimal("0.00")),
]

UNPARSEABLE = [("abc", "DE", "EUR"), ("", "DE", "EUR"), ("-5,00", "DE", "EUR"), ("1e3", "DE", "EUR"),
               ("NaN", "DE", "EUR"), ("1_000", "GB", "GBP"), ("1.2345", "DE", "EUR")]  # fmt: skip


@pytest.mark.parametrize(("country", "locale"), LOCALES)
def test_storefront_locale(country: str | None, locale: str) -> None:
    assert str(storefront_locale(country)) == locale


@pytest.mark.parametrize(("symbol", "country", "code"), CURRENCIES)
def test_currency_code(symbol: str | None, country: str | None, code: str) -> None:
    assert currency_code(symbol, country) == code


@pytest.mark.parametrize(("symbol", "country", "reason"), CURRENCY_ERRORS)
def test_currency_code_refuses(symbol: str, country: str | None, reason: OrderIssue) -> None:
    with pytest.raises(PriceError) as caught:
        currency_code(symbol, country)
    assert caught.value.reason is reason


@pytest.mark.parametrize(("text", "country", "currency", "value"), PRICES)
def test_parse_price(text: str, country: str, currency: str, value: Decimal) -> None:
    parsed = parse_price(text, country, currency)
    assert parsed == value
    assert parsed.as_tuple().exponent == value.as_tuple().exponent  # quantized to the minor units


@pytest.mark.parametrize(("text", "country", "currency"), UNPARSEABLE)
def test_parse_price_refuses(text: str, country: str, currency: str) -> None:
    with pytest.raises(PriceError) as caught:
        parse_price(text, country, currency)
    assert caught.value.reason is OrderIssue.UNPARSEABLE_PRICE


def test_minor_units_come_from_cldr() -> None:
    assert (minor_units("EUR"), minor_units("CLP"), minor_units("BHD")) == (2, 0, 3)


ORDERS = [
    ("au order", [("1.880,00", 1, "AU $"), ("350.00", 2, "AU $")], "AU",
     OrderTotals("AUD", Decimal("2580.00"), 3, None)),
    ("no lines", [], "DE", OrderTotals(None, None, 0, OrderIssue.NO_LINES)),
    ("quantity None is 1", [("10,00", None, "€"), ("5,00", 2, "€")], "DE",
     OrderTotals("EUR", Decimal("20.00"), 3, None)),
    ("quantity 0 adds nothing", [("10,00", 0, "€"), ("5,00", 1, "€")], "DE",
     OrderTotals("EUR", Decimal("5.00"), 1, None)),
    ("negative quantity is 1", [("10,00", -2, "€")], "DE", OrderTotals("EUR", Decimal("10.00"), 1, None)),
    ("no symbol is storefront's", [("1\u00a0278,00", 1, None), ("100,00", 1, "kr")], "SE",
     OrderTotals("SEK", Decimal("1378.00"), 2, None)),
    ("mixed", [("10.00", 1, "£"), ("10,00", 1, "€")], "GB", OrderTotals(None, None, 2, OrderIssue.MIXED_CURRENCIES)),
    ("ambiguous", [("100,00", 1, "kr")], None, OrderTotals(None, None, 1, OrderIssue.AMBIGUOUS_CURRENCY)),
    ("unknown", [("100,00", 1, "XYZ?")], "DE", OrderTotals(None, None, 1, OrderIssue.UNKNOWN_CURRENCY)),
    ("currency before mixed", [("1", 1, "£"), ("1", 1, "XYZ?")], "GB",
     OrderTotals(None, None, 2, OrderIssue.UNKNOWN_CURRENCY)),
    ("mixed before price", [("abc", 1, "£"), ("1", 1, "€")], "GB",
     OrderTotals(None, None, 2, OrderIssue.MIXED_CURRENCIES)),
    ("bad price keeps currency", [("abc", 1, "€"), ("1,00", 1, "€")], "DE",
     OrderTotals("EUR", None, 2, OrderIssue.UNPARSEABLE_PRICE)),
    ("missing price", [(None, 1, "€")], "DE", OrderTotals("EUR", None, 1, OrderIssue.UNPARSEABLE_PRICE)),
]  # fmt: skip


@pytest.mark.parametrize(("lines", "country", "expected"), [case[1:] for case in ORDERS], ids=[c[0] for c in ORDERS])
def test_order_totals(
    lines: list[tuple[str | None, int | None, str | None]], country: str | None, expected: OrderTotals
) -> None:
    assert order_totals(lines, country) == expected


def test_revenue_is_exact_decimal() -> None:
    totals = order_totals([("0.10", 1, "$")] * 3, "US")
    assert totals.revenue == Decimal("0.30")
    assert str(totals.revenue) == "0.30"


# Each storefront's locale and currency, by hand; Babel formats, the module parses back.
ROUND_TRIP = [("DE", "de_DE", "EUR"), ("GB", "en_GB", "GBP"), ("FR", "fr_FR", "EUR"),
              ("CH", "de_CH", "CHF"), ("SE", "sv_SE", "SEK"), ("AU", "en_AU", "AUD")]  # fmt: skip


@pytest.mark.parametrize(("country", "locale", "currency"), ROUND_TRIP)
@settings(max_examples=60, deadline=None)
@given(value=st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False))
def test_format_parse_round_trip(country: str, locale: str, currency: str, value: Decimal) -> None:
    text = format_decimal(value, format="#,##0.00", locale=locale)
    assert parse_price(text, country, currency) == value
