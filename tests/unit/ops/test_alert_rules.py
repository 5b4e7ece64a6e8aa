"""The alert rules and the Prometheus config pass Debian's promtool: syntax, and the rules' unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pulse.stack.prometheus import ALERT_RULES

PROMETHEUS_DIR = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not on PATH: install it with `bash scripts/install.sh` (Debian package `prometheus`)")
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("args", [
    ("check", "rules", str(ALERT_RULES)),
    ("check", "config", "prometheus.yml"),
    ("test", "rules", "tests/alerts_test.yml"),
])
def test_promtool_accepts(args: tuple[str, ...], tmp_path: Path) -> None:
    cwd = PROMETHEUS_DIR
    if args[:2] == ("check", "config"):  # as docker-compose lays it out: the rules mounted beside the config
        shutil.copy(PROMETHEUS_DIR / "prometheus.yml", tmp_path)
        shutil.copy(ALERT_RULES, tmp_path / "alerts.yml")
        cwd = tmp_path
    result = promtool(*args, cwd=cwd)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    import yaml

    rules = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    alerts = {r["alert"] for g in rules for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((PROMETHEUS_DIR / "tests" / "alerts_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for t in tests for case in t.get("alert_rule_test", []) if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for t in tests for case in t.get("alert_rule_test", []) if not case.get("exp_alerts")
    }
    assert alerts == fired, f"alerts without a firing test: {alerts - fired}"
    assert alerts == quiet, f"alerts without a quiet test: {alerts - quiet}"
