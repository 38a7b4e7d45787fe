"""Delivering alert messages to channels, off every run's path.

Each channel has its own queue and worker task, so a slow or dead channel delays only
its own messages: never a run, never another channel. A send runs the channel's backend
(apprise, or an SMS vendor's SDK: blocking code, see :mod:`schedkit.alerts.backends`) in
a small dedicated thread pool with a timeout, and is retried with exponential delay. A
per-channel throttle caps messages per window, first alerts before reminders (see
:mod:`schedkit.alerts.throttle`); what it folds is summarised in one
message once the window frees up. Each channel's health (consecutive failures, last
error) is kept for status endpoints and metrics. Test messages
(:mod:`schedkit.alerts.probe`) are sent in a pool of their own, one at a time per channel
(:mod:`schedkit.alerts.probe_gate`): any number of test requests leaves the alerts'
threads to the alerts.

Secrets: channels name environment variables as ``${NAME}`` (see
:mod:`schedkit.alerts.env`). They are expanded at send time, in the worker thread, and
never logged; known secret values are masked in error texts and in the log records of
the libraries that send (apprise, urllib3, the SMS SDKs).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from schedkit._controls import escape_controls
from schedkit.alerts.backends import ChannelBackend, Delivery
from schedkit.alerts.config import AnyChannel, ChannelSettings, DeliverySettings
from schedkit.alerts.env import expand_url as expand_url  # re-exported for schedkit.tracing
from schedkit.alerts.markdown import PLAIN, Destination, destination_of
from schedkit.alerts.messages import Language, Message
from schedkit.alerts.probe_gate import ProbeGate
from schedkit.alerts.rules import Severity
from schedkit.alerts.throttle import Throttle, next_step, slots_needed
from schedkit.errors import ConfigError
from schedkit.models import utcnow
from schedkit.redaction import RedactingFilter
from schedkit.stopping import cancel_and_wait, wait_for

logger = logging.getLogger(__name__)

DeliveryResult = Literal["sent", "failed", "throttled", "dropped"]
#: Called after each message's fate is known: (channel name, message, result).
DeliveryHook = Callable[[str, Message, DeliveryResult], None]


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


@dataclass(frozen=True, kw_only=True, slots=True)
class _Item:
    message: Message


@dataclass(kw_only=True, slots=True)
class _Waiting:
    """A message waiting in its channel's worker; ``held`` once counted as throttled."""

    message: Message
    held: bool = False


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
        channels: Sequence[AnyChannel],
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
        self._queues: dict[str, asyncio.Queue[_Item]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._test_pool: ThreadPoolExecutor | None = None
        #: Seconds one send is waited for. The backends' own socket timeouts are set to
        #: ``timeout``; the margin covers connect + read + SMTP dialogue.
        self.wait_bound = delivery.timeout * 2 + 1
        self._tests = ProbeGate(delivery.test_interval, self.wait_bound)
        self._secret_filter = RedactingFilter()
        self.backends: dict[str, ChannelBackend] = {
            name: make_backend(c, self.environ, delivery.timeout, self._secret_filter)
            for name, c in self.channels.items()
        }
        self._loggers = sorted({n for b in self.backends.values() for n in b.loggers})

    @property
    def environ(self) -> Mapping[str, str]:
        return self._environ if self._environ is not None else os.environ

    # -- lifecycle -----------------------------------------------------------------------

    def validate(self) -> None:
        """Check every channel now (variables set, URL understood, SDK installed).

        Raises ConfigError naming the channel (never a secret)."""
        problems = [
            f"alerts channel {name!r}: {problem}"
            for name, backend in self.backends.items()
            for problem in backend.problems()
        ]
        if problems:
            raise ConfigError("; ".join(problems))

    async def start(self) -> None:
        for name in self._loggers:
            logging.getLogger(name).addFilter(self._secret_filter)
        self._pool = ThreadPoolExecutor(
            max_workers=max(2, 2 * len(self.channels)), thread_name_prefix="schedkit-alert"
        )
        # One thread per channel: the gate lets a channel have one test under way.
        self._test_pool = ThreadPoolExecutor(
            max_workers=max(1, len(self.channels)), thread_name_prefix="schedkit-alert-test"
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
        # Python 3.11's wait_for (the throttle's wait for the next message) can swallow a
        # cancellation that meets a message arriving; one cancel then left a worker running
        # and stop() waiting for it forever (a teardown hang in the full suite).
        await cancel_and_wait(*self._workers)
        self._workers.clear()
        self._queues.clear()
        for pool in (self._pool, self._test_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._test_pool = None
        for name in self._loggers:
            logging.getLogger(name).removeFilter(self._secret_filter)

    # -- sending -------------------------------------------------------------------------

    def destination(self, channel: str) -> Destination:
        """How ``channel``'s messages are read where they arrive: by the apprise plugin
        its URL selects, not by its scheme (see ``ChannelBackend.destination``)."""
        backend = self.backends.get(channel)
        return destination_of(backend.destination()) if backend is not None else PLAIN

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

    async def send_tests(
        self, messages: Mapping[str, Message], *, actor: str
    ) -> dict[str, tuple[bool, str]]:
        """Send each message (a test: :mod:`schedkit.alerts.probe`) to its channel once,
        now, all at the same time: past the queues and throttle, without retries, leaving
        health and counts to the alerts; the log lines name ``actor``, who asked. Per
        channel ``(True, "")`` or ``(False, reason)``, the reason masked.
        TooManyRequestsError, nothing sent, when a channel has a test under way or had
        one less than ``test_interval`` seconds ago."""
        pool = self._test_pool
        if pool is None:
            return dict.fromkeys(messages, (False, "sender stopped"))
        self._tests.claim(list(messages))
        # All submitted before any await: a request cancelled in between would have left
        # its channels claimed for good.
        futures: dict[str, Future[tuple[bool, str]]] = {}
        for name, message in messages.items():
            futures[name] = pool.submit(self.backends[name].send, message, Delivery())
            # Released when the thread returns, not when the wait gives up: a channel
            # never holds two of the pool's threads, so tests never queue in it.
            futures[name].add_done_callback(functools.partial(self._test_ended, name))
        outcomes = await asyncio.gather(
            *(self._tested(name, messages[name], futures[name], actor) for name in messages)
        )
        return dict(zip(messages, outcomes, strict=True))

    def _test_ended(self, channel: str, _: Future[tuple[bool, str]]) -> None:
        self._tests.release(channel)

    async def _tested(
        self, channel: str, message: Message, future: Future[tuple[bool, str]], actor: str
    ) -> tuple[bool, str]:
        ok, answer = await self._answer(future)
        error = escape_controls(answer)
        asked = escape_controls(actor)
        if ok:
            logger.info("test alert sent to %s (asked by %s): %s", channel, asked, message.title)
        else:
            logger.warning(
                "alert channel %s: could not deliver test alert %r (asked by %s): %s",
                channel,
                message.title,
                asked,
                error,
            )
        return ok, error

    @property
    def secrets(self) -> set[str]:
        """Secret values of the channels (expanded ``${ENV}`` values), for masking."""
        values: set[str] = set()
        for backend in self.backends.values():
            with contextlib.suppress(ConfigError):
                values.update(backend.secrets())
        return values

    def status(self) -> list[dict[str, Any]]:
        return [h.to_json() for h in self.health.values()]

    async def _worker(self, name: str, queue: asyncio.Queue[_Item]) -> None:
        """Deliver the channel's messages, first alerts before reminders (the decision is
        :func:`~schedkit.alerts.throttle.next_step`). Messages held back by the throttle
        stay unfinished in the queue's accounting until they (or their summary) are
        delivered, so ``stop()`` waits for them (within its grace)."""
        loop = asyncio.get_running_loop()
        limit = self.delivery.throttle_per_minute
        throttle = Throttle(limit, self.delivery.throttle_window)
        first: deque[_Waiting] = deque()
        reminders: deque[_Waiting] = deque()
        while True:
            item: _Item | None = None
            if first or reminders:
                need = slots_needed(first=len(first), limit=limit)
                wait = max(0.0, throttle.free_at(loop.time(), need) - loop.time())
                with contextlib.suppress(TimeoutError):
                    item = await wait_for(queue.get(), wait)
            else:
                item = await queue.get()
            if item is not None:
                line = reminders if item.message.reminder else first
                line.append(_Waiting(message=item.message))
                self.health[name].queued = queue.qsize()
            finished = 0
            try:
                while (
                    step := next_step(
                        first=len(first),
                        reminders=len(reminders),
                        free=throttle.free(loop.time()),
                        limit=limit,
                    )
                ) != "wait":
                    line = first if step in ("first", "fold_first") else reminders
                    if step in ("first", "reminder"):
                        batch = [line.popleft().message]
                        message = batch[0]
                    else:
                        batch = [w.message for w in line]
                        line.clear()
                        message = self._summary(batch)
                    throttle.allow(loop.time())
                    finished += len(batch)
                    await self._deliver(name, message)
                for waiting in (*first, *reminders):
                    if not waiting.held:
                        waiting.held = True
                        self._record(name, waiting.message, "throttled")
                        logger.warning(
                            "alert channel %s: throttled, holding back %r",
                            name,
                            waiting.message.title,
                        )
            except Exception:  # a bug here must not kill the channel's worker
                logger.exception("alert channel %s: unexpected error", name)
            finally:
                for _ in range(finished):
                    queue.task_done()

    async def _deliver(self, name: str, message: Message) -> None:
        health = self.health[name]
        attempts = 1 + self.delivery.retries
        error = "unknown error"
        delivery = Delivery()
        for attempt in range(1, attempts + 1):
            ok, answer = await self._attempt(name, message, delivery)
            # The vendor's answer is outside text, logged below: one line, no controls.
            error = escape_controls(answer)
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

    async def _attempt(self, name: str, message: Message, delivery: Delivery) -> tuple[bool, str]:
        pool = self._pool
        if pool is None:
            return False, "sender stopped"
        return await self._answer(pool.submit(self.backends[name].send, message, delivery))

    async def _answer(self, future: Future[tuple[bool, str]]) -> tuple[bool, str]:
        try:
            return await wait_for(asyncio.wrap_future(future), self.wait_bound)
        except TimeoutError:
            return False, f"no answer within {self.wait_bound:g} s"

    def _summary(self, held: list[Message]) -> Message:
        title, intro = _SUMMARY[self.language]
        lines = [
            intro.format(
                limit=self.delivery.throttle_per_minute, window=self.delivery.throttle_window
            )
        ]
        # A title written for the body where the destination reads it as Markdown.
        lines += [f"- {m.markdown_title or m.title}" for m in held[:20]]
        if len(held) > 20:
            lines.append(f"- … (+{len(held) - 20})")
        worst = max(held, key=lambda m: list(Severity).index(m.severity))
        heading = title.format(n=len(held))
        tasks = dict.fromkeys(m.fields["task"] for m in held if m.fields.get("task"))
        return Message(
            title=heading,
            body="\n".join(lines),
            kind=worst.kind,
            severity=worst.severity,
            format=worst.format,
            # Template channels (SMS) get one message naming the tasks held back.
            fields={
                **worst.fields,
                "task": ",".join(tasks),
                "run_id": "",
                "run": "",
                "message": heading,
                "count": str(len(held)),
                "title": heading,
            },
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


def make_backend(
    channel: AnyChannel,
    environ: Mapping[str, str],
    timeout: float,
    secret_filter: RedactingFilter,
) -> ChannelBackend:
    """The backend for ``channel``; ``${NAME}`` references are read from ``environ`` at
    every send, and the values found are added to ``secret_filter``."""
    if isinstance(channel, ChannelSettings):
        from schedkit.alerts.apprise_backend import AppriseBackend

        return AppriseBackend(channel, environ, timeout, secret_filter)
    from schedkit.alerts.sms import sms_backend

    return sms_backend(channel, environ, timeout, secret_filter)
