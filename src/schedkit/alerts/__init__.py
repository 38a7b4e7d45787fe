"""Alerts: rules (pure functions over stored state), messages (zh/en) and channels
(apprise URLs; Alibaba Cloud and Tencent Cloud SMS). The :class:`schedkit.monitor.Monitor`
extension wires them to run events."""

from __future__ import annotations

from schedkit.alerts.config import (
    AlertKind,
    AlertsSettings,
    AliyunSmsSettings,
    ChannelSettings,
    DeliverySettings,
    RuleOverride,
    RuleSet,
    TencentSmsSettings,
)
from schedkit.alerts.rules import Alert, Severity
from schedkit.alerts.state import TaskAlertState

__all__ = [
    "Alert",
    "AlertKind",
    "AlertsSettings",
    "AliyunSmsSettings",
    "ChannelSettings",
    "DeliverySettings",
    "RuleOverride",
    "RuleSet",
    "Severity",
    "TaskAlertState",
    "TencentSmsSettings",
]
