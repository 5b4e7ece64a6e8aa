"""Order amounts: a checkout's cart lines, as the storefront printed them, read into one ISO 4217 total with Babel.

A `checkout_success` event carries `cart_products` lines whose `price` is a locale-formatted string
("4.990,00", "1 278,00", "880.00") and whose `currency` is a printed symbol ("€", "AU $", "kr") or, now and
then, an ISO code. The storefront's country (ISO 3166-1 alpha-2; None for the international glamira.com)
stands for its CLDR locale, and Babel's CLDR data does all the reading. The product rules:

1. **Currency** (`currency_code`). The symbol is stripped and its inner whitespace removed ("AU $" -> "AU$").
   An ISO 4217 code Babel knows (any case) is that code. Otherwise the currencies whose symbol this is in the
   storefront's own locale ("$" is AUD in en_AU, CAD in en_CA); if several, the storefront territory's
   currency decides. Otherwise an index of the symbols of a fixed set of locales ("en", "en_US", "en_GB" and
   the likely locale of every Glamira storefront country, `STOREFRONT_COUNTRIES`): one candidate is it,
   several are decided by the storefront territory's currency, else `AMBIGUOUS_CURRENCY` ("kr" on
   glamira.com: SEK, NOK, DKK...). No match anywhere is `UNKNOWN_CURRENCY`. A line without a currency is in
   the storefront's currency, when its territory has exactly one current currency (else `UNKNOWN_CURRENCY`).
   Babel 2.19 exposes no narrow currency symbols, so the index holds the standard symbols only.
2. **Price** (`parse_price`). `babel.numbers.parse_decimal(strict=True)`, first in the storefront's locale,
   then in `_FALLBACK_PRICE_LOCALES` (one per separator convention: 1,234.56 / 1.234,56 / 1 234,56 / 1'234.56).
   A reading counts only if it has no more fraction digits than the currency's minor units, so "1.880" is
   not 1.88 AUD (en_AU) but 1880 AUD (de_DE). Look-alike group separators become the candidate locale's
   group symbol only when that symbol is itself one of them: the spaces (U+0020, U+00A0, U+202F: "1 278,00"
   in fr_FR) and the apostrophes (', U+2019, U+02BC: the Swiss "1’280.00", which shops print with the
   typographic apostrophe while CLDR's de_CH says '); the text is not otherwise rewritten.
   Babel hands the rest to `decimal.Decimal`, so its Python-only spellings (exponents, "_", NaN, Infinity)
   are refused here. A negative price is `UNPARSEABLE_PRICE`; zero is a free item and allowed.
   The value is quantized to the currency's minor units.
3. **Order** (`order_totals`). Checked in this order: no lines (`NO_LINES`); every line's currency (its
   error); all lines in one currency (`MIXED_CURRENCIES`); every price (`UNPARSEABLE_PRICE`, currency kept).
   A line's quantity is its `amount` when that is an int >= 0 (0 adds no item and no revenue), else 1 (None,
   negative). Revenue is the exact Decimal sum of quantity x price; items the sum of quantities.

The storefront territory's currency is Babel's for today (Bulgaria's is EUR from 2026-01-01; "лв." still
reads as BGN). Locales, the symbol index and both per-line look-ups are cached, so a warm order costs a
few dictionary hits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache, lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    NumberFormatError,
    get_currency_precision,
    get_group_symbol,
    get_territory_currencies,
    list_currencies,
    parse_decimal,
)

__all__ = [
    "STOREFRONT_COUNTRIES",
    "OrderIssue",
    "OrderTotals",
    "PriceError",
    "currency_code",
    "minor_units",
    "order_totals",
    "parse_price",
    "storefront_locale",
    "warm_currency_data",
]

STOREFRONT_COUNTRIES = (
    "DE", "GB", "ES", "AT", "CH", "NL", "FR", "IT", "SE", "AU", "PT", "MT", "CA", "PL", "RS", "SK", "BG", "CL",
    "DK", "NO", "FI", "IE", "BE", "LU", "CZ", "HU", "RO", "HR", "SI", "GR", "TR", "BR", "MX", "US", "NZ", "ZA",
    "IN", "JP", "CN", "KR", "SG", "HK", "AE", "SA", "IL", "RU", "UA",
)  # fmt: skip
"""Countries of the Glamira storefronts, whose likely locales feed the currency-symbol index."""

_INTERNATIONAL_LOCALE = "en_US"
_INDEX_BASE_LOCALES = ("en", "en_US", "en_GB")
_FALLBACK_PRICE_LOCALES = ("en_US", "de_DE", "fr_FR", "de_CH")
# Group separators that print alike: each class stands for the one of its members the locale uses.
_LOOKALIKE_GROUPS = ("\u0020\u00a0\u202f", "'\u2019\u02bc")
_DECIMAL_ONLY_SPELLINGS = frozenset("eE_")  # accepted by decimal.Decimal, printed by no storefront


class OrderIssue(StrEnum):
    """Why an order has no total (stable codes, never renamed)."""

    NO_LINES = "no_lines"
    UNPARSEABLE_PRICE = "unparseable_price"
    UNKNOWN_CURRENCY = "unknown_currency"
    AMBIGUOUS_CURRENCY = "ambiguous_currency"
    MIXED_CURRENCIES = "mixed_currencies"


@dataclass(frozen=True, slots=True)
class OrderTotals:
    """One order's total: ISO currency, exact revenue, item count, and the issue when it has none."""

    currency: str | None
    revenue: Decimal | None
    items: int
    issue: OrderIssue | None


class PriceError(ValueError):
    """A price or currency that cannot be read; `reason` says which rule refused it."""

    def __init__(self, reason: OrderIssue, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@lru_cache(maxsize=512)
def storefront_locale(country_code: str | None) -> Locale:
    """The likely CLDR locale of a storefront country (und_AU -> en_AU); None or unknown -> en_US."""
    if country_code:
        try:
            return Locale.parse(f"und_{country_code.strip().upper()}")
        except (UnknownLocaleError, ValueError):
            pass
    return Locale.parse(_INTERNATIONAL_LOCALE)


@cache
def _iso_codes() -> frozenset[str]:
    return frozenset(list_currencies())


@lru_cache(maxsize=512)
def _territory_currencies(territory: str | None) -> tuple[str, ...]:
    return tuple(get_territory_currencies(territory)) if territory else ()


def _compact(symbol: str) -> str:
    return "".join(symbol.split())


def _symbol_index(locales: Iterable[Locale]) -> dict[str, frozenset[str]]:
    index: dict[str, set[str]] = {}
    for locale in locales:
        for code, symbol in locale.currency_symbols.items():
            if code in _iso_codes():
                index.setdefault(_compact(symbol), set()).add(code)
    return {symbol: frozenset(codes) for symbol, codes in index.items()}


@lru_cache(maxsize=512)
def _locale_symbols(locale: Locale) -> dict[str, frozenset[str]]:
    return _symbol_index([locale])


@cache
def _known_symbols() -> dict[str, frozenset[str]]:
    locales = [Locale.parse(name) for name in _INDEX_BASE_LOCALES]
    locales += [storefront_locale(country) for country in STOREFRONT_COUNTRIES]
    return _symbol_index(locales)


def _decide(candidates: frozenset[str], territory_currencies: tuple[str, ...]) -> str | None:
    """The one candidate, or the one the storefront territory uses; None when that does not decide."""
    if len(candidates) == 1:
        return next(iter(candidates))
    local = candidates.intersection(territory_currencies)
    return next(iter(local)) if len(local) == 1 else None


@lru_cache(maxsize=4096)
def currency_code(symbol: str | None, country_code: str | None) -> str:
    """The ISO 4217 code of a printed currency symbol on a storefront (rule 1); raises `PriceError`."""
    locale = storefront_locale(country_code)
    territory_currencies = _territory_currencies(locale.territory)
    text = _compact(symbol or "")
    if not text:
        if len(territory_currencies) == 1:
            return territory_currencies[0]
        raise PriceError(OrderIssue.UNKNOWN_CURRENCY, f"no currency and {locale.territory} has no single one")
    if text.upper() in _iso_codes():
        return text.upper()
    for index in (_locale_symbols(locale), _known_symbols()):
        candidates = index.get(text)
        if candidates:
            code = _decide(candidates, territory_currencies)
            if code is not None:
                return code
    if text in _known_symbols():
        raise PriceError(OrderIssue.AMBIGUOUS_CURRENCY, f"{text!r}: {sorted(_known_symbols()[text])}")
    raise PriceError(OrderIssue.UNKNOWN_CURRENCY, f"{text!r} is no currency symbol")


def _price_locales(country_code: str | None) -> tuple[Locale, ...]:
    first = storefront_locale(country_code)
    return (first, *(loc for loc in map(Locale.parse, _FALLBACK_PRICE_LOCALES) if loc != first))


def _read_in(text: str, locale: Locale, minor_units: int) -> Decimal | None:
    """The price as `locale` writes it, or None when Babel refuses it or it has too many fraction digits."""
    group = get_group_symbol(locale)
    for lookalikes in _LOOKALIKE_GROUPS:
        if group in lookalikes:
            text = text.translate(str.maketrans(lookalikes, group * len(lookalikes)))
    try:
        value = parse_decimal(text, locale=locale, strict=True)
    except NumberFormatError:
        return None
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or -exponent > minor_units:  # NaN and Infinity have a str exponent
        return None
    return value


@lru_cache(maxsize=4096)
def parse_price(text: str, country_code: str | None, currency: str) -> Decimal:
    """A locale-formatted price as a Decimal in `currency`'s minor units (rule 2); raises `PriceError`."""
    stripped = text.strip()
    minor_units = get_currency_precision(currency)
    if stripped and not _DECIMAL_ONLY_SPELLINGS.intersection(stripped):
        for locale in _price_locales(country_code):
            value = _read_in(stripped, locale, minor_units)
            if value is not None and value >= 0:
                return value.quantize(Decimal(1).scaleb(-minor_units))
    raise PriceError(OrderIssue.UNPARSEABLE_PRICE, f"{text!r} is no {currency} price on storefront {country_code}")


def warm_currency_data() -> None:
    """Build the symbol index now (about half a second) rather than in the first batch with an order."""
    _known_symbols()
    _price_locales(None)


def minor_units(currency: str) -> int:
    """Digits after the decimal point of an amount in `currency` (ISO 4217 via CLDR: EUR 2, CLP 0, BHD 3)."""
    return int(get_currency_precision(currency))


def _quantity(amount: int | None) -> int:
    if isinstance(amount, int) and not isinstance(amount, bool) and amount >= 0:
        return amount
    return 1


def order_totals(lines: Sequence[tuple[str | None, int | None, str | None]], country_code: str | None) -> OrderTotals:
    """An order's total from its cart lines (price text, quantity, currency symbol), by rule 3."""
    if not lines:
        return OrderTotals(currency=None, revenue=None, items=0, issue=OrderIssue.NO_LINES)
    quantities = [_quantity(amount) for _, amount, _ in lines]
    items = sum(quantities)
    try:
        currencies = {currency_code(symbol, country_code) for _, _, symbol in lines}
    except PriceError as error:
        return OrderTotals(currency=None, revenue=None, items=items, issue=error.reason)
    if len(currencies) > 1:
        return OrderTotals(currency=None, revenue=None, items=items, issue=OrderIssue.MIXED_CURRENCIES)
    currency = currencies.pop()
    try:
        prices = [parse_price(price or "", country_code, currency) for price, _, _ in lines]
    except PriceError as error:
        return OrderTotals(currency=currency, revenue=None, items=items, issue=error.reason)
    revenue = sum((q * p for q, p in zip(quantities, prices, strict=True)), Decimal(0))
    return OrderTotals(currency=currency, revenue=revenue, items=items, issue=None)
