"""Alert delivery on the console's Overview (``GET /alerts/status``), in English and
Chinese: a channel that cannot deliver, alerts switched off, and a node with no monitor.
A real server with a real failing run and a real refused port, as tests/api does."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, Route, expect

from schedkit import TaskRegistry, task
from schedkit.api.deps import NO_MONITOR
from schedkit.api.problems import problem_response
from tests.console.conftest import Console, fresh_console, open_tab

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

#: Stands for a channel's secret: the console must never show it.
SECRET = "hunter2"


@task("alert_boom", retry={"max_retries": 0})
def alert_boom() -> dict[str, object]:
    raise RuntimeError("the report service is down")


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def alert_console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A console whose one alert channel posts to a port nobody listens on."""
    registry = TaskRegistry()
    registry.register_task(alert_boom)
    alerts = {
        "enabled": True,
        "channels": [f"json://ops:{SECRET}@127.0.0.1:{_refused_port()}/hook"],
        "language": "en",
        "check_interval": 0.1,
        "delivery": {"timeout": 0.3, "retries": 0, "unhealthy_after": 1},
    }
    with fresh_console(tmp_path_factory, "alerts", registry, alerts=alerts) as console:
        yield console


def _channel_down(console: Console) -> dict[str, Any]:
    """Fails a run, then waits until the channel has failed to deliver its alert."""
    failed = console.api.post("/tasks/alert_boom/execute?wait=true&timeout=10", json={})
    assert failed.status_code == 200 and failed.json()["status"] == "failed", failed.text
    deadline = time.monotonic() + 10
    while True:
        status: dict[str, Any] = console.api.get("/alerts/status").json()
        if not status["healthy"]:
            return status
        assert time.monotonic() < deadline, "the channel was never reported unhealthy"
        time.sleep(0.05)


async def test_the_overview_shows_a_channel_that_cannot_deliver(
    browser: Browser, alert_console: Console
) -> None:
    """An audit: the console showed alert-channel health nowhere; an operator could not
    tell that every alert went nowhere."""
    status = _channel_down(alert_console)
    [channel] = status["channels"]
    expected = {
        "en": ("Alert delivery", "1 of 1 channels cannot deliver", "Down", "Last error"),
        "zh": ("告警发送", "1 个告警通道中有 1 个无法发送", "异常", "最近错误"),
    }
    for lang, (title, summary, down, error_label) in expected.items():
        tab = await open_tab(browser, alert_console.token, width=1280, lang=lang)
        page = tab.page
        try:
            await page.goto(alert_console.base)
            panel = page.locator("[data-alerts]")
            await expect(panel.get_by_role("heading", level=2)).to_have_text(title)
            await expect(panel).to_have_attribute("data-alerts", "unhealthy")
            await expect(panel.locator(".alerts-summary")).to_contain_text(summary)
            row = panel.locator('tr[data-channel="json"]')
            await expect(row).to_contain_text(down)
            await expect(row).to_contain_text("json")
            await expect(row.locator('[data-count="failed"]')).not_to_have_text("0")
            await expect(panel.locator("thead")).to_contain_text(error_label)
            # The channel's error as the server redacted it, never its secret.
            await expect(row.locator(".channel-error")).to_have_text(channel["last_error"])
            assert SECRET not in await page.locator("main").inner_text()
            # Said at the top of the page too: it is read first.
            await expect(page.locator(".alerts-warning")).to_contain_text(summary)
            await page.screenshot(path=f"/tmp/schedkit-console-alerts-{lang}.png", full_page=True)
        finally:
            await tab.context.close()
        assert tab.unexpected_errors() == []


async def test_alerts_switched_off_are_said_plainly(browser: Browser, console: Console) -> None:
    assert console.api.get("/alerts/status").json()["alerts_enabled"] is False
    expected = {
        "en": "Alerts are off: no alert is sent",
        "zh": "告警未开启：运行失败或延迟时不会发送告警",
    }
    for lang, text in expected.items():
        tab = await open_tab(browser, console.token, width=1280, lang=lang)
        try:
            await tab.page.goto(console.base)
            panel = tab.page.locator("[data-alerts]")
            await expect(panel).to_have_attribute("data-alerts", "off")
            await expect(panel).to_contain_text(text)
            await expect(tab.page.locator(".alerts-warning")).to_have_count(0)
            await panel.screenshot(path=f"/tmp/schedkit-console-alerts-off-{lang}.png")
        finally:
            await tab.context.close()
        assert tab.unexpected_errors() == []


async def test_a_node_without_a_monitor_says_so(browser: Browser, console: Console) -> None:
    """/alerts/status answers 503 on a node without a Monitor (the alerts extra not
    installed): the console says that the node watches no channel, not an error."""
    # The server's own answer (GET /alerts/status on a node without a Monitor).
    answer = problem_response(
        503, NO_MONITOR, slug="monitor-disabled", title="Monitoring is not enabled"
    )

    async def no_monitor(route: Route) -> None:
        await route.fulfill(
            status=503, body=bytes(answer.body), content_type="application/problem+json"
        )

    expected = {
        "en": "This node has no monitor",
        "zh": "此节点未启用监控",
    }
    for lang, text in expected.items():
        tab = await open_tab(browser, console.token, width=1280, lang=lang)
        tab.expected_statuses.add(503)
        try:
            await tab.page.route("**/alerts/status", no_monitor)
            await tab.page.goto(console.base)
            panel = tab.page.locator("[data-alerts]")
            await expect(panel).to_have_attribute("data-alerts", "unmonitored")
            await expect(panel).to_contain_text(text)
            await expect(panel.locator(".alert-error")).to_have_count(0)
            await panel.screenshot(path=f"/tmp/schedkit-console-alerts-none-{lang}.png")
        finally:
            await tab.context.close()
        assert tab.unexpected_errors() == []
