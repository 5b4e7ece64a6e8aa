"""Referrer enricher: classify where a visit came from (direct, internal, search, social, email, paid)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl, urlsplit

from pulse.enrich.domain import (
    StorefrontMap,
    default_storefronts,
    extract_host,
    in_domains,
    public_suffix_length,
)
from pulse.enrich.referer_db import default_referer_database
from pulse.enrich.url import PageUrl


class ReferrerClass(StrEnum):
    """Traffic source class. Stable values: dashboards key on them."""

    DIRECT = "direct"
    INTERNAL = "internal"
    SEARCH = "search"
    SOCIAL = "social"
    EMAIL = "email"
    PAID = "paid"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Referrer:
    """A classified referrer: the URL as sent (stripped), its domain without www., and its class."""

    url: str | None
    domain: str | None
    referrer_class: ReferrerClass
    search_term: str | None = None
    """What was searched, from the parameter the referrer database names for that engine (`q`, `text`)."""


# The referer-parser database's media, as pulse's classes ("unknown": a known site of no known medium).
_MEDIUM_CLASSES = {
    "search": ReferrerClass.SEARCH, "social": ReferrerClass.SOCIAL, "email": ReferrerClass.EMAIL,
    "paid": ReferrerClass.PAID, "chatbot": ReferrerClass.OTHER, "unknown": ReferrerClass.OTHER,
}  # fmt: skip
MAX_SEARCH_TERM_LENGTH = 256


# Click ids that only ads add. fbclid is left out on purpose: Facebook appends it to organic links too.
PAID_CLICK_IDS = frozenset(
    {"gclid", "gbraid", "wbraid", "dclid", "msclkid", "ttclid", "yclid", "twclid", "li_fat_id", "epik",
     "sccid"}
)  # fmt: skip
PAID_MEDIUMS = frozenset(
    {"cpc", "ppc", "cpm", "cpv", "cpa", "cpp", "paid", "paidsearch", "paid_search", "paid-search", "display",
     "banner", "retargeting", "remarketing", "paidsocial", "paid_social", "paid-social"}
)  # fmt: skip
EMAIL_MEDIUMS = frozenset({"email", "e-mail", "e_mail", "mail", "newsletter"})

# Domains are matched on label boundaries: a listed domain or any subdomain of it.
PAID_REFERRER_DOMAINS = frozenset({"googleadservices.com", "doubleclick.net", "googlesyndication.com"})
WEBMAIL_DOMAINS = frozenset(
    {"mail.google.com", "outlook.live.com", "outlook.office.com", "outlook.office365.com", "outlook.com",
     "mail.aol.com", "gmx.net", "gmx.de", "gmx.at", "gmx.ch", "gmx.com", "navigator.web.de", "3c.web.de",
     "email.t-online.de", "e.mail.ru", "email.seznam.cz"}
)  # fmt: skip
# mail.*, webmail.*, email.*, mail2.* ... (mail.yahoo.com, webmail.provider.nl)
_WEBMAIL_FIRST_LABEL = re.compile(r"(?:web|e)?mail\d*")
SEARCH_DOMAINS = frozenset(
    {"bing.com", "duckduckgo.com", "baidu.com", "ecosia.org", "qwant.com", "naver.com", "seznam.cz",
     "startpage.com", "ask.com", "ya.ru", "search.yahoo.com", "search.yahoo.co.jp", "search.aol.com",
     "search.brave.com", "sogou.com", "so.com", "daum.net"}
)  # fmt: skip
# Google hosts that are apps, not search (sign-in redirects, documents, the app store).
NOT_SEARCH_DOMAINS = frozenset(
    {"accounts.google.com", "docs.google.com", "drive.google.com", "sites.google.com", "calendar.google.com",
     "photos.google.com", "play.google.com", "meet.google.com", "chat.google.com", "groups.google.com"}
)  # fmt: skip
# Brands whose every country domain is the same search engine or network (google.co.uk, pinterest.de).
SEARCH_BRANDS = frozenset({"google", "yandex"})
SOCIAL_DOMAINS = frozenset(
    {"facebook.com", "fb.com", "fb.me", "messenger.com", "instagram.com", "t.co", "twitter.com", "x.com",
     "linkedin.com", "lnkd.in", "youtube.com", "youtu.be", "tiktok.com", "reddit.com", "redd.it",
     "snapchat.com", "whatsapp.com", "wa.me", "threads.net", "pin.it", "vk.com", "tumblr.com", "t.me"}
)  # fmt: skip
SOCIAL_BRANDS = frozenset({"pinterest"})
# Android apps send `android-app://<package>/` as the referrer.
ANDROID_APPS: dict[str, ReferrerClass] = {
    "com.google.android.gm": ReferrerClass.EMAIL,
    "com.microsoft.office.outlook": ReferrerClass.EMAIL,
    "com.google.android.googlequicksearchbox": ReferrerClass.SEARCH,
    "com.facebook.katana": ReferrerClass.SOCIAL,
    "com.facebook.orca": ReferrerClass.SOCIAL,
    "com.facebook.lite": ReferrerClass.SOCIAL,
    "com.instagram.android": ReferrerClass.SOCIAL,
    "com.pinterest": ReferrerClass.SOCIAL,
    "com.twitter.android": ReferrerClass.SOCIAL,
    "com.linkedin.android": ReferrerClass.SOCIAL,
    "com.zhiliaoapp.musically": ReferrerClass.SOCIAL,
    "com.reddit.frontpage": ReferrerClass.SOCIAL,
    "com.snapchat.android": ReferrerClass.SOCIAL,
    "com.whatsapp": ReferrerClass.SOCIAL,
    "com.google.android.youtube": ReferrerClass.SOCIAL,
}
_ANDROID_APP = re.compile(r"android-app://([A-Za-z0-9_.]+)", re.IGNORECASE)


def classify_referrer(
    referrer_url: str | None,
    page: PageUrl | None = None,
    *,
    storefronts: StorefrontMap | None = None,
) -> Referrer:
    """Classify a referrer, using the page URL's click id and utm_medium when given. Never raises.

    Order: campaign evidence on the page first (PAID, then EMAIL by utm_medium), because browsers
    and mail clients often send no referrer; then DIRECT for no referrer, then by referrer host:
    INTERNAL (any Glamira host), PAID (ad redirectors), then the referer-parser database's medium for
    the host (search, social, email, paid; its "unknown" sites are OTHER), and for hosts it does not list
    pulse's own rules: EMAIL (webmail), SEARCH, SOCIAL, else OTHER. A SEARCH referrer carries its search
    term when the database names the engine's parameter.
    `storefronts` defaults to the bundled storefront map.
    """
    url = (referrer_url.strip() or None) if isinstance(referrer_url, str) else None
    host = extract_host(url)
    domain = host.removeprefix("www.") if host else None
    referrer_class = _classify(url, host, page, storefronts)
    term = _search_term(url, host) if referrer_class is ReferrerClass.SEARCH and url and host else None
    return Referrer(url=url, domain=domain, referrer_class=referrer_class, search_term=term)


def _search_term(url: str, host: str) -> str | None:
    """The first non-empty search parameter the database names for this engine, at most 256 characters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    known = default_referer_database().lookup(host, parts.path)
    if known is None or not known.parameters:
        return None
    values = dict(parse_qsl(parts.query) + parse_qsl(parts.fragment))
    for parameter in known.parameters:
        if term := values.get(parameter, "").strip():
            return term[:MAX_SEARCH_TERM_LENGTH]
    return None


def _classify(
    url: str | None, host: str | None, page: PageUrl | None, storefronts: StorefrontMap | None
) -> ReferrerClass:
    if page is not None:
        medium = page.utm_medium.lower() if page.utm_medium else ""
        if page.click_id_type in PAID_CLICK_IDS or medium in PAID_MEDIUMS or medium.startswith("paid"):
            return ReferrerClass.PAID
        if medium in EMAIL_MEDIUMS:
            return ReferrerClass.EMAIL
    if url is None:
        return ReferrerClass.DIRECT
    if host is None:
        app = _ANDROID_APP.match(url)
        return ANDROID_APPS.get(app.group(1).lower(), ReferrerClass.OTHER) if app else ReferrerClass.OTHER
    if (storefronts or default_storefronts()).is_glamira_host(host):
        return ReferrerClass.INTERNAL
    if in_domains(host, PAID_REFERRER_DOMAINS):
        return ReferrerClass.PAID
    if in_domains(host, NOT_SEARCH_DOMAINS):  # the database would read play.google.com as google.com
        return ReferrerClass.OTHER
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    known = default_referer_database().lookup(host, path)
    if known is not None:
        return _MEDIUM_CLASSES.get(known.medium, ReferrerClass.OTHER)
    return _classify_external_host(host)


@functools.lru_cache(maxsize=8192)
def _classify_external_host(host: str) -> ReferrerClass:
    if in_domains(host, PAID_REFERRER_DOMAINS):
        return ReferrerClass.PAID
    labels = host.split(".")
    first = labels[1] if labels[0] == "www" and len(labels) > 2 else labels[0]
    if in_domains(host, WEBMAIL_DOMAINS) or (len(labels) > 2 and _WEBMAIL_FIRST_LABEL.fullmatch(first)):
        return ReferrerClass.EMAIL
    if in_domains(host, NOT_SEARCH_DOMAINS):
        return ReferrerClass.OTHER
    brand = _brand(labels)
    if brand in SEARCH_BRANDS or in_domains(host, SEARCH_DOMAINS):
        return ReferrerClass.SEARCH
    if brand in SOCIAL_BRANDS or in_domains(host, SOCIAL_DOMAINS):
        return ReferrerClass.SOCIAL
    return ReferrerClass.OTHER


def _brand(labels: list[str]) -> str | None:
    """The label before the public suffix: `google` for news.google.co.uk."""
    at = len(labels) - public_suffix_length(labels) - 1
    return labels[at] if at >= 0 else None
