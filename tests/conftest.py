"""Fixtures shared by every test tier.

Real servers are reached through environment variables (architecture.md):
SCHEDKIT_TEST_POSTGRES_URL, SCHEDKIT_TEST_MONGO_URL, SCHEDKIT_TEST_REDIS_URL. A test that
needs a server which is not configured skips and names the variable, unless
SCHEDKIT_REQUIRE_SERVICES=1 (set by .ci/run), where it fails instead: in CI nothing skips.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from schedkit.store import Store, create_store
from tests.store.proxy import Proxy

POSTGRES_VAR = "SCHEDKIT_TEST_POSTGRES_URL"
MONGO_VAR = "SCHEDKIT_TEST_MONGO_URL"
REDIS_VAR = "SCHEDKIT_TEST_REDIS_URL"


def service_url(var: str) -> str:
    """The URL in ``var``, or skip (fail in CI) naming the variable."""
    url = os.environ.get(var)
    if url:
        return url
    message = f"set {var} to run this test against a real server"
    if os.environ.get("SCHEDKIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (SCHEDKIT_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


async def _postgres_database(base: str, name: str, *, create: bool) -> None:
    import asyncpg  # type: ignore[import-untyped]

    admin = _with_path(base, "/postgres").replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    try:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _drop_mongo_database(url: str, name: str) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


class _Dropper:
    """Drops the tests' PostgreSQL databases on a thread of its own, after the tests.

    ``DROP DATABASE`` waits until every backend of the whole server has absorbed a
    barrier it signals, and a backend blocked writing to a client that stopped reading
    (a test holding its proxy, a partition simulated elsewhere) absorbs none: the CI saw
    three tests' teardowns wait 37 s each for another process's held connection. No test
    needs its database gone, only the server not to fill up: they are dropped in order,
    behind the tests, and the session waits for the last ones at its end."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def drop(self, base: str, name: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="drop-databases", daemon=True)
            self._thread.start()
        self._queue.put((base, name))

    def close(self, timeout: float) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            base, name = item
            try:
                asyncio.run(_postgres_database(base, name, create=False))
            except Exception:
                logging.getLogger(__name__).exception("could not drop test database %s", name)


_dropper = _Dropper()


def pytest_sessionfinish(session: pytest.Session) -> None:
    _dropper.close(timeout=120)


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.external_service),
    pytest.param("mongo", id="mongo", marks=pytest.mark.external_service),
]


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of a fresh, empty store of each backend (one database per test)."""
    backend: str = request.param
    name = f"schedkit_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'schedkit.db'}"
    elif backend == "postgres":
        base = service_url(POSTGRES_VAR)
        await _postgres_database(base, name, create=True)
        try:
            yield _with_path(base, f"/{name}")
        finally:
            _dropper.drop(base, name)
    else:
        base = service_url(MONGO_VAR)
        try:
            yield _with_path(base, f"/{name}")
        finally:
            await _drop_mongo_database(base, name)


@pytest.fixture
async def proxy(store_url: str) -> AsyncIterator[Proxy]:
    """A TCP proxy in front of ``store_url``'s server (tests of a server that goes away);
    cut at the end if still serving."""
    parts = urlsplit(store_url)
    assert parts.hostname is not None and parts.port is not None
    p = Proxy((parts.hostname, parts.port))
    await p.start()
    yield p
    if p.server is not None and p.server.is_serving():
        await p.cut()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An opened store of each backend; closed after the test."""
    s = create_store(store_url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite store URL, for tests that need no other backend."""
    return f"sqlite:///{tmp_path / 'schedkit.db'}"


#: Tests that start processes of their own (node clusters, Celery workers, uvicorn
#: workers, the demo): under pytest-xdist they all run in one worker, one after another,
#: while the other workers take the in-process tests. Celery tests also share Redis
#: queues, which must not be consumed by a second test's worker at the same time. The
#: chaos runs (their own private servers, bounds of seconds) are a group of their own:
#: mostly waiting, they ran a third of that worker's time.
SERIAL_TIERS = ("cluster", "celery_executor", "docs", "faults", "bench", "examples")
SERIAL_FILES = (
    "tests/engine/test_cluster.py",
    "tests/engine/test_clock_sync.py",
    "tests/api/test_workers.py",
    "tests/unit/test_sync_lifecycle.py",
)


def pytest_sessionstart(session: pytest.Session) -> None:
    # The suite's CPU is the two cores' binding limit (CI: ~85 % busy). The modules loaded
    # by then live to the end: frozen, the collector stops walking them; and a young
    # generation of 50,000 objects instead of 700 collects 70 times less often (asyncio,
    # pydantic and SQLAlchemy allocate a lot). Measured on tests/unit/triggers and two API
    # test files, under coverage: 28.4-31.5 s -> 27.4-27.5 s of CPU.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _group(where: str) -> str | None:
    """The xdist group of the tests in file ``where`` (relative to the repository)."""
    tier = where.split("/")[1] if where.count("/") >= 2 else ""
    if tier in SERIAL_TIERS or where in SERIAL_FILES:
        return "processes"
    if tier == "chaos":
        return "chaos"
    if tier == "console":
        # One demo server per worker is shared by the console tests, which count the
        # runs they made on it: they stay together in one worker, in file order.
        return "console"
    return None


# tryfirst: pytest-xdist reads the groups in its own collection hook, which otherwise runs
# before this conftest's (the groups were silently ignored).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        group = _group(Path(str(item.path)).relative_to(root).as_posix())
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """The groups hold only if pytest-xdist put them in the node ids, which it cannot on
    pytest 9: the suite then ran ungrouped without a word (a demo server and the process
    tests on every worker). Checked here, in the controller, where an error is shown."""
    if node.config.getvalue("dist") != "loadgroup":
        return
    lost = [i for i in ids if "@" not in i and _group(i.split("::")[0]) is not None]
    if lost:
        raise pytest.UsageError(f"--dist loadgroup ignored the xdist groups of {lost[:3]} ...")


@pytest.fixture
def utc_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local zone is UTC (the configured one is Asia/Shanghai)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
