"""Shared by pulse's DAGs: run the pulse CLI as a task, and post task failures to Slack like pulse's alerts.

This file needs no pulse install: the Airflow environment only runs the `pulse` executable (PULSE_BIN,
else the Airflow Variable `pulse_bin`, else `pulse` on PATH). `alert_payload` is the same Block Kit
layout as `pulse.ops.alerts.alert_payload` (a unit test in pulse keeps the two identical).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

SLACK_CONN_ID = os.environ.get("PULSE_SLACK_CONN_ID", "slack_pulse")  # e.g. AIRFLOW_CONN_SLACK_PULSE
HEADER_LIMIT, TEXT_LIMIT, FIELD_LIMIT = 150, 3000, 2000
_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_payload(
    title: str,
    severity: str = "warning",
    text: str = "",
    link: str | None = None,
    fields: Mapping[str, str] | None = None,
    source: str = "pulse",
    at: datetime | None = None,
) -> dict[str, Any]:
    """The webhook body: a plain `text` fallback and Block Kit `blocks` (header, facts, details, link)."""
    if severity not in _EMOJI:
        raise ValueError(f"unknown severity {severity!r}")
    at = (at or datetime.now(UTC)).astimezone(UTC)
    facts = {"Severity": severity, "Source": source, "Time": at.strftime("%Y-%m-%d %H:%M:%S UTC")}
    facts.update(fields or {})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"{_EMOJI[severity]} {title}",
                                                                        HEADER_LIMIT), "emoji": True}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": _clip(f"*{name}*\n{value}", FIELD_LIMIT)}
            for name, value in list(facts.items())[:10]
        ]},
    ]
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, TEXT_LIMIT)}})
    if link:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": link}
        ]})
    return {"text": _clip(f"[{severity.upper()}] {title}", TEXT_LIMIT), "blocks": blocks}


def notify_task_failure(context: Mapping[str, Any]) -> None:
    """on_failure_callback: one Slack message naming the DAG, task, run and the reason."""
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    ti = context["ti"]
    reason = str(context.get("exception") or "the task failed")
    link = getattr(ti, "log_url", None)
    payload = alert_payload(
        title=f"Airflow: {ti.dag_id}.{ti.task_id} failed",
        severity="critical",
        text=f"```{_clip(reason, TEXT_LIMIT - 6)}```",
        link=link if isinstance(link, str) and link.startswith("http") else None,
        fields={"DAG": ti.dag_id, "Task": ti.task_id, "Run": str(context.get("run_id", "")),
                "Try": str(getattr(ti, "try_number", ""))},
        source="airflow",
    )
    try:
        SlackWebhookHook(slack_webhook_conn_id=SLACK_CONN_ID).send(text=payload["text"], blocks=payload["blocks"])
    except Exception:  # a broken webhook must not hide the task's own failure in the logs
        log.exception("could not post the failure of %s.%s to Slack", ti.dag_id, ti.task_id)


def pulse_executable() -> str:
    """The pulse CLI to run: PULSE_BIN, the Airflow Variable pulse_bin, or `pulse` on PATH."""
    found = os.environ.get("PULSE_BIN")
    if not found:
        from airflow.sdk import Variable

        found = Variable.get("pulse_bin", default=None) or shutil.which("pulse")
    if not found:
        raise RuntimeError("pulse CLI not found: set PULSE_BIN (or the Airflow Variable pulse_bin) to its path")
    return str(found)


def _why(args: tuple[str, ...], result: subprocess.CompletedProcess[str]) -> str:
    """What went wrong, from the command's JSON answer when it has one (failed checks, statuses)."""
    try:
        doc = json.loads(result.stdout)
    except ValueError:
        doc = None
    lines = [f"pulse {' '.join(args)} exited {result.returncode}"]
    if isinstance(doc, dict):
        failed = [c for c in doc.get("checks", []) if isinstance(c, dict) and c.get("status") not in ("ok", None)]
        for c in failed:
            lines.append(f"{c.get('name')}: {c.get('value')} (limit {c.get('threshold')}) {c.get('detail', '')}".strip())
        if not failed and "status" in doc:
            lines.append(f"status: {doc['status']}")
    tail = (result.stderr or "").strip().splitlines()[-5:]
    lines.extend(tail)
    return "\n".join(lines)


def run_pulse(*args: str, timeout: timedelta = timedelta(minutes=30)) -> str:
    """Run `pulse ARGS`, log its output, fail with the reason on a non-zero exit; returns stdout (XCom)."""
    command = [pulse_executable(), *args]
    log.info("running %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout.total_seconds(), check=False)
    if result.stdout:
        log.info("stdout:\n%s", result.stdout)
    if result.stderr:
        log.info("stderr:\n%s", result.stderr)
    if result.returncode != 0:
        raise RuntimeError(_why(args, result))
    return result.stdout


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "pulse",
    "depends_on_past": False,
    "on_failure_callback": notify_task_failure,
}
