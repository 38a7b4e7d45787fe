"""Pure decisions of the firing path: which due fires run, and what the overlap policy
says about each. No store, no clock, no I/O: everything comes in as arguments, so each
rule is tested as a function (tests/unit/engine/test_planning.py).

The scheduler loop calls, per schedule and tick:

1. :func:`due_fires` — the fires whose time (nominal + jitter) has come;
2. :func:`judge_fires` — unregistered task, business calendar, misfire grace and
   coalescing turn some of them into records of fires that do not run (invariant 6);
3. :func:`decide_overlap` per remaining fire — ``max_instances`` and the overlap policy
   against the schedule's active runs;
4. :func:`next_after` — the end condition ``max_runs``: no next fire once reached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from schedkit.calendars import CalendarSet
from schedkit.errors import CalendarNotFoundError
from schedkit.models import OverlapPolicy, Run, RunStatus, Schedule
from schedkit.triggers import Trigger

#: Why a fire was recorded without running; also sent with SKIPPED/MISSED events so that
#: monitors can tell a calendar skip (expected) from a misfire (alert-worthy).
CAUSE_UNREGISTERED = "unregistered"
CAUSE_CALENDAR = "calendar"
CAUSE_MISFIRE = "misfire"
CAUSE_COALESCED = "coalesced"
CAUSE_OVERLAP = "overlap"
#: Reading the task's declaration to build the run raised (a property failing).
CAUSE_TASK_ERROR = "task_error"
#: The schedule's trigger changed while the fire was due (see service.dropped_fires).
CAUSE_CHANGED = "schedule_changed"

#: Given a nominal fire, why the business calendar excludes it, or None if it allows it.
CalendarCheck = Callable[[datetime], str | None]


def calendar_check(trigger: Trigger, calendars: CalendarSet) -> CalendarCheck:
    """The business-calendar check of ``trigger``'s fires against ``calendars`` (the
    store's calendars as read this tick). A skip's reason names the calendar, the day and
    the source that decided it; a calendar that does not exist skips every fire."""
    ref = trigger.calendar
    if ref is None:
        return lambda nominal: None

    def check(nominal: datetime) -> str | None:
        try:
            decision = calendars.allows(ref, trigger.local_day(nominal))
        except CalendarNotFoundError as exc:
            return f"{exc}: create the calendar or change the schedule"
        return None if decision.open else decision.reason()

    return check


@dataclass(frozen=True, kw_only=True, slots=True)
class Fire:
    """One due fire of a schedule: its nominal time and how late it is being handled."""

    nominal: datetime
    #: Seconds between its firing time (nominal + jitter) and now; negative for a fire
    #: taken a little ahead of its time (``fire_ahead``).
    late: float

    def starts_at(self, now: datetime) -> datetime:
        """When its run may start: its firing time, or now for a fire already due."""
        return now - timedelta(seconds=self.late) if self.late < 0 else now


@dataclass(frozen=True, kw_only=True, slots=True)
class NotRun:
    """A fire recorded without running, and why."""

    fire: datetime
    status: RunStatus
    reason: str
    cause: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Judged:
    """The verdict on a schedule's due fires."""

    run: list[Fire]
    not_run: list[NotRun]


@dataclass(frozen=True, kw_only=True, slots=True)
class Overlap:
    """The overlap policy's verdict on one fire.

    Exactly one of: run now (all fields empty), ``skip`` (the reason), ``queue_behind``
    (the active run it waits for), or ``replace`` (the active runs to cancel once the new
    run is stored).
    """

    skip: str | None = None
    queue_behind: str | None = None
    replace: tuple[str, ...] = ()


RUN_NOW = Overlap()


def fire_time(trigger: Trigger, schedule: Schedule, nominal: datetime) -> datetime:
    """When a nominal fire is due: the nominal time plus the schedule's jitter."""
    return nominal + timedelta(seconds=trigger.jitter_offset(schedule.id, nominal))


def due_fires(
    trigger: Trigger,
    schedule: Schedule,
    next_fire: datetime | None,
    now: datetime,
    limit: int,
    until: datetime | None = None,
) -> tuple[list[Fire], datetime | None]:
    """The fires from ``next_fire`` on that are due by ``until`` (default ``now``; at
    most ``limit``), and the nominal fire after them (the schedule's new
    ``next_fire_time``)."""
    horizon = now if until is None else until
    fires: list[Fire] = []
    nominal = next_fire
    while nominal is not None and len(fires) < limit:
        at = fire_time(trigger, schedule, nominal)
        if at > horizon:
            break
        fires.append(Fire(nominal=nominal, late=(now - at).total_seconds()))
        nominal = trigger.next_fire_time(nominal, now)
    return fires, nominal


def judge_fires(
    schedule: Schedule,
    fires: Sequence[Fire],
    *,
    registered: bool,
    calendar: CalendarCheck,
) -> Judged:
    """Decide which due fires run. In order: a task not registered on the firing node
    skips every fire; a day the business calendar excludes is skipped; a fire later than
    ``misfire_grace_time`` is missed; with ``coalesce`` only the latest of the rest runs
    and the others are skipped."""
    not_run: list[NotRun] = []
    runnable: list[Fire] = []
    grace = schedule.misfire_grace_time
    for fire in fires:
        if not registered:
            not_run.append(
                NotRun(
                    fire=fire.nominal,
                    status=RunStatus.SKIPPED,
                    reason=f"task {schedule.task_name!r} is not registered on the scheduling node",
                    cause=CAUSE_UNREGISTERED,
                )
            )
        elif (excluded := calendar(fire.nominal)) is not None:
            not_run.append(
                NotRun(
                    fire=fire.nominal,
                    status=RunStatus.SKIPPED,
                    reason=excluded,
                    cause=CAUSE_CALENDAR,
                )
            )
        elif grace is not None and fire.late > grace:
            not_run.append(
                NotRun(
                    fire=fire.nominal,
                    status=RunStatus.MISSED,
                    reason=f"{fire.late:.1f} s late, over misfire_grace_time {grace:g} s",
                    cause=CAUSE_MISFIRE,
                )
            )
        else:
            runnable.append(fire)
    if schedule.coalesce and len(runnable) > 1:
        keep = runnable[-1]
        not_run.extend(
            NotRun(
                fire=fire.nominal,
                status=RunStatus.SKIPPED,
                reason=f"coalesced into the fire at {keep.nominal.isoformat()}",
                cause=CAUSE_COALESCED,
            )
            for fire in runnable[:-1]
        )
        runnable = [keep]
    return Judged(run=runnable, not_run=not_run)


def decide_overlap(schedule: Schedule, active: Sequence[Run]) -> Overlap:
    """What a fire does while ``active`` runs of its schedule are pending or running.

    Below ``max_instances`` (or with policy ``allow``) it runs. At the limit: ``skip``
    records it skipped; ``queue_one`` queues it behind the newest active run unless one
    is queued already (then it is skipped; when that run ends, the store queues it
    behind another while ``max_instances`` others are still active: see
    ``schedkit.store.base``); ``replace`` runs it and cancels the active runs.
    """
    if schedule.overlap is OverlapPolicy.ALLOW or len(active) < schedule.max_instances:
        return RUN_NOW
    note = f"{len(active)} run(s) still active (max_instances={schedule.max_instances})"
    if schedule.overlap is OverlapPolicy.SKIP:
        return Overlap(skip=f"overlap policy skip: {note}")
    if schedule.overlap is OverlapPolicy.QUEUE_ONE:
        if any(run.blocked_by is not None for run in active):
            return Overlap(skip=f"overlap policy queue_one: one run is already queued; {note}")
        return Overlap(queue_behind=active[-1].id)
    return Overlap(replace=tuple(run.id for run in active))


def fire_limit(schedule: Schedule, per_tick: int) -> int:
    """How many due fires one tick may take: a schedule ending after N runs takes no
    more than it may still run, so a fire past its end is never planned."""
    left = schedule.runs_left
    return per_tick if left is None else min(per_tick, left)


def next_after(schedule: Schedule, started: int, next_fire: datetime | None) -> datetime | None:
    """The schedule's next fire once this tick started ``started`` runs: None when that
    reaches ``max_runs`` (the schedule has ended; fires skipped by the calendar, a
    misfire or the overlap policy do not count)."""
    left = schedule.runs_left
    return None if left is not None and started >= left else next_fire


def is_catch_up(fire: Fire, lookahead: float, refresh_interval: float) -> bool:
    """A fire handled later than the loop's own read-ahead can explain was missed while
    no node was firing (downtime, failover) and is run as catch-up."""
    return fire.late > lookahead + refresh_interval
