"""Nodes whose clocks disagree: each measures its clock against the store server's and,
beyond a second, goes by the store's time, so that the others judge it by times they can
compare with their own (a worker 60 s behind looked silent: its run judged lost and run
again while it still ran it)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schedkit import RunStatus, task
from schedkit.clock import OffsetClock, StoreClock
from schedkit.service.clock_sync import ClockSync, follows
from schedkit.store import create_store
from tests.conftest import BACKENDS

from .conftest import MakeScheduler
from .nodes import Node
from .taps import until

#: Only a store with a server has a clock of its own; SQLite's nodes share one machine's.
SERVERS = [param for param in BACKENDS if param.id != "sqlite"]


@pytest.mark.parametrize("store_url", SERVERS, indirect=True)
async def test_a_worker_whose_clock_lags_keeps_its_run(make_scheduler: MakeScheduler) -> None:
    @task("long_report")
    async def long_report() -> None:
        await asyncio.sleep(4.0)

    quick = {"heartbeat_interval": 0.2, "lost_after": 2.0}
    leader = await make_scheduler(long_report, executor={"enabled": False}, scheduler=quick)
    lagging = StoreClock(OffsetClock(timedelta(seconds=-60)))
    worker = await make_scheduler(long_report, clock=lagging, scheduler={**quick, "enabled": False})
    run = await leader.run_now("long_report")

    async def ended() -> bool:
        current = await leader.get_run(run.id)
        return current is not None and current.status.finished

    await until(ended, 20)
    final = await leader.get_run(run.id)
    assert final is not None
    assert (final.status, final.attempt, final.attempt_errors) == (RunStatus.SUCCESS, 1, [])
    # The worker goes by the store's time, and its node row says how far off it is.
    assert abs(lagging.offset.total_seconds() - 60) < 1
    (row,) = [n for n in await leader.store.list_nodes() if n.id == worker.node_id]
    assert abs(float(row.info["clock_offset"]) - 60) < 1 and row.info["store_time"] is True


@pytest.mark.parametrize("store_url", SERVERS, indirect=True)
async def test_a_leader_whose_clock_runs_ahead_is_replaced_in_time(
    store_url: str, tmp_path: Path
) -> None:
    """Its lease, written by a clock 10 s ahead, outlived it by 10 s: the standby took
    over 12 s after its death instead of 2 (measured 13.4 s with 8 s ahead, TTL 5 s)."""
    ttl = 2.0
    ahead = Node(store_url, tmp_path / "marks.jsonl", tasks=["tick"], clock_skew=10)
    standby: Node | None = None
    async with create_store(store_url) as store:
        try:
            leader_id = await ahead.ready()

            async def led() -> bool:
                lease = await store.get_lease("scheduler")
                return lease is not None and lease.holder == leader_id

            await until(led, 10)
            standby = Node(store_url, tmp_path / "marks.jsonl", tasks=["tick"])
            standby_id = await standby.ready()
            ahead.kill()
            killed_at = time.monotonic()

            async def taken_over() -> bool:
                lease = await store.get_lease("scheduler")
                return lease is not None and lease.holder == standby_id

            await until(taken_over, ttl + 15)
            # The TTL, one refresh of the standby (0.2 s), and this test's polling.
            assert time.monotonic() - killed_at <= ttl + 0.2 + 0.8
        finally:
            ahead.stop()
            if standby is not None:
                standby.stop()


class FixedServer:
    """A store whose server clock reads ``base`` plus ``ahead`` (its round trip: none)."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    async def server_time(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.ahead)


@pytest.mark.parametrize(
    ("offset", "following", "expected"),
    [
        (0.3, False, False),
        (0.9, False, False),  # within a second: the node's own clock
        (1.2, False, True),
        (-1.2, False, True),  # ahead of the store as much
        (0.7, True, True),  # once following, until back within half a second
        (0.4, True, False),
    ],
)
def test_when_a_node_follows_the_store(offset: float, following: bool, expected: bool) -> None:
    assert follows(offset, following) is expected


async def test_the_offset_moves_only_by_steps_worth_a_jump() -> None:
    server = FixedServer(5.0)
    clock = StoreClock()
    sync = ClockSync(server, clock)  # type: ignore[arg-type]
    await sync.measure()
    assert abs(clock.offset.total_seconds() - 5) < 0.1
    first = clock.offset
    server.ahead = 5.1  # jitter of the measure: no step of the node's time
    await sync.measure()
    assert clock.offset == first
    server.ahead = 9.0
    await sync.measure()
    assert abs(clock.offset.total_seconds() - 9) < 0.1
    server.ahead = 0.2  # the node's clock was fixed (NTP): its own again
    await sync.measure()
    assert clock.offset == timedelta(0) and not sync.following
    assert sync.report()["store_time"] is False


async def test_an_injected_clock_is_measured_but_never_moved() -> None:
    clock = OffsetClock(timedelta(seconds=-30))
    sync = ClockSync(FixedServer(0.0), clock)  # type: ignore[arg-type]
    await sync.measure()
    assert clock.offset == timedelta(seconds=-30)
    assert sync.measured is not None and abs(sync.measured - 30) < 0.1


class ManualClock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


async def test_a_clock_stepped_between_measures_keeps_its_course_until_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A chaos audit (faketime): a leader's clock stepped 90 s forward recorded 90 fires
    at once, ran one 89 s early, took the lease anew and judged a live node's run lost,
    all before its next measure (a heartbeat later) put it back on the store's time."""
    base = ManualClock()
    start = base.at
    ticks = [1000.0]
    clock = StoreClock(base, monotonic=lambda: ticks[0])
    sync = ClockSync(FixedServer(0.0), clock)  # type: ignore[arg-type]
    await sync.measure()
    base.at = start + timedelta(seconds=92)  # stepped 90 s, two seconds later
    ticks[0] += 2.0
    assert clock.now() == start + timedelta(seconds=2)
    base.at = start + timedelta(seconds=2.5)  # a small correction is the clock's own
    assert clock.now() == base.at
    base.at = start + timedelta(seconds=92)
    await sync.measure()  # the next heartbeat: the step measured, the store's time
    assert "clock was stepped +90.0 s" in caplog.text
    assert abs(clock.offset.total_seconds() + 92) < 0.5
    assert abs((clock.now() - start).total_seconds()) < 0.5
