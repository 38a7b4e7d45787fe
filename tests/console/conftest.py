"""Console tests: a real uvicorn serving ``create_app`` (API + console) on a free port with
a SQLite store, an admin token made the way ``schedkit token create`` does, and Chromium
driven by Playwright (``SCHEDKIT_TEST_CHROMIUM`` names the browser binary)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from schedkit.api import create_app
from schedkit.console import mount_console
from schedkit.integrations.fastapi import mount_scheduler
from schedkit.store import create_store
from schedkit.tokens import Role, create_token
from tests.api.server import LiveServer
from tests.conftest import service_url
from tests.console.tasks import console_registry

CHROMIUM_VAR = "SCHEDKIT_TEST_CHROMIUM"
PREFIX = "/api/v1/scheduler"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

CONFIG: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "entry_points": False,
    "executor": {"poll_interval": 0.05, "max_workers": 4},
    "scheduler": {
        "lease_ttl": 2.0,
        "lookahead": 1.0,
        "refresh_interval": 0.2,
        "heartbeat_interval": 0.2,
        "lost_after": 5.0,
        "shutdown_grace": 1.0,
    },
}


@dataclass
class Console:
    """The running app: its URL, an admin token and an API client using it."""

    url: str
    token: str
    api: httpx.Client

    @property
    def base(self) -> str:
        return self.url + "/"


async def _admin_token(store_url: str) -> str:
    store = create_store(store_url)
    await store.open()
    try:
        issued = await create_token(store, name="console-admin", role=Role.ADMIN, actor="test")
        return issued.secret
    finally:
        await store.close()


@pytest.fixture(scope="module")
def chromium() -> str:
    return service_url(CHROMIUM_VAR)


@pytest.fixture(scope="module")
def console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    path: Path = tmp_path_factory.mktemp("console") / "schedkit.db"
    store_url = f"sqlite:///{path}"
    token = asyncio.run(_admin_token(store_url))
    app = create_app({**CONFIG, "store_url": store_url}, registry=console_registry())
    with LiveServer(app) as server:
        client = httpx.Client(
            base_url=server.url + PREFIX,
            # X-Requested-With: bodyless changes must say they are not a cross-site form.
            headers={"Authorization": f"Bearer {token}", "X-Requested-With": "tests"},
            timeout=30,
        )
        try:
            yield Console(url=server.url, token=token, api=client)
        finally:
            client.close()


HOST_COOKIE = ("host_session", "alice-session")


def _host_user(request: Request) -> dict[str, str] | None:
    """The host application's own login: a session cookie."""
    if request.cookies.get(HOST_COOKIE[0]) == HOST_COOKIE[1]:
        return {"username": "alice"}
    return None


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[str]:
    """A host FastAPI app embedding the scheduler (its cookie login guards the API) with
    the console under /ops/scheduler/. Yields the console's URL."""
    app = FastAPI()
    mount_scheduler(
        app,
        {**CONFIG, "store_url": f"sqlite:///{tmp_path / 'host.db'}"},
        registry=console_registry(),
        user_dependency=_host_user,
    )
    mount_console(app, api_prefix=PREFIX, path="/ops/scheduler")
    with LiveServer(app) as server:
        yield server.url + "/ops/scheduler/"


@dataclass
class Browsing:
    """A page plus what the browser reported: JS errors and failed resource loads."""

    page: Page
    context: BrowserContext
    errors: list[str] = field(default_factory=list)
    #: HTTP statuses a test provokes on purpose (a failed fetch is logged by Chromium).
    expected_statuses: set[int] = field(default_factory=set)

    def unexpected_errors(self) -> list[str]:
        out = []
        for text in self.errors:
            status = re.search(r"status of (\d{3})", text)
            if status and int(status.group(1)) in self.expected_statuses:
                continue
            out.append(text)
        return out


# One browser for the module (launching Chromium takes seconds), a fresh context per test;
# every async fixture and test of the module shares the module's event loop.
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _open(browser: Browser, token: str | None) -> Browsing:
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="en-US", timezone_id="Europe/Paris"
    )
    context.set_default_timeout(10_000)
    if token is not None:
        # Signed in already, as after the login view (the token lives in sessionStorage).
        await context.add_init_script(
            f"sessionStorage.setItem('schedkit.token', {json.dumps(token)});"
        )
    page = await context.new_page()
    browsing = Browsing(page=page, context=context)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            browsing.errors.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: browsing.errors.append(f"pageerror: {exc}"))
    return browsing


@pytest_asyncio.fixture(loop_scope="module")
async def anonymous(browser: Browser) -> AsyncIterator[Browsing]:
    """A fresh tab without a token (the login view); the console's probe gets a 401."""
    browsing = await _open(browser, None)
    browsing.expected_statuses.add(401)
    try:
        yield browsing
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


@pytest_asyncio.fixture(loop_scope="module")
async def signed_in(browser: Browser, console: Console) -> AsyncIterator[Browsing]:
    """A tab holding the admin token."""
    browsing = await _open(browser, console.token)
    try:
        yield browsing
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []
