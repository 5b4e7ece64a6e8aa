"""Tests for the bot rule against the pinned data: reasons, in-app browsers, property tests of the matcher."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.enrich.bots import (
    DROPPED_PATTERNS,
    PULSE_BOT_TOKENS,
    BotMatcher,
    BotPattern,
    data_versions,
    default_bot_matcher,
    load_bot_patterns,
    required_literals,
    top_level_branches,
)
from pulse.enrich.useragent import UserAgentParser

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bots"


def _isbot(name: str) -> list[str]:
    data = yaml.safe_load((FIXTURES / f"isbot-{name}.yml").read_text("utf-8"))
    return [ua for uas in data.values() for ua in uas if isinstance(ua, str) and ua.strip()]


@pytest.fixture(scope="module")
def parser() -> UserAgentParser:
    return UserAgentParser()


# Real people: in-app browsers and phone brands whose names look like robots. None may be flagged.
PEOPLE = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "[FBAN/FBIOS;FBAV/458.0.0.37.95;FBBV/574848186;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4;FBSS/3;FBCR/;"
    "FBID/phone;FBLC/en_US;FBOP/80]",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/122.0.6261.105 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/454.0.0.44.108;]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "Instagram 320.0.2.29.97 (iPhone14,5; iOS 17_3; en_US; en; scale=3.00; 1170x2532; 569522340)",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 Instagram 312.0.0.32.112 Android",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "Safari Line/13.16.0",
    "Mozilla/5.0 (Linux; Android 12; M2102J20SG) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
    "Chrome/116.0.0.0 Mobile Safari/537.36 MMWEBID/1234 MicroMessenger/8.0.42.2460(0x28002A58) WeChat/arm64 "
    "Weixin NetType/WIFI Language/en ABI/arm64",
    "Mozilla/5.0 (Linux; Android 10; CUBOT NOTE 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; CUBOT KINGKONG 5 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; ViewSonic V500) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.230 Mobile "
    "Safari/537.36 TikTok 32.5.3",
    # media players and app SDKs that Matomo files as libraries (DROPPED_PATTERNS): people behind them
    "AppleCoreMedia/1.0.0.18J383 (Apple TV; U; CPU OS 14_0 like Mac OS X; en_us)",
    "PS4Application libhttp/1.000 (PS4) CoreMedia libhttp/6.72 (PlayStation 4)",
    "Darwin/25.6.0 (Watch7,8; watchOS 26.6) MatomoTrackerSDK/7.8.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "Snapchat/12.60.0.41 (like Safari/8616.2.9.10.8, panda)",
]


@pytest.mark.parametrize("user_agent", PEOPLE)
def test_in_app_browsers_and_phone_brands_are_people(parser: UserAgentParser, user_agent: str) -> None:
    info = parser.parse(user_agent)
    assert (info.is_bot, info.bot_reason) == (False, None)


# (user agent, reason): one per source, the names as each source spells them.
REASONS = [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler-user-agents:Googlebot"),
    ("ApacheBench/2.3", "matomo:ApacheBench"),
    ("HTTrack 3.0", "crawler-user-agents:HTTrack"),
    ("Amazon-Route53-Health-Check-Service (ref 1b3c/Route53)", "matomo:Amazon Route53 Health Check"),
    ("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)", "matomo:Sogou Spider"),
    ("whatsapp/2.2123.8 n", "ua-parser:Spider"),
    ("Java/17.0.2", "matomo-library:Java"),
    ("undici", "matomo-library:undici"),
    ("GuzzleHttp/7", "matomo-library:Guzzle (PHP HTTP Client)"),
    ("NetNewsWire/4.0.0 (Mac OS X; http://netnewswireapp.com/mac/; gzip-happy)", "matomo-feed-reader:NetNewsWire"),
    ("Mozilla/5.0 (compatible; Link Preview Service)", "pulse:preview"),
]


@pytest.mark.parametrize(("user_agent", "reason"), REASONS)
def test_the_reason_names_the_source_and_the_rule(parser: UserAgentParser, user_agent: str, reason: str) -> None:
    info = parser.parse(user_agent)
    assert (info.is_bot, info.device_type, info.bot_reason) == (True, "bot", reason)


def test_the_issue_misses_are_caught(parser: UserAgentParser) -> None:
    for user_agent in ("HTTrack 3.0", "GigablastOpenSource/1.0", "panscient.com"):
        assert parser.parse(user_agent).is_bot, user_agent


@pytest.mark.parametrize("name", sorted(PULSE_BOT_TOKENS))
def test_each_pulse_rule_is_one_the_maintained_lists_miss(name: str) -> None:
    examples = {"preview": "Link Preview Service", "+http": "Thing/1.0 (+https://example.org)"}
    without_pulse = BotMatcher([p for p in load_bot_patterns() if p.source != "pulse"])
    assert without_pulse.match(examples[name]) is None
    assert default_bot_matcher().match(examples[name]) == BotPattern("pulse", name, PULSE_BOT_TOKENS[name])


def test_dropped_patterns_exist_in_the_pinned_data_and_are_left_out() -> None:
    """A dropped pattern that its source removed is dead weight: the list must shrink with the data."""
    everything = {p.reason for p in load_bot_patterns(keep_dropped=True)}
    kept = {p.reason for p in load_bot_patterns()}
    assert set(DROPPED_PATTERNS) <= everything
    assert not set(DROPPED_PATTERNS) & kept


def test_every_pattern_has_a_prefilter_literal() -> None:
    assert default_bot_matcher().unfiltered_count == 0


def test_data_versions_are_pinned() -> None:
    assert data_versions()["crawler-user-agents"] == "1.67.0"
    assert data_versions()["matomo-device-detector"] == "6.5.1"


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"Googlebot\/", {"googlebot/"}),
        (r"(360Spider(?:-Image|-Video)?)", {"360spider"}),
        (r"[a-z]+bot|crawl", {"bot", "crawl"}),
        (r"-(?:AI|Extended|User)/", {"-ai/", "-extended/", "-user/"}),
        (r"x+", None),
        (r"a|bc", None),
    ],
)
def test_required_literals(pattern: str, literals: set[str] | None) -> None:
    assert required_literals(pattern) == (frozenset(literals) if literals is not None else None)


def test_top_level_branches_respect_groups_classes_and_escapes() -> None:
    assert top_level_branches(r"a|b(c|d)|[|]|\||x") == ["a", "b(c|d)", "[|]", r"\|", "x"]


def test_pinned_isbot_browsers_are_mostly_people(parser: UserAgentParser) -> None:
    """isbot's browser fixture (555 agents, many odd ones): flagged ones are the known disagreements."""
    browsers = _isbot("browsers")
    flagged = [ua for ua in browsers if parser.parse(ua).is_bot]
    assert len(browsers) > 500
    assert len(flagged) / len(browsers) < 0.05


# Tokens that sources match anywhere (curl and python-requests are anchored at the start, as they are sent).
_BOT_TOKENS = st.sampled_from(["Googlebot/2.1", "AhrefsBot/7.0", "bingbot/2.0", "SemrushBot/7~bl", "GPTBot/1.2",
                               "YandexBot/3.0", "Applebot/0.1", "HeadlessChrome/120.0.0.0"])
_BROWSERS = st.sampled_from(PEOPLE[:6])


@settings(max_examples=150, deadline=None)
@given(browser=_BROWSERS, token=_BOT_TOKENS, at=st.integers(min_value=0, max_value=400))
def test_a_bot_token_anywhere_in_a_browser_ua_is_flagged(browser: str, token: str, at: int) -> None:
    cut = min(at, len(browser))
    while cut < len(browser) and browser[cut] not in " ;()":
        cut += 1  # insert between words, as a real agent would carry it
    assert default_bot_matcher().match(f"{browser[:cut]} {token} {browser[cut:]}") is not None


@settings(max_examples=150, deadline=None)
@given(ua=st.sampled_from(_isbot("browsers")), suffix=st.sampled_from(["", " en-US", " (KHTML, like Gecko)"]))
def test_matching_never_raises_and_is_deterministic(ua: str, suffix: str) -> None:
    matcher = default_bot_matcher()
    assert matcher.match(ua + suffix) == matcher.match(ua + suffix)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_matches_or_not_without_raising(text: str) -> None:
    default_bot_matcher().match(text)
