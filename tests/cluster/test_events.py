"""Across nodes: a live view on one node sees runs executing on another (PostgreSQL
NOTIFY, Redis pub/sub, or the store poll), a run created on one node starts on
another within 100 ms where a notify channel exists, and a node alone notifies nothing
but its presence."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schedkit import EventKind, RunStatus, SchedkitConfig, Scheduler
from schedkit.broadcast.postgres import PostgresTransport
from schedkit.config_sections import ClusterConfig
from tests.conftest import service_url

from .conftest import Worker, management


def case(store: str, kind: str) -> object:
    return pytest.param(store, kind, id=f"{store}-{kind}", marks=pytest.mark.external_service)


def channel(kind: str) -> dict[str, str]:
    """Environment of a worker and config of this process for one kind of channel."""
    if kind == "redis":
        url = service_url("SCHEDKIT_TEST_REDIS_URL")
        return {"SCHEDKIT_CLUSTER__REDIS_URL": url}
    if kind == "poll":
        return {"SCHEDKIT_CLUSTER__NOTIFY": "none"}
    return {}


def cluster_config(kind: str) -> ClusterConfig:
    env = channel(kind)
    return ClusterConfig(
        notify=env.get("SCHEDKIT_CLUSTER__NOTIFY", "auto"),  # type: ignore[arg-type]
        redis_url=env.get("SCHEDKIT_CLUSTER__REDIS_URL"),
        poll_interval=0.3,
    )


@pytest.mark.parametrize(
    ("store_url", "kind"),
    [case("postgres", "notify"), case("mongo", "redis"), case("mongo", "poll")],
    indirect=["store_url"],
)
async def test_live_view_sees_runs_executing_on_another_node(
    cluster_config_path: Path, workers: list[Worker], kind: str
) -> None:
    worker = Worker(cluster_config_path, **channel(kind))
    workers.append(worker)
    node_id = await asyncio.to_thread(worker.ready)
    async with management(cluster_config_path, cluster=cluster_config(kind)) as s:
        with s.subscribe() as queue:
            run = await s.run_now("sleeper", {"seconds": 1.0})
            seen: dict[EventKind, str | None] = {}
            deadline = time.monotonic() + 30
            while EventKind.FINISHED not in seen:
                left = deadline - time.monotonic()
                assert left > 0, f"events seen: {seen}"
                event = await asyncio.wait_for(queue.get(), left)
                if event.run.id == run.id:
                    seen[event.kind] = event.run.node_id
        assert seen[EventKind.STARTED] == node_id
        assert seen[EventKind.FINISHED] == node_id
        assert (await s.get_run(run.id)).status is RunStatus.SUCCESS
    worker.terminate()
    code, err = await asyncio.to_thread(worker.wait)
    assert code == 0, err


@pytest.mark.parametrize(
    ("store_url", "kind"),
    [case("postgres", "notify"), case("mongo", "redis")],
    indirect=["store_url"],
)
async def test_a_run_created_on_one_node_starts_on_another_within_100_ms(
    cluster_config_path: Path, workers: list[Worker], kind: str
) -> None:
    # The worker's own poll is 5 s: only the channel can make it start a run sooner.
    worker = Worker(cluster_config_path, SCHEDKIT_EXECUTOR__POLL_INTERVAL="5", **channel(kind))
    workers.append(worker)
    await asyncio.to_thread(worker.ready)
    async with management(cluster_config_path, cluster=cluster_config(kind)) as s:
        await asyncio.sleep(6)  # past the worker's first poll, so it idles on its timer
        delays = []
        for _ in range(10):
            run = await s.run_now("plain")
            done = await s.wait_for_run(run.id, timeout=30)
            assert done.status is RunStatus.SUCCESS and done.started_at is not None
            delays.append((done.started_at - done.created_at).total_seconds())
            await asyncio.sleep(0.2)
    assert statistics.median(delays) < 0.1, delays
    assert max(delays) < 1.0, delays  # never the 5 s poll
    worker.terminate()
    code, err = await asyncio.to_thread(worker.wait)
    assert code == 0, err


@pytest.mark.parametrize(
    ("store_url", "kind"),
    [case("postgres", "notify"), case("mongo", "redis")],
    indirect=["store_url"],
)
async def test_fires_of_a_scheduler_only_node_start_on_a_worker_at_their_time(
    cluster_config_path: Path, workers: list[Worker], kind: str
) -> None:
    """A node that fires but executes nothing stores each fire pending before its time
    (``fire_ahead``); a worker's claim woken by the fire's creation passes it by, so the
    firing node wakes the workers again at its time. Without that wake-up they started
    at the worker's poll (5 s here): seconds late."""
    worker = Worker(cluster_config_path, SCHEDKIT_EXECUTOR__POLL_INTERVAL="5", **channel(kind))
    workers.append(worker)
    await asyncio.to_thread(worker.ready)
    cfg = SchedkitConfig.load(cluster_config_path)
    cfg = cfg.model_copy(
        update={
            # Taken well ahead, so each fire is stored long before it may start.
            "scheduler": cfg.scheduler.model_copy(update={"fire_ahead": 0.4}),
            "executor": cfg.executor.model_copy(update={"enabled": False}),
            "cluster": cluster_config(kind),
        }
    )
    async with Scheduler(cfg) as s:
        await asyncio.sleep(6)  # past the worker's first poll, so it idles on its timer
        first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        due = {f"f{i}": first + timedelta(milliseconds=700 * i) for i in range(6)}
        for sid, when in due.items():
            await s.add_task(
                "plain", {"trigger": "date", "run_date": when.isoformat()}, schedule_id=sid
            )
        late: dict[str, float] = {}
        for sid, when in due.items():
            deadline = time.monotonic() + 30
            while True:
                found = await s.list_runs(schedule_id=sid)
                if found and found[0].status.finished:
                    break
                assert time.monotonic() < deadline, f"{sid} did not finish: {found}"
                await asyncio.sleep(0.05)
            (run,) = found
            assert run.status is RunStatus.SUCCESS and run.started_at is not None
            assert run.node_id == worker.node_id
            late[sid] = (run.started_at - when).total_seconds()
    assert all(0 <= v < 1.0 for v in late.values()), late  # never the 5 s poll
    assert statistics.median(late.values()) < 0.1, late
    worker.terminate()
    code, err = await asyncio.to_thread(worker.wait)
    assert code == 0, err


async def until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.mark.external_service
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_a_node_alone_notifies_only_its_presence_until_another_says_hello(
    cluster_config_path: Path, store_url: str
) -> None:
    """On the real server, seen from a plain listener on the channel: a node alone runs
    without one NOTIFY per batch of events (they cost CPU on the node and the server);
    once a peer says hello it answers and sends its runs' events; after the peer's bye
    it is quiet again."""
    heard: list[dict[str, Any]] = []
    listener = PostgresTransport(store_url, "test-listener")
    await listener.open(lambda payload: heard.append(json.loads(payload)), lambda _: None)
    try:
        async with Scheduler(SchedkitConfig.load(cluster_config_path)) as s:

            def said() -> list[Any]:
                return [m.get("p") for m in heard if m["n"] == s.node_id]

            def finished(run_id: str) -> bool:
                return any(
                    e["kind"] == "finished" and e["run"]["id"] == run_id
                    for m in heard
                    if m["n"] == s.node_id
                    for e in m.get("e", ())
                )

            alone = [await s.run_now("plain") for _ in range(5)]
            for run in alone:
                assert (await s.wait_for_run(run.id, timeout=30)).status is RunStatus.SUCCESS
            await asyncio.sleep(0.3)  # time for anything sent to arrive
            assert said() == ["hello"]

            await listener.send([json.dumps({"n": "peer", "p": "hello"})])
            await until(lambda: said() == ["hello", "here"], "the answer to a hello")
            run = await s.run_now("plain")
            await until(lambda: finished(run.id), "the run's events")

            await listener.send([json.dumps({"n": "peer", "p": "bye"})])
            await asyncio.sleep(0.3)
            before = len(heard)
            run = await s.run_now("plain")
            assert (await s.wait_for_run(run.id, timeout=30)).status is RunStatus.SUCCESS
            await asyncio.sleep(0.3)
            assert [m for m in heard[before:] if "p" not in m] == []  # presence only
        assert said()[-1] == "bye"
    finally:
        await listener.close()
