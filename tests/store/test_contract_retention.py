"""Retention on every store: a purge's dry run counts what it deletes, and the audit log
is purged by age (an SRE audit: runs, log lines and workflow runs were purged, the audit
events grew without bound)."""

from __future__ import annotations

import pytest

from schedkit.models import AuditEvent, RunStatus, new_id
from schedkit.store import Store
from tests.store._contract import CHINESE, SEC, T0, add_runs, make_run


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
