"""Console tests: a real uvicorn serving ``create_app`` (API + console) on a free port with
a SQLite store, an admin token made the way ``schedkit token create`` does, and Chromium
driven by Playwright (``SCHEDKIT_TEST_CHROMIUM`` names the browser binary)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from schedkit import SchedkitConfig, Scheduler, TaskRegistry
from schedkit.api import create_app
from schedkit.console import mount_console
from schedkit.integrations.fastapi import mount_scheduler
from schedkit.store import create_store
from schedkit.tokens import Role, create_token
from tests.api.server import LiveServer
from tests.conftest import service_url
from tests.console.tasks import console_registry, crunch

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
    #: The server's files (the demo's var directory), when the test needs them.
    var: Path | None = None

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


@contextmanager
def serving(app: FastAPI, token: str, var: Path | None = None) -> Iterator[Console]:
    """``app`` on a live server, with an API client that holds ``token``."""
    with (
        LiveServer(app) as server,
        httpx.Client(
            base_url=server.url + PREFIX,
            # X-Requested-With: bodyless changes must say they are not a cross-site form.
            headers={"Authorization": f"Bearer {token}", "X-Requested-With": "tests"},
            timeout=30,
        ) as client,
    ):
        yield Console(url=server.url, token=token, api=client, var=var)


#: The SQLite file of a console served by :func:`fresh_console`, in ``Console.var``.
DB = "schedkit.db"


@contextmanager
def fresh_console(
    tmp_path_factory: pytest.TempPathFactory, name: str, registry: TaskRegistry, **config: Any
) -> Iterator[Console]:
    """An app of ``registry`` with CONFIG (``config`` over it) on a new SQLite store in a
    folder of its own (``Console.var``), served with an admin token."""
    var = tmp_path_factory.mktemp(name)
    store_url = f"sqlite:///{var / DB}"
    token = asyncio.run(_admin_token(store_url))
    app = create_app({**CONFIG, **config, "store_url": store_url}, registry=registry)
    with serving(app, token, var) as console:
        yield console


@pytest.fixture(scope="module")
def chromium() -> str:
    return service_url(CHROMIUM_VAR)


@pytest.fixture(scope="module")
def console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with fresh_console(tmp_path_factory, "console", console_registry()) as console:
        yield console


@pytest.fixture(scope="module")
def demo_console(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The power-trading example served the way ``schedkit demo`` serves it: its ten
    tasks with their own schedules, the demo's every-minute ``demo:<task>`` schedules next
    to them, report files offered for download (no sample data: the tasks run on an
    empty database). Plus the test task ``crunch``, slow enough to cancel."""
    from schedkit.cli.demo import DEMO_CRON, DEMO_SCHEDULE_PREFIX, DEMO_TASKS, example_dir
    from schedkit_examples.powertrade.settings import configure

    var = tmp_path_factory.mktemp("demo")
    store_url = f"sqlite:///{var / 'demo.db'}"
    token = asyncio.run(_admin_token(store_url))
    config = SchedkitConfig.load(
        example_dir() / "schedkit.toml",
        store_url=store_url,
        entry_points=False,
        executor=CONFIG["executor"],
        scheduler=CONFIG["scheduler"],
    )
    registry = TaskRegistry()
    registry.register_task(crunch)  # slow enough to be cancelled while it runs
    scheduler = Scheduler(config, registry=registry)
    configure(scheduler, var_dir=str(var))
    with serving(create_app(scheduler), token, var) as console:
        for name in DEMO_TASKS:
            console.api.post(
                f"/tasks/{name}/schedule",
                params={"schedule_id": DEMO_SCHEDULE_PREFIX + name},
                json=DEMO_CRON,
            ).raise_for_status()
        yield console


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


async def open_tab(
    browser: Browser,
    token: str | None,
    *,
    width: int = 1440,
    height: int = 900,
    lang: str | None = None,
) -> Browsing:
    """A fresh browser context and tab (signed in when given a ``token``; in ``lang``
    when given, else following the browser's en-US)."""
    context = await browser.new_context(
        viewport={"width": width, "height": height},
        locale="en-US",
        timezone_id="Europe/Paris",
    )
    context.set_default_timeout(10_000)
    if token is not None:
        # Signed in already, as after the login view (the token lives in sessionStorage).
        await context.add_init_script(
            f"sessionStorage.setItem('schedkit.token', {json.dumps(token)});"
        )
    if lang is not None:
        await context.add_init_script(f"localStorage.setItem('schedkit.lang', '{lang}');")
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
    browsing = await open_tab(browser, None)
    browsing.expected_statuses.add(401)
    try:
        yield browsing
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


@pytest_asyncio.fixture(loop_scope="module")
async def signed_in(browser: Browser, console: Console) -> AsyncIterator[Browsing]:
    """A tab holding the admin token."""
    browsing = await open_tab(browser, console.token)
    try:
        yield browsing
    finally:
        await browsing.context.close()
    assert browsing.unexpected_errors() == []


async def shot(page: Page, name: str) -> None:
    """A screenshot of the page to look at by hand: /tmp/schedkit-console-NAME.png."""
    await page.screenshot(path=f"/tmp/schedkit-console-{name}.png", full_page=True)
