"""A host app whose scheduler's store cannot be reached when it starts
(``scheduler.store_wait``, docs/api.md "A store that cannot be reached at startup").

Real PostgreSQL and MongoDB: the store URL points at a port with nothing listening,
where a proxy to the test server is opened later (the store comes up). ``"retry"``: the
app serves its own routes at once, the scheduler's routes answer 503 saying why, and the
scheduler starts and fires once the store answers. ``"fail"`` (the default) and errors
retrying cannot fix still stop the app's startup.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from schedkit import Scheduler, StoreUnavailableError, TaskRegistry, task
from schedkit.api import create_app
from schedkit.engine.retries import Backoff
from schedkit.errors import ConfigError, StoreError
from schedkit.integrations.fastapi import mount_scheduler, scheduler_lifespan
from schedkit.service.store_wait import StoreWait
from schedkit.store import create_store
from tests.api.server import LiveServer, fast_config
from tests.store._versions import code_version, make_newer
from tests.store.proxy import closed_port, store_later

pytestmark = pytest.mark.external_service

PREFIX = "/api/v1/scheduler"


@task("beat", category="test", schedule={"trigger": "interval", "seconds": 1})
async def beat() -> dict[str, Any]:
    return {"success": True, "message": "beat"}


def beat_registry() -> TaskRegistry:
    registry = TaskRegistry()
    registry.register_task(beat)
    return registry


def host_user() -> str:
    return "host-user"


def host_app(lifespan: Any) -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def store_options(url: str) -> dict[str, Any]:
    # MongoDB looks for a server for 5 s by default, even on a refused port.
    return {"server_selection_timeout": 0.5} if url.startswith("mongodb") else {}


POSTGRES = pytest.mark.parametrize("store_url", ["postgres"], indirect=True)


#: pymongo leaves the socket of a connection attempt it cancelled (to the closed port here,
#: as the store closes the client of a failed attempt) to the garbage collector, whose
#: warning would fail whichever test it comes in (see pyproject.toml).
MONGO_SOCKETS = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")


@pytest.mark.parametrize(
    "store_url", ["postgres", pytest.param("mongo", marks=MONGO_SOCKETS)], indirect=True
)
async def test_the_app_serves_while_the_store_is_down_and_the_scheduler_starts_once_it_answers(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An audit: a host app embedding schedkit did not start at all while its
    scheduler's store could not be reached; its own routes went down with it."""
    url, proxy = store_later(store_url)
    port = proxy.port
    config = fast_config(
        url, scheduler={"store_wait": "retry"}, store_options=store_options(store_url)
    )
    app = host_app(scheduler_lifespan(config, registry=beat_registry(), user_dependency=host_user))
    caplog.set_level(logging.INFO, logger="schedkit")
    booted = time.monotonic()
    server = LiveServer(app)
    await asyncio.to_thread(server.__enter__)
    try:
        assert time.monotonic() - booted < 5  # not held by the store (PATIENCE: 1 s)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get("/hello")).json() == {"hello": "world"}
            assert isinstance(app.state.scheduler, Scheduler)
            assert not app.state.scheduler.started
            kind = (
                "ServerSelectionTimeoutError" if "mongo" in store_url else "ConnectionRefusedError"
            )
            for path in ("/tasks", "/runs", "/ready", "/nodes"):
                answer = await client.get(PREFIX + path)
                assert answer.status_code == 503, (path, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                assert int(answer.headers["retry-after"]) >= 1
                assert answer.json()["type"] == "urn:schedkit:problem:not-running"
                detail = answer.json()["detail"]
                assert detail.startswith(
                    f"the scheduler has not started: store unavailable ({kind}; the node's log "
                    "has the cause: ref "
                ), detail
                assert re.search(
                    r"; retrying since [-\d: ]+ UTC, (next in \d+ s|trying again now)$", detail
                )
                # The store's host, database, user and password are for the node's log.
                assert str(port) not in detail and store_url.rsplit("/")[-1] not in detail

            await proxy.start()  # the store answers from now on
            deadline = time.monotonic() + 20
            while (await client.get(PREFIX + "/ready")).status_code != 200:
                assert time.monotonic() < deadline, "the scheduler did not start"
                await asyncio.sleep(0.1)
            assert app.state.scheduler.started
            while True:
                runs = (await client.get(PREFIX + "/runs", params={"task": "beat"})).json()
                if any(r["status"] == "success" for r in runs["items"]):
                    break
                assert time.monotonic() < deadline, f"beat did not run: {runs}"
                await asyncio.sleep(0.1)
            assert (await client.get("/hello")).status_code == 200
    finally:
        # The node's stop talks to the store through the proxy, served by this loop.
        await asyncio.to_thread(server.__exit__, None, None, None)
        await proxy.cut()

    waits = [r for r in caplog.records if r.name == "schedkit.engine.retries"]
    assert waits and all(r.levelno == logging.WARNING and r.exc_info is None for r in waits)
    first = waits[0].getMessage()
    assert first.startswith("the scheduler could not start (attempt 1, ref ")
    assert f"127.0.0.1:{port}" in first and first.endswith("; retrying in 1.0 s")
    password = urlsplit(store_url).password
    assert password is None or (f":***@127.0.0.1:{port}" in first and f":{password}@" not in first)
    started = [r.getMessage() for r in caplog.records if r.name == "schedkit.service.store_wait"]
    assert len(started) == 1 and started[0].startswith(
        f"the scheduler started: its store answered after {len(waits)} failed attempt(s) since "
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    gc.collect()  # MONGO_SOCKETS: collected while their warning is ignored


async def test_an_app_stopped_while_waiting_stops_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """``mount_scheduler`` around the host's lifespan: the host's startup runs while the
    store is down, and a stop during the retries ends them with no task left behind."""
    ran: list[str] = []

    async def host_lifespan(app: FastAPI) -> AsyncIterator[None]:
        ran.append("host started")
        yield
        ran.append("host stopped")

    app = FastAPI(lifespan=asynccontextmanager(host_lifespan))
    config = fast_config(
        f"postgresql://schedkit@127.0.0.1:{closed_port()}/none",
        scheduler={"store_wait": "retry"},
    )
    mount_scheduler(app, config, registry=beat_registry(), user_dependency=host_user)
    async with app.router.lifespan_context(app):
        scheduler: Scheduler = app.state.scheduler
        assert ran == ["host started"] and not scheduler.started
        await asyncio.sleep(1.5)  # into the second wait (1 s, then 2 s)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 1  # not the 2 s wait under way
    assert ran == ["host started", "host stopped"]
    assert not scheduler.started and scheduler.store_wait is None
    assert asyncio.all_tasks() == {asyncio.current_task()}
    gc.collect()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_standalone_app_is_not_ready_while_it_waits() -> None:
    """``create_app`` under a server of your own: ``/ready`` (open to load balancers)
    says not ready without naming anything; a token cannot be checked without the store,
    so a call with one gets the reason."""
    config = fast_config(
        f"postgresql://schedkit@127.0.0.1:{closed_port()}/none", scheduler={"store_wait": "retry"}
    )
    with LiveServer(create_app(config, registry=beat_registry())) as server:
        ready = httpx.get(server.url + PREFIX + "/ready")
        assert ready.status_code == 503 and ready.json()["type"] == "urn:schedkit:problem:not-ready"
        assert ready.json()["detail"] == "not ready: the scheduler is not running"
        tasks = httpx.get(server.url + PREFIX + "/tasks", headers={"Authorization": "Bearer skt_x"})
        assert tasks.status_code == 503
        assert tasks.json()["detail"].startswith("the scheduler has not started: store unavailable")


async def test_fail_still_stops_the_startup() -> None:
    """The default: a node that cannot record runs does not start, nor does its app."""
    app = host_app(
        scheduler_lifespan(
            fast_config(f"postgresql://schedkit@127.0.0.1:{closed_port()}/none"),
            registry=beat_registry(),
            user_dependency=host_user,
        )
    )
    with pytest.raises(StoreUnavailableError):
        async with app.router.lifespan_context(app):
            pytest.fail("the app started")


async def newer_store(url: str) -> None:
    """Make the database at ``url`` a store of a release this one refuses."""
    async with create_store(url):
        pass
    newer = code_version(url) + 1
    await make_newer(url, newer, compatible_from=newer)


@POSTGRES
@pytest.mark.parametrize("error", ["newer store", "unknown store option", "sqlite file"])
async def test_errors_retrying_cannot_fix_stop_the_startup_at_once(
    error: str, store_url: str, tmp_path: Path
) -> None:
    url, options, raised = store_url, {}, StoreError
    if error == "newer store":
        await newer_store(store_url)
    elif error == "unknown store option":
        options, raised = {"store_options": {"pool_sise": 5}}, ConfigError
    else:
        url, raised = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", StoreUnavailableError
    config = fast_config(url, scheduler={"store_wait": "retry"}, **options)
    app = host_app(scheduler_lifespan(config, registry=beat_registry(), user_dependency=host_user))
    began = time.monotonic()
    with pytest.raises(raised):
        async with app.router.lifespan_context(app):
            pytest.fail("the app started")
    assert time.monotonic() - began < 2


@POSTGRES
async def test_an_error_met_in_the_background_ends_the_retries(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The store comes up as one of another release: the node gives up, logs why once,
    and says so to its callers (the app serves on; only a restart can help)."""
    await newer_store(store_url)
    url, proxy = store_later(store_url)
    scheduler = Scheduler(
        fast_config(url, scheduler={"store_wait": "retry"}),
        registry=beat_registry(),
    )
    waiting = StoreWait(scheduler, backoff=Backoff(first=0.05, cap=0.1))
    await waiting.start()
    await proxy.start()
    try:
        deadline = time.monotonic() + 10
        while "will not retry" not in str(waiting.not_started()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert not scheduler.started
    finally:
        await waiting.stop()
        await proxy.cut()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "newer than this release" in errors[0].getMessage()
