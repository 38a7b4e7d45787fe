"""Delivering alert messages through apprise, off every run's path.

Each channel has its own queue and worker task, so a slow or dead channel delays only
its own messages: never a run, never another channel. A send runs apprise (blocking
``requests``/``smtplib`` code) in a small dedicated thread pool with a timeout, and is
retried with exponential delay. A per-channel throttle caps messages per window; what it
holds back is summarised in one message once the window frees up. Each channel's health
(consecutive failures, last error) is kept for status endpoints and metrics.

Secrets: channel URLs name environment variables as ``${NAME}`` (value inserted
percent-encoded, right for tokens, user names and passwords) or ``${NAME:raw}`` (inserted
as is, e.g. a whole URL). They are expanded at send time, in the worker thread, and the
expanded URL is never logged; known secret values are masked in error texts and in
apprise's own log records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import warnings
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, unquote

import apprise
from apprise.plugins.dingtalk import NotifyDingTalk

from schedkit.alerts.config import ChannelSettings, DeliverySettings
from schedkit.alerts.messages import Language, Message
from schedkit.alerts.rules import Severity
from schedkit.errors import ConfigError
from schedkit.models import utcnow
from schedkit.redaction import RedactingFilter, redact, remember_secrets

logger = logging.getLogger(__name__)

_ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<mode>raw))?\}")

#: Loggers whose records can show a channel's expanded URL: apprise's own (debug lines
#: with the request URL) and urllib3's request lines (with the query string).
FILTERED_LOGGERS = ("apprise", "urllib3.connectionpool")

DeliveryResult = Literal["sent", "failed", "throttled", "dropped"]
#: Called after each message's fate is known: (channel name, message, result).
DeliveryHook = Callable[[str, Message, DeliveryResult], None]

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


def expand_url(
    template: str, environ: Mapping[str, str], *, raw: bool = False
) -> tuple[str, list[str]]:
    """``template`` with ``${NAME}`` / ``${NAME:raw}`` filled from ``environ``, and the
    secret values inserted (both forms), for masking. ConfigError names a missing one.

    ``raw``: insert every value as is (for header values rather than URLs)."""
    secrets: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group("name")
        value = environ.get(name)
        if value is None:
            raise ConfigError(
                f"environment variable {name} (named in an alert channel URL) is not set"
            )
        secrets.append(value)
        if raw or match.group("mode") == "raw":
            return value
        quoted = quote(value, safe="")
        if quoted != value:
            secrets.append(quoted)
        return quoted

    return _ENV_REF.sub(fill, template), secrets


def env_names(template: str) -> list[str]:
    return [m.group("name") for m in _ENV_REF.finditer(template)]


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


@dataclass(kw_only=True, slots=True)
class ChannelHealth:
    """Delivery record of one channel (reported by ``Monitor.status()``)."""

    name: str
    scheme: str
    consecutive_failures: int = 0
    sent: int = 0
    failed: int = 0
    throttled: int = 0
    dropped: int = 0
    last_error: str | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    unhealthy_after: int = 3
    queued: int = 0
    config_error: str | None = field(default=None)

    @property
    def healthy(self) -> bool:
        return self.config_error is None and self.consecutive_failures < self.unhealthy_after

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scheme": self.scheme,
            "healthy": self.healthy,
            "consecutive_failures": self.consecutive_failures,
            "sent": self.sent,
            "failed": self.failed,
            "throttled": self.throttled,
            "dropped": self.dropped,
            "queued": self.queued,
            "last_error": self.config_error or self.last_error,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "last_failure_at": self.last_failure_at.isoformat() if self.last_failure_at else None,
        }


class Throttle:
    """At most ``limit`` messages per ``window`` seconds (sliding window)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._sent: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()

    def allow(self, now: float) -> bool:
        """Take a slot if one is free."""
        if self.limit <= 0:
            return True
        self._expire(now)
        if len(self._sent) >= self.limit:
            return False
        self._sent.append(now)
        return True

    def free_at(self, now: float) -> float:
        """When the next slot frees up (``now`` if one is free)."""
        if self.limit <= 0:
            return now
        self._expire(now)
        if len(self._sent) < self.limit:
            return now
        return self._sent[0] + self.window


@dataclass(frozen=True, kw_only=True, slots=True)
class _Item:
    message: Message


_SUMMARY: dict[Language, tuple[str, str]] = {
    "en": (
        "[schedkit] {n} alert(s) held back by the throttle",
        "The channel's limit of {limit} message(s) per {window:g} s was reached; "
        "these Task alerts were not sent one by one:",
    ),
    "zh": (
        "【schedkit】限流：{n} 条告警未单独发送",
        "该通道已达到每 {window:g} 秒 {limit} 条消息的上限，以下任务告警未逐条发送：",
    ),
}


class AlertSender:
    """Sends messages to named channels; ``submit`` never blocks and never raises."""

    def __init__(
        self,
        channels: Sequence[ChannelSettings],
        delivery: DeliverySettings,
        *,
        language: Language = "zh",
        on_result: DeliveryHook | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.channels = {c.name or c.scheme: c for c in channels}
        self.delivery = delivery
        self.language: Language = language
        self.on_result = on_result
        self._environ = environ
        self.health = {
            name: ChannelHealth(
                name=name, scheme=c.scheme, unhealthy_after=delivery.unhealthy_after
            )
            for name, c in self.channels.items()
        }
        load_apprise_plugins()
        self._queues: dict[str, asyncio.Queue[_Item]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._secret_filter = RedactingFilter()
        self._asset = apprise.AppriseAsset(
            app_id="schedkit", app_desc="schedkit alerts", storage_mode="memory"
        )

    @property
    def environ(self) -> Mapping[str, str]:
        return self._environ if self._environ is not None else os.environ

    # -- lifecycle -----------------------------------------------------------------------

    def validate(self) -> None:
        """Check every channel URL now (variables set, apprise understands it).

        Raises ConfigError naming the channel (never the expanded URL)."""
        problems = []
        for name, channel in self.channels.items():
            try:
                url, secrets = expand_url(channel.url, self.environ)
            except ConfigError as exc:
                problems.append(f"alerts channel {name!r}: {exc}")
                continue
            remember_secrets(secrets)
            if self._instantiate(url) is None:
                problems.append(
                    f"alerts channel {name!r}: apprise cannot use this {channel.scheme}:// URL "
                    "(unknown scheme or malformed; see docs/monitoring.md)"
                )
        if problems:
            raise ConfigError("; ".join(problems))

    async def start(self) -> None:
        for name in FILTERED_LOGGERS:
            logging.getLogger(name).addFilter(self._secret_filter)
        self._pool = ThreadPoolExecutor(
            max_workers=max(2, 2 * len(self.channels)), thread_name_prefix="schedkit-alert"
        )
        for name in self.channels:
            queue: asyncio.Queue[_Item] = asyncio.Queue(self.delivery.queue_size)
            self._queues[name] = queue
            self._workers.append(
                asyncio.create_task(self._worker(name, queue), name=f"schedkit-alert-{name}")
            )

    async def stop(self, grace: float = 5.0) -> None:
        """Let queued messages go out for up to ``grace`` seconds, then stop."""
        if self._queues and grace > 0:
            joins = [asyncio.create_task(q.join()) for q in self._queues.values()]
            _, pending = await asyncio.wait(joins, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*joins, return_exceptions=True)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        for name in FILTERED_LOGGERS:
            logging.getLogger(name).removeFilter(self._secret_filter)

    # -- sending -------------------------------------------------------------------------

    def submit(self, channel: str, message: Message) -> bool:
        """Queue ``message`` for ``channel``; a full queue drops its oldest message."""
        queue = self._queues.get(channel)
        if queue is None:
            logger.error(
                "alert for unknown or stopped channel %r dropped: %s", channel, message.title
            )
            return False
        if queue.full():
            dropped = queue.get_nowait()
            queue.task_done()
            self._record(channel, dropped.message, "dropped")
            logger.warning("alert channel %s: queue full, oldest message dropped", channel)
        queue.put_nowait(_Item(message=message))
        self.health[channel].queued = queue.qsize()
        return True

    @property
    def secrets(self) -> set[str]:
        """Secret values of the channels (expanded ``${ENV}`` values), for masking."""
        values: set[str] = set()
        for channel in self.channels.values():
            with contextlib.suppress(ConfigError):
                values.update(expand_url(channel.url, self.environ)[1])
        return values

    def status(self) -> list[dict[str, Any]]:
        return [h.to_json() for h in self.health.values()]

    async def _worker(self, name: str, queue: asyncio.Queue[_Item]) -> None:
        """Deliver the channel's messages in order. Messages held back by the throttle
        stay unfinished in the queue's accounting until their summary is delivered, so
        ``stop()`` waits for it (within its grace)."""
        loop = asyncio.get_running_loop()
        throttle = Throttle(self.delivery.throttle_per_minute, self.delivery.throttle_window)
        held: list[Message] = []
        while True:
            item: _Item | None = None
            if held:
                wait = max(0.0, throttle.free_at(loop.time()) - loop.time())
                with contextlib.suppress(TimeoutError):
                    item = await asyncio.wait_for(queue.get(), wait)
            else:
                item = await queue.get()
            finished = 0 if item is None else 1
            try:
                if held and throttle.free_at(loop.time()) <= loop.time():
                    summary, done = self._summary(held), len(held)
                    held = []
                    throttle.allow(loop.time())
                    try:
                        await self._deliver(name, summary)
                    finally:
                        finished += done
                if item is None:
                    continue
                self.health[name].queued = queue.qsize()
                if not throttle.allow(loop.time()):
                    held.append(item.message)
                    finished -= 1
                    self._record(name, item.message, "throttled")
                    logger.warning(
                        "alert channel %s: throttled, holding back %r", name, item.message.title
                    )
                    continue
                await self._deliver(name, item.message)
            except Exception:  # a bug here must not kill the channel's worker
                logger.exception("alert channel %s: unexpected error", name)
            finally:
                for _ in range(finished):
                    queue.task_done()

    async def _deliver(self, name: str, message: Message) -> None:
        health = self.health[name]
        attempts = 1 + self.delivery.retries
        error = "unknown error"
        for attempt in range(1, attempts + 1):
            ok, error = await self._attempt(name, message)
            if ok:
                health.consecutive_failures = 0
                health.sent += 1
                health.last_success_at = utcnow()
                self._record(name, message, "sent")
                logger.info("alert sent to %s: %s", name, message.title)
                return
            if attempt < attempts:
                delay = self.delivery.retry_delay * 2 ** (attempt - 1)
                logger.info(
                    "alert channel %s: attempt %d/%d failed (%s); retrying in %.1f s",
                    name,
                    attempt,
                    attempts,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
        was_healthy = health.healthy
        health.consecutive_failures += 1
        health.failed += 1
        health.last_error = error
        health.last_failure_at = utcnow()
        self._record(name, message, "failed")
        level = logging.ERROR if was_healthy and not health.healthy else logging.WARNING
        logger.log(
            level,
            "alert channel %s: could not deliver %r after %d attempt(s): %s%s",
            name,
            message.title,
            attempts,
            error,
            " (channel now reported unhealthy)" if was_healthy and not health.healthy else "",
        )

    async def _attempt(self, name: str, message: Message) -> tuple[bool, str]:
        loop = asyncio.get_running_loop()
        timeout = self.delivery.timeout
        pool = self._pool
        if pool is None:
            return False, "sender stopped"
        future = loop.run_in_executor(pool, self._send_blocking, name, message)
        try:
            # apprise's own socket timeouts are set to ``timeout``; the margin covers
            # connect + read + SMTP dialogue before we stop waiting.
            return await asyncio.wait_for(future, timeout * 2 + 1)
        except TimeoutError:
            return False, f"no answer within {timeout * 2 + 1:g} s"

    def _send_blocking(self, name: str, message: Message) -> tuple[bool, str]:
        channel = self.channels[name]
        try:
            url, secrets = expand_url(channel.url, self.environ)
        except ConfigError as exc:
            return False, str(exc)
        remember_secrets(secrets)
        plugin = self._instantiate(url)
        if plugin is None:
            return False, f"apprise cannot use this {channel.scheme}:// URL"
        timeout = self.delivery.timeout
        plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout), timeout)
        plugin.socket_read_timeout = min(float(plugin.socket_read_timeout), timeout)
        notifier = apprise.Apprise(asset=self._asset)
        notifier.add(plugin)
        fmt = (
            apprise.NotifyFormat.MARKDOWN
            if message.format == "markdown"
            else apprise.NotifyFormat.TEXT
        )
        try:
            result = notifier.notify(
                body=message.body,
                title=message.title,
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
                    asset=self._asset, **{k: v for k, v in parsed.items() if k != "asset"}
                )
            return apprise.Apprise.instantiate(url, asset=self._asset)
        except Exception:  # invalid token formats raise from plugin constructors
            return None

    def _summary(self, held: list[Message]) -> Message:
        title, intro = _SUMMARY[self.language]
        lines = [
            intro.format(
                limit=self.delivery.throttle_per_minute, window=self.delivery.throttle_window
            )
        ]
        lines += [f"- {m.title}" for m in held[:20]]
        if len(held) > 20:
            lines.append(f"- … (+{len(held) - 20})")
        worst = max(held, key=lambda m: list(Severity).index(m.severity))
        return Message(
            title=title.format(n=len(held)),
            body="\n".join(lines),
            kind=worst.kind,
            severity=worst.severity,
            format="text",
        )

    def _record(self, channel: str, message: Message, result: DeliveryResult) -> None:
        health = self.health.get(channel)
        if health is not None:
            if result == "throttled":
                health.throttled += 1
            elif result == "dropped":
                health.dropped += 1
        if self.on_result is not None:
            try:
                self.on_result(channel, message, result)
            except Exception:
                logger.exception("alert delivery hook failed")


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
