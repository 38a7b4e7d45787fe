"""Fixtures for monitoring tests: real local receivers and monitored schedulers.

* ``receiver`` — a real HTTP server (``http.server`` in a thread) that records every
  request. apprise's json:// plugin can address it directly; the DingTalk / WeCom /
  Feishu / Lark / Slack plugins post to fixed vendor hosts, so ``vendor_endpoints``
  redirects each plugin's endpoint class attribute to the receiver (see there).
* ``smtp`` — a real SMTP server (aiosmtpd) on a free port.
* ``sms_vendor`` — stand-ins for the Alibaba Cloud and Tencent Cloud SMS APIs that check
  each request's signature as the vendors do (see ``sms_vendor.py``).
* ``make_monitored`` — Schedulers with short intervals, SQLite store and a Monitor.
* ``fresh_otel`` (every test here) — OpenTelemetry's global tracer provider unset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from opentelemetry import trace
from opentelemetry.util._once import Once

from schedkit import SchedkitConfig, Scheduler, TaskRegistry
from schedkit import tracing as tracing_module
from schedkit.alerts.config import AlertsSettings
from schedkit.alerts.rules import Alert, AlertKind
from schedkit.clock import Clock
from schedkit.models import Run, RunStatus, TriggerSource
from schedkit.monitor import Monitor
from tests.stopping import stop_or_fail

from .sms_vendor import SmsVendor, handler

FAST: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "entry_points": False,
    "executor": {"poll_interval": 0.05, "max_workers": 4},
    "scheduler": {
        "lease_ttl": 2.0,
        "lookahead": 1.0,
        "refresh_interval": 0.2,
        "heartbeat_interval": 0.2,
        "lost_after": 1.0,
        "shutdown_grace": 1.0,
    },  # Sub-second schedules keep these tests short (the default minimum is 1 s).
    "limits": {"min_interval": 0.0},
}


def fast_config(store_url: str, **overrides: Any) -> SchedkitConfig:
    data: dict[str, Any] = {**FAST, "store_url": store_url}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return SchedkitConfig(**data)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


OTEL_VARS = (
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_EXPORTER",
)


@pytest.fixture(autouse=True)
def fresh_otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """OpenTelemetry's global provider as in a process that never set one, and no OTEL_*
    variables: the tests share a process, where the global can be set only once (by
    schedkit's tracing, see tracing._provider_for). After the test, schedkit's provider
    is shut down and the globals are as they were."""
    for var in OTEL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(tracing_module, "_installed", None)
    monkeypatch.setattr(tracing_module, "_flushing", None)
    yield
    installed = tracing_module._installed
    if installed is not None:
        left = tracing_module._within(tracing_module.STOP_WAIT, installed[1].shutdown)
        if left is not None:
            # Spans queued for a collector that never answered: sent or given up now,
            # not with the exporter's retries logged in the next tests.
            left.join(30)


# -- HTTP receiver ------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Receiver:
    port: int
    requests: list[Request] = field(default_factory=list)
    #: Status code per path prefix (default 200).
    status: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self, prefix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    async def wait(self, prefix: str, count: int = 1, timeout: float = 5.0) -> list[Request]:
        await wait_until(lambda: len(self.on(prefix)) >= count, timeout)
        return self.on(prefix)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            parts = urlsplit(self.path)
            request = Request(
                method="POST",
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            with receiver.lock:
                receiver.requests.append(request)
            code = next((c for p, c in receiver.status.items() if parts.path.startswith(p)), 200)
            # The answers the vendors give on success (DingTalk/WeCom: errcode 0,
            # Feishu/Lark: code 0, Slack: "ok").
            payload = b"ok" if parts.path.startswith("/slack") else b'{"errcode":0,"code":0}'
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serve ``handler`` on a free local port (yielded) in a thread, until exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    """A Receiver on a free local port until exit (for servers of a whole module)."""
    box = Receiver(port=0)
    with serving(_handler(box)) as box.port:
        yield box


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as box:
        yield box


@pytest.fixture
def vendor_endpoints(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    """Point apprise's chat plugins at the local receiver.

    Their endpoints are class attributes fixed to the vendors' hosts (oapi.dingtalk.com,
    qyapi.weixin.qq.com, open.feishu.cn, open.larksuite.com, hooks.slack.com) with no URL
    option to change them. Overriding exactly that attribute redirects the request and
    nothing else: apprise's real code still builds the payload, signs it and POSTs it
    over HTTP, and the test reads what arrived.
    """
    from apprise.plugins.dingtalk import NotifyDingTalk
    from apprise.plugins.feishu import NotifyFeishu
    from apprise.plugins.lark import NotifyLark
    from apprise.plugins.slack import NotifySlack
    from apprise.plugins.wecombot import NotifyWeComBot

    base = receiver.base
    monkeypatch.setattr(
        NotifyDingTalk, "notify_url", f"{base}/dingtalk/robot/send?access_token={{token}}"
    )
    monkeypatch.setattr(
        NotifyWeComBot, "notify_url", f"{base}/wecom/cgi-bin/webhook/send?key={{key}}"
    )
    monkeypatch.setattr(
        NotifyFeishu, "notify_url", f"{base}/feishu/open-apis/bot/v2/hook/{{token}}/"
    )
    monkeypatch.setattr(NotifyLark, "notify_url", f"{base}/lark/open-apis/bot/v2/hook/")
    monkeypatch.setattr(NotifySlack, "webhook_url", f"{base}/slack/services")
    return receiver


@pytest.fixture
def sms_vendor() -> Iterator[SmsVendor]:
    box = SmsVendor()
    with serving(handler(box)) as box.port:
        yield box


# -- SMTP -----------------------------------------------------------------------------------


@dataclass
class Smtp:
    port: int
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    box = Smtp(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def dead_port() -> int:
    """A port nobody listens on (connections are refused)."""
    return free_port()


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts connections and never answers (requests hang)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


# -- monitored schedulers -----------------------------------------------------------------

MakeMonitored = Callable[..., Awaitable[tuple[Scheduler, Monitor]]]


def alert_settings(channels: list[Any], **overrides: Any) -> AlertsSettings:
    data: dict[str, Any] = {
        "enabled": True,
        "channels": channels,
        "language": "en",
        "check_interval": 0.1,
        "delivery": {"timeout": 2.0, "retries": 0, "retry_delay": 0.05, "throttle_per_minute": 0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return AlertsSettings.model_validate(data)


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'schedkit.db'}"


@pytest.fixture
async def make_monitored(store_path: str) -> AsyncIterator[MakeMonitored]:
    """Start a Scheduler with a Monitor on this test's SQLite store; stopped at the end."""
    started: list[Scheduler] = []

    async def make(
        *tasks: Any,
        settings: AlertsSettings | None = None,
        monitor: Monitor | None = None,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> tuple[Scheduler, Monitor]:
        registry = TaskRegistry()
        for t in tasks:
            registry.register_task(t)
        mon = monitor or Monitor(settings or alert_settings([]))
        s = Scheduler(
            fast_config(store_path, **overrides), registry=registry, clock=clock, extensions=[mon]
        )
        await s.start()
        started.append(s)
        return s, mon

    yield make
    for s in reversed(started):
        await stop_or_fail(s, grace=1.0)


def failed_alert(task_name: str, message: str, *, node_id: str | None = "node<b>_1_") -> Alert:
    """A failed run's alert whose task name, node and error come from outside."""
    at = datetime(2024, 5, 1, 18, 0, tzinfo=UTC)
    run = Run(
        id="r1",
        task_name=task_name,
        schedule_id=None,
        trigger_source=TriggerSource.MANUAL,
        scheduled_for=at,
        status=RunStatus.FAILED,
        node_id=node_id,
        error={"type": "RuntimeError", "message": message},
    )
    return Alert(kind=AlertKind.FAILED, task_name=task_name, at=at, run=run)
