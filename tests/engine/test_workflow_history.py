"""Workflow runs and the history's purge, on a running node and every store: a purge
while a workflow runs keeps the step runs it has (an audit saw `schedkit purge` delete
them, and the engine, reading a missing step run as a step not started, ran them again
under the same workflow run)."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

from schedkit import Step, TaskRegistry, Workflow, task
from schedkit.models import WorkflowStatus

from .conftest import MakeScheduler


async def test_a_purge_during_a_workflow_run_does_not_run_a_step_again(
    make_scheduler: MakeScheduler,
) -> None:
    starts: list[str] = []
    release = threading.Event()

    @task("fetch", retry={"max_retries": 0}, schedule=None)
    def fetch() -> None:
        starts.append("fetch")

    @task("settle", retry={"max_retries": 0}, schedule=None)
    def settle() -> None:
        starts.append("settle")
        release.wait(10)

    reg = TaskRegistry()
    reg.register_task(fetch)
    reg.register_task(settle)
    reg.register_workflow(
        Workflow(
            "close",
            [
                Step(name="fetch", task="fetch"),
                Step(name="settle", task="settle", after=("fetch",)),
            ],
        )
    )
    s = await make_scheduler(registry=reg)
    run_id = (await s.workflows.start("close", actor="t")).record.id
    for _ in range(200):
        if starts == ["fetch", "settle"]:
            break
        await asyncio.sleep(0.05)
    assert starts == ["fetch", "settle"]

    # Everything finished before now: fetch's run, but its workflow run is running.
    during = await s.purge_history(timedelta(0), actor="ops")
    release.set()
    state = await s.workflows.wait(run_id, timeout=20)
    assert state.record.status is WorkflowStatus.SUCCESS
    assert starts == ["fetch", "settle"]  # fetch ran once
    assert (during.runs, during.workflow_runs) == (0, 0)
    assert {n: v.state for n, v in state.plan.steps.items()} == {
        "fetch": "success",
        "settle": "success",
    }

    await asyncio.sleep(0.01)
    done = await s.purge_history(timedelta(0), actor="ops")
    assert (done.runs, done.workflow_runs) == (2, 1)
    (event, *_) = await s.list_audit(action="runs.purge")
    assert event.detail is not None
    assert event.detail.startswith("2 run(s) and 1 workflow run(s) older than 0 seconds")
