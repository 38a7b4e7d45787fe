"""The searches of listings take turns (one worker thread at a time, whatever the number
of callers), a caller whose budget runs out waiting for its turn searches nothing and
says so, and a search its budget cut short is kept a while, then made again."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit.calendars import CalendarSet
from schedkit.models import Schedule
from schedkit.service import fire_searches
from schedkit.service.fire_searches import RETRY_AFTER, FireSearches
from schedkit.triggers.upcoming import Stop, Upcoming

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
DAILY = {"trigger": "cron", "hour": 9, "calendar": "cn_workdays"}


def schedule(schedule_id: str) -> Schedule:
    return Schedule(id=schedule_id, task_name="t", trigger=DAILY, next_fire_time=FIRST)


async def test_callers_search_one_at_a_time_and_one_out_of_time_searches_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inside = most = 0
    lock = threading.Lock()
    entered, release = threading.Event(), threading.Event()

    def held(trigger: Any, n: int, start: datetime, **_: Any) -> Upcoming:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        entered.set()
        release.wait(30)
        with lock:
            inside -= 1
        return Upcoming(fires=[start], complete=True)

    monkeypatch.setattr(fire_searches, "upcoming", held)
    searches = FireSearches(SHANGHAI, budget=0.3)
    first = asyncio.create_task(searches.upcoming([schedule("a")], 1, CalendarSet()))
    assert await asyncio.to_thread(entered.wait, 30)  # the first caller's search holds the turn
    late = [searches.upcoming([schedule(f"b{n}")], 1, CalendarSet()) for n in range(5)]
    for found in await asyncio.gather(*late):
        assert found.fires == {} and not found.complete
    gone = asyncio.create_task(searches.upcoming([schedule("c")], 1, CalendarSet()))
    await asyncio.sleep(0)  # waiting for its turn when its client goes
    gone.cancel()
    release.set()
    found = await first
    assert found.fires == {"a": (FIRST,)} and found.complete
    assert most == 1 and searches.searched == 1
    # The turns given up were given back: the next caller searches.
    assert (await searches.upcoming([schedule("d")], 1, CalendarSet())).complete
    assert searches.searched == 2 and gone.cancelled()


async def test_a_search_cut_short_is_kept_a_while_then_made_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    def cut(trigger: Any, n: int, start: datetime, **_: Any) -> Upcoming:
        return Upcoming(fires=[start], complete=False, stopped=Stop.BUDGET)

    monkeypatch.setattr(fire_searches, "upcoming", cut)
    clock = Clock()
    searches = FireSearches(SHANGHAI, clock=clock)
    for _ in range(3):
        found = await searches.upcoming([schedule("a")], 5, CalendarSet())
        assert found.fires == {"a": (FIRST,)} and not found.complete
    assert searches.searched == 1
    # The fire it found answers a caller asking one fire only, complete.
    assert (await searches.upcoming([schedule("a")], 1, CalendarSet())).complete
    clock.now += RETRY_AFTER
    await searches.upcoming([schedule("a")], 5, CalendarSet())
    assert searches.searched == 2
