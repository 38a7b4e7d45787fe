"""Outside text in alerts shows as written in every channel format (an audit: a run
error quoting a partner's response put a live ``<a href>``, an ``<img>`` tracking pixel,
a Markdown link and ``<script>`` into the HTML of the alert e-mail; only ``*`` was
escaped). End to end: a real Scheduler with a Monitor, the e-mail through a real SMTP
server (aiosmtpd), DingTalk, Feishu and Slack through apprise to a real HTTP receiver.
"""

from __future__ import annotations

import html
import re
from email.message import EmailMessage
from typing import Any

import pytest
from apprise.conversion.format import markdown_to_html

from schedkit import RunStatus, task
from schedkit.alerts.markdown import Destination, Flavor, destination_of, escape
from schedkit.alerts.messages import MessageContext, render
from tests.monitoring.conftest import failed_alert

from .conftest import MakeMonitored, Receiver, Smtp, alert_settings, wait_until
from .test_monitor import settle

PAYLOAD = (
    '<a href="http://evil.example/login">Click here to re-authenticate</a> '
    '<img src="http://evil.example/track.png"> [phish](http://evil.example/) **bold** '
    "<script>steal()</script> `code` ~~gone~~ _lean_ &lt;b&gt; <at id=all></at> report_daily"
)
#: What the e-mail's HTML must not contain: markup made from the payload.
FORGED = ("<a", "<img", "<script", "<strong>bold", "<code>", "<em>", "<at ")


@task("evil_maybe", retry={"max_retries": 0})
async def evil_maybe(msg: str) -> None:
    raise RuntimeError(msg)


def _parts(mail: EmailMessage) -> tuple[str, str]:
    html_part, text_part = mail.get_body(("html",)), mail.get_body(("plain",))
    assert html_part is not None and text_part is not None
    return html_part.get_content(), text_part.get_content()


async def test_run_error_markup_shows_literally_in_email_and_chat_alerts(
    make_monitored: MakeMonitored, smtp: Smtp, vendor_endpoints: Receiver
) -> None:
    channels = [
        f"mailto://127.0.0.1:{smtp.port}?from=sched@example.com&to=ops@example.com",
        "dingtalk://a1b2c3d4e5f60718293a4b5c6d7e8f90/",
        "feishu://2f5e0a4c-0d1b-4a4e-9f0e-3c9a1b2c3d4e",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7",
    ]
    s, mon = await make_monitored(evil_maybe, settings=alert_settings(channels))
    run = await s.run_now("evil_maybe", {"msg": PAYLOAD}, wait=True, timeout=5)
    assert run.status is RunStatus.FAILED
    await settle(mon)
    await wait_until(lambda: len(smtp.messages) == 1)

    page, text = _parts(smtp.messages[0][2])
    for forged in FORGED:
        assert forged not in page, forged
    # The page shows the payload as written; so does the text part apprise derives.
    assert f"RuntimeError: {PAYLOAD}" in html.unescape(re.sub(r"<[^>]+>", "", page))
    assert f"Error: RuntimeError: {PAYLOAD}" in text
    assert "\\" not in text  # no escape shows in the text part

    dingtalk = (await vendor_endpoints.wait("/dingtalk/robot/send"))[0].json()
    feishu = (await vendor_endpoints.wait("/feishu/"))[0].json()
    for card in (dingtalk["markdown"]["text"], feishu["card"]["elements"][0]["text"]["content"]):
        # Neither documents backslash escapes; Feishu's cards take character references.
        assert "&#60;a href" in card and "&#91;phish&#93;(http" in card
        for raw in ("<a", "<img", "<script", "<at ", "[phish]", "**bold", "`code`", "~~gone"):
            assert raw not in card, raw
        assert "report_daily" in card
    slack = (await vendor_endpoints.wait("/slack/"))[0].body.decode()
    assert "<http://evil.example/|phish>" not in slack and "|phish" not in slack
    assert "<a href" not in slack and "<at id" not in slack
    assert "&lt;a href=" in slack


CTX = MessageContext(language="en", timezone="UTC", base_url="https://ops.example.com")


@pytest.mark.parametrize("flavor", ["html", "chat", "card"])
def test_every_value_is_escaped_and_each_on_its_line(flavor: Flavor) -> None:
    alert = failed_alert("sync*all", "line one\n- [x](http://evil.example/)\n# heading\n<b>")
    body = render(alert, CTX, "markdown", Destination(flavor=flavor)).body
    lines = body.splitlines()
    assert all(line.startswith("- **") for line in lines), lines  # nothing starts a line
    assert "[x](" not in body and "<b>" not in body and "sync*all" not in body
    assert "Details**: https://ops.example.com/runs/r1" in body  # the link stays a link


def test_rendered_as_html_every_value_reads_as_written() -> None:
    """Rendered as apprise renders an e-mail's Markdown (Python-Markdown, every ASCII
    punctuation escapable): the values come out as text, ``report_daily`` without a
    backslash and the masks as masks."""
    alert = failed_alert("report_daily", PAYLOAD + " token=abc123secret")
    message = render(alert, CTX, "markdown", Destination(flavor="html"))
    page = markdown_to_html(message.body)
    for forged in FORGED:
        assert forged not in page, forged
    shown = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert f"RuntimeError: {PAYLOAD} token=***" in shown
    assert "Node: node<b>_1_" in shown and "Task: report_daily" in shown


@pytest.mark.parametrize(
    ("flavor", "escaped"),
    [
        ("html", r"\_em\_ a_b \*x\* &lt;i&gt; &amp;amp; \[l\](u) \`c\` \~ \\ 1. # - ! |"),
        ("chat", r"\_em\_ a_b \*x\* \<i\> &amp; \[l\](u) \`c\` \~ \\ 1. # - ! |"),
        (
            "card",
            "&#95;em&#95; a_b &#42;x&#42; &#60;i&#62; &#38;amp; &#91;l&#93;(u) &#96;c&#96; "
            "&#126; &#92; 1. # - ! |",
        ),
    ],
)
def test_escape_per_flavor(flavor: Flavor, escaped: str) -> None:
    """Underscores inside a word stay (no emphasis anywhere); so does what only means
    something at the start of a line, which a value (one line after its label) never is."""
    assert escape("_em_ a_b *x* <i> &amp; [l](u) `c` ~ \\ 1.\n# - ! |", flavor) == escaped


def test_flavors_of_the_markdown_channels() -> None:
    def flavors(*schemes: str) -> list[Flavor]:
        return [destination_of(s).flavor for s in schemes]

    assert flavors("mailto", "mailtos", "mmost", "mmosts", "matrix") == ["html"] * 5
    assert flavors("dingtalk", "feishu", "lark", "zulip") == ["card"] * 4
    assert flavors("slack", "discord", "tgram", "gchat") == ["chat"] * 4
    assert flavors("rocket", "rockets") == ["bare"] * 2


def test_a_task_name_is_plain_in_the_title_and_escaped_in_the_markdown_title() -> None:
    alert = failed_alert("nightly<img src=x>", "boom")
    message = render(alert, CTX, "markdown", Destination(flavor="card"))
    assert message.title == "[ERROR] Task failed: nightly<img src=x>"
    assert message.markdown_title == "[ERROR] Task failed: nightly&#60;img src=x&#62;"
    assert render(alert, CTX).markdown_title is None  # a text body has no Markdown title


def test_a_task_name_in_the_link_is_percent_encoded() -> None:
    """The link is written into Markdown as it is: a task name in it must not end it."""
    ctx = MessageContext(
        language="en", base_url="https://ops", link_template="{base_url}/t/{task_name}/{run_id}"
    )
    body = render(failed_alert("a) [x](evil", "boom"), ctx, "markdown").body
    assert "**Details**: https://ops/t/a%29%20%5Bx%5D%28evil/r1" in body


async def test_dingtalk_heading_escapes_the_task_name(
    make_monitored: MakeMonitored, smtp: Smtp, vendor_endpoints: Receiver
) -> None:
    """DingTalk repeats the title as the Markdown body's heading; an e-mail's subject is
    plain text and keeps the name as it is."""

    @task("nightly<img src=x>", retry={"max_retries": 0})
    async def oddly_named() -> Any:
        raise RuntimeError("boom")

    channels = [
        f"mailto://127.0.0.1:{smtp.port}?from=sched@example.com&to=ops@example.com",
        "dingtalk://a1b2c3d4e5f60718293a4b5c6d7e8f90/",
    ]
    s, mon = await make_monitored(oddly_named, settings=alert_settings(channels))
    await s.run_now("nightly<img src=x>", wait=True, timeout=5)
    await settle(mon)
    await wait_until(lambda: len(smtp.messages) == 1)
    assert smtp.messages[0][2]["Subject"] == "[ERROR] Task failed: nightly<img src=x>"
    text = (await vendor_endpoints.wait("/dingtalk/robot/send"))[0].json()["markdown"]["text"]
    assert text.splitlines()[0] == "# [ERROR] Task failed: nightly&#60;img src=x&#62;"
    assert "<img" not in text
