"""Batcher: concurrent submissions share one write; errors reach every submitter."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from schedkit.batching import Batcher


async def test_concurrent_items_share_a_write_and_get_their_own_result() -> None:
    calls: list[list[int]] = []

    async def write(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        await asyncio.sleep(0.01)
        return [i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(write, max_batch=50)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(120)))
    assert results == [i * 10 for i in range(120)]
    assert sum(len(c) for c in calls) == 120
    assert len(calls) <= 3 and max(len(c) for c in calls) <= 50


async def test_a_failed_write_fails_its_batch_only() -> None:
    attempts = 0

    async def write(items: Sequence[str]) -> list[str]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("store down")
        return list(items)

    batcher: Batcher[str, str] = Batcher(write)
    with pytest.raises(ConnectionError):
        await asyncio.gather(batcher.submit("a"), batcher.submit("b"))
    assert await batcher.submit("c") == "c"
