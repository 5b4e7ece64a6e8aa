"""Page URL enricher: product id/slug fallback, product options, UTM campaign fields and ad click ids."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote

from pulse.enrich.domain import host_from_netloc, split_url_parts

MAX_VALUE_LENGTH = 100
MAX_OPTIONS = 20
_MAX_QUERY_FIELDS = 200
_MAX_PATH_LENGTH = 2048
_MAX_SLUG_LENGTH = 200

# Ad-platform click ids, by query parameter name (lowercase).
CLICK_ID_PARAMS = frozenset(
    {"gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "ttclid", "yclid", "twclid", "li_fat_id",
     "epik", "sccid"}
)  # fmt: skip
UTM_PARAMS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Query parameters that are navigation, tracking or session state rather than product options.
NON_OPTION_PARAMS = frozenset(
    {
        *CLICK_ID_PARAMS,
        "order", "dir", "p", "page", "limit", "mode", "product_list_order", "product_list_dir",
        "product_list_limit", "product_list_mode", "q", "query", "ref", "referrer", "source", "sid",
        "sessionid", "session_id", "product_id", "id", "gclsrc", "srsltid", "igshid", "si", "mc_cid",
        "mc_eid", "campaign", "cid", "affiliate", "aff", "affid", "keyword", "matchtype", "network",
        "device", "devicemodel", "creative", "placement", "adposition", "adgroupid", "campaignid",
        "targetid", "feeditemid", "loc_physical_ms", "loc_interest_ms", "fb_action_ids",
        "fb_action_types", "fb_source", "rdt_cid", "vero_id", "mkt_tok", "trk", "s_kwcid", "ef_id",
    }
)  # fmt: skip
NON_OPTION_PREFIXES = ("utm_", "itm_", "_", "hsa_", "pk_", "mtm_", "matomo_", "piwik_", "gad_", "ga_")

_MAGENTO_PRODUCT_PATH = re.compile(r"/catalog/product/view/(?:[^/]+/[^/]+/)*?id/([0-9]{1,20})(?:/|$)")
_DIGITS = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class PageUrl:
    """What a page URL says about the page: product fallback, options, campaign and click id.

    `host` is normalised as in `pulse.enrich.domain`; option keys are lowercased, values decoded,
    stripped and capped at MAX_VALUE_LENGTH; the first value of a repeated UTM or click-id key wins.
    """

    host: str | None
    path: str | None
    product_id: str | None
    product_slug: str | None
    options: tuple[tuple[str, str], ...]
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    click_id_type: str | None
    click_id: str | None


EMPTY_PAGE_URL = PageUrl(
    host=None,
    path=None,
    product_id=None,
    product_slug=None,
    options=(),
    utm_source=None,
    utm_medium=None,
    utm_campaign=None,
    utm_term=None,
    utm_content=None,
    click_id_type=None,
    click_id=None,
)


def parse_page_url(url: str | None) -> PageUrl:
    """Parse a page URL (http(s) or scheme-less); `EMPTY_PAGE_URL` for junk. Never raises."""
    if not isinstance(url, str):
        return EMPTY_PAGE_URL
    return _parse(url)


class _Kind(Enum):
    OPTION = 1
    UTM = 2
    CLICK_ID = 3
    PRODUCT_ID = 4
    ID = 5
    SKIP = 6


@functools.lru_cache(maxsize=4096)  # product pages repeat; results are immutable
def _parse(url: str) -> PageUrl:
    parts = split_url_parts(url)
    if parts is None:
        return EMPTY_PAGE_URL
    _, netloc, path, query, _ = parts.groups()
    host = host_from_netloc(netloc)
    path = path[:_MAX_PATH_LENGTH] or ("/" if host else None)
    slug = _product_slug(path)

    options: list[tuple[str, str]] = []
    utm: dict[str, str] = {}
    click_id_type: str | None = None
    click_id: str | None = None
    query_product_id: str | None = None
    query_id: str | None = None
    fields = query.split("&", _MAX_QUERY_FIELDS)[:_MAX_QUERY_FIELDS] if query else ()
    for field in fields:
        raw_key, _, value = field.partition("=")
        if not value:
            continue
        key, kind = _key_kind(raw_key)
        if kind is _Kind.SKIP:
            continue
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "), errors="replace")
        value = value.strip()[:MAX_VALUE_LENGTH]
        if not value:
            continue
        if kind is _Kind.OPTION:
            if len(options) < MAX_OPTIONS:
                options.append((key, value))
        elif kind is _Kind.UTM:
            utm.setdefault(key, value)
        elif kind is _Kind.CLICK_ID:
            if click_id_type is None:
                click_id_type, click_id = key, value
        elif kind is _Kind.PRODUCT_ID:
            query_product_id = query_product_id or _digits(value)
        else:
            query_id = query_id or _digits(value)

    product_id = _path_product_id(path) or query_product_id
    if product_id is None and query_id is not None and _is_product_page(path, slug):
        product_id = query_id
    return PageUrl(
        host=host,
        path=path,
        product_id=product_id,
        product_slug=slug,
        options=tuple(options),
        utm_source=utm.get("utm_source"),
        utm_medium=utm.get("utm_medium"),
        utm_campaign=utm.get("utm_campaign"),
        utm_term=utm.get("utm_term"),
        utm_content=utm.get("utm_content"),
        click_id_type=click_id_type,
        click_id=click_id,
    )


@functools.lru_cache(maxsize=1024)  # query keys are few
def _key_kind(raw_key: str) -> tuple[str, _Kind]:
    """The decoded, lowercased query key and what it carries."""
    key = raw_key
    if "%" in key or "+" in key:
        key = unquote(key.replace("+", " "), errors="replace")
    key = key.strip().lower()[:MAX_VALUE_LENGTH]
    if not key:
        return key, _Kind.SKIP
    if key in CLICK_ID_PARAMS:
        return key, _Kind.CLICK_ID
    if key in UTM_PARAMS:
        return key, _Kind.UTM
    if key == "product_id":
        return key, _Kind.PRODUCT_ID
    if key == "id":
        return key, _Kind.ID
    if key in NON_OPTION_PARAMS or key.startswith(NON_OPTION_PREFIXES):
        return key, _Kind.SKIP
    return key, _Kind.OPTION


def _digits(value: str) -> str | None:
    return value if _DIGITS.fullmatch(value) else None


def _path_product_id(path: str | None) -> str | None:
    if not path:
        return None
    lowered = path.lower()
    if "/catalog/product/" not in lowered:
        return None
    match = _MAGENTO_PRODUCT_PATH.search(lowered)
    return match.group(1) if match else None


def _product_slug(path: str | None) -> str | None:
    if not path or path.endswith("/"):
        return None
    last = path.rpartition("/")[2]
    lowered = last[-5:].lower()
    if lowered == ".html":
        slug = last[:-5]
    elif lowered.endswith(".htm"):
        slug = last[:-4]
    else:
        return None
    if "%" in slug:
        slug = unquote(slug, errors="replace")
    return slug.strip()[:_MAX_SLUG_LENGTH] or None


def _is_product_page(path: str | None, slug: str | None) -> bool:
    return slug is not None or (path is not None and "/catalog/product/" in path.lower())
