"""How one channel's messages leave: a backend per channel type.

:class:`~schedkit.alerts.channels.AlertSender` gives every channel the same queue,
throttle, retries, timeout and health record; a backend only turns one message into one
call to its service, in one of the sender's worker threads. apprise URLs
(:mod:`schedkit.alerts.apprise_backend`) and the SMS vendors' SDKs
(:mod:`schedkit.alerts.sms`) are the two kinds; the sender imports each only when a
channel of its kind is configured, so an SMS-only setup never loads apprise's plugins and
an apprise-only one never needs the SMS SDKs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from schedkit.alerts.messages import Message
from schedkit.redaction import RedactingFilter


@dataclass(kw_only=True, slots=True)
class Delivery:
    """What the earlier attempts at one message achieved, kept across its retries."""

    #: Recipients that already have the message: a retry must not send it to them again
    #: (an SMS costs money, and vendors limit messages per number).
    reached: set[str] = field(default_factory=set)


class ChannelBackend(Protocol):
    #: Loggers whose records can show this channel's secrets; the sender masks known
    #: secret values in them while it runs.
    loggers: tuple[str, ...]

    def problems(self) -> list[str]:
        """What stops this channel from sending (missing variable, missing SDK, bad
        value), without any secret in the text; empty when it can send."""
        ...

    def secrets(self) -> list[str]:
        """The channel's secret values as of now (raises ConfigError if one is unset)."""
        ...

    def destination(self) -> str:
        """What this channel's messages reach, for how values are written for it
        (:func:`schedkit.alerts.markdown.destination_of`): an apprise plugin's scheme,
        ``mmosts`` for a Mattermost URL, ``discord`` for a native
        ``https://discord.com/api/webhooks/...`` one too; the SMS type."""
        ...

    def send(self, message: Message, delivery: Delivery) -> tuple[bool, str]:
        """Send once (blocking; called in a worker thread): ``(True, "")`` or ``(False,
        reason)`` with secrets masked. Never raises."""
        ...


ChannelT = TypeVar("ChannelT")


class Backend(Generic[ChannelT]):
    """What every backend is built from: its channel's settings, where ``${NAME}``
    references are read (at every send), the timeout of one send, and the filter its
    secret values go to."""

    def __init__(
        self,
        channel: ChannelT,
        environ: Mapping[str, str],
        timeout: float,
        secret_filter: RedactingFilter,
    ) -> None:
        self.channel = channel
        self.environ = environ
        self.timeout = timeout
        self.secret_filter = secret_filter
