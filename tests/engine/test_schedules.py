"""Schedules at runtime: add/replace/pause/resume/remove, overlap policies, bad input."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit import (
    BaseTask,
    ConflictError,
    Run,
    RunStatus,
    Scheduler,
    SyncScheduler,
    TaskContext,
    TaskDefinitionError,
    TaskNotFoundError,
    TaskPriority,
    TaskRegistry,
    ValidationError,
    task,
)
from schedkit.clock import OffsetClock
from schedkit.errors import StoreUnavailableError
from schedkit.events import EventKind, RunEvent
from schedkit.store import Store, create_store
from schedkit.store.values import FireRecord

from .conftest import MakeScheduler, fast_config
from .taps import intercept, until


@task("nightly", category="report")
async def nightly() -> None:
    return None


async def test_add_task_persists_and_survives_restart(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(nightly)
    schedule = await s.add_task(
        "nightly",
        {"trigger": "cron", "hour": 2, "minute": 0, "misfire_grace_time": 300, "max_instances": 1},
    )
    assert schedule.origin == "runtime"
    assert schedule.next_fire_time is not None
    local = schedule.next_fire_time.astimezone(s.tz)
    assert (local.hour, local.minute) == (2, 0)
    # Replacing keeps one schedule with a new version and the new trigger.
    replaced = await s.add_task("nightly", "30 3 * * *", actor="bob")
    assert replaced.version == schedule.version + 1
    assert [x.id for x in await s.list_schedules("nightly")] == ["nightly"]
    assert replaced.max_instances == 3  # job_defaults fill what the config leaves out
    await s.stop()

    again = await make_scheduler(nightly)
    kept = await again.get_schedule("nightly")
    assert kept is not None and kept.trigger == replaced.trigger and kept.origin == "runtime"
    info = await again.get_job_info("nightly")
    assert info[0]["next_run_time"].endswith("+08:00") and "T03:30:00" in info[0]["next_run_time"]
    audit = await again.store.list_audit(target="nightly")
    assert [e.action for e in audit][:2] == ["schedule.put", "schedule.put"]
    assert audit[0].actor == "bob"
    assert audit[0].before is not None and audit[0].after is not None


async def test_a_recurring_schedule_past_its_end_date_is_stored_with_a_warning(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    """A cron schedule whose end_date had passed (a year typed wrong) was stored as
    ended without a word, unlike a one-off already past its run date."""
    s = await make_scheduler(nightly)
    ended = {"trigger": "cron", "hour": 2, "end_date": "2020-06-30T00:00:00"}
    with caplog.at_level(logging.WARNING, logger="schedkit.service.schedules"):
        schedule = await s.add_task("nightly", ended, schedule_id="nightly:ended")
        await s.add_task("nightly", {**ended, "end_date": "2999-06-30"}, schedule_id="later")
    assert schedule.next_fire_time is None  # kept: an end date may be meant
    [warning] = [r for r in caplog.records if "end_date" in r.getMessage()]
    assert warning.getMessage() == (
        "schedule 'nightly:ended' has no fire before its end_date 2020-06-30 00:00:00 "
        "(Asia/Shanghai): it is stored as ended and will not run"
    )
    assert warning.schedule_note.schedule_id == "nightly:ended"  # type: ignore[attr-defined]


async def test_job_info_gives_the_next_run_the_calendar_allows(
    make_scheduler: MakeScheduler,
) -> None:
    """get_job_info said the stored, nominal next fire: a Sunday for a workday schedule,
    whose Sunday fire is recorded skipped, while the console and the CLI said Monday."""
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    clock = OffsetClock(saturday - datetime.now(UTC))
    s = await make_scheduler(nightly, clock=clock)
    workdays = {"trigger": "cron", "hour": 8, "minute": 30, "calendar": "cn_workdays"}
    schedule = await s.add_task("nightly", workdays)
    assert schedule.next_fire_time is not None
    assert schedule.next_fire_time.astimezone(s.tz).isoformat() == "2026-12-06T08:30:00+08:00"
    [info] = await s.get_job_info("nightly")
    assert info["next_run_time"] == "2026-12-07T08:30:00+08:00"


async def test_pause_resume_remove(make_scheduler: MakeScheduler) -> None:
    s = await make_scheduler(nightly)
    await s.add_task("nightly", {"trigger": "interval", "seconds": 0.3})
    with pytest.raises(ConflictError):
        await s.resume_task("nightly")
    paused = await s.pause_task("nightly", note="数据源维护中", actor="ops")
    assert paused[0].paused and paused[0].pause_note == "数据源维护中"
    count = await s.count_runs("nightly")
    await asyncio.sleep(1.0)
    assert await s.count_runs("nightly") == count
    info = await s.get_job_info("nightly")
    assert info[0]["paused"] is True and info[0]["next_run_time"] is None
    resumed = await s.resume_task("nightly")
    assert not resumed[0].paused and resumed[0].pause_note is None

    async def fired_again() -> bool:
        return await s.count_runs("nightly") > count

    await until(fired_again, timeout=10)
    assert await s.remove_task("nightly")
    assert await s.list_schedules("nightly") == []
    assert not await s.remove_task("nightly")


async def test_interval_fires_on_time(make_scheduler: MakeScheduler, store_url: str) -> None:
    seen: list[float] = []

    @task("beat", category="t")
    async def beat(ctx: TaskContext) -> None:
        seen.append(time.time() - ctx.scheduled_for.timestamp())

    s = await make_scheduler(beat)
    await s.add_task("beat", {"trigger": "interval", "seconds": 0.25, "max_instances": 1})
    await asyncio.sleep(1.6)
    await s.pause_task("beat")
    assert len(seen) >= 4
    # Each run starts close to its nominal time (generous bounds for a loaded CI box). A
    # fire on the MongoDB store costs several round trips (locks, lease and version
    # checks, inserts), and FerretDB's took up to 0.7 s on the 2-core CI machine.
    assert max(seen) < (1.5 if store_url.startswith("mongodb") else 0.4), seen
    runs = await s.list_runs("beat", limit=100)
    assert len({r.scheduled_for for r in runs}) == len(runs)


def _slow_task(name: str, started: list[str], seconds: float) -> Any:
    @task(name, category="t")
    async def slow(ctx: TaskContext) -> None:
        started.append(ctx.run_id)
        await asyncio.sleep(seconds)

    return slow


async def test_overlap_skip_records_skipped(make_scheduler: MakeScheduler) -> None:
    started: list[str] = []
    release = asyncio.Event()

    # The first run holds until released: one of fixed length (1.2 s against a pause at
    # 1.5 s) could end before a late pause, and the next fire then started a second.
    @task("ov_skip", category="t")
    async def held(ctx: TaskContext) -> None:
        started.append(ctx.run_id)
        await release.wait()

    s = await make_scheduler(held)
    # Not coalesced: an event loop held up for longer than the interval (seen in CI, 0.8 s)
    # finds several fires due at once, and coalescing records all but the last skipped
    # with its own reason. Each fire is then judged by the overlap policy alone.
    spec = {"trigger": "interval", "seconds": 0.3, "max_instances": 1, "overlap": "skip"}
    await s.add_task("ov_skip", {**spec, "coalesce": False})

    async def skipped_twice() -> bool:
        return await s.count_runs("ov_skip", status=RunStatus.SKIPPED) >= 2

    await until(skipped_twice, timeout=10)
    await s.pause_task("ov_skip")
    release.set()
    runs = await s.list_runs("ov_skip", limit=100)
    assert all(
        "overlap policy skip" in (r.reason or "") for r in runs if r.status is RunStatus.SKIPPED
    )
    assert len(started) == 1
    assert Counter(r.status for r in runs)[RunStatus.SKIPPED] == len(runs) - 1


async def test_overlap_queue_one(make_scheduler: MakeScheduler) -> None:
    started: list[str] = []
    release = asyncio.Event()

    # The first run holds until the test releases it: a sleep of fixed length let a loaded
    # machine finish it before the pause, and the next fire then queued a second run.
    @task("ov_queue", category="t")
    async def held(ctx: TaskContext) -> None:
        started.append(ctx.run_id)
        if len(started) == 1:
            await release.wait()

    s = await make_scheduler(held)
    await s.add_task(
        "ov_queue",
        {"trigger": "interval", "seconds": 0.3, "max_instances": 1, "overlap": "queue_one"},
    )

    async def queued_and_skipped() -> bool:
        runs = await s.list_runs("ov_queue", limit=100)
        blocked = any(r.blocked_by is not None for r in runs)
        return blocked and any(r.status is RunStatus.SKIPPED for r in runs)

    await until(queued_and_skipped, timeout=10)
    await s.pause_task("ov_queue")
    runs = await s.list_runs("ov_queue", limit=100)
    queued = [r for r in runs if r.blocked_by is not None]
    assert len(queued) == 1, runs
    assert queued[0].blocked_by == started[0]
    assert queued[0].status is RunStatus.PENDING
    assert len(started) == 1
    # The queued run starts once the running one finishes, not before.
    release.set()
    done = await s.wait_for_run(queued[0].id, timeout=5)
    assert done.status is RunStatus.SUCCESS
    first = await s.get_run(started[0])
    assert first.finished_at is not None and done.started_at is not None
    assert done.started_at >= first.finished_at
    assert len(started) == 2


async def test_overlap_replace_cancels_running(make_scheduler: MakeScheduler) -> None:
    started: list[str] = []
    s = await make_scheduler(_slow_task("ov_replace", started, 10))
    await s.add_task(
        "ov_replace",
        {"trigger": "interval", "seconds": 0.4, "max_instances": 1, "overlap": "replace"},
    )

    async def first_ended() -> Run | None:
        if len(started) < 2:
            return None
        run = await s.get_run(started[0])
        return run if run.status is not RunStatus.RUNNING else None

    # Polled rather than slept: on a busy machine the second fire (due at 0.8 s) and the
    # cancellation it sends can both land after any fixed sleep.
    first = await until(first_ended, timeout=6.0)
    await s.pause_task("ov_replace")
    assert first.status is RunStatus.CANCELLED
    assert "replaced by the fire" in (first.reason or "")
    assert len(started) >= 2


async def test_overlap_allow_runs_concurrently(make_scheduler: MakeScheduler) -> None:
    started: list[str] = []
    s = await make_scheduler(_slow_task("ov_allow", started, 5.0))
    await s.add_task("ov_allow", {"trigger": "interval", "seconds": 0.25, "overlap": "allow"})
    # Each run lasts 5 s, so once a second fire has started both are running; polled
    # rather than slept, as a busy machine can delay the second fire past a fixed sleep.
    deadline = asyncio.get_running_loop().time() + 4.0
    running = 0
    while running < 2 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        running = await s.count_runs("ov_allow", status=RunStatus.RUNNING)
    await s.pause_task("ov_allow")
    assert running >= 2


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"trigger": "cron", "hour": 25}, "trigger.hour"),
        ({"trigger": "cron", "minute": 0, "timezone": "Mars/Olympus"}, "trigger.timezone"),
        ({"trigger": "weekly"}, "trigger.trigger"),
        ({"trigger": "interval", "seconds": 0}, "trigger.seconds"),
        (
            {
                "trigger": "interval",
                "minutes": 5,
                "start_date": "2030-01-02",
                "end_date": "2030-01-01",
            },
            "trigger.end_date",
        ),
        ("61 * * * *", "trigger.expression"),
        ({"trigger": "cron", "hour": 2, "max_instances": 0}, "max_instances"),
    ],
)
async def test_bad_schedule_rejected_and_store_unchanged(
    make_scheduler: MakeScheduler, config: Any, field: str
) -> None:
    s = await make_scheduler(nightly)
    before = await s.list_schedules()
    with pytest.raises(ValidationError) as err:
        await s.add_task("nightly", config)
    assert err.value.field == field, str(err.value)
    assert await s.list_schedules() == before


async def test_unknown_task_and_bad_kwargs_in_schedule(make_scheduler: MakeScheduler) -> None:
    @task("typed", category="t")
    async def typed(days: int = 30) -> None:
        return None

    s = await make_scheduler(typed)
    with pytest.raises(TaskNotFoundError, match="no_such"):
        await s.add_task("no_such", {"trigger": "cron", "hour": 1})
    with pytest.raises(ValidationError) as err:
        await s.add_task(
            "typed", {"trigger": {"trigger": "cron", "hour": 1}, "kwargs": {"days": "x"}}
        )
    assert err.value.field == "kwargs.days"
    with pytest.raises(ValidationError) as err:
        await s.add_task(
            "typed", {"trigger": {"trigger": "cron", "hour": 1}, "kwargs": {"nope": 1}}
        )
    assert err.value.field == "kwargs.nope"
    assert await s.list_schedules("typed") == []


def test_sync_wrapper_for_scripts(sqlite_url: str) -> None:
    calls: list[str] = []

    @task("from_flask", category="t")
    def from_flask(who: str = "flask") -> dict[str, Any]:
        calls.append(threading.current_thread().name)
        return {"success": True, "message": f"hello {who}"}

    registry = TaskRegistry()
    registry.register_task(from_flask)
    with SyncScheduler(fast_config(sqlite_url), registry=registry) as s:
        run = s.run_now("from_flask", {"who": "script"}, wait=True, timeout=10)
        assert run.status is RunStatus.SUCCESS
        assert run.result["message"] == "hello script"
        assert s.get_run(run.id).id == run.id
        assert len(s.list_tasks()) == 1
    assert calls and calls[0].startswith("schedkit-run")


async def test_store_unreachable_at_start_names_url() -> None:
    from schedkit import Scheduler, StoreUnavailableError

    s = Scheduler(fast_config("postgresql://app:s3cret@127.0.0.1:1/db"), registry=TaskRegistry())
    with pytest.raises(StoreUnavailableError) as err:
        await s.start()
    message = str(err.value)
    assert "127.0.0.1:1" in message and "s3cret" not in message and "***" in message


async def test_heartbeats_while_running(make_scheduler: MakeScheduler, store_url: str) -> None:
    gate = asyncio.Event()

    @task("beats", category="t")
    async def beats() -> None:
        await gate.wait()

    s = await make_scheduler(beats)
    run = await s.run_now("beats")
    first = (await s.get_run(run.id)).heartbeat_at
    assert first is not None

    async def beaten() -> bool:
        later = (await s.get_run(run.id)).heartbeat_at
        return later is not None and later > first

    # One every 0.2 s, but on FerretDB under the CI's load a beat took over 0.7 s.
    await until(beaten, timeout=10)
    gate.set()
    assert (await s.wait_for_run(run.id, timeout=5)).status is RunStatus.SUCCESS
    async with create_store(store_url) as store:
        nodes = await store.list_nodes()
    assert any(n.id == s.node_id and "executor" in n.roles for n in nodes)


async def test_graceful_stop_cancels_after_grace(make_scheduler: MakeScheduler) -> None:
    quick_done = asyncio.Event()

    @task("quick_on_stop", category="t")
    async def quick_on_stop() -> None:
        await asyncio.sleep(0.2)
        quick_done.set()

    @task("endless", category="t")
    async def endless() -> None:
        await asyncio.sleep(60)

    s = await make_scheduler(quick_on_stop, endless)
    quick = await s.run_now("quick_on_stop")
    stuck = await s.run_now("endless")
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await s.stop(grace=0.5)
    assert time.monotonic() - started < 3
    async with create_store(s.config.store_url) as store:
        finished = await store.get_run(quick.id)
        cancelled = await store.get_run(stuck.id)
    assert finished is not None and finished.status is RunStatus.SUCCESS
    assert cancelled is not None and cancelled.status is RunStatus.CANCELLED
    assert cancelled.reason == "service shut down before the run finished"


async def test_leader_that_cannot_renew_stops_firing_before_expiry(
    make_scheduler: MakeScheduler,
) -> None:
    from schedkit import StoreUnavailableError

    @task("every_tick", category="t")
    async def every_tick() -> None:
        return None

    s = await make_scheduler(every_tick)
    await s.add_task("every_tick", {"trigger": "interval", "seconds": 0.1, "overlap": "allow"})
    for _ in range(50):
        if s.is_leader:
            break
        await asyncio.sleep(0.05)
    assert s.is_leader
    lease = await s.leader_lease()
    assert lease is not None

    # Fault injection, not a mock: from now on every renewal fails as if the store were
    # unreachable, while the rest of the store keeps working for the assertions.
    async def unreachable(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailableError("injected: store unreachable for lease renewal")

    s.store.renew_lease = unreachable  # type: ignore[method-assign]
    await asyncio.sleep(s.config.scheduler.lease_ttl + 0.5)
    runs = await s.list_runs("every_tick", limit=1000)
    last_fire_created = max(r.created_at for r in runs)
    assert not s.is_leader
    # It stopped creating runs before the lease it held could expire.
    assert last_fire_created < lease.expires_at
    held = await s.store.get_lease("scheduler")
    assert held is not None and held.expires_at < s.clock.now()


async def test_calendar_excluded_fires_are_recorded(make_scheduler: MakeScheduler) -> None:
    from datetime import datetime

    from schedkit import OffsetClock

    ran: list[str] = []

    @task("workdays_only", category="t")
    async def workdays_only() -> None:
        ran.append("x")

    # 2025-10-01 10:00 Shanghai is National Day: not a Chinese working day.
    target = datetime(2025, 10, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    clock = OffsetClock(target - datetime.now(ZoneInfo("Asia/Shanghai")))
    s = await make_scheduler(workdays_only, clock=clock)
    await s.add_task(
        "workdays_only",
        {"trigger": {"trigger": "interval", "seconds": 0.2, "calendar": "cn_workdays"}},
    )
    await asyncio.sleep(1.0)
    await s.pause_task("workdays_only")
    runs = await s.list_runs("workdays_only", limit=100)
    assert runs and ran == []
    assert all(r.status is RunStatus.SKIPPED for r in runs)
    assert all("calendar" in (r.reason or "") for r in runs)


async def test_broken_stored_schedule_does_not_stop_the_others(
    make_scheduler: MakeScheduler,
) -> None:
    from dataclasses import replace as dc_replace

    ran: list[str] = []

    @task("healthy", category="t")
    async def healthy() -> None:
        ran.append("ok")

    s = await make_scheduler(healthy, nightly)
    good = await s.add_task("healthy", {"trigger": "interval", "seconds": 0.2})
    # A schedule written by some other tool / older version, invalid for this one.
    existing = await s.store.get_schedule("nightly")
    expected = existing.version if existing is not None else 0
    broken = dc_replace(
        good,
        id="nightly",
        task_name="nightly",
        trigger={"trigger": "cron", "hour": 99},
        version=expected + 1,
    )
    await s.store.put_schedule(broken, expected_version=expected)
    seen = len(ran)

    async def still_firing() -> bool:
        return len(ran) >= seen + 2

    await until(still_firing, timeout=10)


async def test_removed_default_schedule_stays_removed(make_scheduler: MakeScheduler) -> None:
    @task("with_default", category="t", schedule={"trigger": "cron", "hour": 4})
    async def with_default() -> None:
        return None

    s = await make_scheduler(with_default)
    assert [x.id for x in await s.list_schedules("with_default")] == ["with_default"]
    assert await s.remove_task("with_default", actor="ops")
    await s.stop()
    again = await make_scheduler(with_default)
    assert await again.list_schedules("with_default") == []
    # Scheduling it again on purpose brings it back.
    await again.add_task("with_default", {"trigger": "cron", "hour": 5})
    assert [x.id for x in await again.list_schedules("with_default")] == ["with_default"]


async def test_schedule_id_of_another_task_and_pause_without_schedule(
    make_scheduler: MakeScheduler,
) -> None:
    @task("other", category="t")
    async def other() -> None:
        return None

    s = await make_scheduler(nightly, other)
    await s.add_task("nightly", {"trigger": "cron", "hour": 1}, schedule_id="shared")
    with pytest.raises(ConflictError, match="belongs to task 'nightly'"):
        await s.add_task("other", {"trigger": "cron", "hour": 2}, schedule_id="shared")
    with pytest.raises(ConflictError, match="no schedule"):
        await s.pause_task("other")
    # Removing it through the other task is refused the same way, and changes nothing.
    with pytest.raises(ConflictError, match="belongs to task 'nightly'"):
        await s.delete_schedule("shared", task_name="other")
    assert await s.get_schedule("shared") is not None
    await s.delete_schedule("shared", task_name="nightly")
    assert await s.get_schedule("shared") is None


async def test_kwargs_edge_cases_rejected_before_store(make_scheduler: MakeScheduler) -> None:
    @task("no_params", category="t")
    async def no_params() -> None:
        return None

    @task("open_params", category="t")
    async def open_params(region: str = "广东", **kwargs: Any) -> dict[str, Any]:
        return {"success": True, "data": {"region": region, **kwargs}}

    s = await make_scheduler(no_params, open_params)
    with pytest.raises(ValidationError) as err:
        await s.run_now("no_params", {"surprise": 1})
    assert err.value.field == "kwargs.surprise"
    with pytest.raises(ValidationError) as err:
        await s.run_now("open_params", {"note": "\ud800"})
    assert err.value.field == "kwargs.note"
    for not_a_mapping in ([1, 2], "region=广东"):
        with pytest.raises(ValidationError, match="must be an object") as err:
            await s.run_now("open_params", not_a_mapping)  # type: ignore[arg-type]
        assert err.value.field == "kwargs"
    assert await s.count_runs() == 0
    run = await s.run_now("open_params", {"batch": 5}, wait=True, timeout=10)
    assert run.result is not None and run.result["data"] == {"region": "广东", "batch": 5}


async def test_pause_on_another_node_stops_fires_from_the_stale_window(
    make_scheduler: MakeScheduler,
) -> None:
    """The firing node plans from a copy of its window read up to refresh_interval ago;
    a pause committed on another node must still stop every fire written after it."""
    leader = await make_scheduler(nightly, scheduler={"refresh_interval": 2.0})
    other = await make_scheduler(nightly, scheduler={"enabled": False}, executor={"enabled": False})
    await leader.add_task("nightly", {"trigger": "interval", "seconds": 0.05})
    await asyncio.sleep(0.6)  # firing; the next read of the window is ≥ 1.4 s away
    await other.pause_task("nightly", note="from the other node")
    paused_at = datetime.now(UTC)
    await asyncio.sleep(1.0)  # 20 fires of the stale copy would be due in this time
    runs = await leader.list_runs("nightly", limit=500)
    assert runs, "the schedule fired before the pause"
    late = [r for r in runs if r.created_at > paused_at]
    assert late == []


async def test_queued_run_starts_when_its_predecessor_ends_not_at_the_next_poll(
    make_scheduler: MakeScheduler,
) -> None:
    started: list[str] = []
    s = await make_scheduler(
        _slow_task("ov_queue_fast", started, 0.5), executor={"poll_interval": 30.0}
    )
    await s.add_task(
        "ov_queue_fast",
        {"trigger": "interval", "seconds": 0.3, "max_instances": 1, "overlap": "queue_one"},
    )
    # First fire ~0.3 s, runs 0.5 s; the second is queued behind it. Polled, not slept
    # for a fixed time: a loaded machine may fire late.
    queued: list[Run] = []
    for _ in range(100):
        runs = await s.list_runs("ov_queue_fast", limit=100)
        queued = [r for r in runs if r.blocked_by is not None]
        if queued:
            break
        await asyncio.sleep(0.05)
    await s.pause_task("ov_queue_fast")
    assert len(queued) == 1, runs
    done = await s.wait_for_run(queued[0].id, timeout=5)
    first = await s.get_run(queued[0].blocked_by or "")
    assert first.finished_at is not None and done.started_at is not None
    assert timedelta(0) <= done.started_at - first.finished_at < timedelta(seconds=1)


async def test_runs_of_other_nodes_are_claimed_while_local_runs_keep_ending(
    make_scheduler: MakeScheduler,
) -> None:
    """Run ends wake the claim loop without claiming (no pending run is known); they
    must not keep postponing the poll that finds runs created on other nodes."""

    @task("tick_fast", category="t")
    async def tick_fast() -> None:
        await asyncio.sleep(0.005)

    worker = await make_scheduler(tick_fast, nightly, executor={"poll_interval": 0.3})
    other = await make_scheduler(
        tick_fast, nightly, scheduler={"enabled": False}, executor={"enabled": False}
    )
    await worker.add_task("tick_fast", {"trigger": "interval", "seconds": 0.02})
    await asyncio.sleep(0.5)
    run = await other.run_now("nightly")
    assert run.status is RunStatus.PENDING
    done = await worker.wait_for_run(run.id, timeout=3)
    assert done.status is RunStatus.SUCCESS and done.node_id == worker.node_id
    assert done.started_at is not None
    assert done.started_at - run.created_at < timedelta(seconds=1.5)


@pytest.mark.parametrize("failing", ["active_runs_of", "record_fires"])
async def test_a_fire_whose_tick_fails_on_the_store_is_fired_again(
    make_scheduler: MakeScheduler, failing: str
) -> None:
    """A tick that cannot reach the store has taken its fires off the timer heap; they
    must be planned again from the store, not forgotten (a date trigger fires once)."""
    from schedkit import StoreUnavailableError

    s = await make_scheduler(nightly)
    original = getattr(s.store, failing)
    failures: list[str] = []

    # Fault injection, not a mock: the first call fails as if the store were down.
    async def down_once(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(failing)
            raise StoreUnavailableError(f"injected: {failing} failed")
        return await original(*args, **kwargs)

    setattr(s.store, failing, down_once)
    when = datetime.now(UTC) + timedelta(seconds=0.5)
    await s.add_task("nightly", {"trigger": "date", "run_date": when.isoformat()})
    for _ in range(60):
        if await s.count_runs("nightly"):
            break
        await asyncio.sleep(0.1)
    assert failures == [failing]
    runs = await s.list_runs("nightly")
    assert [r.scheduled_for for r in runs] == [when]


@task(
    "strict_minutes",
    category="test",
    schedule={"trigger": "cron", "minute": "*", "misfire_grace_time": 20, "coalesce": False},
)
async def strict_minutes() -> None:
    return None


async def test_a_tick_write_whose_answer_was_lost_still_announces_what_it_stored(
    store_url: str,
) -> None:
    """A tick's write committed and its answer was lost (a dropped connection after the
    commit): the fires are not planned again (the schedule is advanced), and what the
    write stored was never announced — no ``missed`` event for the missed fires, so no
    missed-run alert, and no ``created`` for the run. Fault injected: the real write
    runs, then the call fails as a lost answer does."""
    registry = TaskRegistry()
    registry.register_task(strict_minutes)
    clock = OffsetClock()
    first = Scheduler(fast_config(store_url), registry=registry, clock=clock)
    await first.start()
    (schedule,) = await first.list_schedules()
    await first.stop()
    # The service is down over three fires: the next start's first tick records the two
    # older than the misfire grace missed and runs the third.
    assert schedule.next_fire_time is not None
    clock.advance(schedule.next_fire_time + timedelta(minutes=2, seconds=5) - clock.now())
    answers_lost: list[FireRecord] = []
    store = create_store(fast_config(store_url).store_url)
    # On the class: a node instruments its store's methods in place when it starts.
    store.__class__ = _losing_an_answer(type(store), answers_lost)
    second = Scheduler(fast_config(store_url), registry=registry, clock=clock, store=store)
    events: list[RunEvent] = []
    second.add_listener(events.append)
    await second.start()
    try:

        async def settled() -> list[Run] | None:
            runs = await second.list_runs("strict_minutes", limit=100)
            pending = {RunStatus.PENDING, RunStatus.RUNNING}
            return runs if len(runs) == 3 and not {r.status for r in runs} & pending else None

        runs = await until(settled, timeout=15)
        assert len(answers_lost) == 1  # the fault was injected
        missed = [r for r in runs if r.status is RunStatus.MISSED]
        started = [r for r in runs if r.status is not RunStatus.MISSED]
        assert (len(missed), len(started)) == (2, 1), runs
        await until(lambda: _events_of(events, started, EventKind.FINISHED), timeout=10)
        announced = Counter((e.kind, e.run.id) for e in events)
        for run in missed:
            assert announced[(EventKind.MISSED, run.id)] == 1, (run, events)
        for run in started:
            assert announced[(EventKind.CREATED, run.id)] == 1, (run, events)
            assert announced[(EventKind.STARTED, run.id)] == 1, (run, events)
    finally:
        await second.stop()


def _losing_an_answer(store_class: type[Store], lost: list[FireRecord]) -> type[Store]:
    """``store_class`` whose first tick write storing runs commits, then fails as a
    write whose answer was lost does."""

    class LosingAnAnswer(store_class):  # type: ignore[misc, valid-type]
        async def record_fires(self, *args: Any, **kwargs: Any) -> FireRecord:
            record: FireRecord = await super().record_fires(*args, **kwargs)
            if record.inserted and not lost:
                lost.append(record)
                raise StoreUnavailableError("injected: the write committed, its answer was lost")
            return record

    return LosingAnAnswer


async def _events_of(events: list[RunEvent], runs: list[Run], kind: EventKind) -> bool:
    ids = {e.run.id for e in events if e.kind is kind}
    return all(run.id in ids for run in runs)


# -- fires taken a little ahead (scheduler.fire_ahead) ---------------------------------------

STAMPS: dict[str, datetime] = {}
STAMPED: list[asyncio.Event] = []  # this test's (each test has an event loop of its own)


@task("stamp")
async def stamp(ctx: TaskContext) -> None:
    STAMPS[ctx.schedule_id or ""] = datetime.now(UTC)
    if len(STAMPS) == 5:
        STAMPED[-1].set()


async def test_fires_due_close_together_share_one_write_and_each_starts_on_time(
    make_scheduler: MakeScheduler,
) -> None:
    """At high fire rates a tick per fire cost a transaction per fire; fires nearly due
    join the tick of the first and still start at their own times."""
    STAMPS.clear()
    STAMPED.append(asyncio.Event())
    # A long lookahead and refresh: the loop wakes for the first fire, not for a read.
    s = await make_scheduler(
        stamp, scheduler={"fire_ahead": 0.2, "lookahead": 5.0, "refresh_interval": 5.0}
    )
    writes: list[str] = []
    s.observe_store(lambda op, _elapsed, _error: writes.append(op))
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    due = {f"s{i}": base + timedelta(milliseconds=30 * i) for i in range(5)}
    for sid, when in due.items():
        await s.add_task(
            "stamp", {"trigger": "date", "run_date": when.isoformat()}, schedule_id=sid
        )
    await asyncio.wait_for(STAMPED[-1].wait(), 15)
    assert set(STAMPS) == set(due)
    # Five fires 120 ms apart in all, with 200 ms ahead: one tick wrote them (two if the
    # loop woke for its lease between them), not one each.
    assert 1 <= writes.count("record_fires") <= 2
    for sid, when in due.items():
        assert STAMPS[sid] >= when - timedelta(milliseconds=2), (sid, STAMPS[sid], when)
        # The task has returned; its end is written a moment later (shared writes).
        (fired,) = await s.list_runs(schedule_id=sid)
        run = await s.wait_for_run(fired.id, timeout=10)
        assert run.status is RunStatus.SUCCESS
        assert run.started_at is not None and run.started_at >= when


async def test_a_schedule_added_while_the_loop_reads_the_store_is_not_missed(
    make_scheduler: MakeScheduler,
) -> None:
    """A schedule added on this node wakes the scheduler loop to read the store again. One
    added while the loop was in that read (the read answering without it) was seen only
    at the next refresh: the read's end set the next refresh ``refresh_interval`` ahead
    and the loop dropped the wake-up, so a one-off fired that late (seen in CI as a fire
    3 s late with a 5 s refresh). Here the second schedule is added inside the read."""
    STAMPS.clear()
    s = await make_scheduler(
        stamp, scheduler={"fire_ahead": 0.2, "lookahead": 60.0, "refresh_interval": 30.0}
    )
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    added_inside: list[str] = []

    async def add_during_the_read(original: Any, *args: Any, **kwargs: Any) -> Any:
        keys = await original(*args, **kwargs)
        if not added_inside:
            added_inside.append("inside")
            spec = {"trigger": "date", "run_date": soon.isoformat()}
            await s.add_task("stamp", spec, schedule_id="inside")
        return keys

    intercept(s.store, "due_schedule_keys", add_during_the_read)
    later = {"trigger": "date", "run_date": (soon + timedelta(hours=1)).isoformat()}
    await s.add_task("stamp", later, schedule_id="first")  # wakes the loop: it reads

    async def ran() -> bool:
        return "inside" in STAMPS

    await until(ran, timeout=10)
    assert added_inside == ["inside"]
    assert soon <= STAMPS["inside"] < soon + timedelta(seconds=1)


async def test_a_fire_taken_ahead_without_a_free_slot_starts_at_its_time_not_at_the_poll(
    make_scheduler: MakeScheduler,
) -> None:
    """A fire taken ahead that finds no free slot here is stored pending, claimable only
    from its time. The claim its creation woke passed it by, and it waited for the
    executor's next poll: up to ``poll_interval`` late (1 s by default)."""
    STAMPS.clear()
    s = await make_scheduler(
        stamp,
        scheduler={"fire_ahead": 0.5, "lookahead": 5.0, "refresh_interval": 5.0},
        executor={"max_concurrent_runs": 1, "poll_interval": 30.0},
    )
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    # One slot: the tick at the first fire takes the second one ahead, and only the
    # first gets the slot.
    due = {"first": base, "second": base + timedelta(milliseconds=300)}
    for sid, when in due.items():
        await s.add_task(
            "stamp", {"trigger": "date", "run_date": when.isoformat()}, schedule_id=sid
        )

    async def both_ran() -> bool:
        return len(STAMPS) == 2

    await until(both_ran, timeout=10)
    (second,) = await s.list_runs(schedule_id="second")
    assert second.node_id == s.node_id
    assert due["second"] <= STAMPS["second"] < due["second"] + timedelta(seconds=1)


async def test_a_wake_up_while_a_claim_is_in_flight_is_not_lost(
    make_scheduler: MakeScheduler,
) -> None:
    """The claim loop cleared its wake-up event after each claim, so a wake-up that came
    while the claim was in flight (a run created meanwhile, a fire taken ahead coming
    due) was dropped, and the run waited for the next poll (30 s here)."""
    from schedkit.engine import runs

    s = await make_scheduler(stamp, executor={"poll_interval": 30.0})
    executor = s._executor
    in_flight = asyncio.Event()

    # Fault injection, not a mock: every claim answers 0.3 s late.
    async def slow_claim(original: Any, *args: Any, **kwargs: Any) -> Any:
        in_flight.set()
        await asyncio.sleep(0.3)
        return await original(*args, **kwargs)

    intercept(s.store, "claim_runs", slow_claim)
    executor.wake_here()
    await asyncio.wait_for(in_flight.wait(), 5)
    task = s.registry.require("stamp")
    run = runs.manual(task, {}, datetime.now(UTC), actor="test")
    assert await s.store.insert_runs([run])  # stored pending, as another node would
    executor.wake_here()  # while the claim that cannot see it is in flight

    async def ran() -> Run | None:
        found = await s.get_run(run.id)
        return found if found.status.finished else None

    done = await until(ran, timeout=5)
    assert done.status is RunStatus.SUCCESS


async def test_stop_does_not_wait_without_bound_for_a_tick_stuck_on_the_store(
    make_scheduler: MakeScheduler,
) -> None:
    """A tick waiting on the store (a lock left behind, a server that stopped answering)
    kept stop() waiting as long as it did; stop() now cancels it after the lease's time."""
    s = await make_scheduler(nightly)  # lease_ttl 2 s (tests' config)
    stuck = asyncio.Event()

    async def never_answers(*_args: Any, **_kwargs: Any) -> Any:
        stuck.set()
        await asyncio.Event().wait()

    s.store.due_schedule_keys = never_answers  # type: ignore[method-assign]
    await asyncio.wait_for(stuck.wait(), 5)
    started = time.monotonic()
    await s.stop(grace=0.5)
    assert time.monotonic() - started < 2.0 + 1.5


class _PriorityService(BaseTask):
    """A task computing its priority when a run is built: valid when registered."""

    task_name = "priority_service"  # type: ignore[assignment]
    task_description = "d"  # type: ignore[assignment]
    task_category = "t"  # type: ignore[assignment]
    default_schedule = None  # type: ignore[assignment]
    down = False

    @property
    def task_priority(self) -> TaskPriority:
        if _PriorityService.down:
            raise RuntimeError("priority service down")
        return TaskPriority.NORMAL

    async def execute(self, **kwargs: Any) -> None:
        return None


async def test_a_task_failing_when_its_run_is_built_does_not_stop_the_others(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    @task("still_healthy", category="t")
    async def still_healthy() -> None:
        ran.append("ok")

    s = await make_scheduler(still_healthy, _PriorityService)
    _PriorityService.down = True
    try:
        # Not coalesced: a loop held up (CI load) records fires due together skipped as
        # coalesced, with a reason of their own.
        await s.add_task(
            "priority_service", {"trigger": "interval", "seconds": 0.2, "coalesce": False}
        )
        await s.add_task("still_healthy", {"trigger": "interval", "seconds": 0.2})

        async def both_fired() -> bool:
            broken = await s.list_runs("priority_service", limit=10)
            return len(ran) >= 2 and len(broken) >= 2

        await until(both_fired, timeout=10)
    finally:
        _PriorityService.down = False
    broken = await s.list_runs("priority_service", limit=10)
    assert all(r.status is RunStatus.SKIPPED for r in broken)
    assert all(
        r.reason == "task 'priority_service' failed to build its run: RuntimeError: "
        "priority service down"
        for r in broken
    )
    logged = [r for r in caplog.records if "failed to build its run" in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR  # once, not per fire
    assert "schedule priority_service" in logged[0].getMessage()


async def test_a_default_schedule_refused_at_start_names_the_task(
    make_scheduler: MakeScheduler,
) -> None:
    @task("too_often", category="t", schedule={"trigger": "interval", "seconds": 0.5})
    async def too_often() -> None:
        return None

    with pytest.raises(TaskDefinitionError) as err:
        await make_scheduler(too_often, limits={"min_interval": 1.0})
    assert str(err.value).startswith(
        "task 'too_often': default schedule: trigger.seconds: the schedule may fire every "
        "0.5 s, more often than the minimum of 1 s (limits.min_interval); correct the default "
        "schedule, or set default_schedule = None"
    )
