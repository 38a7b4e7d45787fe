"""A pending run of a task no live node runs (its code deployed away) says why it waits,
and nothing settles it: a node that has the task still takes it (a rolling deploy's
next nodes, a rollback)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from schedkit import RunStatus, task
from schedkit.models import Node

from .conftest import MakeScheduler
from .taps import manual_run

REASON = (
    "task 'old_report' is not registered on any live node (or is left out of their executor.tasks)"
)


@task("current_report", retry={"max_retries": 0})
async def current_report() -> dict[str, object]:
    return {"success": True, "message": "ok"}


@task("old_report", retry={"max_retries": 0})
async def old_report() -> dict[str, object]:
    return {"success": True, "message": "old but here"}


async def test_a_run_of_a_task_no_live_node_has_says_why_until_one_comes(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(current_report)
    run = manual_run("old_report")
    celery = dataclasses.replace(manual_run("old_report"), executor="celery")
    await s.store.insert_runs([run, celery])
    (row,) = [n for n in await s.list_nodes() if n.id == s.node_id]
    assert row.info["tasks"] == ["current_report"]
    pending = await s.list_runs("old_report", status=RunStatus.PENDING)
    assert len(pending) == 2
    # Celery's workers claim its runs by their ids: no node list says who has the task.
    assert await s.waiting_reasons(pending) == {run.id: REASON}

    # A node of older code lists no tasks: it may have this one, nothing is said.
    now = datetime.now(UTC)
    older = Node(
        id="older-node",
        hostname="box",
        pid=1,
        started_at=now,
        heartbeat_at=now,
        roles=["executor"],
        info={"labels": []},
    )
    await s.store.upsert_node(older)
    assert await s.waiting_reasons(pending) == {}
    await s.store.delete_node(older.id)
    assert await s.waiting_reasons(pending) == {run.id: REASON}

    # The run was left pending: a node that has the task takes it when it comes.
    newer = await make_scheduler(old_report, current_report)
    done = await newer.wait_for_run(run.id, timeout=15)
    assert done.status is RunStatus.SUCCESS and done.node_id == newer.node_id


async def test_a_node_lists_only_the_tasks_it_claims(make_scheduler: MakeScheduler) -> None:
    """``executor.tasks`` narrows what a node claims; its row says so, and a run of a
    task left out everywhere waits with the reason all the same (a node that executes
    nothing lists nothing)."""
    s = await make_scheduler(current_report, old_report, executor={"tasks": ["current_report"]})
    (row,) = [n for n in await s.list_nodes() if n.id == s.node_id]
    assert row.info["tasks"] == ["current_report"]
    run = manual_run("old_report")
    await s.store.insert_runs([run])
    assert await s.waiting_reasons([await s.get_run(run.id)]) == {run.id: REASON}
    # A node that executes nothing claims no task's runs, whatever it registers.
    api_only = await make_scheduler(old_report, executor={"enabled": False})
    (row,) = [n for n in await s.list_nodes() if n.id == api_only.node_id]
    assert "tasks" not in row.info
    assert await s.waiting_reasons([await s.get_run(run.id)]) == {run.id: REASON}
