"""The store contract for workflow runs and reading runs by id, on every backend."""

from __future__ import annotations

import asyncio

from schedkit.models import RunStatus, TriggerSource, WorkflowRun, WorkflowStatus
from schedkit.store import Store
from tests.store._contract import CHINESE, SEC, T0, add_runs, assert_utc, make_run
from tests.store.conftest import MoreStores


def make_wf(**fields: object) -> WorkflowRun:
    values: dict[str, object] = {
        "id": "w1",
        "workflow": "daily",
        "definition": {"name": "daily", "steps": [{"name": "a", "task": "t", "note": CHINESE}]},
        "trigger_source": TriggerSource.MANUAL,
        "scheduled_for": T0,
        "params": {"day": "2026-12-01", "客户": [1, 2]},
        "created_at": T0,
        "updated_at": T0,
        "created_by": "alice",
    }
    values.update(fields)
    return WorkflowRun(**values)  # type: ignore[arg-type]


async def test_workflow_run_round_trips_and_inserts_once(store: Store) -> None:
    wf = make_wf()
    assert await store.insert_workflow_run(wf) is True
    assert await store.insert_workflow_run(make_wf(workflow="other")) is False
    got = await store.get_workflow_run("w1")
    assert got == wf
    assert got is not None
    assert_utc(got.scheduled_for)
    assert await store.get_workflow_run("nope") is None


async def test_workflow_runs_list_newest_first_with_filters_and_count(store: Store) -> None:
    for i in range(4):
        await store.insert_workflow_run(
            make_wf(id=f"w{i}", workflow="a" if i % 2 else "b", created_at=T0 + i * SEC)
        )
    await store.set_workflow_status(
        "w3", expected_version=1, status=WorkflowStatus.FAILED, finished_at=T0, now=T0
    )
    assert [w.id for w in await store.list_workflow_runs()] == ["w3", "w2", "w1", "w0"]
    assert [w.id for w in await store.list_workflow_runs(workflow="a")] == ["w3", "w1"]
    running = frozenset({WorkflowStatus.RUNNING})
    assert [w.id for w in await store.list_workflow_runs(statuses=running)] == ["w2", "w1", "w0"]
    assert [w.id for w in await store.list_workflow_runs(limit=2, offset=1)] == ["w2", "w1"]
    assert await store.list_workflow_runs(limit=0) == []
    assert await store.count_workflow_runs() == 4
    assert await store.count_workflow_runs(workflow="b", statuses=running) == 2


async def test_workflow_status_is_compare_and_set(store: Store) -> None:
    await store.insert_workflow_run(make_wf())
    end = T0 + 5 * SEC
    ok = await store.set_workflow_status(
        "w1", expected_version=1, status=WorkflowStatus.SUCCESS, finished_at=end, now=end
    )
    assert ok
    stale = await store.set_workflow_status(
        "w1", expected_version=1, status=WorkflowStatus.FAILED, finished_at=end, now=end
    )
    assert not stale
    got = await store.get_workflow_run("w1")
    assert got is not None
    assert (got.status, got.version, got.finished_at, got.updated_at) == (
        WorkflowStatus.SUCCESS,
        2,
        end,
        end,
    )
    assert not await store.set_workflow_status(
        "nope", expected_version=1, status=WorkflowStatus.FAILED, finished_at=None, now=end
    )


async def test_racing_status_writers_one_wins(store: Store, more_stores: MoreStores) -> None:
    await store.insert_workflow_run(make_wf())
    others = await more_stores(3)
    results = await asyncio.gather(
        *(
            s.set_workflow_status("w1", expected_version=1, status=status, finished_at=T0, now=T0)
            for s, status in zip(
                [store, *others],
                [WorkflowStatus.SUCCESS, WorkflowStatus.FAILED] * 2,
                strict=True,
            )
        )
    )
    assert sum(results) == 1
    got = await store.get_workflow_run("w1")
    assert got is not None and got.version == 2


async def test_get_runs_reads_several_by_id(store: Store) -> None:
    a, b = make_run(scheduled_for=T0), make_run(scheduled_for=T0 + SEC, status=RunStatus.SUCCESS)
    await add_runs(store, a, b)
    got = {r.id: r for r in await store.get_runs([a.id, b.id, "missing", a.id])}
    assert set(got) == {a.id, b.id}
    assert got[b.id].status is RunStatus.SUCCESS
    assert await store.get_runs([]) == []


async def test_purge_deletes_workflow_runs_that_ended_before(store: Store) -> None:
    for i, (status, end) in enumerate(
        [
            (WorkflowStatus.SUCCESS, T0),
            (WorkflowStatus.FAILED, T0 + SEC),
            (WorkflowStatus.SUCCESS, T0 + 10 * SEC),
            (WorkflowStatus.RUNNING, None),
        ]
    ):
        await store.insert_workflow_run(make_wf(id=f"w{i}", created_at=T0 + i * SEC))
        if status is not WorkflowStatus.RUNNING:
            await store.set_workflow_status(
                f"w{i}", expected_version=1, status=status, finished_at=end, now=T0
            )
    assert await store.purge_workflow_runs(T0 + 5 * SEC) == 2
    assert [w.id for w in await store.list_workflow_runs()] == ["w3", "w2"]
    assert await store.purge_workflow_runs(T0 + 5 * SEC) == 0
