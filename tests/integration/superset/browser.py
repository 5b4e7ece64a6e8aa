"""Open the provisioned dashboard in headless Chromium, as a person would, and collect the chart-data
answers the Superset frontend asked for (queries built by the frontend from each chart's form data)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Page, Response, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.test_storefront import CHROMIUM_FLAGS, chromium

RENDER_TIMEOUT_S = 150
LOGIN_ATTEMPTS = 3
LOGIN_WAIT_S = 45


def _rison_text(value: str) -> str:
    return "'" + value.replace("!", "!!").replace("'", "!'") + "'"


def native_filters_param(time_range: str, country: str, product_id: str) -> str:
    """The dashboard's `native_filters` URL parameter (rison) choosing a day, a country and a product."""
    def select(fid: str, column: str, value: str) -> str:
        text = _rison_text(value)
        return (f"{fid}:(extraFormData:(filters:!((col:{column},op:IN,val:!({text})))),"
                f"filterState:(value:!({text})),id:{fid},ownState:())")
    day = _rison_text(time_range)
    date = (f"NATIVE_FILTER-pulse-date:(extraFormData:(time_range:{day}),filterState:(value:{day}),"
            "id:NATIVE_FILTER-pulse-date,ownState:())")
    country_part = select("NATIVE_FILTER-pulse-country", "country_code", country)
    product_part = select("NATIVE_FILTER-pulse-product", "product_id", product_id)
    return quote(f"({date},{country_part},{product_part})", safe="")


def _log_in(page: Page, url: str, username: str, password: str) -> None:
    """Log in through the login form. A click that lands before the page's script is ready does
    nothing (seen once in CI), so the form is filled again and resubmitted, up to LOGIN_ATTEMPTS times."""
    seen = ""
    for _ in range(LOGIN_ATTEMPTS):
        page.goto(f"{url}/login/", timeout=RENDER_TIMEOUT_S * 1000, wait_until="networkidle")
        page.fill('[data-test="username-input"]', username)
        page.fill('[data-test="password-input"]', password)
        page.click('[data-test="login-button"]')
        try:  # "commit": the welcome page behind the login may take long to load, the redirect does not
            page.wait_for_url(lambda u: "/login" not in u, timeout=LOGIN_WAIT_S * 1000, wait_until="commit")
            return
        except PlaywrightTimeoutError:
            seen = page.inner_text("body")[:300]
    raise AssertionError(f"the login form never let us in ({LOGIN_ATTEMPTS} attempts); the page said: {seen!r}")


def render_dashboard(url: str, username: str, password: str, dashboard_url: str, filters: str,
                     expected_charts: int, screenshot: Path | None = None) -> dict[int, dict[str, Any]]:
    """Log in, open the dashboard with the filters, wait for every chart's data; slice id -> answer."""
    answers: dict[int, dict[str, Any]] = {}
    pending: list[Response] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.on("response", lambda r: pending.append(r) if "/api/v1/chart/data" in r.url else None)
            _log_in(page, url, username, password)
            page.goto(f"{dashboard_url}?native_filters={filters}", timeout=RENDER_TIMEOUT_S * 1000)
            deadline = time.monotonic() + RENDER_TIMEOUT_S
            while len(answers) < expected_charts and time.monotonic() < deadline:
                page.wait_for_timeout(500)
                while pending:
                    response = pending.pop()
                    body = response.request.post_data_json or {}
                    slice_id = (body.get("form_data") or {}).get("slice_id")
                    if slice_id is not None:
                        answers[int(slice_id)] = {"status": response.status, "body": response.json()}
            if screenshot is not None:
                page.wait_for_timeout(8000)  # let the charts finish drawing
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return answers
