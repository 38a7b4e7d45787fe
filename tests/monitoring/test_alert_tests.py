"""Test alerts (``POST /alerts/test``, ``schedkit alerts test``, the console's button): a
clearly marked message sent now to every channel or to one, rendered and delivered as
alerts are, and counted in nothing of the real alerts.

A console audit: there was no way to send a test message to a channel; an operator
could only wait for a real failure, and a newcomer concluded that alerts were broken.
Real SMTP server, real HTTP receiver, a refused port.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from datetime import UTC, datetime

import pytest

from schedkit import RunStatus
from schedkit.alerts.channels import AlertSender
from schedkit.alerts.config import AlertsSettings
from schedkit.alerts.probe import send_test_alert
from schedkit.errors import ConfigError, ConflictError, TooManyRequestsError, ValidationError
from schedkit.monitor import STATE_PREFIX

from .conftest import MakeMonitored, Receiver, Smtp, alert_settings
from .sms_vendor import SmsVendor
from .test_channels import SECRET, TOKEN
from .test_monitor import hook, settle, switchable, titles
from .test_sms import ENV, aliyun

#: 02:00 in Asia/Shanghai, the alerts' zone.
AT = datetime(2024, 5, 1, 18, 0, tzinfo=UTC)
WHEN = "2024-05-02 02:00:00 (Asia/Shanghai)"
PASSWORD = "pw-0f3c9a7e5b1d"
HOOK_TOKEN = "tok-8e2a4c6f0b9d"


async def test_the_smtp_server_receives_the_test_mail(smtp: Smtp) -> None:
    url = f"mailto://127.0.0.1:{smtp.port}?from=schedkit@example.com&to=ops@example.com"
    settings = alert_settings([{"name": "oncall-mail", "url": url}])
    # A node name is anyone's string: its markup is shown, never rendered.
    result = await send_test_alert(settings, node="web1 <b>ops</b>", at=AT)
    assert result.to_json() == {
        "node": "web1 <b>ops</b>",
        "at": "2024-05-01T18:00:00+00:00",
        "at_local": WHEN,
        "delivered": True,
        "channels": [
            {"channel": "oncall-mail", "scheme": "mailto", "delivered": True, "error": None}
        ],
    }
    ((_, recipients, mail),) = smtp.messages
    assert recipients == ["ops@example.com"]
    assert mail["Subject"] == f"[TEST] schedkit test alert from node web1 <b>ops</b> at {WHEN}"
    html = mail.get_body(("html",))
    plain = mail.get_body(("plain",))
    assert html is not None and plain is not None
    assert "<b>ops</b>" not in html.get_content()
    text = plain.get_content()
    assert "It is a test sent on request: no task failed." in text
    assert "web1 <b>ops</b>" in text and WHEN in text


async def test_a_webhook_gets_the_test_in_chinese(receiver: Receiver) -> None:
    settings = alert_settings([hook(receiver, "/hooks/schedkit")], language="zh")
    result = await send_test_alert(settings, node="web1:4242:a1b2c3", at=AT)
    assert result.delivered
    (request,) = receiver.on("/hooks/schedkit")
    payload = request.json()
    assert payload["title"] == f"【测试】schedkit 测试告警：来自节点 web1:4242:a1b2c3，时间 {WHEN}"
    assert payload["type"] == "success"
    assert "这是按请求发送的测试消息，没有任务失败。" in payload["message"]
    assert "节点：web1:4242:a1b2c3" in payload["message"]


@pytest.mark.parametrize(("language", "keyword"), [("en", "Task"), ("zh", "任务")])
async def test_a_dingtalk_robot_with_a_keyword_takes_it(
    vendor_endpoints: Receiver, language: str, keyword: str
) -> None:
    """docs/monitoring.md tells a DingTalk robot's keyword setting to use Task / 任务,
    which every alert contains: a test without it would be refused by a channel that
    works."""
    settings = alert_settings(["dingtalk://${DT_SECRET}@${DT_TOKEN}/"], language=language)
    env = {"DT_SECRET": SECRET, "DT_TOKEN": TOKEN}
    result = await send_test_alert(settings, node="web1", at=AT, environ=env)
    assert result.delivered
    (request,) = vendor_endpoints.on("/dingtalk/robot/send")
    assert keyword in request.json()["markdown"]["text"]


async def test_an_sms_template_gets_the_test(sms_vendor: SmsVendor) -> None:
    settings = alert_settings([aliyun(sms_vendor)], language="zh")
    result = await send_test_alert(settings, node="web1", at=AT, environ=ENV)
    assert result.delivered
    (request,) = sms_vendor.of("aliyun")
    assert request.verdict == "OK"
    assert request.template_params == {
        "task": "schedkit",
        "kind": "测试",
        "run": "",
        "msg": "来自节点 web1 的测试告警",
        "time": "05-02 02:00",
    }


async def test_a_channel_that_cannot_deliver_is_reported_with_its_secrets_masked(
    receiver: Receiver, dead_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dead = f"json://hook:${{HOOK_PASSWORD}}@127.0.0.1:{dead_port}/hooks?+X-Token=${{HOOK_TOKEN}}"
    settings = alert_settings([hook(receiver), {"name": "dead", "url": dead}])
    env = {"HOOK_PASSWORD": PASSWORD, "HOOK_TOKEN": HOOK_TOKEN}
    result = await send_test_alert(settings, node="web1", at=AT, environ=env)
    delivered, failed = result.channels
    assert delivered.delivered and delivered.error is None
    assert (failed.channel, failed.delivered) == ("dead", False)
    assert failed.error == "A Connection error occurred sending JSON notification to 127.0.0.1."
    assert not result.delivered
    said = json.dumps(result.to_json()) + caplog.text
    assert PASSWORD not in said and HOOK_TOKEN not in said
    assert "alert channel dead: could not deliver test alert '[TEST] schedkit" in caplog.text


async def test_one_channel_by_name_whatever_its_kinds(receiver: Receiver) -> None:
    settings = alert_settings(
        [
            {"name": "a", "url": hook(receiver, "/a")},
            {"name": "b", "url": hook(receiver, "/b"), "kinds": ["recovered"]},
        ]
    )
    result = await send_test_alert(settings, node="web1", at=AT, channel="b")
    assert [c.channel for c in result.channels] == ["b"] and result.delivered
    assert len(receiver.on("/b")) == 1 and receiver.on("/a") == []
    with pytest.raises(ValidationError) as unknown:
        await send_test_alert(settings, node="web1", at=AT, channel="bb")
    assert unknown.value.field == "channel"
    said = "no alert channel named 'bb'; did you mean 'b'? (channels: a, b)"
    assert unknown.value.message == said
    assert receiver.on("/a") == [] and len(receiver.on("/b")) == 1


@pytest.mark.parametrize(
    ("enabled", "channels", "said"),
    [(False, 1, "alerts.enabled is false"), (True, 0, "no channel is configured")],
)
async def test_nothing_to_test_while_alerts_are_off(
    receiver: Receiver, enabled: bool, channels: int, said: str
) -> None:
    settings = alert_settings([hook(receiver)] * channels, enabled=enabled)
    with pytest.raises(ConflictError, match=f"alerts are off \\({said}"):
        await send_test_alert(settings, node="web1", at=AT)
    assert receiver.on("/alerts") == []


def test_test_is_no_kind_to_filter_channels_on() -> None:
    with pytest.raises(ConfigError, match="'test' is not a kind to filter on"):
        AlertsSettings.parse(
            {"enabled": True, "channels": [{"url": "json://localhost/", "kinds": ["test"]}]}
        )


async def test_a_test_counts_in_nothing_of_the_real_alerts(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    """Through a node's running monitor: past its throttle (one message a minute here),
    and no count, health, metric or alert state changes; the real alert that follows
    goes out at once, the throttle's one slot still free."""
    nightly, _ = switchable()
    # Tests one after another: none under way when the next asks (the interval is 0).
    delivery = {"throttle_per_minute": 1, "throttle_window": 60, "test_interval": 0}
    settings = alert_settings([hook(receiver)], delivery=delivery)
    s, monitor = await make_monitored(nightly, settings=settings)
    for _ in range(3):
        result = await send_test_alert(
            monitor.settings, node=s.node_id, at=s.clock.now(), sender=monitor.sender
        )
        assert result.delivered
    assert len(titles(receiver)) == 3
    (channel,) = monitor.status()["channels"]
    assert channel["sent"] == channel["failed"] == channel["throttled"] == 0
    assert channel["last_success_at"] is None
    metrics, _ = monitor.metrics.render_for(None)
    assert b'kind="test"' not in metrics
    assert await s.list_state(STATE_PREFIX) == []
    run = await s.run_now("nightly", wait=True, timeout=5)
    assert run.status is RunStatus.FAILED
    await settle(monitor)
    assert titles(receiver)[3:] == ["[ERROR] Task failed: nightly"]


async def test_a_channel_takes_its_next_test_once_the_interval_has_passed(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A node's limit on tests (schedkit.alerts.probe_gate), through a running sender as
    the API uses it; the log lines name who asked (an audit: they did not)."""
    caplog.set_level(logging.INFO, logger="schedkit.alerts.channels")
    settings = alert_settings([hook(receiver, "/a")], delivery={"test_interval": 0.5})
    sender = AlertSender(settings.channels, settings.delivery, language="en")
    await sender.start()
    try:
        test = functools.partial(send_test_alert, settings, node="web1", at=AT, sender=sender)
        assert (await test(actor="ops-token")).delivered
        with pytest.raises(TooManyRequestsError) as refused:
            await test(actor="ops-token")
        assert str(refused.value) == (
            "channel 'json' takes one test alert at a time, 0.5 s apart "
            "(alerts.delivery.test_interval)"
        )
        assert 0 < refused.value.retry_after <= 0.5
        await asyncio.sleep(refused.value.retry_after)
        assert (await test(actor="cli:ops@web1")).delivered
    finally:
        await sender.stop(grace=0)
    assert len(receiver.on("/a")) == 2
    sent = [r.getMessage() for r in caplog.records if r.name == "schedkit.alerts.channels"]
    assert [line.partition(": [TEST]")[0] for line in sent] == [
        "test alert sent to json (asked by ops-token)",
        "test alert sent to json (asked by cli:ops@web1)",
    ]
