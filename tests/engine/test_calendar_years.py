"""The year view's calendar years (``scheduler.calendar_years``): worked out off the event
loop, once while the calendar and the national notices are what was read, again as soon
as another node changes either. An audit: the 365 days were decided on the event loop,
15-60 ms a request, and twelve viewers looping over the year view made the admin's
``/tasks`` take 0.37 s instead of 0.02 on SQLite."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import date

import pytest

from schedkit import Scheduler, TaskRegistry, readmodels
from schedkit.api.problems import problem_for
from schedkit.calendars import CalendarSet
from schedkit.errors import NodeBusyError
from tests.stopping import stop_or_fail

from .conftest import MakeScheduler, fast_config

SATURDAY = date(2031, 1, 11)


def day(view: readmodels.CalendarYear, on: date) -> readmodels.DayView:
    return next(d for d in view.days if d.date == on)


async def test_a_year_is_worked_out_again_only_when_its_data_changed(
    make_scheduler: MakeScheduler,
) -> None:
    viewer, other = await make_scheduler(), await make_scheduler()
    years = viewer.calendar_years
    first = await readmodels.calendar_year(viewer, "cn_workdays", 2031)
    zh = await readmodels.calendar_year(viewer, "cn_workdays", 2031, "zh")
    assert years.worked == 1, "asked again, in any language: from memory"
    assert [d.open for d in zh.days] == [d.open for d in first.days]
    assert day(first, SATURDAY).open is False
    await readmodels.calendar_year(viewer, "cn_workdays", 2032)
    assert years.worked == 2

    # Another node enters the year's notice: the next view is worked out again.
    await other.calendars.enter_notice(2031, "上班 2031-01-11 调休\n", confirmed=True, partial=True)
    noticed = day(await readmodels.calendar_year(viewer, "cn_workdays", 2031), SATURDAY)
    assert (noticed.open, noticed.source, years.worked) == (True, "notice", 3)
    # And when the calendar itself changes.
    await other.calendars.add_overrides("cn_workdays", [{"date": "2031-01-11", "open": False}])
    closed = day(await readmodels.calendar_year(viewer, "cn_workdays", 2031), SATURDAY)
    assert (closed.open, closed.source, years.worked) == (False, "override", 4)
    await readmodels.calendar_year(viewer, "cn_workdays", 2031)
    assert years.worked == 4


@pytest.fixture
async def node(sqlite_url: str) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(fast_config(sqlite_url), registry=TaskRegistry())
    await scheduler.start()
    yield scheduler
    await stop_or_fail(scheduler, grace=1.0)


async def test_the_event_loop_runs_on_while_years_are_worked_out(
    node: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each day decided costs a millisecond of CPU: a year holds a thread 0.37 s, which
    on the event loop was as long a stall of everything else. (The bound leaves a loaded
    machine room: the thread takes the GIL in turns with the loop.)"""
    decide = CalendarSet.decide

    def slow(books: CalendarSet, name: str, on: date) -> object:
        busy_until = time.perf_counter() + 0.001
        while time.perf_counter() < busy_until:
            pass
        return decide(books, name, on)

    monkeypatch.setattr(CalendarSet, "decide", slow)
    lags: list[float] = []

    async def tick() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - start - 0.01)

    ticker = asyncio.create_task(tick())
    views = await asyncio.gather(
        *(readmodels.calendar_year(node, "weekdays", year) for year in (2040, 2041))
    )
    ticker.cancel()
    assert max(lags) < 0.2, f"the loop stalled {max(lags):.3f} s"
    assert [v.open_days for v in views] == [261, 261]


async def test_a_year_whose_turn_does_not_come_in_time_is_a_busy_answer(node: Scheduler) -> None:
    release = threading.Event()
    holder = asyncio.create_task(node.fire_searches.in_turn(release.wait))
    await asyncio.sleep(0.05)  # it holds the turn
    books = await node.calendars.snapshot(["weekdays"])
    try:
        with pytest.raises(NodeBusyError, match="retry"):
            await node.calendar_years.days(books, "weekdays", 2040, deadline=time.monotonic() + 0.1)
    finally:
        release.set()
    assert await holder is True
    assert (await node.calendar_years.days(books, "weekdays", 2040)).coverage.year == 2040
    answer = problem_for(NodeBusyError("busy"))
    assert answer is not None
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "1")
