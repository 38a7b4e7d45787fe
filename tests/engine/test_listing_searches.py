"""A schedule's next fire as listings show it is searched once and kept while nothing it
depends on changes (an audit: every listing request searched every calendar schedule
again, and viewers polling the lists kept the node's thread pool busy). Kept, it must
never be stale: an edit of the schedule, of its calendar, or a schedule saved again under
the same id is searched again, on every store.

The schedules start in 2030 (``start_date``), so nothing fires while the test runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schedkit import Scheduler, task
from schedkit.triggers.upcoming import allowed_fire
from tests.counting import calls_of

from .conftest import MakeScheduler

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: 2030-01-07 is a Monday; the calendar ``desk`` (Monday to Friday) closes it at first.
MONDAY, TUESDAY, NEXT_MONDAY = (datetime(2030, 1, d, 9, 0, tzinfo=SHANGHAI) for d in (7, 8, 14))
CLOSED = {"date": "2030-01-07", "open": False, "kind": "extra_closed", "note": "moved"}


@task("daily_desk", retry={"max_retries": 0})
async def daily_desk() -> None:
    return None


def at_nine(hour: int = 9, **fields: Any) -> dict[str, Any]:
    return {
        "trigger": "cron",
        "hour": hour,
        "start_date": "2030-01-07T00:00:00",
        "calendar": "desk",
        **fields,
    }


async def next_fire(s: Scheduler) -> tuple[int, datetime | None]:
    """The schedule's version and its next fire as listings show it."""
    [schedule] = await s.list_schedules("daily_desk")
    return schedule.version, (await s.allowed_fires([schedule]))[schedule.id].fire


async def test_a_kept_next_fire_is_searched_again_once_what_it_depends_on_changes(
    make_scheduler: MakeScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await make_scheduler(daily_desk)
    await s.calendars.put(
        {"name": "desk", "base": "weekdays", "overrides": [CLOSED]}, expected_version=0
    )
    await s.add_task("daily_desk", at_nine(), schedule_id="desk")
    searched = calls_of(monkeypatch, allowed_fire)

    assert await next_fire(s) == (1, TUESDAY)
    assert await next_fire(s) == (1, TUESDAY)
    assert len(searched) == 1, "asked again, unchanged: answered from what was found"

    # Deleted and saved again: the same stored next fire, another trigger (and the next
    # version: versions never repeat for an id).
    await s.delete_schedule("desk")
    await s.add_task("daily_desk", at_nine(day_of_week="mon"), schedule_id="desk")
    assert await next_fire(s) == (2, NEXT_MONDAY)
    assert len(searched) == 2, "another trigger"

    await s.calendars.remove_overrides("desk", [date(2030, 1, 7)])
    assert await next_fire(s) == (2, MONDAY)
    assert len(searched) == 3, "its calendar changed"

    await s.add_task("daily_desk", at_nine(hour=10, day_of_week="mon"), schedule_id="desk")
    assert await next_fire(s) == (3, MONDAY.replace(hour=10))
    assert await next_fire(s) == (3, MONDAY.replace(hour=10))
    assert len(searched) == 4, "the schedule changed"
