"""Fixtures of the store contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from schedkit.store import Store, create_store

MoreStores = Callable[[int], Awaitable[list[Store]]]


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
