"""The live page in a real headless Chromium: no console errors, the API's numbers, live updates, freshness."""

from __future__ import annotations

import os
import shutil
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from pulse.collect.server import running
from pulse.engines.native import NativeEngine
from pulse.serve.api import create_app
from pulse.settings import Settings
from tests.e2e.test_storefront import CHROMIUM_FLAGS, chromium
from tests.integration.labelled import build_fixture
from tests.services import pulse_cli

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 29)
SCREENSHOT = Path(__file__).parents[2] / "docs" / "live-page.png"
STALE_AFTER_S = 4.0


def _replay(settings: Settings, seed: int, n_valid: int, tmp_path: Path) -> None:
    path = tmp_path / f"replay-{seed}.jsonl"
    path.write_bytes(b"\n".join(build_fixture(DAY, n_valid=n_valid, seed=seed).lines) + b"\n")
    result = pulse_cli(settings, "replay", str(path))
    assert result.returncode == 0, result.stderr


def _shown_top_products(page: Page) -> list[dict[str, Any]]:
    cells = page.eval_on_selector_all(
        "#top-products tbody tr", "rows => rows.filter(r => r.querySelector('.key'))"
        ".map(r => [r.querySelector('.key').textContent, r.querySelector('.views').textContent])",
    )
    return [{"product_id": key, "views": int(views.replace(",", ""))} for key, views in cells]


def _api_top_products(url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/kpis/top-products", params={"date": DAY.isoformat(), "tz": "UTC"}, timeout=10)
    rows: list[dict[str, Any]] = answer.json()["rows"]
    return rows


def _until(deadline_s: float, check: Any) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def test_the_live_page_shows_the_api_numbers_and_follows_new_events(pipeline: Settings, tmp_path: Path) -> None:
    _replay(pipeline, seed=7, n_valid=1500, tmp_path=tmp_path)
    NativeEngine(pipeline).run(until_idle=2)
    settings = pipeline.model_copy(update={"api_stale_after_s": STALE_AFTER_S})
    problems: list[str] = []
    with running(create_app(settings)) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(f"{url}/?date={DAY.isoformat()}&tz=UTC")
            page.wait_for_selector("#top-products tbody td.key")
            before = _api_top_products(url)
            assert before and _until(5, lambda: _shown_top_products(page) == before)
            conversion = {name: httpx.get(f"{url}/api/kpis/{name}", params={"date": DAY.isoformat(), "tz": "UTC"},
                                          timeout=10).json()["rows"] for name in ("visitors", "sessions", "funnel")}
            visitors, visits = conversion["visitors"]["all_storefronts"], conversion["sessions"]["all_storefronts"]
            assert visitors > 0
            assert _until(5, lambda: page.inner_text("#tile-visitors") == f"{visitors:,}"), "visitors as the API"
            assert page.inner_text("#tile-visits") == f"{visits['visits']:,}"
            assert page.inner_text("#tile-bounce") == f"{100 * visits['bounce_rate']:.1f}%"
            shown_steps = page.eval_on_selector_all("#funnel tbody td.views", "cells => cells.map(c => c.textContent)")
            assert shown_steps == [f"{step['visits']:,}" for step in conversion["funnel"]["steps"]]
            assert page.locator("#country option").count() > 0, "the country picker lists the top countries"
            assert page.input_value("#product") == before[0]["product_id"], "the top product is picked"
            assert page.locator("#product-chart canvas").count() == 1
            assert page.locator("#browser-chart canvas").count() == 1
            # the last commit gets older than the threshold: the indicator turns red
            page.wait_for_selector("#freshness.fresh-stale", timeout=15_000)
            assert "data as of" in page.inner_text("#freshness")

            engine = NativeEngine(pipeline)
            runner = threading.Thread(target=engine.run, kwargs={"until_idle": 6}, daemon=True)
            runner.start()
            _replay(pipeline, seed=8, n_valid=1500, tmp_path=tmp_path)
            assert _until(20, lambda: _api_top_products(url) != before), "the engine loaded the new events"
            page.wait_for_selector("#freshness:not(.fresh-stale)", timeout=10_000)  # fresh commits: not red
            assert _until(10, lambda: _shown_top_products(page) == _api_top_products(url)), "the page followed"
            assert _shown_top_products(page) != before
            page.select_option("#country", "FR")
            page.wait_for_function("document.querySelector('#stores-by-country tbody').innerText.includes('212')")
            page.wait_for_timeout(500)
            shot = tmp_path / "live-page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
            if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
                shutil.copyfile(shot, SCREENSHOT)
            runner.join(timeout=30)
        finally:
            browser.close()
    assert problems == [], "the page logs no errors or warnings"
