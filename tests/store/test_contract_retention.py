"""Retention on every store: a purge's dry run counts what it deletes, and the audit log
is purged by age (an SRE audit: runs, log lines and workflow runs were purged, the audit
events grew without bound)."""

from __future__ import annotations

from datetime import datetime

import pytest

from schedkit.models import (
    STEP_CREATOR,
    AuditEvent,
    Run,
    RunStatus,
    TriggerSource,
    WorkflowStatus,
    new_id,
)
from schedkit.store import Store
from tests.store._contract import CHINESE, SEC, T0, add_runs, make_run
from tests.store.test_contract_workflows import make_wf


async def test_count_purgeable_runs_is_what_purge_runs_deletes(store: Store) -> None:
    cut = T0 + 100 * SEC
    old = [
        make_run(schedule_id=f"old{i}", status=status, finished_at=cut - SEC)
        for i, status in enumerate([RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.MISSED])
    ]
    at_cut = make_run(schedule_id="at", status=RunStatus.SUCCESS, finished_at=cut)
    old_pending = make_run(schedule_id="p", scheduled_for=T0 - 3600 * SEC)
    old_running = make_run(
        schedule_id="r",
        scheduled_for=T0 - 3600 * SEC,
        status=RunStatus.RUNNING,
        node_id="n",
        started_at=T0,
    )
    await add_runs(store, *old, at_cut, old_pending, old_running)
    assert await store.count_purgeable_runs(cut) == len(old)
    assert await store.count_purgeable_runs(cut + SEC) == len(old) + 1
    assert await store.count_runs() == 6  # counting deleted nothing
    assert await store.purge_runs(cut) == len(old)
    assert await store.count_purgeable_runs(cut) == 0


async def test_purge_audit_deletes_the_events_before_the_cut_off(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of 2, so that a purge of 5 events takes several (the real batch is 1,000).
    monkeypatch.setattr("schedkit.store.sql.admin._PURGE_BATCH", 2)
    monkeypatch.setattr("schedkit.store.mongo.admin.PURGE_BATCH", 2)
    cut = T0 + 5 * SEC
    events = [
        AuditEvent(
            id=new_id(),
            at=T0 + i * SEC,
            actor="alice" if i % 2 else "张三",
            action="schedule.pause",
            target=f"s{i}",
            detail=CHINESE,
        )
        for i in range(7)  # 0-4 before the cut, 5 at it, 6 after it
    ]
    for event in events:
        await store.add_audit(event)
    assert await store.count_audit(before=cut) == 5
    assert await store.count_audit(before=cut, actor="alice") == 2
    assert await store.count_audit(before=T0) == 0
    assert await store.count_audit() == 7

    assert await store.purge_audit(cut) == 5
    assert await store.list_audit() == [events[6], events[5]]
    assert await store.count_audit(before=cut) == 0
    assert await store.purge_audit(cut) == 0
    assert await store.purge_audit(T0 + 100 * SEC) == 2
    assert await store.count_audit() == 0


def _step_run(workflow_run: str, step: str, finished_at: datetime) -> Run:
    """A finished run of ``step`` of workflow run ``workflow_run``, as the engine makes
    one (``engine.runs.step``: fenced on the step's key, created by the workflow run)."""
    return make_run(
        schedule_id=f"workflow:{workflow_run}:{step}",
        trigger_source=TriggerSource.WORKFLOW,
        created_by=f"{STEP_CREATOR}{workflow_run}",
        status=RunStatus.SUCCESS,
        finished_at=finished_at,
    )


async def test_purge_keeps_the_step_runs_of_the_workflow_runs_it_keeps(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An audit: a purge deleted the finished step runs of a workflow run still running,
    # and the engine, reading a missing step run as "not started", ran them again.
    monkeypatch.setattr("schedkit.store.sql.runs._PURGE_BATCH", 2)
    monkeypatch.setattr("schedkit.store.mongo.runs.PURGE_BATCH", 2)
    cut = T0 + 100 * SEC
    ends = {"running": None, "ended_after": cut + SEC, "ended_before": cut - 5 * SEC}
    for wf_id, end in ends.items():
        await store.insert_workflow_run(make_wf(id=wf_id))
        if end is not None:
            await store.set_workflow_status(
                wf_id, expected_version=1, status=WorkflowStatus.SUCCESS, finished_at=end, now=T0
            )
    old = cut - 10 * SEC
    kept = [_step_run(w, s, old) for w in ("running", "ended_after") for s in "abc"]
    gone = [_step_run(w, s, old) for w in ("ended_before", "no_longer_stored") for s in "ab"]
    # Someone whose name reads like a workflow's starts a run by hand: an ordinary run.
    by_hand = make_run(
        schedule_id="h",
        trigger_source=TriggerSource.MANUAL,
        created_by=f"{STEP_CREATOR}running",
        status=RunStatus.FAILED,
        finished_at=old,
    )
    await add_runs(store, *kept, *gone, by_hand)

    assert await store.count_purgeable_runs(cut) == len(gone) + 1
    assert await store.count_purgeable_workflow_runs(cut) == 1
    assert await store.purge_workflow_runs(cut) == 1
    assert await store.purge_runs(cut) == len(gone) + 1
    left = await store.get_runs([r.id for r in (*kept, *gone, by_hand)])
    assert {r.id for r in left} == {r.id for r in kept}
    assert await store.count_purgeable_runs(cut) == 0

    # Once its workflow run ends (before a later cut-off), its step runs go with it.
    await store.set_workflow_status(
        "running", expected_version=1, status=WorkflowStatus.FAILED, finished_at=cut, now=cut
    )
    later = cut + 10 * SEC
    assert await store.count_purgeable_runs(later) == len(kept)
    assert await store.count_purgeable_workflow_runs(later) == 2
    assert await store.purge_workflow_runs(later) == 2
    assert await store.purge_runs(later) == len(kept)
    assert await store.count_runs() == 0
