"""The local Prometheus scrapes what pulse serves: the engine, the API and the collector, on loopback for wildcards."""

from __future__ import annotations

from pathlib import Path

from pulse.settings import Settings
from pulse.stack.prometheus import scrape_jobs


def test_the_jobs_name_the_configured_addresses(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, metrics_host="10.0.0.5", metrics_port=9500, api_host="10.0.0.6",
                        api_port=8000, collect_host="10.0.0.7", collect_port=8001)
    assert scrape_jobs(settings) == {
        "pulse-engine": ["10.0.0.5:9500"], "pulse-api": ["10.0.0.6:8000"], "pulse-collect": ["10.0.0.7:8001"],
    }
    assert scrape_jobs(settings, engine_port=9600)["pulse-engine"] == ["10.0.0.5:9600"]


def test_a_wildcard_listen_address_is_scraped_on_loopback_and_no_metrics_port_means_8440(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, metrics_host="0.0.0.0", metrics_port=0, api_host="::",
                        api_port=8000, collect_host="0.0.0.0", collect_port=8001)
    assert scrape_jobs(settings) == {
        "pulse-engine": ["127.0.0.1:8440"], "pulse-api": ["127.0.0.1:8000"], "pulse-collect": ["127.0.0.1:8001"],
    }
