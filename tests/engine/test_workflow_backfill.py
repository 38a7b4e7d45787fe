"""A workflow's launcher runs that do not end when their workflow run starts: a backfill's
(held in its chain until its workflow run ends, with that run's outcome), a launcher
waiting when its node stops (handed back, not left to the reaper), and the waiting
launchers of a deleted schedule (released one at a time). Every store, a running node."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime
from typing import Any

import pytest

from schedkit import RunStatus, Step, TaskContext, TaskRegistry, Workflow, task
from schedkit.models import Run, TriggerSource, WorkflowRun, WorkflowStatus
from tests.store._contract import SEC, make_run

from .conftest import MakeScheduler
from .taps import until

LAUNCHER = "workflow.etl"
DAILY = {"trigger": "cron", "hour": 1, "minute": 30}


class Gauge:
    """The workflow runs executing a step at once, the most seen, and their order."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.order: list[str] = []

    async def busy(self) -> bool:
        return self.now == 1


def etl(gauge: Gauge, hold: float, *, fail: int = 0, labels: tuple[str, ...] = ()) -> Any:
    """Workflow ``etl`` of one step holding ``hold`` s; its ``fail``-th run fails."""

    @task("extract", retry={"max_retries": 0}, schedule=None, labels=list(labels))
    async def extract(ctx: TaskContext) -> None:
        gauge.now += 1
        gauge.most = max(gauge.most, gauge.now)
        gauge.order.append(ctx.workflow["run_id"])
        try:
            await asyncio.sleep(hold)
        finally:
            gauge.now -= 1
        if len(gauge.order) == fail:
            raise RuntimeError("source unreachable")

    registry = TaskRegistry()
    registry.register_task(extract)
    registry.register_workflow(Workflow("etl", [Step(name="extract", task="extract")]))
    return registry


def _one_at_a_time(runs: list[WorkflowRun]) -> None:
    ordered = sorted(runs, key=lambda w: w.created_at)
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.finished_at is not None
        assert later.created_at >= earlier.finished_at, (earlier, later)


async def _launchers(s: Any) -> list[Run]:
    runs = await s.list_runs(LAUNCHER, limit=100)
    return sorted(runs, key=lambda r: r.scheduled_for)


async def test_a_workflow_backfill_runs_its_workflow_runs_in_turn_and_waits_for_them(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit: `--concurrency 1` over 5 days started the 5 workflow runs at once, and
    `--wait` said "5/5 done: 5 succeeded" while all 5 ran (each launcher run ended as
    soon as its workflow run had started, releasing the next)."""
    monkeypatch.setattr("schedkit.engine.finish.LAUNCH_WAIT_POLL", 0.05)
    gauge = Gauge()
    s = await make_scheduler(registry=etl(gauge, 0.4, fail=2))
    await s.add_task(LAUNCHER, DAILY)
    await s.backfill(LAUNCHER, date(2026, 10, 1), date(2026, 10, 3), concurrency=1)

    async def finished() -> bool:
        status = await s.backfill_status(LAUNCHER)
        assert status is not None
        running = await s.workflows.count("etl", WorkflowStatus.RUNNING)
        if status.progress.finished:
            # Done means every workflow run of it has ended, not started.
            assert running == 0 and len(gauge.order) == 3, (status.progress, running)
        return status.progress.finished

    await until(finished, 30)
    assert gauge.most == 1
    flows = await s.workflows.history("etl", limit=10)
    _one_at_a_time(flows)
    assert [w.scheduled_for for w in sorted(flows, key=lambda w: w.created_at)] == sorted(
        w.scheduled_for for w in flows
    )
    assert {w.trigger_source for w in flows} == {TriggerSource.BACKFILL}

    status = await s.backfill_status(LAUNCHER)
    assert status is not None and status.state == "done"
    assert (status.progress.succeeded, status.progress.failed) == (2, 1)
    launchers = await _launchers(s)
    assert [r.status for r in launchers] == [RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.SUCCESS]
    assert gauge.order == [r.id for r in launchers]  # oldest first
    for run in launchers:
        assert run.result is not None and run.result["data"] == {"workflow_run_id": run.id}
    failed = launchers[1]
    # The workflow run's outcome, not retried (a retry would find the same ended run).
    assert failed.attempt == 1 and failed.error is not None
    assert failed.error["type"] == "WorkflowFailed"
    assert failed.error["message"] == f"workflow run {failed.id} of etl failed: step extract failed"


async def test_cancelling_a_workflow_backfill_stops_its_running_workflow_run(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schedkit.engine.finish.LAUNCH_WAIT_POLL", 0.05)
    gauge = Gauge()
    s = await make_scheduler(registry=etl(gauge, 30))
    await s.add_task(LAUNCHER, DAILY)
    await s.backfill(LAUNCHER, date(2026, 10, 1), date(2026, 10, 3), concurrency=1)
    await until(gauge.busy, 10)
    await s.cancel_backfill(LAUNCHER, actor="ops")

    async def finished() -> bool:
        status = await s.backfill_status(LAUNCHER)
        return status is not None and status.progress.finished

    await until(finished, 15)
    assert len(gauge.order) == 1
    (flow,) = await s.workflows.history("etl", limit=10)
    assert flow.status is WorkflowStatus.FAILED
    step = (await s.workflows.get(flow.id)).plan.steps["extract"].run
    assert step is not None and step.status is RunStatus.CANCELLED
    assert step.reason == "backfill cancelled by ops"
    launchers = await _launchers(s)
    assert {r.status for r in launchers} == {RunStatus.CANCELLED}
    assert launchers[0].reason == "backfill cancelled by ops"


async def test_a_launcher_waiting_when_its_node_stops_is_handed_back(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its workflow run goes on elsewhere: the launcher run goes back to pending at the
    stop, at no cost of an attempt, and the node that takes it waits on. (It was left
    running for the reaper, a retry lost per restart, and the stop took its grace.)"""
    monkeypatch.setattr("schedkit.engine.finish.LAUNCH_WAIT_POLL", 0.05)
    gauge = Gauge()
    registry = etl(gauge, 2.0, labels=("steps",))
    first = await make_scheduler(registry=registry, executor={"labels": ["launch"]})
    worker = await make_scheduler(registry=registry, executor={"labels": ["steps"]})
    await first.add_task(LAUNCHER, {**DAILY, "labels": ["launch"]})
    await first.backfill(LAUNCHER, date(2026, 10, 1), date(2026, 10, 1), concurrency=1)
    await until(gauge.busy, 10)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await first.stop(grace=0.2)
    assert loop.time() - began < 3
    (handed,) = await _launchers(worker)
    assert handed.status is RunStatus.PENDING
    assert (handed.attempt, handed.max_attempts) == (2, 5)
    assert gauge.now == 1  # the workflow run goes on

    again = await make_scheduler(registry=registry, executor={"labels": ["launch"]})

    async def done() -> Run | None:
        (run,) = await _launchers(again)
        return run if run.status.finished else None

    ended = await until(done, 15)
    assert ended.status is RunStatus.SUCCESS and gauge.now == 0


async def test_the_waiting_launchers_of_a_deleted_schedule_start_one_at_a_time(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit: deleting a `queue_one`, `max_instances 1` schedule let the launchers
    waiting in its queue start all at once beside the running workflow run (a missing
    schedule read as "start"). A plain task's queued runs of a deleted schedule still
    wait for the run before them; so do these. (The queue is stored as the engine's
    queue_one leaves it, fire by fire: one launcher waiting, one queued behind it.)"""
    monkeypatch.setattr("schedkit.engine.finish.LAUNCH_WAIT_POLL", 0.05)
    gauge = Gauge()
    s = await make_scheduler(registry=etl(gauge, 0.8))
    queue = {**DAILY, "max_instances": 1, "overlap": "queue_one"}
    await s.add_task(LAUNCHER, queue, schedule_id="etl_often")
    first = await s.workflows.start("etl", {}, actor="ops")
    now = datetime.now(UTC)
    fired: dict[str, Any] = {"task_name": LAUNCHER, "schedule_id": "etl_often", "max_attempts": 4}
    waits = make_run(**fired, scheduled_for=now, not_before=now, created_at=now)
    queued = make_run(
        **fired, scheduled_for=now + SEC, not_before=now, created_at=now, blocked_by=waits.id
    )
    await s.store.insert_runs([waits, queued])

    async def waiting() -> bool:
        run = await s.store.get_run(waits.id)
        return run is not None and run.status is RunStatus.RUNNING

    await until(waiting, 10)
    await s.delete_schedule("etl_often")

    async def settled() -> bool:
        runs = await s.list_runs(LAUNCHER, limit=10)
        return len(runs) == 2 and all(r.status.finished for r in runs)

    await until(settled, 20)
    assert gauge.most == 1
    assert gauge.order == [first.record.id, waits.id, queued.id]
    _one_at_a_time(await s.workflows.history("etl", limit=10))
    launchers = await s.list_runs(LAUNCHER, limit=10)
    assert {r.status for r in launchers} == {RunStatus.SUCCESS}
