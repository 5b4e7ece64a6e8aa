"""Data-quality rules without a database: thresholds from settings and options, the failure summary."""

from __future__ import annotations

from pathlib import Path

from pulse.ops.quality import Thresholds, failures_summary
from pulse.settings import load_settings


def test_options_override_settings_which_override_defaults(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, dq_max_quarantine_rate=0.05)
    thresholds = Thresholds.from_settings(settings, unknown_country_share=0.5, duplicate_rate=None)
    assert thresholds == Thresholds(unknown_country_share=0.5, unknown_browser_share=0.10, quarantine_rate=0.05,
                                    duplicate_rate=0.10, commit_age_s=600.0)


def test_the_summary_names_only_failed_checks() -> None:
    report = {"checks": [
        {"name": "quarantine_rate", "value": 0.4, "threshold": 0.02, "status": "fail", "detail": "4 of 10"},
        {"name": "unknown_browser_share", "value": 0.0, "threshold": 0.1, "status": "ok", "detail": "0 of 10"},
        {"name": "commit_age_s", "value": None, "threshold": 600, "status": "fail",
         "detail": "no batch was ever committed"},
    ]}
    assert failures_summary(report) == (
        "quarantine_rate=0.4 > 0.02 (4 of 10); commit_age_s: no batch was ever committed"
    )
