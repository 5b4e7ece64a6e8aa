"""`pulse alert send|test`: one message to Slack through the incoming webhook."""

from __future__ import annotations

from typing import Annotated

import typer

from pulse.cli.common import console
from pulse.settings import load_settings

app = typer.Typer(help="Alerts to Slack (incoming webhook PULSE_SLACK_WEBHOOK_URL).", no_args_is_help=True)


@app.command("send")
def alert_send_cmd(
    title: Annotated[str, typer.Option(help="What happened, in one line.")],
    severity: Annotated[str, typer.Option(help="info, warning or critical.")] = "warning",
    text: Annotated[str, typer.Option(help="Details (Slack mrkdwn).")] = "",
    link: Annotated[str | None, typer.Option(help="A URL to open (dashboard, run, runbook).")] = None,
) -> None:
    """Send one alert to Slack (retries rate limits and server errors)."""
    from pulse.ops.alerts import Alert, Severity, send_alert

    try:
        level = Severity(severity)
    except ValueError:
        raise typer.BadParameter("use info, warning or critical", param_hint="--severity") from None
    send_alert(load_settings(), Alert(title=title, severity=level, text=text, link=link))
    console.print("alert sent")


@app.command("test")
def alert_test_cmd() -> None:
    """Send a harmless test message to check the webhook."""
    from pulse.ops.alerts import Alert, Severity, send_alert

    send_alert(load_settings(), Alert(title="pulse alert test", severity=Severity.info,
                                      text="If you can read this, pulse alerts reach this channel."))
    console.print("test alert sent")
