"""Visitors and orders on the real warehouse: exact, once, in two time zones, against an independent count.

The orders are hand-labelled (tests/cases/conversion/orders.json: totals worked out by hand). The visitors
are counted here from the events themselves, by the definition in the README (a device id, else the UTC day,
the IP's /24, the user agent and the storefront), with none of pulse's code.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import psycopg
import pytest

from pulse.engines.native import NativeEngine
from pulse.settings import Settings
from pulse.warehouse.kpis import KpiWindow, run_kpi
from tests.services import pulse_cli

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 29)
ZONES = ("UTC", "Europe/Berlin")  # UTC is the pipeline's zone; Berlin is added before anything loads
CASES = Path(__file__).resolve().parents[1] / "cases" / "conversion" / "orders.json"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Safari/537.36"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
XMAS = "?utm_source=newsletter&utm_medium=email&utm_campaign=xmas"
BRAND = "?utm_source=google&utm_medium=cpc&utm_campaign=brand"
COUNTRY = {"www.glamira.de": "DE", "www.glamira.co.uk": "GB", "www.glamira.fr": "FR", "www.glamira.se": "SE",
           "www.glamira.ch": "CH", "www.glamira.com.au": "AU", "www.glamira.ca": "CA", "www.glamira.cl": "CL",
           "www.glamira.com": None}  # fmt: skip


def _event(host: str, at: str, device: str | None, *, collection: str = "view_product_detail",
           ua: str = CHROME, ip: str = "81.20.30.40", query: str = "", **extra: Any) -> dict[str, Any]:
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return {"id": str(uuid.uuid4()), "time_stamp": int(moment.timestamp()), "collection": collection,
            "current_url": f"https://{host}/glamira-ring-101.html{query}", "device_id": device, "ip": ip,
            "user_agent": ua, "store_id": "6", "referrer_url": "", **extra}


def _events() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(page and order events, the labelled orders). Bots and a noise host are in, and count as no visitor."""
    orders = json.loads(CASES.read_text())["orders"]
    events = [
        _event("www.glamira.de", "2026-03-29T10:00:00Z", "v20"),  # two visits 50 minutes apart, until later
        _event("www.glamira.de", "2026-03-29T10:50:00Z", "v20", collection="add_to_cart_action"),
        _event("www.glamira.de", "2026-03-29T10:00:00Z", "v1"),
        _event("www.glamira.de", "2026-03-29T12:00:00Z", "v1"),
        _event("www.glamira.de", "2026-03-29T23:30:00Z", "v1"),  # Berlin: already 2026-03-30
        _event("www.glamira.de", "2026-03-28T23:30:00Z", "v10"),  # Berlin: 2026-03-29 00:30
        _event("www.glamira.co.uk", "2026-03-29T14:00:00Z", "v2", query=BRAND),  # its order is resent
        _event("www.glamira.de", "2026-03-29T14:01:00Z", "v2"),  # one visitor on two storefronts
        _event("www.glamira.fr", "2026-03-29T09:00:00Z", None, ip="203.0.113.7"),
        _event("www.glamira.fr", "2026-03-29T09:05:00Z", None, ip="203.0.113.99"),  # same /24 and agent: same
        _event("www.glamira.fr", "2026-03-29T09:06:00Z", None, ip="203.0.113.99", ua=FIREFOX),  # another agent
        _event("www.glamira.fr", "2026-03-30T09:00:00Z", None, ip="203.0.113.7"),  # the next day: rotated
        # v5 goes through the whole funnel before its order (5005, 13:00) on glamira.ch
        _event("www.glamira.ch", "2026-03-29T12:40:00Z", "v5", query=XMAS),
        _event("www.glamira.ch", "2026-03-29T12:45:00Z", "v5", collection="add_to_cart_action"),
        _event("www.glamira.ch", "2026-03-29T12:50:00Z", "v5", collection="checkout"),
        _event("www.glamira.de", "2026-03-29T15:00:00Z", "vbot", ua=GOOGLEBOT),  # a bot is no visitor
        _event("dev.glamira.de", "2026-03-29T15:00:00Z", "vdev"),  # a noise host has none
    ]
    for order in orders:
        event = _event(order["host"], order["at"], order["device"], collection="checkout_success",
                       ip="203.0.113.7" if order["device"] is None else "81.20.30.41", order_id=int(order["order_id"]),
                       cart_products=[{"product_id": 101, "amount": q, "price": p, "currency": c}
                                      for p, q, c in order["lines"]])
        events.append(event)
        if order.get("resent"):  # the shop sends the checkout again: a new event id, the same order
            events.append({**event, "id": str(uuid.uuid4()), "time_stamp": event["time_stamp"] + 120})
    return events, orders


def _visitor(event: dict[str, Any]) -> tuple[str, ...] | None:
    if event["user_agent"] == GOOGLEBOT or event["current_url"].startswith("https://dev."):
        return None
    if event["device_id"]:
        return ("device", event["device_id"])
    moment = datetime.fromtimestamp(event["time_stamp"], UTC)
    network = str(ipaddress.ip_network(f"{event['ip']}/24", strict=False).network_address)
    host = event["current_url"].split("/")[2]
    return ("anonymous", moment.date().isoformat(), network, event["user_agent"], host)


def expected_visitors(events: list[dict[str, Any]], zone: str) -> tuple[int, dict[str | None, int]]:
    """(every storefront, per storefront country) of DAY in `zone`, from the events alone."""
    everywhere: set[tuple[str, ...]] = set()
    per_country: dict[str | None, set[tuple[str, ...]]] = defaultdict(set)
    for event in events:
        visitor = _visitor(event)
        local = datetime.fromtimestamp(event["time_stamp"], UTC).astimezone(ZoneInfo(zone)).date()
        if visitor is None or local != DAY:
            continue
        everywhere.add(visitor)
        per_country[COUNTRY[event["current_url"].split("/")[2]]].add(visitor)
    return len(everywhere), {country: len(found) for country, found in per_country.items()}


def expected_revenue(orders: list[dict[str, Any]], zone: str) -> tuple[dict[str, tuple[int, int, Decimal]],
                                                                       dict[str, int]]:
    """({currency: (orders, items, revenue)}, {issue: orders}) of DAY in `zone`, from the labels."""
    totals: dict[str, tuple[int, int, Decimal]] = {}
    issues: dict[str, int] = defaultdict(int)
    for order in orders:
        moment = datetime.fromisoformat(order["at"].replace("Z", "+00:00"))
        if moment.astimezone(ZoneInfo(zone)).date() != DAY:
            continue
        if "issue" in order:
            issues[order["issue"]] += 1
            continue
        n, items, amount = totals.get(order["currency"], (0, 0, Decimal(0)))
        totals[order["currency"]] = (n + 1, items + order["items"], amount + Decimal(order["revenue"]))
    return totals, dict(issues)


FUNNEL = ("view_product_detail", "add_to_cart_action", "checkout", "checkout_success")
GAP_S = 30 * 60


def _visits_of_day(events: list[dict[str, Any]], zone: str) -> list[list[dict[str, Any]]]:
    """The visits of DAY in `zone` (by their start): each visitor's events sorted, cut at gaps over 30 min."""
    times: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        visitor = _visitor(event)
        if visitor is not None:
            times[visitor].append(event)
    found = []
    for run_events in times.values():
        runs: list[list[dict[str, Any]]] = []
        for event in sorted(run_events, key=lambda e: e["time_stamp"]):
            if runs and event["time_stamp"] - runs[-1][-1]["time_stamp"] <= GAP_S:
                runs[-1].append(event)
            else:
                runs.append([event])
        found += [run for run in runs
                  if datetime.fromtimestamp(run[0]["time_stamp"], UTC).astimezone(ZoneInfo(zone)).date() == DAY]
    return found


def expected_visits(events: list[dict[str, Any]], zone: str) -> dict[str, Any]:
    """Visits of DAY in `zone`: how many, bounces, and how many reached each funnel step in order."""
    visits = bounces = 0
    steps = [0, 0, 0, 0]
    for run in _visits_of_day(events, zone):
        visits += 1
        bounces += sum(e["collection"].startswith("view_") for e in run) <= 1
        at = None
        for index, wanted in enumerate(FUNNEL):
            found = [e["time_stamp"] for e in run if e["collection"] == wanted and (at is None or e["time_stamp"] > at)]
            if not found:
                break
            steps[index] += 1
            at = min(found)
    return {"visits": visits, "bounces": bounces, "steps": steps}


Utm = tuple[str | None, str | None, str | None]


def expected_campaign_orders(events: list[dict[str, Any]], orders: list[dict[str, Any]], zone: str
                             ) -> tuple[dict[Utm, dict[str, tuple[int, Decimal]]], dict[Utm, int]]:
    """({landing UTM: {currency: (orders, revenue)}}, {landing UTM: unreadable orders}) of DAY's visits in
    `zone`: an order is in the visit of the first event that carried it (a resent checkout is a later copy)."""
    labels = {o["order_id"]: o for o in orders}
    first: dict[str, str] = {}
    for event in sorted((e for e in events if "order_id" in e), key=lambda e: e["time_stamp"]):
        first.setdefault(str(event["order_id"]), event["id"])
    money: dict[Utm, dict[str, tuple[int, Decimal]]] = defaultdict(dict)
    unreadable: dict[Utm, int] = defaultdict(int)
    for run in _visits_of_day(events, zone):
        query = parse_qs(urlsplit(run[0]["current_url"]).query)
        utm = tuple(query[name][0] if name in query else None for name in ("utm_source", "utm_medium",
                                                                              "utm_campaign"))
        for event in run:
            if "order_id" not in event or first[str(event["order_id"])] != event["id"]:
                continue
            order = labels[str(event["order_id"])]
            if "issue" in order:
                unreadable[utm] += 1  # type: ignore[index]
                continue
            n, amount = money[utm].get(order["currency"], (0, Decimal(0)))  # type: ignore[index]
            money[utm][order["currency"]] = (n + 1, amount + Decimal(order["revenue"]))  # type: ignore[index]
    return dict(money), dict(unreadable)


def _campaign_orders(rows: list[dict[str, Any]]) -> tuple[dict[Utm, dict[str, tuple[int, Decimal]]], dict[Utm, int]]:
    """The campaigns answer's orders per landing UTM (its rows also split by referrer: summed here)."""
    money: dict[Utm, dict[str, tuple[int, Decimal]]] = defaultdict(dict)
    unreadable: dict[Utm, int] = defaultdict(int)
    for row in rows:
        utm = (row["utm_source"], row["utm_medium"], row["utm_campaign"])
        for line in row["revenue"]:
            n, amount = money[utm].get(line["currency"], (0, Decimal(0)))
            money[utm][line["currency"]] = (n + line["orders"], amount + Decimal(line["revenue"]))
        if row["unreadable_orders"]:
            unreadable[utm] += row["unreadable_orders"]
    return dict(money), dict(unreadable)


def _load(settings: Settings, events: list[dict[str, Any]], path: Path) -> None:
    lines = [json.dumps(event, ensure_ascii=False) for event in events]
    path.write_text("\n".join([*lines, lines[0], lines[-1]]) + "\n")  # and two exact redeliveries
    result = pulse_cli(settings, "replay", str(path))
    assert result.returncode == 0, result.stderr
    NativeEngine(settings).run(until_idle=3)


def _answers(settings: Settings, zone: str) -> dict[str, Any]:
    window = KpiWindow(day=DAY, tz=zone, view_collections=("view_product_detail",))
    with psycopg.connect(settings.reader_url) as conn:
        return {name: run_kpi(conn, name, window)["rows"]
                for name in ("visitors", "revenue", "sessions", "funnel", "campaigns")}


def test_visitors_and_orders_are_exact_once_in_two_zones(pipeline: Settings, tmp_path: Path) -> None:
    with psycopg.connect(pipeline.database_url, autocommit=True) as owner:
        owner.execute("SELECT pulse_add_kpi_zone(%s)", ("Europe/Berlin",))
    events, orders = _events()
    _load(pipeline, events, tmp_path / "first.jsonl")
    # Later: an event 25 minutes inside the gap between two of v20's visits (it bridges them into one), and
    # one of v1's from 18 hours before v1's newest visit ended (beyond the 2-hour lateness bound: late).
    bridge = _event("www.glamira.de", "2026-03-29T10:25:00Z", "v20", collection="view_listing_page")
    late = _event("www.glamira.de", "2026-03-29T05:00:00Z", "v1", collection="view_home_page")
    _load(pipeline, [bridge, late], tmp_path / "later.jsonl")
    on_time = [*events, bridge]
    first = {zone: _answers(pipeline, zone) for zone in ZONES}
    _load(pipeline, [*events, bridge, late], tmp_path / "again.jsonl")  # all once more: nothing counts twice
    for zone in ZONES:
        answers = _answers(pipeline, zone)
        assert answers == first[zone], zone
        visitors, revenue, visits, funnel = (answers[k] for k in ("visitors", "revenue", "sessions", "funnel"))
        expected = expected_visits(on_time, zone)
        assert visits["all_storefronts"]["visits"] == expected["visits"], zone
        assert visits["all_storefronts"]["bounce_rate"] == round(expected["bounces"] / expected["visits"], 4), zone
        assert [step["visits"] for step in funnel["steps"]] == expected["steps"], zone
        assert visits["late_events"] == 1, zone
        events_for_visitors = [*on_time, late]  # a late event still makes its visitor a visitor of the day
        everywhere, per_country = expected_visitors(events_for_visitors, zone)
        assert visitors["all_storefronts"] == everywhere, zone
        assert {row["country_code"]: row["visitors"] for row in visitors["by_storefront"]} == per_country, zone
        totals, issues = expected_revenue(orders, zone)
        assert {row["currency"]: (row["orders"], row["items"], Decimal(row["revenue"]))
                for row in revenue["by_currency"]} == totals, zone
        assert {row["issue"]: row["orders"] for row in revenue["unreadable"]} == issues, zone
        money, unreadable = expected_campaign_orders(on_time, orders, zone)
        assert _campaign_orders(answers["campaigns"]) == (money, unreadable), zone
        assert money[("newsletter", "email", "xmas")] == {"CHF": (1, Decimal("1280.00"))}, zone  # by hand
        assert money[("google", "cpc", "brand")] == {"GBP": (1, Decimal("880.00"))}, zone  # resent: once
        for row in revenue["by_currency"]:  # in the currency's minor units, as the revenue is
            assert Decimal(row["average_order_value"]) == (Decimal(row["revenue"]) / row["orders"]).quantize(
                Decimal(row["revenue"]))
    # Berlin's day starts two hours earlier (CET) and ends two hours earlier (CEST): the two zones differ
    assert first["UTC"] != first["Europe/Berlin"]
    # A zone's day rollups rebuilt from the visits and orders (what a zone added later gets) equal the folded ones
    with psycopg.connect(pipeline.database_url, autocommit=True) as owner:
        owner.execute("SELECT pulse_rebuild_kpi_zone(%s)", ("Europe/Berlin",))
    rebuilt = _answers(pipeline, "Europe/Berlin")
    assert {k: v for k, v in rebuilt.items() if k != "visitors"} == {
        k: v for k, v in first["Europe/Berlin"].items() if k != "visitors"}  # visitors: a ledger, not rebuilt
    with psycopg.connect(pipeline.database_url) as owner:
        stored = owner.execute("SELECT order_id, currency, revenue, issue FROM fact_order ORDER BY 1").fetchall()
    assert stored == [(o["order_id"], o.get("currency"), Decimal(o["revenue"]) if "revenue" in o else None,
                       o.get("issue")) for o in orders]


def test_the_visitors_of_a_zone_not_kept_are_refused_with_what_to_do(pipeline: Settings) -> None:
    result = pulse_cli(pipeline, "kpi", "visitors", "--tz", "Asia/Kolkata", "--format", "json")
    assert result.returncode != 0
    assert "PULSE_TIMEZONE" in result.stderr, result.stderr
