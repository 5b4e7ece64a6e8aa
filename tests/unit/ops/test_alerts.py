"""Slack alerts against a local webhook receiver: the payload, retries on 429/5xx, refusals, no leaked URL."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from pulse.errors import ConfigError, TerminalError, TransientError
from pulse.ops.alerts import Alert, Severity, SlackAlerter, alert_payload, alerter_from
from pulse.settings import load_settings
from pulse.testing.slack import SlackReceiver, block_texts
from tests.services import free_port

DAGS = Path(__file__).parents[3] / "deploy" / "airflow" / "dags"
AT = datetime(2026, 11, 28, 21, 5, 9, tzinfo=UTC)
ALERT = Alert(title="quarantine rate 12%", severity=Severity.critical, text="*3* of 25 messages rejected",
              link="https://airflow.example.com/dags/pulse_data_quality", fields={"DAG": "pulse_data_quality"}, at=AT)


@pytest.fixture
def receiver() -> Iterator[SlackReceiver]:
    with SlackReceiver() as running:
        yield running


def test_payload_has_title_severity_details_and_link() -> None:
    body = alert_payload(ALERT)
    assert body["text"] == "[CRITICAL] quarantine rate 12%"
    header, facts, details, actions = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": ":rotating_light: quarantine rate 12%",
                                                 "emoji": True}}
    assert [f["text"] for f in facts["fields"]] == [
        "*Severity*\ncritical", "*Source*\npulse", "*Time*\n2026-11-28 21:05:09 UTC", "*DAG*\npulse_data_quality"]
    assert details["text"] == {"type": "mrkdwn", "text": "*3* of 25 messages rejected"}
    assert actions["elements"][0]["url"] == "https://airflow.example.com/dags/pulse_data_quality"
    long = alert_payload(Alert(title="x" * 500, text="y" * 10_000))
    assert len(long["blocks"][0]["text"]["text"]) == 150 and len(long["blocks"][2]["text"]["text"]) == 3000
    assert [b["type"] for b in alert_payload(Alert(title="t"))["blocks"]] == ["header", "section"]


def test_the_receiver_gets_exactly_the_payload(receiver: SlackReceiver) -> None:
    SlackAlerter(receiver.url).send(ALERT)
    [body] = receiver.wait_for(1)
    assert body == alert_payload(ALERT)
    assert receiver.requests[0]["headers"]["Content-Type"].startswith("application/json")


def test_rate_limits_and_server_errors_are_retried(receiver: SlackReceiver) -> None:
    receiver.fail_next(429, 503)
    SlackAlerter(receiver.url, max_retries=3).send(ALERT)
    assert [r["status"] for r in receiver.requests] == [429, 503, 200]
    assert receiver.delivered == [alert_payload(ALERT)]


def test_slack_down_is_transient_and_a_refusal_is_terminal_neither_shows_the_url(receiver: SlackReceiver) -> None:
    receiver.fail_next(500, 500, 500)
    with pytest.raises(TransientError) as down:
        SlackAlerter(receiver.url, max_retries=2).send(ALERT)
    assert len(receiver.requests) == 3 and receiver.url not in str(down.value)

    wrong = receiver.url.replace("test-webhook", "revoked")
    with pytest.raises(TerminalError, match="404 no_service") as refused:
        SlackAlerter(wrong).send(ALERT)
    assert wrong not in str(refused.value) and "revoked" not in str(refused.value)

    with pytest.raises(TransientError, match="unreachable") as unreachable:
        SlackAlerter(f"http://127.0.0.1:{free_port()}/services/x", max_retries=1).send(ALERT)
    assert "/services/x" not in str(unreachable.value)


def test_the_webhook_url_is_never_logged(receiver: SlackReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.fail_next(429)
    SlackAlerter(receiver.url).send(ALERT)
    with pytest.raises(TransientError):  # a lost connection is retried: slack_sdk would log the URL at INFO
        SlackAlerter(f"http://127.0.0.1:{free_port()}/services/secret-path", max_retries=1).send(ALERT)
    assert receiver.delivered and caplog.records
    assert "test-webhook" not in caplog.text and "secret-path" not in caplog.text


def test_settings_keep_the_url_secret_and_a_missing_url_says_what_to_set(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, slack_webhook_url="https://hooks.example.com/services/T/B/secret")
    assert "secret" not in repr(settings) and "secret" not in str(settings.model_dump())
    with pytest.raises(ConfigError, match="PULSE_SLACK_WEBHOOK_URL"):
        alerter_from(load_settings(home=tmp_path))
    with pytest.raises(ConfigError, match="http"):
        SlackAlerter("hooks.example.com/services/T/B/secret")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    return subprocess.run([sys.executable, "-m", "pulse.cli", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=60, check=False)


def test_cli_alert_send_and_test(receiver: SlackReceiver, tmp_path: Path) -> None:
    env = {"PULSE_HOME": str(tmp_path), "PULSE_SLACK_WEBHOOK_URL": receiver.url}
    sent = _cli("alert", "send", "--title", "engine lag 90 s", "--severity", "warning", "--text", "partition 3",
                env=env)
    assert sent.returncode == 0, sent.stderr
    tested = _cli("alert", "test", env=env)
    assert tested.returncode == 0, tested.stderr
    first, second = receiver.wait_for(2)
    assert first["text"] == "[WARNING] engine lag 90 s" and "partition 3" in block_texts(first)
    assert second["text"] == "[INFO] pulse alert test"
    assert receiver.url not in sent.stdout + sent.stderr + tested.stdout + tested.stderr

    bad = _cli("alert", "send", "--title", "x", "--severity", "loud", env=env)
    assert bad.returncode == 2 and "info, warning or critical" in bad.stderr
    unset = _cli("alert", "test", env={"PULSE_HOME": str(tmp_path)})
    assert unset.returncode == 2 and "PULSE_SLACK_WEBHOOK_URL" in unset.stderr


def _dag_helpers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pulse_common_for_test", DAGS / "pulse_common.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("alert", [
    ALERT,
    Alert(title="Airflow: pulse_maintenance.maintain failed", severity=Severity.warning, source="airflow", at=AT),
    Alert(title="é" * 200, severity=Severity.info, text="z" * 4000, fields={f"k{i}": "v" for i in range(12)}, at=AT),
])
def test_airflow_failure_messages_have_the_same_layout_as_pulse_alerts(alert: Alert) -> None:
    airflow_payload = _dag_helpers().alert_payload(
        title=alert.title, severity=alert.severity.value, text=alert.text, link=alert.link,
        fields=dict(alert.fields), source=alert.source, at=alert.at,
    )
    assert airflow_payload == alert_payload(alert)
