"""Tests for the page URL enricher: product fallback, options, UTM fields and click ids."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse.enrich.url import EMPTY_PAGE_URL, MAX_OPTIONS, MAX_VALUE_LENGTH, PageUrl, parse_page_url


def page(**fields: object) -> PageUrl:
    """An expected PageUrl: EMPTY_PAGE_URL with the given fields."""
    return replace(EMPTY_PAGE_URL, **fields)  # type: ignore[arg-type]


GOLDEN = [
    # the sample events' current_url values
    (
        "https://www.glamira.cl/glamira-anillo-saphira-skug100335.html?alloy=white-375&diamond=sapphire"
        "&stone2=diamond-Brillant&itm_source=recommendation&itm_medium=sorting",
        page(
            host="www.glamira.cl",
            path="/glamira-anillo-saphira-skug100335.html",
            product_slug="glamira-anillo-saphira-skug100335",
            options=(("alloy", "white-375"), ("diamond", "sapphire"), ("stone2", "diamond-Brillant")),
        ),
    ),
    (
        "https://www.glamira.de/glamira-ring-example.html?alloy=red-585",
        page(
            host="www.glamira.de",
            path="/glamira-ring-example.html",
            product_slug="glamira-ring-example",
            options=(("alloy", "red-585"),),
        ),
    ),
    (
        "https://www.glamira.co.uk/diamond-earrings/?gclid=EXAMPLE&order=bestsellers",
        page(host="www.glamira.co.uk", path="/diamond-earrings/", click_id_type="gclid", click_id="EXAMPLE"),
    ),
    (
        "https://www.glamira.com.au/checkout/onepage/success/",
        page(host="www.glamira.com.au", path="/checkout/onepage/success/"),
    ),
    (
        "https://www.glamira.com/womens-ring-example.html?fbclid=EXAMPLE",
        page(
            host="www.glamira.com",
            path="/womens-ring-example.html",
            product_slug="womens-ring-example",
            click_id_type="fbclid",
            click_id="EXAMPLE",
        ),
    ),
    # Magento product paths and query ids
    (
        "https://www.glamira.de/catalog/product/view/id/123",
        page(host="www.glamira.de", path="/catalog/product/view/id/123", product_id="123"),
    ),
    (
        "https://www.glamira.de/catalog/product/view/id/96672/s/ring-saphira/category/4/",
        page(
            host="www.glamira.de",
            path="/catalog/product/view/id/96672/s/ring-saphira/category/4/",
            product_id="96672",
        ),
    ),
    (
        "https://www.glamira.de/catalog/product/view/id/abc",
        page(host="www.glamira.de", path="/catalog/product/view/id/abc"),
    ),
    (
        "https://www.glamira.fr/bague-x.html?product_id=110474&alloy=yellow-750",
        page(
            host="www.glamira.fr",
            path="/bague-x.html",
            product_id="110474",
            product_slug="bague-x",
            options=(("alloy", "yellow-750"),),
        ),
    ),
    (
        "https://www.glamira.fr/bague-x.html?id=42",
        page(host="www.glamira.fr", path="/bague-x.html", product_id="42", product_slug="bague-x"),
    ),
    (
        "https://www.glamira.de/catalog/product/view?id=7",
        page(host="www.glamira.de", path="/catalog/product/view", product_id="7"),
    ),
    # id= on a page that is not a product page is not a product id
    (
        "https://www.glamira.de/verlobungsringe/?id=42",
        page(host="www.glamira.de", path="/verlobungsringe/"),
    ),
    # only digit strings count
    (
        "https://www.glamira.fr/bague-x.html?product_id=12a&id=-5",
        page(host="www.glamira.fr", path="/bague-x.html", product_slug="bague-x"),
    ),
    (
        "https://www.glamira.fr/x.html?product_id=%C2%B2",
        page(host="www.glamira.fr", path="/x.html", product_slug="x"),
    ),
    # UTM fields, click ids, tracking params that are not options
    (
        "https://www.glamira.de/ringe/?utm_source=Newsletter&utm_medium=email&utm_campaign=summer+sale"
        "&utm_term=ring&utm_content=hero&alloy=white-585&_ga=2.1.2.3&p=2&limit=36&dir=asc&mode=grid"
        "&order=price&itm_campaign=x&gclsrc=aw.ds&srsltid=abc",
        page(
            host="www.glamira.de",
            path="/ringe/",
            options=(("alloy", "white-585"),),
            utm_source="Newsletter",
            utm_medium="email",
            utm_campaign="summer sale",
            utm_term="ring",
            utm_content="hero",
        ),
    ),
    (
        "https://www.glamira.de/?UTM_SOURCE=google&Utm_Medium=CPC&MSCLKID=m1&gclid=g1",
        page(
            host="www.glamira.de",
            path="/",
            utm_source="google",
            utm_medium="CPC",
            click_id_type="msclkid",
            click_id="m1",
        ),
    ),
    *[
        (
            f"https://www.glamira.de/x/?{name}=ID1",
            page(host="www.glamira.de", path="/x/", click_id_type=name, click_id="ID1"),
        )
        for name in ("gclid", "fbclid", "msclkid", "dclid", "ttclid", "yclid", "wbraid", "gbraid")
    ],
    # blank values and repeated utm keys: first non-blank wins, blank options dropped
    (
        "https://www.glamira.de/x.html?utm_source=&utm_source=a&utm_source=b&alloy=&diamond=ruby",
        page(
            host="www.glamira.de",
            path="/x.html",
            product_slug="x",
            utm_source="a",
            options=(("diamond", "ruby"),),
        ),
    ),
    # percent-encoded slug and option values
    (
        "https://www.glamira.es/anillo%20especial.html?stone1=diamond%2Dred&Alloy=Red+585",
        page(
            host="www.glamira.es",
            path="/anillo%20especial.html",
            product_slug="anillo especial",
            options=(("stone1", "diamond-red"), ("alloy", "Red 585")),
        ),
    ),
    # fragments are ignored; a directory-like path has no slug
    (
        "https://www.glamira.de/ringe.html#reviews",
        page(host="www.glamira.de", path="/ringe.html", product_slug="ringe"),
    ),
    ("https://www.glamira.de/ringe.html/", page(host="www.glamira.de", path="/ringe.html/")),
    ("https://www.glamira.de/x.HTML", page(host="www.glamira.de", path="/x.HTML", product_slug="x")),
    # normalisation of host; empty path becomes /
    ("HTTPS://WWW.GLAMIRA.COM.:443", page(host="www.glamira.com", path="/")),
    ("www.glamira.de/ringe/", page(host="www.glamira.de", path="/ringe/")),
    (
        "http://[::1]:8080/a.html?x=1",
        page(host="::1", path="/a.html", product_slug="a", options=(("x", "1"),)),
    ),
    # junk
    (None, EMPTY_PAGE_URL),
    ("", EMPTY_PAGE_URL),
    ("   ", EMPTY_PAGE_URL),
    ("mailto:a@glamira.de", EMPTY_PAGE_URL),
    ("javascript:alert(1)", EMPTY_PAGE_URL),
    ("ftp://glamira.de/x.html", EMPTY_PAGE_URL),
    ("http://[::1", EMPTY_PAGE_URL),
]


@pytest.mark.parametrize(("url", "expected"), GOLDEN)
def test_parse_page_url(url: str | None, expected: PageUrl) -> None:
    assert parse_page_url(url) == expected


def test_option_values_are_capped() -> None:
    result = parse_page_url("https://www.glamira.de/x.html?engraving=" + "a" * 500 + "&utm_source=" + "b" * 500)
    assert result.options == (("engraving", "a" * MAX_VALUE_LENGTH),)
    assert result.utm_source == "b" * MAX_VALUE_LENGTH


def test_option_count_is_capped() -> None:
    query = "&".join(f"o{i}=v{i}" for i in range(100))
    result = parse_page_url("https://www.glamira.de/x.html?" + query)
    assert len(result.options) == MAX_OPTIONS
    assert result.options[0] == ("o0", "v0")


def test_only_the_first_query_fields_are_read() -> None:
    query = "&".join(f"p{i}=1" for i in range(5000)) + "&utm_source=late"
    result = parse_page_url("https://www.glamira.de/x.html?" + query)
    assert result.host == "www.glamira.de"
    assert result.utm_source is None


@given(st.text())
def test_parse_page_url_never_raises(text: str) -> None:
    result = parse_page_url(text)
    assert isinstance(result, PageUrl)
    assert result.product_id is None or result.product_id.isascii() and result.product_id.isdigit()
    assert all(len(value) <= MAX_VALUE_LENGTH for _, value in result.options)


@given(st.text(), st.text())
def test_parse_page_url_never_raises_on_url_like_text(path: str, query: str) -> None:
    assert isinstance(parse_page_url(f"https://www.glamira.de/{path}?{query}"), PageUrl)
    assert isinstance(parse_page_url(f"https://www.glamira.de/catalog/product/view/id/{path}"), PageUrl)
