"""A store's recorded schema (SQL) or index (MongoDB) version, read and set behind the
store's back: stores older or newer than the code, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa
from pymongo import AsyncMongoClient
from sqlalchemy.ext.asyncio import create_async_engine

from schedkit.store import create_store
from schedkit.store.mongo import INDEX_VERSION
from schedkit.store.sql.migrations import latest_version

_VERSIONS = "schedkit_schema_version"
SCHEMA_V1 = Path(__file__).parent / "schema_v1"
_T = TypeVar("_T")


async def on_database(url: str, work: Callable[[sa.Connection], _T]) -> _T:
    """``work`` in a transaction of the test's own on the store's database."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                return work(conn)
        finally:
            engine.dispose()
    async_engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with async_engine.begin() as async_conn:
            return await async_conn.run_sync(work)
    finally:
        await async_engine.dispose()


def create_v1(conn: sa.Connection) -> None:
    """The database as schedkit's schema version 1 created it (frozen DDL)."""
    text = (SCHEMA_V1 / f"{conn.dialect.name}.sql").read_text()
    ddl = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    for statement in ddl.split(";"):
        if statement.strip():
            conn.exec_driver_sql(statement)


def is_mongo(url: str) -> bool:
    return url.startswith("mongodb")


def code_version(url: str) -> int:
    """The version this code writes on ``url``'s backend."""
    return INDEX_VERSION if is_mongo(url) else latest_version()


async def _meta(url: str, update: dict[str, Any] | None = None) -> int:
    """The MongoDB schema document's version, after ``update`` if given."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        meta = client[urlsplit(url).path.lstrip("/")]["schedkit_meta"]
        if update is not None:
            await meta.update_one({"_id": "schema"}, {"$set": update})
        doc = await meta.find_one({"_id": "schema"})
        return int(doc["version"]) if doc is not None else 0
    finally:
        await client.close()


async def stored_version(url: str) -> int:
    """The version the store records (0: none)."""
    if is_mongo(url):
        return await _meta(url)

    def read(conn: sa.Connection) -> int:
        if not sa.inspect(conn).has_table(_VERSIONS):
            return 0
        version = conn.exec_driver_sql(f"SELECT max(version) FROM {_VERSIONS}")
        return int(version.scalar_one())

    return await on_database(url, read)


async def create_older(url: str) -> int:
    """A store older than the code on the empty database ``url``; its version. SQL:
    version 1 (the frozen DDL); MongoDB: the previous index version."""
    if not is_mongo(url):
        await on_database(url, create_v1)
        return 1
    async with create_store(url):
        pass
    return await _meta(url, {"version": INDEX_VERSION - 1})


async def make_newer(url: str, version: int, compatible_from: int) -> None:
    """Record ``version`` (code older than ``compatible_from`` cannot work on it; MongoDB
    records no such version) on the existing store ``url``."""
    if is_mongo(url):
        await _meta(url, {"version": version})
        return

    def stamp(conn: sa.Connection) -> None:
        now = "now()" if conn.dialect.name == "postgresql" else "0"  # SQLite: µs
        conn.exec_driver_sql(
            f"INSERT INTO {_VERSIONS} (version, compatible_from, applied_at) VALUES "
            f"({version}, {compatible_from}, {now})"
        )

    await on_database(url, stamp)
