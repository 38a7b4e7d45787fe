"""Several nodes on one store: exactly-once firing, lease failover, lost runs.

Nodes are real processes (tests/engine/node_proc.py) killed with SIGKILL where the test
simulates a crash.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schedkit import OffsetClock, RunStatus, Scheduler, TaskContext, TaskRegistry, task
from schedkit.events import EventKind, RunEvent
from schedkit.models import Run, TriggerSource, new_id
from schedkit.store import create_store

from .conftest import MakeScheduler, fast_config
from .nodes import Node, read_marks
from .proc_tasks import long_job

#: Enough runs for the two executors' claims to interleave many times.
RACE_RUNS = 80


async def test_two_scheduler_processes_fire_each_once(store_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "marks.jsonl"
    nodes = [Node(store_url, marker, tasks=["tick"]) for _ in range(2)]
    try:
        await asyncio.gather(*(n.ready() for n in nodes))
        await asyncio.sleep(4.5)
    finally:
        codes = [n.stop() for n in nodes]
    assert codes == [0, 0]
    marks = [m for m in read_marks(marker) if m["event"] == "tick"]
    fires = Counter(m["for"] for m in marks)
    assert len(fires) >= 3, marks
    assert all(count == 1 for count in fires.values()), fires
    async with create_store(store_url) as store:
        runs = await store.list_runs(limit=1000)
    executed = [r for r in runs if r.status is RunStatus.SUCCESS]
    assert sorted(r.scheduled_for.isoformat() for r in executed) == sorted(fires)


async def test_sigkill_leader_standby_takes_over(store_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "marks.jsonl"
    ttl = 2.0
    nodes = [Node(store_url, marker, tasks=["tick"]) for _ in range(2)]
    async with create_store(store_url) as store:
        try:
            await asyncio.gather(*(n.ready() for n in nodes))
            leader_id = None
            for _ in range(100):
                lease = await store.get_lease("scheduler")
                if lease is not None:
                    leader_id = lease.holder
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)
            leader = next(n for n in nodes if n.node_id == leader_id)
            standby = next(n for n in nodes if n is not leader)
            leader.kill()
            killed_at = time.monotonic()
            took_over_after = None
            while time.monotonic() - killed_at < ttl + 5:
                lease = await store.get_lease("scheduler")
                if lease is not None and lease.holder == standby.node_id:
                    took_over_after = time.monotonic() - killed_at
                    break
                await asyncio.sleep(0.05)
            # Takeover within lease TTL + one tick (refresh_interval 0.2 s) + slack for
            # the polling of this test.
            assert took_over_after is not None and took_over_after <= ttl + 0.2 + 0.5
            await asyncio.sleep(2.0)
        finally:
            for n in nodes:
                n.stop()
        runs = await store.list_runs(limit=1000)
    # Every second between the first and the last fire has exactly one record: fires in
    # the failover gap were run late or recorded, none silently dropped, none doubled.
    times = sorted(r.scheduled_for for r in runs)
    assert len(times) == len(set(times))
    seconds = [(t - times[0]).total_seconds() for t in times]
    assert seconds == [float(i) for i in range(len(times))], seconds
    # A fire may be running on the killed node when SIGKILL lands (then lost, or pending
    # again for its retry) or still running on the survivor.
    allowed = {
        RunStatus.SUCCESS,
        RunStatus.SKIPPED,
        RunStatus.RUNNING,
        RunStatus.CANCELLED,
        RunStatus.LOST,
        RunStatus.PENDING,
    }
    assert {r.status for r in runs} <= allowed
    ran = Counter(m["for"] for m in read_marks(marker))
    assert all(c == 1 for c in ran.values())


async def test_sigkill_mid_run_is_lost_then_retried(store_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "marks.jsonl"
    worker = Node(store_url, marker, tasks=["long_job"], scheduler={"enabled": False})
    await worker.ready()
    registry = TaskRegistry()
    registry.register_task(long_job)
    # The surviving node schedules (reaps) but takes no runs until the worker is dead.
    survivor = Scheduler(fast_config(store_url, executor={"enabled": False}), registry=registry)
    await survivor.start()
    try:
        run = Run(
            id=new_id(),
            task_name="long_job",
            schedule_id=None,
            trigger_source=TriggerSource.MANUAL,
            scheduled_for=survivor.clock.now(),
            max_attempts=3,
        )
        await survivor.store.insert_runs([run])
        for _ in range(200):
            if any(m["event"] == "start" for m in read_marks(marker)):
                break
            await asyncio.sleep(0.05)
        assert (await survivor.get_run(run.id)).status is RunStatus.RUNNING
        worker.kill()
        killed_at = time.monotonic()
        lost_seen = None
        while time.monotonic() - killed_at < 10:
            current = await survivor.get_run(run.id)
            if current.attempt_errors:
                lost_seen = time.monotonic() - killed_at
                break
            await asyncio.sleep(0.05)
        # Documented bound: lost_after (3 s) + heartbeat_interval (0.2 s) + one reap
        # interval (0.2 s), plus slack for this test's polling.
        assert lost_seen is not None
        assert lost_seen <= 3.0 + 0.2 + 0.2 + 1.0
        assert current.attempt_errors[0]["status"] == "lost"
        assert current.status is RunStatus.PENDING and current.attempt == 2
    finally:
        await survivor.stop(grace=1)
    # A fresh worker picks the retry up and finishes it.
    worker2 = Node(store_url, marker, tasks=["long_job"], scheduler={"enabled": False})
    try:
        await worker2.ready()
        async with create_store(store_url) as store:
            for _ in range(200):
                final = await store.get_run(run.id)
                assert final is not None
                if final.status.finished:
                    break
                await asyncio.sleep(0.05)
    finally:
        worker2.stop()
    assert final.status is RunStatus.SUCCESS and final.attempt == 2
    done = [m for m in read_marks(marker) if m["event"] == "done"]
    assert [m["attempt"] for m in done] == [2]


async def test_two_executors_race_each_run_once(make_scheduler: MakeScheduler) -> None:
    executed: list[str] = []

    @task("race", category="test")
    async def race(ctx: TaskContext) -> None:
        executed.append(ctx.run_id)
        await asyncio.sleep(0.001)

    a = await make_scheduler(race, scheduler={"enabled": False})
    b = await make_scheduler(race, scheduler={"enabled": False})
    now = a.clock.now()
    runs = [
        Run(
            id=new_id(),
            task_name="race",
            schedule_id=None,
            trigger_source=TriggerSource.MANUAL,
            scheduled_for=now,
            not_before=now,
        )
        for _ in range(RACE_RUNS)
    ]
    # Inserted behind the nodes' backs: their executors find them at the next poll.
    await a.store.insert_runs(runs)
    for _ in range(400):
        if await a.count_runs(status=RunStatus.SUCCESS) == RACE_RUNS:
            break
        await asyncio.sleep(0.05)
    assert sorted(executed) == sorted(r.id for r in runs)
    nodes = Counter(r.node_id for r in await a.list_runs(limit=500))
    assert set(nodes) <= {a.node_id, b.node_id}


def strict_every_minute() -> Any:
    """A task firing every minute whose fires more than 30 s late are missed, each."""

    @task(
        "strict",
        category="test",
        schedule={"trigger": "cron", "minute": "*", "misfire_grace_time": 30, "coalesce": False},
    )
    async def strict() -> None:
        return None

    return strict


async def test_fires_missed_while_down_are_one_warning_per_schedule(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    """A chaos audit: a restart after 8 minutes down logged 263 warnings, one per missed
    fire, each saying the same."""

    strict = strict_every_minute()
    clock = OffsetClock()
    first = await make_scheduler(strict, clock=clock)
    await first.stop()
    clock.advance(timedelta(minutes=30))
    caplog.set_level(logging.WARNING, logger="schedkit.engine.scheduler")
    second = await make_scheduler(strict, clock=clock)

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "missed" in r.getMessage()]

    def counted(said: list[str]) -> int:
        return sum(int(m.split()[0]) if m[0].isdigit() else 1 for m in said)

    # A tick's runs are stored before its warning is logged (the count could see them
    # first on FerretDB): wait for both.
    for _ in range(200):
        missed = await second.count_runs("strict", status=RunStatus.MISSED)
        if missed >= 29 and counted(warnings()) == missed:
            break
        await asyncio.sleep(0.05)
    assert missed >= 29
    said = warnings()
    assert 1 <= len(said) <= 3, said  # one per tick that recorded some
    assert counted(said) == missed, said
    assert any(m.startswith("fires of strict missed", m.index(" ") + 1) for m in said), said
    # In the configured zone, with its offset (an audit: "fire of report_daily-naive at
    # 2026-12-07 01:37:18+00:00 missed" beside the operator's Asia/Shanghai times).
    zoned = r" (?:at|from) \S+ \S+ \+08:00 (?:missed|to \S+ \S+ \+08:00 )"
    assert all(re.search(zoned, m) for m in said), said


async def test_a_node_rewriting_a_default_schedule_says_what_it_changed(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    """A chaos audit: a node configured for Asia/Shanghai in a cluster set to UTC
    rewrote a task's default schedule at its start, shifting the fire times, with
    nothing logged (only the audit trail had it)."""

    @task("zoned", category="test", schedule={"trigger": "cron", "hour": 6})
    async def zoned() -> None:
        return None

    first = await make_scheduler(zoned, timezone="UTC")
    await first.stop()
    caplog.set_level(logging.WARNING, logger="schedkit.service.schedules")
    second = await make_scheduler(zoned, timezone="Asia/Shanghai")
    (schedule,) = await second.list_schedules()
    assert schedule.trigger["timezone"] == "Asia/Shanghai"
    said = [r.getMessage() for r in caplog.records]
    assert any(
        "default schedule of zoned changed by this node" in m
        and "trigger.timezone: UTC → Asia/Shanghai" in m
        for m in said
    ), said
    await second.stop()
    caplog.clear()
    third = await make_scheduler(zoned, timezone="Asia/Shanghai")  # agrees: no word
    assert not [r for r in caplog.records if "default schedule" in r.getMessage()]
    await third.stop()


async def test_restart_handles_fires_missed_while_down(
    make_scheduler: MakeScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    @task(
        "every_minute",
        category="test",
        schedule={"trigger": "cron", "minute": "*", "misfire_grace_time": None, "coalesce": True},
    )
    async def every_minute() -> None:
        return None

    strict = strict_every_minute()

    clock = OffsetClock()
    first = await make_scheduler(every_minute, strict, clock=clock)
    before = {s.id: s.next_fire_time for s in await first.list_schedules()}
    await first.stop()
    # Ten minutes pass while the service is down.
    clock.advance(timedelta(minutes=10))
    caplog.set_level(logging.INFO, logger="schedkit.engine.scheduler")
    second = await make_scheduler(every_minute, strict, clock=clock)

    def coalesced() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if "every_minute" in r.getMessage() and "coalesced into" in r.getMessage()
        ]

    def counted(said: list[str]) -> int:
        return sum(int(m.split()[0]) if m[0].isdigit() else 1 for m in said)

    # The skips are logged after their runs are stored: wait for both.
    for _ in range(100):
        if (
            await second.count_runs("every_minute") >= 10
            and await second.count_runs("strict") >= 10
            and counted(coalesced()) >= 9
        ):
            break
        await asyncio.sleep(0.05)
    catch = await second.list_runs("every_minute", limit=100)
    ran = [r for r in catch if r.status is not RunStatus.SKIPPED]
    skipped = [r for r in catch if r.status is RunStatus.SKIPPED]
    # coalesce: the ten missed fires become one catch-up run, the other nine are recorded.
    assert len(ran) == 1 and ran[0].scheduled_for == max(r.scheduled_for for r in catch)
    assert len(skipped) >= 9 and all("coalesced" in (r.reason or "") for r in skipped)
    # Logged in the configured zone, with its offset, one line per tick (see
    # test_skipped_fire_logs.py).
    logged = coalesced()
    assert counted(logged) == len(skipped) and len(logged) <= 2, logged
    zoned = r"\d+ fires of every_minute skipped, from \S+ \S+ \+08:00 to \S+ \S+ \+08:00 "
    assert re.match(zoned, logged[0]), logged
    assert min(r.scheduled_for for r in catch) == before["every_minute"]
    # misfire grace 30 s without coalescing: every missed fire is recorded as missed.
    strict_runs = await second.list_runs("strict", limit=100)
    missed = [r for r in strict_runs if r.status is RunStatus.MISSED]
    assert len(missed) >= 9 and all("misfire_grace_time" in (r.reason or "") for r in missed)
    assert min(r.scheduled_for for r in strict_runs) == before["strict"]


async def test_a_trigger_changed_while_a_fire_was_due_records_that_fire(
    make_scheduler: MakeScheduler, store_url: str
) -> None:
    """An audit: a node started with new code (another default trigger) after a downtime
    replaced the series, and the old trigger's due fires vanished: no run, no record, no
    alert. The first is recorded missed, with how many were due; none runs."""

    def daily(hour: int) -> Any:
        @task("settle", category="test", schedule={"trigger": "cron", "hour": hour})
        async def settle() -> None:
            return None

        return settle

    clock = OffsetClock()
    first = await make_scheduler(daily(6), clock=clock)
    (old,) = await first.list_schedules()
    await first.stop()
    assert old.next_fire_time is not None
    # Down over three of its fires; the new code fires at another hour.
    clock.advance(old.next_fire_time - clock.now() + timedelta(days=2, minutes=5))
    registry = TaskRegistry()
    registry.register_task(daily(7))
    second = Scheduler(fast_config(store_url), registry=registry, clock=clock)
    heard: list[RunEvent] = []
    second.add_listener(heard.append, [EventKind.MISSED])
    await second.start()
    try:
        runs = await second.list_runs("settle", limit=10)
        (new,) = await second.list_schedules()
    finally:
        await second.stop()
    assert [(r.status, r.scheduled_for) for r in runs] == [(RunStatus.MISSED, old.next_fire_time)]
    assert "trigger changed while this fire was due (3 fires due, up to" in (runs[0].reason or "")
    assert new.next_fire_time is not None and new.next_fire_time > clock.now()
    # Published as a tick's missed fire is: monitors alert on it.
    assert [(e.run.id, e.detail) for e in heard] == [(runs[0].id, {"cause": "schedule_changed"})]


async def test_a_node_that_does_not_fire_leaves_the_default_schedules_alone(
    make_scheduler: MakeScheduler,
) -> None:
    """An integration audit: every CLI command (a management client) and every Celery
    worker's node (executes, fires nothing) wrote its own code's default schedules at
    its start: an operator shell on the old code reverted a deployed change, and each
    rewrite restarted the interval series (two minutes without a fire)."""

    def every(seconds: int) -> Any:
        @task(
            "position_sync", category="test", schedule={"trigger": "interval", "seconds": seconds}
        )
        async def position_sync() -> None:
            return None

        return position_sync

    leader = await make_scheduler(every(45))
    (deployed,) = await leader.list_schedules()
    client = {"scheduler": {"enabled": False}, "executor": {"enabled": False}}
    for role in (client, {"scheduler": {"enabled": False}}):
        old_code = await make_scheduler(every(20), **role)
        await old_code.stop()
    (after,) = await leader.list_schedules()
    assert after.trigger["seconds"] == 45 and after.version == deployed.version
    assert after.next_fire_time == deployed.next_fire_time
    assert len(await leader.list_audit(action="schedule.default")) == 1


async def test_a_leader_keeps_its_lease_with_refresh_interval_over_lease_ttl(
    make_scheduler: MakeScheduler, store_url: str
) -> None:
    """Why ``lease_ttl`` under ``refresh_interval`` is not refused (configuration.md): the
    holder renews every third of the TTL in a task of its own, not at the loop's reads,
    so it holds one term over several TTLs and a standby never takes the lease."""
    timing = {"lease_ttl": 1.0, "refresh_interval": 5.0}
    nodes = [await make_scheduler(scheduler=timing) for _ in range(2)]
    async with create_store(store_url) as store:
        first = None
        for _ in range(50):
            first = await store.get_lease("scheduler")
            if first is not None and any(n.is_leader for n in nodes):
                break
            await asyncio.sleep(0.05)
        assert first is not None
        (leader,) = [n for n in nodes if n.node_id == first.holder]
        end = time.monotonic() + 3 * timing["lease_ttl"]
        while time.monotonic() < end:
            lease = await store.get_lease("scheduler")
            assert lease is not None and (lease.holder, lease.term) == (first.holder, first.term)
            assert leader.is_leader
            await asyncio.sleep(0.1)
