"""Event + enrichments -> star-schema rows: one fact row and the dimension rows it references (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

import orjson

from pulse.enrich.domain import StorefrontMap
from pulse.enrich.geoip import GeoLookup
from pulse.enrich.privacy import keyed_hash, normalize_email, redact, redact_json, redact_text, truncate_ip
from pulse.enrich.referrer import MAX_SEARCH_TERM_LENGTH, classify_referrer
from pulse.enrich.url import PageUrl, parse_page_url
from pulse.enrich.useragent import UserAgentParser
from pulse.events.limits import TRUNCATED_KEY
from pulse.events.model import Event, Rejection, RejectReason
from pulse.model.cache import ModelCaches
from pulse.model.keys import bounded_key, dim_key
from pulse.model.orders import order_columns
from pulse.model.visitors import visitor_id

# Column order of the staged fact rows (the fact table's columns plus the rollup's natural values).
FACT_COLUMNS: tuple[str, ...] = (
    "event_id", "event_date", "event_time", "date_key", "hour_key", "collection",
    "product_key", "store_key", "site_key", "location_key", "referrer_key", "browser_key", "os_key",
    "device_type_key", "is_bot", "product_id", "store_id", "recommendation_product_id", "order_id",
    "email_hash", "device_hash", "ip_truncated", "api_version", "local_time_raw", "user_id_db",
    "resolution", "key_search", "cat_id", "utm_source", "utm_medium", "utm_campaign", "click_id_type",
    "options", "cart_products", "extra", "src_topic", "src_partition", "src_offset",
)
# The collection of `pulse canary` events: loaded into fact_event (so the canary can see them) but
# never into the rollups, so no KPI counts them (the loader filters on it).
CANARY_COLLECTION = "pulse_canary"

# The last six: the visitor (model/visitors.py), what an order event adds (model/orders.py) and the page's
# URL path (a visit's entry and exit page), for the ledgers and the visits of migration 0012.
STAGE_ONLY_COLUMNS: tuple[str, ...] = (
    "referrer_url", "browser", "os", "visitor", "order_currency", "order_revenue", "order_items", "order_issue",
    "page_path",
)
MAX_PAGE_PATH = 1024  # a visit's entry and exit page are kept to this many characters
# Staged columns that reach a rollup's primary key or a dimension's UNIQUE index: each holds
# `bounded_key(...)` of its value, at most MAX_KEY_BYTES of UTF-8 (the full referrer stays in dim_referrer).
KEY_COLUMNS: tuple[str, ...] = ("collection", "product_id", "store_id", "referrer_url", "browser", "os")
STAGE_COLUMNS = FACT_COLUMNS + STAGE_ONLY_COLUMNS

# Dimension tables: their columns in order, each with its SQL type; the first column is the key.
DIMENSION_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "dim_date": (("date_key", "int"), ("date", "date"), ("year", "smallint"), ("quarter", "smallint"),
                 ("month", "smallint"), ("day", "smallint"), ("iso_week", "smallint"), ("iso_dow", "smallint")),
    "dim_hour": (("hour_key", "bigint"), ("hour_start", "timestamptz"), ("date_key", "int"),
                 ("hour_of_day", "smallint")),
    "dim_product": (("product_key", "bigint"), ("product_id", "text"), ("product_slug", "text")),
    "dim_store": (("store_key", "bigint"), ("store_id", "text")),
    "dim_site": (("site_key", "bigint"), ("host", "text"), ("site", "text"), ("country_code", "text"),
                 ("country_name", "text"), ("is_noise", "bool"), ("noise_reason", "text")),
    "dim_location": (("location_key", "bigint"), ("country_code", "text"), ("country_name", "text"),
                     ("region", "text"), ("city", "text")),
    "dim_referrer": (("referrer_key", "bigint"), ("referrer_url", "text"), ("referrer_domain", "text"),
                     ("referrer_class", "text"), ("referrer_search_term", "text")),
    "dim_browser": (("browser_key", "bigint"), ("browser", "text")),
    "dim_os": (("os_key", "bigint"), ("os", "text")),
    "dim_device_type": (("device_type_key", "bigint"), ("device_type", "text"), ("bot_reason", "text")),
}
# Dimension tables and their column order (the names of DIMENSION_COLUMNS).
DIMENSIONS: dict[str, tuple[str, ...]] = {
    table: tuple(name for name, _ in columns) for table, columns in DIMENSION_COLUMNS.items()
}

Row = tuple[object, ...]


class ModelEnvironment(Protocol):
    """What `model_event` needs from outside: the lookups and the privacy key (`pulse.pipeline.Enrichers`)."""

    @property
    def storefronts(self) -> StorefrontMap: ...
    @property
    def user_agents(self) -> UserAgentParser: ...
    @property
    def geo(self) -> GeoLookup: ...
    @property
    def hash_key(self) -> bytes: ...
    @property
    def privacy_redact(self) -> bool: ...  # redact e-mails, IPs and URL credentials in every stored string
    @property
    def caches(self) -> ModelCaches: ...  # what the model made of repeated values (fits this environment only)


@dataclass(slots=True)
class StarBatch:
    """The output of the transform for one batch of messages."""

    facts: list[Row] = field(default_factory=list)
    dims: dict[str, dict[int, Row]] = field(default_factory=lambda: {name: {} for name in DIMENSIONS})
    rejections: list[Rejection] = field(default_factory=list)
    duplicates_in_batch: int = 0


class UnstorableValueError(ValueError):
    """A value the warehouse's JSON encoder cannot write; `reason` says why (a rejection, not a bug)."""

    reason = RejectReason.UNENCODABLE_VALUE


class NestingTooDeepError(UnstorableValueError):
    """Unmodelled fields nest deeper than the warehouse's JSON encoder goes (orjson: 254 levels)."""

    reason = RejectReason.TOO_DEEP


def model_event(event: Event, enrichers: ModelEnvironment, dims: dict[str, dict[int, Row]]) -> Row:
    """Enrich one event and return its staged fact row; adds the dimension rows it references.

    Every string that is stored passes the privacy step first (`redact`: e-mails, IPs, URL credentials),
    and the dimension keys are derived from the redacted values. What the model makes of a repeated value
    (hour, page URL, product, store, IP, referrer, user agent) comes from the environment's bounded caches.
    """
    key = enrichers.hash_key
    caches = enrichers.caches
    text, json_text = (redact, redact_json) if enrichers.privacy_redact else (_as_sent, _as_sent)
    ts = event.event_time
    hour_key = int(ts.timestamp()) // 3600
    hour = caches.hours.entries.get(hour_key) or caches.hours.put(hour_key, 0, _hour(hour_key, ts))
    day, date_key, date_row, hour_row = hour
    if date_key not in dims["dim_date"]:
        dims["dim_date"][date_key] = date_row
    if hour_key not in dims["dim_hour"]:
        dims["dim_hour"][hour_key] = hour_row

    url = event.current_url
    page_entry = caches.pages.entries.get(url) or caches.pages.put(
        url, len(url) if url else 0, _page_entry(url, enrichers, text, json_text))
    page, slug, site_key, site_row, page_utm_source, page_utm_medium, utm_campaign, page_options, path = page_entry

    sent_product = event.product_id or event.viewing_product_id or page.product_id
    product_key = product_id = None
    if sent_product is not None:
        product = caches.products.entries.get(sent_product) or caches.products.put(
            sent_product, len(sent_product), _keyed(bounded_key(text(sent_product, key)), "product"))
        product_id, product_key = product
        if product_key is not None:
            known = dims["dim_product"].get(product_key)
            if known is None or (slug is not None and (known[2] is None or slug < known[2])):  # type: ignore[operator]
                dims["dim_product"][product_key] = (product_key, product_id, slug)

    store_key = store_id = None
    if event.store_id is not None:
        store = caches.stores.entries.get(event.store_id) or caches.stores.put(
            event.store_id, len(event.store_id), _store(bounded_key(text(event.store_id, key))))
        store_id, store_key, store_row = store
        if store_key is not None and store_key not in dims["dim_store"]:
            dims["dim_store"][store_key] = store_row

    if site_key not in dims["dim_site"]:
        dims["dim_site"][site_key] = site_row

    ip = event.ip
    location = caches.locations.entries.get(ip) or caches.locations.put(
        ip, len(ip) if ip else 0, _location(ip, enrichers))
    location_key, location_row, ip_truncated = location
    if location_key not in dims["dim_location"]:
        dims["dim_location"][location_key] = location_row

    referrer_sent = event.referrer_url
    referred = (referrer_sent, page.click_id_type, page.utm_medium)
    referrer = caches.referrers.entries.get(referred) or caches.referrers.put(
        referred, len(referrer_sent) if referrer_sent else 0, _referrer(referrer_sent, page, enrichers, text))
    referrer_key, referrer_row, referrer_url_key = referrer
    if referrer_key not in dims["dim_referrer"]:
        dims["dim_referrer"][referrer_key] = referrer_row

    agent_sent = event.user_agent
    agent = caches.agents.entries.get(agent_sent) or caches.agents.put(
        agent_sent, len(agent_sent) if agent_sent else 0, _agent(agent_sent, enrichers, text))
    browser_key, browser_row, os_key, os_row, device_type_key, device_type_row, is_bot, browser, os_family = agent
    if browser_key not in dims["dim_browser"]:
        dims["dim_browser"][browser_key] = browser_row
    if os_key not in dims["dim_os"]:
        dims["dim_os"][os_key] = os_row
    if device_type_key not in dims["dim_device_type"]:
        dims["dim_device_type"][device_type_key] = device_type_row
    extra = {**event.extra, TRUNCATED_KEY: list(event.truncated)} if event.truncated else event.extra
    device_hash = keyed_hash(event.device_id, key)
    visitor = None if is_bot or site_row[5] else visitor_id(device_hash, ip_truncated, agent_sent, site_row[1], day,
                                                             key)

    source = event.source
    return (
        _private_event_id(event.event_id, enrichers), day, ts, date_key, hour_key,
        bounded_key(text(event.collection, key)),
        product_key, store_key, site_key, location_key, referrer_key, browser_key, os_key,
        device_type_key, is_bot, product_id, store_id, text(event.recommendation_product_id, key),
        text(event.order_id, key),
        keyed_hash(normalize_email(event.email), key),
        device_hash,
        ip_truncated,
        text(event.api_version, key), text(event.local_time, key), text(event.user_id_db, key),
        text(event.resolution, key), text(event.key_search, key), text(event.cat_id, key),
        text(event.utm_source, key) if event.utm_source else page_utm_source,
        text(event.utm_medium, key) if event.utm_medium else page_utm_medium,
        utm_campaign, page.click_id_type,
        json_text(_json([list(pair) for pair in event.options]), key) if event.options else page_options,
        json_text(_json([_cart_item(item) for item in event.cart_products]), key) if event.cart_products else None,
        json_text(_json(extra), key) if extra else None,
        source.topic if source else None,
        source.partition if source else None,
        source.offset if source else None,
        # stage-only columns, for the rollups and the ledgers
        referrer_url_key, browser, os_family, visitor, *order_columns(event, site_row[3]),  # type: ignore[arg-type]
        path,
    )


_Redact = Callable[[str | None, bytes], str | None]


def _hour(hour_key: int, ts: datetime) -> tuple[date, int, Row, Row]:
    """The day, date key and rows of the UTC hour `hour_key` (`ts` is a moment in it)."""
    day = ts.date()
    date_key = day.year * 10000 + day.month * 100 + day.day
    iso = day.isocalendar()
    date_row = (date_key, day, day.year, (day.month - 1) // 3 + 1, day.month, day.day, iso.week, iso.weekday)
    hour_row = (hour_key, datetime.fromtimestamp(hour_key * 3600, tz=UTC), date_key, ts.hour)
    return day, date_key, date_row, hour_row


def _page_entry(url: str | None, env: ModelEnvironment, text: _Redact, json_text: _Redact) -> tuple[Any, ...]:
    """What the model keeps of a page URL: the parsed page, its slug, site key and row, campaign values."""
    key = env.hash_key
    page = parse_page_url(url)
    storefront = env.storefronts.lookup(url)
    host = text(storefront.host, key)
    site_key = dim_key("site", host, storefront.noise_reason)
    site_row = (
        site_key, host, storefront.site, storefront.country_code, storefront.country_name, storefront.is_noise,
        str(storefront.noise_reason) if storefront.noise_reason else None,
    )
    options = json_text(_json([list(pair) for pair in page.options]), key)
    return (page, text(page.product_slug, key), site_key, site_row, text(page.utm_source, key),
            text(page.utm_medium, key), text(page.utm_campaign, key), options,
            _capped(text(page.path, key), MAX_PAGE_PATH))


def _keyed(product_id: str | None, dimension: str) -> tuple[Any, Any]:
    return product_id, (None if product_id is None else dim_key(dimension, product_id))


def _store(store_id: str | None) -> tuple[Any, Any, Any]:
    if store_id is None:
        return None, None, None
    store_key = dim_key("store", store_id)
    return store_id, store_key, (store_key, store_id)


def _location(ip: str | None, env: ModelEnvironment) -> tuple[int, Row, str | None]:
    geo = env.geo.lookup(ip)
    location_key = dim_key("location", geo.country_code, geo.region, geo.city)
    return location_key, (location_key, geo.country_code, geo.country_name, geo.region, geo.city), truncate_ip(ip)


def _referrer(sent: str | None, page: PageUrl, env: ModelEnvironment, text: _Redact) -> tuple[int, Row, str | None]:
    referrer = classify_referrer(sent, page, storefronts=env.storefronts)
    referrer_url = text(referrer.url, env.hash_key)
    referrer_class = str(referrer.referrer_class)
    referrer_key = dim_key("referrer", referrer_url, referrer_class)
    row = (
        referrer_key, referrer_url, text(referrer.domain, env.hash_key), referrer_class,
        # free text a person typed: through the privacy step, then capped again (a redaction marker can be longer
        # than what it replaces, and the column's CHECK would refuse the whole batch)
        _capped(text(referrer.search_term, env.hash_key), MAX_SEARCH_TERM_LENGTH),
    )
    return referrer_key, row, bounded_key(referrer_url)


def _agent(sent: str | None, env: ModelEnvironment, text: _Redact) -> tuple[Any, ...]:
    agent = env.user_agents.parse(sent)
    browser = bounded_key(text(agent.browser, env.hash_key))
    os_family = bounded_key(text(agent.os, env.hash_key))
    device_type = bounded_key(agent.device_type)
    browser_key, os_key = dim_key("browser", browser), dim_key("os", os_family)
    # A person's row keeps the key it had before bot reasons existed; a bot's row is one per reason.
    bot_reason = agent.bot_reason
    device_type_key = (
        dim_key("device_type", device_type, bot_reason) if bot_reason else dim_key("device_type", device_type)
    )
    return (browser_key, (browser_key, browser), os_key, (os_key, os_family), device_type_key,
            (device_type_key, device_type, bot_reason), agent.is_bot, browser, os_family)


def _capped(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


def _as_sent(value: str | None, key: bytes) -> str | None:
    """The redaction step switched off (PULSE_PRIVACY_REDACT=false): values are stored as sent."""
    return value


def _private_event_id(event_id: str, enrichers: ModelEnvironment) -> str:
    """The event id, or when it carries personal data its keyed hash (still unique, still deduplicated)."""
    if not enrichers.privacy_redact or redact_text(event_id, enrichers.hash_key) == event_id:
        return event_id
    return f"redacted:{keyed_hash(event_id, enrichers.hash_key)}"


def _cart_item(item: object) -> dict[str, object]:
    return {k: getattr(item, k) for k in ("product_id", "amount", "price", "currency")}


def _json(value: object) -> str | None:
    if value is None or value == []:
        return None
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as exc:
        if "recursion" in str(exc).lower():
            raise NestingTooDeepError(f"unmodelled fields nest too deep to store: {exc}") from None
        raise UnstorableValueError(f"a value cannot be stored as JSON: {exc}") from None
