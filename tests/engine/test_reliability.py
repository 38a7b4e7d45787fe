"""Regression tests of issue #16 (reliability), one or more per hole found, on every store.

Each test reproduces what was observed (through the façade, real stores, real node
processes where a crash is involved) and fails on the engine before the fix; the
docstring names the hole.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schedkit import RunStatus, Scheduler, TaskContext, TaskRegistry, task
from schedkit.engine import runs as engine_runs
from schedkit.engine import work
from schedkit.errors import StoreUnavailableError
from schedkit.events import EventKind, RunEvent
from schedkit.models import Run, TriggerSource
from schedkit.store import create_store
from schedkit.store.values import LostRun

from .conftest import MakeScheduler, fast_config
from .nodes import Node, read_marks
from .proc_tasks import long_job, quick
from .taps import intercept, manual_run, until

#: FAST's lost_after + two heartbeat intervals (the reaper's cadence), plus slack for a
#: loaded 2-core machine and this test's polling.
LOST_BOUND = 3.0 + 0.2 + 0.2 + 1.5

sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _registry(*tasks: Any) -> TaskRegistry:
    registry = TaskRegistry()
    for t in tasks:
        registry.register_task(t)
    return registry


# -- a run whose node died before its end was written --------------------------------------


async def test_a_node_killed_while_writing_a_run_end_has_the_run_lost_in_time(
    store_url: str, tmp_path: Path
) -> None:
    """Hole: on MongoDB a run whose node was killed right after its task returned (the
    end's fence taken, the run not yet written) stayed ``running`` for 30 s and more."""
    worker = Node(
        store_url,
        tmp_path / "marks.jsonl",
        tasks=["quick"],
        scheduler={"enabled": False},
        die_in="finish",
    )
    await worker.ready()
    survivor = Scheduler(
        fast_config(store_url, executor={"enabled": False}), registry=_registry(quick)
    )
    await survivor.start()
    try:
        run = manual_run("quick")
        await survivor.store.insert_runs([run])

        async def died() -> bool:
            return worker.proc.poll() is not None

        await until(died, timeout=30)
        died_at = time.monotonic()

        async def judged() -> Run | None:
            current = await survivor.get_run(run.id)
            return None if current.status is RunStatus.RUNNING else current

        current = await until(judged, timeout=LOST_BOUND + 10)
        assert time.monotonic() - died_at <= LOST_BOUND
        if current.attempt_errors:  # nothing of the end was stored: lost, then retried
            assert current.attempt_errors[0]["status"] == "lost"
            assert (current.status, current.attempt) == (RunStatus.PENDING, 2)
        else:  # the end was decided (MongoDB: its fence held it): completed as decided
            assert (current.status, current.attempt) == (RunStatus.SUCCESS, 1)
        assert [m["event"] for m in read_marks(tmp_path / "marks.jsonl")] == ["quick"]
    finally:
        await survivor.stop(grace=1)
        worker.stop()


# -- schedule writes: compare-and-set ------------------------------------------------------


@task("edited", category="t")
async def edited(n: int = 0) -> None:
    return None


async def test_concurrent_edits_of_one_schedule_one_wins_the_other_conflicts(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: two concurrent add_task calls on one schedule both returned version 2 with
    different kwargs, and the store kept one of them."""
    a = await make_scheduler(edited)
    b = await make_scheduler(edited, scheduler={"enabled": False})
    await a.add_task("edited", {"trigger": "interval", "seconds": 60, "kwargs": {"n": 0}})
    # Both editors read the schedule before either writes.
    barrier = asyncio.Barrier(2)

    async def read_then_wait(original: Any, *args: Any) -> Any:
        found = await original(*args)
        await barrier.wait()
        return found

    for s in (a, b):
        intercept(s.store, "get_schedule", read_then_wait)
    results = await asyncio.gather(
        *(
            s.add_task("edited", {"trigger": "interval", "seconds": 60, "kwargs": {"n": n}})
            for n, s in ((1, a), (2, b))
        ),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert [type(e).__name__ for e in errors] == ["ScheduleConflictError"], results
    [winner] = [r for r in results if not isinstance(r, BaseException)]
    async with create_store(a.config.store_url) as store:
        stored = await store.get_schedule("edited")
    assert stored is not None
    assert (stored.version, stored.kwargs) == (winner.version, winner.kwargs)


# -- queued runs and their blockers ------------------------------------------------------


async def test_a_cancelled_queued_run_stays_cancelled_when_its_blocker_ends(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: the release of runs ``blocked_by`` an ending run was not fenced (MongoDB): a
    queued run cancelled at that instant could come back to pending and run."""
    release = asyncio.Event()

    @task("queued", category="t")
    async def queued(round: int) -> None:
        await release.wait()

    s = await make_scheduler(queued)
    cancelled: list[str] = []
    for round_ in range(4):
        release.clear()
        config = {"trigger": "interval", "seconds": 0.3, "kwargs": {"round": round_}}
        sid = f"queued-{round_}"
        await s.add_task(
            "queued", {**config, "max_instances": 1, "overlap": "queue_one"}, schedule_id=sid
        )

        async def blocked(sid: str = sid) -> list[Run]:
            runs = await s.list_runs(schedule_id=sid, status=RunStatus.PENDING, limit=10)
            return [r for r in runs if r.blocked_by is not None]

        [waiting] = await until(blocked, timeout=10)
        await s.delete_schedule(sid)
        # Cancel the queued run as its blocker ends.
        cancel = asyncio.create_task(s.cancel_run(waiting.id))
        release.set()
        if (await cancel).status is RunStatus.CANCELLED:
            # The cancel won (a cancel arriving after the release and the claim asks
            # the running run to stop instead, which is not this race).
            cancelled.append(waiting.id)
        await until(lambda: _settled(s, "queued"), timeout=10)
    assert cancelled, "no round where the cancel came first"
    await asyncio.sleep(1.0)  # a run that came back would have been claimed by now
    runs = {r.id: r for r in await s.list_runs("queued", limit=100)}
    assert [runs[i].status for i in cancelled] == [RunStatus.CANCELLED] * len(cancelled)


async def _settled(s: Scheduler, task_name: str) -> bool:
    return await s.count_runs(task_name, status=RunStatus.RUNNING) == 0


# -- the leader's writes carry its lease -----------------------------------------------------


@task("every_second", category="t")
async def every_second() -> None:
    return None


class _Gate:
    """Holds calls of one store method at its door while armed."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        self.armed = True

    async def __call__(self, original: Any, *args: Any, **kwargs: Any) -> Any:
        if self.armed:
            self.armed = False
            self.entered.set()
            await self.opened.wait()
        return await original(*args, **kwargs)


async def _lease_ops_fail(original: Any, *args: Any, **kwargs: Any) -> Any:
    raise StoreUnavailableError("the scheduler lease cannot be reached from this node")


async def test_a_tick_written_after_the_lease_expired_writes_nothing(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: leadership was checked when a tick was planned, not when it was written: a
    tick waiting on a slow write still inserted runs and advanced schedules after its
    node's lease had expired and another node held it."""
    s = await make_scheduler(every_second)
    await s.add_task("every_second", {"trigger": "interval", "seconds": 1})

    async def fired() -> int:
        return await s.count_runs("every_second")

    await until(fired, timeout=10)
    gate = _Gate()
    intercept(s.store, "record_fires", gate)
    await asyncio.wait_for(gate.entered.wait(), 5)
    # The node loses the store for its lease; its lease expires; another node takes it.
    for name in ("renew_lease", "acquire_lease"):
        intercept(s.store, name, _lease_ops_fail)
    async with create_store(s.config.store_url) as other:

        async def taken() -> object:
            return await other.acquire_lease("scheduler", "intruder", 60, datetime.now(UTC))

        await until(taken, timeout=10)
        before = await other.list_runs(limit=1000)
        schedule_before = await other.get_schedule("every_second")
        gate.opened.set()
        await asyncio.sleep(1.0)
        assert await other.list_runs(limit=1000) == before
        assert await other.get_schedule("every_second") == schedule_before


async def test_replace_cancels_nothing_when_its_tick_is_not_written(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: the ``replace`` overlap policy cancelled the active runs before the tick's
    version check: a fire that was never written (the schedule paused meanwhile on
    another node) still cancelled the running run."""
    release = asyncio.Event()

    @task("replaced", category="t")
    async def replaced() -> None:
        await release.wait()

    a = await make_scheduler(replaced)
    b = await make_scheduler(replaced, scheduler={"enabled": False}, executor={"enabled": False})
    await a.add_task(
        "replaced",
        {"trigger": "interval", "seconds": 1, "max_instances": 1, "overlap": "replace"},
    )

    async def running() -> list[Run]:
        return await a.list_runs("replaced", status=RunStatus.RUNNING)

    [first] = await until(running, timeout=10)
    gate = _Gate()
    intercept(a.store, "record_fires", gate)
    await asyncio.wait_for(gate.entered.wait(), 5)
    await b.pause_task("replaced")
    gate.opened.set()
    await asyncio.sleep(1.0)
    assert (await a.get_run(first.id)).status is RunStatus.RUNNING
    release.set()
    assert (await a.wait_for_run(first.id, timeout=10)).status is RunStatus.SUCCESS


# -- the reaper's verdict is one step ---------------------------------------------------------


async def test_a_reaper_killed_mid_verdict_leaves_the_run_retryable(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hole: the reaper marked a run lost, then requeued it in a second step: a leader
    killed in between left a ``lost`` run with retries left that never retried."""
    monkeypatch.setenv("SCHEDKIT_TEST_MARKER", str(tmp_path / "marks.jsonl"))
    leader = Node(
        store_url,
        tmp_path / "marks.jsonl",
        tasks=["long_job"],
        executor={"enabled": False},
        die_in="requeue",
    )
    await leader.ready()
    async with create_store(store_url) as store:

        async def leads() -> bool:
            lease = await store.get_lease("scheduler")
            return lease is not None and lease.holder == leader.node_id

        await until(leads, timeout=10)
        run = manual_run("long_job")
        await store.insert_runs([run])
        # A node that claims the run, then dies at once (it never heartbeats).
        [claimed] = await store.claim_runs("ghost", datetime.now(UTC), 1)
        assert claimed.id == run.id
        survivor = Scheduler(fast_config(store_url), registry=_registry(long_job))
        await survivor.start()
        try:
            done = await survivor.wait_for_run(run.id, timeout=LOST_BOUND + 15)
        finally:
            await survivor.stop(grace=1)
            leader.stop()
    assert done.status is RunStatus.SUCCESS and done.attempt == 2
    assert done.attempt_errors[0]["status"] == "lost"


# -- a run's end: retried writes, events, dependents ---------------------------------------


class _AckLostOnce:
    """The first call is written, then its answer is lost (the connection drops)."""

    def __init__(self) -> None:
        self.happened = False

    async def __call__(self, original: Any, *args: Any) -> Any:
        applied = await original(*args)
        if not self.happened:
            self.happened = True
            raise StoreUnavailableError("connection reset before the commit was acknowledged")
        return applied


@task("upstream", category="t")
async def upstream() -> None:
    return None


@task("downstream", category="t", depends_on=("upstream",))
async def downstream() -> None:
    return None


async def test_a_finish_whose_acknowledgement_was_lost_is_announced_and_starts_dependents(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: a finish whose commit acknowledgement was lost was retried, got False, and
    the outcome was logged "dropped": no FINISHED event, no dependent runs."""
    s = await make_scheduler(upstream, downstream)
    finished: list[RunEvent] = []
    s.add_listener(finished.append, [EventKind.FINISHED])
    lost_once = _AckLostOnce()
    intercept(s.store, "finish_runs", lost_once)
    run = await s.run_now("upstream", wait=True, timeout=15)
    # The wait may see the committed end before the write's answer is lost: the fault
    # is checked once the dependent ran (created only after the end was recognised).
    assert run.status is RunStatus.SUCCESS

    async def dependent_done() -> list[Run]:
        return await s.list_runs("downstream", status=RunStatus.SUCCESS)

    await until(dependent_done, timeout=15)
    assert lost_once.happened
    assert [e.run.id for e in finished if e.run.task_name == "upstream"] == [run.id]


async def test_dependent_runs_are_created_through_a_store_error(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: the runs of dependent tasks were dropped when creating them hit a store
    error."""
    s = await make_scheduler(upstream, downstream)
    failed: list[bool] = []

    async def first_dependents_fail(original: Any, runs: Any) -> Any:
        if not failed and any(r.task_name == "downstream" for r in runs):
            failed.append(True)
            raise StoreUnavailableError("store restarting")
        return await original(runs)

    intercept(s.store, "insert_runs", first_dependents_fail)
    await s.run_now("upstream", wait=True, timeout=15)

    async def dependent_done() -> list[Run]:
        return await s.list_runs("downstream", status=RunStatus.SUCCESS)

    await until(dependent_done, timeout=15)
    assert failed


async def test_a_dependent_run_is_announced_and_starts_without_waiting_for_a_poll(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: a dependent run was stored silently — no ``created`` event (the console's
    live view, the API's event stream and listeners never saw it born) — and no claim
    loop was told of it: here the upstream's end happened to wake the local one, other
    nodes waited for their next poll. The start is checked here against a 30 s poll."""
    s = await make_scheduler(upstream, downstream, executor={"poll_interval": 30})
    events: list[RunEvent] = []
    s.add_listener(events.append, [EventKind.CREATED, EventKind.FINISHED])
    source = await s.run_now("upstream", wait=True, timeout=10)
    assert source.status is RunStatus.SUCCESS

    async def dependent_done() -> list[Run]:
        return await s.list_runs("downstream", status=RunStatus.SUCCESS)

    # Well inside the 30 s poll: only a wake-up at its creation starts it this soon.
    [dependent] = await until(dependent_done, timeout=10)
    assert dependent.trigger_source is TriggerSource.DEPENDENCY
    # Its end is stored a moment before it is announced: a wait returns after both.
    await s.wait_for_run(dependent.id, timeout=5)
    created = [e.run.id for e in events if e.kind is EventKind.CREATED]
    assert created == [source.id, dependent.id]
    assert [e.kind for e in events if e.run.id == dependent.id] == [
        EventKind.CREATED,
        EventKind.FINISHED,
    ]


async def test_dependent_runs_stored_with_their_answer_lost_are_announced(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: the dependent runs' insert committed and its answer was lost; the retry
    inserted nothing (the same ids, already stored), so the runs, stored and executed,
    were never announced (no ``created`` event)."""
    s = await make_scheduler(upstream, downstream)
    lost_once = _AckLostOnce()

    async def dependents_answer_lost(original: Any, runs: Any) -> Any:
        if any(r.task_name == "downstream" for r in runs):
            return await lost_once(original, runs)
        return await original(runs)

    intercept(s.store, "insert_runs", dependents_answer_lost)
    created: list[RunEvent] = []
    s.add_listener(created.append, [EventKind.CREATED])
    await s.run_now("upstream", wait=True, timeout=15)

    async def dependent_announced() -> list[RunEvent]:
        return [e for e in created if e.run.task_name == "downstream"]

    [announced] = await until(dependent_announced, timeout=15)
    assert lost_once.happened
    stored = await s.list_runs("downstream")
    assert [run.id for run in stored] == [announced.run.id]


async def test_a_manual_run_stored_with_its_answer_lost_starts_and_is_returned(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: a manual run's insert committed and its answer was lost. The run was
    stored running on this node but never started, the caller got the store's error
    (and would trigger the task again), and after ``lost_after`` the reaper judged the
    run lost — a lost-run alert for a run that never began."""
    s = await make_scheduler(upstream)
    lost_once = _AckLostOnce()
    intercept(s.store, "insert_runs", lost_once)
    events: list[RunEvent] = []
    s.add_listener(events.append, [EventKind.CREATED, EventKind.LOST])
    run = await s.run_now("upstream", wait=True, timeout=15)
    assert lost_once.happened
    assert run.status is RunStatus.SUCCESS
    assert run.attempt == 1
    assert [r.id for r in await s.list_runs("upstream")] == [run.id]
    assert [(e.kind, e.run.id) for e in events] == [(EventKind.CREATED, run.id)]


# -- sync tasks: timeouts, threads, hooks --------------------------------------------------


@sqlite_only
async def test_sync_timeouts_count_from_the_body_start_and_every_body_starts(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole, as measured: 2 threads, timeout 0.3 s, a body sleeping 3 s that ignores
    ``ctx.cancelled``, three runs: all three were recorded ``timeout`` about 3 s after
    creation, and the third body never started."""
    bodies: dict[str, float] = {}

    @task("sleeper", category="t", timeout=0.3, retry={"max_retries": 0})
    def sleeper(ctx: TaskContext) -> None:
        bodies[ctx.run_id] = time.time()
        time.sleep(3)

    s = await make_scheduler(sleeper, executor={"max_workers": 2})
    runs = [await s.run_now("sleeper") for _ in range(3)]
    done = [await s.wait_for_run(r.id, timeout=15) for r in runs]
    assert [d.status for d in done] == [RunStatus.TIMEOUT] * 3
    assert set(bodies) == {r.id for r in runs}  # the third body started too
    # The third waited for a thread (a timed-out body keeps its thread until it returns).
    third = runs[2]
    assert bodies[third.id] - third.created_at.timestamp() >= 2.5
    for d in done:
        assert d.finished_at is not None
        late = d.finished_at.timestamp() - bodies[d.id]
        # Counted from the body's start, not the run's creation (the third would then
        # have ended before its body started); recorded at the timeout, not when the 3 s
        # body ends (slack for a loaded CI machine: 1.08 s seen). The timer starts when
        # the attempt holds its thread, and the body starts on it a moment later: 0.19 s
        # after the body for a 0.3 s timeout was seen on a loaded CI machine.
        assert 0.0 < late < 2.0, (d.id, late)


@sqlite_only
async def test_a_body_that_never_returns_still_ends_its_run(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: ``on_failure`` of a sync task needed a pool thread: with the only thread held
    by a body that never returns, the timed-out run stayed ``running`` (heartbeating)
    forever."""
    stuck = threading.Event()
    hooked: list[str] = []

    @task("hung", category="t", timeout=0.3, retry={"max_retries": 0})
    def hung() -> None:
        stuck.wait(30)

    hung.on_failure = lambda exc: hooked.append(type(exc).__name__)  # type: ignore[method-assign]
    s = await make_scheduler(hung, executor={"max_workers": 1})
    try:
        done = await s.run_now("hung", wait=True, timeout=5)
        assert done.status is RunStatus.TIMEOUT
        assert hooked == ["TimeoutError"]
    finally:
        stuck.set()


async def test_async_work_that_ignores_its_timeout_or_cancel_still_ends_its_run(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chaos audit: an async task catching ``CancelledError`` at its 2 s timeout and
    going on was recorded ``success`` 10 s later; one that looped forever stayed
    ``running`` (heartbeating) past its timeout and its cancel, and held the node's stop
    for 93 s, past systemd's TimeoutStopSec."""
    monkeypatch.setattr(work, "ABANDON_AFTER", 0.5)
    # Set only at the end: abandoned work goes on until then (asyncio.run would wait for
    # it at exit, as a process does for a thread that never returns).
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue

    @task("swallows", category="t", timeout=0.3, retry={"max_retries": 0})
    async def swallows() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # catches it, finishes its work, and returns
        return "done anyway"

    @task("endless", category="t", timeout=0.3, retry={"max_retries": 0})
    async def endless() -> None:
        await stubborn()

    @task("deaf", category="t", retry={"max_retries": 0})
    async def deaf() -> None:
        await stubborn()

    s = await make_scheduler(swallows, endless, deaf)
    try:
        await _stop_what_ignores_stopping(s)
    finally:
        released.set()


async def _stop_what_ignores_stopping(s: Scheduler) -> None:
    done = await s.run_now("swallows", wait=True, timeout=10)
    assert (done.status, done.result) == (RunStatus.TIMEOUT, None)
    began = time.monotonic()
    done = await s.run_now("endless", wait=True, timeout=10)
    assert done.status is RunStatus.TIMEOUT
    assert time.monotonic() - began < 0.3 + 0.5 + 1.5  # timeout, then abandoned
    run = await s.run_now("deaf")

    async def running() -> bool:
        return (await s.get_run(run.id)).status is RunStatus.RUNNING

    await until(running, timeout=10)
    await s.cancel_run(run.id, actor="ops")
    done = await s.wait_for_run(run.id, timeout=5)
    assert done.status is RunStatus.CANCELLED
    # And a node stopping with such a run ends within its grace and the abandon bound.
    await s.run_now("deaf")
    began = time.monotonic()
    await s.stop(grace=0.5)
    assert time.monotonic() - began < 0.5 + 0.5 + 3.0


@sqlite_only
async def test_a_cancelled_run_task_still_writes_the_run_end(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: cancelling a run's asyncio task (the event loop shutting down) skipped the
    write of its end: the run stayed ``running`` until the reaper took it for lost."""
    started = asyncio.Event()

    @task("interrupted", category="t", retry={"max_retries": 0})
    async def interrupted() -> None:
        started.set()
        await asyncio.sleep(60)

    s = await make_scheduler(interrupted)
    run = await s.run_now("interrupted")
    await asyncio.wait_for(started.wait(), 5)
    [task_] = [t for t in asyncio.all_tasks() if t.get_name() == f"schedkit-run-{run.id}"]
    task_.cancel()
    done = await s.wait_for_run(run.id, timeout=5)
    assert done.status is RunStatus.CANCELLED and done.finished_at is not None


# -- liveness: silent runs of live nodes ---------------------------------------------------


async def test_a_live_node_keeps_its_runs_while_their_heartbeats_lag(
    make_scheduler: MakeScheduler,
) -> None:
    """Hole: with the store slow (claims of 1.5-3.9 s on FerretDB), run heartbeats queued
    behind claims and runs executing on a live node were marked lost and retried."""
    release = asyncio.Event()
    attempts: list[int] = []

    @task("steady", category="t")
    async def steady(ctx: TaskContext) -> None:
        attempts.append(ctx.attempt)
        await release.wait()

    s = await make_scheduler(steady)
    run = await s.run_now("steady")

    async def started() -> bool:
        return bool(attempts)

    await until(started, timeout=10)

    async def lagging(original: Any, *args: Any) -> Any:
        await asyncio.sleep(3600)  # stuck behind a slow store

    intercept(s.store, "heartbeat_runs", lagging)
    await asyncio.sleep(LOST_BOUND + 1)  # well past lost_after without a run heartbeat
    current = await s.get_run(run.id)
    assert current.status is RunStatus.RUNNING and current.attempt == 1, current
    assert current.attempt_errors == []
    release.set()
    done = await s.wait_for_run(run.id, timeout=10)
    assert (done.status, done.attempt, attempts) == (RunStatus.SUCCESS, 1, [1])


def _judged_lost(run_id: str, node_id: str, *, retry: bool) -> LostRun:
    """The verdict of a reaper that still reaches the store on a first attempt, silent
    whatever its heartbeat (``retry``: sent back to pending at once)."""
    now = datetime.now(UTC)
    return LostRun(
        run_id=run_id,
        attempt=1,
        node_id=node_id,
        stale_before=now + timedelta(hours=1),
        now=now,
        retry_at=now if retry else None,
        attempt_error={"attempt": 1, "status": "lost"},
        reason="node stopped heartbeating",
    )


async def test_a_node_stops_a_run_the_store_took_from_it(make_scheduler: MakeScheduler) -> None:
    """A chaos audit: a node cut off from the store past ``lost_after`` had its run
    judged lost and retried elsewhere; once it reached the store again it went on running
    its copy for another 22 s (its heartbeat only learned of cancels), so the run's code
    ran on two nodes at once until the old attempt ended and its outcome was dropped."""
    cancelled = asyncio.Event()

    @task("cut_off", category="t", retry={"max_retries": 0})
    async def cut_off(ctx: TaskContext) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    s = await make_scheduler(cut_off)
    run = await s.run_now("cut_off")

    async def running() -> bool:
        return (await s.get_run(run.id)).status is RunStatus.RUNNING

    await until(running, timeout=10)
    # What the reaper of a node that still reaches the store decides about this one.
    assert await s.store.lose_runs([_judged_lost(run.id, s.node_id, retry=False)]) == [True]
    began = time.monotonic()
    await asyncio.wait_for(cancelled.wait(), 5)
    assert time.monotonic() - began < 2.0  # within a few heartbeats (0.2 s), not 60 s
    ended = await s.get_run(run.id)
    assert ended.status is RunStatus.LOST, "the store's verdict stands"


async def test_a_node_claiming_the_retry_of_its_own_lost_run_stops_the_old_attempt_first(
    make_scheduler: MakeScheduler,
) -> None:
    """A chaos audit (FerretDB, a worker paused 30 s): the verdict on its run landed
    after the node's first heartbeat since waking, and the node claimed the retry
    itself. Its old attempt was never stopped (the new one, keyed by the same run id,
    vouched for it): the two attempts ran at once for 2 minutes, the older unseen by
    the store, and the node logged a KeyError at exit."""
    marks: list[tuple[str, int]] = []

    @task("paused_away", category="t", retry={"max_retries": 1, "retry_delay": 0})
    async def paused_away(ctx: TaskContext) -> None:
        marks.append(("start", ctx.attempt))
        try:
            if ctx.attempt == 1:
                await asyncio.sleep(60)
        finally:
            marks.append(("end", ctx.attempt))

    # No heartbeat before the claim: the node learns of the verdict by the claim alone
    # (lost_after above the heartbeats: a config with it under them is refused; and
    # node_expiry at lost_after or more, else a warning).
    quiet = {"heartbeat_interval": 60, "lost_after": 600, "node_expiry": 600}
    s = await make_scheduler(paused_away, scheduler=quiet)
    run = await s.run_now("paused_away")

    async def started() -> bool:
        return marks == [("start", 1)]

    await until(started, timeout=10)
    assert await s.store.lose_runs([_judged_lost(run.id, s.node_id, retry=True)]) == [True]
    ended = await s.wait_for_run(run.id, timeout=10)
    assert (ended.status, ended.attempt) == (RunStatus.SUCCESS, 2)
    assert marks == [("start", 1), ("end", 1), ("start", 2), ("end", 2)]


async def test_a_run_orphaned_on_a_live_node_is_still_recovered(
    make_scheduler: MakeScheduler,
) -> None:
    """The other side of the rule above: a run the store says is running on a live node
    that does not know of it (the claim's answer never reached it) is lost and retried."""
    attempts: list[int] = []

    @task("orphan", category="t")
    async def orphan(ctx: TaskContext) -> None:
        attempts.append(ctx.attempt)

    s = await make_scheduler(orphan, executor={"tasks": []})
    run = manual_run("orphan")
    await s.store.insert_runs([run])
    [claimed] = await s.store.claim_runs(s.node_id, datetime.now(UTC), 1)
    assert claimed.node_id == s.node_id and s.running_count == 0
    started = time.monotonic()

    async def judged() -> Run | None:
        current = await s.get_run(run.id)
        return current if current.attempt_errors else None

    current = await until(judged, timeout=LOST_BOUND + 10)
    assert time.monotonic() - started <= LOST_BOUND + 0.5
    assert current.attempt_errors[0]["status"] == "lost"
    assert current.status is RunStatus.PENDING and current.attempt == 2


async def test_a_lost_run_s_retry_starts_at_its_time_not_at_the_poll(
    make_scheduler: MakeScheduler,
) -> None:
    """A run judged lost with a retry left is stored pending until its retry time: the
    claim the verdict wakes passes it by, and it waited for the executor's next poll
    (30 s here) instead of starting at its time."""
    attempts: list[int] = []

    @task("orphan_retried", category="t", retry={"max_retries": 1, "retry_delay": 0.5})
    async def orphan_retried(ctx: TaskContext) -> None:
        attempts.append(ctx.attempt)

    s = await make_scheduler(orphan_retried, executor={"poll_interval": 30.0})
    # Stored claimed by this node behind its back (as a claim whose answer never reached
    # it); not claimed through the store, where this node's first poll could take it.
    run = engine_runs.claimed(
        manual_run("orphan_retried", max_attempts=2), s.node_id, datetime.now(UTC)
    )
    assert await s.store.insert_runs([run]) and s.running_count == 0
    done = await s.wait_for_run(run.id, timeout=LOST_BOUND + 10)
    assert (done.status, done.attempt, attempts) == (RunStatus.SUCCESS, 2, [2])
    assert done.started_at is not None
    # Bounded well under the 30 s poll it used to wait for, not at a second: CI saw a
    # loaded machine hold the event loop 1.2 s here (the watchdog logged it).
    assert done.started_at - done.not_before < timedelta(seconds=10)


async def test_a_requeue_whose_acknowledgement_was_lost_is_announced(
    make_scheduler: MakeScheduler,
) -> None:
    """The same hole for a retry: a requeue whose acknowledgement was lost was re-sent,
    refused (the run had moved on), and the retry went unannounced."""
    attempts: list[int] = []

    @task("second_time_lucky", category="t", retry={"max_retries": 1, "retry_delay": 0.1})
    async def second_time_lucky(ctx: TaskContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")

    s = await make_scheduler(second_time_lucky)
    retrying: list[RunEvent] = []
    s.add_listener(retrying.append, [EventKind.RETRYING])
    lost_once = _AckLostOnce()
    intercept(s.store, "requeue_run", lost_once)
    run = await s.run_now("second_time_lucky", wait=True, timeout=15)
    assert (run.status, run.attempt, attempts) == (RunStatus.SUCCESS, 2, [1, 2])

    async def announced() -> list[RunEvent]:  # the re-sent requeue may come after the retry
        return retrying

    await until(announced, timeout=10)
    assert [e.run.attempt for e in retrying] == [2] and lost_once.happened


async def test_runs_the_reaper_judged_with_its_answer_lost_are_announced(
    make_scheduler: MakeScheduler,
) -> None:
    """The same hole for the reaper: its verdicts were written, their answer was lost,
    and no later pass finds those runs (no longer running): no ``lost`` event, so no
    lost-run alert, and no ``retrying``."""

    @task("patient", category="t", retry={"max_retries": 1, "retry_delay": 60})
    async def patient() -> None:
        return None

    s = await make_scheduler(patient)
    events: list[RunEvent] = []
    s.add_listener(events.append, [EventKind.LOST, EventKind.RETRYING])
    lost_once = _AckLostOnce()
    intercept(s.store, "lose_runs", lost_once)
    # Two runs of a node that died long ago: one with no attempt left, one retried.
    silent = datetime.now(UTC) - timedelta(seconds=30)
    final, retried = (
        dataclasses.replace(
            manual_run("patient", max_attempts=attempts),
            status=RunStatus.RUNNING,
            node_id="ghost",
            started_at=silent,
            heartbeat_at=silent,
        )
        for attempts in (1, 2)
    )
    await s.store.insert_runs([final, retried])

    async def judged() -> bool:
        return len(events) >= 3

    await until(judged, timeout=LOST_BOUND + 10)
    assert lost_once.happened
    assert sorted((e.kind.value, e.run.id) for e in events) == sorted(
        [("lost", final.id), ("lost", retried.id), ("retrying", retried.id)]
    )
    stored = {r.id: r for r in await s.store.get_runs([final.id, retried.id])}
    assert stored[final.id].status is RunStatus.LOST
    assert (stored[retried.id].status, stored[retried.id].attempt) == (RunStatus.PENDING, 2)


@sqlite_only
async def test_a_standby_waits_quietly_for_the_lease(make_scheduler: MakeScheduler) -> None:
    """Found on the way: a node that had never held the lease computed a sleep of zero
    and spun its scheduler loop (about 7,000 turns a second, a core's worth of CPU)."""
    leader = await make_scheduler()

    async def leads() -> bool:
        return leader.is_leader

    await until(leads, timeout=10)
    standby = await make_scheduler()
    assert not standby.is_leader
    # The loop's turns, not the process's CPU time: a busy CI machine (other threads of
    # the test process) once charged 1 s of CPU to a quiet 2 s here.
    loop = standby._loop
    real_sleep_time = loop._sleep_time
    turns = 0

    def counted() -> float:
        nonlocal turns
        turns += 1
        return real_sleep_time()

    loop._sleep_time = counted  # type: ignore[method-assign]
    await asyncio.sleep(2.0)
    # One turn per refresh interval (0.2 s) and a few wake-ups; the spin made thousands.
    assert 1 <= turns <= 30, turns
