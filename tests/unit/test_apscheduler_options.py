"""APScheduler's add_job options in a schedule config are refused with where each went
(docs/migrating.md), not as a bare unknown field; and where they point holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schedkit import Scheduler, task
from schedkit.errors import ScheduleConflictError, ValidationError
from schedkit.registry import TaskRegistry
from schedkit.triggers import ScheduleSpec

HINTS = {
    "replace_existing": (True, "APScheduler's option: add_task replaces the schedule"),
    "next_run_time": (None, "APScheduler's option: for next_run_time=None, pause the task"),
    "id": ("nightly", "a schedule's id is not part of its config: pass schedule_id"),
    "name": ("Nightly export", "a schedule has no name: schedule_id names it"),
    "jobstore": ("default", "APScheduler's option: every schedule is kept in the one store"),
}


@pytest.mark.parametrize("option", sorted(HINTS))
@pytest.mark.parametrize(
    "shape",
    [
        {"trigger": "cron", "hour": 2},
        {"trigger": {"trigger": "cron", "hour": 2}},
        {"trigger": {"trigger": "interval", "minutes": 5}},
    ],
    ids=["flat", "nested", "nested-interval"],
)
def test_an_apscheduler_option_says_where_it_went(option: str, shape: dict[str, Any]) -> None:
    value, hint = HINTS[option]
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.parse({**shape, option: value})
    field = f"trigger.{option}" if isinstance(shape["trigger"], str) else option
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: unknown field {option!r} ({hint}")


def test_inside_a_calendar_the_names_are_the_calendars_own() -> None:
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.parse({"trigger": "cron", "hour": 2, "calendar": {"name": "all", "id": 1}})
    assert caught.value.field == "trigger.calendar.id"
    assert "schedule_id" not in caught.value.message


def test_args_still_points_at_kwargs() -> None:
    with pytest.raises(ValidationError, match=r"did you mean 'kwargs'\?"):
        ScheduleSpec.parse({"trigger": "cron", "hour": 2, "args": [1]})


async def test_the_hints_hold(tmp_path: Path) -> None:
    @task("export")
    def export() -> None:
        return None

    config = {"store_url": f"sqlite:///{tmp_path / 's.db'}", "scheduler": {"enabled": False}}
    async with Scheduler(config, registry=TaskRegistry(), tasks=[export]) as s:
        await s.add_task("export", {"trigger": "cron", "hour": 2})
        again = await s.add_task("export", {"trigger": "cron", "hour": 3})
        assert (again.id, again.version, again.trigger["hour"]) == ("export", 2, 3)
        with pytest.raises(ScheduleConflictError):
            await s.add_task("export", {"trigger": "cron", "hour": 4}, expected_version=0)
        await s.add_task("export", "0 6 * * *", schedule_id="export-morning")
        paused = await s.pause_task("export")
        assert sorted((p.id, p.paused) for p in paused) == [
            ("export", True),
            ("export-morning", True),
        ]
