"""User-agent enricher: browser, OS, device type and bot flag from a User-Agent string."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import ua_parser
from ua_parser import Domain

from pulse.enrich.bots import UA_PARSER_SPIDER, BotMatcher, default_bot_matcher

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "MAX_FAMILY_LENGTH",
    "MAX_USER_AGENT_LENGTH",
    "UNKNOWN_USER_AGENT",
    "UserAgentInfo",
    "UserAgentParser",
]

DEFAULT_CACHE_SIZE = 65536

# Real user agents stay well under 512 characters (in-app browsers are the longest). Anything
# longer is cut before parsing, which bounds both regex time and the memory a cache entry holds.
MAX_USER_AGENT_LENGTH = 1024
# ua-parser's families are regex captures, so a hostile agent can make one a long substring of itself.
# Real families are short ("Chrome Mobile WebView", "Samsung Internet"); longer ones are cut to this.
MAX_FAMILY_LENGTH = 64

# Televisions, consoles, watches and media players: real people, but neither desktop nor mobile.
_OTHER_DEVICE_TOKENS: tuple[str, ...] = (
    "smart-tv", "smarttv", "googletv", "android tv", "appletv", "apple tv", "crkey", "hbbtv",
    "netcast", "web0s", "bravia", "roku", "playstation", "xbox", "nintendo", "watch os", "wearos",
)
_MOBILE_TOKENS: tuple[str, ...] = ("mobi", "iphone", "ipod", "opera mini")
_OTHER_OS_FAMILIES = frozenset(
    {"tvOS", "ATV OS X", "WatchOS", "webOS", "FireHbbTV", "Chromecast Android", "Chromecast Fuchsia",
     "Chromecast Linux", "Chromecast SmartSpeaker"}
)
_MOBILE_OS_FAMILIES = frozenset(
    {"iOS", "Windows Phone", "Windows Mobile", "BlackBerry OS", "KaiOS", "Firefox OS", "Symbian OS",
     "Symbian^3", "Symbian^3 Anna", "Symbian^3 Belle", "Nokia Series 40", "Nokia Series 30 Plus",
     "Brew MP", "Sailfish", "Ubuntu Touch"}
)
_DESKTOP_OS_FAMILIES = frozenset(
    {"Windows", "Mac OS X", "Mac OS", "Linux", "Chrome OS", "Ubuntu", "Kubuntu", "Xubuntu", "Lubuntu",
     "Debian", "Fedora", "Red Hat", "CentOS", "SUSE", "openSUSE", "Mint", "Linux Mint", "Gentoo",
     "Arch Linux", "Mandriva", "Slackware", "FreeBSD", "OpenBSD", "NetBSD", "Solaris"}
)


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    """What a User-Agent string says about the visitor's software and device."""

    browser: str
    """Browser family as ua-parser names it ("Chrome", "Mobile Safari", ...); "Other" if unknown."""
    browser_major: str | None
    os: str
    """OS family as ua-parser names it ("Windows", "iOS", "Mac OS X", ...); "Other" if unknown."""
    device_type: str
    """One of "desktop", "mobile", "tablet", "bot", "other"."""
    is_bot: bool
    bot_reason: str | None = None
    """Why it is a bot, `source:name` (`crawler-user-agents:Googlebot`, `matomo:Semrush`,
    `ua-parser:Spider`, `matomo-library:undici`); None for people."""


# A missing User-Agent is not evidence of a bot: the tracker may simply not have sent the header
# field (and the spec allows null). Such events count as unknown, not as robots.
UNKNOWN_USER_AGENT = UserAgentInfo(browser="Other", browser_major=None, os="Other", device_type="other",
                                   is_bot=False)


def _contains_any(text: str, tokens: tuple[str, ...]) -> bool:
    for token in tokens:
        if token in text:
            return True
    return False


def _device_type(ua_lower: str, os_family: str, device: ua_parser.Device | None) -> str:
    """Classify the device of a non-bot user agent."""
    if os_family in _OTHER_OS_FAMILIES or _contains_any(ua_lower, _OTHER_DEVICE_TOKENS):
        return "other"
    family = device.family if device else ""
    if os_family in _DESKTOP_OS_FAMILIES or family == "Mac":
        # Also iPads in their default "desktop site" mode: they send a Mac UA and cannot be told apart.
        return "desktop"
    brand = (device.brand or "") if device else ""
    model = (device.model or "") if device else ""
    if (
        "ipad" in ua_lower
        or "tablet" in ua_lower
        or "Tablet" in brand
        or model == "Tablet"
        or family == "Kindle"
        or os_family == "BlackBerry Tablet OS"
    ):
        return "tablet"
    if (
        _contains_any(ua_lower, _MOBILE_TOKENS)
        or os_family in _MOBILE_OS_FAMILIES
        or model in ("Smartphone", "Feature Phone")
    ):
        return "mobile"
    if os_family == "Android":
        # Android tablets omit the "Mobile" token that Android phones send (Google's guidance).
        return "tablet"
    return "other"


class UserAgentParser:
    """Parses User-Agent strings with ua-parser's Rust-backed resolver, behind a bounded LRU cache.

    The cache holds finished `UserAgentInfo` values (not ua-parser's partial results), so a hit
    costs one dict lookup and allocates nothing. Instances are thread-safe and picklable (a
    Spark executor rebuilds its own resolver and an empty cache).
    """

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE, bots: BotMatcher | None = None) -> None:
        """Build the resolver (about 0.3 s: the regexes compile once) and a cache of `cache_size`.

        `bots` defaults to the matcher of the bundled bot lists (compiled once per process).
        """
        self._cache_size = cache_size
        self._bots = bots or default_bot_matcher()
        if ua_parser.RegexResolver is not None:  # the ua-parser-rs backend
            self._resolver: ua_parser.Resolver = ua_parser.RegexResolver(ua_parser.load_lazy_builtins())
            self.backend = "regex (ua-parser-rs)"
        else:  # pragma: no cover - only without the [regex] extra
            self._resolver = ua_parser.BasicResolver(ua_parser.load_builtins())
            self.backend = "basic (pure Python)"
        self._parse_cached = lru_cache(maxsize=cache_size)(self._parse_uncached)

    def __reduce__(self) -> tuple[type[UserAgentParser], tuple[int]]:
        return (UserAgentParser, (self._cache_size,))

    def parse(self, user_agent: str | None) -> UserAgentInfo:
        """Browser, OS, device type and bot flag of `user_agent`; `UNKNOWN_USER_AGENT` if empty or not text.

        Never raises: garbage parses to "Other" families.
        """
        if not user_agent or not isinstance(user_agent, str):
            return UNKNOWN_USER_AGENT
        # Slicing a shorter str returns the same object, so this allocates only for oversized input.
        return self._parse_cached(user_agent[:MAX_USER_AGENT_LENGTH])

    def cache_info(self) -> dict[str, int | None]:
        """Hits, misses, size and max_size of the parse cache, for metrics."""
        info = self._parse_cached.cache_info()
        return {"hits": info.hits, "misses": info.misses, "size": info.currsize, "max_size": info.maxsize}

    def _parse_uncached(self, user_agent: str) -> UserAgentInfo:
        ua = user_agent.strip()
        if not ua:
            return UNKNOWN_USER_AGENT
        try:
            result = self._resolver(ua, Domain.ALL)
        except UnicodeError:
            # Lone surrogates (from badly decoded input) cannot cross into Rust as UTF-8.
            ua = ua.encode("utf-8", "replace").decode("utf-8")
            result = self._resolver(ua, Domain.ALL)
        browser = result.user_agent
        os = result.os
        device = result.device
        os_family = os.family if os else "Other"
        ua_lower = ua.lower()
        bot = self._bots.match(ua)
        bot_reason = bot.reason if bot else (UA_PARSER_SPIDER if device and device.family == "Spider" else None)
        is_bot = bot_reason is not None
        return UserAgentInfo(
            browser=browser.family[:MAX_FAMILY_LENGTH] if browser else "Other",
            browser_major=browser.major[:MAX_FAMILY_LENGTH] if browser and browser.major is not None else None,
            os=os_family[:MAX_FAMILY_LENGTH],
            device_type="bot" if is_bot else _device_type(ua_lower, os_family, device),
            is_bot=is_bot,
            bot_reason=bot_reason,
        )
