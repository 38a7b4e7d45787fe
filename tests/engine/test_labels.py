"""Labels in the engine: a schedule's labels add to its task's; only a node offering
them executes the runs, and a run no live node can take says why."""

from __future__ import annotations

import asyncio
import time
from datetime import date

import pytest

from schedkit import RunStatus, Scheduler, Step, TaskRegistry, Workflow, task
from schedkit.errors import TaskDefinitionError, ValidationError
from schedkit.models import TriggerSource

from .conftest import MakeScheduler
from .taps import until


@task("labelled", labels=["reports"], retry={"max_retries": 0})
async def labelled() -> dict[str, object]:
    return {"success": True, "message": "ok"}


async def test_schedule_labels_add_to_the_task_labels(make_scheduler: MakeScheduler) -> None:
    plain = await make_scheduler(labelled, executor={"labels": ["reports"]})
    gpu = await make_scheduler(labelled, executor={"labels": ["gpu", "reports"]})
    schedule = await plain.add_task(
        "labelled", {"trigger": "interval", "seconds": 0.3, "labels": ["gpu"]}
    )
    assert schedule.labels == ("gpu",)
    deadline = time.monotonic() + 20
    while not await plain.count_runs("labelled", status=RunStatus.SUCCESS):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await plain.pause_task("labelled")
    done = await plain.list_runs("labelled", status=RunStatus.SUCCESS)
    assert {r.labels for r in done} == {("gpu", "reports")}
    assert {r.node_id for r in done} == {gpu.node_id}
    # Manual runs require the task's labels only: either node may take them.
    manual = await plain.run_now("labelled", wait=True, timeout=10)
    assert manual.labels == ("reports",) and manual.status is RunStatus.SUCCESS
    info = await plain.get_job_info("labelled")
    assert info


async def test_a_run_no_node_offers_labels_for_waits_with_the_reason(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(labelled)  # offers no labels
    run = await s.run_now("labelled")
    await asyncio.sleep(0.5)
    waiting = await s.get_run(run.id)
    assert waiting.status is RunStatus.PENDING
    assert await s.waiting_reasons([waiting]) == {
        run.id: "no live node offers the labels reports this run requires"
    }


def test_bad_labels_are_refused() -> None:
    s = Scheduler({"store_url": "sqlite:///unused.db", "entry_points": False})
    with pytest.raises(ValidationError, match="labels"):
        s.parse_schedule({"trigger": "interval", "seconds": 5, "labels": ["GPU!"]})
    with pytest.raises(TaskDefinitionError, match="label 'a,b'"):
        task("bad", labels=["a,b"])(labelled.func)


async def test_runs_made_every_other_way_carry_the_labels_too(
    make_scheduler: MakeScheduler,
) -> None:
    """A backfill's runs need the task's and the schedule's labels, as the schedule's
    fires do; a workflow step's run needs its task's. A node without them must not take
    them (it offers none here: they stay pending)."""
    registry = TaskRegistry()
    registry.register_task(labelled)
    registry.register_workflow(Workflow("labelled_flow", [Step(name="only", task="labelled")]))
    s = await make_scheduler(registry=registry)
    await s.add_task("labelled", {"trigger": "cron", "hour": 9, "labels": ["gpu"]})
    await s.pause_task("labelled")
    filled = await s.backfill("labelled", date(2026, 11, 2), date(2026, 11, 3))
    assert filled.created == 2
    await s.workflows.start("labelled_flow", actor="t")

    async def stepped() -> bool:
        return await s.count_runs("labelled") == 3

    await until(stepped, 10)
    runs = await s.list_runs("labelled", limit=10)
    assert {(r.trigger_source, r.labels) for r in runs} == {
        (TriggerSource.BACKFILL, ("gpu", "reports")),
        (TriggerSource.WORKFLOW, ("reports",)),
    }
    assert {r.status for r in runs} == {RunStatus.PENDING}
