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


async def test_under_load_items_arriving_one_by_one_share_a_write() -> None:
    """Items 2 ms apart each had a write of their own; a busy batcher waits ``linger``
    for the next ones (the finish writes of runs ending one after another)."""
    calls: list[list[int]] = []

    async def write(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return list(items)

    async def trickle(batcher: Batcher[int, int]) -> None:
        waiting = []
        for i in range(20):
            waiting.append(asyncio.ensure_future(batcher.submit(i)))
            await asyncio.sleep(0.002)
        assert await asyncio.gather(*waiting) == list(range(20))

    await trickle(Batcher(write))
    alone = len(calls)
    calls.clear()
    await trickle(Batcher(write, linger=0.02))
    assert alone >= 10
    assert len(calls) <= alone / 2, (alone, calls)


async def test_under_load_items_arriving_during_a_write_wait_for_the_next_one() -> None:
    """Hole: what arrived while a write was in flight was written right after it, one or
    two items at a time (at 1,000 fires/s, 3.4 fires per store write)."""
    calls: list[list[int]] = []

    async def write(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        await asyncio.sleep(0.002)
        return list(items)

    batcher: Batcher[int, int] = Batcher(write, linger=0.02)
    waiting = []
    for i in range(60):
        waiting.append(asyncio.ensure_future(batcher.submit(i)))
        await asyncio.sleep(0.003)
    assert await asyncio.gather(*waiting) == list(range(60))
    # The first write is an idle batcher's; the last has nothing more to wait for.
    alone = [c for c in calls[1:-1] if len(c) == 1]
    assert len(calls) >= 3 and not alone, calls


async def test_an_idle_batcher_writes_at_once_despite_linger() -> None:
    written = asyncio.Event()

    async def write(items: Sequence[int]) -> list[int]:
        written.set()
        return list(items)

    batcher: Batcher[int, int] = Batcher(write, linger=10.0)
    assert await asyncio.wait_for(batcher.submit(1), 1.0) == 1
    assert written.is_set()
