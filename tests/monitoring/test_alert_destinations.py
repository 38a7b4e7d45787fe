"""Every destination gets outside text shown as written, whatever the channel's format: no
markup, no mention, no control character from it. A re-audit of the escaping:

* Mattermost (``mmost://``, not in the Markdown defaults: the list said "mattermost")
  got a text body, never escaped, which it renders as Markdown: a live
  ``[login here](...)`` link and ``@all``;
* ``@everyone`` / ``@here`` reached Discord raw (apprise sends no ``allowed_mentions``),
  pinging the whole server;
* ESC, BEL and U+202E went raw into every alert (U+202E reverses the rest of a line in a
  mail client).

End to end: a real Scheduler with a Monitor, apprise posting to a real HTTP receiver and
the e-mail through a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from schedkit import RunStatus, task
from schedkit.alerts.channels import AlertSender
from schedkit.alerts.markdown import destination_of
from schedkit.alerts.messages import MessageContext, render
from schedkit.alerts.rules import Alert
from tests.monitoring.conftest import failed_alert

from .conftest import MakeMonitored, Receiver, Smtp, alert_settings, wait_until
from .sms_vendor import SmsVendor
from .test_alert_escaping import _parts
from .test_monitor import settle
from .test_sms import aliyun, failure, send
from .test_sms import sender as sms_sender

ZW = "\u200b"
PHISH = (
    '<a href="http://phish.example/">x</a> [login here](http://phish.example/) '
    "@everyone @here @all @channel <@123456> <@&654321> <!channel> <!here> "
    '<at user_id="all"></at> ops@example.com x@everyone.example'
)
CONTROLS = "\x1b[31mRED\x1b[0m\x07bell\u202eevil"
SHOWN = "\\x1b[31mRED\\x1b[0m\\x07bell\\u202eevil"
RAW = ("\x1b", "\x07", "\u202e")


def _strings(value: Any) -> str:
    """Every string in a JSON payload, joined (JSON writes C0 controls as \\u escapes
    itself: the decoded strings are what the app shows)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return "\n".join(_strings(v) for v in value)
    return ""


@task("phished", retry={"max_retries": 0})
async def phished(msg: str) -> None:
    raise RuntimeError(msg)


async def _fail(make_monitored: MakeMonitored, channels: list[Any], msg: str) -> None:
    s, mon = await make_monitored(phished, settings=alert_settings(channels))
    run = await s.run_now("phished", {"msg": msg}, wait=True, timeout=5)
    assert run.status is RunStatus.FAILED
    await settle(mon)


def _no_mention(text: str) -> None:
    for mention in ("@everyone", "@here", "@all", "@channel", "<@123456>", "<@&654321>"):
        assert mention not in text, (mention, text)
    for name in ("everyone", "here", "all", "channel"):
        assert f"@{ZW}{name}" in text, (name, text)
    # An address calls nobody and stays whole (it can be copied from the alert).
    assert "ops@example.com" in text, text


@pytest.mark.parametrize("fmt", [None, "text"])
async def test_mattermost_gets_markdown_escaped_and_no_mention(
    make_monitored: MakeMonitored, receiver: Receiver, fmt: str | None
) -> None:
    url = f"mmost://127.0.0.1:{receiver.port}/tok"
    channel = url if fmt is None else {"url": url, "format": fmt}
    await _fail(make_monitored, [channel], PHISH)
    text = (await receiver.wait("/hooks/tok"))[0].json()["text"]
    # Mattermost renders the text as CommonMark: the link is written as literal text.
    assert "[login here](" not in text and "\\[login here\\](" in text
    assert "<a href" not in text and "&lt;a href=" in text
    _no_mention(text)
    if fmt is None:  # Markdown by default, as for the other chat apps
        assert "- **Error**: RuntimeError: " in text
    else:
        assert "\nError: RuntimeError: " in text


@pytest.mark.parametrize(
    "url",
    ["discord://123456789/abcdefTOKEN", "https://discord.com/api/webhooks/123456789/abcdefTOKEN"],
)
async def test_discord_gets_no_everyone_here_or_id_mention(
    make_monitored: MakeMonitored,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
) -> None:
    """Also through the webhook's own https:// URL, which apprise takes as Discord."""
    from apprise.plugins.discord import NotifyDiscord

    monkeypatch.setattr(NotifyDiscord, "notify_url", f"{receiver.base}/discord")
    await _fail(make_monitored, [{"url": url, "format": "text"}], PHISH)
    payload = (await receiver.wait("/discord/123456789/abcdefTOKEN"))[0].json()
    content = payload["content"]
    _no_mention(content)
    assert "\\<@" in content and "\\[login here\\](" in content


async def test_rocket_chat_gets_no_link_and_no_mention(
    make_monitored: MakeMonitored, receiver: Receiver
) -> None:
    """Rocket.Chat's message parser reads no backslash escapes: a zero-width space after
    ``]`` keeps ``[text](url)`` from being a link."""
    url = f"rocket://127.0.0.1:{receiver.port}/%23general?webhook=abc123"
    await _fail(make_monitored, [url], PHISH)
    text = (await receiver.wait("/hooks/abc123"))[0].json()["text"]
    assert "](" not in text and f"]{ZW}(" in text
    assert f"<{ZW}!channel" in text
    _no_mention(text)


async def test_slack_mentions_stay_text(
    make_monitored: MakeMonitored, vendor_endpoints: Receiver
) -> None:
    """Confirmed: Slack needs ``<!channel>``, which apprise writes as entities (and a
    webhook's ``@channel`` is text without ``link_names``)."""
    await _fail(make_monitored, ["slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"], PHISH)
    body = (await vendor_endpoints.wait("/slack/"))[0].body.decode()
    assert "<!channel>" not in body and "<!here>" not in body
    assert "&lt;!channel&gt;" in body


async def test_feishu_text_message_mentions_nobody(
    make_monitored: MakeMonitored, vendor_endpoints: Receiver
) -> None:
    """A Feishu text message reads ``<at user_id="all">`` as a mention of everyone."""
    url = "feishu://2f5e0a4c-0d1b-4a4e-9f0e-3c9a1b2c3d4e"
    await _fail(make_monitored, [{"url": url, "format": "text"}], PHISH)
    text = (await vendor_endpoints.wait("/feishu/"))[0].json()["content"]["text"]
    assert "<at " not in text and f'<{ZW}at user_id="all">' in text


async def test_controls_are_escapes_in_mail_and_chat_alerts(
    make_monitored: MakeMonitored, smtp: Smtp, vendor_endpoints: Receiver
) -> None:
    channels = [
        f"mailto://127.0.0.1:{smtp.port}?from=sched@example.com&to=ops@example.com",
        {
            "url": f"mailto://127.0.0.1:{smtp.port}?from=sched@example.com&to=text@example.com",
            "format": "text",
        },
        "dingtalk://a1b2c3d4e5f60718293a4b5c6d7e8f90/",
        "feishu://2f5e0a4c-0d1b-4a4e-9f0e-3c9a1b2c3d4e",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7",
        f"json://127.0.0.1:{vendor_endpoints.port}/hook",
    ]
    await _fail(make_monitored, channels, CONTROLS)
    await wait_until(lambda: len(smtp.messages) == 2)
    markdown_mail = next(m for _, to, m in smtp.messages if to == ["ops@example.com"])
    text_mail = next(m for _, to, m in smtp.messages if to == ["text@example.com"])
    page, derived = _parts(markdown_mail)
    plain = text_mail.get_body(("plain",))
    assert plain is not None
    texts = {
        "html": page,
        "text part": derived,
        "text mail": plain.get_content(),
        **{
            path: _strings((await vendor_endpoints.wait(path))[0].json())
            for path in ("/dingtalk/", "/feishu/", "/slack/", "/hook")
        },
    }
    for where, text in texts.items():
        for char in RAW:
            assert char not in text, (where, char)
    for where, text in texts.items():
        assert "x1b" in text and "x07bell" in text and "u202eevil" in text, (where, text)
    assert f"RuntimeError: {SHOWN}" in texts["text mail"]


def _alert(message: str, task_name: str = "nightly\u202e") -> Alert:
    return failed_alert(task_name, message, node_id=None)


CTX = MessageContext(language="en", timezone="UTC")


def test_title_fields_and_plain_text_have_no_control() -> None:
    """The e-mail subject, SMS template values and a plain text body (webhooks, WeCom)."""
    message = render(_alert(CONTROLS), CTX, "text")
    assert message.title == "[ERROR] Task failed: nightly\\u202e"
    for text in (message.body, *message.fields.values()):
        for char in RAW:
            assert char not in text
    assert f"Error: RuntimeError: {SHOWN}" in message.body
    assert message.fields["task"] == "nightly\\u202e"


@pytest.mark.parametrize(
    ("scheme", "link", "mention"),
    [
        # Zulip has no backslash escapes but decodes character references.
        ("zulip", "&#91;login here&#93;(", f"@{ZW}&#42;&#42;all&#42;&#42;"),
        # Matrix: apprise renders Markdown with Python-Markdown; @room notifies a room.
        ("matrixs", "\\[login here\\](", f"@{ZW}room"),
        # Telegram: apprise converts CommonMark, backslash escapes included.
        ("tgram", "\\[login here\\](", f"@{ZW}room"),
    ],
)
def test_markdown_of_other_chat_apps(scheme: str, link: str, mention: str) -> None:
    alert = _alert("[login here](http://phish.example/) @**all** @room")
    body = render(alert, CTX, "markdown", destination_of(scheme)).body
    assert link in body and mention in body


def test_zulip_renders_even_a_text_body_as_markdown() -> None:
    body = render(
        _alert("[x](http://phish.example/) @**all**"), CTX, "text", destination_of("zulip")
    ).body
    assert "[x](" not in body and "**all**" not in body


def test_a_throttle_summary_lists_the_titles_written_for_the_body() -> None:
    """The summary of held alerts lists their titles in a body Mattermost renders as
    Markdown: the plain titles put a task name's ``[x](url)`` there as a link."""
    settings = alert_settings(["mmost://127.0.0.1:1/tok"])
    sender = AlertSender(settings.channels, settings.delivery, language="en", environ={})
    held = [
        render(_alert(f"boom {i}", task_name="a [x](http://phish.example/)"), CTX, "markdown")
        for i in range(2)
    ]
    summary = sender._summary(held)
    assert "[x](" not in summary.body and summary.body.count("\\[x\\](") == 2
    assert summary.format == "markdown"


async def test_a_vendor_s_answer_in_the_alert_delivery_log_is_one_line(
    sms_vendor: SmsVendor, caplog: pytest.LogCaptureFixture
) -> None:
    """The reason a delivery failed is the vendor's text, logged by schedkit."""
    sms_vendor.refuse_next("isv.BUSINESS_LIMIT_CONTROL", f"limit {CONTROLS}\nFAKE INFO x")
    caplog.set_level(logging.WARNING, logger="schedkit.alerts.channels")
    assert await send(sms_sender([aliyun(sms_vendor)]), failure()) == ["failed"]
    said = [r.getMessage() for r in caplog.records if "could not deliver" in r.getMessage()]
    assert len(said) == 1 and f": limit {SHOWN}\\nFAKE INFO x (RequestId " in said[0], said
