"""Channels given as apprise URLs (DingTalk, WeCom, Feishu, Slack, e-mail, webhooks).

A send expands the URL's ``${NAME}`` references (see :mod:`schedkit.alerts.env`),
builds the apprise plugin for it with the delivery timeout as socket timeouts, and
notifies. The expanded URL is never logged: its secret values are added to the sender's
secret filter, which masks them in apprise's and urllib3's log records.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

import apprise
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.discord import NotifyDiscord

from schedkit.alerts.backends import Backend, Delivery
from schedkit.alerts.config import ChannelSettings
from schedkit.alerts.env import expand_url
from schedkit.alerts.messages import Message
from schedkit.alerts.rules import Severity
from schedkit.errors import ConfigError
from schedkit.redaction import RedactingFilter, redact, remember_secrets

_NOTIFY_TYPE = {
    Severity.INFO: apprise.NotifyType.SUCCESS,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.ERROR: apprise.NotifyType.FAILURE,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}


def load_apprise_plugins() -> None:
    """Import apprise's plugins now, once, rather than lazily inside the first send.

    The first lookup of a scheme makes apprise import ~150 plugin modules; doing that up
    front keeps the first alert fast and keeps it out of the worker threads. Some of
    those modules import deprecated stdlib modules (``imghdr`` on Python 3.11/3.12):
    their DeprecationWarnings are apprise's concern and are ignored for this import only.
    """
    from apprise.plugins import N_MGR

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        N_MGR.load_modules()  # type: ignore[no-untyped-call]


class _SignedDingTalk(NotifyDingTalk):  # type: ignore[no-untyped-call]
    """apprise's DingTalk plugin with the ``sign`` parameter encoded once.

    apprise 1.x/2.x percent-encodes the base64 signature itself and then hands it to
    ``requests`` as a query parameter, which encodes it again (``%2B`` → ``%252B``);
    DingTalk decodes once and answers 310000 "sign not match". Returning the plain base64
    lets ``requests`` apply the single encoding DingTalk expects. Everything else
    (payload, HMAC-SHA256 over ``timestamp\\nsecret``, endpoint) is apprise's own code.
    """

    def get_signature(self) -> tuple[str, str]:
        timestamp, signature = super().get_signature()  # type: ignore[no-untyped-call]
        return str(timestamp), unquote(str(signature))


class AppriseBackend(Backend[ChannelSettings]):
    """One apprise URL."""

    #: apprise's debug lines show request URLs with tokens; urllib3's show query strings.
    loggers: tuple[str, ...] = ("apprise", "urllib3.connectionpool")

    def __init__(
        self,
        channel: ChannelSettings,
        environ: Mapping[str, str],
        timeout: float,
        secret_filter: RedactingFilter,
    ) -> None:
        super().__init__(channel, environ, timeout, secret_filter)
        self.asset = apprise.AppriseAsset(
            app_id="schedkit", app_desc="schedkit alerts", storage_mode="memory"
        )
        load_apprise_plugins()

    def problems(self) -> list[str]:
        try:
            url, secrets = expand_url(self.channel.url, self.environ)
        except ConfigError as exc:
            return [str(exc)]
        remember_secrets(secrets)
        # The sender masks these loggers only while it runs; a check comes before, and
        # apprise's warnings about a bad URL quote its parts (token, secret) as they are.
        with self._masked_logs():
            plugin = self._instantiate(url)
        if plugin is None:
            return [
                f"apprise cannot use this {self.channel.scheme}:// URL "
                "(unknown scheme or malformed; see docs/monitoring.md)"
            ]
        if isinstance(plugin, NotifyDingTalk):
            return _dingtalk_problems(url, plugin)
        return []

    @contextlib.contextmanager
    def _masked_logs(self) -> Iterator[None]:
        loggers = [logging.getLogger(name) for name in self.loggers]
        added = [lg for lg in loggers if self.secret_filter not in lg.filters]
        for lg in added:
            lg.addFilter(self.secret_filter)
        try:
            yield
        finally:
            # Only ours: a running sender's filter stays where it put it.
            for lg in added:
                lg.removeFilter(self.secret_filter)

    def secrets(self) -> list[str]:
        return expand_url(self.channel.url, self.environ)[1]

    def destination(self) -> str:
        """The scheme of the plugin apprise picks for the URL, not the URL's own: an
        ``https://`` URL apprise recognises (Discord's, Slack's, Lark's webhooks) reaches
        that app, which renders Markdown and mentions whatever schedkit's format."""
        try:
            url, secrets = expand_url(self.channel.url, self.environ)
        except ConfigError:
            return self.channel.scheme  # the send fails and says why
        remember_secrets(secrets)
        with self._masked_logs():
            plugin = self._instantiate(url)
        if plugin is None:
            return self.channel.scheme
        return _plugin_scheme(plugin) or self.channel.scheme

    def send(self, message: Message, delivery: Delivery) -> tuple[bool, str]:
        try:
            url, secrets = expand_url(self.channel.url, self.environ)
        except ConfigError as exc:
            return False, str(exc)
        remember_secrets(secrets)
        plugin = self._instantiate(url)
        if plugin is None:
            return False, f"apprise cannot use this {self.channel.scheme}:// URL"
        plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout), self.timeout)
        plugin.socket_read_timeout = min(float(plugin.socket_read_timeout), self.timeout)
        notifier = apprise.Apprise(asset=self.asset)
        notifier.add(plugin)
        fmt = (
            apprise.NotifyFormat.MARKDOWN
            if message.format == "markdown"
            else apprise.NotifyFormat.TEXT
        )
        title = message.title
        if message.markdown_title is not None and _title_in_markdown(plugin):
            title = message.markdown_title
        try:
            result = notifier.notify(
                body=message.body,
                title=title,
                notify_type=_NOTIFY_TYPE[message.severity],
                body_format=fmt,
            )
        except Exception as exc:  # apprise plugins are not supposed to raise; be safe
            return False, redact(f"{type(exc).__name__}: {exc}", secrets, 300)
        if result:
            return True, ""
        return False, redact(_failure_reason(result), secrets, 300)

    def _instantiate(self, url: str) -> Any:
        try:
            if url.lower().startswith("dingtalk://"):
                parsed = NotifyDingTalk.parse_url(url)  # type: ignore[no-untyped-call]
                if not parsed:
                    return None
                parsed.pop("schema", None)
                return _SignedDingTalk(  # type: ignore[no-untyped-call]
                    asset=self.asset, **{k: v for k, v in parsed.items() if k != "asset"}
                )
            return apprise.Apprise.instantiate(url, asset=self.asset)
        except Exception:  # invalid token formats raise from plugin constructors
            return None


def _plugin_scheme(plugin: Any) -> str | None:
    """``plugin``'s first scheme, the secure one first (``mmosts``, ``mailtos``)."""
    for attribute in ("secure_protocol", "protocol"):
        schemes = getattr(plugin, attribute, None)
        first = schemes[0] if isinstance(schemes, (tuple, list)) and schemes else schemes
        if isinstance(first, str) and first:
            return first.lower()
    return None


def _title_in_markdown(plugin: Any) -> bool:
    """Whether ``plugin`` writes the title into its Markdown: DingTalk repeats it as the
    body's heading, Discord puts it on the first line of the message, and a plugin without
    a title field (``title_maxlen`` 0: Mattermost, Rocket.Chat, WeCom) joins it to the
    body, which apprise converts as the body's format. Others show it as plain text
    (e-mail subject, card header, Slack header; a Feishu text message starts with the
    plain title, whose mentions are broken as in any value)."""
    return isinstance(plugin, (NotifyDingTalk, NotifyDiscord)) or int(plugin.title_maxlen) <= 0


def _dingtalk_problems(url: str, plugin: Any) -> list[str]:
    """apprise reads every path part after the token (and ``to=``) as a phone number to
    @-mention, and drops those that are not with a mere warning. The likely slip is the
    signing secret written as ``dingtalk://TOKEN/SECRET``: the robot is then unsigned,
    and DingTalk refuses every message of a robot with signing on. The text names no
    target: such a target is a secret."""
    parsed = NotifyDingTalk.parse_url(url) or {}  # type: ignore[no-untyped-call]
    written = parsed.get("targets") or []
    targets = NotifyDingTalk.parse_list(written)  # type: ignore[no-untyped-call]
    kept = set(plugin.targets)
    # apprise keeps a phone number as its digits only ("+86 138-..." → "86138...").
    dropped = [t for t in targets if "".join(re.findall(r"\d+", t)) not in kept]
    if not dropped:
        return []
    what = "a target that is" if len(dropped) == 1 else f"{len(dropped)} targets that are"
    return [
        f"this dingtalk:// URL has {what} not a phone number of 11 to 14 digits (path parts "
        "after the token, or to=), which apprise would drop; a signing secret goes before "
        "the token: dingtalk://SECRET@TOKEN/ (see docs/monitoring.md)"
    ]


def _failure_reason(result: Any) -> str:
    """The warnings apprise logged for this call (apprise >= 2 returns them)."""
    logs = getattr(result, "logs", None)
    texts: list[str] = []
    if callable(logs):
        with contextlib.suppress(Exception):
            texts = [
                str(entry.message)
                for entry in logs()
                if str(getattr(entry, "level", "")).upper() in ("WARNING", "ERROR", "CRITICAL")
            ]
    return "; ".join(dict.fromkeys(texts)) or "apprise reported a failed delivery"
