"""Test alerts: a clearly marked message, sent now to every alert channel or to one.

An operator setting up alerts could only wait for a real failure to learn whether a
channel delivers, and a failed delivery showed only after its retries (an audit took
that for alerts being broken). A test is rendered and sent as an alert is: in the
channel's format, written for what its destination reads
(:func:`~schedkit.alerts.messages.render_test`), through its backend and with the
sender's log lines (:meth:`~schedkit.alerts.channels.AlertSender.send_tests`). It is no
alert: it passes the channel's queue and throttle and is sent once, every channel at
the same time, so that the answer comes within one delivery timeout; it changes no
channel's counts or health and no alert state, so the throttle and de-duplication of
real alerts never see it. Since it passes the throttle, a node sends a channel one test
at a time, ``test_interval`` seconds apart (:mod:`schedkit.alerts.probe_gate`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from schedkit._suggest import close_names, did_you_mean
from schedkit.alerts.channels import AlertSender
from schedkit.alerts.config import AlertsSettings
from schedkit.alerts.messages import MessageContext, format_time, render_test
from schedkit.errors import ConflictError, ValidationError

__all__ = ["AlertTest", "ChannelTest", "chosen_channels", "send_test_alert"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelTest:
    """What one channel did with the test message."""

    channel: str
    scheme: str
    delivered: bool
    #: Why it was not delivered (the channel's answer, secrets masked); None if it was.
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertTest:
    """A test message sent by ``node`` at ``at`` and what each channel did with it."""

    node: str
    at: datetime
    #: ``at`` in the alerts' time zone, as the message shows it.
    at_local: str
    channels: list[ChannelTest]

    @property
    def delivered(self) -> bool:
        """Every channel delivered it."""
        return all(c.delivered for c in self.channels)

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "at": self.at.isoformat(),
            "at_local": self.at_local,
            "delivered": self.delivered,
            "channels": [c.to_json() for c in self.channels],
        }


def chosen_channels(settings: AlertsSettings, channel: str | None = None) -> list[str]:
    """The names of the channels a test goes to: every one, or the one named
    ``channel``. ConflictError while alerts are off; ValidationError (field ``channel``)
    when no channel has that name."""
    if not settings.active:
        said = "alerts.enabled is false" if not settings.enabled else "no channel is configured"
        raise ConflictError(
            f"alerts are off ({said}): there is no channel to test; set alerts.enabled = "
            "true and name channels in alerts.channels (docs/monitoring.md)"
        )
    names = [c.name or c.scheme for c in settings.channels]
    if channel is None:
        return names
    if channel not in names:
        close = close_names(channel, names)
        hint = f"; {did_you_mean(close)}" if close else ""
        raise ValidationError(
            f"no alert channel named {channel!r}{hint} (channels: {', '.join(names)})",
            field="channel",
        )
    return [channel]


async def send_test_alert(
    settings: AlertsSettings,
    *,
    node: str,
    at: datetime,
    channel: str | None = None,
    sender: AlertSender | None = None,
    environ: Mapping[str, str] | None = None,
    # schedkit.service.audit.SYSTEM, which cannot be imported here: the façade's audit of
    # tests imports this module.
    actor: str = "system",
) -> AlertTest:
    """Send the test message "schedkit test alert from node ``node`` at ``at``" to every
    channel of ``settings`` (or the one named ``channel``: see :func:`chosen_channels`)
    and say what each did with it.

    ``sender``: a running one (a node's monitor's: TooManyRequestsError, nothing sent,
    while a channel named cannot take a test, see :mod:`schedkit.alerts.probe_gate`);
    without it, one is started for the test, reading ``${NAME}`` references from
    ``environ`` (default: the process's). ``actor``: who asked, for the log lines."""
    names = chosen_channels(settings, channel)
    ctx = MessageContext(language=settings.language, timezone=settings.timezone)
    async with _running(settings, sender, environ) as running:
        channels = running.channels
        messages = {
            name: render_test(node, at, ctx, channels[name].body_format, running.destination(name))
            for name in names
        }
        outcomes = await running.send_tests(messages, actor=actor)
    results = [
        ChannelTest(
            channel=name,
            scheme=channels[name].scheme,
            delivered=delivered,
            error=None if delivered else error,
        )
        for name, (delivered, error) in outcomes.items()
    ]
    return AlertTest(
        node=node, at=at, at_local=format_time(at, settings.timezone), channels=results
    )


@contextlib.asynccontextmanager
async def _running(
    settings: AlertsSettings, sender: AlertSender | None, environ: Mapping[str, str] | None
) -> AsyncIterator[AlertSender]:
    if sender is not None:
        yield sender
        return
    own = AlertSender(
        settings.channels, settings.delivery, language=settings.language, environ=environ
    )
    await own.start()
    try:
        yield own
    finally:
        await own.stop(grace=0)
