"""Fixtures of the powertrade example tests.

* ``sample_url``: a fresh SQLite file holding the full sample data as of ``AS_OF``
  (generated once per session, copied per test).
* ``empty_url``: an empty powertrade database on each backend of ``REPO_BACKENDS``
  (SQLite always; PostgreSQL and MongoDB when SCHEDKIT_TEST_POSTGRES_URL /
  SCHEDKIT_TEST_MONGO_URL are set, else skipped naming the variable).
* ``make_task``: a task instance bound (per-task config) to a database and a var dir.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

from schedkit_examples.powertrade.domain import PowertradeRepository, create_repository
from schedkit_examples.powertrade.sampledata import generate
from schedkit_examples.powertrade.tasks.base_task import PowertradeTask
from tests.conftest import MONGO_VAR, POSTGRES_VAR, service_url

AS_OF = date(2025, 6, 30)
T = TypeVar("T", bound=PowertradeTask)


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample data as of AS_OF in a SQLite file (built once per session)."""
    path = tmp_path_factory.mktemp("powertrade-template") / "template.db"

    async def build() -> None:
        async with create_repository(f"sqlite:///{path}") as repo:
            await generate(repo, AS_OF)

    asyncio.run(build())
    return path


@pytest.fixture
def sample_url(sample_template: Path, tmp_path: Path) -> str:
    """A private copy of the sample database (tasks change it)."""
    target = tmp_path / "powertrade.db"
    shutil.copyfile(sample_template, target)
    for suffix in ("-wal", "-shm"):
        extra = sample_template.with_name(sample_template.name + suffix)
        if extra.exists():
            shutil.copyfile(extra, target.with_name(target.name + suffix))
    return f"sqlite:///{target}"


@pytest.fixture
async def sample_repo(sample_url: str) -> AsyncIterator[PowertradeRepository]:
    async with create_repository(sample_url) as repo:
        yield repo


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


def task_config(db_url: str, var_dir: Path, **extra: Any) -> dict[str, Any]:
    """A complete per-task config: nothing is read from the environment."""
    return {
        "db_url": db_url,
        "store_url": extra.pop("store_url", db_url),
        "store_options": extra.pop("store_options", {}),
        "var_dir": str(var_dir),
        "timezone": "Asia/Shanghai",
        "alerts_enabled": False,
        "alert_channels": [],
        **extra,
    }


@pytest.fixture
def make_task(var_dir: Path) -> Callable[..., PowertradeTask]:
    """``make_task(TaskClass, db_url, **config)``: an instance configured like the
    registry does (``execution_context``)."""

    def make(cls: type[T], db_url: str, **extra: Any) -> T:
        task = cls()
        task.execution_context.update(task_config(db_url, var_dir, **extra))
        return task

    return make


REPO_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.external_service),
    pytest.param("mongo", id="mongo", marks=pytest.mark.external_service),
]


async def _postgres(base: str, name: str, *, create: bool) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(_with_path(base, "/postgres"))
    try:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=REPO_BACKENDS)
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty powertrade database on each backend (Mongo: the database is
    the URL's path, as the settings read it)."""
    backend: str = request.param
    name = f"powertrade_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
    elif backend == "postgres":
        base = service_url(POSTGRES_VAR)
        await _postgres(base, name, create=True)
        try:
            yield _with_path(base, f"/{name}")
        finally:
            await _postgres(base, name, create=False)
    else:
        base = service_url(MONGO_VAR)
        try:
            yield _with_path(base, f"/{name}")
        finally:
            from pymongo import AsyncMongoClient

            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(base)
            try:
                await client.drop_database(name)
            finally:
                await client.close()


def repo_for(url: str) -> PowertradeRepository:
    """The repository of a test URL (Mongo database from the URL path)."""
    database = urlsplit(url).path.lstrip("/") or None
    return create_repository(url, database=database if url.startswith("mongodb") else None)


@pytest.fixture
async def empty_repo(empty_url: str) -> AsyncIterator[PowertradeRepository]:
    async with repo_for(empty_url) as repo:
        yield repo
