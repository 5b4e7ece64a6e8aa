"""pulse dq on the real warehouse: every measured number equals the fixture's hand counts."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from pulse.ops.quality import Thresholds, run_checks
from pulse.settings import Settings
from pulse.testing.slack import SlackReceiver, block_texts
from tests.services import env_for, pulse_cli

from .quality_fixture import DUPLICATES, MALFORMED, RECENT, UNKNOWN_BROWSER, UNKNOWN_COUNTRY, load_fixture

pytestmark = pytest.mark.integration

LOOSE = ("--max-unknown-country-share", "0.5", "--max-unknown-browser-share", "0.5", "--max-quarantine-rate", "0.5")


def test_checks_measure_the_fixture_exactly(pipeline: Settings, tmp_path: Path) -> None:
    load_fixture(pipeline, tmp_path)
    loaded_total = RECENT + 5 + 3  # the old and kept events count in the all-time totals
    thresholds = Thresholds(unknown_country_share=0.10, unknown_browser_share=0.10, quarantine_rate=0.02,
                            duplicate_rate=0.10, commit_age_s=600)
    with psycopg.connect(pipeline.reader_url) as conn:  # the dashboard role is enough
        report = run_checks(conn, thresholds, window=timedelta(hours=1))
    values = {c["name"]: c["value"] for c in report["checks"]}
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert report["counts"]["events"] == RECENT
    assert values["unknown_country_share"] == pytest.approx(UNKNOWN_COUNTRY / RECENT, abs=1e-6)  # 9/53 = 0.17
    assert values["unknown_browser_share"] == pytest.approx(UNKNOWN_BROWSER / RECENT, abs=1e-6)  # 4/53 = 0.075
    assert values["quarantine_rate"] == pytest.approx(MALFORMED / (RECENT + MALFORMED), abs=1e-6)  # 3/56 = 0.054
    assert values["duplicate_rate"] == pytest.approx(DUPLICATES / (loaded_total + DUPLICATES), abs=1e-6)  # 5/66 = 0.076
    assert values["duplicate_event_ids"] == 0
    assert 0 <= values["commit_age_s"] < 600
    assert statuses == {"unknown_country_share": "fail", "unknown_browser_share": "ok", "quarantine_rate": "fail",
                        "duplicate_rate": "ok", "duplicate_event_ids": "ok", "commit_age_s": "ok"}
    assert report["status"] == "fail"


def test_cli_dq_exit_status_follows_the_thresholds(pipeline: Settings, tmp_path: Path) -> None:
    load_fixture(pipeline, tmp_path)
    ok = pulse_cli(pipeline, "dq", *LOOSE, "--format", "json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["status"] == "ok"

    failing = pulse_cli(pipeline, "dq", "--format", "json")  # the defaults: 10% unknown country, 2% quarantine
    assert failing.returncode == 1
    failed = {c["name"] for c in json.loads(failing.stdout)["checks"] if c["status"] == "fail"}
    assert failed == {"unknown_country_share", "quarantine_rate"}

    with SlackReceiver() as slack:  # --alert: the failed checks go to Slack too
        alerted = subprocess.run(
            [sys.executable, "-m", "pulse.cli", "dq", *LOOSE, "--max-commit-age-s", "0", "--alert"],
            env={**env_for(pipeline), "PULSE_SLACK_WEBHOOK_URL": slack.url}, capture_output=True, text=True,
            timeout=120, check=False,
        )
        [message] = slack.wait_for(1)
    assert alerted.returncode == 1 and "commit_age_s" in alerted.stdout
    assert message["text"] == "[WARNING] pulse data quality checks failed"
    assert "commit_age_s=" in block_texts(message) and "quarantine_rate" not in block_texts(message)


def test_an_empty_warehouse_fails_only_freshness(pipeline: Settings) -> None:
    result = pulse_cli(pipeline, "dq", "--format", "json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    failed = [c for c in doc["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["commit_age_s"]
    assert failed[0]["detail"] == "no batch was ever committed"
