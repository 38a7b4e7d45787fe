"""SMS channels: the vendors' real SDKs sending to local stand-ins of their APIs.

The stand-ins (``sms_vendor.py``) recompute each request's signature with the key's
secret, as Alibaba Cloud (ACS3-HMAC-SHA256) and Tencent Cloud (TC3-HMAC-SHA256) do, and
answer with the vendors' JSON. Pins: the request each vendor receives (action, phones,
signature name, template, parameters cut to the vendor's limit), vendor refusals as
failed deliveries that count for channel health, retries that never text a number twice,
the shared throttle, secrets read at send time and never logged, per-task phone lists,
and a clear error when an SDK is not installed.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schedkit import RunStatus, SchedkitConfig
from schedkit.alerts.channels import AlertSender, DeliveryResult
from schedkit.alerts.config import (
    TEMPLATE_FIELDS,
    AlertKind,
    AlertsSettings,
    AliyunSmsSettings,
    TencentSmsSettings,
)
from schedkit.alerts.messages import Message, MessageContext, render
from schedkit.alerts.rules import Alert
from schedkit.alerts.sms import split_endpoint, template_value
from schedkit.errors import ConfigError
from schedkit.monitor import Monitor

from .conftest import MakeMonitored, alert_settings, wait_until
from .sms_vendor import ALIYUN_KEYS, TENCENT_KEYS, SmsVendor
from .test_channels import failed_run
from .test_monitor import settle, switchable

[(ALIYUN_ID, ALIYUN_SECRET)] = ALIYUN_KEYS.items()
[(TENCENT_ID, TENCENT_SECRET)] = TENCENT_KEYS.items()
ENV = {
    "ALIYUN_SMS_AK": ALIYUN_ID,
    "ALIYUN_SMS_SK": ALIYUN_SECRET,
    "TENCENT_SMS_ID": TENCENT_ID,
    "TENCENT_SMS_KEY": TENCENT_SECRET,
}
AT = datetime(2024, 5, 1, 18, 0, 14, tzinfo=UTC)  # 02:00:14 in Asia/Shanghai
DOCS = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def aliyun(vendor: SmsVendor, **overrides: Any) -> dict[str, Any]:
    return {
        "type": "aliyun_sms",
        "access_key_id": "${ALIYUN_SMS_AK}",
        "access_key_secret": "${ALIYUN_SMS_SK}",
        "sign_name": "电力交易",
        "template_code": "SMS_476500123",
        "template_params": {
            "task": "{task}",
            "kind": "{kind}",
            "run": "{run}",
            "msg": "{message}",
            "time": "{time}",
        },
        "phones": ["13800138000", "13900139000"],
        "endpoint": vendor.endpoint,
        **overrides,
    }


def tencent(vendor: SmsVendor, **overrides: Any) -> dict[str, Any]:
    return {
        "type": "tencent_sms",
        "secret_id": "${TENCENT_SMS_ID}",
        "secret_key": "${TENCENT_SMS_KEY}",
        "sdk_app_id": "1400787878",
        "sign_name": "电力交易",
        "template_id": "1856742",
        "template_params": ["{task}", "{kind}", "{message}", "{time}"],
        "phones": ["+8613800138000", "+8613900139000"],
        "endpoint": vendor.endpoint,
        **overrides,
    }


def sender(
    channels: list[dict[str, Any]], env: dict[str, str] | None = None, **delivery: Any
) -> AlertSender:
    settings = AlertsSettings.parse(
        {
            "enabled": True,
            "channels": channels,
            "delivery": {"timeout": 2.0, "retries": 0, "throttle_per_minute": 0, **delivery},
        }
    )
    return AlertSender(
        settings.channels, settings.delivery, language="zh", environ=ENV if env is None else env
    )


def failure(task: str = "customer_status_auto_update", lang: str = "zh") -> Message:
    alert = Alert(kind=AlertKind.FAILED, task_name=task, at=AT, run=failed_run())
    return render(alert, MessageContext(language=lang), "text")  # type: ignore[arg-type]


async def send(s: AlertSender, *messages: Message) -> list[DeliveryResult]:
    results: list[DeliveryResult] = []
    s.on_result = lambda channel, message, result: results.append(result)
    await s.start()
    try:
        for message in messages:
            for name in s.channels:
                s.submit(name, message)
    finally:
        await s.stop(grace=10.0)
    return results


async def test_aliyun_request_as_the_vendor_receives_it(sms_vendor: SmsVendor) -> None:
    s = sender([aliyun(sms_vendor)])
    s.validate()
    assert await send(s, failure()) == ["sent"]
    (req,) = sms_vendor.of("aliyun")
    assert req.verdict == "OK"  # signature, date, nonce, hash and parameters all checked
    assert req.headers["x-acs-action"] == "SendSms"
    assert req.headers["x-acs-version"] == "2017-05-25"
    assert req.headers["authorization"].startswith(
        f"ACS3-HMAC-SHA256 Credential={ALIYUN_ID},SignedHeaders="
    )
    assert req.phones == ["13800138000", "13900139000"]
    assert req.params["SignName"] == "电力交易"
    assert req.params["TemplateCode"] == "SMS_476500123"
    assert req.template_params == {
        "task": "customer_status_auto_update",
        "kind": "执行失败",
        "run": "0190abcd",
        # The error, without the link (not allowed in a variable), cut to 35 characters.
        "msg": "ConnectionError: mongodb unreachab…",
        "time": "05-02 02:00",
    }
    assert all(len(v) <= 35 for v in req.template_params.values())
    health = s.health["aliyun_sms"]
    assert health.sent == 1 and health.healthy and health.scheme == "aliyun_sms"


async def test_tencent_request_as_the_vendor_receives_it(sms_vendor: SmsVendor) -> None:
    s = sender([tencent(sms_vendor, region="ap-beijing")])
    s.validate()
    assert await send(s, failure()) == ["sent"]
    (req,) = sms_vendor.of("tencent")
    assert req.verdict == "OK"
    assert req.headers["x-tc-action"] == "SendSms"
    assert req.headers["x-tc-version"] == "2021-01-11"
    assert req.headers["x-tc-region"] == "ap-beijing"
    assert req.headers["authorization"].startswith(f"TC3-HMAC-SHA256 Credential={TENCENT_ID}/")
    assert req.params["SmsSdkAppId"] == "1400787878"
    assert req.params["TemplateId"] == "1856742"
    assert req.params["SignName"] == "电力交易"
    assert req.phones == ["+8613800138000", "+8613900139000"]
    # In template order, each cut to 12 characters (Tencent's per-variable limit).
    assert req.template_params == ["customer_st…", "执行失败", "ConnectionE…", "05-02 02:00"]
    assert s.health["tencent_sms"].sent == 1


async def test_vendor_refusal_is_a_failed_delivery_counted_for_health(
    sms_vendor: SmsVendor,
) -> None:
    for _ in range(2):
        sms_vendor.refuse_next("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5")
    s = sender([aliyun(sms_vendor)], unhealthy_after=2)
    assert await send(s, failure(), failure()) == ["failed", "failed"]
    health = s.health["aliyun_sms"]
    assert health.failed == 2 and health.consecutive_failures == 2 and not health.healthy
    assert health.last_error is not None
    assert health.last_error.startswith("isv.BUSINESS_LIMIT_CONTROL: 触发小时级流控Permits:5")
    assert [r.answer for r in sms_vendor.of("aliyun")] == ["isv.BUSINESS_LIMIT_CONTROL"] * 2
    # The next accepted message makes the channel healthy again.
    s2 = sender([aliyun(sms_vendor)], unhealthy_after=2)
    s2.health = s.health
    assert await send(s2, failure()) == ["sent"]
    assert health.consecutive_failures == 0 and health.healthy


async def test_a_retry_texts_only_the_numbers_the_vendor_refused(
    sms_vendor: SmsVendor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sms_vendor.refuse_next(
        "LimitExceeded.PhoneNumberDailyLimit",
        "单个手机号日下发短信条数超过设定的上限",
        phones={"+8613900139000"},
    )
    s = sender([tencent(sms_vendor)], retries=1, retry_delay=0.05)
    assert await send(s, failure()) == ["sent"]
    first, second = sms_vendor.of("tencent")
    assert first.phones == ["+8613800138000", "+8613900139000"]
    assert first.answer == ["Ok", "LimitExceeded.PhoneNumberDailyLimit"]
    assert second.phones == ["+8613900139000"]  # the first number already has it
    assert second.answer == ["Ok"]
    retry_lines = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retry_lines and "+86139****9000: LimitExceeded.PhoneNumberDailyLimit" in retry_lines[0]
    assert "+8613900139000" not in caplog.text  # numbers are masked in logs


@pytest.mark.parametrize(
    ("make", "vendor", "code"),
    [
        (aliyun, "aliyun", "SignatureDoesNotMatch"),
        (tencent, "tencent", "AuthFailure.SignatureFailure"),
    ],
)
async def test_a_wrong_secret_fails_the_vendors_signature_check(
    sms_vendor: SmsVendor, make: Any, vendor: str, code: str
) -> None:
    env = {**ENV, "ALIYUN_SMS_SK": "not-the-secret-1234", "TENCENT_SMS_KEY": "not-the-key-5678"}
    s = sender([make(sms_vendor)], env)
    assert await send(s, failure()) == ["failed"]
    (req,) = sms_vendor.of(vendor)
    assert req.verdict == code
    health = next(iter(s.health.values()))
    assert health.last_error is not None and health.last_error.startswith(code)
    assert "not-the-" not in health.last_error


async def test_a_dead_or_hanging_api_fails_fast_and_is_reported(
    dead_port: int, blackhole: int
) -> None:
    refused, hanging = SmsVendor(port=dead_port), SmsVendor(port=blackhole)
    s = sender(
        [
            aliyun(refused, name="aliyun-refused"),
            tencent(refused, name="tencent-refused"),
            aliyun(hanging, name="aliyun-hanging"),
            tencent(hanging, name="tencent-hanging"),
        ],
        timeout=0.3,
        unhealthy_after=1,
    )
    started = time.monotonic()
    assert await send(s, failure()) == ["failed"] * 4
    assert time.monotonic() - started < 5
    errors = {name: h.last_error or "" for name, h in s.health.items()}
    assert not any(h.healthy for h in s.health.values())
    assert "Connection refused" in errors["aliyun-refused"]
    assert errors["tencent-refused"].startswith("ClientNetworkError: ")
    assert "timed out" in errors["aliyun-hanging"] and "timed out" in errors["tencent-hanging"]
    # Alibaba Cloud's error quotes the request URL, whose query holds numbers and texts.
    assert not any("13800138000" in e or "customer_status" in e for e in errors.values())


async def test_secrets_are_read_at_send_time_and_never_logged(
    sms_vendor: SmsVendor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = dict(ENV, TENCENT_SMS_ID="AKIDrotatedAway000000", TENCENT_SMS_KEY="old-key-000000")
    s = sender([tencent(sms_vendor)], env)
    s.validate()
    env.update(TENCENT_SMS_ID=TENCENT_ID, TENCENT_SMS_KEY=TENCENT_SECRET)  # rotated after start
    assert await send(s, failure()) == ["sent"]
    (req,) = sms_vendor.of("tencent")
    assert req.verdict == "OK"
    # The SDK logs each request with its Authorization header at debug level.
    assert any(r.name == "tencentcloud_sdk_common" for r in caplog.records)
    for secret in (TENCENT_ID, TENCENT_SECRET, "AKIDrotatedAway000000", "old-key-000000"):
        assert secret not in caplog.text
    assert {TENCENT_ID, TENCENT_SECRET} <= s.secrets


async def test_the_throttle_holds_back_sms_and_sends_one_summary(sms_vendor: SmsVendor) -> None:
    s = sender(
        [aliyun(sms_vendor, template_params={"task": "{task}", "msg": "{message}"})],
        throttle_per_minute=1,
        # The throttle counts when each message leaves the queue: a 0.5 s window let the
        # second message through once the first send took longer (the SDK's first call
        # on a loaded CI machine).
        throttle_window=2.0,
    )
    results = await send(s, failure("report_daily"), failure("backup"), failure("archive"))
    assert sorted(results) == ["sent", "sent", "throttled", "throttled"]
    first, summary = sms_vendor.of("aliyun")
    assert first.template_params["task"] == "report_daily"
    assert summary.template_params == {
        "task": "backup,archive",
        "msg": "[schedkit]限流：2 条告警未单独发送",
    }
    assert s.health["aliyun_sms"].throttled == 2


def test_template_values_fit_what_carriers_accept() -> None:
    message = failure()
    assert set(message.fields) == TEMPLATE_FIELDS
    assert template_value("{title}", message, 35) == "[错误]任务执行失败：customer_status_auto_up…"
    assert template_value("任务{task}", message, 100) == "任务customer_status_auto_update"
    assert template_value("{run_id}", message, 100) == "0190abcdef0123456789abcdef012345"
    notice = Message(
        title="合同即将到期 3 份",
        body="…",
        kind=AlertKind.RECOVERED,
        severity=failure().severity,
        format="text",
    )
    assert template_value("{message}/{task}", notice, 35) == "合同即将到期 3 份/"


def test_missing_sdk_is_a_config_error_naming_the_extra(
    sms_vendor: SmsVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes Python's import raise ImportError, as if the
    # extra had never been installed.
    monkeypatch.setitem(sys.modules, "alibabacloud_dysmsapi20170525.client", None)
    monkeypatch.setitem(sys.modules, "tencentcloud.sms.v20210111.sms_client", None)
    config = SchedkitConfig(
        alerts={"enabled": True, "channels": [aliyun(sms_vendor), tencent(sms_vendor)]}
    )
    with pytest.raises(ConfigError) as caught:
        Monitor.from_config(config, environ=ENV)
    text = str(caught.value)
    assert "alerts channel 'aliyun_sms': type aliyun_sms needs the Alibaba Cloud SMS SDK" in text
    assert "pip install 'schedkit[sms-aliyun]'" in text
    assert "alerts channel 'tencent_sms': type tencent_sms needs the Tencent Cloud SMS SDK" in text
    assert "pip install 'schedkit[sms-tencent]'" in text


def test_endpoints() -> None:
    assert split_endpoint("dysmsapi.aliyuncs.com") == ("https", "dysmsapi.aliyuncs.com")
    assert split_endpoint("http://127.0.0.1:8080/") == ("http", "127.0.0.1:8080")
    assert split_endpoint("HTTPS://sms.tencentcloudapi.com") == ("https", "sms.tencentcloudapi.com")
    for bad in ("ftp://x", "http://"):
        with pytest.raises(ConfigError, match="must be a host name or http"):
            split_endpoint(bad)


async def test_a_variable_unset_after_start_fails_the_delivery(sms_vendor: SmsVendor) -> None:
    env = dict(ENV)
    s = sender([aliyun(sms_vendor)], env)
    s.validate()
    del env["ALIYUN_SMS_SK"]
    assert await send(s, failure()) == ["failed"]
    assert sms_vendor.requests == []
    assert s.health["aliyun_sms"].last_error == (
        "environment variable ALIYUN_SMS_SK (named in an alert channel) is not set"
    )


def test_unset_variable_and_bad_number_from_the_environment(sms_vendor: SmsVendor) -> None:
    s = sender([aliyun(sms_vendor, phones=["${ONCALL_PHONE}"], name="oncall")], {})
    with pytest.raises(ConfigError, match=r"alerts channel 'oncall': .*ALIYUN_SMS_AK"):
        s.validate()
    s = sender(
        [aliyun(sms_vendor, phones=["${ONCALL_PHONE}"], name="oncall")],
        {
            **ENV,
            "ONCALL_PHONE": "138-0013-8000",
        },
    )
    with pytest.raises(ConfigError, match=r"'oncall': phones: .*is not a phone number"):
        s.validate()


def test_config_errors_name_the_key() -> None:
    def error(channel: dict[str, Any]) -> str:
        with pytest.raises(ConfigError) as caught:
            AlertsSettings.parse({"channels": [channel]})
        return str(caught.value)

    vendor = SmsVendor()
    assert error(aliyun(vendor, access_key_secret="hunter2-literal")).startswith(
        "alerts.channels.0.access_key_secret: Value error, must name an environment variable"
    )
    assert "alerts.channels.0.template_params.1: Value error, unknown placeholder {who}" in (
        error(tencent(vendor, template_params=["{task}", "{who}"]))
    )
    assert "alerts.channels.0.template_params.msg: Value error, unknown placeholder {msg}" in (
        error(aliyun(vendor, template_params={"msg": "{msg}"}))
    )
    assert "alerts.channels.0.phones: " in error(tencent(vendor, phones=[]))
    assert "'138-0013-8000' is not a phone number" in error(
        tencent(vendor, phones=["138-0013-8000"])
    )
    assert "template_params.task: Value error, expected '}' before end of string" in error(
        aliyun(vendor, template_params={"task": "{task"})
    )
    assert "alerts.channels.0.template_code: Field required" in error(
        {k: v for k, v in aliyun(vendor).items() if k != "template_code"}
    )
    assert "does not match any of the expected tags" in error({"type": "huawei_sms"})


async def test_each_task_texts_its_own_phone_list_once_per_failure_streak(
    make_monitored: MakeMonitored, sms_vendor: SmsVendor
) -> None:
    billing, _ = switchable("billing_settle")
    data, _ = switchable("data_backup")
    settings = alert_settings(
        [
            aliyun(sms_vendor, name="sms-billing", phones=["13800000001"]),
            aliyun(sms_vendor, name="sms-data", phones=["13800000002", "13800000003"]),
        ],
        tasks={
            "billing_settle": {"channels": ["sms-billing"]},
            "data_backup": {"channels": ["sms-data"]},
        },
    )
    s, mon = await make_monitored(billing, data, monitor=Monitor(settings, environ=ENV))
    for _ in range(3):
        for name in ("billing_settle", "data_backup"):
            run = await s.run_now(name, wait=True, timeout=5)
            assert run.status is RunStatus.FAILED
    await settle(mon)
    await wait_until(lambda: len(sms_vendor.of("aliyun")) >= 2)
    sent = {tuple(r.phones): r.template_params["task"] for r in sms_vendor.of("aliyun")}
    # Three failures in a row are one alert per task, to that task's numbers only.
    assert sent == {
        ("13800000001",): "billing_settle",
        ("13800000002", "13800000003"): "data_backup",
    }
    assert len(sms_vendor.of("aliyun")) == 2
    assert all(r.verdict == "OK" for r in sms_vendor.of("aliyun"))
    status = {c["name"]: c for c in mon.status()["channels"]}
    assert status["sms-billing"]["sent"] == 1 and status["sms-data"]["sent"] == 1


def test_the_documented_sms_channels_and_placeholders() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## SMS") : text.index("## Rules")]
    first, routing = (tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", section, re.S))
    ali, ten = AlertsSettings.parse({"enabled": True, **first["alerts"]}).channels
    assert isinstance(ali, AliyunSmsSettings) and isinstance(ten, TencentSmsSettings)
    assert ali.template_params["msg"] == "{message}" and ali.kinds == [
        AlertKind.FAILED,
        AlertKind.CONSECUTIVE_FAILURES,
        AlertKind.MISSED,
    ]
    assert ten.template_params == ["{task}", "{kind}", "{message}", "{time}"]
    routed = AlertsSettings.parse(routing["alerts"])
    assert routed.rules_for("billing_settle").channels == ["sms-billing"]
    assert routed.rules_for("report_daily").channels == ["sms-ops"]
    for name in TEMPLATE_FIELDS:
        assert f"`{{{name}}}`" in section, name
