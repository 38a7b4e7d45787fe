"""Business calendars on a running cluster: an operator's edit on one node is in force
at the next fire on the node that fires, without a restart (issue #14)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from schedkit import OffsetClock, RunStatus, TaskRegistry, task
from schedkit.models import Run

from .conftest import MakeScheduler

T = TypeVar("T")

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: A Saturday in 2027, a year no package confirms: closed by the estimate until an
#: operator enters it as a make-up workday (a hypothetical 调休 of the 2027 notice).
MAKEUP_SATURDAY = datetime(2027, 1, 9, 10, 0, tzinfo=SHANGHAI)


async def _wait_for(predicate: Callable[[], Awaitable[T]], what: str, timeout: float = 15.0) -> T:
    """Poll ``predicate`` until it returns something truthy (a loaded machine is slow)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await predicate()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_an_override_entered_on_one_node_takes_effect_on_the_next_fire(
    make_scheduler: MakeScheduler,
) -> None:
    @task("daily_report_2027", category="t")
    async def report() -> None:
        return None

    clock = OffsetClock(MAKEUP_SATURDAY - datetime.now(SHANGHAI))
    nodes = []
    for _ in range(2):
        registry = TaskRegistry()
        registry.register_task(report)
        nodes.append(await make_scheduler(registry=registry, clock=clock))

    async def has_leader() -> bool:
        return any(n.is_leader for n in nodes)

    await _wait_for(has_leader, "a leader")
    leader = next(n for n in nodes if n.is_leader)
    other = next(n for n in nodes if n is not leader)
    await other.add_task(
        "daily_report_2027",
        {"trigger": {"trigger": "interval", "seconds": 0.2, "calendar": "cn_workdays"}},
    )

    async def skipped() -> list[Run]:
        return await leader.list_runs("daily_report_2027", status=RunStatus.SKIPPED, limit=5)

    before = await _wait_for(skipped, "a calendar skip")
    assert "2027-01-09 closed, decided by holidays (not confirmed)" in (before[0].reason or "")
    assert [w.title() for w in await other.calendars.warnings()] == [
        "calendar cn_workdays for 2027 not confirmed"
    ]

    # The operator enters the (hypothetical) 2027 notice on the node that does not fire.
    await other.calendars.enter_notice(
        2027, "放假 2027-01-01 至 2027-01-03 元旦\n上班 2027-01-09 元旦调休\n", confirmed=True
    )

    async def succeeded() -> list[Run]:
        return await leader.list_runs("daily_report_2027", status=RunStatus.SUCCESS, limit=5)

    ran = await _wait_for(succeeded, "a run after the notice")
    assert ran[0].node_id in {n.node_id for n in nodes}
    assert await other.calendars.warnings() == []
    await other.pause_task("daily_report_2027")

    # And back: a calendar override closing the day wins over the notice.
    await leader.calendars.add_overrides(
        "cn_workdays", [{"date": "2027-01-09", "open": False, "note": "系统维护"}]
    )
    await other.resume_task("daily_report_2027")

    async def closed_again() -> list[Run]:
        runs = await skipped()
        return [r for r in runs if "decided by override" in (r.reason or "")]

    again = await _wait_for(closed_again, "a skip decided by the override")
    assert "2027-01-09 closed (系统维护)" in (again[0].reason or "")
