"""Backfill on every store: the right runs, the concurrency limit observed, no duplicates
on a repeated request, cancel, progress, and the range cap."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit import ConflictError, RunStatus, Scheduler, TaskContext, ValidationError, task
from schedkit.clock import OffsetClock
from schedkit.models import TriggerSource

from .conftest import MakeScheduler
from .taps import until

ZERO = timedelta(0)
DAILY_WORKDAYS = {"trigger": "cron", "hour": 9, "minute": 0, "calendar": "cn_workdays"}


class Gauge:
    """Counts the runs executing at once and the most seen."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0


def report_task(gauge: Gauge, hold: float) -> Any:
    @task("daily_report", category="report")
    async def daily_report(ctx: TaskContext) -> dict[str, Any]:
        gauge.now += 1
        gauge.most = max(gauge.most, gauge.now)
        try:
            await asyncio.sleep(hold)
        finally:
            gauge.now -= 1
        return {"success": True, "message": "ok"}

    return daily_report


async def _finished(s: Any, schedule_id: str = "daily_report") -> bool:
    status = await s.backfill_status(schedule_id)
    return status is not None and bool(status.progress.finished)


async def test_backfill_runs_each_past_fire_within_the_limit_once(
    make_scheduler: MakeScheduler,
) -> None:
    gauge = Gauge()
    s = await make_scheduler(report_task(gauge, 0.15))
    await s.add_task("daily_report", DAILY_WORKDAYS)

    first = await s.backfill(
        "daily_report", date(2026, 11, 1), date(2026, 11, 15), concurrency=2, actor="ops"
    )
    # 1-15 November 2026: 15 fires at 09:00 local, five on weekends (1, 7, 8, 14, 15).
    assert first.created == 15 and first.progress.total == 15
    assert first.concurrency == 2 and first.requested_by == "ops"

    async def finished() -> bool:
        status = await s.backfill_status("daily_report")
        return status is not None and status.progress.finished

    await until(finished, 60)
    status = await s.backfill_status("daily_report")
    assert status is not None and status.state == "done"
    assert status.progress.succeeded == 10 and status.progress.skipped == 5
    assert gauge.most == 2, "two chains: at most (and, with 10 runs, exactly) two at once"

    runs = await s.list_runs("daily_report", limit=100)
    assert {r.trigger_source for r in runs} == {TriggerSource.BACKFILL}
    local = sorted(r.scheduled_for.astimezone(s.tz) for r in runs)
    assert [d.day for d in local] == list(range(1, 16))
    assert {(d.hour, d.minute) for d in local} == {(9, 0)}
    weekend = [r for r in runs if r.scheduled_for.astimezone(s.tz).weekday() >= 5]
    assert {r.status for r in weekend} == {RunStatus.SKIPPED}
    assert all("calendar" in (r.reason or "") for r in weekend)
    assert all(r.created_by == "ops" for r in runs)

    # The same request again, and an overlapping one: nothing is created twice.
    again = await s.backfill("daily_report", date(2026, 11, 1), date(2026, 11, 15), concurrency=2)
    assert again.created == 0 and again.progress.total == 15
    wider = await s.backfill("daily_report", date(2026, 11, 10), date(2026, 11, 16))
    assert wider.created == 1  # only Monday 16 November is new
    await until(finished, 30)
    assert await s.count_runs("daily_report") == 16
    audit = await s.list_audit(action="schedule.backfill")
    assert len(audit) == 3 and audit[-1].actor == "ops"


async def test_backfill_cancel_stops_the_rest(make_scheduler: MakeScheduler) -> None:
    started = asyncio.Event()

    @task("slow_report", category="report")
    async def slow_report() -> None:
        started.set()
        await asyncio.sleep(60)

    s = await make_scheduler(slow_report)
    await s.add_task("slow_report", {"trigger": "cron", "hour": 9, "minute": 0})
    status = await s.backfill("slow_report", date(2026, 11, 1), date(2026, 11, 5))
    assert status.progress.total == 5 and status.progress.done == 0
    await asyncio.wait_for(started.wait(), 10)
    during = await s.backfill_status("slow_report")
    assert during is not None and during.state == "running"
    assert during.progress.running == 1 and during.progress.pending == 4

    cancelled = await s.cancel_backfill("slow_report", actor="ops")
    assert cancelled.state == "cancelled"
    # The running run is asked to stop, not said cancelled (an audit: a run that finished
    # despite the cancel was counted cancelled).
    (entry,) = await s.list_audit(action="schedule.backfill.cancel")
    assert entry.detail == "5 run(s): 4 pending cancelled, 1 running asked to stop"

    async def all_cancelled() -> bool:
        current = await s.backfill_status("slow_report")
        assert current is not None
        return current.progress.cancelled == 5

    await until(all_cancelled, 15)
    final = await s.backfill_status("slow_report")
    assert final is not None and final.progress.finished and final.progress.succeeded == 0
    assert cancelled.cancelled_at is not None and cancelled.cancelled_at.utcoffset() == ZERO
    with pytest.raises(ConflictError, match="was already cancelled"):
        await s.cancel_backfill("slow_report")
    again = await s.backfill_status("slow_report")
    assert again is not None and again.cancelled_at == cancelled.cancelled_at


async def test_cancelling_a_finished_backfill_is_a_conflict(
    make_scheduler: MakeScheduler,
) -> None:
    """A backfill whose runs all finished has nothing left to cancel: it stays done, with
    no cancel recorded (nor audited)."""
    s = await make_scheduler(report_task(Gauge(), 0))
    await s.add_task("daily_report", {"trigger": "cron", "hour": 9, "minute": 0})
    await s.backfill("daily_report", date(2026, 11, 1), date(2026, 11, 3))

    async def finished() -> bool:
        status = await s.backfill_status("daily_report")
        return status is not None and status.progress.finished

    await until(finished, 30)
    with pytest.raises(ConflictError, match="has already finished"):
        await s.cancel_backfill("daily_report")
    after = await s.backfill_status("daily_report")
    assert after is not None and after.state == "done" and after.cancelled_at is None
    assert await s.list_audit(action="schedule.backfill.cancel") == []


async def test_backfill_refuses_bad_requests(make_scheduler: MakeScheduler) -> None:
    gauge = Gauge()
    s = await make_scheduler(report_task(gauge, 0), limits={"max_backfill_fires": 10})
    await s.add_task("daily_report", {"trigger": "cron", "hour": 9, "minute": 0})
    with pytest.raises(ValidationError, match="more than 10 fires") as too_many:
        await s.backfill("daily_report", date(2026, 11, 1), date(2026, 11, 15))
    assert too_many.value.field == "to"
    with pytest.raises(ValidationError, match="empty") as empty:
        await s.backfill("daily_report", date(2026, 11, 5), date(2026, 11, 1))
    assert empty.value.field == "from"
    with pytest.raises(ValidationError) as bad:
        await s.backfill("daily_report", date(2026, 11, 1), date(2026, 11, 2), concurrency=0)
    assert bad.value.field == "concurrency"
    with pytest.raises(LookupError):
        await s.backfill("nope", date(2026, 11, 1), date(2026, 11, 2))
    # Audit finding: naive date-times were read as wall times (midnight to midnight, two
    # days) where the docs say a date-time carries its offset (and the API refuses one).
    for start, end, field in (
        (datetime(2026, 11, 1, 0, 0), datetime(2026, 11, 3, 0, 0), "from"),
        (date(2026, 11, 1), datetime(2026, 11, 3, 9, 30), "to"),
    ):
        with pytest.raises(ValidationError, match="has no offset") as naive:
            await s.backfill("daily_report", start, end)
        assert naive.value.field == field
    assert await s.backfill_status("daily_report") is None
    assert await s.count_runs("daily_report") == 0
    # A range reaching into the future stops at now.
    late = await s.backfill(
        "daily_report", datetime.now(s.tz).date(), date(2099, 1, 1), concurrency=1
    )
    assert late.end <= datetime.now(s.tz)


async def test_backfill_of_an_interval_runs_the_schedules_own_fires(
    make_scheduler: MakeScheduler,
) -> None:
    """Audit finding: an interval without start_date saved at 10:17 New York time (fires
    at :17) was backfilled at 01:00..23:00 (00:00 lost), every 6 hours at 06:00, 12:00,
    18:00: none of them a fire of the schedule. The series stored decides."""
    new_york = ZoneInfo("America/New_York")
    saved = datetime(2024, 11, 5, 10, 17, tzinfo=new_york)
    clock = OffsetClock(saved - datetime.now(UTC))
    s = await make_scheduler(report_task(Gauge(), 0), clock=clock, timezone="America/New_York")
    schedule = await s.add_task("daily_report", {"trigger": "interval", "hours": 6})
    assert schedule.next_fire_time is not None
    done = await s.backfill("daily_report", date(2024, 11, 4), date(2024, 11, 4))
    assert done.created == 4
    runs = sorted(r.scheduled_for for r in await s.list_runs("daily_report", limit=10))
    # On the live series' grid: 04:17, 10:17, 16:17, 22:17 (plus the clock's drift
    # between its setting and the save, milliseconds).
    assert all((schedule.next_fire_time - r) % timedelta(hours=6) == ZERO for r in runs)
    local = [r.astimezone(new_york) for r in runs]
    assert [(t.day, t.hour, t.minute) for t in local] == [
        (4, 4, 17),
        (4, 10, 17),
        (4, 16, 17),
        (4, 22, 17),
    ]


async def test_the_limit_holds_across_nodes(make_scheduler: MakeScheduler) -> None:
    """Two executing nodes on one store claim the backfill's runs; the chains in the
    store still let no more than `concurrency` run at once."""
    gauge = Gauge()
    first = await make_scheduler(report_task(gauge, 0.1))
    await make_scheduler(report_task(gauge, 0.1))
    await first.add_task("daily_report", {"trigger": "cron", "hour": 9, "minute": 0})
    await first.backfill("daily_report", date(2026, 11, 1), date(2026, 11, 12), concurrency=3)

    async def finished() -> bool:
        status = await first.backfill_status("daily_report")
        return status is not None and status.progress.finished

    await until(finished, 60)
    status = await first.backfill_status("daily_report")
    assert status is not None and status.progress.succeeded == 12
    assert 1 < gauge.most <= 3


async def test_a_backfill_being_stored_holds_off_another_range(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between a request's claim of the schedule and its runs reaching the store, a second
    request of another range is refused: it used to find no unfinished run yet, replace
    the record and store its runs beside the first's, which cancel could no longer reach."""
    s = await make_scheduler(report_task(Gauge(), 0))
    await s.add_task("daily_report", {"trigger": "cron", "hour": 9, "minute": 0})
    first, release = await _storing_held(s, monkeypatch)
    with pytest.raises(ConflictError, match="being stored"):
        await s.backfill("daily_report", date(2026, 11, 10), date(2026, 11, 12))
    with pytest.raises(ConflictError, match="being stored right now"):
        await s.cancel_backfill("daily_report")
    # The same range again is the same request: answered with its progress, running
    # (no run stored yet read as every run finished: "done", on FerretDB in an audit).
    same = await s.backfill("daily_report", date(2026, 11, 1), date(2026, 11, 3))
    assert same.created == 0 and same.state == "running"
    status = await s.backfill_status("daily_report")
    assert status is not None and status.state == "running"
    release.set()
    assert (await first).created == 3
    assert await s.count_runs("daily_report") == 3
    # Once stored (and finished), the schedule is free for another range.
    await until(lambda: _finished(s), 30)
    later = await s.backfill("daily_report", date(2026, 11, 10), date(2026, 11, 12))
    assert later.created == 3


async def test_the_same_range_asked_twice_at_once_is_one_request(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests that both read the schedule free: the one whose claim loses was told
    "another backfill ... was requested at the same moment" (409) for the very range
    the winner stores. It is answered with the winner's backfill."""
    s = await make_scheduler(report_task(Gauge(), 0))
    await s.add_task("daily_report", {"trigger": "cron", "hour": 9, "minute": 0})
    store = s.backfills.store
    get_state = store.get_state
    first, release = await _storing_held(s, monkeypatch)
    reads = 0

    async def read_before_the_claim(key: str) -> Any:
        """The claim's first read sees the schedule free (the winner not yet written)."""
        nonlocal reads
        if key == "backfill:daily_report":
            reads += 1
            if reads == 1:
                return None
        return await get_state(key)

    monkeypatch.setattr(store, "get_state", read_before_the_claim)
    same = await s.backfill("daily_report", date(2026, 11, 1), date(2026, 11, 3))
    assert (same.created, same.state, same.requested_by) == (0, "running", "ops")
    reads = 0
    with pytest.raises(ConflictError, match="requested at the same moment"):
        await s.backfill("daily_report", date(2026, 11, 10), date(2026, 11, 12))
    release.set()
    assert (await first).created == 3


async def _storing_held(
    s: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> tuple[asyncio.Task[Any], asyncio.Event]:
    """A backfill of 2026-11-01..03 by "ops" held while it stores its runs (until the
    event returned is set); returned once it holds, the store's insert its own again."""
    store = s.backfills.store
    insert_runs = store.insert_runs
    claimed, release = asyncio.Event(), asyncio.Event()

    async def held_insert(runs: Any) -> Any:
        claimed.set()
        await release.wait()
        return await insert_runs(runs)

    monkeypatch.setattr(store, "insert_runs", held_insert)
    first = asyncio.create_task(
        s.backfill("daily_report", date(2026, 11, 1), date(2026, 11, 3), actor="ops")
    )
    await asyncio.wait_for(claimed.wait(), 10)
    monkeypatch.setattr(store, "insert_runs", insert_runs)
    return first, release
