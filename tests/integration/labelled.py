"""A hand-labelled traffic fixture and an independent KPI computation over it.

Every attribute that pulse derives (bot flag, browser, OS, storefront country) is written here by
hand for the few user agents and hosts used, so the expected KPIs never come from pulse's code.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# (user agent, browser, os, is_bot) — checked by hand against ua-parser's naming
USER_AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36", "Chrome", "Windows", False),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Mobile/15E148 Safari/604.1", "Mobile Safari", "iOS", False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
     "Firefox", "Mac OS X", False),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/125.0.0.0 Mobile Safari/537.36", "Chrome Mobile", "Android", False),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", None, None, True),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", None, None, True),
]

# (host, country_code, country_name or None for noise, store ids)
HOSTS = [
    ("www.glamira.de", "DE", "Germany", ["6", "106"]),
    ("www.glamira.co.uk", "GB", "United Kingdom", ["7"]),
    ("www.glamira.com", None, "International", ["41"]),
    ("www.glamira.cl", "CL", "Chile", ["85"]),
    ("www.glamira.fr", "FR", "France", ["12", "112", "212"]),
    ("dev1.glamira.de", None, None, ["6"]),  # noise: never a country
]

REFERRERS = [
    "", "", "https://www.google.com/", "https://www.google.de/", "https://www.facebook.com/",
    "https://www.glamira.de/ringe/", "https://l.instagram.com/", "https://www.bing.com/search?q=ring",
]
COLLECTIONS = ["view_product_detail"] * 6 + ["view_listing_page", "select_product_option", "add_to_cart_action"]


@dataclass
class Fixture:
    """Lines to replay, and what a correct pipeline must make of them."""

    lines: list[bytes] = field(default_factory=list)
    valid: list[dict[str, Any]] = field(default_factory=list)  # distinct valid events, labelled
    malformed: Counter[str] = field(default_factory=Counter)  # reason code -> count
    duplicates: int = 0


def build_fixture(day: date, n_valid: int, seed: int = 7) -> Fixture:
    """Valid events spread over `day` +- 1 day (UTC), exact duplicates, and malformed lines."""
    rng = random.Random(seed)
    fx = Fixture()
    start = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(hours=14)
    span = int(timedelta(hours=52).total_seconds())
    for i in range(n_valid):
        ua, browser, os_name, is_bot = rng.choice(USER_AGENTS)
        host, code, country, stores = rng.choice(HOSTS)
        product = str(rng.choice([100 + k for k in range(15)] + [100, 101, 101, 102]))
        collection = rng.choice(COLLECTIONS)
        ts = int(start.timestamp()) + rng.randrange(span)
        doc: dict[str, Any] = {
            "_id": f"{i:024x}",
            "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "time_stamp": ts,
            "ip": f"81.{rng.randrange(1, 250)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "user_agent": ua,
            "device_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "store_id": rng.choice(stores) if rng.random() < 0.9 else int(rng.choice(stores)),
            "current_url": f"https://{host}/glamira-ring-{product}.html",
            "referrer_url": rng.choice(REFERRERS),
            "collection": collection,
            "product_id": product if rng.random() < 0.5 else int(product),
            "email_address": "",
            "local_time": "2026-3-29 1:02:03",
        }
        fx.valid.append({**doc, "_browser": browser, "_os": os_name, "_bot": is_bot,
                         "_country_code": code, "_country": country, "_store": str(doc["store_id"])})
        fx.lines.append(json.dumps(doc).encode())
        if rng.random() < 0.05:  # a producer retry: the same bytes again
            fx.lines.append(fx.lines[-1])
            fx.duplicates += 1
    bad: list[tuple[str, bytes]] = [
        ("invalid_json", b'{"collection": "view_product_detail", "time_stamp": 17'),
        ("invalid_utf8", b'{"collection": "view_product_detail", "x": "\xff\xfe"}'),
        ("not_an_object", b"[1, 2, 3]"),
        ("missing_event_time", b'{"collection": "view_product_detail", "id": "no-time"}'),
        ("bad_event_time", b'{"collection": "view_product_detail", "id": "bad-time", "time_stamp": "soon"}'),
        ("missing_collection", b'{"id": "no-collection", "time_stamp": 1774742400}'),
        ("bad_field_type", b'{"id": "bad-type", "collection": "checkout", "time_stamp": 1774742400, "ip": [1]}'),
        ("invalid_json", b"this is not json at all"),
    ]
    for reason, raw in bad * 3:
        position = rng.randrange(len(fx.lines) + 1)
        fx.lines.insert(position, raw)
        fx.malformed[reason] += 1
    return fx


def _local(ev: dict[str, Any], tz: str) -> datetime:
    return datetime.fromtimestamp(ev["time_stamp"], tz=ZoneInfo(tz))


def expected_kpis(fx: Fixture, day: date, tz: str, country: str, product_id: str) -> dict[str, Any]:
    """The six KPIs computed directly from the labelled events (views = view_product_detail, no bots)."""
    views = [
        ev for ev in fx.valid
        if ev["collection"] == "view_product_detail" and not ev["_bot"] and _local(ev, tz).date() == day
    ]
    products = Counter(str(ev["product_id"]) for ev in views)
    countries = Counter((ev["_country_code"], ev["_country"]) for ev in views if ev["_country"])
    referrers = Counter(ev["referrer_url"] for ev in views if ev["referrer_url"])
    stores = Counter(ev["_store"] for ev in views if ev["_country_code"] == country)
    hourly = Counter(_local(ev, tz).hour for ev in views if str(ev["product_id"]) == product_id)
    by_browser: dict[tuple[int, str], int] = defaultdict(int)
    by_os: dict[tuple[int, str], int] = defaultdict(int)
    for ev in views:
        by_browser[(_local(ev, tz).hour, ev["_browser"])] += 1
        by_os[(_local(ev, tz).hour, ev["_os"])] += 1
    return {
        "top-products": [{"product_id": p, "views": n}
                         for p, n in sorted(products.items(), key=lambda kv: (-kv[1], kv[0]))[:10]],
        "top-countries": [{"country_code": c, "country": name, "views": n}
                          for (c, name), n in sorted(countries.items(), key=lambda kv: (-kv[1], kv[0][1]))[:10]],
        "top-referrers": [{"referrer_url": r, "views": n}
                          for r, n in sorted(referrers.items(), key=lambda kv: (-kv[1], kv[0]))[:5]],
        "stores-by-country": [{"store_id": s, "views": n}
                              for s, n in sorted(stores.items(), key=lambda kv: (-kv[1], kv[0]))],
        "product-hourly": [{"hour": h, "views": hourly.get(h, 0)} for h in range(24)],
        "browser-os-hourly": {
            "by_browser": [{"hour": h, "browser": b, "views": n}
                           for (h, b), n in sorted(by_browser.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))],
            "by_os": [{"hour": h, "os": o, "views": n}
                      for (h, o), n in sorted(by_os.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))],
        },
    }
