"""Manual runs asked with an idempotency key: a repeated request (a client's retry after
a timeout, a double click, a cron wrapper started twice) creates the run once, on every
store, on one node or several, and when the store lost the first insert's answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schedkit import ConflictError, RunStatus, TriggerSource, ValidationError, task
from schedkit.events import EventKind, RunEvent

from .conftest import MakeScheduler
from .taps import intercept
from .test_reliability import _AckLostOnce

BODIES: list[str] = []


@task("invoice", category="t")
async def invoice(month: str = "") -> dict[str, Any]:
    BODIES.append(month)
    await asyncio.sleep(0.05)
    return {"code": 200, "msg": "ok", "data": month}


@task("report", category="t")
async def report() -> None:
    BODIES.append("report")


@task("hold", category="t")
async def hold() -> None:
    await asyncio.sleep(0.5)


@pytest.fixture(autouse=True)
def _bodies() -> None:
    BODIES.clear()


async def test_a_request_repeated_with_its_key_returns_the_first_run(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(invoice)
    created: list[RunEvent] = []
    s.add_listener(created.append, [EventKind.CREATED])
    first = await s.run_now("invoice", {"month": "2026-11"}, idempotency_key="invoice-2026-11")
    again = await s.run_now("invoice", {"month": "2026-11"}, idempotency_key="invoice-2026-11")
    assert again.id == first.id
    done = await s.run_now(
        "invoice", {"month": "2026-11"}, idempotency_key="invoice-2026-11", wait=True, timeout=10
    )
    assert done.id == first.id
    assert done.status is RunStatus.SUCCESS
    assert BODIES == ["2026-11"]
    assert [r.id for r in await s.list_runs("invoice")] == [first.id]
    assert [e.run.id for e in created] == [first.id]
    # Once finished, still the same run: the key is kept with the run in the history.
    later = await s.run_now("invoice", {"month": "2026-11"}, idempotency_key="invoice-2026-11")
    assert (later.id, later.status) == (first.id, RunStatus.SUCCESS)
    assert BODIES == ["2026-11"]
    # One run created, one audit entry: the repeats created nothing.
    assert [e.target for e in await s.list_audit(action="run.create")] == [first.id]


async def test_a_retry_repeated_with_its_key_makes_one_run(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(invoice)
    done = await s.run_now("invoice", {"month": "2026-10"}, wait=True, timeout=10)
    retried = await s.retry_run(done.id, idempotency_key="retry-october")
    again = await s.retry_run(done.id, idempotency_key="retry-october")
    assert again.id == retried.id != done.id
    assert retried.trigger_source is TriggerSource.RETRY
    assert (await s.wait_for_run(retried.id, timeout=10)).status is RunStatus.SUCCESS
    assert BODIES == ["2026-10", "2026-10"]
    assert len(await s.list_runs("invoice")) == 2
    assert [e.target for e in await s.list_audit(action="run.retry")] == [retried.id]


async def test_keys_are_per_task_and_a_new_key_makes_a_new_run(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(invoice, report)
    a = await s.run_now("invoice", idempotency_key="k", wait=True, timeout=10)
    b = await s.run_now("report", idempotency_key="k", wait=True, timeout=10)
    c = await s.run_now("invoice", idempotency_key="k2", wait=True, timeout=10)
    d = await s.run_now("invoice", wait=True, timeout=10)
    assert len({a.id, b.id, c.id, d.id}) == 4
    assert sorted(BODIES) == ["", "", "", "report"]


async def test_a_key_sent_again_with_other_kwargs_is_refused(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(invoice)
    first = await s.run_now("invoice", {"month": "2026-11"}, idempotency_key="inv")
    with pytest.raises(ConflictError, match="other kwargs"):
        await s.run_now("invoice", {"month": "2026-12"}, idempotency_key="inv")
    await s.wait_for_run(first.id, timeout=10)
    assert BODIES == ["2026-11"]
    assert len(await s.list_runs("invoice")) == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "月报", "line\nbreak"])
async def test_a_malformed_key_is_refused_before_anything_is_stored(
    make_scheduler: MakeScheduler, key: str
) -> None:
    s = await make_scheduler(invoice)
    with pytest.raises(ValidationError) as info:
        await s.run_now("invoice", idempotency_key=key)
    assert info.value.field == "idempotency_key"
    assert await s.list_runs("invoice") == []


async def test_concurrent_requests_with_one_key_on_two_nodes_make_one_run(
    make_scheduler: MakeScheduler,
) -> None:
    a = await make_scheduler(invoice)
    b = await make_scheduler(invoice)
    answers = await asyncio.gather(
        *(node.run_now("invoice", idempotency_key="once") for node in (a, b, a, b, a, b))
    )
    assert len({run.id for run in answers}) == 1
    done = await a.wait_for_run(answers[0].id, timeout=10)
    assert done.status is RunStatus.SUCCESS
    assert done.attempt == 1
    assert BODIES == [""]
    assert len(await a.list_runs("invoice")) == 1


async def test_a_keyed_run_stored_with_its_answer_lost_starts_once(
    make_scheduler: MakeScheduler,
) -> None:
    """The insert of a keyed run committed and its answer was lost: the run is this
    call's (claimed by this node, executing nowhere), so it starts here, once; a repeat
    of the request returns it."""
    s = await make_scheduler(invoice)
    lost_once = _AckLostOnce()
    intercept(s.store, "insert_runs", lost_once)
    events: list[RunEvent] = []
    s.add_listener(events.append, [EventKind.CREATED, EventKind.LOST])
    run = await s.run_now("invoice", idempotency_key="lost", wait=True, timeout=15)
    assert lost_once.happened
    assert (run.status, run.attempt) == (RunStatus.SUCCESS, 1)
    again = await s.run_now("invoice", idempotency_key="lost")
    assert again.id == run.id
    assert BODIES == [""]
    assert [(e.kind, e.run.id) for e in events] == [(EventKind.CREATED, run.id)]


async def test_a_keyed_pending_run_stored_with_its_answer_lost_is_announced_and_claimed(
    make_scheduler: MakeScheduler,
) -> None:
    """Stored pending (the node's one slot busy) and its insert's answer lost: the run is
    this call's (made at this call's instant, by its actor), so it is announced, audited
    and claimed when the slot frees. It was taken for another request's: no event, no
    audit record, and it waited for the next poll (30 s here)."""
    s = await make_scheduler(
        invoice, hold, executor={"max_concurrent_runs": 1, "poll_interval": 30.0}
    )
    # The claim loop's first claim (of nothing) is done: from then on it claims when
    # told runs may be waiting, or at its poll.
    await asyncio.sleep(0.2)
    busy = await s.run_now("hold")
    assert busy.status is RunStatus.RUNNING  # the one slot
    lost_once = _AckLostOnce()
    intercept(s.store, "insert_runs", lost_once)
    events: list[RunEvent] = []
    s.add_listener(events.append, [EventKind.CREATED])
    run = await s.run_now("invoice", {"month": "2026-11"}, idempotency_key="pend", actor="ops")
    assert lost_once.happened and run.status is RunStatus.PENDING
    done = await s.wait_for_run(run.id, timeout=10)
    assert (done.status, done.attempt) == (RunStatus.SUCCESS, 1)
    assert [e.run.id for e in events] == [run.id]
    audited = await s.list_audit(action="run.create", target=run.id)
    assert [(a.actor, a.detail) for a in audited] == [("ops", "invoice")]
    # Another request with the key gets the run, and creates, announces, audits nothing.
    again = await s.run_now("invoice", {"month": "2026-11"}, idempotency_key="pend")
    assert again.id == run.id and len(events) == 1
    assert len(await s.list_audit(action="run.create", target=run.id)) == 1
    assert BODIES == ["2026-11"]
