"""The design document's ``alerts`` shape, pasted as is into ``SCHEDULER_CONFIG``: its
e-mail channel sends through a real SMTP server that demands STARTTLS and a login, its
webhook posts JSON to a real HTTP receiver (or a Slack message when the URL is a Slack
hook), and a password written in the file draws a warning that says how to move it."""

from __future__ import annotations

import logging
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from schedkit import SchedkitConfig, Scheduler, TaskRegistry, task
from schedkit.alerts.channels import AlertSender
from schedkit.alerts.config import AlertKind, AlertsSettings, config_warnings
from schedkit.alerts.messages import Message
from schedkit.alerts.rules import Severity
from schedkit.alerts.url_secrets import url_warnings
from schedkit.errors import ConfigError
from schedkit.monitor import Monitor

from .conftest import Receiver, Smtp, free_port, wait_until

SMTP_USER = "alerts@example.com"
SMTP_PASSWORD = "pa$$ w0rd/with:odd@chars"


def document_alerts(smtp_port: int, webhook_url: str, password: str) -> dict[str, Any]:
    """The ``alerts`` part of the design document's SCHEDULER_CONFIG, with local hosts."""
    return {
        "enabled": True,
        "channels": ["email", "webhook"],
        "email": {
            "smtp_server": "127.0.0.1",
            "smtp_port": smtp_port,
            "username": SMTP_USER,
            "password": password,
            "recipients": ["admin@example.com", "ops@example.com"],
        },
        "webhook": {"url": webhook_url, "channel": "#alerts"},
    }


def scheduler_config(db: Path, alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "timezone": "Asia/Shanghai",
        "jobstores": {"default": {"type": "sqlalchemy", "url": f"sqlite:///{db}"}},
        "executors": {"default": {"type": "threadpool", "max_workers": 20}},
        "job_defaults": {"coalesce": True, "max_instances": 3, "misfire_grace_time": 300},
        "alerts": alerts,
    }


# -- a real SMTP server that requires STARTTLS and a login ---------------------------------


@dataclass
class TlsSmtp(Smtp):
    """The ``smtp`` fixture's server (it keeps each message) with TLS and logins."""

    cert: Path | None = None
    logins: list[tuple[str, str]] = field(default_factory=list)

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = (data.login.decode(), data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == (SMTP_USER, SMTP_PASSWORD))


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsSmtp]:
    cert, key = _self_signed(tmp_path)
    # The sender verifies the server's certificate as in production; this one is
    # trusted through OpenSSL's SSL_CERT_FILE, nothing in schedkit is told to skip it.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = TlsSmtp(port=free_port(), cert=cert)
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=box.authenticate,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@task("settle", category="report", retry={"max_retries": 0})
def settle() -> dict[str, Any]:
    raise RuntimeError("settlement feed is down")


async def test_document_alerts_send_mail_with_starttls_and_json_to_the_webhook(
    tmp_path: Path, tls_smtp: TlsSmtp, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    alerts = document_alerts(
        tls_smtp.port, f"{receiver.base}/hooks/schedkit?team=ops", "${SMTP_PASSWORD}"
    )
    config = SchedkitConfig.from_document(scheduler_config(tmp_path / "s.db", alerts))
    registry = TaskRegistry()
    registry.register_task(settle)
    async with Scheduler(config, registry=registry, extensions=[Monitor()]) as scheduler:
        run = await scheduler.run_now("settle", wait=True, timeout=10)
        assert run.status.value == "failed"
        await wait_until(lambda: len(tls_smtp.messages) == 2 and receiver.on("/hooks"), 20)

    # Logged in (the server allows that only after STARTTLS), one mail per recipient.
    assert set(tls_smtp.logins) == {(SMTP_USER, SMTP_PASSWORD)}
    assert sorted(r for _, rcpt, _ in tls_smtp.messages for r in rcpt) == [
        "admin@example.com",
        "ops@example.com",
    ]
    mail_from, _, mail = tls_smtp.messages[0]
    assert mail_from == SMTP_USER
    assert "settle" in str(mail["Subject"])
    body = mail.get_body(("plain", "html"))
    assert body is not None and "settlement feed is down" in body.get_content()

    (hook,) = receiver.on("/hooks/schedkit")
    assert hook.query["team"] == ["ops"]
    payload = hook.json()
    assert payload["channel"] == "#alerts"
    assert "settle" in payload["title"] and "settlement feed is down" in payload["message"]


async def test_a_slack_hook_url_becomes_a_slack_message_to_its_channel(
    vendor_endpoints: Receiver, smtp: Any
) -> None:
    alerts = document_alerts(smtp.port, "https://hooks.slack.com/services/T0A/B0B/xyz123", "")
    settings = AlertsSettings.parse(alerts)
    webhook = next(c for c in settings.channels if c.name == "webhook")
    assert webhook.scheme == "slack"

    sender = AlertSender(settings.channels, settings.delivery)
    sender.validate()
    await sender.start()
    try:
        title = "[schedkit] task settle failed"
        sender.submit(
            "webhook",
            Message(
                title=title,
                body="x",
                kind=AlertKind.FAILED,
                severity=Severity.ERROR,
                format="text",
            ),
        )
        (request,) = await vendor_endpoints.wait("/slack/services")
    finally:
        await sender.stop()
    assert request.json()["channel"] == "#alerts"
    assert title in request.body.decode()


def test_a_password_in_the_file_works_but_warns_how_to_move_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    alerts = document_alerts(587, "https://example.com/hook", "s3cret-in-file")
    settings = AlertsSettings.parse(alerts)
    email = next(c for c in settings.channels if c.name == "email")
    assert email.url.startswith("mailtos://alerts%40example.com:s3cret-in-file@127.0.0.1:587?")
    assert "mode=starttls" in email.url
    (record,) = [r for r in caplog.records if "alerts.email.password" in r.getMessage()]
    text = record.getMessage()
    assert '"password": "${SMTP_PASSWORD}"' in text and "environment" in text
    assert "s3cret-in-file" not in text
    config = SchedkitConfig.from_document(scheduler_config(Path("x.db"), alerts))
    assert [w.split()[0] for w in config_warnings(config)] == ["alerts.email.password"]
    caplog.clear()
    AlertsSettings.parse(document_alerts(587, "https://example.com/hook", "${SMTP_PASSWORD}"))
    assert caplog.records == []


def test_secrets_written_in_channel_urls_warn_without_showing_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An audit: a literal alerts.email.password warned, a literal secret in a channel
    URL did not (monitoring.md: "channel URLs name environment variables as ${NAME}")."""
    caplog.set_level(logging.WARNING)
    alerts = document_alerts(587, "https://example.com/hook?token=LitHook55", "${P}")
    alerts["channels"] += [
        "mailtos://bob:LitUrlPw77@smtp.example.com?to=ops@example.com",
        {"name": "j", "url": "json://127.0.0.1:9/t?+X-Token=LitTok88&format=text"},
        "mailtos://bob:${SMTP_PASSWORD}@smtp.example.com?to=ops@example.com",
        "json://127.0.0.1:9/t?+X-Token=${HOOK_TOKEN}&-level=error",
    ]
    AlertsSettings.parse(alerts)
    logged = [r.getMessage() for r in caplog.records]
    config = SchedkitConfig.from_document(scheduler_config(Path("x.db"), alerts))
    checked = config_warnings(config)
    for warnings in (logged, checked):
        assert [w.split()[0] for w in warnings] == [
            "alerts.channels[2].url",
            "alerts.channels[3].url",
            "alerts.webhook.url",
        ]
        assert "the password in its user info" in warnings[0]
        assert "query parameter '+X-Token'" in warnings[1]
        assert "query parameter 'token'" in warnings[2]
        assert all("${NAME}" in w for w in warnings)
        for secret in ("LitHook55", "LitUrlPw77", "LitTok88"):
            assert not any(secret in w for w in warnings)


def test_port_465_is_ssl_from_the_first_byte() -> None:
    settings = AlertsSettings.parse(document_alerts(465, "https://example.com/h", "${P}"))
    email = next(c for c in settings.channels if c.name == "email")
    assert "mode=ssl" in email.url and ":${P}@" in email.url


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"channels": ["email", "sms"]}, "alerts.channels.1.url: .*must be an apprise URL"),
        ({"channels": ["webhook"], "webhook": None}, 'needs a section "webhook"'),
        ({"email": {"smtp_server": "x", "recipients": []}}, "alerts.email.recipients"),
        ({"webhook": {"url": "ftp://x/y"}}, "alerts.webhook.url: 'ftp://x/y' is not an http"),
    ],
)
def test_document_shape_mistakes_name_the_key(change: dict[str, Any], message: str) -> None:
    alerts = {**document_alerts(587, "https://example.com/hook", "${P}"), **change}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        AlertsSettings.parse(alerts)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        # The docs' own channels with their tokens written in (a re-audit: no warning).
        ("dingtalk://SEC9f8e@0123456789abcdef/", "the dingtalk:// token or key after '://'"),
        ("wecombot://693a91f6-7c2e", "the wecombot:// token or key after '://'"),
        ("feishu://2fa3b8c1", "the feishu:// token or key after '://'"),
        ("slack://T0001/B0002/abcdef", "the tokens in its path"),
        ("mailtos://smtp.example.com:587?user=bob&pass=hunter2", "query parameter 'pass'"),
        ("https://hooks.example.com/a?api_key=abc", "query parameter 'api_key'"),
        # Parameters whose names only contain a secret's letters (it warned of them).
        ("jsons://hooks.example.com/a?author=ops&private=false&+X-Auth-Mode=basic", None),
        ("dingtalk://${DINGTALK_SECRET}@${DINGTALK_TOKEN}/13800138000/", None),
        ("slack://${SLACK_TOKEN_A}/${SLACK_TOKEN_B}/${SLACK_TOKEN_C}", None),
        ("wecombot://${WECOM_BOT_KEY}", None),
    ],
)
def test_which_channel_urls_hold_a_secret(url: str, said: str | None) -> None:
    warnings = url_warnings(url, "c")
    if said is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and said in warnings[0], warnings
