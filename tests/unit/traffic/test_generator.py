"""The synthetic traffic generator: deterministic, in the real event shapes, with realistic mixes."""

from __future__ import annotations

import ipaddress
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.traffic.data import STOREFRONTS
from pulse.traffic.generator import TrafficGenerator, encode
from pulse.traffic.parts import format_price

START = datetime(2024, 5, 27, tzinfo=UTC)  # a Monday
# DESIGN.md §1: the 27 collections seen in real data, and the store ids seen with their storefronts.
COLLECTIONS = {
    "view_product_detail", "view_listing_page", "select_product_option", "select_product_option_quality",
    "view_static_page", "product_detail_recommendation_visible", "product_detail_recommendation_noticed",
    "product_detail_recommendation_clicked", "view_landing_page", "view_home_page", "view_shopping_cart",
    "search_box_action", "view_my_account", "add_to_cart_action", "checkout", "checkout_success",
    "listing_page_recommendation_visible", "listing_page_recommendation_noticed",
    "listing_page_recommendation_clicked", "landing_page_recommendation_visible",
    "landing_page_recommendation_noticed", "landing_page_recommendation_clicked", "view_sorting_relevance",
    "sorting_relevance_click_action", "back_to_product_action", "view_all_recommend",
    "product_view_all_recommend_clicked",
}
KNOWN_STORES = {"de": 6, "co.uk": 7, "es": 8, "at": 9, "ch": 10, "nl": 11, "fr": 12, "it": 14, "se": 19,
                "com.au": 29, "pt": 34, "com.mt": 36, "ca": 38, "com": 41, "pl": 50, "rs": 52, "sk": 53,
                "bg": 66, "cl": 85}
PRODUCT_EVENTS = {"view_product_detail", "select_product_option", "select_product_option_quality",
                  "add_to_cart_action", "back_to_product_action"}
RECOMMENDATION_EVENTS = {c for c in COLLECTIONS if c.startswith("product_detail_recommendation_")} | {
    "view_all_recommend", "product_view_all_recommend_clicked"}
LISTING_EVENTS = {"view_listing_page", "view_sorting_relevance", "sorting_relevance_click_action"}
CART_EVENTS = {"view_shopping_cart", "checkout", "checkout_success"}
BOT_MARKERS = ("bot", "facebookexternalhit", "crawler", "spider")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
LOCAL_TIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2})$")
PRICE = re.compile(r"^\d{1,3}([.,' ]\d{3})*([.,]\d{2})?$")
OPTION_KEYS = {"option_label", "option_id", "value_label", "value_id"}


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(TrafficGenerator(seed=7, start=START).events(50_000))


def share(events: list[dict[str, Any]], predicate: Any) -> float:
    return sum(1 for e in events if predicate(e)) / len(events)


def is_bot(event: dict[str, Any]) -> bool:
    return any(marker in event["user_agent"].lower() for marker in BOT_MARKERS)


def host_of(event: dict[str, Any]) -> str:
    return urlsplit(event["current_url"]).hostname or ""


# --- determinism and time ------------------------------------------------------------------------
def test_same_seed_gives_the_same_events() -> None:
    first = list(TrafficGenerator(seed=3, start=START).events(3000))
    again = list(TrafficGenerator(seed=3, start=START).events(3000))
    other = list(TrafficGenerator(seed=4, start=START).events(3000))
    assert [encode(e) for e in first] == [encode(e) for e in again]
    assert [encode(e) for e in first] != [encode(e) for e in other]


def test_time_stamps_start_at_start_and_never_go_back(events: list[dict[str, Any]]) -> None:
    stamps = [e["time_stamp"] for e in events]
    assert stamps[0] >= START.timestamp()
    assert all(a <= b for a, b in zip(stamps, stamps[1:], strict=False))
    # 1.2M events/day is ~14/s: 50k events span roughly an hour, not a second nor a week.
    assert 1800 < stamps[-1] - stamps[0] < 4 * 3600


def test_daily_rhythm_has_more_traffic_in_the_afternoon_than_at_night() -> None:
    generator = TrafficGenerator(seed=11, start=START, events_per_day=6000)
    end = (START + timedelta(days=7)).timestamp()
    by_local_hour: Counter[int] = Counter()
    by_utc_day: Counter[int] = Counter()
    for event in generator.events(200_000):
        if event["time_stamp"] >= end:
            break
        match = LOCAL_TIME.match(event["local_time"])
        assert match, event["local_time"]
        by_local_hour[int(match.group(4))] += 1
        by_utc_day[int((event["time_stamp"] - START.timestamp()) // 86400)] += 1
    assert by_local_hour[14] > 3 * by_local_hour[3]
    assert by_local_hour[20] > by_local_hour[9] > by_local_hour[5]
    assert sorted(by_utc_day) == list(range(7))
    assert all(5000 * 0.8 < n < 6000 * 1.2 for n in by_utc_day.values())


def test_local_time_is_the_storefront_zone_for_a_known_store() -> None:
    generator = TrafficGenerator(seed=5, start=datetime(2024, 1, 15, 12, tzinfo=UTC))
    german = [e for e in generator.events(5000) if host_of(e) == "www.glamira.de" and not is_bot(e)]
    assert german
    hours = Counter(int(LOCAL_TIME.match(e["local_time"]).group(4)) for e in german)  # type: ignore[union-attr]
    assert hours.most_common(1)[0][0] == 13  # 12:00 UTC is 13:00 in Berlin in January


def test_realtime_stamps_are_the_wall_clock() -> None:
    before = int(time.time())
    event = TrafficGenerator(seed=1, realtime=True).next_event()
    assert before <= event["time_stamp"] <= int(time.time())


def test_without_start_the_time_line_begins_now() -> None:
    before = time.time()
    first = TrafficGenerator(seed=1).next_event()["time_stamp"]
    assert before - 1 <= first <= time.time() + 60


def test_a_naive_start_or_realtime_with_start_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        TrafficGenerator(start=datetime(2024, 5, 27))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="realtime"):
        TrafficGenerator(start=START, realtime=True)


# --- the mix -------------------------------------------------------------------------------------
def test_all_27_collections_appear(events: list[dict[str, Any]]) -> None:
    assert {e["collection"] for e in events} == COLLECTIONS


def test_collection_proportions_are_realistic(events: list[dict[str, Any]]) -> None:
    counts = Counter(e["collection"] for e in events)
    assert 0.40 <= counts["view_product_detail"] / len(events) <= 0.47
    assert counts.most_common(1)[0][0] == "view_product_detail"
    assert counts["checkout_success"] < counts["checkout"] < counts["view_shopping_cart"]
    assert counts["add_to_cart_action"] < counts["select_product_option"]
    assert counts["checkout_success"] / len(events) < 0.003


def test_about_13_percent_of_product_views_are_direct(events: list[dict[str, Any]]) -> None:
    views = [e for e in events if e["collection"] == "view_product_detail"]
    assert 0.10 <= share(views, lambda e: e["referrer_url"] == "") <= 0.16


def test_referrers_mix_internal_search_social_and_paid(events: list[dict[str, Any]]) -> None:
    referrers = [e["referrer_url"] for e in events]
    assert any("glamira." in r for r in referrers)
    assert any(r.startswith("https://www.google.") for r in referrers)
    assert any("facebook.com" in r or "instagram.com" in r for r in referrers)
    assert any("pinterest." in r for r in referrers)
    assert any("mail" in r or "outlook" in r for r in referrers)
    assert any("gclid=" in e["current_url"] for e in events)


def test_bots_are_a_few_percent(events: list[dict[str, Any]]) -> None:
    assert 0.01 <= share(events, is_bot) <= 0.05
    assert all(e["referrer_url"] == "" for e in events if is_bot(e))
    agents = {e["user_agent"] for e in events if is_bot(e)}
    for marker in ("facebookexternalhit/1.1", "Googlebot", "bingbot", "AhrefsBot"):
        assert any(marker in a for a in agents), marker


def test_browser_and_device_mix(events: list[dict[str, Any]]) -> None:
    agents = [e["user_agent"] for e in events]
    for marker in ("Windows NT", "iPhone", "Android", "Macintosh", "Edg/", "Firefox/", "SamsungBrowser",
                   "iPad"):
        assert any(marker in a for a in agents), marker
    assert 0.2 < share(events, lambda e: "iPhone" in e["user_agent"]) < 0.35


def test_many_storefronts_and_known_store_ids(events: list[dict[str, Any]]) -> None:
    hosts = {host_of(e) for e in events}
    assert len({h for h in hosts if re.fullmatch(r"www\.glamira\.[a-z.]*[a-z]", h)}) >= 40
    suffix_of_store: dict[str, set[str]] = {}
    for e in events:
        host = host_of(e)
        if host.startswith("www.glamira."):
            suffix_of_store.setdefault(host.removeprefix("www.glamira."), set()).add(str(e["store_id"]))
    for suffix, store in KNOWN_STORES.items():
        assert str(store) in suffix_of_store[suffix], suffix
    assert len(suffix_of_store["ch"]) > 1  # a country with several stores
    assert len(STOREFRONTS) >= 40


def test_a_little_host_noise(events: list[dict[str, Any]]) -> None:
    def noisy(e: dict[str, Any]) -> bool:
        return not re.fullmatch(r"(www\.)?glamira\.[a-z.]*[a-z]", host_of(e))

    assert 0.001 <= share(events, noisy) <= 0.02


def test_product_popularity_is_zipf_like(events: list[dict[str, Any]]) -> None:
    views = Counter(str(e["product_id"]) for e in events if e["collection"] == "view_product_detail")
    ranked = [n for _, n in views.most_common()]
    assert ranked[0] >= 20 * ranked[len(ranked) // 2]
    assert len(views) > 2000  # and a long tail


def test_visitors_do_several_events(events: list[dict[str, Any]]) -> None:
    humans = [e for e in events if not is_bot(e)]
    per_device = Counter(e["device_id"] for e in humans)
    assert 3 <= len(humans) / len(per_device) <= 8
    one_device = next(d for d, n in per_device.items() if n >= 3)
    same = [e for e in humans if e["device_id"] == one_device]
    assert len({(e["ip"], e["user_agent"], str(e["store_id"])) for e in same}) == 1


# --- field shapes --------------------------------------------------------------------------------
def test_every_event_encodes_with_the_common_fields(events: list[dict[str, Any]]) -> None:
    for e in events:
        assert orjson.loads(encode(e)) == e
        assert type(e["time_stamp"]) is int
        assert e["collection"] in COLLECTIONS
        assert e["api_version"] == "1.0"
        assert UUID.match(e["device_id"])
        assert "id" not in e or UUID.match(e["id"])
        object_id = e["_id"]["$oid"] if isinstance(e["_id"], dict) else e["_id"]
        assert OBJECT_ID.match(object_id)
        assert isinstance(e["store_id"], str | int) and str(e["store_id"]).isdigit()
        assert LOCAL_TIME.match(e["local_time"])
        assert e["show_recommendation"] in ("true", "false", None)
        assert e["current_url"].startswith("https://")
        assert ipaddress.ip_address(e["ip"]).is_global, e["ip"]
        assert e["email_address"] == "" or e["email_address"].endswith("@example.com")


def test_variants_of_the_same_field_all_occur(events: list[dict[str, Any]]) -> None:
    assert 0.2 < share(events, lambda e: isinstance(e["_id"], dict)) < 0.4
    assert 0.85 < share(events, lambda e: "id" in e) < 0.95
    assert 0.15 < share(events, lambda e: isinstance(e["store_id"], int)) < 0.35
    products = [e for e in events if "product_id" in e]
    assert 0.2 < share(products, lambda e: isinstance(e["product_id"], int)) < 0.4
    assert share(events, lambda e: e["email_address"] != "") < 0.1
    assert any(":" in e["ip"] for e in events)  # some IPv6
    times = {e["local_time"] for e in events}
    assert any(re.search(r" \d:", t) for t in times) and any(re.search(r" 0\d:", t) for t in times)
    assert {e["show_recommendation"] for e in events} == {"true", "false", None}
    assert {type(e.get("utm_source")) for e in events} >= {bool, str}


def test_product_events_carry_product_id_and_an_option_array(events: list[dict[str, Any]]) -> None:
    for e in (e for e in events if e["collection"] in PRODUCT_EVENTS):
        assert str(e["product_id"]).isdigit()
        assert isinstance(e["option"], list)
        assert all(set(o) == OPTION_KEYS for o in e["option"])
        assert ".html?" in e["current_url"] and "glamira-" in e["current_url"]
    views = [e for e in events if e["collection"] == "view_product_detail"]
    assert any(e["option"] == [] for e in views) and any(len(e["option"]) == 2 for e in views)
    assert any(re.search(r"-sku\w+\.html\?alloy=[\w-]+&diamond=", e["current_url"]) for e in views)


def test_recommendation_events_carry_the_viewed_product_not_product_id(events: list[dict[str, Any]]) -> None:
    for e in (e for e in events if e["collection"] in RECOMMENDATION_EVENTS):
        assert "product_id" not in e
        assert str(e["viewing_product_id"]).isdigit()
        if e["collection"].endswith("_clicked"):
            assert str(e["recommendation_product_id"]).isdigit()
            assert 1 <= e["recommendation_clicked_position"] <= 12


def test_listing_events_carry_an_option_object_and_category(events: list[dict[str, Any]]) -> None:
    for e in (e for e in events if e["collection"] in LISTING_EVENTS):
        assert isinstance(e["option"], dict) and set(e["option"]) == {"alloy", "diamond", "shapediamond"}
        assert "cat_id" in e and "collect_id" in e
        assert "product_id" not in e


def test_search_events_carry_the_search_terms(events: list[dict[str, Any]]) -> None:
    searches = [e for e in events if e["collection"] == "search_box_action"]
    assert all(isinstance(e["key_search"], str) and e["key_search"] for e in searches)
    assert all("catalogsearch/result/?q=" in e["current_url"] for e in searches)


def test_cart_events_carry_locale_formatted_prices(events: list[dict[str, Any]]) -> None:
    carts = [e for e in events if e["collection"] in CART_EVENTS]
    currencies = set()
    for e in carts:
        assert e["cart_products"]
        for line in e["cart_products"]:
            assert str(line["product_id"]).isdigit() and line["amount"] in (1, 2)
            assert PRICE.match(line["price"]), line["price"]
            assert line["option"] == "" or all(set(o) == OPTION_KEYS for o in line["option"])
            currencies.add(line["currency"])
    assert {"€", "£"} <= currencies
    orders = [e for e in carts if e["collection"] == "checkout_success"]
    assert all(str(e["order_id"]).isdigit() for e in orders)
    assert len({str(e["order_id"]) for e in orders}) == len(orders)
    assert all("/checkout/onepage/success/" in e["current_url"] for e in orders)


@pytest.mark.parametrize(
    ("amount", "style", "shown"),
    [(4990, "dot", "4.990,00"), (1880, "comma", "1,880.00"), (1234.5, "apos", "1'234.50"),
     (1234.5, "space", "1 234,50"), (1234567, "dot_int", "1.234.567"), (350, "comma", "350.00")],
)
def test_format_price(amount: float, style: str, shown: str) -> None:
    assert format_price(amount, style) == shown


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**63))
def test_any_seed_gives_valid_events(seed: int) -> None:
    for e in TrafficGenerator(seed=seed, start=START, products=50).events(200):
        assert type(orjson.loads(encode(e))["time_stamp"]) is int
        assert e["collection"] in COLLECTIONS
