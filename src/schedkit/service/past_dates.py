"""Schedules stored with nothing left to run: a one-off whose run date is already past
the misfire grace, a recurring one with no fire before its end date, a schedule whose
fire due at once a run of its id holds already.

Such a schedule is accepted (backfill-like uses exist, and an end date may be kept for
the record) but the one-off's only fire will be recorded ``missed``, and the recurring
one is stored as ended; more often than not that is a mistake, such as a naive
``datetime.now() + ...`` on a machine whose zone is not the configured one (naive
datetimes are wall times in the trigger's zone), or a year typed wrong.
:class:`ScheduleBook` logs a :class:`PastRunDate`, a :class:`PastEndDate` or a
:class:`FireRecorded` (a :data:`ScheduleNote`) when it stores one, and hands it to the
caller that asked with :func:`noted` (the API returns them with its answer).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from schedkit.engine import planning
from schedkit.models import Run, RunStatus, Schedule
from schedkit.triggers import trigger_from_json

__all__ = [
    "FireRecorded",
    "PastEndDate",
    "PastRunDate",
    "ScheduleNote",
    "fire_recorded",
    "naive_run_date",
    "note",
    "noted",
    "past_end_date",
    "past_run_date",
]


@dataclasses.dataclass(frozen=True, slots=True)
class PastRunDate:
    """A one-off schedule whose only fire is later than its misfire grace already."""

    kind: ClassVar[str] = "past_run_date"
    schedule_id: str
    #: The run date, in the zone it was given in (the trigger's).
    run_date: datetime
    late: timedelta
    misfire_grace_time: float
    #: This machine's zone, when a naive run date was read in another (the trigger's).
    local_zone: str | None

    @property
    def zone(self) -> str:
        return str(self.run_date.tzinfo)

    def message(self) -> str:
        late = timedelta(seconds=round(self.late.total_seconds()))
        text = (
            f"schedule {self.schedule_id!r} fires once, at "
            f"{self.run_date:%Y-%m-%d %H:%M:%S} ({self.zone}): {late} ago, later than its "
            f"misfire_grace_time of {self.misfire_grace_time:g} s, so it will be recorded "
            "missed, not run"
        )
        if self.local_zone is not None:
            text += (
                f"; naive datetimes are read in {self.zone}, not in this machine's zone "
                f"({self.local_zone})"
            )
        return text


def past_run_date(schedule: Schedule, now: datetime, *, naive: bool) -> PastRunDate | None:
    """What to warn of when ``schedule`` is a one-off whose fire, due ``now``, would be
    recorded missed; None otherwise. ``naive``: its run date was given without an offset."""
    grace = schedule.misfire_grace_time
    nominal = schedule.next_fire_time
    if schedule.trigger.get("trigger") != "date" or grace is None or nominal is None:
        return None
    trigger = trigger_from_json(schedule.trigger)
    late = now - planning.fire_time(trigger, schedule, nominal)
    if late.total_seconds() <= grace:
        return None
    given = nominal.astimezone(ZoneInfo(schedule.trigger["timezone"]))
    # The same wall time read in this machine's zone, as the caller probably meant it.
    local = given.replace(tzinfo=None).astimezone()
    other_zone = naive and local.utcoffset() != given.utcoffset()
    return PastRunDate(
        schedule_id=schedule.id,
        run_date=given,
        late=late,
        misfire_grace_time=grace,
        local_zone=local.tzname() if other_zone else None,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class PastEndDate:
    """A cron or interval schedule with no fire left before its end date."""

    kind: ClassVar[str] = "past_end_date"
    schedule_id: str
    #: The end date, in the trigger's zone.
    end_date: datetime

    @property
    def zone(self) -> str:
        return str(self.end_date.tzinfo)

    def message(self) -> str:
        return (
            f"schedule {self.schedule_id!r} has no fire before its end_date "
            f"{self.end_date:%Y-%m-%d %H:%M:%S} ({self.zone}): it is stored as ended and "
            "will not run"
        )


def past_end_date(schedule: Schedule) -> PastEndDate | None:
    """What to warn of when ``schedule`` is a recurring one stored with no fire left
    because of its ``end_date``; None otherwise (also when ``max_runs`` ended it)."""
    trigger = schedule.trigger
    end = trigger.get("end_date")
    if trigger.get("trigger") == "date" or end is None or schedule.next_fire_time is not None:
        return None
    if schedule.runs_left == 0:
        return None
    return PastEndDate(
        schedule_id=schedule.id,
        end_date=datetime.fromisoformat(end).astimezone(ZoneInfo(trigger["timezone"])),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class FireRecorded:
    """A schedule saved with a fire due at once that a run holds already: its id fired
    it before (a schedule deleted since, or this one before an edit). A fire is fenced
    by (schedule id, time), so that each runs once however often its schedule is
    written (a node re-creating it from its config, two nodes racing): it is not run
    again."""

    kind: ClassVar[str] = "fire_recorded"
    schedule_id: str
    #: The fire's time, in the trigger's zone.
    fire: datetime
    run_id: str
    status: RunStatus
    #: Whether the schedule fires only this once (a one-off will then never run).
    once: bool

    @property
    def zone(self) -> str:
        return str(self.fire.tzinfo)

    def message(self) -> str:
        then = "it will not run" if self.once else "that fire will not run again"
        return (
            f"schedule {self.schedule_id!r} fires at {self.fire:%Y-%m-%d %H:%M:%S} "
            f"({self.zone}), a fire recorded already for this schedule id (run "
            f"{self.run_id}, {self.status}): a schedule's fire runs once, so {then}; "
            "to run the task again, run it now or give the schedule another id"
        )


def fire_recorded(schedule: Schedule, run: Run) -> FireRecorded:
    """The warning for ``schedule``, whose next fire ``run`` holds already."""
    assert schedule.next_fire_time is not None
    return FireRecorded(
        schedule_id=schedule.id,
        fire=schedule.next_fire_time.astimezone(ZoneInfo(schedule.trigger["timezone"])),
        run_id=run.id,
        status=run.status,
        once=schedule.trigger.get("trigger") == "date",
    )


#: What a schedule saved will not run, said with the save.
ScheduleNote = PastRunDate | PastEndDate | FireRecorded

_NOTES: ContextVar[list[ScheduleNote] | None] = ContextVar("schedkit_schedule_notes", default=None)


@contextlib.contextmanager
def noted() -> Iterator[list[ScheduleNote]]:
    """The notes on the schedules saved in the block by this task (or thread), in order:
    for an adapter to return them with its answer, as each is also logged."""
    notes: list[ScheduleNote] = []
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


def note(found: ScheduleNote) -> None:
    """Hand ``found`` to the caller collecting within :func:`noted`, if any."""
    notes = _NOTES.get()
    if notes is not None:
        notes.append(found)


def naive_run_date(config: Any) -> bool:
    """Whether a schedule config gives its ``run_date`` without a UTC offset."""
    if not isinstance(config, Mapping):
        return False  # a spec object: its run date is aware already
    trigger = config.get("trigger")
    value = (trigger if isinstance(trigger, Mapping) else config).get("run_date")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return False
    if isinstance(value, datetime):
        return value.tzinfo is None
    return isinstance(value, date)
