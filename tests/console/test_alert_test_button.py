"""The Overview's **Send test alert** buttons (``POST /alerts/test``), in English and
Chinese: a channel's own button, the one for every channel, each row's outcome, kept
when the Overview redraws. A real server, a real HTTP receiver, a refused port whose URL
holds a secret."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, expect

from schedkit import TaskRegistry, task
from tests.console.conftest import Console, fresh_console, open_tab
from tests.monitoring.conftest import Receiver, receiving

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

#: Stands for a channel's secret: the console must never show it.
SECRET = "hunter2-c4b1"


@task("alert_test_tick")
def alert_test_tick() -> dict[str, object]:
    return {"success": True, "message": "tick"}


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as box:
        yield box


@pytest.fixture(scope="module")
def tested_console(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[Console]:
    registry = TaskRegistry()
    registry.register_task(alert_test_tick)
    alerts = {
        "enabled": True,
        "channels": [
            {"name": "ops-hook", "url": f"json://127.0.0.1:{receiver.port}/hook"},
            {"name": "dead", "url": f"json://ops:{SECRET}@127.0.0.1:{_refused_port()}/hook"},
        ],
        "language": "en",
        # Each language tests the channels again at once (a refusal: below).
        "delivery": {"timeout": 0.5, "retries": 0, "test_interval": 0},
    }
    with fresh_console(tmp_path_factory, "alert-test", registry, alerts=alerts) as console:
        yield console


@pytest.fixture(scope="module")
def limited_console(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[Console]:
    alerts = {
        "enabled": True,
        "channels": [{"name": "ops-hook", "url": f"json://127.0.0.1:{receiver.port}/limited"}],
        "language": "en",
        "delivery": {"timeout": 0.5, "retries": 0, "test_interval": 60},
    }
    with fresh_console(tmp_path_factory, "alert-limit", TaskRegistry(), alerts=alerts) as console:
        yield console


@pytest.mark.parametrize(
    ("lang", "send", "every", "delivered", "failed"),
    [
        ("en", "Send test alert", "Send test alert to every channel", "Delivered", "Failed: "),
        ("zh", "发送测试告警", "向所有通道发送测试告警", "已送达", "失败："),
    ],
)
async def test_send_a_test_alert_from_the_overview(
    browser: Browser,
    tested_console: Console,
    receiver: Receiver,
    lang: str,
    send: str,
    every: str,
    delivered: str,
    failed: str,
) -> None:
    """A console audit: nothing sent a test message to a channel; an operator could only
    wait for a real failure to learn whether alerts arrive."""
    tab = await open_tab(browser, tested_console.token, width=1280, lang=lang)
    page = tab.page
    before = len(receiver.on("/hook"))
    try:
        await page.goto(tested_console.base)
        panel = page.locator("[data-alerts]")
        hook = panel.locator('tr[data-channel="ops-hook"]')
        dead = panel.locator('tr[data-channel="dead"]')
        await hook.get_by_role("button", name=send, exact=True).click()
        await expect(hook.locator("[data-test-result]")).to_have_text(delivered)
        await expect(dead.locator("[data-test-result]")).to_have_text("")
        assert len(receiver.on("/hook")) == before + 1
        title = receiver.on("/hook")[-1].json()["title"]
        assert title.startswith("[TEST] schedkit test alert from node ")

        await panel.get_by_role("button", name=every, exact=True).click()
        await expect(dead.locator("[data-test-result]")).to_contain_text(failed)
        await expect(dead.locator("[data-test-result]")).to_contain_text("Connection error")
        await expect(hook.locator("[data-test-result]")).to_have_text(delivered)
        assert len(receiver.on("/hook")) == before + 2
        # The counts stay those of real alerts.
        await expect(hook.locator('[data-count="sent"]')).to_have_text("0")
        await expect(dead.locator('[data-count="failed"]')).to_have_text("0")
        assert SECRET not in await page.locator("main").inner_text()
        await panel.screenshot(path=f"/tmp/schedkit-console-alert-test-{lang}.png")

        # A run event redraws the Overview: the outcomes stay shown.
        drawn = await hook.element_handle()
        assert drawn is not None
        ran = tested_console.api.post("/tasks/alert_test_tick/execute?wait=true", json={})
        assert ran.status_code == 200, ran.text
        await page.wait_for_function("el => !el.isConnected", arg=drawn)
        await expect(hook.locator("[data-test-result]")).to_have_text(delivered)
        await expect(dead.locator("[data-test-result]")).to_contain_text(failed)
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


async def test_a_viewer_cannot_send_a_test_alert(browser: Browser, tested_console: Console) -> None:
    """Sending is an operator's action (POST /alerts/test): a viewer sees the buttons
    disabled, saying why, rather than a refusal after clicking."""
    created = tested_console.api.post("/tokens", json={"name": "alert-viewer", "role": "viewer"})
    created.raise_for_status()
    tab = await open_tab(browser, created.json()["secret"], width=1280, lang="zh")
    try:
        await tab.page.goto(tested_console.base)
        buttons = tab.page.locator("[data-alerts] button[data-alert-test]")
        await expect(buttons.first).to_be_visible()
        for index in range(await buttons.count()):
            await expect(buttons.nth(index)).to_be_disabled()
            await expect(buttons.nth(index)).to_have_attribute(
                "title", "当前角色（只读）仅可查看，不能执行操作。"
            )
    finally:
        await tab.context.close()
    assert tab.unexpected_errors() == []


async def test_a_test_too_soon_is_refused_in_the_operators_words(
    browser: Browser, limited_console: Console, receiver: Receiver
) -> None:
    """A security audit: test alerts were unlimited and unaudited. A channel tested again
    within alerts.delivery.test_interval is refused (429): its row says why and when to
    try again, in English and in Chinese; the audit log says who sent the one that went."""
    node = limited_console.api.get("/ready").json()["node_id"]
    expected = {
        "en": (
            r"Too many requests: A channel takes one test alert at a time, 60 s apart "
            r"\(ops-hook\): try again in \d+ s\.",
            "Test alert sent",
            f"Test alert from node {node}: delivered",
        ),
        "zh": (
            r"请求过于频繁：每个通道一次只发一条测试告警，间隔 60 秒（ops-hook）："
            r"请 \d+ 秒后再试。",
            "发送测试告警",
            f"来自节点 {node} 的测试告警：已送达",
        ),
    }
    for lang, (refusal, action, detail) in expected.items():
        tab = await open_tab(browser, limited_console.token, width=1280, lang=lang)
        tab.expected_statuses.add(429)
        try:
            page = tab.page
            await page.goto(limited_console.base)
            row = page.locator('[data-alerts] tr[data-channel="ops-hook"]')
            result = row.locator("[data-test-result]")
            if lang == "en":
                await row.locator("button[data-alert-test]").click()
                await expect(result).to_have_text("Delivered")
            await row.locator("button[data-alert-test]").click()
            await expect(result).to_have_text(re.compile(f"^{refusal}$"))
            await page.goto(limited_console.base + "audit?action=alerts.test")
            cells = page.locator("tbody tr").first.locator("td")
            await expect(cells.nth(2)).to_contain_text(action)
            await expect(cells.nth(4)).to_have_text(detail)
        finally:
            await tab.context.close()
        assert tab.unexpected_errors() == []
    assert len(receiver.on("/limited")) == 1
