"""Undoing a drain (a design audit: ``POST /nodes/{id}/drain?grace=0`` left a serve node
draining until restarted, runs pending, and nothing undid it). A drain asked through the
store is undone through the store, as it was asked: the node takes runs again at its
next heartbeat. A drain that is part of a stop is not undone."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from schedkit import RunStatus, Scheduler, task
from schedkit.errors import ConflictError
from schedkit.store import Store

from .conftest import MakeScheduler


@task("quick", retry={"max_retries": 0})
async def quick() -> dict[str, object]:
    return {"success": True}


@task("long", retry={"max_retries": 0})
async def long() -> dict[str, object]:
    await asyncio.sleep(30)
    return {"success": True}


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {what}")


async def status(s: Scheduler, run_id: str) -> RunStatus:
    return (await s.get_run(run_id)).status


async def info(s: Scheduler, node_id: str) -> dict[str, object]:
    [node] = [n for n in await s.list_nodes() if n.id == node_id]
    return node.info


async def test_an_undone_drain_takes_runs_again_and_a_later_drain_still_works(
    make_scheduler: MakeScheduler,
) -> None:
    worker = await make_scheduler(quick, long, scheduler={"enabled": False})
    operator = await make_scheduler(quick, long, executor={"enabled": False})
    running = await operator.run_now("long")
    await until(lambda: _is(operator, running.id, RunStatus.RUNNING), "running")

    await operator.request_drain(worker.node_id, actor="ops", grace=60)
    await until(_async(lambda: worker.draining), "draining")
    waiting = await operator.run_now("quick")
    await operator.request_undrain(worker.node_id, actor="ops")
    await until(lambda: _is(operator, waiting.id, RunStatus.SUCCESS), "run after the undo")
    assert not worker.draining
    # The run inside the drain's grace went on where it was, neither handed back nor
    # counted again.
    kept = await operator.get_run(running.id)
    assert (kept.status, kept.attempt, kept.node_id) == (RunStatus.RUNNING, 1, worker.node_id)
    assert (await info(operator, worker.node_id))["draining"] is False
    [undone] = await operator.list_audit(action="node.undrain")
    assert (undone.actor, undone.target) == ("ops", worker.node_id)

    # A drain asked again replaces the undo stored for the node, and is acted on.
    await operator.request_drain(worker.node_id, actor="ops", grace=0)
    await until(lambda: _is(operator, running.id, RunStatus.PENDING), "handed back")
    assert worker.draining


async def test_a_drain_that_is_part_of_a_stop_is_not_undone(
    make_scheduler: MakeScheduler,
) -> None:
    stopping = await make_scheduler(quick, scheduler={"enabled": False})
    other = await make_scheduler(quick, executor={"enabled": False})
    with pytest.raises(ConflictError, match="is not draining"):
        await other.request_undrain(stopping.node_id, actor="ops")

    await stopping.drain(0, stopping=True)  # a worker's SIGTERM
    with pytest.raises(ConflictError, match="is stopping"):
        await stopping.request_undrain(stopping.node_id, actor="ops")
    await until(_async(lambda: _stopping(other, stopping.node_id)), "shown stopping")
    with pytest.raises(ConflictError, match="is stopping"):
        await other.request_undrain(stopping.node_id, actor="ops")
    assert stopping.draining
    assert await other.list_audit(action="node.undrain") == []


async def test_an_undo_already_acted_on_does_not_undo_a_later_drain(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(quick)
    await s.request_drain(s.node_id, actor="ops")
    await s.request_undrain(s.node_id, actor="ops")
    assert not s.draining
    await s.drain(60)  # asked here, not through the store: the stored undo is older
    for _ in range(10):  # heartbeats (0.2 s) reading the stored undo
        await asyncio.sleep(0.1)
        assert s.draining


async def test_a_node_back_after_its_expiry_follows_a_drain_asked_again(
    make_scheduler: MakeScheduler, store: Store
) -> None:
    """The leader's expiry of a silent node deletes its drain request with its row; the
    next request written starts again at version 1, below the versions the node, back
    since (a pause longer than node_expiry), had acted on."""
    worker = await make_scheduler(quick, scheduler={"enabled": False})
    operator = await make_scheduler(quick, executor={"enabled": False})
    await operator.request_drain(worker.node_id, actor="ops")
    await until(_async(lambda: worker.draining), "draining")
    await operator.request_undrain(worker.node_id, actor="ops")
    await until(_async(lambda: not worker.draining), "undrained")

    assert await store.delete_node(worker.node_id)  # as the leader's expiry does
    await until(_async(lambda: _listed(operator, worker.node_id)), "beating again")
    await asyncio.sleep(0.5)  # its look after that beat, finding no request
    await operator.request_drain(worker.node_id, actor="ops")
    await until(_async(lambda: worker.draining), "draining when asked again")


async def _listed(s: Scheduler, node_id: str) -> bool:
    return any(n.id == node_id for n in await s.list_nodes())


async def _is(s: Scheduler, run_id: str, wanted: RunStatus) -> bool:
    return await status(s, run_id) is wanted


async def _stopping(s: Scheduler, node_id: str) -> bool:
    return (await info(s, node_id)).get("stopping") is True


def _async(check: Callable[[], object]) -> Callable[[], Awaitable[bool]]:
    async def checked() -> bool:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        return bool(found)

    return checked
