"""Alerts to a Slack incoming webhook (slack_sdk): Block Kit payload, retries on 429/5xx, secret URL."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pulse.errors import ConfigError, TerminalError, TransientError
from pulse.settings import Settings

log = logging.getLogger(__name__)

# slack_sdk logs the request URL (the secret) at DEBUG, and at INFO when it retries a lost connection:
# the logger pulse gives it only lets warnings through (its errors name the failure, not the URL).
_SLACK_LOG = logging.getLogger("pulse.ops.alerts.slack_sdk")
_SLACK_LOG.setLevel(logging.WARNING)

HEADER_LIMIT = 150  # Slack's limits for a header block and a section text
TEXT_LIMIT = 3000
FIELD_LIMIT = 2000


class Severity(StrEnum):
    """How urgent an alert is."""

    info = "info"
    warning = "warning"
    critical = "critical"


_EMOJI = {Severity.info: ":information_source:", Severity.warning: ":warning:", Severity.critical: ":rotating_light:"}


@dataclass(frozen=True, slots=True)
class Alert:
    """One notification: a title, how urgent, details, an optional link and labelled facts."""

    title: str
    severity: Severity = Severity.warning
    text: str = ""
    link: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    source: str = "pulse"
    at: datetime | None = None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The webhook body: a plain `text` fallback (notifications) and Block Kit `blocks`.

    deploy/airflow/dags/pulse_slack.py builds the same payload for Airflow failures (a unit test
    checks the two agree), so every pulse alert looks alike in the channel.
    """
    severity = Severity(alert.severity)
    at = (alert.at or datetime.now(UTC)).astimezone(UTC)
    facts = {"Severity": severity.value, "Source": alert.source, "Time": at.strftime("%Y-%m-%d %H:%M:%S UTC")}
    facts.update(alert.fields)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"{_EMOJI[severity]} {alert.title}",
                                                                        HEADER_LIMIT), "emoji": True}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": _clip(f"*{name}*\n{value}", FIELD_LIMIT)}
            for name, value in list(facts.items())[:10]  # Slack allows 10 fields per section
        ]},
    ]
    if alert.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(alert.text, TEXT_LIMIT)}})
    if alert.link:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": alert.link}
        ]})
    return {"text": _clip(f"[{severity.value.upper()}] {alert.title}", TEXT_LIMIT), "blocks": blocks}


class SlackAlerter:
    """Posts alerts to one incoming webhook, retrying rate limits (429), server errors and lost connections."""

    def __init__(self, webhook_url: str, *, max_retries: int = 3, timeout_s: float = 10.0) -> None:
        from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
        from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
        from slack_sdk.webhook import WebhookClient

        if not webhook_url.startswith(("https://", "http://")):
            raise ConfigError("PULSE_SLACK_WEBHOOK_URL must be an http(s) URL (Slack: Incoming Webhooks)")
        self._client = WebhookClient(
            webhook_url,
            timeout=int(max(1, timeout_s)),
            logger=_SLACK_LOG,
            retry_handlers=[
                RateLimitErrorRetryHandler(max_retry_count=max_retries),
                ServerErrorRetryHandler(max_retry_count=max_retries),
                ConnectionErrorRetryHandler(max_retry_count=max_retries),
            ],
        )

    def send(self, alert: Alert) -> None:
        """Deliver one alert; TransientError when Slack stays unavailable, TerminalError when it refuses."""
        payload = alert_payload(alert)
        try:
            response = self._client.send(text=payload["text"], blocks=payload["blocks"])
        except OSError as exc:  # connection refused/reset, timeouts: already retried by the handlers
            raise TransientError(f"Slack webhook unreachable: {type(exc).__name__}") from None
        if response.status_code == 200:
            log.info("alert sent to Slack: %s (%s)", alert.title, alert.severity)
            return
        # The body is Slack's reason (invalid_payload, no_service, ...); never the URL.
        reason = (response.body or "").strip()[:200]
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"Slack webhook answered {response.status_code} after retries: {reason}")
        raise TerminalError(
            f"Slack webhook refused the alert ({response.status_code} {reason}); check PULSE_SLACK_WEBHOOK_URL"
        )


def alerter_from(settings: Settings) -> SlackAlerter:
    """The alerter for the configured webhook, or a ConfigError saying how to configure one."""
    if settings.slack_webhook_url is None or not settings.slack_webhook_url.get_secret_value():
        raise ConfigError(
            "PULSE_SLACK_WEBHOOK_URL is not set: create an Incoming Webhook in Slack and export its URL"
        )
    return SlackAlerter(settings.slack_webhook_url.get_secret_value(), max_retries=settings.slack_max_retries)


def send_alert(settings: Settings, alert: Alert) -> None:
    """Send one alert with the configured webhook."""
    alerter_from(settings).send(alert)
