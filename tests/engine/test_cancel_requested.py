"""A cancel requested while an attempt runs is never lost to a retry (docs/lifecycle.md:
"a cancelled run is never retried"), on every store.

Audit finding: a cancel made through the store (the API on another node) reaches the
executing node at its next heartbeat only; an attempt failing before then was requeued
for a retry, and the run went on to attempts 2, 3, 4.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from datetime import UTC, datetime, timedelta

from schedkit import RunStatus, TaskContext, task
from schedkit.events import EventKind, RunEvent
from schedkit.models import Run
from schedkit.store._common import CANCELLED_IN_ATTEMPT

from .conftest import MakeScheduler
from .taps import manual_run, until


async def test_a_sync_attempt_failing_after_a_cancel_request_ends_the_run_cancelled(
    make_scheduler: MakeScheduler,
) -> None:
    started, requested = threading.Event(), threading.Event()
    bodies: list[int] = []

    @task("crm_check", category="t", retry={"max_retries": 3, "retry_delay": 0.1})
    def crm_check(ctx: TaskContext) -> None:
        bodies.append(ctx.attempt)
        started.set()
        requested.wait(10)
        raise RuntimeError("CRM returned 500")

    # Heartbeats far apart: the node does not hear of the request before the body fails.
    s = await make_scheduler(crm_check, scheduler={"heartbeat_interval": 5.0, "lost_after": 30.0})
    events: list[RunEvent] = []
    s.add_listener(events.append, [EventKind.RETRYING, EventKind.FINISHED])
    run = await s.run_now("crm_check")
    assert await asyncio.to_thread(started.wait, 10)
    asked = await s.store.request_cancel(run.id, datetime.now(UTC), "CRM is down, stop")
    assert asked is not None and asked.status is RunStatus.RUNNING and asked.cancel_requested
    requested.set()

    async def ended() -> Run | None:
        current = await s.get_run(run.id)
        return current if current.status.finished else None

    current = await until(ended, timeout=10)
    assert (current.status, current.attempt, current.reason) == (
        RunStatus.CANCELLED,
        1,
        CANCELLED_IN_ATTEMPT,
    )
    await until(lambda: asyncio.sleep(0, events), timeout=5)
    await asyncio.sleep(0.5)  # a retry (0.1 s later) would have run by now
    assert bodies == [1]
    assert [(e.kind, e.run.status) for e in events] == [(EventKind.FINISHED, RunStatus.CANCELLED)]
    again = await s.get_run(run.id)
    assert (again.status, again.attempt_errors) == (RunStatus.CANCELLED, [])


async def test_a_lost_attempt_of_a_run_whose_cancel_was_requested_ends_it_cancelled(
    make_scheduler: MakeScheduler,
) -> None:
    """The reaper's verdict on a run of a dead node whose cancel was requested (the
    node died before hearing of it): no retry, and listeners are told it finished."""

    @task("patient_cancel", category="t", retry={"max_retries": 2, "retry_delay": 0.1})
    async def patient_cancel() -> None:
        return None

    s = await make_scheduler(patient_cancel)
    events: list[RunEvent] = []
    s.add_listener(events.append, [EventKind.LOST, EventKind.RETRYING, EventKind.FINISHED])
    silent = datetime.now(UTC) - timedelta(seconds=30)
    run = dataclasses.replace(
        manual_run("patient_cancel", max_attempts=3),
        status=RunStatus.RUNNING,
        node_id="ghost",
        started_at=silent,
        heartbeat_at=silent,
        cancel_requested=True,
    )
    await s.store.insert_runs([run])

    async def judged() -> bool:
        return len(events) >= 2

    await until(judged, timeout=15)
    await asyncio.sleep(0.5)  # a retry (0.1 s later) would have been announced by now
    assert [(e.kind, e.run.status) for e in events] == [
        (EventKind.LOST, RunStatus.LOST),
        (EventKind.FINISHED, RunStatus.CANCELLED),
    ]
    assert events[0].detail == {"final": True}
    stored = await s.get_run(run.id)
    assert (stored.status, stored.attempt, stored.reason) == (
        RunStatus.CANCELLED,
        1,
        CANCELLED_IN_ATTEMPT,
    )
