"""The console embedded in a host app whose own login guards the API
(``mount_scheduler(..., user_dependency=...)``): a browser the host refuses sees the
host's answer and a link to its sign-in page, never the API-token form (an audit: the
token form said a valid token was "invalid or revoked" while the host said "sign in
first"; the API reads no token there). A scheduler still waiting for its store is not a
refusal: the page says why and opens the console once it has started."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, HTTPException, Request
from playwright.async_api import Browser, expect

from schedkit.console import mount_console
from schedkit.integrations.fastapi import mount_scheduler
from tests.api.server import LiveServer
from tests.console.conftest import CONFIG, PREFIX, Browsing, _admin_token, open_tab, shot
from tests.console.tasks import console_registry
from tests.store.proxy import store_later

pytestmark = [pytest.mark.external_service, pytest.mark.asyncio(loop_scope="module")]

expect.set_options(timeout=10_000)

COOKIE = ("host_session", "alice-session")


def host_user(request: Request) -> dict[str, str]:
    """The host's login: its session cookie, else the host's own 401."""
    if request.cookies.get(COOKIE[0]) == COOKIE[1]:
        return {"username": "alice"}
    raise HTTPException(status_code=401, detail="sign in first")


def host_app(store_url: str, *, login_url: str | None, **config: Any) -> FastAPI:
    app = FastAPI()
    mount_scheduler(
        app,
        {**CONFIG, "store_url": store_url, **config},
        registry=console_registry(),
        user_dependency=host_user,
    )
    mount_console(app, path="/ops", login_url=login_url)
    return app


class Host:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token


@pytest.fixture(scope="module")
def host(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """The host app with its console under /ops/ and an admin API token made in the
    scheduler's own store (as `schedkit token create` would)."""
    store_url = f"sqlite:///{tmp_path_factory.mktemp('host') / 'host.db'}"
    token = asyncio.run(_admin_token(store_url))
    with LiveServer(host_app(store_url, login_url="/account/login?next=/ops/")) as server:
        yield Host(server.url, token)


@pytest_asyncio.fixture(loop_scope="module", params=["en", "zh"])
async def tab(request: pytest.FixtureRequest, browser: Browser) -> AsyncIterator[Browsing]:
    browsing = await open_tab(browser, None, width=1280, lang=request.param)
    browsing.expected_statuses.add(401)  # the host's answer to the console's first call
    try:
        yield browsing
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


async def test_a_browser_the_host_refuses_sees_its_answer_not_the_token_form(
    host: Host, tab: Browsing
) -> None:
    page = tab.page
    await page.goto(host.url + "/ops/tasks")
    await expect(page).to_have_url(host.url + "/ops/login")
    language = await page.evaluate("localStorage.getItem('schedkit.lang')")
    said = "“sign in first” (401)" if language == "en" else "“sign in first”（401）"
    await expect(page.locator(".login .alert")).to_contain_text(said)
    assert await page.locator("#token").count() == 0  # no token form
    words = (
        ("Sign in to the application", "API tokens do not work here")
        if language == "en"
        else ("登录该应用", "此处不能使用 API 令牌")
    )
    link = page.get_by_role("link", name=words[0])
    await expect(link).to_have_attribute("href", "/account/login?next=/ops/")
    await expect(page.locator(".login")).to_contain_text(words[1])
    await expect(page.locator(".login")).not_to_contain_text("schedkit token create")
    await shot(tab.page, f"host-login-{language}")

    # Signed in to the host now (its cookie): "Try again" opens the page asked for.
    await tab.context.add_cookies(
        [{"name": COOKIE[0], "value": COOKIE[1], "domain": "127.0.0.1", "path": "/"}]
    )
    await page.get_by_role("button", name="Try again" if language == "en" else "重试").click()
    await expect(page).to_have_url(host.url + "/ops/tasks")
    await expect(page.locator("tbody tr[data-task]")).to_have_count(3)

    # The host's session ends: its answer again, not the token form.
    await tab.context.clear_cookies()
    await page.reload()
    await expect(page).to_have_url(host.url + "/ops/login")
    await expect(page.locator(".login .alert")).to_contain_text("sign in first")
    assert await page.locator("#token").count() == 0


async def test_an_api_token_does_not_admit_where_the_hosts_login_guards_the_api(
    host: Host,
) -> None:
    """What the console's words say: the API mounted with the host's user dependency
    reads no token, a valid one included; the host's own answer comes back."""
    async with httpx.AsyncClient(base_url=host.url + PREFIX) as client:
        answer = await client.get("/runs", headers={"Authorization": f"Bearer {host.token}"})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "sign in first"


async def test_the_page_says_the_hosts_login_admits_and_where_it_is(tmp_path: Path) -> None:
    """The console learns from its page how browsers sign in: the API mounted with the
    host's user dependency says "host"; ``login_url`` names the host's sign-in page."""
    app = host_app(f"sqlite:///{tmp_path / 'h.db'}", login_url="/account/login")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as client:
        page = (await client.get("/ops/login")).text
    assert '<meta name="schedkit-sign-in" content="host">' in page
    assert '<meta name="schedkit-login-url" content="/account/login">' in page


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_a_scheduler_waiting_for_its_store_says_why_and_the_console_opens_once_started(
    browser: Browser, store_url: str
) -> None:
    """An audit of ``scheduler.store_wait = "retry"``: the API answered 503 with the
    reason, the console dropped it (a toast gone with the navigation to its login view)
    and said "The application asks you to sign in first (401)" to a signed-in user."""
    url, proxy = store_later(store_url)
    app = host_app(url, login_url=None, scheduler={**CONFIG["scheduler"], "store_wait": "retry"})
    server = LiveServer(app)
    await asyncio.to_thread(server.__enter__)
    tab = await open_tab(browser, None, width=1280, lang="en")
    tab.expected_statuses.add(503)
    try:
        await tab.context.add_cookies(
            [{"name": COOKIE[0], "value": COOKIE[1], "domain": "127.0.0.1", "path": "/"}]
        )
        page = tab.page
        await page.goto(server.url + "/ops/tasks")
        await expect(page).to_have_url(server.url + "/ops/login")
        await expect(page.get_by_role("heading")).to_have_text("Scheduler unavailable")
        alert = page.locator(".login .alert")
        await expect(alert).to_contain_text(
            "The scheduler cannot answer now (503): The scheduler has not started: its "
            "store cannot be reached (ConnectionRefusedError; the node's log has the cause "
            "under ref "
        )
        await expect(page.locator(".login")).not_to_contain_text("sign in")
        await shot(page, "host-store-wait")
        # In Chinese too (the server's sentence was shown in English on the zh page).
        zh = await open_tab(browser, None, width=1280, lang="zh")
        zh.expected_statuses.add(503)
        try:
            await zh.context.add_cookies(
                [{"name": COOKIE[0], "value": COOKIE[1], "domain": "127.0.0.1", "path": "/"}]
            )
            await zh.page.goto(server.url + "/ops/tasks")
            await expect(zh.page.get_by_role("heading")).to_have_text("调度器不可用")
            await expect(zh.page.locator(".login .alert")).to_contain_text(
                "调度器暂时无法响应（503）：调度器尚未启动：无法连接其存储"
                "（ConnectionRefusedError；原因见节点日志，编号 "
            )
            await shot(zh.page, "host-store-wait-zh")
        finally:
            await zh.context.close()
        assert zh.unexpected_errors() == []

        await proxy.start()  # the store answers: the page opens the console by itself
        await expect(page).to_have_url(server.url + "/ops/tasks", timeout=20_000)
        await expect(page.locator("tbody tr[data-task]")).to_have_count(3)
    finally:
        await tab.context.close()
        await asyncio.to_thread(server.__exit__, None, None, None)
        await proxy.cut()
    assert tab.unexpected_errors() == []
