"""Real channels: apprise sends to a real SMTP server and a real HTTP receiver.

Pins: each channel's payload as the vendor receives it (DingTalk signature included),
secrets expanded from the environment and never logged, the throttle with its summary,
and that a dead or hanging channel fails fast, is reported unhealthy, and never raises.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schedkit.alerts.channels import AlertSender, expand_url
from schedkit.alerts.config import AlertKind, AlertsSettings
from schedkit.alerts.messages import Message, MessageContext, render
from schedkit.alerts.rules import Alert
from schedkit.errors import ConfigError
from schedkit.models import Run, RunStatus, TriggerSource

from .conftest import Receiver, Smtp, wait_until

SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


def failed_run() -> Run:
    start = datetime(2024, 5, 1, 18, 0, 0, tzinfo=UTC)  # 02:00 in Asia/Shanghai
    return Run(
        id="0190abcdef0123456789abcdef012345",
        task_name="customer_status_auto_update",
        schedule_id="customer_status_auto_update",
        trigger_source=TriggerSource.SCHEDULE,
        scheduled_for=start,
        status=RunStatus.FAILED,
        attempt=4,
        max_attempts=4,
        started_at=start + timedelta(seconds=1),
        finished_at=start + timedelta(seconds=13),
        duration=12.0,
        node_id="node-a:123:abcdef",
        error={
            "type": "ConnectionError",
            "message": "mongodb://app:hunter2@db:27017 unreachable",
            "traceback": "Traceback ... SECRET TRACEBACK",
        },
    )


def message(lang: str = "zh", fmt: str = "markdown") -> Message:
    alert = Alert(
        kind=AlertKind.FAILED,
        task_name="customer_status_auto_update",
        at=datetime.now(UTC),
        run=failed_run(),
    )
    ctx = MessageContext(
        language=lang,  # type: ignore[arg-type]
        base_url="https://sched.example.com/console",
        task_description="客户状态自动更新任务",
        schedule="每天 02:00",
    )
    return render(alert, ctx, fmt)  # type: ignore[arg-type]


def sender(urls: list[str], env: dict[str, str] | None = None, **delivery: object) -> AlertSender:
    settings = AlertsSettings.model_validate(
        {
            "enabled": True,
            "channels": urls,
            "delivery": {"timeout": 2.0, "retries": 0, "throttle_per_minute": 0, **delivery},
        }
    )
    return AlertSender(settings.channels, settings.delivery, language="en", environ=env or {})


async def send_one(s: AlertSender, msg: Message) -> None:
    await s.start()
    try:
        for name in s.channels:
            s.submit(name, msg)
    finally:
        await s.stop(grace=5.0)


async def test_dingtalk_markdown_with_signature(vendor_endpoints: Receiver) -> None:
    env = {"DINGTALK_SECRET": SECRET, "DINGTALK_TOKEN": TOKEN}
    s = sender(["dingtalk://${DINGTALK_SECRET}@${DINGTALK_TOKEN}/"], env)
    before = time.time()
    await send_one(s, message("zh"))
    (req,) = await vendor_endpoints.wait("/dingtalk/robot/send")
    assert req.query["access_token"] == [TOKEN]
    # DingTalk's check: timestamp (ms) within an hour of its clock, and sign equal to
    # base64(HMAC-SHA256(secret, "timestamp\nsecret")) after one URL decoding.
    (timestamp,) = req.query["timestamp"]
    assert abs(int(timestamp) / 1000 - before) < 60
    (sign,) = req.query["sign"]
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert sign == expected
    payload = req.json()
    assert payload["msgtype"] == "markdown"
    assert "任务执行失败" in payload["markdown"]["title"]
    text = payload["markdown"]["text"]
    for needle in (
        "customer_status_auto_update",
        "客户状态自动更新任务",
        "每天 02:00",
        "0190abcdef0123456789abcdef012345",
        "2024-05-02 02:00:00 (Asia/Shanghai)",
        "4/4",
        "ConnectionError",
        "https://sched.example.com/console/runs/0190abcdef0123456789abcdef012345",
    ):
        assert needle in text, needle
    assert "hunter2" not in text and "TRACEBACK" not in text
    assert s.health["dingtalk"].sent == 1 and s.health["dingtalk"].healthy


async def test_wecom_text(vendor_endpoints: Receiver) -> None:
    s = sender(["wecombot://${WECOM_KEY}"], {"WECOM_KEY": "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"})
    await send_one(s, message("zh", "text"))
    (req,) = await vendor_endpoints.wait("/wecom/cgi-bin/webhook/send")
    assert req.query["key"] == ["693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"]
    payload = req.json()
    assert payload["msgtype"] == "text"
    content = payload["text"]["content"]
    assert "任务执行失败：customer_status_auto_update" in content
    assert "运行 ID：0190abcdef0123456789abcdef012345" in content
    assert "错误：ConnectionError: mongodb://app:***@db:27017 unreachable" in content


async def test_feishu_card(vendor_endpoints: Receiver) -> None:
    s = sender(
        ["feishu://${FEISHU_TOKEN}"], {"FEISHU_TOKEN": "2f5e0a4c-0d1b-4a4e-9f0e-3c9a1b2c3d4e"}
    )
    await send_one(s, message("en"))
    (req,) = await vendor_endpoints.wait("/feishu/open-apis/bot/v2/hook/2f5e0a4c-0d1b-4a4e-9f0e")
    payload = req.json()
    assert payload["msg_type"] == "interactive"
    header = payload["card"]["header"]
    assert header["title"]["content"] == "[ERROR] Task failed: customer_status_auto_update"
    assert header["template"] == "red"
    body = payload["card"]["elements"][0]["text"]["content"]
    assert "**Run ID**: 0190abcdef0123456789abcdef012345" in body
    assert "**Scheduled for**: 2024-05-02 02:00:00 (Asia/Shanghai)" in body


async def test_lark_and_slack(vendor_endpoints: Receiver) -> None:
    s = sender(
        ["lark://${LARK_TOKEN}", "slack://T1JJ3T3L2/A1BRTD4JD/${SLACK_TOKEN}"],
        {"LARK_TOKEN": "c0ffee00-1234", "SLACK_TOKEN": "TIiajkdnlazkcOXrIdevi7"},
    )
    await send_one(s, message("en"))
    (lark,) = await vendor_endpoints.wait("/lark/open-apis/bot/v2/hook/c0ffee00-1234")
    assert "Task failed" in lark.json()["card"]["header"]["title"]["content"]
    (slack,) = await vendor_endpoints.wait("/slack/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazk")
    assert "customer_status_auto_update" in slack.body.decode()


async def test_json_webhook(receiver: Receiver) -> None:
    s = sender([f"json://127.0.0.1:{receiver.port}/hooks/schedkit"])
    await send_one(s, message("en", "text"))
    (req,) = await receiver.wait("/hooks/schedkit")
    payload = req.json()
    assert payload["title"] == "[ERROR] Task failed: customer_status_auto_update"
    assert payload["type"] == "failure"
    assert "Attempt: 4/4" in payload["message"]
    assert "Error: ConnectionError: mongodb://app:***@db:27017 unreachable" in payload["message"]


async def test_email_through_smtp(smtp: Smtp) -> None:
    s = sender([f"mailto://127.0.0.1:{smtp.port}?from=schedkit@example.com&to=ops@example.com"])
    await send_one(s, message("zh"))
    await wait_until(lambda: len(smtp.messages) == 1)
    sender_addr, recipients, mail = smtp.messages[0]
    assert sender_addr == "schedkit@example.com" and recipients == ["ops@example.com"]
    assert mail["Subject"] == "【错误】任务执行失败：customer_status_auto_update"
    plain = mail.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    assert "0190abcdef0123456789abcdef012345" in text and "Asia/Shanghai" in text
    assert "hunter2" not in text


async def test_secrets_are_expanded_at_send_time_and_never_logged(
    vendor_endpoints: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"DINGTALK_SECRET": SECRET, "DINGTALK_TOKEN": TOKEN}
    s = sender(["dingtalk://${DINGTALK_SECRET}@${DINGTALK_TOKEN}/"], env)
    s.validate()
    env["DINGTALK_TOKEN"] = "ffff0000"  # rotated after start: the next send uses it
    await send_one(s, message("en"))
    (req,) = await vendor_endpoints.wait("/dingtalk/robot/send")
    assert req.query["access_token"] == ["ffff0000"]
    assert any("DingTalk" in r.getMessage() for r in caplog.records)  # apprise did log
    for secret in (SECRET, TOKEN, "ffff0000"):
        assert secret not in caplog.text


def test_missing_variable_is_a_config_error_naming_it() -> None:
    s = sender(["wecombot://${NOT_SET_ANYWHERE}"], {})
    with pytest.raises(ConfigError, match=r"alerts channel 'wecombot'.*NOT_SET_ANYWHERE"):
        s.validate()
    with pytest.raises(ConfigError, match="cannot use"):
        sender(["nosuchscheme://x"]).validate()


def test_dingtalk_target_that_is_not_a_phone_number_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # apprise reads path parts after the token as phone numbers to @-mention and drops the
    # others with a warning: a signing secret written there leaves the robot unsigned.
    caplog.set_level(logging.DEBUG)
    env = {"DINGTALK_SECRET": SECRET, "DINGTALK_TOKEN": TOKEN}
    s = sender(["dingtalk://${DINGTALK_TOKEN}/${DINGTALK_SECRET}"], env)
    with pytest.raises(ConfigError, match=r"alerts channel 'dingtalk': .*not a phone number") as e:
        s.validate()
    assert "dingtalk://SECRET@TOKEN/" in str(e.value)
    assert SECRET not in str(e.value) and SECRET not in caplog.text
    with pytest.raises(ConfigError, match="not a phone number"):
        sender(["dingtalk://${DINGTALK_TOKEN}/?to=13800138000,1380013"], env).validate()
    for url in (
        "dingtalk://${DINGTALK_SECRET}@${DINGTALK_TOKEN}/",
        "dingtalk://${DINGTALK_SECRET}@${DINGTALK_TOKEN}/13800138000/+86-139-0013-9000/",
        "dingtalk://${DINGTALK_TOKEN}/?to=13800138000,13800138000",
    ):
        sender([url], env).validate()


def test_dingtalk_urls_of_docs_and_examples_pass_the_check() -> None:
    root = Path(__file__).resolve().parents[2]
    files = [root / "README.md", *root.glob("docs/*.md"), *root.glob("examples/**/*.toml")]
    found = [(f, u) for f in files for u in re.findall(r"dingtalk://[^\s\"'`]+", f.read_text())]
    assert {f.name for f, _ in found} >= {"monitoring.md", "schedkit.toml", "schedkit.mongo.toml"}
    for url in sorted({u for _, u in found}):
        env = {name: SECRET for name in re.findall(r"\$\{(\w+)", url)}
        sender([url], env).validate()


def test_expand_url_quotes_values() -> None:
    url, secrets = expand_url(
        "mailtos://${U}:${P}@smtp.example.com?x=${RAW:raw}",
        {"U": "ops", "P": "p@ss/w:rd", "RAW": "a&b"},
    )
    assert url == "mailtos://ops:p%40ss%2Fw%3Ard@smtp.example.com?x=a&b"
    assert "p@ss/w:rd" in secrets and "p%40ss%2Fw%3Ard" in secrets


async def test_throttle_holds_back_and_summarises(receiver: Receiver) -> None:
    s = sender([f"json://127.0.0.1:{receiver.port}/t"], throttle_per_minute=2, throttle_window=0.5)
    results: list[str] = []
    s.on_result = lambda channel, msg, result: results.append(result)
    await s.start()
    try:
        for i in range(5):
            base = message("en", "text")
            s.submit(
                "json",
                Message(
                    title=f"alert {i}",
                    body=base.body,
                    kind=base.kind,
                    severity=base.severity,
                    format="text",
                ),
            )
        first = await receiver.wait("/t", 2)
        await asyncio.sleep(0.2)
        assert [r.json()["title"] for r in receiver.on("/t")] == ["alert 0", "alert 1"]
        assert [r.json()["title"] for r in first] == ["alert 0", "alert 1"]
        requests = await receiver.wait("/t", 3, timeout=3)
    finally:
        await s.stop()
    summary = requests[2].json()
    assert summary["title"] == "[schedkit] 3 alert(s) held back by the throttle"
    assert all(f"alert {i}" in summary["message"] for i in (2, 3, 4))
    assert results.count("throttled") == 3 and results.count("sent") == 3
    assert s.health["json"].throttled == 3


async def test_dead_channel_fails_fast_and_is_reported(dead_port: int, blackhole: int) -> None:
    s = sender(
        [f"json://127.0.0.1:{dead_port}/", f"json://127.0.0.1:{blackhole}/"],
        timeout=0.3,
        retries=1,
        retry_delay=0.05,
        unhealthy_after=2,
    )
    await s.start()
    try:
        started = time.monotonic()
        for _ in range(2):
            for name in s.channels:
                assert s.submit(name, message("en", "text"))
        assert time.monotonic() - started < 0.05  # submit never waits for the network
        await wait_until(lambda: all(h.failed == 2 for h in s.health.values()), timeout=10)
    finally:
        await s.stop(grace=0)
    refused, hanging = s.health["json"], s.health["json-2"]
    assert not refused.healthy and not hanging.healthy
    assert refused.last_error and "Connection error" in refused.last_error
    assert hanging.last_error
    status = {c["name"]: c for c in s.status()}
    assert status["json"]["healthy"] is False and status["json"]["consecutive_failures"] == 2
