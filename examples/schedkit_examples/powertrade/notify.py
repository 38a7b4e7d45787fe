"""Informational notifications (e.g. "contracts expiring soon") through the alert
channels of the schedkit configuration (``[alerts] channels``: apprise URLs whose
secrets are ``${ENV}`` references).

Delivery goes through schedkit's own :class:`~schedkit.alerts.channels.AlertSender`, so
a notice gets what run alerts get: ``${ENV}`` expansion at send time, secrets masked in
errors and logs, per-channel timeout and retries, Markdown for chat apps. Nothing is sent
when alerts are disabled or no channel is configured; the result says why, and the
task's result carries the content either way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from schedkit.alerts import AlertKind, AlertsSettings, DeliverySettings, Severity
from schedkit.alerts.messages import Message
from schedkit.errors import ConfigError
from schedkit_examples.powertrade.settings import PowertradeSettings

if TYPE_CHECKING:
    from schedkit.alerts.channels import DeliveryResult

__all__ = ["send_notification"]

logger = logging.getLogger(__name__)

#: A notice is not worth holding a task up for long: one retry, short timeout.
NOTICE_DELIVERY = DeliverySettings(timeout=10.0, retries=1, retry_delay=1.0)


async def send_notification(
    settings: PowertradeSettings,
    title: str,
    body: str,
    *,
    severity: Literal["info", "warning", "error"] = "info",
) -> dict[str, Any]:
    """Send ``title``/``body`` to every configured channel and wait for the outcome.

    Returns ``{"sent": bool, "channels": {name: "sent" | "failed" | ...}}`` or
    ``{"sent": False, "reason": ...}``. Never raises for a channel problem: a notice is
    not worth failing the task.
    """
    if not settings.alerts_enabled:
        return {"sent": False, "reason": "alerts are disabled ([alerts] enabled = false)"}
    if not settings.alert_channels:
        return {"sent": False, "reason": "no alert channels configured ([alerts] channels)"}
    try:
        alerts = AlertsSettings.parse({"enabled": True, "channels": list(settings.alert_channels)})
        # apprise (behind AlertSender) is imported only when a notice is sent: every
        # process that merely discovers the tasks (each CLI command) is spared it.
        from schedkit.alerts.channels import AlertSender

        sender = AlertSender(alerts.channels, NOTICE_DELIVERY, language=alerts.language)
        sender.validate()
    except ConfigError as exc:
        logger.warning("notification not sent: %s", exc)
        return {"sent": False, "reason": str(exc)}

    outcome: dict[str, DeliveryResult] = {}

    def record(channel: str, message: Message, result: DeliveryResult) -> None:
        outcome[channel] = result

    sender.on_result = record
    await sender.start()
    try:
        for name, channel in sender.channels.items():
            sender.submit(
                name,
                Message(
                    title=title,
                    body=body,
                    # The sender needs a kind; a notice is informational like a recovery.
                    kind=AlertKind.RECOVERED,
                    severity=Severity(severity),
                    format=channel.body_format,
                ),
            )
    finally:
        # Waits until every queued message is delivered or has failed its retries.
        grace = (NOTICE_DELIVERY.timeout * 2 + 1) * (NOTICE_DELIVERY.retries + 1) + 5
        await sender.stop(grace=grace)
    sent = any(result == "sent" for result in outcome.values())
    return {"sent": sent, "channels": outcome}
