"""A workflow's schedule applies its overlap policy and max_instances to the workflow
runs, on a running node and every store (an audit: `--max-instances 1 --overlap skip`
every 10 s on a 25 s workflow had three workflow runs running at once, because the
launcher run ends as soon as its workflow run starts)."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import pytest

from schedkit import RunStatus, Step, TaskRegistry, Workflow, task
from schedkit.clock import SystemClock
from schedkit.engine.flows import Flows
from schedkit.models import OverlapPolicy, WorkflowRun, WorkflowStatus
from schedkit.store import Store
from schedkit.workflows.launcher import LaunchVerdict
from tests.store._contract import SEC, T0, add_runs, make_run, make_schedule

from .conftest import MakeScheduler

RUN_ID = "[0-9a-f]{32}"


async def _run_for(
    make_scheduler: MakeScheduler, overlap: str, seconds: float, every_s: float = 0.3
) -> Any:
    @task("slow", retry={"max_retries": 0}, schedule=None)
    async def slow() -> None:
        await asyncio.sleep(1.0)

    reg = TaskRegistry()
    reg.register_task(slow)
    every = {"trigger": "interval", "seconds": every_s, "max_instances": 1, "overlap": overlap}
    reg.register_workflow(Workflow("eod_close", [Step(name="s", task="slow")], schedule=every))
    s = await make_scheduler(registry=reg)
    await asyncio.sleep(seconds)
    await s.pause_task("workflow.eod_close")
    for _ in range(100):
        if await s.workflows.count(status=WorkflowStatus.RUNNING) == 0:
            break
        await asyncio.sleep(0.1)
    return s


def _one_at_a_time(runs: list[WorkflowRun]) -> None:
    ordered = sorted(runs, key=lambda w: w.created_at)
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.finished_at is not None
        assert later.created_at >= earlier.finished_at, (earlier, later)


async def test_overlap_skip_keeps_one_workflow_run_at_a_time(
    make_scheduler: MakeScheduler,
) -> None:
    s = await _run_for(make_scheduler, "skip", 2.5)
    runs = await s.workflows.history("eod_close", limit=50)
    assert len(runs) >= 2
    _one_at_a_time(runs)
    launchers = await s.list_runs("workflow.eod_close", limit=100)
    skipped = [r for r in launchers if r.status is RunStatus.SKIPPED]
    assert skipped, [(r.status, r.reason) for r in launchers]
    pattern = (
        rf"workflow eod_close run {RUN_ID} still running \(overlap policy skip, max_instances=1\)"
    )
    for run in skipped:
        # Skipped by the launcher (naming the run) or, at the fire, by the engine; or
        # coalesced, if the loop was held past a fire (seen on a loaded machine).
        assert run.reason is not None
        assert (
            re.fullmatch(pattern, run.reason)
            or run.reason.startswith("overlap policy skip")
            or run.reason.startswith("coalesced into the fire at ")
        )
    assert any(re.fullmatch(pattern, r.reason or "") for r in skipped)


async def test_overlap_queue_one_starts_the_next_run_when_one_ends(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schedkit.engine.finish.LAUNCH_WAIT_POLL", 0.05)
    s = await _run_for(make_scheduler, "queue_one", 2.5)
    runs = await s.workflows.history("eod_close", limit=50)
    assert len(runs) >= 2
    _one_at_a_time(runs)
    ordered = sorted(runs, key=lambda w: w.created_at)
    # The queued start follows the end of the one before it at once (not at a fire).
    gaps = [
        (later.created_at - earlier.finished_at).total_seconds()
        for earlier, later in itertools.pairwise(ordered)
        if earlier.finished_at is not None
    ]
    assert min(gaps) < 0.25, gaps


async def test_overlap_replace_cancels_the_running_workflow_runs_steps(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("schedkit.engine.finish.LAUNCH_WAIT_POLL", 0.05)
    monkeypatch.setattr("schedkit.engine.finish.REPLACE_WAIT_POLL", 0.05)
    # Fires 0.6 s apart: each replacement (cancel, the old run's end, the start) fits
    # between two fires; at 0.3 s the next fire replaced the launcher still waiting.
    s = await _run_for(make_scheduler, "replace", 2.5, every_s=0.6)
    runs = await s.workflows.history("eod_close", limit=50)
    assert len(runs) >= 2
    # The replaced run ends before the next one starts: never two running at once (an
    # audit saw the replaced run end 0.2-2.2 s after the next one had started).
    _one_at_a_time(runs)
    replaced = [w for w in runs if w.status is WorkflowStatus.FAILED]
    assert replaced
    state = await s.workflows.get(replaced[0].id)
    step = state.plan.steps["s"].run
    assert step is not None and step.status is RunStatus.CANCELLED
    assert step.reason is not None
    assert re.fullmatch(
        rf"replaced by workflow run {RUN_ID} \(overlap policy replace\)", step.reason
    )


async def test_a_replacing_launcher_waits_for_an_earlier_launcher_of_its_schedule(
    store: Store,
) -> None:
    """The re-audit, on FerretDB: two launcher runs of one schedule deciding at once both
    saw no workflow run running and both started one. The later waits while the earlier
    is running (it starts its workflow run, which the later then replaces, or it was
    replaced while it waited and ends cancelled)."""
    await store.put_schedule(
        make_schedule(
            id="eod",
            task_name="workflow.eod_close",
            overlap=OverlapPolicy.REPLACE,
            max_instances=1,
        ),
        expected_version=0,
    )
    launcher: dict[str, Any] = {
        "task_name": "workflow.eod_close",
        "schedule_id": "eod",
        "status": RunStatus.RUNNING,
        "node_id": "n",
        "started_at": T0,
    }
    earlier = make_run(**launcher)
    later = make_run(**launcher, scheduled_for=T0 + SEC, not_before=T0 + SEC)
    await add_runs(store, earlier, later)
    flows = Flows(
        store=store,
        registry=TaskRegistry(),
        clock=SystemClock(),
        wake=lambda: None,
        created=lambda runs: None,
    )
    wf = Workflow("eod_close", [Step(name="s", task="slow")])
    waits = await flows.admit(wf, later)
    assert waits.wait == "an earlier launcher run of schedule eod is still starting"
    assert await flows.admit(wf, earlier) == LaunchVerdict()
