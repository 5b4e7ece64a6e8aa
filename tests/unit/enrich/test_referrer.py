"""Tests for the referrer enricher: traffic source classes and referrer domains."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse.enrich.domain import StorefrontMap
from pulse.enrich.referrer import Referrer, ReferrerClass, classify_referrer
from pulse.enrich.url import parse_page_url

D = ReferrerClass.DIRECT
I = ReferrerClass.INTERNAL  # noqa: E741
S = ReferrerClass.SEARCH
SO = ReferrerClass.SOCIAL
E = ReferrerClass.EMAIL
P = ReferrerClass.PAID
O = ReferrerClass.OTHER  # noqa: E741

# (referrer_url, expected domain, expected class), no page URL
REFERRER_CASES = [
    (None, None, D),
    ("", None, D),
    ("   ", None, D),
    # internal: any glamira storefront host, subdomains, dev and unknown storefronts too
    ("https://www.glamira.de/verlobungsringe/", "glamira.de", I),
    ("https://www.glamira.com.au/customcheckout/onepage/review/", "glamira.com.au", I),
    ("https://glamira.co.uk/", "glamira.co.uk", I),
    ("https://WWW.GLAMIRA.COM./", "glamira.com", I),
    ("https://m.glamira.fr:443/bagues", "m.glamira.fr", I),
    ("https://dev1.glamira.de/", "dev1.glamira.de", I),
    ("https://www.glamira.xyz/", "glamira.xyz", I),
    ("https://www.paypal.com/checkoutnow?token=x", "paypal.com", O),
    ("https://glamira.example.com/", "glamira.example.com", O),
    # search
    ("https://www.google.com/", "google.com", S),
    ("https://www.google.de/", "google.de", S),
    ("https://www.google.co.uk/", "google.co.uk", S),
    ("https://www.google.com.au/", "google.com.au", S),
    ("https://www.google.cl/", "google.cl", S),
    ("https://news.google.com/", "news.google.com", S),
    ("android-app://com.google.android.googlequicksearchbox/", None, S),
    ("https://www.bing.com/search?q=glamira", "bing.com", S),
    ("https://cn.bing.com/", "cn.bing.com", S),
    ("https://search.yahoo.com/", "search.yahoo.com", S),
    ("https://de.search.yahoo.com/", "de.search.yahoo.com", S),
    ("https://r.search.yahoo.com/_ylt=x", "r.search.yahoo.com", S),
    ("https://search.yahoo.co.jp/", "search.yahoo.co.jp", S),
    ("https://duckduckgo.com/", "duckduckgo.com", S),
    ("https://yandex.ru/search/", "yandex.ru", S),
    ("https://yandex.com.tr/", "yandex.com.tr", S),
    ("https://www.baidu.com/", "baidu.com", S),
    ("https://www.ecosia.org/", "ecosia.org", S),
    ("https://www.qwant.com/", "qwant.com", S),
    ("https://search.naver.com/", "search.naver.com", S),
    ("https://search.seznam.cz/", "search.seznam.cz", S),
    ("https://www.startpage.com/", "startpage.com", S),
    ("https://www.ask.com/", "ask.com", S),
    # not search: look-alikes and non-search brands
    ("https://notgoogle.com/", "notgoogle.com", O),
    ("https://google.example.com/", "google.example.com", O),
    ("https://www.google-bewertungen.de/", "google-bewertungen.de", O),
    ("https://bing.com.evil.org/", "bing.com.evil.org", O),
    ("https://news.yahoo.com/", "news.yahoo.com", O),
    ("https://accounts.google.com/o/oauth2/auth", "accounts.google.com", O),
    ("https://play.google.com/store", "play.google.com", O),
    # social
    ("https://www.facebook.com/", "facebook.com", SO),
    ("https://l.facebook.com/l.php?u=x", "l.facebook.com", SO),
    ("https://m.facebook.com/", "m.facebook.com", SO),
    ("https://lm.facebook.com/", "lm.facebook.com", SO),
    ("https://www.instagram.com/", "instagram.com", SO),
    ("https://l.instagram.com/?u=x", "l.instagram.com", SO),
    ("https://www.pinterest.com/", "pinterest.com", SO),
    ("https://www.pinterest.de/", "pinterest.de", SO),
    ("https://www.pinterest.co.uk/", "pinterest.co.uk", SO),
    ("https://www.pinterest.com.au/", "pinterest.com.au", SO),
    ("https://t.co/abc", "t.co", SO),
    ("https://twitter.com/", "twitter.com", SO),
    ("https://x.com/glamira", "x.com", SO),
    ("https://www.linkedin.com/", "linkedin.com", SO),
    ("https://www.youtube.com/", "youtube.com", SO),
    ("https://m.youtube.com/", "m.youtube.com", SO),
    ("https://www.tiktok.com/", "tiktok.com", SO),
    ("https://www.reddit.com/", "reddit.com", SO),
    ("https://www.snapchat.com/", "snapchat.com", SO),
    ("https://web.whatsapp.com/", "web.whatsapp.com", SO),
    ("android-app://com.facebook.katana/", None, SO),
    ("android-app://com.instagram.android", None, SO),
    ("https://notx.com/", "notx.com", O),
    ("https://t.com/", "t.com", O),
    # email (webmail)
    ("https://mail.google.com/", "mail.google.com", E),
    ("https://outlook.live.com/mail/0/", "outlook.live.com", E),
    ("https://mail.yahoo.com/", "mail.yahoo.com", E),
    ("https://mail.yahoo.co.jp/", "mail.yahoo.co.jp", E),
    ("https://webmail.provider.nl/", "webmail.provider.nl", E),
    ("https://mail.example.org/", "mail.example.org", E),
    ("https://navigator.gmx.net/mail", "navigator.gmx.net", E),
    ("android-app://com.google.android.gm/", None, E),
    # paid by referrer host: ad click redirectors
    ("https://www.googleadservices.com/pagead/aclk", "googleadservices.com", P),
    ("https://ad.doubleclick.net/", "ad.doubleclick.net", P),
    # other and junk
    ("https://www.example.com/blog/post", "example.com", O),
    ("http://203.0.113.5/", "203.0.113.5", O),
    ("http://[2001:db8::1]:8080/", "2001:db8::1", O),
    ("https://user:pw@www.idealo.de:8443/", "idealo.de", O),
    ("www.example.org/path", "example.org", O),
    ("android-app://com.unknown.app/", None, O),
    ("about:blank", None, O),
    ("not a url", None, O),
    ("http://[::1", None, O),
]


@pytest.mark.parametrize(("referrer", "domain", "expected"), REFERRER_CASES)
def test_classify_referrer(referrer: str | None, domain: str | None, expected: ReferrerClass) -> None:
    result = classify_referrer(referrer)
    assert result.referrer_class is expected
    assert result.domain == domain
    assert result.url == ((referrer.strip() or None) if referrer is not None else None)


# (referrer_url, page url, expected class): evidence on the page URL
PAGE_CASES = [
    # paid wins over search, social, internal, and no referrer at all
    ("https://www.google.com/", "https://www.glamira.de/?gclid=abc", P),
    ("https://www.bing.com/", "https://www.glamira.de/?msclkid=abc", P),
    ("https://www.facebook.com/", "https://www.glamira.de/?utm_medium=cpc", P),
    ("https://www.glamira.de/", "https://www.glamira.de/?gbraid=x", P),
    ("", "https://www.glamira.co.uk/diamond-earrings/?gclid=EXAMPLE&order=bestsellers", P),
    (None, "https://www.glamira.de/?wbraid=x", P),
    ("https://www.google.com/", "https://www.glamira.de/?utm_medium=PPC", P),
    ("https://www.google.com/", "https://www.glamira.de/?utm_medium=paidsearch", P),
    ("https://www.google.com/", "https://www.glamira.de/?utm_medium=Paid_Social", P),
    ("https://www.example.com/", "https://www.glamira.de/?utm_medium=display", P),
    ("https://www.example.com/", "https://www.glamira.de/?utm_medium=cpm", P),
    ("https://yandex.ru/", "https://www.glamira.de/?yclid=1", P),
    ("https://www.tiktok.com/", "https://www.glamira.de/?ttclid=1", P),
    ("https://www.example.com/", "https://www.glamira.de/?dclid=1", P),
    # fbclid rides on organic Facebook links too: it alone is not paid
    ("https://www.facebook.com/", "https://www.glamira.com/womens-ring-example.html?fbclid=EXAMPLE", SO),
    ("", "https://www.glamira.com/?fbclid=EXAMPLE", D),
    # email by campaign medium, even without a referrer (mail clients send none)
    ("", "https://www.glamira.de/?utm_source=nl&utm_medium=email", E),
    ("https://www.google.com/", "https://www.glamira.de/?utm_medium=Newsletter", E),
    ("https://www.glamira.de/", "https://www.glamira.de/?utm_medium=e-mail", E),
    # other media do not change the referrer's class
    ("https://www.google.com/", "https://www.glamira.de/?utm_medium=organic", S),
    ("https://www.google.com/", "https://www.glamira.de/?utm_medium=", S),
    ("", "https://www.glamira.de/ringe.html", D),
    ("https://www.instagram.com/", "not a url", SO),
]


@pytest.mark.parametrize(("referrer", "page_url", "expected"), PAGE_CASES)
def test_classify_with_page(referrer: str | None, page_url: str, expected: ReferrerClass) -> None:
    assert classify_referrer(referrer, parse_page_url(page_url)).referrer_class is expected


def test_sample_events() -> None:
    # (current_url, referrer_url) of each event in shared/samples/synthetic_events.jsonl
    samples = [
        (
            "https://www.glamira.cl/glamira-anillo-saphira-skug100335.html?alloy=white-375&diamond=sapphire"
            "&stone2=diamond-Brillant&itm_source=recommendation&itm_medium=sorting",
            "https://www.google.com/",
        ),
        (
            "https://www.glamira.de/glamira-ring-example.html?alloy=red-585",
            "https://www.glamira.de/verlobungsringe/",
        ),
        ("https://www.glamira.co.uk/diamond-earrings/?gclid=EXAMPLE&order=bestsellers", ""),
        (
            "https://www.glamira.com.au/checkout/onepage/success/",
            "https://www.glamira.com.au/customcheckout/onepage/review/",
        ),
        ("https://www.glamira.com/womens-ring-example.html?fbclid=EXAMPLE", "https://www.facebook.com/"),
    ]
    results = [classify_referrer(ref, parse_page_url(url)) for url, ref in samples]
    assert results == [
        Referrer("https://www.google.com/", "google.com", S),
        Referrer("https://www.glamira.de/verlobungsringe/", "glamira.de", I),
        Referrer(None, None, P),
        Referrer("https://www.glamira.com.au/customcheckout/onepage/review/", "glamira.com.au", I),
        Referrer("https://www.facebook.com/", "facebook.com", SO),
    ]


def test_url_is_stripped() -> None:
    assert classify_referrer("  https://www.google.de/  \n") == Referrer("https://www.google.de/", "google.de", S)


def test_injected_storefront_map(tmp_path: Path) -> None:
    path = tmp_path / "stores.csv"
    path.write_text("suffix,country_code,country_name\nde,DE,Germany\n", "utf-8")
    storefronts = StorefrontMap.load(path)
    assert classify_referrer("https://www.glamira.de/", storefronts=storefronts).referrer_class is I
    # still a glamira host (unknown storefront) under a map without fr
    assert classify_referrer("https://www.glamira.fr/", storefronts=storefronts).referrer_class is I


def test_class_values_are_stable() -> None:
    assert [c.value for c in ReferrerClass] == [
        "direct",
        "internal",
        "search",
        "social",
        "email",
        "paid",
        "other",
    ]


@given(st.text())
def test_classify_never_raises(text: str) -> None:
    result = classify_referrer(text)
    assert isinstance(result.referrer_class, ReferrerClass)
    assert (result.url is None) == (not text.strip())


@given(st.text(), st.text())
def test_classify_with_page_never_raises(referrer: str, page_url: str) -> None:
    result = classify_referrer("https://" + referrer, parse_page_url("https://www.glamira.de/?" + page_url))
    assert isinstance(result.referrer_class, ReferrerClass)


# Against the pinned referer-parser database (src/pulse/enrich/data/referers.yml): hosts pulse's typed lists
# read as "other" before issue 14, and search terms from the parameter the database names per engine.
@pytest.mark.parametrize(
    ("url", "expected", "term"),
    [
        ("https://weibo.com/u/123", "social", None),
        ("http://t.cn/abc", "social", None),
        ("https://m.vk.com/wall", "social", None),
        ("https://www.google.de/search?q=verlobungsring+gold", "search", "verlobungsring gold"),
        ("https://yandex.ru/search/?text=%D0%BA%D0%BE%D0%BB%D1%8C%D1%86%D0%BE", "search", "кольцо"),
        ("https://search.yahoo.com/search?p=rings", "search", "rings"),
        ("https://www.bing.com/", "search", None),
        ("https://mail.yahoo.com/d/folders/1", "email", None),
        ("https://play.google.com/store", "other", None),
    ],
)
def test_referrer_database_classes_and_terms(url: str, expected: str, term: str | None) -> None:
    referrer = classify_referrer(url)
    assert (str(referrer.referrer_class), referrer.search_term) == (expected, term)


def test_referrer_database_lookup_walks_up_to_the_listed_domain() -> None:
    from pulse.enrich.referer_db import default_referer_database

    database = default_referer_database()
    known = database.lookup("news.weibo.com")
    assert known is not None and known.medium == "social"
    assert database.lookup("example.invalid") is None
    assert len(database.domains) > 2000
