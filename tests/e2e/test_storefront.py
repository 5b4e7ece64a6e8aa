"""A real headless Chromium browses the demo storefront: tracker -> `pulse collect` -> Kafka -> engine -> KPIs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from playwright.sync_api import Page, sync_playwright

from pulse.collect import tracker
from pulse.collect.demo import create_demo_app
from pulse.collect.server import free_port, running
from pulse.engines.native import NativeEngine
from pulse.settings import Settings
from pulse.warehouse.kpis import KpiWindow, run_kpi
from tests.services import env_for

pytestmark = pytest.mark.integration

# Headless Chromium calls itself HeadlessChrome, which pulse rightly counts as a bot; browse as a shopper.
SHOPPER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# What the browsing below sends, by collection.
EXPECTED = {
    "view_home_page": 1, "listing_page_recommendation_clicked": 1, "view_product_detail": 3,
    "product_detail_recommendation_clicked": 1, "add_to_cart_action": 1, "search_box_action": 1,
    "view_listing_page": 1, "view_shopping_cart": 1, "checkout": 2,
}
BEFORE_CONSENT = 3  # home view, the card click, the first product view


def chromium() -> str:
    path = os.environ.get("PULSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail("Chromium is not installed: `bash scripts/install.sh` installs it (Debian package chromium)")
    return path


@pytest.fixture
def collector_url(pipeline: Settings) -> Iterator[tuple[str, int]]:
    """The real `pulse collect` command in a subprocess; yields its URL and the storefront's port."""
    port, demo_port = free_port(), free_port()
    env = env_for(pipeline) | {"PULSE_COLLECT_ALLOWED_ORIGINS": f'["http://127.0.0.1:{demo_port}"]'}
    log = tempfile.TemporaryFile()
    child = subprocess.Popen([sys.executable, "-m", "pulse.cli", "collect", "--port", str(port)],
                             env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            if child.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"pulse collect did not become healthy:\n{log.read().decode(errors='replace')}")
            time.sleep(0.2)
        yield url, demo_port
    finally:
        child.terminate()
        child.wait(timeout=30)
        log.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _accepted(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    found = re.search(r'^pulse_collect_events_total\{outcome="accepted",reason=""\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _device_id(page: Page) -> object:
    return page.evaluate("localStorage.getItem('pulse_device_id')")


def _browse(page: Page, shop: str) -> None:
    page.goto(f"{shop}/")
    page.click("#card-96672")  # listing_page_recommendation_clicked, then the product page loads
    page.wait_for_selector("#add-to-cart")
    assert _device_id(page) is None, "no device id before consent"
    assert page.context.cookies() == [], "no cookies before consent"
    page.click("#consent-accept")
    assert _device_id(page), "a device id once the visitor consented"
    page.click("#card-110474")  # product_detail_recommendation_clicked
    page.wait_for_selector("#product-name:has-text('Ellinor')")
    page.select_option("#alloy", "3279320")
    page.click("#add-to-cart")
    page.goto(f"{shop}/product/96672.html")
    page.fill("input[name=q]", "saphira")
    page.click("#search-button")
    page.wait_for_url(re.compile(r"/search\.html"))
    page.goto(f"{shop}/cart.html")
    page.click("#to-checkout")
    page.wait_for_selector("#to-payment")
    page.click("#to-payment")  # pulse('checkout', 'payment')


def test_browsing_the_storefront_lands_in_the_warehouse_and_the_kpis(
    pipeline: Settings, collector_url: tuple[str, int]
) -> None:
    url, demo_port = collector_url
    total = sum(EXPECTED.values())
    with running(create_demo_app(url), port=demo_port) as shop, sync_playwright() as pw:
        # the flag covers beacons too, which the context's user-agent override does not reach
        browser = pw.chromium.launch(executable_path=chromium(), args=[*CHROMIUM_FLAGS, f"--user-agent={SHOPPER_UA}"])
        try:
            context = browser.new_context(user_agent=SHOPPER_UA)
            page = context.new_page()
            _browse(page, shop)
            page.close(run_before_unload=True)  # pagehide: the tracker flushes what it still holds
            deadline = time.monotonic() + 30
            while _accepted(url) < total and time.monotonic() < deadline:
                time.sleep(0.2)
            context.close()
        finally:
            browser.close()
    assert _accepted(url) == total, "every event the browser sent was acknowledged by Kafka"

    NativeEngine(pipeline).run(until_idle=2.0)
    with psycopg.connect(pipeline.database_url) as conn:
        by_collection = dict(conn.execute("SELECT collection, count(*) FROM fact_event GROUP BY 1").fetchall())
        devices = conn.execute(
            "SELECT count(*) FILTER (WHERE device_hash IS NULL), count(DISTINCT device_hash),"
            " bool_or(is_bot), count(DISTINCT event_id) FROM fact_event"
        ).fetchone()
        cart = conn.execute("SELECT product_id FROM fact_event WHERE collection = 'add_to_cart_action'").fetchall()
        search = conn.execute("SELECT key_search FROM fact_event WHERE collection = 'search_box_action'").fetchall()
    assert by_collection == EXPECTED
    assert devices == (BEFORE_CONSENT, 1, False, total), "one device id, only after consent; no bots"
    assert cart == [("110474",)] and search == [("saphira",)]

    window = KpiWindow(day=datetime.now(UTC).date(), tz="UTC", view_collections=("view_product_detail",))
    with psycopg.connect(pipeline.reader_url) as conn:
        top = run_kpi(conn, "top-products", window)
    assert top["rows"] == [{"product_id": "96672", "views": 2}, {"product_id": "110474", "views": 1}]


def test_without_sendbeacon_the_tracker_falls_back_to_fetch_through_cors(
    pipeline: Settings, collector_url: tuple[str, int]
) -> None:
    url, demo_port = collector_url
    cors_errors: list[str] = []
    kinds: list[str] = []
    with running(create_demo_app(url), port=demo_port) as shop, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=[*CHROMIUM_FLAGS, f"--user-agent={SHOPPER_UA}"])
        try:
            page = browser.new_page()
            page.add_init_script("Object.defineProperty(navigator, 'sendBeacon', {value: undefined})")
            page.on("console", lambda msg: cors_errors.append(msg.text) if "CORS" in msg.text else None)
            page.on("request", lambda r: kinds.append(r.resource_type) if r.url.endswith("/collect") else None)
            page.goto(f"{shop}/")
            page.click("#card-96672")
            page.wait_for_selector("#add-to-cart")
            page.click("#add-to-cart")
            deadline = time.monotonic() + 30
            while len(_ids_in_kafka(pipeline)) < 4 and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            browser.close()
    assert cors_errors == [], "the collector answers the storefront's origin"
    assert kinds and set(kinds) == {"fetch"}, kinds
    events = _ids_in_kafka(pipeline)
    assert sorted(events.values()) == sorted(
        ["view_home_page", "listing_page_recommendation_clicked", "view_product_detail", "add_to_cart_action"]
    )
    # A keepalive fetch cut short by navigation may be sent again: at least once, same ids (deduplicated).
    assert _accepted(url) >= 4


def _ids_in_kafka(settings: Settings) -> dict[str, str]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"e2e-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(settings.topic, timeout=10).topics[settings.topic].partitions
        consumer.assign([TopicPartition(settings.topic, p, OFFSET_BEGINNING) for p in partitions])
        found: dict[str, str] = {}
        while (msg := consumer.poll(1.0)) is not None:
            if msg.error() is None:
                event = orjson.loads(msg.value() or b"{}")
                found[event["id"]] = event["collection"]
        return found
    finally:
        consumer.close()


def test_the_tracker_is_small_and_its_minified_copy_is_current() -> None:
    assert tracker.main(["--check"]) == 0, "run `python -m pulse.collect.tracker` after editing the tracker"
    assert tracker.MINIFIED.stat().st_size <= tracker.MAX_MINIFIED_BYTES
