"""The façade reads a naive date-time parameter in the scheduler's configured zone (here
Europe/Berlin, not the default Asia/Shanghai): a run started from Python, a schedule and
a bulk import all store it with that zone's offset on its date, on every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schedkit import RunStatus, task
from schedkit.service.bulk import ScheduleEntry

from .conftest import MakeScheduler

BERLIN = "Europe/Berlin"


@task("berlin_meeting", retry={"max_retries": 0})
def berlin_meeting(when: datetime) -> dict[str, object]:
    return {"success": True, "data": {"utc": when.astimezone(UTC).isoformat()}}


async def test_run_now_reads_a_naive_datetime_in_the_configured_zone(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(berlin_meeting, timezone=BERLIN)
    # A naive datetime object, as Python callers pass one; summer time in Berlin.
    run = await s.run_now(
        "berlin_meeting", {"when": datetime(2026, 7, 1, 9)}, wait=True, timeout=10
    )
    assert run.status is RunStatus.SUCCESS, run.error
    assert run.kwargs == {"when": "2026-07-01T09:00:00+02:00"}
    assert run.result is not None and run.result["data"] == {"utc": "2026-07-01T07:00:00+00:00"}


async def test_schedules_read_kwargs_in_the_configured_zone(
    make_scheduler: MakeScheduler,
) -> None:
    s = await make_scheduler(berlin_meeting, timezone=BERLIN)
    far = (datetime.now(UTC) + timedelta(days=3650)).replace(microsecond=0).isoformat()
    spec = {"trigger": "date", "run_date": far, "kwargs": {"when": "2026-01-15T09:00"}}
    one = await s.add_task("berlin_meeting", spec, schedule_id="one")
    assert one.kwargs == {"when": "2026-01-15T09:00:00+01:00"}  # winter: +01:00
    [bulk] = await s.add_schedules(
        [ScheduleEntry(task_name="berlin_meeting", config=spec, schedule_id="bulk", line=1)]
    )
    assert bulk.kwargs == one.kwargs
    stored = await s.get_schedule("bulk")
    assert stored is not None and stored.kwargs == one.kwargs
