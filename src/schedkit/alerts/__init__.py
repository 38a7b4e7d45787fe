"""Alerts: rules (pure functions over stored state), messages (zh/en) and channels
(apprise). The :class:`schedkit.monitor.Monitor` extension wires them to run events."""

from __future__ import annotations

from schedkit.alerts.config import (
    AlertKind,
    AlertsSettings,
    ChannelSettings,
    DeliverySettings,
    RuleOverride,
    RuleSet,
)
from schedkit.alerts.rules import Alert, Severity, TaskAlertState

__all__ = [
    "Alert",
    "AlertKind",
    "AlertsSettings",
    "ChannelSettings",
    "DeliverySettings",
    "RuleOverride",
    "RuleSet",
    "Severity",
    "TaskAlertState",
]
