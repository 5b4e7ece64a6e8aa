"""Tests for the user-agent enricher: golden UA strings, bot detection, robustness, caching."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.enrich.useragent import (
    MAX_USER_AGENT_LENGTH,
    UNKNOWN_USER_AGENT,
    UserAgentInfo,
    UserAgentParser,
)

DEVICE_TYPES = {"desktop", "mobile", "tablet", "bot", "other"}


@pytest.fixture(scope="module")
def parser() -> UserAgentParser:
    return UserAgentParser()


# (user agent, browser, browser_major, os, device_type, is_bot) — checked by hand against what the
# UA string says and how ua-parser's regexes name the families.
GOLDEN = [
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Chrome", "124", "Windows", "desktop", False, id="chrome-windows",
    ),
    pytest.param(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
        "Mobile Safari", "17", "iOS", "mobile", False, id="safari-iphone",
    ),
    pytest.param(
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/16.6 Mobile/15E148 Safari/604.1",
        "Mobile Safari", "16", "iOS", "tablet", False, id="safari-ipad",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/125.0.0.0 Mobile Safari/537.36",
        "Chrome Mobile", "125", "Android", "mobile", False, id="chrome-android-phone",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        "Chrome Mobile", "124", "Android", "mobile", False, id="chrome-android-phone-reduced-ua",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Chrome", "124", "Android", "tablet", False, id="chrome-android-tablet",
    ),
    pytest.param(
        "Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0",
        "Firefox Mobile", "125", "Android", "tablet", False, id="firefox-android-tablet",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.1 "
        "like Chrome/124.0.6367.118 Safari/537.36",
        "Amazon Silk", "124", "Android", "tablet", False, id="silk-kindle-fire",
    ),
    pytest.param(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox", "125", "Mac OS X", "desktop", False, id="firefox-mac",
    ),
    pytest.param(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        "Safari", "17", "Mac OS X", "desktop", False, id="safari-mac",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
        "Edge", "124", "Windows", "desktop", False, id="edge-windows",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        "Samsung Internet", "24", "Android", "mobile", False, id="samsung-internet",
    ),
    pytest.param(
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        "Chrome", "124", "Chrome OS", "desktop", False, id="chrome-chromeos",
    ),
    pytest.param(
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Firefox", "125", "Ubuntu", "desktop", False, id="firefox-ubuntu",
    ),
    pytest.param(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 [FBAN/FBIOS;FBAV/460.0.0.38.108;FBBV/577000000;FBDV/iPhone15,2;FBMD/iPhone;"
        "FBSN/iOS;FBSV/17.4;FBSS/3;FBID/phone;FBLC/de_DE;FBOP/5]",
        "Facebook", "460", "iOS", "mobile", False, id="facebook-in-app-browser-is-a-person",
    ),
    pytest.param(
        "Opera/9.80 (Android; Opera Mini/36.2.2254/119.132; U; id) Presto/2.12.423 Version/12.16",
        "Opera Mini", "36", "Android", "mobile", False, id="opera-mini",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 9; CUBOT NOTE 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        "Chrome Mobile", "124", "Android", "mobile", False, id="cubot-phone-is-not-a-bot",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
        "Edge", "18", "Windows", "other", False, id="xbox",
    ),
    pytest.param(
        "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "85.0.4183.93/6.0 TV Safari/537.36",
        "Safari", None, "Tizen", "other", False, id="samsung-smart-tv",
    ),
    pytest.param(
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "FacebookBot", "1", "Other", "bot", True, id="facebookexternalhit",
    ),
    pytest.param(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot", "2", "Other", "bot", True, id="googlebot",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.118 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)",
        "Googlebot", "2", "Android", "bot", True, id="googlebot-smartphone",
    ),
    pytest.param(
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "bingbot", "2", "Other", "bot", True, id="bingbot",
    ),
    pytest.param("curl/8.5.0", "curl", "8", "Other", "bot", True, id="curl"),
    pytest.param("python-requests/2.31.0", "Python Requests", "2", "Other", "bot", True, id="requests"),
    pytest.param("Go-http-client/1.1", "Go-http-client", "1", "Other", "bot", True, id="go-http-client"),
    pytest.param(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 "
        "Safari/537.36",
        "HeadlessChrome", "124", "Linux", "bot", True, id="headless-chrome",
    ),
    pytest.param("WhatsApp/2.23.20.0", "WhatsApp", "2", "Other", "bot", True, id="whatsapp-preview"),
    pytest.param("", "Other", None, "Other", "other", False, id="empty"),
    pytest.param("garbage", "Other", None, "Other", "other", False, id="garbage"),
]


@pytest.mark.parametrize(("user_agent", "browser", "major", "os", "device_type", "is_bot"), GOLDEN)
def test_golden_user_agents(
    parser: UserAgentParser,
    user_agent: str,
    browser: str,
    major: str | None,
    os: str,
    device_type: str,
    is_bot: bool,
) -> None:
    info = parser.parse(user_agent)
    assert dataclasses.replace(info, bot_reason=None) == UserAgentInfo(
        browser=browser, browser_major=major, os=os, device_type=device_type, is_bot=is_bot
    )
    assert (info.bot_reason is not None) == is_bot


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; SomeNewBot/0.1)",
        "Mozilla/5.0 (compatible; example-crawler/2.0)",
        "Mozilla/5.0 (compatible; SiteSpider 1.0)",
        "Mozilla/5.0 (compatible; Link Preview Service)",
        "Mozilla/5.0 (compatible; Thing/1.0; +https://example.com/about-our-robot)",
    ],
)
def test_generic_self_descriptions_flag_a_bot(parser: UserAgentParser, user_agent: str) -> None:
    assert parser.parse(user_agent).is_bot


@pytest.mark.parametrize("user_agent", [None, "", "   ", 42, b"curl/8.5.0", ["Mozilla/5.0"]])
def test_missing_or_non_text_user_agent_is_unknown_not_a_bot(
    parser: UserAgentParser, user_agent: object
) -> None:
    assert parser.parse(user_agent) is UNKNOWN_USER_AGENT  # type: ignore[arg-type]
    assert UNKNOWN_USER_AGENT.is_bot is False


def test_lone_surrogates_do_not_reach_the_rust_backend_as_an_error(parser: UserAgentParser) -> None:
    info = parser.parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) \ud800 Chrome/124.0.0.0 Safari/537.36")
    assert info.browser == "Chrome"
    assert info.os == "Windows"


def test_oversized_user_agent_is_cut_before_parsing(parser: UserAgentParser) -> None:
    chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 "
    huge = chrome + "x" * (50 * MAX_USER_AGENT_LENGTH)
    assert parser.parse(huge).browser == "Chrome"


def test_repeated_user_agents_come_from_the_cache() -> None:
    parser = UserAgentParser(cache_size=16)
    ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0"
    first = parser.parse(ua)
    assert parser.parse(ua) is first
    assert parser.cache_info() == {"hits": 1, "misses": 1, "size": 1, "max_size": 16}


def test_cache_is_bounded() -> None:
    parser = UserAgentParser(cache_size=8)
    for n in range(100):
        parser.parse(f"Mozilla/5.0 (Windows NT 10.0) Chrome/{n}.0")
    assert parser.cache_info()["size"] == 8


def test_parser_pickles_for_spark_executors(parser: UserAgentParser) -> None:
    clone = pickle.loads(pickle.dumps(parser))
    ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
    assert clone.parse(ua) == parser.parse(ua)


def test_uses_the_rust_backend(parser: UserAgentParser) -> None:
    assert "ua-parser-rs" in parser.backend


@settings(max_examples=300, deadline=None)
@given(user_agent=st.text(max_size=400))
def test_arbitrary_text_never_raises(parser: UserAgentParser, user_agent: str) -> None:
    info = parser.parse(user_agent)
    assert info.device_type in DEVICE_TYPES
    assert info.is_bot == (info.device_type == "bot")
    assert info.browser and info.os
