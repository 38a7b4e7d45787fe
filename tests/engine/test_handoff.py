"""Runs of tasks with another executor are handed off, each claimable run once (engine
/handoff.py), and the receiving end claims one run per message (Executor.execute_one)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from schedkit import Scheduler, TaskRegistry, task
from schedkit.clock import OffsetClock, SystemClock
from schedkit.engine import runs
from schedkit.engine.handoff import HandOff
from schedkit.errors import (
    ConfigError,
    NotRunningError,
    StoreUnavailableError,
    TaskDefinitionError,
)
from schedkit.models import Run, RunStatus
from schedkit.store import Store, create_store
from schedkit.task import BaseTask
from tests.engine.conftest import fast_config


@task("remote", executor="elsewhere")
async def remote() -> dict[str, object]:
    return {"success": True, "message": "ran"}


@task("homeless", executor="nowhere")
async def homeless() -> dict[str, object]:
    return {"success": True}


@task("here")
async def here() -> dict[str, object]:
    return {"success": True}


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[Store]:
    store = create_store(sqlite_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def handoff(store: Store, resend_after: float = 300.0) -> HandOff:
    registry = TaskRegistry()
    for t in (remote, homeless, here):
        registry.register_task(t)
    return HandOff(
        store=store,
        registry=registry,
        clock=SystemClock(),
        poll_interval=0.05,
        resend_after=resend_after,
        may_send=lambda: True,
    )


async def pending(store: Store, t: BaseTask, *, later: bool = False) -> Run:
    run = runs.manual(t, {}, SystemClock().now(), actor="test")
    if later:  # a retry's back-off: not claimable yet
        run = dataclasses.replace(run, not_before=run.not_before + timedelta(hours=1))
    await store.insert_runs([run])
    return run


async def test_each_claimable_run_is_sent_once(sqlite_store: Store) -> None:
    h = handoff(sqlite_store)
    sent: list[str] = []

    async def send(run: Run) -> None:
        sent.append(run.id)

    h.add("elsewhere", send)
    a, b = await pending(sqlite_store, remote), await pending(sqlite_store, remote)
    await pending(sqlite_store, here)  # executed by schedkit nodes: never handed off
    await pending(sqlite_store, remote, later=True)
    assert await h.send_due() == 2
    assert sorted(sent) == sorted([a.id, b.id])
    assert await h.send_due() == 0


async def test_a_run_created_during_a_pass_is_sent_without_waiting_for_the_poll(
    sqlite_store: Store,
) -> None:
    h = handoff(sqlite_store)
    h.poll_interval = 60.0  # far beyond the test's deadline: only a wake-up can send
    sent: list[str] = []
    second: list[Run] = []
    both = asyncio.Event()

    async def send(run: Run) -> None:
        sent.append(run.id)
        if len(sent) == 2:
            both.set()
        if not second:  # a run created (and its wake-up given) while this pass sends
            second.append(await pending(sqlite_store, remote))
            h.wake()

    h.add("elsewhere", send)
    first = await pending(sqlite_store, remote)
    loop = asyncio.create_task(h.loop())
    try:
        await asyncio.wait_for(both.wait(), 10)
    finally:
        loop.cancel()
    assert sent == [first.id, second[0].id]


async def test_a_run_still_pending_after_resend_after_is_sent_again(sqlite_store: Store) -> None:
    h = handoff(sqlite_store, resend_after=1e-9)
    sent: list[str] = []

    async def send(run: Run) -> None:
        sent.append(run.id)

    h.add("elsewhere", send)
    run = await pending(sqlite_store, remote)
    await h.send_due()
    await h.send_due()
    assert sent == [run.id, run.id]


async def test_a_failed_send_is_tried_again_on_the_next_pass(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    h = handoff(sqlite_store)
    calls: list[str] = []

    async def flaky(run: Run) -> None:
        calls.append(run.id)
        if len(calls) == 1:
            raise ConnectionError("broker down")

    h.add("elsewhere", flaky)
    run = await pending(sqlite_store, remote)
    later = await pending(sqlite_store, remote)
    with caplog.at_level(logging.WARNING, "schedkit.engine.handoff"):
        assert await h.send_due() == 0
    # One line per pass, and the pass stops there: the broker is likely down.
    assert caplog.text.count("broker down") == 1 and len(calls) == 1
    assert await h.send_due() == 2
    assert sorted(calls[1:]) == sorted([run.id, later.id])


async def test_a_task_whose_executor_is_not_installed_is_reported_once(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    h = handoff(sqlite_store)

    async def send(run: Run) -> None:  # pragma: no cover - nothing of this executor
        raise AssertionError

    h.add("elsewhere", send)
    await pending(sqlite_store, homeless)
    with caplog.at_level(logging.WARNING, "schedkit.engine.handoff"):
        await h.send_due()
        await h.send_due()
    assert caplog.text.count("executor 'nowhere'") == 1


async def test_the_local_executor_cannot_be_replaced_and_a_sender_is_removable(
    sqlite_store: Store,
) -> None:
    h = handoff(sqlite_store)

    async def send(run: Run) -> None:  # pragma: no cover - never called
        raise AssertionError

    with pytest.raises(ValueError, match="local"):
        h.add("local", send)
    remove = h.add("elsewhere", send)
    remove()
    assert h.senders == {}


def test_an_executor_must_be_a_name() -> None:
    with pytest.raises(TaskDefinitionError, match="executor must be a name"):
        task("bad", executor="no such thing")(lambda: None)
    with pytest.raises(TaskDefinitionError, match="executor must be a name"):

        class Bad(BaseTask):
            executor = ""


async def test_a_node_sends_and_another_executes_one_run_per_message(sqlite_url: str) -> None:
    """The façade's two ends on one store: the sender sees a manual run once, the
    executing node claims it, and a second message for it finds nothing to claim."""
    registry = TaskRegistry()
    registry.register_task(remote)
    sent: list[Run] = []

    async def send(run: Run) -> None:
        sent.append(run)

    async with (
        Scheduler(fast_config(sqlite_url), registry=registry) as sender,
        Scheduler(
            fast_config(sqlite_url, scheduler={"enabled": False}, executor={"tasks": []}),
            registry=registry,
        ) as worker,
    ):
        sender.add_executor("elsewhere", send)
        run = await sender.run_now("remote")
        assert run.status is RunStatus.PENDING  # never claimed at creation by the sender
        deadline = sender.clock.now() + timedelta(seconds=10)
        while not sent and sender.clock.now() < deadline:
            await sender.wait_for_run(run.id, 0.05)
        assert [r.id for r in sent] == [run.id]
        done = await worker.execute_handed_off(run.id, "remote")
        assert done is not None and done.id == run.id and done.status is RunStatus.SUCCESS
        assert done.node_id == worker.node_id
        assert await worker.execute_handed_off(run.id, "remote") is None
    with pytest.raises(NotRunningError):
        await worker.execute_handed_off(run.id, "remote")


async def test_the_worker_executes_the_run_its_message_names_or_nothing(sqlite_url: str) -> None:
    """Not another run of the task; not a run cancelled meanwhile; a run sent before its
    time by this node's clock (the sender's runs ahead) is waited for, briefly."""
    registry = TaskRegistry()
    registry.register_task(remote)
    behind = OffsetClock(timedelta(seconds=-0.5))
    async with (
        Scheduler(fast_config(sqlite_url), registry=registry) as sender,
        Scheduler(
            fast_config(sqlite_url, scheduler={"enabled": False}, executor={"tasks": []}),
            registry=registry,
            clock=behind,
        ) as worker,
    ):
        named = await sender.run_now("remote")
        other = await sender.run_now("remote")
        cancelled = await sender.run_now("remote")
        await sender.cancel_run(cancelled.id)
        done = await worker.execute_handed_off(named.id, "remote")
        assert done is not None and done.id == named.id and done.status is RunStatus.SUCCESS
        assert (await sender.get_run(other.id)).status is RunStatus.PENDING
        assert await worker.execute_handed_off(cancelled.id, "remote") is None
        assert await worker.execute_handed_off(other.id, "no_such_task") is None
        later = await sender.store.insert_runs(
            [
                dataclasses.replace(
                    runs.manual(remote, {}, sender.clock.now(), actor="test"),
                    not_before=sender.clock.now() + timedelta(hours=1),
                )
            ]
        )
        assert await worker.execute_handed_off(later[0], "remote") is None


class Plugin:
    """An extension named in the configuration (``extensions``)."""

    def __init__(self) -> None:
        self.hosts: list[object] = []

    async def start(self, host: object) -> None:
        self.hosts.append(host)

    async def stop(self) -> None:
        pass


PLUGIN = Plugin()


async def test_extensions_named_in_the_configuration_start_with_the_node(sqlite_url: str) -> None:
    config = fast_config(sqlite_url, extensions=["tests.engine.test_handoff:PLUGIN"])
    async with Scheduler(config, registry=TaskRegistry()) as s:
        assert PLUGIN in s.extensions and PLUGIN.hosts[-1] is s


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no_colon", "expected 'module:attribute'"),
        ("tests.engine.no_such_module:x", "cannot be loaded"),
        ("tests.engine.test_handoff:MISSING", "cannot be loaded"),
        ("tests.engine.test_handoff:here", "no start"),
    ],
)
def test_an_extension_that_cannot_be_loaded_is_a_config_error(
    sqlite_url: str, ref: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Scheduler(fast_config(sqlite_url, extensions=[ref]), registry=TaskRegistry())


async def test_a_run_outside_a_pass_s_batch_is_not_sent_again_when_it_comes_back(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog larger than one pass reads: runs are listed newest first, so a run
    sent earlier drops out of the batch while newer ones wait; it keeps its send time."""
    monkeypatch.setattr("schedkit.engine.handoff.SEND_BATCH", 1)
    h = handoff(sqlite_store)
    sent: list[str] = []

    async def send(run: Run) -> None:
        sent.append(run.id)

    h.add("elsewhere", send)
    first = await pending(sqlite_store, remote)
    await h.send_due()
    newer = await pending(sqlite_store, remote)
    await h.send_due()
    await sqlite_store.request_cancel(newer.id, SystemClock().now(), "test")
    await h.send_due()
    assert sent == [first.id, newer.id]


async def test_a_store_error_while_reading_pending_runs_is_retried(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    h = handoff(sqlite_store)
    sent = asyncio.Event()

    async def send(run: Run) -> None:
        sent.set()

    h.add("elsewhere", send)
    await pending(sqlite_store, remote)
    real = sqlite_store.list_runs
    failures = [StoreUnavailableError("the database is restarting")]

    async def flaky_list_runs(*args: Any, **kwargs: Any) -> list[Run]:
        if failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(sqlite_store, "list_runs", flaky_list_runs)
    loop = asyncio.create_task(h.loop())
    try:
        with caplog.at_level(logging.WARNING, "schedkit.engine.handoff"):
            await asyncio.wait_for(sent.wait(), 10)
    finally:
        loop.cancel()
    assert "the database is restarting" in caplog.text


async def test_a_stopping_node_takes_no_handed_off_run(sqlite_url: str) -> None:
    registry = TaskRegistry()
    registry.register_task(remote)
    async with Scheduler(fast_config(sqlite_url), registry=registry) as s:
        run = await s.run_now("remote")
        s._executor.slots.close()  # what stop() does first
        with pytest.raises(NotRunningError, match="stopping"):
            await s.execute_handed_off(run.id, "remote")
        assert (await s.get_run(run.id)).status is RunStatus.PENDING


async def test_an_executor_not_installed_is_reported_once_on_a_node_without_any(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No sender installed at all (no Celery extension): the lease holder still says once
    that the task's runs wait for an executor it does not have."""
    registry = TaskRegistry()
    registry.register_task(homeless)
    with caplog.at_level(logging.WARNING, "schedkit.engine.handoff"):
        async with Scheduler(fast_config(sqlite_url), registry=registry) as node:
            await node.run_now("homeless")
            for _ in range(100):
                if node.is_leader and "executor 'nowhere'" in caplog.text:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # several more passes (poll_interval 0.05 s)
    assert caplog.text.count("task homeless uses executor 'nowhere'") == 1
