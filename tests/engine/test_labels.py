"""Labels in the engine: a schedule's labels add to its task's; only a node offering
them executes the runs, and a run no live node can take says why."""

from __future__ import annotations

import asyncio
import time

import pytest

from schedkit import RunStatus, Scheduler, task
from schedkit.errors import TaskDefinitionError, ValidationError

from .conftest import MakeScheduler


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
