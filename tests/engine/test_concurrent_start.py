"""Concurrent ``start()`` calls start one node (audit: ``asyncio.gather(s.start(),
s.start())`` ran two full starts, and one SQLite writer and one watchdog thread were
left running after ``stop()``); a caller waiting on a start that fails gets its error;
a start whose caller is cancelled is taken over by the one waiting on it."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

import pytest

from schedkit import Scheduler, TaskRegistry
from schedkit.errors import StoreNotFoundError
from schedkit.service.start_once import StartOnce

from .conftest import fast_config

WATCHED = ("schedkit-sqlite-writer", "schedkit-watchdog")


def _threads() -> Counter[str]:
    return Counter(t.name for t in threading.enumerate() if t.name in WATCHED)


async def test_two_concurrent_starts_start_one_node_and_stop_leaves_no_thread(
    sqlite_url: str,
) -> None:
    before = _threads()
    s = Scheduler(fast_config(sqlite_url), registry=TaskRegistry())
    try:
        assert await asyncio.gather(s.start(), s.start()) == [None, None]
        assert _threads() - before == Counter(WATCHED)
        assert len(await s.list_nodes()) == 1
    finally:
        await s.stop(grace=1.0)
    assert _threads() - before == Counter()


async def test_a_start_waiting_on_a_failing_one_raises_its_error(tmp_path: Path) -> None:
    s = Scheduler(fast_config(f"sqlite:///{tmp_path / 'absent.db'}"), registry=TaskRegistry())
    first, second = await asyncio.gather(
        s.start(create_store=False), s.start(create_store=False), return_exceptions=True
    )
    assert isinstance(first, StoreNotFoundError)
    assert second is first
    assert not s.started


async def test_a_start_whose_caller_is_cancelled_is_run_again_by_the_one_waiting() -> None:
    once = StartOnce()
    entered = asyncio.Event()
    calls: list[str] = []
    done = False

    async def start() -> None:
        nonlocal done
        calls.append("start")
        entered.set()
        if len(calls) == 1:
            await asyncio.Event().wait()  # the first one is cancelled while here
        done = True

    first = asyncio.create_task(once.run(start, lambda: done))
    await entered.wait()
    second = asyncio.create_task(once.run(start, lambda: done))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 5)
    assert calls == ["start", "start"]
    assert done
