"""Fixtures of the store contract suite, and of the MongoDB-only tests (a fresh database
on the test server and a plain client on it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from schedkit.store import Store, create_store
from tests.conftest import MONGO_VAR, service_url

MoreStores = Callable[[int], Awaitable[list[Store]]]
#: The MongoDB test database through a plain client (the ``raw`` fixture).
Raw = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def more_stores(store_url: str) -> AsyncIterator[MoreStores]:
    """``await more_stores(n)``: n more opened stores on the test's database."""
    opened: list[Store] = []

    async def open_more(n: int) -> list[Store]:
        for _ in range(n):
            s = create_store(store_url)
            await s.open()
            opened.append(s)
        return opened[-n:]

    yield open_more
    for s in opened:
        await s.close()


@pytest.fixture
async def mongo_url() -> AsyncIterator[str]:
    """A URL naming a fresh database on the MongoDB test server; dropped afterwards."""
    base = service_url(MONGO_VAR)
    name = f"schedkit_test_{uuid.uuid4().hex[:12]}"
    yield urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(base)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


@pytest.fixture
async def raw(mongo_url: str) -> AsyncIterator[Raw]:
    """The ``mongo_url`` database through a plain client, to look at the documents
    themselves."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        yield client[urlsplit(mongo_url).path.lstrip("/")]
    finally:
        await client.close()
