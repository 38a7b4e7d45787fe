"""Slot accounting and the thread lane: one owner each, checked without running tasks."""

from __future__ import annotations

import asyncio
import threading

import pytest

from schedkit.engine.slots import Slots
from schedkit.engine.threads import ThreadLane


def test_a_grant_gives_back_what_it_did_not_launch() -> None:
    slots = Slots(3)
    with slots.reserve(5) as grant:
        assert grant.count == 3 and slots.free == 0
        assert grant.take() and grant.take()
        grant.launch()  # one stored and started; the other promised run was fenced out
    assert (slots.free, slots.executing) == (2, 1)
    slots.vacate()
    assert slots.free == 3


def _reserve_then_fail(slots: Slots) -> None:
    with slots.reserve(2) as grant:
        assert grant.take()
        raise RuntimeError("store down")


def test_an_error_before_launch_returns_every_slot() -> None:
    slots = Slots(2)
    with pytest.raises(RuntimeError):
        _reserve_then_fail(slots)
    assert slots.free == 2


def test_a_closed_node_offers_no_slot() -> None:
    slots = Slots(4)
    slots.close()
    assert slots.free == 0 and slots.reserve(1).count == 0


async def test_a_thread_abandoned_by_its_run_stays_busy_until_it_returns() -> None:
    lane = ThreadLane(1)
    release = threading.Event()
    held = await lane.hold()
    call = held.call(release.wait, 5)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(call), 0.05)
    held.done()  # the run gave up (a timeout): the thread still runs its code
    assert lane.busy == 1
    waiting = asyncio.create_task(lane.hold())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # no thread for the next sync run yet
    release.set()
    await call
    second = await asyncio.wait_for(waiting, 1)
    second.done()
    assert lane.busy == 0
    lane.shutdown()


async def test_an_attempt_keeps_its_thread_between_hooks() -> None:
    lane = ThreadLane(1)
    held = await lane.hold()
    names = [await held.call(lambda: threading.current_thread().name) for _ in range(3)]
    assert lane.busy == 1 and len(set(names)) == 1
    held.done()
    await asyncio.sleep(0)
    assert lane.busy == 0
    lane.shutdown()


async def test_a_call_raising_stop_iteration_fails_instead_of_hanging() -> None:
    """A future refuses StopIteration: raised by sync task code (``next()`` on an
    empty iterator), it left the attempt waiting forever."""
    lane = ThreadLane(1)
    held = await lane.hold()

    def empty() -> None:
        next(iter([]))

    with pytest.raises(RuntimeError, match=r"empty.*raised StopIteration"):
        await asyncio.wait_for(held.call(empty), 2)
    assert await held.call(lambda: "the thread is fine") == "the thread is fine"
    held.done()
    await asyncio.sleep(0)
    assert lane.busy == 0
    lane.shutdown()


def test_runs_taken_ahead_leave_a_fifth_of_the_slots_for_runs_due_meanwhile() -> None:
    slots = Slots(50)
    assert slots.to_wait_in == 40
    with slots.reserve(35):
        assert slots.to_wait_in == 5
    with slots.reserve(45):
        assert slots.to_wait_in == -5  # none is taken ahead
    assert Slots(3).to_wait_in == 3  # a fifth of 3 slots is none


def test_a_node_executing_nothing_puts_no_bound_on_runs_taken_ahead() -> None:
    assert Slots(0).to_wait_in is None
