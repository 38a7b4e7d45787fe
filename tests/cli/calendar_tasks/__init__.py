"""Tasks whose default schedules name business calendars (tests/cli/test_default_calendars.py,
tests/cli/test_next_task.py): one on the built-in cn_workdays, one on the 3rd trading day
of sd-spot, a calendar no store holds until a test creates it; one run by hand only."""

from __future__ import annotations

from schedkit import task


@task(
    "workday_report",
    category="demo",
    schedule={"trigger": "cron", "hour": 9, "calendar": "cn_workdays"},
)
def workday_report() -> None:
    return None


@task(
    "spot_settlement",
    category="demo",
    schedule={"trigger": "cron", "hour": 16, "calendar": {"name": "sd-spot", "nth": 3}},
)
def spot_settlement() -> None:
    return None


@task("adhoc_export", category="demo")
def adhoc_export() -> None:
    return None
